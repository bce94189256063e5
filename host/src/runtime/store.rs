//! What one invocation's `Store` carries: the composition of each capability's per-call state.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::limits::{LimitExceeded, Limits, MemoryLimiter};
use super::manifest::{Capability, Permissions};
use crate::capabilities::outbound_http::OutboundState;
use crate::capabilities::{audit::AuditState, kv::KvState, log::LogState};
use crate::storage::Db;
use crate::storage::audit::AuditEvent;
use crate::tenancy::TenantView;

/// Facts about the call, decided by the host from the authenticated request.
#[derive(Debug, Clone)]
pub struct CallInfo {
    pub tenant_id: String,
    pub actor: String,
    pub request_id: String,
    pub module: String,
    pub version: String,
}

/// The data of one invocation's store.
pub struct StoreData {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: MemoryLimiter,
    pub call: CallInfo,
    pub limits: Limits,
    pub kv: KvState,
    pub audit: AuditState,
    pub log: LogState,
    /// The calling tenant's modules, flags and plan, as resolved when the call started.
    pub entitlements: Arc<TenantView>,
    pub started: Instant,
    /// Capabilities and hosts this call may use: declared by the module and granted by a
    /// superadmin.
    pub granted: Permissions,
    pub outbound_state: OutboundState,
    /// Refused capability uses, audited whatever the call's outcome.
    pub denials: Vec<AuditEvent>,
    /// Capabilities already refused in this call (each is audited once).
    denied: BTreeSet<Capability>,
    host_calls: u32,
}

impl StoreData {
    /// Fresh state for one call: WASI with no files, sockets, environment or arguments.
    pub fn new(db: Db, call: CallInfo, limits: Limits, entitlements: Arc<TenantView>) -> Self {
        Self {
            // The default builder grants nothing: no preopens, no env, no args, network denied.
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                max_memory: limits.memory_bytes,
                growth: None,
                deadline_at: Instant::now() + limits.deadline,
                cpu: None,
            },
            kv: KvState::new(db, call.tenant_id.clone(), call.module.clone(), limits),
            audit: AuditState::default(),
            log: LogState::default(),
            entitlements,
            call,
            limits,
            started: Instant::now(),
            granted: Permissions::default(),
            outbound_state: OutboundState::default(),
            denials: Vec::new(),
            denied: BTreeSet::new(),
            host_calls: 0,
        }
    }

    /// Count one host call against the budget; past it the guest is stopped.
    fn charge_host_call(&mut self) -> wasmtime::Result<()> {
        self.host_calls += 1;
        if self.host_calls > self.limits.host_calls {
            return Err(wasmtime::Error::new(LimitExceeded::HostCalls(
                self.limits.host_calls,
            )));
        }
        Ok(())
    }
}

impl StoreData {
    /// Where every host call starts: it counts against the call's budget (past it the guest
    /// is stopped), and a capability a superadmin grants must be granted. `Ok(Err(text))`
    /// is the refusal every interface returns as its `denied` case.
    pub fn enter(&mut self, cap: Option<Capability>) -> wasmtime::Result<Result<(), String>> {
        self.charge_host_call()?;
        Ok(match cap {
            Some(cap) if !self.allowed(cap) => Err(cap.not_granted()),
            _ => Ok(()),
        })
    }

    /// May this call use `cap`? A refusal is audited once per capability per call.
    fn allowed(&mut self, cap: Capability) -> bool {
        if self.granted.capabilities.contains(&cap) {
            return true;
        }
        if self.denied.insert(cap) {
            let c = &self.call;
            self.denials.push(AuditEvent::new(
                Some(&c.tenant_id),
                &c.module,
                "capability.denied",
                Some(&c.actor),
                &serde_json::json!({"capability": cap.as_str(), "module": c.module, "version": c.version}),
                Some(&c.request_id),
            ));
        }
        false
    }
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
