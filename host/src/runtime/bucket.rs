//! A token bucket that may go into debt: the per-tenant budgets for memory growth
//! ([`super::growth`]) and for long computation ([`super::cpu`]) are both this.

use std::time::{Duration, Instant};

/// `level` units, refilled at `rate` per second up to `cap`. Below zero is debt, which the
/// refill pays off before anything is left to spend.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    level: f64,
    at: Instant,
    rate: f64,
    cap: f64,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn full(rate: f64, cap: f64) -> Self {
        Self {
            level: cap,
            at: Instant::now(),
            rate,
            cap,
        }
    }

    /// What taking `amount` at `now` would leave, and how long until that is paid off
    /// (zero when it is not a debt). Nothing is taken.
    pub(crate) fn quote(&mut self, amount: f64, now: Instant) -> (f64, Duration) {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * self.rate;
        self.level = (self.level + refill).min(self.cap);
        self.at = self.at.max(now);
        let after = self.level - amount;
        let wait = if after >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-after / self.rate)
        };
        (after, wait)
    }

    /// True when the bucket has refilled to its cap by `now`: a fresh bucket would be the same.
    pub(crate) fn is_full(&mut self, now: Instant) -> bool {
        self.quote(0.0, now).0 >= self.cap
    }

    /// Take `amount` at `now`; returns how long until the bucket is out of debt.
    pub(crate) fn take(&mut self, amount: f64, now: Instant) -> Duration {
        let (after, wait) = self.quote(amount, now);
        self.level = after;
        wait
    }
}
