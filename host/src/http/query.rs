//! A query-string extractor whose rejections use the standard error shape, and the shared
//! `limit` parameter.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Like `axum::extract::Query`, but a bad query string is 400 `VALIDATION` naming the
/// parameter, worded as the SDK words a module's.
pub(crate) struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        nova_input::query(parts.uri.query().unwrap_or(""))
            .map(ApiQuery)
            .map_err(|f| ApiError::validation(&f.field, f.message))
    }
}

/// Parse an optional `limit` (1 to `max`, default `default`).
pub(crate) fn limit(raw: Option<&str>, default: i64, max: i64) -> Result<i64, ApiError> {
    match raw {
        None => Ok(default),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::validation(
                "limit",
                format!("limit must be a whole number from 1 to {max}"),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::limit;

    #[test]
    fn limits_are_bounded() {
        assert_eq!(limit(None, 50, 500).unwrap(), 50);
        assert_eq!(limit(Some("7"), 50, 500).unwrap(), 7);
        for bad in ["0", "-1", "501", "x", ""] {
            let e = limit(Some(bad), 50, 500).unwrap_err();
            assert_eq!(e.code, "VALIDATION");
            assert_eq!(e.field.as_deref(), Some("limit"));
        }
    }
}
