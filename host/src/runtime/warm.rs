//! Warm instances, for modules whose manifest says `instances=reuse`. An instance that
//! answered a call cleanly (below 500, its writes and record committed) is parked under its
//! tenant and module version, and the next call of that same tenant and version runs in it
//! instead of instantiating afresh. What the guest kept in its statics survives only into
//! calls of the same tenant and version: the key is both, and nothing else ever takes a
//! parked instance. An instance that trapped, hit a limit, answered 500 or more, or whose
//! writes were not committed never comes back here.
//!
//! Parked instances hold a place in the instance pool (a permit) and their memory, so their
//! number is capped (`--warm-instances`), the oldest make way for new ones, and none stays
//! parked longer than [`IDLE_FOR`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::Store;

use super::module_pre::ModuleInstance;
use super::store::StoreData;

/// How long a parked instance waits for its next call before it is dropped.
pub(crate) const IDLE_FOR: Duration = Duration::from_secs(30);
/// Calls one instance serves before it is retired, so a guest that leaks a little per call
/// (heap fragmentation, handles) starts clean now and then.
pub(crate) const MAX_USES: u32 = 10_000;
/// An instance whose memory grew beyond this is not parked: idle, it would hold that much.
pub(crate) const MAX_PARKED_MEMORY: usize = 32 << 20;

/// An instance with its store, between calls or during one.
pub(crate) struct Warm {
    pub(crate) store: Store<StoreData>,
    pub(crate) instance: ModuleInstance,
    /// Calls this instance has served.
    pub(crate) uses: u32,
}

/// A parked instance, or one on its way out: dropping it drops the instance first and then
/// its place in the instance pool, so no call is let in before the slot is free.
pub(crate) struct Parked {
    warm: Warm,
    /// Its place in the instance pool while no call holds it.
    _permit: Option<OwnedSemaphorePermit>,
    at: Instant,
}

/// (tenant id, module version id): the only key a parked instance is ever taken by.
type Key = (String, String);

/// The parked instances.
pub(crate) struct WarmPool {
    capacity: usize,
    permits: Arc<Semaphore>,
    parked: Mutex<HashMap<Key, Vec<Parked>>>,
}

impl WarmPool {
    /// A pool of at most `capacity` parked instances (0: reuse is off), each holding one of
    /// `permits` (the instance pool's places) while parked.
    pub(crate) fn new(capacity: usize, permits: Arc<Semaphore>) -> Self {
        Self {
            capacity,
            permits,
            parked: Mutex::default(),
        }
    }

    /// Whether instances are reused at all.
    pub(crate) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// The most recently parked instance of `tenant` and `version_id`, if one is parked, has
    /// waited less than [`IDLE_FOR`] and `fits` the call. One that does not is handed back
    /// as the second value, to drop off the request path (the instance, then its place in
    /// the pool).
    pub(crate) fn take(
        &self,
        tenant: &str,
        version_id: &str,
        fits: impl Fn(&Warm) -> bool,
    ) -> (Option<Warm>, Option<Parked>) {
        let mut parked = self.lock();
        let key = (tenant.to_string(), version_id.to_string());
        let Some(list) = parked.get_mut(&key) else {
            return (None, None);
        };
        let found = list.pop();
        if list.is_empty() {
            parked.remove(&key);
        }
        publish(&parked);
        drop(parked);
        match found {
            Some(p) if p.at.elapsed() < IDLE_FOR && fits(&p.warm) => {
                // The permit goes back here: the call taking it holds one of its own.
                (Some(p.warm), None)
            }
            other => (None, other),
        }
    }

    /// Park `warm` for the next call of `tenant` and `version_id`. Returns what has to be
    /// dropped instead, off the request path: `warm` itself when it may not be parked, and
    /// instances that made way for it.
    pub(crate) fn park(&self, tenant: &str, version_id: &str, warm: Warm) -> Vec<Parked> {
        let now = Instant::now();
        let unparked = |warm| Parked {
            warm,
            _permit: None,
            at: now,
        };
        if !self.enabled()
            || warm.uses >= MAX_USES
            || warm.store.data().limiter.peak > MAX_PARKED_MEMORY
        {
            return vec![unparked(warm)];
        }
        let mut out = Vec::new();
        let mut parked = self.lock();
        // Make way: first whatever waited too long, then the oldest until there is room.
        out.extend(Self::remove_where(&mut parked, |p| {
            now.duration_since(p.at) >= IDLE_FOR
        }));
        while count(&parked) >= self.capacity {
            let Some(oldest) = parked.values().flat_map(|l| l.iter().map(|p| p.at)).min() else {
                break;
            };
            out.extend(Self::remove_where(&mut parked, |p| p.at == oldest));
        }
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                parked
                    .entry((tenant.to_string(), version_id.to_string()))
                    .or_default()
                    .push(Parked {
                        warm,
                        _permit: Some(permit),
                        at: now,
                    });
            }
            // Every place in the pool is taken by calls: they need it more.
            Err(_) => out.push(unparked(warm)),
        }
        publish(&parked);
        out
    }

    /// Drop every parked instance, for a call that needs a place in the instance pool and
    /// found none: calls come before warm instances.
    pub(crate) fn evict_all(&self) -> Vec<Parked> {
        let mut parked = self.lock();
        let out = Self::remove_where(&mut parked, |_| true);
        publish(&parked);
        out
    }

    fn remove_where(
        parked: &mut HashMap<Key, Vec<Parked>>,
        remove: impl Fn(&Parked) -> bool,
    ) -> Vec<Parked> {
        let mut out = Vec::new();
        parked.retain(|_, list| {
            let mut i = 0;
            while i < list.len() {
                if remove(&list[i]) {
                    out.push(list.remove(i));
                } else {
                    i += 1;
                }
            }
            !list.is_empty()
        });
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Vec<Parked>>> {
        self.parked.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn count(parked: &HashMap<Key, Vec<Parked>>) -> usize {
    parked.values().map(Vec::len).sum()
}

/// `nova_warm_instances`: how many instances are parked now.
fn publish(parked: &HashMap<Key, Vec<Parked>>) {
    metrics::gauge!("nova_warm_instances").set(count(parked) as f64);
}
