//! Where every host call starts, whatever the capability: the call's facts, its host-call
//! budget, what it was granted, and the refusals it met (audited whatever its outcome).

use std::collections::BTreeSet;
use std::time::Instant;

use super::grants::{Capability, Permissions};
use crate::calls::CallerRole;
use crate::limits::{LimitExceeded, Limits};
use crate::storage::audit::AuditEvent;

/// Facts about the call, decided by the host from the authenticated request.
#[derive(Debug, Clone)]
pub struct CallInfo {
    pub tenant_id: String,
    pub actor: String,
    pub role: CallerRole,
    pub request_id: String,
    pub module: String,
    pub version: String,
}

/// The checks every capability's host functions pass through first.
pub(crate) struct Gate {
    pub(crate) call: CallInfo,
    pub(crate) limits: Limits,
    pub(crate) started: Instant,
    /// Capabilities and hosts this call may use: declared by the module and granted by a
    /// superadmin.
    pub(crate) granted: Permissions,
    /// Refused uses (of a capability, of an outbound host), to audit with the call.
    pub(crate) denials: Vec<AuditEvent>,
    /// What was already refused in this call: each is audited once.
    refused: BTreeSet<String>,
    host_calls: u32,
}

impl Gate {
    /// A gate for one call that has been granted nothing yet.
    pub(crate) fn new(call: CallInfo, limits: Limits) -> Self {
        Self {
            call,
            limits,
            started: Instant::now(),
            granted: Permissions::default(),
            denials: Vec::new(),
            refused: BTreeSet::new(),
            host_calls: 0,
        }
    }

    /// Enter a host function: it counts against the call's budget (past it the guest is
    /// stopped), and a capability a superadmin grants must be granted. `Ok(Err(text))` is
    /// the refusal every interface returns as its `denied` case.
    pub(crate) fn enter(
        &mut self,
        cap: Option<Capability>,
    ) -> wasmtime::Result<Result<(), String>> {
        self.host_calls += 1;
        if self.host_calls > self.limits.host_calls {
            return Err(wasmtime::Error::new(LimitExceeded::HostCalls(
                self.limits.host_calls,
            )));
        }
        Ok(match cap {
            Some(cap) if !self.granted.capabilities.contains(&cap) => {
                // Counted at once, where the audit row waits for the call's end: a module
                // that keeps reaching for a capability it lacks (a grant missing after an
                // upgrade) shows on a dashboard while its calls still run.
                metrics::counter!(
                    "nova_capability_refusals_total",
                    "module" => self.call.module.clone(),
                    "capability" => cap.as_str()
                )
                .increment(1);
                self.refuse(
                    "capability.denied",
                    serde_json::json!({"capability": cap.as_str()}),
                );
                Err(cap.not_granted())
            }
            _ => Ok(()),
        })
    }

    /// Record a refusal as `action` (once per call for the same `what`), with the module
    /// and version added to `what`.
    pub(crate) fn refuse(&mut self, action: &str, mut what: serde_json::Value) {
        if !self.refused.insert(format!("{action} {what}")) {
            return;
        }
        let c = &self.call;
        what["module"] = c.module.clone().into();
        what["version"] = c.version.clone().into();
        self.denials.push(AuditEvent::new(
            Some(&c.tenant_id),
            &c.module,
            action,
            Some(&c.actor),
            &what,
            Some(&c.request_id),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(host_calls: u32) -> Gate {
        let call = CallInfo {
            tenant_id: "t1".into(),
            actor: "u1".into(),
            role: CallerRole::Staff,
            request_id: "r1".into(),
            module: "pos".into(),
            version: "1.0.0".into(),
        };
        Gate::new(
            call,
            Limits {
                host_calls,
                ..Limits::default()
            },
        )
    }

    #[test]
    fn a_refused_capability_is_denied_and_audited_once() {
        let mut g = gate(10);
        g.granted.capabilities.insert(Capability::Kv);
        assert_eq!(g.enter(Some(Capability::Kv)).unwrap(), Ok(()));
        assert_eq!(g.enter(None).unwrap(), Ok(()));
        for _ in 0..3 {
            let refused = g.enter(Some(Capability::Audit)).unwrap();
            assert_eq!(refused, Err(Capability::Audit.not_granted()));
        }
        assert_eq!(g.denials.len(), 1);
        assert_eq!(g.denials[0].action, "capability.denied");
        let payload: serde_json::Value = serde_json::from_str(&g.denials[0].payload).unwrap();
        assert_eq!(payload["capability"], "audit");
        assert_eq!(payload["module"], "pos");
        g.refuse("outbound.denied", serde_json::json!({"host": "x"}));
        g.refuse("outbound.denied", serde_json::json!({"host": "x"}));
        assert_eq!(g.denials.len(), 2);
    }

    #[test]
    fn past_the_budget_the_guest_is_stopped() {
        let mut g = gate(2);
        assert!(g.enter(None).is_ok());
        assert!(g.enter(Some(Capability::Kv)).is_ok());
        let stopped = g.enter(None).unwrap_err();
        assert_eq!(
            stopped.downcast_ref::<LimitExceeded>(),
            Some(&LimitExceeded::HostCalls(2))
        );
    }
}
