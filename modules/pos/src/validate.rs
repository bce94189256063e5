//! Field-by-field reading of JSON bodies, so every 400 names the field at fault.

use nova_sdk::Error;
use serde_json::Value;

/// A required string field, trimmed, 1 to `max` characters.
pub fn string(v: &Value, field: &str, path: &str, max: usize) -> Result<String, Error> {
    let s = v
        .get(field)
        .ok_or_else(|| Error::validation(path, format!("{path} is required")))?
        .as_str()
        .ok_or_else(|| Error::validation(path, format!("{path} must be a string")))?
        .trim();
    if s.is_empty() || s.chars().count() > max {
        return Err(Error::validation(
            path,
            format!("{path} must be 1 to {max} characters"),
        ));
    }
    Ok(s.to_string())
}

/// A required whole number in `min..=max`.
pub fn int(v: &Value, field: &str, path: &str, min: i64, max: i64) -> Result<i64, Error> {
    let n = v
        .get(field)
        .ok_or_else(|| Error::validation(path, format!("{path} is required")))?
        .as_i64()
        .ok_or_else(|| Error::validation(path, format!("{path} must be a whole number")))?;
    if n < min || n > max {
        return Err(Error::validation(
            path,
            format!("{path} must be from {min} to {max}"),
        ));
    }
    Ok(n)
}

/// A required array with 1 to `max` elements.
pub fn array<'a>(v: &'a Value, field: &str, max: usize) -> Result<&'a Vec<Value>, Error> {
    let a = v
        .get(field)
        .ok_or_else(|| Error::validation(field, format!("{field} is required")))?
        .as_array()
        .ok_or_else(|| Error::validation(field, format!("{field} must be an array")))?;
    if a.is_empty() || a.len() > max {
        return Err(Error::validation(
            field,
            format!("{field} must have 1 to {max} entries"),
        ));
    }
    Ok(a)
}

/// The body must be a JSON object.
pub fn object(v: &Value) -> Result<(), Error> {
    if v.is_object() {
        Ok(())
    } else {
        Err(Error::validation("body", "the body must be a JSON object"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_field() {
        let v = json!({"qty": "x", "name": ""});
        assert_eq!(
            int(&v, "qty", "items[0].qty", 1, 9)
                .unwrap_err()
                .field
                .as_deref(),
            Some("items[0].qty")
        );
        assert_eq!(
            string(&v, "name", "items[0].name", 10)
                .unwrap_err()
                .field
                .as_deref(),
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
}
