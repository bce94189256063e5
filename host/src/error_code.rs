//! Every error code the API answers with, in one place. A code is stable: clients branch on
//! it, so one is added here (and to docs/API.md's table), never renamed.

use serde_json::json;

use crate::telemetry::current_request_id;

macro_rules! codes {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        /// The machine-readable `error.code` of an error answer.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        // The variants are the codes exactly as clients see them.
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        pub(crate) enum ErrorCode {
            $($(#[doc = $doc])* $name,)*
        }

        impl ErrorCode {
            /// Every code, for the check that docs/API.md lists each.
            #[cfg(test)]
            pub(crate) const ALL: &[ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The code as it appears in JSON.
            pub(crate) const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => stringify!($name),)*
                }
            }
        }
    };
}

codes! {
    /// The request is malformed (syntax, encoding, a refused byte).
    BAD_REQUEST,
    /// A field's value is refused; `field` names it.
    VALIDATION,
    /// No valid bearer token.
    UNAUTHORIZED,
    /// The caller's role may not do this.
    FORBIDDEN,
    /// No such route.
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    /// The request took longer than the server allows.
    REQUEST_TIMEOUT,
    LENGTH_REQUIRED,
    PAYLOAD_TOO_LARGE,
    URI_TOO_LONG,
    UNSUPPORTED_MEDIA_TYPE,
    HEADERS_TOO_LARGE,
    /// Too many requests from this client, account or tenant; see `Retry-After`.
    RATE_LIMITED,
    /// The request raced with another change of the same data.
    CONFLICT,
    /// Storage cannot be reached; nothing was written.
    UNAVAILABLE,
    /// The server is checking too many passwords at once; see `Retry-After`.
    BUSY,
    /// Maintenance mode: writes are refused for now.
    MAINTENANCE,
    /// Something failed inside the server; the log has the detail.
    INTERNAL,
    /// Billing webhooks are refused: no secret is configured.
    BILLING_OFF,
    /// Payments are not configured on this server.
    PAYMENTS_OFF,
    /// A tenant's support module did not answer the support team's view.
    SUPPORT_UNAVAILABLE,
    /// An uploaded component is not a valid Nova module.
    INVALID_COMPONENT,
    MODULE_NOT_FOUND,
    /// The module is switched off for this tenant.
    MODULE_DISABLED,
    /// The module answered with a status that is not HTTP.
    MODULE_BAD_RESPONSE,
    /// A module's portal screen breaks the view format (`nova.view/1`).
    VIEW_INVALID,
    /// The module failed while handling the request.
    MODULE_TRAPPED,
    /// The module ran past its CPU deadline.
    MODULE_TIMEOUT,
    /// The module hit a memory, fuel or size limit.
    MODULE_LIMIT,
    /// The module was switched off while it ran.
    MODULE_INTERRUPTED,
    /// The tenant already runs its plan's number of module calls at once.
    TOO_MANY_CONCURRENT_CALLS,
    TENANT_NOT_FOUND,
    EVENT_NOT_FOUND,
    EXPORT_NOT_FOUND,
    PAYMENT_NOT_FOUND,
    PIN_NOT_FOUND,
    PRESET_NOT_FOUND,
    REGISTRATION_NOT_FOUND,
    SUBSCRIPTION_NOT_FOUND,
    TOKEN_NOT_FOUND,
    USER_NOT_FOUND,
    VERSION_NOT_FOUND,
    /// The export's bundle is not built yet (or its build failed).
    EXPORT_NOT_READY,
    /// The export's bundle was deleted after its 7 days.
    EXPORT_EXPIRED,
    /// A password reset link that is used, expired or unknown.
    RESET_LINK_INVALID,
    /// This webhook delivery was already accepted.
    WEBHOOK_REPLAYED,
    WEBHOOK_SIGNATURE_INVALID,
    WEBHOOK_TIMESTAMP_OUT_OF_RANGE,
}

/// The body of an error response, for a given status, code and message.
pub(crate) fn error_body(code: &str, message: &str, field: Option<&str>) -> serde_json::Value {
    let mut error = json!({"code": code, "message": message, "requestId": current_request_id()});
    if let Some(f) = field {
        error["field"] = json!(f);
    }
    json!({ "error": error })
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    /// Every code is in the API reference's table, so integrators can look each one up.
    #[test]
    fn every_code_is_documented() {
        let doc = include_str!("../../docs/API.md");
        let missing: Vec<_> = ErrorCode::ALL
            .iter()
            .filter(|c| !doc.contains(&format!("`{c}`")))
            .collect();
        assert!(missing.is_empty(), "not in docs/API.md: {missing:?}");
    }
}
