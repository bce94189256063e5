//! Query strings.

use serde::de::DeserializeOwned;

use crate::Fault;

fn fault(field: &str, message: String) -> Fault {
    Fault {
        field: field.to_string(),
        message,
    }
}

/// Parse a query string (without the `?`) as a `T`, or the [`Fault`] naming the parameter.
///
/// ```
/// #[derive(Debug, serde::Deserialize)]
/// struct Page { limit: Option<u32> }
///
/// assert_eq!(nova_input::query::<Page>("limit=5").unwrap().limit, Some(5));
/// let f = nova_input::query::<Page>("limit=five").unwrap_err();
/// assert_eq!((f.field.as_str(), f.message.as_str()), ("limit", "limit must be a whole number in range"));
/// ```
pub fn query<T: DeserializeOwned>(query: &str) -> Result<T, Fault> {
    let pairs = form_urlencoded::parse(query.as_bytes());
    let de = serde_urlencoded::Deserializer::new(pairs);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let text = e.inner().to_string();
        if let Some(name) = text
            .strip_prefix("missing field `")
            .and_then(|r| r.split_once('`'))
            .map(|(n, _)| n)
        {
            return fault(name, format!("{name} is required"));
        }
        if let Some((name, rest)) = text
            .strip_prefix("unknown field `")
            .and_then(|r| r.split_once('`'))
        {
            let takes = rest
                .split_once(", expected ")
                .map(|(_, list)| {
                    let list = list.strip_prefix("one of ").unwrap_or(list);
                    format!(": it takes {}", list.replace('`', ""))
                })
                .unwrap_or_default();
            return fault(name, format!("{name} is not a parameter here{takes}"));
        }
        let name = if path == "." { "query" } else { path.as_str() };
        let message = match text.as_str() {
            "invalid digit found in string"
            | "number too large to fit in target type"
            | "number too small to fit in target type"
            | "cannot parse integer from empty string" => {
                format!("{name} must be a whole number in range")
            }
            "invalid float literal" => format!("{name} must be a number"),
            "provided string was not `true` or `false`" => format!("{name} must be true or false"),
            t if t.starts_with("unknown variant `") => match t.split_once(", expected ") {
                Some((_, choices)) => format!("{name} must be {choices}"),
                None => format!("{name}: {t}"),
            },
            t => format!("{name}: {t}"),
        };
        fault(name, message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Status {
        Open,
        Closed,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct List {
        limit: Option<u32>,
        status: Option<Status>,
        active_only: Option<bool>,
        cursor: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Needs {
        from: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        from: String,
    }

    fn err<T: DeserializeOwned + std::fmt::Debug>(q: &str) -> (String, String) {
        let f = query::<T>(q).unwrap_err();
        (f.field, f.message)
    }

    #[test]
    fn typed_parameters_parse() {
        let l: List = query("limit=20&status=open&activeOnly=true&cursor=a%2Fb").unwrap();
        assert_eq!(
            l,
            List {
                limit: Some(20),
                status: Some(Status::Open),
                active_only: Some(true),
                cursor: Some("a/b".into())
            }
        );
        assert_eq!(query::<List>("").unwrap().limit, None);
    }

    #[test]
    fn errors_name_the_parameter() {
        assert_eq!(
            err::<List>("limit=ten"),
            (
                "limit".into(),
                "limit must be a whole number in range".into()
            )
        );
        assert_eq!(
            err::<List>("limit=-1"),
            (
                "limit".into(),
                "limit must be a whole number in range".into()
            )
        );
        assert_eq!(
            err::<List>("activeOnly=yes"),
            (
                "activeOnly".into(),
                "activeOnly must be true or false".into()
            )
        );
        assert_eq!(
            err::<List>("status=lost"),
            ("status".into(), "status must be `open` or `closed`".into())
        );
        assert_eq!(err::<Needs>(""), ("from".into(), "from is required".into()));
        assert_eq!(
            err::<Strict>("from=a&bogus=1"),
            (
                "bogus".into(),
                "bogus is not a parameter here: it takes from".into()
            )
        );
    }
}
