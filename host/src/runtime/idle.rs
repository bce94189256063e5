//! A per-tenant map that forgets tenants at rest. The host keeps one entry per tenant that
//! has called (`tenants.rs`); with 10,000 tenants that call once a day, keeping every entry
//! forever would be most of the host's memory (issue 17).
//! An entry no call holds and whose state is what a fresh entry would have (slots free,
//! budget full) says nothing a new one would not, so it is dropped by a sweep that runs at
//! most once a minute, on the next access.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a map is swept.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Entries by tenant, swept of those at rest.
pub(crate) struct TenantMap<T> {
    entries: HashMap<String, Arc<T>>,
    swept_at: Instant,
}

impl<T> Default for TenantMap<T> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            swept_at: Instant::now(),
        }
    }
}

impl<T> TenantMap<T> {
    /// `tenant`'s entry, made by `make` when there is none; first, at most once a minute,
    /// drop every entry no one holds that `at_rest` says a fresh entry would equal.
    pub(crate) fn get(
        &mut self,
        tenant: &str,
        make: impl FnOnce() -> T,
        at_rest: impl Fn(&T, Instant) -> bool,
    ) -> Arc<T> {
        let now = Instant::now();
        if now.duration_since(self.swept_at) >= SWEEP_EVERY {
            self.sweep(|e| at_rest(e, now));
            self.swept_at = now;
        }
        if let Some(e) = self.entries.get(tenant) {
            return e.clone();
        }
        let e = Arc::new(make());
        self.entries.insert(tenant.to_string(), e.clone());
        e
    }

    /// Drop every entry held by no one else that is at rest.
    pub(crate) fn sweep(&mut self, at_rest: impl Fn(&T) -> bool) {
        self.entries
            .retain(|_, e| Arc::strong_count(e) > 1 || !at_rest(e));
    }

    /// The entry for `tenant`, if there is one.
    pub(crate) fn peek(&self, tenant: &str) -> Option<&Arc<T>> {
        self.entries.get(tenant)
    }

    /// Tenants with an entry.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unheld_entries_at_rest_are_dropped() {
        let mut map: TenantMap<u32> = TenantMap::default();
        let held = map.get("a", || 1, |_, _| true);
        map.get("b", || 1, |_, _| true);
        map.get("c", || 2, |_, _| true);
        map.sweep(|v| *v == 1);
        assert!(map.peek("a").is_some(), "held by a call");
        assert!(map.peek("b").is_none(), "at rest and unheld");
        assert!(map.peek("c").is_some(), "not at rest");
        assert_eq!(map.len(), 2);
        drop(held);
        map.sweep(|v| *v == 1);
        assert_eq!(map.len(), 1);
        // An entry there is kept, not made anew.
        assert_eq!(*map.get("c", || 3, |_, _| false), 2);
    }
}
