//! Per-tenant concurrency: a tenant runs at most its plan's number of calls at once. A few
//! more wait briefly for a slot; beyond that, calls are refused at once. Every tenant's share
//! of the instance pool and of the guest threads is bounded this way, so a tenant flooding
//! the host with calls that spin to their deadline fills only its own slots.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::tenants::Tenant;

/// Calls that may wait for a slot, per slot.
const QUEUE: u32 = 4;

/// A tenant's slots for one concurrency limit (its entry holds them: `tenants.rs`).
pub(crate) struct Slots {
    pub(super) limit: u32,
    running: Arc<Semaphore>,
    waiting: AtomicU32,
}

/// Holds one of the tenant's slots until dropped, and with it the tenant's entry.
pub(crate) struct Admitted {
    _permit: OwnedSemaphorePermit,
    tenant: Arc<Tenant>,
}

/// Why a call was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The tenant's slots and its short queue were full.
    QueueFull { limit: u32 },
    /// A slot did not free up within the wait.
    TimedOut { limit: u32 },
}

impl Refused {
    /// The tenant's concurrency limit.
    pub(crate) fn limit(self) -> u32 {
        match self {
            Refused::QueueFull { limit } | Refused::TimedOut { limit } => limit,
        }
    }
}

/// Counts a waiter for as long as it waits, even if the waiting future is dropped.
struct Waiting<'a>(&'a AtomicU32);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Slots {
    pub(super) fn new(limit: u32) -> Self {
        Self {
            limit,
            running: Arc::new(Semaphore::new(limit as usize)),
            waiting: AtomicU32::new(0),
        }
    }

    /// Calls holding one of these slots now.
    pub(super) fn running(&self) -> u32 {
        self.limit - self.running.available_permits().min(self.limit as usize) as u32
    }

    /// Calls waiting for one of these slots now.
    pub(super) fn waiting(&self) -> u32 {
        self.waiting.load(Ordering::Acquire)
    }

    /// Free slots and no waiter: no call of the tenant is in flight on them. (Permits hold
    /// the semaphore, not the slots.)
    pub(super) fn at_rest(&self) -> bool {
        self.running() == 0 && self.waiting() == 0
    }
}

impl Admitted {
    /// Take one of `tenant`'s `limit` slots, waiting at most `wait` behind at most
    /// `4 × limit` other waiters of the same tenant.
    pub(super) async fn take(
        tenant: Arc<Tenant>,
        limit: u32,
        wait: Duration,
    ) -> Result<Self, Refused> {
        let slots = tenant.slots_for(limit);
        if let Ok(permit) = slots.running.clone().try_acquire_owned() {
            return Ok(Self {
                _permit: permit,
                tenant,
            });
        }
        if slots.waiting.fetch_add(1, Ordering::AcqRel) >= slots.limit.saturating_mul(QUEUE) {
            slots.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::QueueFull { limit: slots.limit });
        }
        let _waiting = Waiting(&slots.waiting);
        match tokio::time::timeout(wait, slots.running.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Self {
                _permit: permit,
                tenant,
            }),
            _ => Err(Refused::TimedOut { limit: slots.limit }),
        }
    }

    /// The tenant's entry.
    pub(crate) fn tenant(&self) -> &Arc<Tenant> {
        &self.tenant
    }
}

#[cfg(test)]
mod tests {
    use super::super::tenants::Tenants;
    use super::*;

    const NO_WAIT: Duration = Duration::ZERO;

    #[tokio::test]
    async fn a_tenant_gets_its_limit_and_no_more_while_others_are_unaffected() {
        let admission = Tenants::new(1);
        let a1 = admission.admit("a", 2, NO_WAIT).await.unwrap();
        let _a2 = admission.admit("a", 2, NO_WAIT).await.unwrap();
        assert_eq!(admission.running("a"), 2);
        assert_eq!(
            admission.admit("a", 2, NO_WAIT).await.err(),
            Some(Refused::TimedOut { limit: 2 })
        );
        assert!(
            admission.admit("b", 2, NO_WAIT).await.is_ok(),
            "b has its own slots"
        );
        drop(a1);
        assert!(
            admission.admit("a", 2, NO_WAIT).await.is_ok(),
            "a slot came back"
        );
    }

    #[tokio::test]
    async fn a_waiter_gets_the_next_free_slot_and_the_queue_is_bounded() {
        let admission = Arc::new(Tenants::new(1));
        let held = admission.admit("a", 1, NO_WAIT).await.unwrap();
        let waiter = {
            let admission = admission.clone();
            tokio::spawn(async move {
                admission
                    .admit("a", 1, Duration::from_secs(30))
                    .await
                    .is_ok()
            })
        };
        // The queue (four waiters for a limit of one) is full once they are all in it.
        let mut waiters = vec![waiter];
        for _ in 1..QUEUE {
            let admission = admission.clone();
            waiters.push(tokio::spawn(async move {
                admission
                    .admit("a", 1, Duration::from_secs(30))
                    .await
                    .is_ok()
            }));
        }
        while admission.waiting("a") < QUEUE {
            tokio::task::yield_now().await;
        }
        let refused = admission.admit("a", 1, NO_WAIT).await.err().unwrap();
        assert_eq!(refused, Refused::QueueFull { limit: 1 });
        assert_eq!(refused.limit(), 1);
        drop(held);
        // Each waiter gets the slot in turn as the one before it finishes.
        for w in waiters {
            assert!(w.await.unwrap(), "a waiter got a freed slot");
        }
    }

    #[tokio::test]
    async fn a_new_limit_applies_to_new_calls() {
        let admission = Tenants::new(1);
        let _old = admission.admit("a", 1, NO_WAIT).await.unwrap();
        let _new1 = admission.admit("a", 2, NO_WAIT).await.unwrap();
        let _new2 = admission.admit("a", 2, NO_WAIT).await.unwrap();
        assert!(admission.admit("a", 2, NO_WAIT).await.is_err());
    }
}
