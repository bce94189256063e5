//! In-process rate limits: a token bucket per key (a tenant, an account, an address) holding
//! up to a minute's allowance and refilling continuously, so there is no window edge where
//! the count resets.
//!
//! Keys come from clients (emails, addresses), so the map must not grow without bound: a
//! bucket that has refilled completely says nothing a new bucket would not, and is dropped
//! by a sweep that runs at most once a minute.

use std::collections::HashMap;
use std::sync::Mutex;

/// How often full buckets are swept away.
const SWEEP_EVERY_MS: i64 = 60_000;

/// Token buckets by key.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    buckets: HashMap<String, Bucket>,
    swept_at_ms: i64,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    capacity: f64,
    at_ms: i64,
}

impl Bucket {
    fn refill(&mut self, now_ms: i64) {
        let elapsed = (now_ms - self.at_ms).max(0) as f64;
        self.tokens = (self.tokens + elapsed * self.capacity / 60_000.0).min(self.capacity);
        self.at_ms = now_ms.max(self.at_ms);
    }
}

impl RateLimiter {
    /// Take one token for `key` at `now_ms`; false when its bucket is empty.
    pub(crate) fn allow(&self, key: &str, per_minute: u64, now_ms: i64) -> bool {
        let capacity = per_minute as f64;
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if now_ms - inner.swept_at_ms >= SWEEP_EVERY_MS {
            inner.swept_at_ms = now_ms;
            inner.buckets.retain(|_, b| {
                b.refill(now_ms);
                b.tokens < b.capacity
            });
        }
        let bucket = inner.buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: capacity,
            capacity,
            at_ms: now_ms,
        });
        bucket.capacity = capacity;
        bucket.refill(now_ms);
        if bucket.tokens < 1.0 {
            return false;
        }
        bucket.tokens -= 1.0;
        true
    }

    /// Return a token taken by [`RateLimiter::allow`] (the attempt turned out not to count).
    pub(crate) fn give_back(&self, key: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = inner.buckets.get_mut(key) {
            b.tokens = (b.tokens + 1.0).min(b.capacity);
        }
    }
}

#[cfg(test)]
impl RateLimiter {
    /// How many keys are held.
    fn len(&self) -> usize {
        self.inner.lock().unwrap().buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimiter;

    #[test]
    fn allows_a_minute_of_calls_then_refills_steadily() {
        let r = RateLimiter::default();
        assert!(r.allow("a", 2, 0));
        assert!(r.allow("a", 2, 1_000));
        assert!(!r.allow("a", 2, 2_000), "bucket empty");
        assert!(r.allow("b", 2, 2_000), "other tenants are not affected");
        assert!(!r.allow("a", 2, 20_000), "a third of a token is not a call");
        assert!(
            r.allow("a", 2, 31_000),
            "one token back after 30 s at 2 per minute"
        );
        assert!(!r.allow("a", 2, 31_001));
    }

    #[test]
    fn full_buckets_are_swept_and_busy_ones_kept() {
        let r = RateLimiter::default();
        for i in 0..1_000 {
            assert!(r.allow(&format!("junk-{i}"), 5, 0));
        }
        // A key still in use: emptied at 59 s, so not full a minute later.
        for _ in 0..5 {
            assert!(r.allow("busy", 5, 59_000));
        }
        assert_eq!(r.len(), 1_001);
        // A minute on, the junk buckets have refilled and go at the next sweep.
        assert!(r.allow("new", 5, 60_000));
        assert_eq!(r.len(), 2, "busy and new remain");
        assert!(
            !r.allow("busy", 5, 60_001),
            "the busy bucket kept its state"
        );
    }

    #[test]
    fn give_back_never_exceeds_the_capacity() {
        let r = RateLimiter::default();
        assert!(r.allow("k", 1, 0));
        r.give_back("k");
        r.give_back("k");
        assert!(r.allow("k", 1, 0));
        assert!(!r.allow("k", 1, 0));
    }
}
