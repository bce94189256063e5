//! What one invocation's `Store` carries: WASI (granting nothing), the memory limiter, and
//! every capability's per-call state.

use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::memory::MemoryLimiter;
use crate::capabilities::gate::CallInfo;
use crate::capabilities::{Capabilities, HasCapabilities};
use crate::limits::Limits;
use crate::storage::Db;
use crate::tenancy::TenantView;

/// The data of one invocation's store.
pub struct StoreData {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: MemoryLimiter,
    pub(crate) caps: Capabilities,
}

impl StoreData {
    /// Fresh state for one call: WASI with no files, sockets, environment or arguments.
    pub fn new(db: Db, call: CallInfo, limits: Limits, tenant: Arc<TenantView>) -> Self {
        Self {
            // The default builder grants nothing: no preopens, no env, no args, network denied.
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(&limits, 0),
            caps: Capabilities::new(db, call, limits, tenant),
        }
    }

    /// Fresh per-call state for another call of the same tenant in a warm instance: new
    /// capabilities (caller, request, grants, nothing written yet) and limits. WASI and
    /// the resource table stay, as they belong to the instance, which stays.
    pub(crate) fn renew(
        &mut self,
        db: Db,
        call: CallInfo,
        limits: Limits,
        tenant: Arc<TenantView>,
    ) {
        self.limiter = MemoryLimiter::new(&limits, self.limiter.peak);
        self.caps = Capabilities::new(db, call, limits, tenant);
    }
}

impl HasCapabilities for StoreData {
    fn capabilities(&mut self) -> &mut Capabilities {
        &mut self.caps
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
