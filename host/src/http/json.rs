//! A JSON body extractor whose rejections use the standard error shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;
use crate::error_code::ErrorCode;

/// Like `axum::Json`, but malformed or mistyped bodies become 400 `VALIDATION` naming the
/// field at fault (`items[0].qty`), oversized ones 413 `PAYLOAD_TOO_LARGE`, and the body must
/// be a JSON object without NUL characters in any string (PostgreSQL text cannot hold them,
/// and the answer must not depend on the backend).
pub(crate) struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UNSUPPORTED_MEDIA_TYPE,
                "send the body as JSON with content-type: application/json",
            ));
        }
        let bytes = match Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::PAYLOAD_TOO_LARGE,
                    "request body is too large",
                ));
            }
            Err(_) => return Err(ApiError::bad_request("the request body could not be read")),
        };
        parse(&bytes).map(Self)
    }
}

/// Read `bytes` as the JSON object `T`.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::validation(
            "body",
            "the body must be a JSON object",
        ));
    }
    let value: T =
        nova_input::json(bytes).map_err(|f| ApiError::validation(&f.field, f.message))?;
    match nul_field(bytes) {
        Some(field) => Err(nul_error(&field)),
        None => Ok(value),
    }
}

/// 400 naming the first field of `value` that holds NUL, if one does.
pub(crate) fn check_no_nul(value: &Value) -> Result<(), ApiError> {
    match nul_in(value, String::new()) {
        Some(field) => Err(nul_error(&field)),
        None => Ok(()),
    }
}

fn nul_error(field: &str) -> ApiError {
    ApiError::validation(field, format!("{field} must not contain NUL characters"))
}

/// `application/json` or any `application/*+json`, parameters allowed.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The path (`items[0].name`) of the first string or key holding NUL, if any.
pub(crate) fn nul_field(bytes: &[u8]) -> Option<String> {
    // Only the escape can put NUL in a JSON string (raw control bytes are invalid JSON).
    if !bytes.windows(6).any(|w| w == b"\\u0000") {
        return None;
    }
    let value: Value = serde_json::from_slice(bytes).ok()?;
    nul_in(&value, String::new())
}

/// [`nul_field`] on a parsed value; `at` is the path of `value` (empty for the body).
pub(crate) fn nul_in(value: &Value, at: String) -> Option<String> {
    let join = |key: &str| {
        if at.is_empty() {
            key.to_string()
        } else {
            format!("{at}.{key}")
        }
    };
    match value {
        Value::String(s) if s.contains('\0') => {
            Some(if at.is_empty() { "body".into() } else { at })
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_in(v, format!("{at}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(join(&k.replace('\0', "\u{FFFD}")))
            } else {
                nul_in(v, join(k))
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Line {
        name: String,
        qty: u32,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Ticket {
        table: String,
        #[serde(default)]
        items: Vec<Line>,
    }

    fn field(body: &str) -> (ErrorCode, Option<String>) {
        let e = parse::<Ticket>(body.as_bytes()).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(!e.message.contains("Failed to"), "{}", e.message);
        (e.code, e.field)
    }

    #[test]
    fn errors_name_the_field_path() {
        assert_eq!(
            field(r#"{"table":"7","items":[{"name":"a","qty":"x"}]}"#).1,
            Some("items[0].qty".into())
        );
        assert_eq!(
            field(r#"{"table":"7","items":[{"qty":1}]}"#).1,
            Some("items[0].name".into())
        );
        assert_eq!(field(r#"{"items":[]}"#).1, Some("table".into()));
        assert_eq!(field(r#"{"table":"7","extra":1}"#).1, Some("extra".into()));
        assert_eq!(field(r#"{"table":"7"} trailing"#).1, Some("body".into()));
        assert_eq!(field("not json").1, Some("body".into()));
        assert_eq!(field("[]").1, Some("body".into()), "arrays are not objects");
        assert_eq!(
            field(r#"{"table":"7\u0000"}"#),
            (ErrorCode::VALIDATION, Some("table".into()))
        );
        assert!(parse::<Ticket>(br#"{"table":"7"}"#).is_ok());
    }

    #[test]
    fn nul_is_found_where_it_is() {
        assert_eq!(
            nul_field(br#"{"email":"x\u0000@a.b"}"#),
            Some("email".into())
        );
        assert_eq!(
            nul_field(br#"{"items":[{"name":"ok"},{"name":"b\u0000d"}]}"#),
            Some("items[1].name".into())
        );
        assert_eq!(nul_field(br#"{"a\u0000":1}"#), Some("a\u{FFFD}".into()));
        // An escaped backslash followed by "u0000" is text, not NUL.
        assert_eq!(nul_field(br#"{"note":"\\u0000"}"#), None);
        assert_eq!(nul_field(br#"{"note":"fine"}"#), None);
    }
}
