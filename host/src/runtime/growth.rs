//! Per-tenant budget for growing linear memory. Each call may grow its memory by a small
//! allowance for free, which covers what ordinary calls use; growth beyond that is paid from
//! the tenant's token bucket of bytes, refilled at a steady rate. A guest that outruns its
//! budget waits, without a thread, until the bucket refills or its deadline comes. Faulting
//! in and handing back hundreds of megabytes a second is kernel work that no thread
//! priority contains, so this bounds how much of it one tenant can cause.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::bucket::TokenBucket;
use super::tenants::{Tenant, lock};

/// Growth each call makes for free, in bytes.
pub(crate) const FREE_GROWTH: usize = 8 << 20;
/// Bytes per second a tenant's calls may grow beyond their free allowance.
pub(crate) const RATE: f64 = (128 << 20) as f64;
/// The most a tenant can grow at once after being idle.
pub(crate) const BURST: f64 = (128 << 20) as f64;

/// A tenant's bucket as a new entry has it (`tenants.rs` keeps one per tenant).
pub(super) fn full_bucket() -> TokenBucket {
    TokenBucket::full(RATE, BURST)
}

/// One call's view of its tenant's bucket.
#[derive(Clone)]
pub(crate) struct Growth {
    tenant: Arc<Tenant>,
    grown: usize,
}

impl std::fmt::Debug for Growth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Growth")
            .field("grown", &self.grown)
            .finish()
    }
}

impl Tenant {
    /// The growth budget for one call of this tenant.
    pub(crate) fn growth(self: &Arc<Self>) -> Growth {
        Growth {
            tenant: self.clone(),
            grown: 0,
        }
    }
}

impl Growth {
    /// Grow by `bytes` at `now` if the call need not wait longer than `max_wait` for them:
    /// returns the wait (zero when the free allowance or the bucket covers them). `None`
    /// means refused, and then nothing is charged, so refused growth never becomes debt.
    pub(crate) fn charge(
        &mut self,
        bytes: usize,
        now: Instant,
        max_wait: Duration,
    ) -> Option<Duration> {
        let free = FREE_GROWTH.saturating_sub(self.grown);
        let owed = bytes.saturating_sub(free) as f64;
        if owed == 0.0 {
            self.grown += bytes;
            return Some(Duration::ZERO);
        }
        let mut bucket = lock(&self.tenant.growth);
        if bucket.quote(owed, now).1 > max_wait {
            return None;
        }
        // The balance goes negative by at most `max_wait` of refill: later calls queue behind.
        let wait = bucket.take(owed, now);
        self.grown += bytes;
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tenants::Tenants;
    use super::*;

    const MB: usize = 1 << 20;

    const PATIENT: Duration = Duration::from_secs(10);

    #[test]
    fn ordinary_calls_grow_for_free() {
        let budgets = Tenants::new(1);
        let now = Instant::now();
        for _ in 0..10_000 {
            let mut call = budgets.get("a").growth();
            assert_eq!(
                call.charge(2 * MB, now, Duration::ZERO),
                Some(Duration::ZERO)
            );
            assert_eq!(call.charge(MB, now, Duration::ZERO), Some(Duration::ZERO));
        }
    }

    #[test]
    fn refused_growth_costs_nothing() {
        let budgets = Tenants::new(1);
        let now = Instant::now();
        assert_eq!(
            budgets
                .get("a")
                .growth()
                .charge(136 * MB, now, Duration::ZERO),
            Some(Duration::ZERO)
        );
        // The bucket is empty: each of these would wait, so each is refused, uncharged.
        for _ in 0..100 {
            assert_eq!(
                budgets
                    .get("a")
                    .growth()
                    .charge(72 * MB, now, Duration::from_millis(100)),
                None
            );
        }
        // A second later the bucket is full again, as if the refused calls never happened.
        let later = now + Duration::from_millis(1_010);
        assert_eq!(
            budgets
                .get("a")
                .growth()
                .charge(136 * MB, later, Duration::ZERO),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn big_growth_drains_the_tenants_bucket_and_waits_for_the_refill() {
        let budgets = Tenants::new(1);
        let now = Instant::now();
        let mut first = budgets.get("a").growth();
        // 8 MiB free, then 128 MiB from the full bucket: no wait.
        assert_eq!(first.charge(136 * MB, now, PATIENT), Some(Duration::ZERO));
        // The bucket is empty: 64 MiB more costs half a second at 128 MiB/s.
        let mut second = budgets.get("a").growth();
        assert_eq!(
            second.charge(72 * MB, now, PATIENT),
            Some(Duration::from_millis(500))
        );
        // Other tenants have their own bucket.
        assert_eq!(
            budgets.get("b").growth().charge(136 * MB, now, PATIENT),
            Some(Duration::ZERO)
        );
        // A second later the debt is paid and half the bucket is back.
        let mut third = budgets.get("a").growth();
        let later = now + Duration::from_millis(1_010);
        assert_eq!(
            third.charge(8 * MB + 64 * MB, later, PATIENT),
            Some(Duration::ZERO)
        );
    }
}
