//! The error a handler returns; rendered in Nova's standard error shape.

use crate::Response;

/// A handler's error: an HTTP status, a stable upper-case code, a message and, for
/// validation errors, the field at fault. Rendered as
/// `{"error": {"code": "VALIDATION", "message": "…", "field": "…", "requestId": "…"}}`.
///
/// ```
/// use nova_sdk::Error;
/// let e = Error::validation("qty", "qty must be at least 1");
/// assert_eq!(e.status, 400);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// HTTP status, 400 to 599.
    pub status: u16,
    /// Stable upper-case code, such as `VALIDATION` or `NOT_FOUND`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// The input field at fault, if any.
    pub field: Option<String>,
}

impl Error {
    /// Any error.
    ///
    /// ```
    /// let e = nova_sdk::Error::new(409, "TICKET_CLOSED", "the ticket is closed");
    /// assert_eq!(e.code, "TICKET_CLOSED");
    /// ```
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.into(),
            field: None,
        }
    }

    /// 400 `VALIDATION`, naming the field.
    ///
    /// ```
    /// let e = nova_sdk::Error::validation("table", "table is required");
    /// assert_eq!(e.field.as_deref(), Some("table"));
    /// ```
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.to_string()),
            ..Self::new(400, "VALIDATION", message)
        }
    }

    /// The same error naming the input field at fault, for a code of your own.
    ///
    /// ```
    /// let e = nova_sdk::Error::new(409, "PHONE_TAKEN", "another member has this phone")
    ///     .with_field("phone");
    /// assert_eq!((e.status, e.field.as_deref()), (409, Some("phone")));
    /// ```
    pub fn with_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_string());
        self
    }

    /// 404 `NOT_FOUND`.
    ///
    /// ```
    /// let e = nova_sdk::Error::not_found("no ticket 7");
    /// assert_eq!(e.status, 404);
    /// ```
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "NOT_FOUND", message)
    }

    /// 403 `FORBIDDEN`: the caller's role may not do this (see [`crate::context::role`]).
    ///
    /// ```
    /// assert_eq!(nova_sdk::Error::forbidden("admins only").status, 403);
    /// ```
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "FORBIDDEN", message)
    }

    /// 409 `CONFLICT`.
    ///
    /// ```
    /// assert_eq!(nova_sdk::Error::conflict("closed").status, 409);
    /// ```
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "CONFLICT", message)
    }

    /// 500 `INTERNAL`. Any 5xx discards the call's writes.
    ///
    /// ```
    /// assert_eq!(nova_sdk::Error::internal("broken").status, 500);
    /// ```
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "INTERNAL", message)
    }

    /// This error as a JSON response in the standard shape.
    ///
    /// ```
    /// let r = nova_sdk::Error::not_found("gone").into_response("req-1");
    /// assert_eq!(r.status, 404);
    /// ```
    pub fn into_response(self, request_id: &str) -> Response {
        let mut error = serde_json::json!({
            "code": self.code,
            "message": self.message,
            "requestId": request_id,
        });
        if let Some(field) = self.field {
            error["field"] = serde_json::Value::String(field);
        }
        Response::json_value(self.status, &serde_json::json!({ "error": error }))
    }
}

impl Error {
    /// 403 `CAPABILITY_DENIED`: every interface refuses an ungranted capability with its
    /// `denied` case, and each becomes this one error, so a module answers a withdrawn
    /// grant the same way everywhere (the `?` operator passes it on).
    pub(crate) fn capability_denied(message: String) -> Error {
        Error::new(403, "CAPABILITY_DENIED", message)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for Error {}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::internal(format!("JSON encoding failed: {e}"))
    }
}
