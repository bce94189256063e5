//! JSON bodies.

use serde::de::DeserializeOwned;

use crate::Fault;

/// Parse a JSON `body` as a `T`, or the [`Fault`] naming the field.
///
/// ```
/// #[derive(Debug, serde::Deserialize)]
/// struct Line { qty: u32 }
/// #[derive(Debug, serde::Deserialize)]
/// struct Ticket { items: Vec<Line> }
///
/// let f = nova_input::json::<Ticket>(br#"{"items": [{"qty": "2"}]}"#).unwrap_err();
/// assert_eq!(f.field, "items[0].qty");
/// assert_eq!(f.message, r#"items[0].qty must be a whole number, 0 or more, not string "2""#);
/// ```
pub fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Fault> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        explain(&path, &e.into_inner())
    })?;
    de.end().map_err(|e| explain(".", &e))?;
    Ok(value)
}

fn fault(field: &str, message: String) -> Fault {
    Fault {
        field: field.to_string(),
        message,
    }
}

/// A serde failure at `path` (`.` for the whole body) in words.
fn explain(path: &str, e: &serde_json::Error) -> Fault {
    use serde_json::error::Category;
    if e.classify() != Category::Data {
        return fault(
            "body",
            format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        );
    }
    // serde's data errors end with the position; the path says where instead.
    let text = e.to_string();
    let text = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(t, _)| t);
    let path = Some(path).filter(|p| *p != "." && !p.is_empty());
    // A missing field is reported at its parent; an unknown one already at itself.
    let at = |name: &str| match path {
        Some(p) if p == name || p.ends_with(&format!(".{name}")) => p.to_string(),
        Some(p) => format!("{p}.{name}"),
        None => name.to_string(),
    };
    if let Some(name) = between(text, "missing field `", "`") {
        let f = at(name);
        return fault(&f, format!("{f} is required"));
    }
    if let Some(name) = between(text, "unknown field `", "`") {
        let f = at(name);
        return fault(&f, format!("{f} is not a field here"));
    }
    let field = path.unwrap_or("body");
    let what = path.unwrap_or("the body");
    if let Some(rest) = text.strip_prefix("unknown variant `")
        && let Some((got, rest)) = rest.split_once('`')
    {
        let choices = rest
            .split_once("expected ")
            .map(|(_, c)| c.replace('`', ""))
            .unwrap_or_default();
        return fault(field, format!("{what} must be {choices}, not {got}"));
    }
    for lead in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = text.strip_prefix(lead)
            && let Some((got, expected)) = rest.split_once(", expected ")
        {
            return fault(
                field,
                format!(
                    "{what} must be {}, not {}",
                    expected_words(expected),
                    got_words(got)
                ),
            );
        }
    }
    fault(field, format!("{what}: {text}"))
}

/// serde's name for what it wanted, as a client would say it.
fn expected_words(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number, 0 or more".into(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a sequence" => "a list".into(),
        "a map" => "an object".into(),
        e if e.starts_with("struct ") || e.starts_with("internally tagged enum ") => {
            "an object".into()
        }
        e if e.starts_with("enum ") => "one of its named values".into(),
        e if e.starts_with("tuple struct ") => "a list".into(),
        e if e.starts_with("newtype struct ") => "a value".into(),
        e if e.starts_with("a borrowed string") => "a string".into(),
        e => e.to_string(),
    }
}

/// serde's name for what it got (an integer, `sequence`), as a client would say it.
fn got_words(got: &str) -> String {
    for lead in ["integer ", "floating point ", "boolean "] {
        if let Some(v) = got.strip_prefix(lead) {
            return v.trim_matches('`').to_string();
        }
    }
    match got {
        "sequence" => "a list".into(),
        "map" => "an object".into(),
        "unit" | "null" => "null".into(),
        g => g.to_string(),
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let (_, rest) = text.split_once(start)?;
    rest.split_once(end).map(|(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Line {
        name: String,
        qty: u32,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Ticket {
        table: String,
        items: Vec<Line>,
        note: Option<Note>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Note {
        text: String,
    }

    fn err(body: &str) -> (String, String) {
        let f = json::<Ticket>(body.as_bytes()).unwrap_err();
        (f.field, f.message)
    }

    #[test]
    fn errors_name_the_field_by_its_path() {
        assert_eq!(
            err(r#"{"items": []}"#),
            ("table".into(), "table is required".into())
        );
        assert_eq!(
            err(
                r#"{"table": "1", "items": [{"name": "Tea", "qty": 1}, {"name": "Pie", "qty": -2}]}"#
            ),
            (
                "items[1].qty".into(),
                "items[1].qty must be a whole number, 0 or more, not -2".into()
            )
        );
        assert_eq!(
            err(r#"{"table": "1", "items": [{"name": "Tea"}]}"#),
            ("items[0].qty".into(), "items[0].qty is required".into())
        );
        assert_eq!(
            err(r#"{"table": "1", "items": [{"name": "Tea", "qty": 1, "size": 2}]}"#),
            (
                "items[0].size".into(),
                "items[0].size is not a field here".into()
            )
        );
        assert_eq!(
            err(r#"{"table": "1", "items": [], "note": {"text": 5}}"#),
            (
                "note.text".into(),
                "note.text must be a string, not 5".into()
            )
        );
    }

    #[test]
    fn malformed_json_and_wrong_shapes_are_the_body_s_fault() {
        let (field, message) = err(r#"{"table": "#);
        assert_eq!(field, "body", "{message}");
        assert!(
            message.starts_with("the body is not valid JSON"),
            "{message}"
        );
        assert_eq!(err(r#"{"table": "1", "items": []} {}"#).0, "body");
        assert_eq!(
            err(r#""hi""#),
            (
                "body".into(),
                r#"the body must be an object, not string "hi""#.into()
            )
        );
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    #[allow(dead_code)]
    enum Status {
        Open,
        Closed,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Filter {
        status: Status,
    }

    #[test]
    fn enums_are_named_in_plain_words() {
        let f = json::<Filter>(br#"{"status": "lost"}"#).unwrap_err();
        assert_eq!(
            (f.field.as_str(), f.message.as_str()),
            ("status", "status must be open or closed, not lost")
        );
        let f = json::<Filter>(br#"{"status": 5}"#).unwrap_err();
        assert!(
            !f.message.contains("enum Status") && !f.message.contains("identifier"),
            "{f:?}"
        );
    }

    #[test]
    fn a_good_body_parses() {
        let t: Ticket = json(br#"{"table": "4", "items": [{"name": "Tea", "qty": 2}]}"#).unwrap();
        assert_eq!((t.table.as_str(), t.items[0].qty), ("4", 2));
    }
}
