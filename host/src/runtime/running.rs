//! The kill switch: every running call registers a flag with its module's name in its
//! tenant's entry (`tenants.rs`); turning the module off for the tenant raises the flags,
//! and the epoch check (every tick) stops those calls with outcome `interrupted`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::tenants::{Tenant, lock};

/// A tenant's calls in flight: each one's module and flag.
#[derive(Default)]
pub(crate) struct TenantCalls {
    calls: Mutex<Vec<(String, Arc<AtomicBool>)>>,
}

/// Keeps a call registered (and its tenant's entry in place) until dropped: by its
/// requester, or, for a guest its requester answered for and that runs on, with the call's
/// hold once the guest has stopped (`invoke.rs`).
pub(crate) struct Registration {
    tenant: Arc<Tenant>,
    pub(crate) flag: Arc<AtomicBool>,
}

impl Tenant {
    /// Register a call of `module`; the returned guard unregisters it.
    pub(crate) fn register(self: &Arc<Self>, module: &str) -> Registration {
        let flag = Arc::new(AtomicBool::new(false));
        lock(&self.calls.calls).push((module.to_string(), flag.clone()));
        Registration {
            tenant: self.clone(),
            flag,
        }
    }
}

impl Registration {
    /// The call's tenant.
    pub(crate) fn tenant(&self) -> &Arc<Tenant> {
        &self.tenant
    }
}

impl TenantCalls {
    /// Stop every running call of `module`; returns how many were signalled.
    pub(super) fn interrupt(&self, module: &str) -> usize {
        let calls = lock(&self.calls);
        let mut stopped = 0;
        for (_, flag) in calls.iter().filter(|(m, _)| m == module) {
            flag.store(true, Ordering::Release);
            stopped += 1;
        }
        stopped
    }

    /// How many calls of `module` are running.
    pub(super) fn count(&self, module: &str) -> usize {
        lock(&self.calls)
            .iter()
            .filter(|(m, _)| m == module)
            .count()
    }

    pub(super) fn is_empty(&self) -> bool {
        lock(&self.calls).is_empty()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut calls = lock(&self.tenant.calls.calls);
        if let Some(at) = calls.iter().position(|(_, f)| Arc::ptr_eq(f, &self.flag)) {
            calls.swap_remove(at);
        }
        // Room for a few calls stays, so a tenant calling one at a time allocates nothing
        // here; a burst's room goes. (An idle tenant's whole entry goes at the sweep.)
        if calls.is_empty() && calls.capacity() > 8 {
            *calls = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tenants::Tenants;
    use super::*;

    #[test]
    fn interrupts_only_the_named_tenant_and_module() {
        let tenants = Tenants::new(1);
        let a = tenants.get("t1").register("pos");
        let b = tenants.get("t2").register("pos");
        let c = tenants.get("t1").register("billing");
        assert_eq!(tenants.interrupt("t1", "pos"), 1);
        assert!(a.flag.load(Ordering::Acquire));
        assert!(!b.flag.load(Ordering::Acquire));
        assert!(!c.flag.load(Ordering::Acquire));
        drop(a);
        assert_eq!(tenants.in_flight("t1", "pos"), 0);
        assert_eq!(tenants.in_flight("t1", "billing"), 1);
        assert_eq!(tenants.in_flight("t2", "pos"), 1);
        assert_eq!(tenants.interrupt("t3", "pos"), 0, "never called");
    }
}
