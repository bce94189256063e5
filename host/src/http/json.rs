//! A JSON body extractor whose rejections use the standard error shape.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Like `axum::Json`, but malformed or mistyped bodies become 400 `VALIDATION` (with the
/// offending field when serde names it) and oversized ones 413 `PAYLOAD_TOO_LARGE`.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "send the body as JSON with content-type: application/json",
            )),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PAYLOAD_TOO_LARGE",
                    "request body is too large",
                ))
            }
            Err(JsonRejection::JsonDataError(e)) => {
                let detail = e.body_text();
                Err(ApiError {
                    field: field_of(&detail),
                    ..ApiError::new(StatusCode::BAD_REQUEST, "VALIDATION", detail)
                })
            }
            Err(e) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "VALIDATION",
                e.body_text(),
            )),
        }
    }
}

/// axum words data errors as "Failed to deserialize …: <path>: <serde message>"; the path
/// names the field, and a missing or unknown field is named inside the serde message.
fn field_of(detail: &str) -> Option<String> {
    let rest = detail
        .split_once("target type: ")
        .map_or(detail, |(_, r)| r);
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|marker| {
            let (_, after) = rest.split_once(marker)?;
            after.split_once('`').map(|(name, _)| name.to_string())
        });
    let path = rest
        .split_once(": ")
        .map(|(p, _)| p)
        .filter(|p| !p.is_empty() && !p.contains(' '))
        .map(str::to_string);
    match (path, named) {
        (Some(p), Some(n)) => Some(format!("{p}.{n}")),
        (p, n) => p.or(n),
    }
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn names_the_field_from_serde_paths() {
        assert_eq!(
            field_of(
                "Failed to deserialize the JSON body into the target type: items[0].qty: invalid type: string \"x\", expected u32 at line 1 column 9"
            ),
            Some("items[0].qty".to_string())
        );
        assert_eq!(
            field_of(
                "Failed to deserialize the JSON body into the target type: missing field `name` at line 1 column 2"
            ),
            Some("name".to_string())
        );
        assert_eq!(
            field_of(
                "Failed to deserialize the JSON body into the target type: unknown field `extra`, expected `name`"
            ),
            Some("extra".to_string())
        );
        assert_eq!(
            field_of(
                "Failed to deserialize the JSON body into the target type: expected value at line 1 column 1"
            ),
            None
        );
    }
}
