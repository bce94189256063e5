//! How a module call ended, and the refusal each ending means for whoever asked.

use crate::contract::GuestResponse;
use crate::error_code::ErrorCode;
pub(crate) use crate::runtime::invoke::Failure;

/// The end of one call through [`super::Calls::call`].
#[derive(Debug)]
pub enum CallOutcome {
    /// The module answered, with whatever status it chose (a 5xx included); its writes
    /// and the invocation record are committed (for a 5xx: the record alone).
    Answered(GuestResponse),
    /// No module of that name is installed.
    NotInstalled { module: String },
    /// The module is off for the tenant; the refusal is recorded.
    Disabled { module: String },
    /// The tenant used its plan's calls for this minute.
    RateLimited { per_minute: u64 },
    /// The tenant already runs its plan's number of calls at once.
    Busy { limit: u32 },
    /// The module ran and gave no usable answer; `error` (also in the invocation record)
    /// says why, for operators: clients get the failure's fixed message.
    Failed { failure: Failure, error: String },
    /// The tenant's settings could not be read, so the module did not run.
    Storage(sqlx::Error),
}

/// A call that did not end in the module's own answer, as an API error.
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
    /// Seconds a client should wait before trying again.
    pub(crate) retry_after: Option<u32>,
}

impl Refusal {
    /// The refusal in the standard error shape, naming `request_id`: for callers that hand
    /// it on as JSON rather than as an HTTP response.
    pub fn body(&self, request_id: String) -> serde_json::Value {
        crate::telemetry::REQUEST_ID.sync_scope(request_id, || {
            crate::error_code::error_body(self.code.as_str(), &self.message, None)
        })
    }

    fn new(status: u16, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
}

impl CallOutcome {
    /// The module's answer, when it gave one.
    pub fn answer(&self) -> Option<&GuestResponse> {
        match self {
            Self::Answered(resp) => Some(resp),
            _ => None,
        }
    }

    /// The module's answer, or what the caller is told when there is none.
    pub fn into_answer(self) -> Result<GuestResponse, Refusal> {
        use ErrorCode as C;
        let refusal = match self {
            Self::Answered(resp) => return Ok(resp),
            Self::Storage(e) if crate::storage::is_unreachable(&e) => {
                tracing::error!(error = %e, "storage unavailable before a module call");
                Refusal::new(503, C::UNAVAILABLE, "storage is unavailable; try again")
            }
            Self::Storage(e) => {
                tracing::error!(error = %e, "internal error before a module call");
                Refusal::new(500, C::INTERNAL, "internal error; see the server log")
            }
            Self::NotInstalled { module } => Refusal::new(
                404,
                C::MODULE_NOT_FOUND,
                format!("no module named {module:?} is installed"),
            ),
            Self::Disabled { module } => Refusal::new(
                403,
                C::MODULE_DISABLED,
                format!("module {module:?} is not enabled for this tenant"),
            ),
            Self::RateLimited { per_minute } => Refusal {
                retry_after: Some(1),
                ..Refusal::new(
                    429,
                    C::RATE_LIMITED,
                    format!("your plan allows {per_minute} module calls per minute"),
                )
            },
            Self::Busy { limit } => Refusal {
                retry_after: Some(1),
                ..Refusal::new(
                    429,
                    C::TOO_MANY_CONCURRENT_CALLS,
                    format!(
                        "this tenant already runs {limit} module calls at once, its plan's limit; retry shortly"
                    ),
                )
            },
            Self::Failed { failure, .. } => failure_refusal(failure),
        };
        Err(refusal)
    }
}

fn failure_refusal(failure: Failure) -> Refusal {
    use ErrorCode as C;
    let status = failure.status();
    let (code, message) = match failure {
        Failure::Conflict => (
            C::CONFLICT,
            "the request raced with another one changing the same data; retry it".into(),
        ),
        Failure::CommitFailed => (
            C::UNAVAILABLE,
            "storage is unavailable; nothing was written, retry".into(),
        ),
        Failure::TimedOut => (
            C::MODULE_TIMEOUT,
            "the module ran past its CPU deadline and was stopped".into(),
        ),
        Failure::Limit(what) => (
            C::MODULE_LIMIT,
            format!(
                "the module hit a limit and was stopped: {}",
                limit_cause(&what)
            ),
        ),
        Failure::Interrupted => (
            C::MODULE_INTERRUPTED,
            "the module was switched off while running".into(),
        ),
        Failure::Trapped => (
            C::MODULE_TRAPPED,
            "the module failed while handling the request".into(),
        ),
        Failure::BadStatus(status) => (
            C::MODULE_BAD_RESPONSE,
            format!("the module answered with status {status}"),
        ),
    };
    Refusal::new(status, code, message)
}

/// The limit a call hit, for the client: wasmtime puts a wasm backtrace (kept in the
/// invocation record for operators) before the cause, which ends the text.
fn limit_cause(error: &str) -> &str {
    let cause = if error.contains("wasm backtrace:") {
        error.rsplit(": ").next().unwrap_or(error)
    } else {
        error.lines().next().unwrap_or(error)
    };
    cause.trim()
}

#[cfg(test)]
mod tests {
    use super::limit_cause;

    #[test]
    fn a_limit_is_told_without_its_backtrace() {
        let traced = "error while executing at wasm backtrace:\n    0:   0xcd62 - <unknown>!<wasm function 162>\n    1:   0xcd00 - <unknown>!<wasm function 9>: CPU deadline of 1s exceeded";
        assert_eq!(limit_cause(traced), "CPU deadline of 1s exceeded");
        assert_eq!(
            limit_cause("memory limit of 64 MiB exceeded"),
            "memory limit of 64 MiB exceeded"
        );
    }
}
