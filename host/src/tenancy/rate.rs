//! Per-tenant call rate limit: a fixed one-minute window per tenant, in process.

use std::collections::HashMap;
use std::sync::Mutex;

/// Counts calls per tenant per minute.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (u64, u64)>>,
}

impl RateLimiter {
    /// Count one call at `now_ms`; false when the tenant is over `per_minute` in this minute.
    pub fn allow(&self, tenant: &str, per_minute: u64, now_ms: i64) -> bool {
        let minute = (now_ms.max(0) as u64) / 60_000;
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let entry = windows.entry(tenant.to_string()).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 >= per_minute {
            return false;
        }
        entry.1 += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimiter;

    #[test]
    fn limits_per_tenant_per_minute() {
        let r = RateLimiter::default();
        assert!(r.allow("a", 2, 0));
        assert!(r.allow("a", 2, 1_000));
        assert!(!r.allow("a", 2, 2_000), "third call in the same minute");
        assert!(r.allow("b", 2, 2_000), "other tenants are not affected");
        assert!(r.allow("a", 2, 60_000), "a new minute starts afresh");
    }
}
