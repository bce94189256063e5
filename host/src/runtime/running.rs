//! The kill switch: every running call registers a flag under its (tenant, module); turning
//! the module off for the tenant raises the flags, and the epoch check (every tick) stops
//! those calls with outcome `interrupted`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

type Key = (String, String);

/// Calls in flight, by tenant and module.
#[derive(Default)]
pub struct Running {
    calls: Mutex<HashMap<Key, Vec<Arc<AtomicBool>>>>,
}

/// Keeps a call registered until dropped.
pub(crate) struct Registration<'a> {
    running: &'a Running,
    key: Key,
    pub(crate) flag: Arc<AtomicBool>,
}

impl Running {
    /// Register a call; the returned guard unregisters it.
    pub(crate) fn register(&self, tenant: &str, module: &str) -> Registration<'_> {
        let flag = Arc::new(AtomicBool::new(false));
        let key = (tenant.to_string(), module.to_string());
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.clone())
            .or_default()
            .push(flag.clone());
        Registration {
            running: self,
            key,
            flag,
        }
    }

    /// Stop every running call of `module` for `tenant`; returns how many were signalled.
    pub(crate) fn interrupt(&self, tenant: &str, module: &str) -> usize {
        let calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let Some(flags) = calls.get(&(tenant.to_string(), module.to_string())) else {
            return 0;
        };
        for f in flags {
            f.store(true, Ordering::Release);
        }
        flags.len()
    }

    /// How many calls of `module` for `tenant` are running.
    pub fn count(&self, tenant: &str, module: &str) -> usize {
        let calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        calls
            .get(&(tenant.to_string(), module.to_string()))
            .map_or(0, Vec::len)
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut calls = self.running.calls.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(flags) = calls.get_mut(&self.key) {
            flags.retain(|f| !Arc::ptr_eq(f, &self.flag));
            if flags.is_empty() {
                calls.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupts_only_the_named_tenant_and_module() {
        let running = Running::default();
        let a = running.register("t1", "pos");
        let b = running.register("t2", "pos");
        let c = running.register("t1", "billing");
        assert_eq!(running.interrupt("t1", "pos"), 1);
        assert!(a.flag.load(Ordering::Acquire));
        assert!(!b.flag.load(Ordering::Acquire));
        assert!(!c.flag.load(Ordering::Acquire));
        drop(a);
        assert_eq!(running.count("t1", "pos"), 0);
        assert_eq!(running.count("t2", "pos"), 1);
    }
}
