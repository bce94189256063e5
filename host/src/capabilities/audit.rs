//! `nova:module/audit`: domain audit records, buffered and committed with the call.

use wasmtime::component::Linker;

use super::{Unit, Using, grants::Capability};
use crate::contract::audit::{self as wit, Error, Host};
use crate::contract::v0_1::nova::module::audit as wit_0_1;
use crate::storage::audit::AuditEvent;

/// Largest audit payload, in bytes.
const MAX_PAYLOAD: usize = 64 << 10;

/// Per-call audit buffer.
#[derive(Debug, Default)]
pub(crate) struct AuditState {
    pub(crate) events: Vec<AuditEvent>,
}

/// Why an action name is refused, if it is.
pub(crate) fn check_action(action: &str) -> Result<(), String> {
    if action.is_empty() || action.len() > 128 {
        return Err("action must be 1 to 128 bytes".into());
    }
    if !action
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(format!(
            "action {action:?} may only use a-z, 0-9, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Parse and bound a payload.
pub(crate) fn check_payload(payload: &str) -> Result<serde_json::Value, String> {
    if payload.len() > MAX_PAYLOAD {
        return Err(format!("payload is larger than {MAX_PAYLOAD} bytes"));
    }
    serde_json::from_str(payload).map_err(|e| format!("payload is not JSON: {e}"))
}

/// Link `nova:module/audit` (both contract versions) to the state `get` finds in a store.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> Unit<'_, AuditState>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, Using<AuditState>>(linker, get)?;
    wit_0_1::add_to_linker::<T, Using<AuditState>>(linker, get)
}

impl Host for Unit<'_, AuditState> {
    #[tracing::instrument(level = "debug", name = "audit.record", skip_all)]
    async fn record(
        &mut self,
        action: String,
        payload: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        if let Err(denied) = self.gate.enter(Some(Capability::Audit))? {
            return Ok(Err(Error::Denied(denied)));
        }
        if let Err(e) = check_action(&action) {
            return Ok(Err(Error::InvalidAction(e)));
        }
        let payload = match check_payload(&payload) {
            Ok(v) => v,
            Err(e) => return Ok(Err(Error::InvalidPayload(e))),
        };
        let most = self.gate.limits.audit_records;
        if self.state.events.len() as u32 >= most {
            return Ok(Err(Error::QuotaExceeded(format!(
                "at most {most} audit records per call"
            ))));
        }
        let c = &self.gate.call;
        self.state.events.push(AuditEvent::new(
            Some(&c.tenant_id),
            &c.module,
            &action,
            Some(&c.actor),
            &payload,
            Some(&c.request_id),
        ));
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_dotted_lowercase_names() {
        assert!(check_action("pos.ticket.closed").is_ok());
        assert!(check_action("billing.invoice-paid_2").is_ok());
        assert!(check_action("").is_err());
        assert!(check_action("Pos.Ticket").is_err());
        assert!(check_action("a b").is_err());
        assert!(check_action(&"a".repeat(129)).is_err());
    }

    #[test]
    fn payloads_must_be_bounded_json() {
        assert!(check_payload("{\"total\":3}").is_ok());
        assert!(check_payload("{").is_err());
        let big = format!("\"{}\"", "x".repeat(MAX_PAYLOAD));
        assert!(check_payload(&big).is_err());
    }
}
