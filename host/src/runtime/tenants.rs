//! What the host keeps per tenant between calls, in one entry: its concurrency slots
//! (`admission.rs`), its share of the guest threads and budget of long computation
//! (`cpu.rs`), its budget for growing memory (`growth.rs`) and its running calls, for the
//! kill switch (`running.rs`). A call looks its tenant up once, under one lock. An entry
//! that nothing holds and that a new one would equal (slots free, budgets full) is dropped
//! by the sweep (`idle.rs`), so a tenant that called once costs nothing here once it is
//! idle (issue 17, target 5: one entry per tenant, pruned when idle). What holds an entry:
//! its calls, and a warm instance parked for the tenant (its store's memory limiter and
//! CPU turn), until that is taken or dropped (`warm.rs`, at most 30 s idle).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::admission::{Admitted, Refused, Slots};
use super::bucket::TokenBucket;
use super::cpu::TenantCpu;
use super::growth;
use super::idle::TenantMap;
use super::running::TenantCalls;

/// Every tenant's entry.
pub struct Tenants {
    map: Mutex<TenantMap<Tenant>>,
    /// Long computations each tenant may run at once (see `cpu.rs`).
    cpu_shares: usize,
}

/// One tenant's entry.
pub(crate) struct Tenant {
    /// Made at the first call that takes a slot, and anew when the tenant's concurrency
    /// limit changes: calls holding the old slots finish on them, and only new calls count
    /// against the new limit.
    pub(super) slots: Mutex<Option<Arc<Slots>>>,
    pub(super) cpu: TenantCpu,
    pub(super) growth: Mutex<TokenBucket>,
    pub(super) calls: TenantCalls,
}

impl Tenant {
    fn new(cpu_shares: usize) -> Self {
        Self {
            slots: Mutex::default(),
            cpu: TenantCpu::new(cpu_shares),
            growth: Mutex::new(growth::full_bucket()),
            calls: TenantCalls::default(),
        }
    }

    /// Would a new entry say the same? (No call in flight, no waiter, budgets full.)
    fn at_rest(&self, now: Instant) -> bool {
        self.slots().is_none_or(|s| s.at_rest())
            && self.cpu.at_rest(now)
            && lock(&self.growth).is_full(now)
            && self.calls.is_empty()
    }

    /// The tenant's slots for `limit`, made anew if the limit changed.
    pub(super) fn slots_for(&self, limit: u32) -> Arc<Slots> {
        let mut slots = lock(&self.slots);
        match &*slots {
            Some(s) if s.limit == limit => s.clone(),
            _ => slots.insert(Arc::new(Slots::new(limit))).clone(),
        }
    }

    fn slots(&self) -> Option<Arc<Slots>> {
        lock(&self.slots).clone()
    }
}

/// A lock whose holder panicked still guards consistent state: every critical section
/// here leaves it whole.
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Tenants {
    /// Each tenant may run `cpu_shares` long computations at once (at least one).
    pub(crate) fn new(cpu_shares: usize) -> Self {
        Self {
            map: Mutex::default(),
            cpu_shares: cpu_shares.max(1),
        }
    }

    /// Long computations on half the guest threads per tenant, at least one.
    pub(crate) fn for_threads(threads: usize) -> Self {
        Self::new(threads / 2)
    }

    /// Long computations each tenant may run at once.
    #[cfg(test)]
    pub(crate) fn cpu_shares(&self) -> usize {
        self.cpu_shares
    }

    /// `tenant`'s entry, made if it has none; at most once a minute, first drop the
    /// entries at rest.
    pub(crate) fn get(&self, tenant: &str) -> Arc<Tenant> {
        let shares = self.cpu_shares;
        lock(&self.map).get(tenant, || Tenant::new(shares), Tenant::at_rest)
    }

    fn peek(&self, tenant: &str) -> Option<Arc<Tenant>> {
        lock(&self.map).peek(tenant).cloned()
    }

    /// Take one of `tenant`'s `limit` slots, waiting at most `wait` behind at most
    /// `4 × limit` other waiters of the same tenant. The slot carries the tenant's entry,
    /// so the call looks it up no more.
    pub(crate) async fn admit(
        &self,
        tenant: &str,
        limit: u32,
        wait: Duration,
    ) -> Result<Admitted, Refused> {
        Admitted::take(self.get(tenant), limit.max(1), wait).await
    }

    /// Calls of `tenant` holding a slot now.
    pub fn running(&self, tenant: &str) -> u32 {
        self.peek(tenant)
            .and_then(|t| t.slots())
            .map_or(0, |s| s.running())
    }

    /// Calls of `tenant` waiting for a slot now.
    #[cfg(test)]
    pub(crate) fn waiting(&self, tenant: &str) -> u32 {
        self.peek(tenant)
            .and_then(|t| t.slots())
            .map_or(0, |s| s.waiting())
    }

    /// Stop every running call of `module` for `tenant`; returns how many were signalled.
    pub(crate) fn interrupt(&self, tenant: &str, module: &str) -> usize {
        self.peek(tenant).map_or(0, |t| t.calls.interrupt(module))
    }

    /// How many calls of `module` for `tenant` are running.
    pub fn in_flight(&self, tenant: &str, module: &str) -> usize {
        self.peek(tenant).map_or(0, |t| t.calls.count(module))
    }

    /// Tenants with an entry.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        lock(&self.map).len()
    }

    /// Drop the entries at rest at `now`, whenever the last sweep was.
    #[cfg(test)]
    pub(crate) fn sweep_at(&self, now: Instant) {
        lock(&self.map).sweep(|t| t.at_rest(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_WAIT: Duration = Duration::ZERO;

    #[tokio::test]
    async fn one_entry_serves_every_part_and_goes_once_the_tenant_is_at_rest() {
        let tenants = Tenants::new(1);
        let slot = tenants.admit("a", 2, NO_WAIT).await.unwrap();
        let tenant = slot.tenant().clone();
        assert!(
            Arc::ptr_eq(&tenant, &tenants.get("a")),
            "admission, CPU, growth and the kill switch share one entry"
        );
        let call = tenant.register("pos");
        let now = Instant::now();
        let turn = tenant.turn(now + Duration::from_secs(60));
        let mut growth = tenant.growth();
        // Grown past the free allowance: the tenant's bucket is no longer full.
        assert!(
            growth
                .charge(growth::FREE_GROWTH + (1 << 20), now, NO_WAIT)
                .is_some()
        );
        drop(tenant);
        tenants.get("b");
        tenants.sweep_at(now);
        assert_eq!(tenants.len(), 1, "b was at rest; a is held by its call");
        assert_eq!(tenants.running("a"), 1);
        assert_eq!(tenants.in_flight("a", "pos"), 1);
        drop((slot, call, turn, growth));
        tenants.sweep_at(now);
        assert_eq!(
            tenants.len(),
            1,
            "unheld, but its growth bucket is still refilling"
        );
        assert_eq!(tenants.running("a"), 0);
        assert_eq!(tenants.in_flight("a", "pos"), 0);
        // 1 MiB at 128 MiB/s is refilled well within a second.
        tenants.sweep_at(now + Duration::from_secs(1));
        assert_eq!(tenants.len(), 0);
    }

    #[tokio::test]
    async fn an_entry_at_rest_is_dropped_and_a_later_call_gets_a_new_one() {
        let tenants = Tenants::new(1);
        let first = tenants.admit("a", 1, NO_WAIT).await.unwrap();
        let entry = Arc::downgrade(first.tenant());
        drop(first);
        tenants.sweep_at(Instant::now());
        assert_eq!(tenants.len(), 0);
        assert!(entry.upgrade().is_none(), "nothing kept it");
        assert!(tenants.admit("a", 1, NO_WAIT).await.is_ok());
        assert_eq!(tenants.len(), 1);
    }
}
