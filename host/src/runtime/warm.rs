//! Warm instances, for modules whose manifest says `instances=reuse`. An instance that
//! answered a call cleanly (below 500, its writes and record committed) is parked under its
//! tenant and module version, and the next call of that same tenant and version runs in it
//! instead of instantiating afresh. What the guest kept in its statics survives only into
//! calls of the same tenant and version: the key is both, and nothing else ever takes a
//! parked instance. An instance that trapped, hit a limit, answered 500 or more, or whose
//! writes were not committed never comes back here.
//!
//! Parked instances hold a place in the instance pool (a permit) and their memory, so their
//! number is capped (`--warm-instances`), the oldest make way for new ones once they have
//! waited a moment (`--warm-make-way-ms`), none is reused after waiting [`IDLE_FOR`] (the
//! periodic reconciliation frees those), and switching a module off for a tenant drops the
//! instances parked for it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
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

/// What the pool needs to know of what it parks (an instance; a plain value in tests).
pub(crate) trait Parkable {
    /// Calls served so far.
    fn uses(&self) -> u32;
    /// The most memory it has held, in bytes.
    fn memory(&self) -> usize;
}

impl Parkable for Warm {
    fn uses(&self) -> u32 {
        self.uses
    }
    fn memory(&self) -> usize {
        self.store.data().limiter.peak
    }
}

/// A parked instance, or one on its way out: dropping it drops the instance first and then
/// its place in the instance pool, so no call is let in before the slot is free.
pub(crate) struct Parked<W = Warm> {
    warm: W,
    /// Its place in the instance pool while no call holds it.
    _permit: Option<OwnedSemaphorePermit>,
    at: Instant,
    /// Its place in the order instances parked ([`Shelves::order`]).
    seq: u64,
}

/// The instances parked for one tenant's calls of one module version.
struct Shelf<W> {
    module: String,
    version_id: String,
    parked: Vec<Parked<W>>,
}

/// Parked instances by tenant id. A tenant has a shelf per module version it called warm,
/// a handful at most, so a shelf is found by walking them; `take` allocates nothing.
struct Shelves<W> {
    by_tenant: HashMap<String, Vec<Shelf<W>>>,
    /// Parked instances on all shelves.
    len: usize,
    /// Where each instance parked, in the order they parked: the oldest, which makes way
    /// first and idles out first, is found at the front without walking every shelf, as
    /// each park did (with a cap of hundreds, that walk under the pool's lock took more
    /// than a tenth off the throughput of warm calls; issue 17). An instance taken or
    /// dropped since leaves its entry behind: it is skipped when met at the front, and the
    /// whole order is rebuilt when such entries outnumber the parked instances.
    order: VecDeque<Placed>,
    /// The next instance's [`Parked::seq`].
    next_seq: u64,
}

/// Which instance of a shelf to take: calls take the newest, and the oldest makes way.
#[derive(Clone, Copy)]
enum End {
    Oldest,
    Newest,
}

/// A parked instance's entry in [`Shelves::order`]: where to find it, and which it is.
struct Placed {
    seq: u64,
    tenant: String,
    version_id: String,
}

impl<W> Shelves<W> {
    /// Take out every parked instance for which `remove` holds.
    fn remove_where(
        &mut self,
        remove: impl Fn(&str, &Shelf<W>, &Parked<W>) -> bool,
    ) -> Vec<Parked<W>> {
        let mut out = Vec::new();
        self.by_tenant.retain(|tenant, shelves| {
            shelves.retain_mut(|shelf| {
                let mut i = 0;
                while i < shelf.parked.len() {
                    if remove(tenant, shelf, &shelf.parked[i]) {
                        out.push(shelf.parked.remove(i));
                    } else {
                        i += 1;
                    }
                }
                !shelf.parked.is_empty()
            });
            !shelves.is_empty()
        });
        self.len -= out.len();
        self.tidy();
        out
    }

    /// Park `warm`, holding `permit` since `at`, on the shelf of `tenant` and `version_id`
    /// (of `module`), as the newest, with the next place in the order.
    fn push(
        &mut self,
        tenant: &str,
        module: &str,
        version_id: &str,
        warm: W,
        permit: OwnedSemaphorePermit,
        at: Instant,
    ) {
        let parked = Parked {
            warm,
            _permit: Some(permit),
            at,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        self.order.push_back(Placed {
            seq: parked.seq,
            tenant: tenant.to_string(),
            version_id: version_id.to_string(),
        });
        let tenant_shelves = match self.by_tenant.get_mut(tenant) {
            Some(list) => list,
            None => self.by_tenant.entry(tenant.to_string()).or_default(),
        };
        match tenant_shelves
            .iter_mut()
            .find(|s| s.version_id == version_id)
        {
            Some(shelf) => shelf.parked.push(parked),
            None => tenant_shelves.push(Shelf {
                module: module.to_string(),
                version_id: version_id.to_string(),
                parked: vec![parked],
            }),
        }
        self.len += 1;
    }

    /// When the oldest parked instance parked, if any; entries of instances gone since are
    /// dropped on the way.
    fn oldest_at(&mut self) -> Option<Instant> {
        while let Some(front) = self.order.front() {
            // Each shelf's first instance is its oldest: instances are pushed as they park
            // and taken from the end. So the front entry is live if and only if it is the
            // first of its shelf.
            let live = self
                .by_tenant
                .get(&front.tenant)
                .and_then(|shelves| shelves.iter().find(|s| s.version_id == front.version_id))
                .and_then(|shelf| shelf.parked.first())
                .filter(|first| first.seq == front.seq);
            if let Some(first) = live {
                return Some(first.at);
            }
            self.order.pop_front();
        }
        None
    }

    /// Take out the instance parked longest ago: the one of the order's front entry, which
    /// [`Self::oldest_at`] has just found live.
    fn pop_front(&mut self) -> Option<Parked<W>> {
        let front = self.order.pop_front()?;
        self.take_from(&front.tenant, &front.version_id, End::Oldest)
    }

    /// Take the oldest or the newest instance off the shelf of `tenant` and `version_id`;
    /// a shelf left empty goes, and so does a tenant left without shelves.
    fn take_from(&mut self, tenant: &str, version_id: &str, end: End) -> Option<Parked<W>> {
        let shelves = self.by_tenant.get_mut(tenant)?;
        let at = shelves.iter().position(|s| s.version_id == version_id)?;
        // Shelves are never left empty, so there is one to take.
        let out = match end {
            End::Oldest => shelves[at].parked.remove(0),
            End::Newest => shelves[at].parked.pop()?,
        };
        if shelves[at].parked.is_empty() {
            shelves.swap_remove(at);
            if shelves.is_empty() {
                self.by_tenant.remove(tenant);
            }
        }
        self.len -= 1;
        Some(out)
    }

    /// Rebuild the order once entries of instances gone since outnumber the parked ones (and
    /// a few more): each rebuild costs about as much as the entries it drops.
    fn tidy(&mut self) {
        if self.order.len() > 2 * self.len + 64 {
            self.reorder();
        }
    }

    /// Rebuild the order from the shelves, without the entries of instances gone since.
    fn reorder(&mut self) {
        let mut order: Vec<Placed> = self
            .by_tenant
            .iter()
            .flat_map(|(tenant, shelves)| {
                shelves.iter().flat_map(move |shelf| {
                    shelf.parked.iter().map(move |p| Placed {
                        seq: p.seq,
                        tenant: tenant.clone(),
                        version_id: shelf.version_id.clone(),
                    })
                })
            })
            .collect();
        order.sort_unstable_by_key(|p| p.seq);
        self.order = order.into();
    }
}

/// The parked instances.
pub(crate) struct WarmPool<W = Warm> {
    capacity: usize,
    idle_for: Duration,
    /// At capacity, the oldest parked instance makes way for a new one only once it has
    /// waited this long; until then the new one is dropped instead. With more tenants
    /// calling at once than the pool holds, parking every call's instance and dropping the
    /// oldest reused none of them (each tenant's next call came after its instance had made
    /// way) and cost more than no reuse at all: 100 tenants' POS reads ran at 9,900 req/s
    /// with reuse on and 11,000 with it off (docs/PERFORMANCE.md). A pool that cycles faster
    /// than this keeps what it holds, and its tenants' calls stay warm; one whose instances
    /// wait longer than this, as when the active tenants change, still makes way.
    make_way_after: Duration,
    permits: Arc<Semaphore>,
    shelves: Mutex<Shelves<W>>,
}

impl<W: Parkable> WarmPool<W> {
    /// A pool of at most `capacity` parked instances (0: reuse is off), each holding one of
    /// `permits` (the instance pool's places) while parked. At capacity, the oldest makes
    /// way for a new instance once it has waited `make_way_after`.
    pub(crate) fn new(capacity: usize, make_way_after: Duration, permits: Arc<Semaphore>) -> Self {
        Self::with_idle(capacity, make_way_after, permits, IDLE_FOR)
    }

    fn with_idle(
        capacity: usize,
        make_way_after: Duration,
        permits: Arc<Semaphore>,
        idle_for: Duration,
    ) -> Self {
        Self {
            capacity,
            idle_for,
            make_way_after,
            permits,
            shelves: Mutex::new(Shelves {
                by_tenant: HashMap::new(),
                len: 0,
                order: VecDeque::new(),
                // 0 is for instances handed back unparked, which never enter the order.
                next_seq: 1,
            }),
        }
    }

    /// Whether instances are reused at all.
    pub(crate) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// The most recently parked instance of `tenant` and `version_id`, if one is parked, has
    /// waited less than the idle time and `fits` the call. One that does not is handed back
    /// as the second value, for the caller to drop where it costs no call its time (the
    /// instance, then its place in the pool).
    pub(crate) fn take(
        &self,
        tenant: &str,
        version_id: &str,
        fits: impl Fn(&W) -> bool,
    ) -> (Option<W>, Option<Parked<W>>) {
        let mut shelves = self.lock();
        let Some(found) = shelves.take_from(tenant, version_id, End::Newest) else {
            return (None, None);
        };
        shelves.tidy();
        publish(shelves.len);
        drop(shelves);
        if found.at.elapsed() < self.idle_for && fits(&found.warm) {
            // The permit goes back here: the call taking it holds one of its own.
            (Some(found.warm), None)
        } else {
            (None, Some(found))
        }
    }

    /// Park `warm`, an instance of `module` at `version_id`, for the next call of `tenant`
    /// and that version, unless `switched_off` (read under the pool's lock, so a switch-off
    /// that raises it before [`Self::evict`] leaves nothing parked). Returns what has to be
    /// dropped instead, where it costs no call its time: `warm` itself when it may not be
    /// parked, and instances that made way for it.
    pub(crate) fn park(
        &self,
        tenant: &str,
        module: &str,
        version_id: &str,
        warm: W,
        switched_off: &AtomicBool,
    ) -> Vec<Parked<W>> {
        self.park_at(tenant, module, version_id, warm, switched_off, Instant::now)
    }

    /// [`Self::park`], reading the time from `clock` (under the pool's lock).
    fn park_at(
        &self,
        tenant: &str,
        module: &str,
        version_id: &str,
        warm: W,
        switched_off: &AtomicBool,
        clock: impl FnOnce() -> Instant,
    ) -> Vec<Parked<W>> {
        let unparked = |warm| Parked {
            warm,
            _permit: None,
            at: Instant::now(),
            seq: 0,
        };
        if !self.enabled() || warm.uses() >= MAX_USES || warm.memory() > MAX_PARKED_MEMORY {
            return vec![unparked(warm)];
        }
        let mut shelves = self.lock();
        // Read under the lock, so each shelf stays in the order its instances parked.
        let now = clock();
        if switched_off.load(Ordering::Acquire) {
            return vec![unparked(warm)];
        }
        // Make way: whatever waited too long, then the oldest until there is room, if it
        // has waited long enough. The oldest are the ones that waited longest, so all of
        // these come off the front of the order.
        let mut out = Vec::new();
        let mut room = true;
        while let Some(at) = shelves.oldest_at() {
            let waited = now.duration_since(at);
            let idled = waited >= self.idle_for;
            if !idled && shelves.len < self.capacity {
                break;
            }
            if !idled && waited < self.make_way_after {
                // Full of instances parked moments ago: they stay, this one goes.
                room = false;
                break;
            }
            out.extend(shelves.pop_front());
        }
        // Without room, or without a place in the pool (every one taken by calls, which
        // need it more), it goes.
        let place = room
            .then(|| self.permits.clone().try_acquire_owned().ok())
            .flatten();
        match place {
            Some(permit) => shelves.push(tenant, module, version_id, warm, permit, now),
            None => out.push(unparked(warm)),
        }
        shelves.tidy();
        publish(shelves.len);
        out
    }

    /// Drop every parked instance, for a call that needs a place in the instance pool and
    /// found none: calls come before warm instances.
    pub(crate) fn evict_all(&self) -> Vec<Parked<W>> {
        let mut shelves = self.lock();
        let out = shelves.remove_where(|_, _, _| true);
        publish(shelves.len);
        out
    }

    /// Take out every instance that waited longer than the idle time, to drop: none would
    /// be reused, and each holds its memory and a place in the pool.
    pub(crate) fn evict_idle(&self) -> Vec<Parked<W>> {
        let mut shelves = self.lock();
        let idle_for = self.idle_for;
        let out = shelves.remove_where(|_, _, p| p.at.elapsed() >= idle_for);
        publish(shelves.len);
        out
    }

    /// Drop the parked instances of `module` (any version) for `tenant`: it was switched
    /// off, and what they hold should not wait out the idle time.
    pub(crate) fn evict(&self, tenant: &str, module: &str) -> Vec<Parked<W>> {
        let mut shelves = self.lock();
        let out = shelves.remove_where(|t, shelf, _| t == tenant && shelf.module == module);
        publish(shelves.len);
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shelves<W>> {
        self.shelves.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `nova_warm_instances`: how many instances are parked now.
fn publish(len: usize) {
    metrics::gauge!("nova_warm_instances").set(len as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flag of a call whose module stays on.
    static ON: AtomicBool = AtomicBool::new(false);

    /// A stand-in for an instance: `id` names it, the rest is what the pool looks at.
    #[derive(Debug, PartialEq)]
    struct Fake {
        id: u32,
        uses: u32,
        memory: usize,
    }

    impl Parkable for Fake {
        fn uses(&self) -> u32 {
            self.uses
        }
        fn memory(&self) -> usize {
            self.memory
        }
    }

    fn fake(id: u32) -> Fake {
        Fake {
            id,
            uses: 1,
            memory: 1 << 20,
        }
    }

    fn pool(capacity: usize, places: usize) -> (WarmPool<Fake>, Arc<Semaphore>) {
        let permits = Arc::new(Semaphore::new(places));
        (
            WarmPool::new(capacity, Duration::ZERO, permits.clone()),
            permits,
        )
    }

    /// The kept count is the number parked, and no shelf is empty.
    fn check(pool: &WarmPool<Fake>) {
        let shelves = pool.lock();
        let all = shelves.by_tenant.values().flatten();
        assert!(all.clone().all(|shelf| !shelf.parked.is_empty()));
        assert_eq!(
            shelves.len,
            all.map(|shelf| shelf.parked.len()).sum::<usize>()
        );
        assert!(!shelves.by_tenant.values().any(Vec::is_empty));
        // Every parked instance has its entry in the order, in the order they parked, and
        // the entries of instances gone since are bounded.
        let mut live: Vec<u64> = shelves
            .by_tenant
            .values()
            .flatten()
            .flat_map(|shelf| shelf.parked.iter().map(|p| p.seq))
            .collect();
        live.sort_unstable();
        let entries: Vec<u64> = shelves.order.iter().map(|p| p.seq).collect();
        assert!(entries.windows(2).all(|w| w[0] < w[1]), "{entries:?}");
        assert!(live.iter().all(|seq| entries.binary_search(seq).is_ok()));
        assert!(shelves.order.len() <= 2 * shelves.len + 64);
    }

    fn ids(out: &[Parked<Fake>]) -> Vec<u32> {
        out.iter().map(|p| p.warm.id).collect()
    }

    fn taken(pool: &WarmPool<Fake>, tenant: &str, version: &str) -> Option<u32> {
        let id = pool.take(tenant, version, |_| true).0.map(|w| w.id);
        check(pool);
        id
    }

    #[test]
    fn only_the_same_tenant_and_version_take_a_parked_instance() {
        let (pool, _) = pool(8, 8);
        assert!(pool.park("t1", "pos", "v1", fake(1), &ON).is_empty());
        assert_eq!(taken(&pool, "t2", "v1"), None);
        assert_eq!(taken(&pool, "t1", "v2"), None);
        assert_eq!(taken(&pool, "t1", "v1"), Some(1));
        assert_eq!(taken(&pool, "t1", "v1"), None, "taken once only");
    }

    #[test]
    fn a_parked_instance_holds_a_pool_place_until_taken_or_dropped() {
        let (pool, permits) = pool(8, 2);
        assert!(pool.park("t1", "pos", "v1", fake(1), &ON).is_empty());
        assert_eq!(permits.available_permits(), 1);
        let (warm, stale) = pool.take("t1", "v1", |_| true);
        assert!(warm.is_some() && stale.is_none());
        assert_eq!(
            permits.available_permits(),
            2,
            "the taker holds its own place"
        );
        assert!(pool.park("t1", "pos", "v1", fake(2), &ON).is_empty());
        drop(pool.evict_all());
        assert_eq!(permits.available_permits(), 2);
    }

    #[test]
    fn with_no_free_pool_place_nothing_is_parked() {
        let (pool, permits) = pool(8, 1);
        let _call = permits.clone().try_acquire_owned().unwrap();
        assert_eq!(ids(&pool.park("t1", "pos", "v1", fake(1), &ON)), [1]);
        assert_eq!(taken(&pool, "t1", "v1"), None);
    }

    #[test]
    fn the_oldest_makes_way_at_capacity() {
        let (pool, permits) = pool(2, 8);
        assert!(pool.park("t1", "pos", "v1", fake(1), &ON).is_empty());
        assert!(pool.park("t2", "pos", "v1", fake(2), &ON).is_empty());
        assert_eq!(ids(&pool.park("t3", "pos", "v1", fake(3), &ON)), [1]);
        assert_eq!(permits.available_permits(), 6);
        assert_eq!(taken(&pool, "t1", "v1"), None);
        assert_eq!(taken(&pool, "t2", "v1"), Some(2));
        assert_eq!(taken(&pool, "t3", "v1"), Some(3));
    }

    #[test]
    fn a_full_pool_keeps_instances_that_have_not_waited_long_enough() {
        let permits = Arc::new(Semaphore::new(8));
        let pool = WarmPool::new(2, Duration::from_secs(3600), permits.clone());
        assert!(pool.park("t1", "pos", "v1", fake(1), &ON).is_empty());
        assert!(pool.park("t2", "pos", "v1", fake(2), &ON).is_empty());
        // The new instance is handed back to drop, unparked: it holds no pool place.
        assert_eq!(ids(&pool.park("t3", "pos", "v1", fake(3), &ON)), [3]);
        assert_eq!(permits.available_permits(), 6);
        check(&pool);
        assert_eq!(taken(&pool, "t3", "v1"), None);
        // The instances kept serve their tenants; with room made by a take, a new tenant's
        // instance parks.
        assert_eq!(taken(&pool, "t1", "v1"), Some(1));
        assert!(pool.park("t3", "pos", "v1", fake(3), &ON).is_empty());
        assert_eq!(taken(&pool, "t2", "v1"), Some(2));
        assert_eq!(taken(&pool, "t3", "v1"), Some(3));
    }

    #[test]
    fn the_oldest_makes_way_once_it_has_waited_long_enough() {
        let permits = Arc::new(Semaphore::new(8));
        let wait = Duration::from_millis(250);
        let pool = WarmPool::new(2, wait, permits.clone());
        let start = Instant::now();
        let at = |after: Duration| move || start + after;
        let park =
            |tenant, id, after| ids(&pool.park_at(tenant, "pos", "v1", fake(id), &ON, at(after)));
        assert!(park("t1", 1, Duration::ZERO).is_empty());
        assert!(park("t2", 2, Duration::from_millis(100)).is_empty());
        // Just short of the wait, the newcomer goes; at it, the oldest makes way.
        assert_eq!(park("t3", 3, wait - Duration::from_millis(1)), [3]);
        assert_eq!(park("t3", 3, wait), [1]);
        // Now t2's instance is the oldest, parked at 100 ms.
        assert_eq!(park("t4", 4, wait + Duration::from_millis(99)), [4]);
        assert_eq!(park("t4", 4, wait + Duration::from_millis(100)), [2]);
        assert_eq!(permits.available_permits(), 6);
        check(&pool);
        assert_eq!(taken(&pool, "t3", "v1"), Some(3));
        assert_eq!(taken(&pool, "t4", "v1"), Some(4));
    }

    #[test]
    fn the_oldest_is_found_across_shelves_and_within_one() {
        let (pool, _) = pool(4, 8);
        for (id, version) in [(1, "v1"), (2, "v2"), (3, "v1"), (4, "v2")] {
            assert!(pool.park("t1", "pos", version, fake(id), &ON).is_empty());
            check(&pool);
        }
        assert_eq!(ids(&pool.park("t2", "pos", "v1", fake(5), &ON)), [1]);
        check(&pool);
        assert_eq!(ids(&pool.park("t2", "pos", "v1", fake(6), &ON)), [2]);
        check(&pool);
        // The newest of a shelf is taken first.
        assert_eq!(taken(&pool, "t1", "v1"), Some(3));
        assert_eq!(taken(&pool, "t1", "v1"), None);
        assert_eq!(taken(&pool, "t2", "v1"), Some(6));
        assert_eq!(taken(&pool, "t2", "v1"), Some(5));
        assert_eq!(taken(&pool, "t1", "v2"), Some(4));
        assert_eq!(pool.lock().len, 0);
    }

    #[test]
    fn the_oldest_stays_first_through_many_calls_of_another_tenant() {
        let (pool, _) = pool(3, 8);
        assert!(pool.park("quiet", "pos", "v1", fake(1), &ON).is_empty());
        // A busy tenant parks and takes its instance a thousand times: each take leaves an
        // entry behind in the order, which must neither grow without bound nor hide the
        // quiet tenant's instance as the oldest.
        for _ in 0..1000 {
            assert!(pool.park("busy", "pos", "v1", fake(2), &ON).is_empty());
            assert_eq!(taken(&pool, "busy", "v1"), Some(2));
        }
        assert!(pool.park("busy", "pos", "v1", fake(2), &ON).is_empty());
        assert!(pool.park("other", "pos", "v1", fake(3), &ON).is_empty());
        check(&pool);
        assert_eq!(ids(&pool.park("new", "pos", "v1", fake(4), &ON)), [1]);
        assert_eq!(ids(&pool.park("new", "pos", "v1", fake(5), &ON)), [2]);
        check(&pool);
    }

    #[test]
    fn an_instance_taken_or_evicted_leaves_the_next_oldest_to_make_way() {
        for gone in ["taken", "evicted"] {
            let (pool, _) = pool(2, 8);
            assert!(pool.park("t1", "pos", "v1", fake(1), &ON).is_empty());
            assert!(pool.park("t2", "pos", "v1", fake(2), &ON).is_empty());
            match gone {
                "taken" => assert_eq!(taken(&pool, "t1", "v1"), Some(1)),
                _ => assert_eq!(ids(&pool.evict("t1", "pos")), [1]),
            }
            // t1's shelf has a newer instance now; the entry of the one that went must not
            // stand for it.
            assert!(pool.park("t1", "pos", "v1", fake(3), &ON).is_empty());
            check(&pool);
            assert_eq!(
                ids(&pool.park("t3", "pos", "v1", fake(4), &ON)),
                [2],
                "{gone}"
            );
            check(&pool);
            assert_eq!(taken(&pool, "t1", "v1"), Some(3), "{gone}");
        }
    }

    #[test]
    fn worn_or_big_instances_are_not_parked() {
        let (pool, _) = pool(8, 8);
        let worn = Fake {
            uses: MAX_USES,
            ..fake(1)
        };
        assert_eq!(ids(&pool.park("t1", "pos", "v1", worn, &ON)), [1]);
        let big = Fake {
            memory: MAX_PARKED_MEMORY + 1,
            ..fake(2)
        };
        assert_eq!(ids(&pool.park("t1", "pos", "v1", big, &ON)), [2]);
        let almost = Fake {
            uses: MAX_USES - 1,
            memory: MAX_PARKED_MEMORY,
            ..fake(3)
        };
        assert!(pool.park("t1", "pos", "v1", almost, &ON).is_empty());
        assert_eq!(taken(&pool, "t1", "v1"), Some(3));
    }

    #[test]
    fn an_instance_that_does_not_fit_or_idled_is_handed_back_to_drop() {
        let (pool, permits) = pool(8, 8);
        assert!(pool.park("t1", "pos", "v1", fake(1), &ON).is_empty());
        let (warm, stale) = pool.take("t1", "v1", |w| w.memory < 1 << 10);
        assert!(warm.is_none());
        assert_eq!(stale.map(|p| p.warm.id), Some(1));
        assert_eq!(permits.available_permits(), 8);

        let permits = Arc::new(Semaphore::new(8));
        let idle = WarmPool::with_idle(8, Duration::ZERO, permits.clone(), Duration::ZERO);
        assert!(idle.park("t1", "pos", "v1", fake(2), &ON).is_empty());
        let (warm, stale) = idle.take("t1", "v1", |_| true);
        assert!(warm.is_none());
        assert_eq!(stale.map(|p| p.warm.id), Some(2));
        // Parking again sweeps out whatever idled, the new one included next time.
        assert!(idle.park("t1", "pos", "v1", fake(3), &ON).is_empty());
        assert_eq!(ids(&idle.park("t2", "pos", "v1", fake(4), &ON)), [3]);
        // The periodic sweep frees what idled without waiting for the next park.
        assert_eq!(ids(&idle.evict_idle()), [4]);
        assert_eq!(permits.available_permits(), 8);
        // In a pool with the real idle time, a just-parked instance stays.
        assert!(pool.park("t1", "pos", "v1", fake(5), &ON).is_empty());
        assert!(pool.evict_idle().is_empty());
        assert_eq!(taken(&pool, "t1", "v1"), Some(5));
    }

    #[test]
    fn switching_a_module_off_drops_only_its_instances_for_that_tenant() {
        let (pool, permits) = pool(8, 8);
        for (id, tenant, module, version) in [
            (1, "t1", "pos", "v1"),
            (2, "t1", "pos", "v2"),
            (3, "t1", "support", "s1"),
            (4, "t2", "pos", "v1"),
        ] {
            assert!(pool.park(tenant, module, version, fake(id), &ON).is_empty());
        }
        let mut out = ids(&pool.evict("t1", "pos"));
        out.sort();
        assert_eq!(out, [1, 2]);
        check(&pool);
        assert_eq!(permits.available_permits(), 6);
        assert_eq!(taken(&pool, "t1", "s1"), Some(3));
        assert_eq!(taken(&pool, "t2", "v1"), Some(4));
    }

    #[test]
    fn a_call_switched_off_before_it_parks_is_not_parked() {
        let (pool, permits) = pool(8, 8);
        let off = AtomicBool::new(true);
        assert_eq!(ids(&pool.park("t1", "pos", "v1", fake(1), &off)), [1]);
        assert_eq!(permits.available_permits(), 8);
        assert_eq!(taken(&pool, "t1", "v1"), None);
    }

    #[test]
    fn off_means_nothing_is_parked() {
        let (pool, permits) = pool(0, 8);
        assert!(!pool.enabled());
        assert_eq!(ids(&pool.park("t1", "pos", "v1", fake(1), &ON)), [1]);
        assert_eq!(permits.available_permits(), 8);
    }
}
