//! The one error shape every route answers with:
//! `{"error": {"code": "MODULE_DISABLED", "message": "…", "requestId": "…"}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

pub(crate) use crate::error_code::ErrorCode;

pub(crate) use crate::error_code::error_body;
pub(crate) use crate::telemetry::{REQUEST_ID, current_request_id};

/// An error answer: a status, a stable upper-case code and a message for people.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
    /// The offending input field, for validation errors.
    pub(crate) field: Option<String>,
    /// Seconds to wait before retrying, sent as `Retry-After` (refusals under load).
    pub(crate) retry_after: Option<u32>,
}

impl ApiError {
    /// Any error.
    pub(crate) fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// The same error, asking the client to retry after `secs` seconds.
    pub(crate) fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// 400 `VALIDATION` naming the field.
    pub(crate) fn validation(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.to_string()),
            ..Self::new(StatusCode::BAD_REQUEST, ErrorCode::VALIDATION, message)
        }
    }

    /// 400 `BAD_REQUEST`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BAD_REQUEST, message)
    }

    /// 401 `UNAUTHORIZED`.
    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::UNAUTHORIZED, message)
    }

    /// 403 `FORBIDDEN`.
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::FORBIDDEN, message)
    }

    /// 404 with a specific code.
    pub(crate) fn not_found(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 429 `RATE_LIMITED`, asking the client to come back after `retry_secs`.
    pub(crate) fn rate_limited(message: impl Into<String>, retry_secs: u32) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RATE_LIMITED,
            message,
        )
        .retry_after(retry_secs)
    }

    /// 409 `CONFLICT`.
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorCode::CONFLICT, message)
    }

    /// 500 `INTERNAL`; the detail goes to the log, not to the client.
    pub(crate) fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::INTERNAL,
            "internal error; see the server log",
        )
    }

    /// 503 `UNAVAILABLE` when storage cannot be reached.
    pub(crate) fn unavailable(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "storage unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::UNAVAILABLE,
            "storage is unavailable; try again",
        )
    }
}

impl From<crate::auth::password::Busy> for ApiError {
    fn from(_: crate::auth::password::Busy) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::BUSY,
            "the server is checking too many passwords at once; retry in a second",
        )
        .retry_after(1)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if crate::storage::is_unreachable(&e) {
            Self::unavailable(e)
        } else {
            Self::internal(e)
        }
    }
}

impl From<crate::calls::Refusal> for ApiError {
    fn from(r: crate::calls::Refusal) -> Self {
        let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_GATEWAY);
        Self {
            retry_after: r.retry_after,
            ..Self::new(status, r.code, r.message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(error_body(
                self.code.as_str(),
                &self.message,
                self.field.as_deref(),
            )),
        )
            .into_response();
        response.extensions_mut().insert(super::shape::Answered);
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

/// Result type of handlers.
pub(crate) type ApiResult<T> = Result<T, ApiError>;
