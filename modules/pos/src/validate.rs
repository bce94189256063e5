//! Field-by-field reading of JSON bodies, path parameters and query strings, so every 400
//! names the field at fault.
//!
//! `field` is the JSON key to read; `path` is how the error names it (`items[2].qty`).

use nova_sdk::{Error, Request};
use serde_json::Value;

/// The body must be a JSON object.
pub fn object(v: &Value) -> Result<(), Error> {
    if v.is_object() {
        Ok(())
    } else {
        Err(Error::validation("body", "the body must be a JSON object"))
    }
}

/// `field` when `at` is empty (a single line), else `at.field` (a line inside `items`).
pub fn join(at: &str, field: &str) -> String {
    if at.is_empty() {
        field.to_string()
    } else {
        format!("{at}.{field}")
    }
}

/// Absent and `null` both mean "not given".
fn present<'a>(v: &'a Value, field: &str) -> Option<&'a Value> {
    v.get(field).filter(|x| !x.is_null())
}

/// A required string field, trimmed, 1 to `max` characters.
pub fn string(v: &Value, field: &str, path: &str, max: usize) -> Result<String, Error> {
    opt_string(v, field, path, max)?
        .ok_or_else(|| Error::validation(path, format!("{path} is required")))
}

/// An optional string field, trimmed, 1 to `max` characters when given.
pub fn opt_string(v: &Value, field: &str, path: &str, max: usize) -> Result<Option<String>, Error> {
    let Some(raw) = present(v, field) else {
        return Ok(None);
    };
    let s = raw
        .as_str()
        .ok_or_else(|| Error::validation(path, format!("{path} must be a string")))?
        .trim();
    if s.is_empty() || s.chars().count() > max {
        return Err(Error::validation(
            path,
            format!("{path} must be 1 to {max} characters"),
        ));
    }
    // NUL cannot be stored in PostgreSQL text and no name or note needs control characters;
    // refused here so the answer is the same on every backend.
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Error::validation(
            path,
            format!("{path} must not contain control characters"),
        ));
    }
    Ok(Some(s.to_string()))
}

/// A required whole number in `min..=max`.
pub fn int(v: &Value, field: &str, path: &str, min: i64, max: i64) -> Result<i64, Error> {
    opt_int(v, field, path, min, max)?
        .ok_or_else(|| Error::validation(path, format!("{path} is required")))
}

/// An optional whole number in `min..=max`.
pub fn opt_int(
    v: &Value,
    field: &str,
    path: &str,
    min: i64,
    max: i64,
) -> Result<Option<i64>, Error> {
    let Some(raw) = present(v, field) else {
        return Ok(None);
    };
    let n = raw
        .as_i64()
        .ok_or_else(|| Error::validation(path, format!("{path} must be a whole number")))?;
    if n < min || n > max {
        return Err(Error::validation(
            path,
            format!("{path} must be from {min} to {max}"),
        ));
    }
    Ok(Some(n))
}

/// An optional boolean.
pub fn opt_bool(v: &Value, field: &str, path: &str) -> Result<Option<bool>, Error> {
    match present(v, field) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(Error::validation(
            path,
            format!("{path} must be true or false"),
        )),
    }
}

/// An optional positive id.
pub fn opt_id(v: &Value, field: &str, path: &str) -> Result<Option<u64>, Error> {
    match present(v, field) {
        None => Ok(None),
        Some(raw) => match raw.as_u64() {
            Some(n) if n >= 1 => Ok(Some(n)),
            _ => Err(Error::validation(
                path,
                format!("{path} must be a positive whole number"),
            )),
        },
    }
}

/// For partial updates, where `null` clears a field and absence leaves it alone:
/// `None` (absent), `Some(None)` (null) or `Some(Some(id))`.
pub fn nullable_id(v: &Value, field: &str) -> Result<Option<Option<u64>>, Error> {
    match v.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(_) => opt_id(v, field, field).map(Some),
    }
}

/// An optional array; when given it must have 1 to `max` elements.
pub fn opt_array<'a>(
    v: &'a Value,
    field: &str,
    max: usize,
) -> Result<Option<&'a Vec<Value>>, Error> {
    let Some(raw) = present(v, field) else {
        return Ok(None);
    };
    let a = raw
        .as_array()
        .ok_or_else(|| Error::validation(field, format!("{field} must be an array")))?;
    if a.is_empty() || a.len() > max {
        return Err(Error::validation(
            field,
            format!("{field} must have 1 to {max} entries"),
        ));
    }
    Ok(Some(a))
}

/// Refuse keys outside `allowed`, so a misspelt field in a partial update is an error rather
/// than a silent no-op.
pub fn only_fields(v: &Value, allowed: &[&str]) -> Result<(), Error> {
    object(v)?;
    let unknown = v
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys())
        .find(|k| !allowed.contains(&k.as_str()));
    match unknown {
        Some(k) => Err(Error::validation(
            k,
            format!("{k} is not a field here (use {})", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

/// A positive numeric path parameter.
pub fn path_id(req: &Request, name: &str) -> Result<u64, Error> {
    parse_id(req.param(name).unwrap_or_default(), name)
}

/// A positive whole number, or 400 naming `field`.
pub fn parse_id(raw: &str, field: &str) -> Result<u64, Error> {
    match raw.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(Error::validation(
            field,
            format!("{field} must be a positive whole number"),
        )),
    }
}

/// An optional `true`/`false` query parameter.
pub fn query_bool(req: &Request, name: &str) -> Result<Option<bool>, Error> {
    match req.query(name).as_deref() {
        None | Some("") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(Error::validation(
            name,
            format!("{name} must be true or false"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(e: Error) -> Option<String> {
        e.field
    }

    #[test]
    fn errors_name_the_field() {
        let v = json!({"qty": "x", "name": ""});
        assert_eq!(
            field(int(&v, "qty", "items[0].qty", 1, 9).unwrap_err()).as_deref(),
            Some("items[0].qty")
        );
        assert_eq!(
            field(string(&v, "name", "items[0].name", 10).unwrap_err()).as_deref(),
            Some("items[0].name")
        );
        assert_eq!(
            int(&json!({"qty": 10}), "qty", "qty", 1, 9)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(int(&json!({"qty": 3}), "qty", "qty", 1, 9).unwrap(), 3);
    }

    #[test]
    fn null_counts_as_absent_for_optional_fields() {
        let v = json!({"a": null});
        assert_eq!(opt_string(&v, "a", "a", 5).unwrap(), None);
        assert_eq!(opt_int(&v, "a", "a", 0, 5).unwrap(), None);
        assert_eq!(opt_bool(&v, "a", "a").unwrap(), None);
        assert_eq!(opt_array(&v, "a", 5).unwrap(), None);
        assert_eq!(nullable_id(&v, "a").unwrap(), Some(None));
        assert_eq!(nullable_id(&v, "b").unwrap(), None);
        assert_eq!(nullable_id(&json!({"a": 4}), "a").unwrap(), Some(Some(4)));
        assert!(nullable_id(&json!({"a": 0}), "a").is_err());
    }

    #[test]
    fn empty_arrays_and_unknown_fields_are_refused() {
        let e = opt_array(&json!({"items": []}), "items", 5).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("items"));
        let e = only_fields(&json!({"name": "a", "prise": 1}), &["name", "price"]).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("prise"));
        assert!(only_fields(&json!({"name": "a"}), &["name"]).is_ok());
    }

    #[test]
    fn ids_and_booleans_from_the_url() {
        assert_eq!(parse_id("12", "id").unwrap(), 12);
        for bad in ["0", "-1", "abc", ""] {
            assert_eq!(
                parse_id(bad, "id").unwrap_err().field.as_deref(),
                Some("id")
            );
        }
        let req = Request::new("GET", "/", "active=true&low=maybe", b"");
        assert_eq!(query_bool(&req, "active").unwrap(), Some(true));
        assert_eq!(query_bool(&req, "missing").unwrap(), None);
        assert_eq!(
            query_bool(&req, "low").unwrap_err().field.as_deref(),
            Some("low")
        );
    }

    #[test]
    fn join_builds_nested_paths() {
        assert_eq!(join("", "qty"), "qty");
        assert_eq!(join("items[3]", "qty"), "items[3].qty");
    }
}
