//! Field-by-field reading of JSON bodies, path parameters and query strings, so every 400
//! names the field at fault.

use nova_sdk::{Error, Request};
use serde_json::{Map, Value};

use crate::sla::Severity;
use crate::ticket::Status;

/// Longest page a client may ask for (the host's own page limit).
pub const MAX_LIMIT: u32 = 1000;

/// The body as a JSON object with no keys outside `allowed`, so a misspelt optional field
/// is an error rather than a silently applied default.
pub fn object<'a>(v: &'a Value, allowed: &[&str]) -> Result<&'a Map<String, Value>, Error> {
    let map = v
        .as_object()
        .ok_or_else(|| Error::validation("body", "the body must be a JSON object"))?;
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(Error::validation(
            k,
            format!("{k} is not a field here (use {})", allowed.join(", ")),
        )),
        None => Ok(map),
    }
}

/// Absent and `null` both mean "not given".
fn present<'a>(v: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    v.get(field).filter(|x| !x.is_null())
}

/// A string trimmed of outer whitespace, 1 to `max` characters.
fn text_value(raw: &Value, field: &str, max: usize) -> Result<String, Error> {
    let s = raw
        .as_str()
        .ok_or_else(|| Error::validation(field, format!("{field} must be a string")))?
        .trim();
    if s.is_empty() || s.chars().count() > max {
        return Err(Error::validation(
            field,
            format!("{field} must be 1 to {max} characters"),
        ));
    }
    Ok(s.to_string())
}

/// A required string, trimmed, 1 to `max` characters.
pub fn text(v: &Map<String, Value>, field: &str, max: usize) -> Result<String, Error> {
    let raw = present(v, field)
        .ok_or_else(|| Error::validation(field, format!("{field} is required")))?;
    text_value(raw, field, max)
}

/// A string that must be given but may be `null` (to clear it).
pub fn nullable_text(
    v: &Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<Option<String>, Error> {
    match v.get(field) {
        None => Err(Error::validation(
            field,
            format!("{field} is required (null to clear it)"),
        )),
        Some(Value::Null) => Ok(None),
        Some(raw) => text_value(raw, field, max).map(Some),
    }
}

/// A required severity, `S1` to `S4`.
pub fn severity(v: &Map<String, Value>) -> Result<Severity, Error> {
    let raw = present(v, "severity")
        .ok_or_else(|| Error::validation("severity", "severity is required"))?;
    raw.as_str()
        .and_then(Severity::parse)
        .ok_or_else(|| Error::validation("severity", "severity must be S1, S2, S3 or S4"))
}

/// A whole number of milliseconds from 0 to `max`; `default` when not given.
pub fn millis(
    v: &Map<String, Value>,
    field: &str,
    max: u64,
    default: Option<u64>,
) -> Result<u64, Error> {
    let Some(raw) = present(v, field) else {
        return default.ok_or_else(|| Error::validation(field, format!("{field} is required")));
    };
    match raw.as_u64() {
        Some(n) if n <= max => Ok(n),
        _ => Err(Error::validation(
            field,
            format!("{field} must be a whole number of milliseconds from 0 to {max}"),
        )),
    }
}

/// A positive numeric path parameter.
pub fn path_id(req: &Request, name: &str) -> Result<u64, Error> {
    match req.param(name).unwrap_or_default().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(Error::validation(
            name,
            format!("{name} must be a positive whole number"),
        )),
    }
}

/// `limit`, 1 to [`MAX_LIMIT`]; `default` when not given.
pub fn limit(req: &Request, default: u32) -> Result<u32, Error> {
    match req.query("limit").as_deref() {
        None | Some("") => Ok(default),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(Error::validation(
                "limit",
                format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
            )),
        },
    }
}

/// An optional `status` filter.
pub fn status(req: &Request) -> Result<Option<Status>, Error> {
    match req.query("status").as_deref() {
        None | Some("") => Ok(None),
        Some(s) => Status::parse(s)
            .map(Some)
            .ok_or_else(|| Error::validation("status", "status must be open or closed")),
    }
}

/// An optional `cursor`, which must come from a listing of the same `prefix` (a cursor from
/// another filter would silently skip or repeat tickets).
pub fn cursor(req: &Request, prefix: &str) -> Result<Option<String>, Error> {
    match req.query("cursor") {
        None => Ok(None),
        Some(c) if c.is_empty() => Ok(None),
        Some(c) if c.starts_with(prefix) => Ok(Some(c)),
        Some(_) => Err(Error::validation(
            "cursor",
            "cursor must be a nextCursor from the same listing",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(e: Error) -> String {
        assert_eq!(e.status, 400);
        assert_eq!(e.code, "VALIDATION");
        e.field.unwrap_or_default()
    }

    fn obj(v: &Value) -> &Map<String, Value> {
        v.as_object().unwrap()
    }

    #[test]
    fn bodies_must_be_objects_without_unknown_keys() {
        assert_eq!(field(object(&json!([1]), &["a"]).unwrap_err()), "body");
        assert_eq!(
            field(object(&json!({"a": 1, "sevrity": "S1"}), &["a"]).unwrap_err()),
            "sevrity"
        );
        assert!(object(&json!({"a": 1}), &["a", "b"]).is_ok());
    }

    #[test]
    fn text_is_trimmed_and_bounded_in_characters() {
        let v = json!({"subject": "  Till offline ", "e": "   ", "n": 5, "u": "éé"});
        assert_eq!(text(obj(&v), "subject", 200).unwrap(), "Till offline");
        assert_eq!(field(text(obj(&v), "e", 200).unwrap_err()), "e");
        assert_eq!(field(text(obj(&v), "n", 200).unwrap_err()), "n");
        assert_eq!(field(text(obj(&v), "missing", 200).unwrap_err()), "missing");
        assert_eq!(text(obj(&v), "u", 2).unwrap(), "éé");
        assert_eq!(field(text(obj(&v), "u", 1).unwrap_err()), "u");
    }

    #[test]
    fn nullable_text_must_be_given() {
        let v = json!({"assignee": null, "b": "ops", "c": ""});
        assert_eq!(nullable_text(obj(&v), "assignee", 200).unwrap(), None);
        assert_eq!(
            nullable_text(obj(&v), "b", 200).unwrap().as_deref(),
            Some("ops")
        );
        assert_eq!(field(nullable_text(obj(&v), "c", 200).unwrap_err()), "c");
        assert_eq!(field(nullable_text(obj(&v), "x", 200).unwrap_err()), "x");
    }

    #[test]
    fn severities_name_their_field() {
        assert_eq!(
            severity(obj(&json!({"severity": "S2"}))).unwrap(),
            Severity::S2
        );
        for bad in [json!({}), json!({"severity": "S9"}), json!({"severity": 1})] {
            assert_eq!(field(severity(obj(&bad)).unwrap_err()), "severity");
        }
    }

    #[test]
    fn millis_are_bounded_whole_numbers() {
        let v = json!({"now": 5, "neg": -1, "frac": 1.5, "s": "5"});
        assert_eq!(millis(obj(&v), "now", 10, None).unwrap(), 5);
        assert_eq!(millis(obj(&v), "absent", 10, Some(7)).unwrap(), 7);
        assert_eq!(
            field(millis(obj(&v), "absent", 10, None).unwrap_err()),
            "absent"
        );
        for bad in ["neg", "frac", "s"] {
            assert_eq!(field(millis(obj(&v), bad, 10, None).unwrap_err()), bad);
        }
        assert_eq!(field(millis(obj(&v), "now", 4, None).unwrap_err()), "now");
    }

    #[test]
    fn query_parameters_name_their_field() {
        let ok = Request::new("GET", "/", "limit=1000&status=closed", b"");
        assert_eq!(limit(&ok, 50).unwrap(), 1000);
        assert_eq!(status(&ok).unwrap(), Some(Status::Closed));
        let none = Request::new("GET", "/", "", b"");
        assert_eq!(limit(&none, 50).unwrap(), 50);
        assert_eq!(status(&none).unwrap(), None);
        assert_eq!(cursor(&none, "ticket/").unwrap(), None);
        for q in ["limit=0", "limit=1001", "limit=x", "limit=-1"] {
            let req = Request::new("GET", "/", q, b"");
            assert_eq!(field(limit(&req, 50).unwrap_err()), "limit", "{q}");
        }
        let req = Request::new("GET", "/", "status=pending&cursor=status%2Fopen%2F1", b"");
        assert_eq!(field(status(&req).unwrap_err()), "status");
        assert_eq!(field(cursor(&req, "ticket/").unwrap_err()), "cursor");
        assert_eq!(
            cursor(&req, "status/open/").unwrap().as_deref(),
            Some("status/open/1")
        );
    }
}
