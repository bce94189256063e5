//! Fair shares of the guest threads. A call that keeps computing past an epoch tick must
//! hold one of its tenant's CPU shares to go on, and gives it back at every tick. A tenant
//! gets at most half the guest threads for long computations, so however many calls it
//! sends that spin to their deadline, the other half is left for everyone else. Calls that
//! finish within a tick, almost all of them, never wait for a share.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// CPU shares by tenant.
pub struct CpuShares {
    per_tenant: usize,
    tenants: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// One call's hold on its tenant's shares: none until its first tick.
#[derive(Clone)]
pub struct CpuTurn {
    shares: Arc<Semaphore>,
    held: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
}

impl CpuShares {
    /// Each tenant may run `per_tenant` long computations at once (at least one).
    pub fn new(per_tenant: usize) -> Self {
        Self {
            per_tenant: per_tenant.max(1),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// Half the guest threads, at least one.
    pub fn for_threads(threads: usize) -> Self {
        Self::new(threads / 2)
    }

    /// Shares each tenant gets.
    pub fn per_tenant(&self) -> usize {
        self.per_tenant
    }

    /// A turn for one call of `tenant`.
    pub fn turn(&self, tenant: &str) -> CpuTurn {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        let shares = tenants
            .entry(tenant.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_tenant)))
            .clone();
        CpuTurn {
            shares,
            held: Arc::default(),
        }
    }
}

impl CpuTurn {
    /// What the guest awaits at an epoch tick: give its share back, let other tasks run,
    /// then queue (first in, first out among the tenant's calls) for a share again.
    pub fn next_tick(&self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let turn = self.clone();
        Box::pin(async move {
            drop(turn.held.lock().unwrap_or_else(|p| p.into_inner()).take());
            tokio::task::yield_now().await;
            // The semaphore is never closed, so acquiring only fails if it were.
            let permit = turn.shares.clone().acquire_owned().await.ok();
            *turn.held.lock().unwrap_or_else(|p| p.into_inner()) = permit;
        })
    }

    /// Does this call hold a share now?
    pub fn holds_share(&self) -> bool {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::task::{Context, Poll, Waker};

    use super::*;

    type Tick = Pin<Box<dyn Future<Output = ()> + Send>>;

    fn poll_once(tick: &mut Tick) -> Poll<()> {
        tick.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }

    #[tokio::test]
    async fn a_tenant_computes_on_at_most_its_shares_and_others_are_unaffected() {
        let shares = CpuShares::for_threads(2);
        assert_eq!(shares.per_tenant(), 1);
        let first = shares.turn("a");
        let second = shares.turn("a");
        let other = shares.turn("b");
        first.next_tick().await;
        assert!(first.holds_share());
        // The second long call of the same tenant waits for the first to give its share back.
        let mut waiting = second.next_tick();
        assert!(poll_once(&mut waiting).is_pending());
        assert!(poll_once(&mut waiting).is_pending());
        other.next_tick().await;
        assert!(other.holds_share(), "another tenant is not held up");
        // At its next tick the first gives its share back, and the second gets it.
        let mut first_again = first.next_tick();
        assert!(poll_once(&mut first_again).is_pending());
        waiting.await;
        assert!(second.holds_share());
        assert!(!first.holds_share());
    }
}
