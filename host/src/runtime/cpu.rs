//! Fair shares of the guest threads. A call that keeps computing past an epoch tick must
//! hold one of its tenant's CPU shares to go on, and gives it back at every tick. A tenant
//! gets at most half the guest threads for long computations, so however many calls it
//! sends that spin to their deadline, the other half is left for everyone else. Calls that
//! finish within a tick, almost all of them, never wait for a share.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
    /// Past this the call stops waiting for a share; its next tick then ends it.
    deadline_at: Instant,
}

impl std::fmt::Debug for CpuTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuTurn")
            .field("holds_share", &self.holds_share())
            .finish()
    }
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

    /// A turn for one call of `tenant` that must end by `deadline_at`.
    pub fn turn(&self, tenant: &str, deadline_at: Instant) -> CpuTurn {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        let shares = tenants
            .entry(tenant.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_tenant)))
            .clone();
        CpuTurn {
            shares,
            held: Arc::default(),
            deadline_at,
        }
    }
}

impl CpuTurn {
    /// What the guest awaits at an epoch tick: give its share back, let other tasks run,
    /// then queue (first in, first out among the tenant's calls) for a share again.
    pub fn next_tick(&self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let turn = self.clone();
        Box::pin(async move {
            turn.release();
            tokio::task::yield_now().await;
            // A call whose deadline passes while it waits goes on without a share, and its
            // next tick stops it. (The semaphore is never closed, so `ok()` loses nothing.)
            let deadline = tokio::time::Instant::from_std(turn.deadline_at);
            let acquired = tokio::time::timeout_at(deadline, turn.shares.clone().acquire_owned());
            if let Ok(permit) = acquired.await {
                *turn.held.lock().unwrap_or_else(|p| p.into_inner()) = permit.ok();
            }
        })
    }

    /// Give the share back while the call is not computing (waiting, or done).
    pub fn release(&self) {
        drop(self.held.lock().unwrap_or_else(|p| p.into_inner()).take());
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
        let later = Instant::now() + std::time::Duration::from_secs(60);
        let first = shares.turn("a", later);
        let second = shares.turn("a", later);
        let other = shares.turn("b", later);
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
        second.release();
        first_again.await;
        assert!(
            first.holds_share(),
            "a released share goes to the next in line"
        );
    }

    #[tokio::test]
    async fn a_call_past_its_deadline_stops_waiting_for_a_share() {
        let shares = CpuShares::new(1);
        let holder = shares.turn("a", Instant::now() + std::time::Duration::from_secs(60));
        holder.next_tick().await;
        let late = shares.turn("a", Instant::now());
        late.next_tick().await;
        assert!(
            !late.holds_share(),
            "it went on without one, to be stopped at its next tick"
        );
    }
}
