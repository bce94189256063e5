//! Domain audit records, committed with the call's writes.

use serde::Serialize;

use crate::Error;
use crate::wit::nova::module::audit as raw;

/// Record a domain action (lower-case dotted name, such as `pos.ticket.closed`) with a
/// JSON payload. The host adds tenant, actor, module and request id; the record is only
/// kept if the call succeeds.
///
/// ```no_run
/// nova_sdk::audit::record("pos.ticket.closed", &serde_json::json!({"ticketId": 7}))?;
/// # Ok::<(), nova_sdk::Error>(())
/// ```
pub fn record<T: Serialize + ?Sized>(action: &str, payload: &T) -> Result<(), Error> {
    let payload = serde_json::to_string(payload)?;
    raw::record(action, &payload).map_err(|e| match e {
        raw::Error::InvalidAction(m) | raw::Error::InvalidPayload(m) => {
            Error::internal(format!("audit refused: {m}"))
        }
        raw::Error::QuotaExceeded(m) => Error::new(429, "QUOTA_EXCEEDED", m),
        raw::Error::Denied(m) => Error::capability_denied(m),
    })
}
