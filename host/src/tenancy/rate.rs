//! Per-tenant call rate limit, in process: a token bucket per tenant holding up to a minute's
//! allowance and refilling continuously, so there is no window edge where the count resets.

use std::collections::HashMap;
use std::sync::Mutex;

/// Token buckets by tenant.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

impl RateLimiter {
    /// Take one call for `tenant` at `now_ms`; false when its bucket is empty.
    pub fn allow(&self, tenant: &str, per_minute: u64, now_ms: i64) -> bool {
        let capacity = per_minute as f64;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(tenant.to_string()).or_insert(Bucket {
            tokens: capacity,
            at_ms: now_ms,
        });
        let elapsed = (now_ms - bucket.at_ms).max(0) as f64;
        bucket.tokens = (bucket.tokens + elapsed * capacity / 60_000.0).min(capacity);
        bucket.at_ms = now_ms;
        if bucket.tokens < 1.0 {
            return false;
        }
        bucket.tokens -= 1.0;
        true
    }
}

impl RateLimiter {
    /// Return a token taken by [`RateLimiter::allow`] (the attempt turned out not to count).
    pub fn give_back(&self, key: &str, per_minute: u64) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = buckets.get_mut(key) {
            b.tokens = (b.tokens + 1.0).min(per_minute as f64);
        }
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
}
