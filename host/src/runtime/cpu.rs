//! Fair shares of the guest threads. A call that has computed through
//! [`LONG_AFTER_TICKS`] epoch ticks is a long call: it must hold one of its tenant's CPU
//! shares to go on, and gives it back at every tick. A tenant gets at most half the guest
//! threads for long computations, so however many calls it sends that spin to their
//! deadline, the other half is left for everyone else.
//!
//! Each tick also pays the CPU time the call used since its last tick (inside polls of its
//! future, timed as `Meter` says; waiting for I/O, memory or a share is free) from the
//! tenant's budget: [`BURST`] at full speed, then [`SUSTAINED`] of a core. When it is
//! spent, the tenant's long calls rest, without a thread, until it refills or their
//! deadline comes. Short calls never wait, and calls that finish within a tick, almost all
//! of them, never pay anything.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::bucket::TokenBucket;
use super::engine::EPOCH_TICK;
use super::tenants::{Tenant, lock};

/// A call that has computed through this many epoch ticks is a long call.
pub(crate) const LONG_AFTER_TICKS: u32 = 2;
/// A call leaves the request thread at this many epoch ticks whatever it computed.
pub(crate) const MOVE_AFTER_TICKS: u32 = 4;
/// How often a call that waits (for budget or a share) checks whether it was switched off.
const INTERRUPT_CHECK: Duration = Duration::from_millis(5);

/// Long computation a tenant may sustain, in seconds of CPU per second.
pub(crate) const SUSTAINED: f64 = 0.25;
/// Long computation a tenant that has been quiet may do at full speed.
pub(crate) const BURST: Duration = Duration::from_millis(100);

/// One tenant's shares, and its budget of long computation: a token bucket of CPU time.
/// The shares say how many threads the tenant may compute on at once; the budget says how
/// much it may compute over time. Even at the lowest priority a core that never rests
/// slows the others (caches, the hypervisor), so a tenant cannot keep one spinning.
pub(crate) struct TenantCpu {
    shares: Arc<Semaphore>,
    /// How many shares there are.
    of: usize,
    /// Seconds of CPU.
    budget: Mutex<TokenBucket>,
}

impl TenantCpu {
    /// `shares` long computations at once, and a full budget.
    pub(super) fn new(shares: usize) -> Self {
        Self {
            shares: Arc::new(Semaphore::new(shares)),
            of: shares,
            budget: Mutex::new(TokenBucket::full(SUSTAINED, BURST.as_secs_f64())),
        }
    }

    /// Every share free and the budget full at `now`: a new entry would say the same.
    pub(super) fn at_rest(&self, now: Instant) -> bool {
        self.shares.available_permits() == self.of && lock(&self.budget).is_full(now)
    }

    /// Charge `used` of computing at `now`; returns how long the tenant must rest first.
    fn charge(&self, used: Duration, now: Instant) -> Duration {
        lock(&self.budget).take(used.as_secs_f64(), now)
    }
}

/// What a call has used: the time of its polls (it computes while polled and waits in
/// between). From its first tick on, a poll is timed by the polling thread's CPU clock, as
/// wall time would charge a call for being preempted and a busy host would put every tenant
/// in debt. Before that, by the wall clock, capped at one tick when the first tick pays it:
/// the thread's CPU clock is a system call (`CLOCK_THREAD_CPUTIME_ID` has no vDSO path; its
/// two readings a poll were 8.5% of a fresh call's request-thread CPU, issue 17), and most
/// calls end before any tick, so that clock is only read for the few that meet one.
///
/// What that costs, at a call's first tick only: the wall clock also counts the time the
/// thread was preempted, or blocked inside a poll (a kv read on SQLite runs on the calling
/// thread), before that tick; past half a tick of it, a call that computed little counts
/// that tick as computing, so it leaves the request thread and needs one computing tick
/// less to be long (whether its tenant's long computation sends it to low priority is
/// decided by the CPU clock alone: see [`CpuTurn::next_tick`]).
/// The cap bounds what such a tick charges the budget at one tick, and it also leaves
/// unpaid any host work past a tick before the first epoch check (instantiation, a host
/// call), once per call.
#[derive(Debug, Default)]
struct Meter {
    unpaid: Duration,
    /// When the poll under way began.
    polled_since: Option<PollStart>,
    /// Polls are timed by the thread's CPU clock (the call has met a tick).
    by_cpu: bool,
}

/// A poll's start, on the clock the call is timed by.
#[derive(Debug, Clone, Copy)]
enum PollStart {
    Wall(Instant),
    /// The polling thread's CPU clock.
    Cpu(Duration),
}

impl PollStart {
    /// The time from this start to `now`, on the start's own clock; `cpu` reads the polling
    /// thread's CPU clock, only for a start on it.
    fn elapsed(self, now: Instant, cpu: impl FnOnce() -> Duration) -> Duration {
        match self {
            PollStart::Cpu(since) => cpu().saturating_sub(since),
            PollStart::Wall(since) => now.saturating_duration_since(since),
        }
    }
}

impl Meter {
    /// A poll begins at `now`; `cpu` reads the polling thread's CPU clock, only if the call
    /// is timed by it.
    fn poll_started(&mut self, now: Instant, cpu: impl FnOnce() -> Duration) {
        self.polled_since = Some(if self.by_cpu {
            PollStart::Cpu(cpu())
        } else {
            PollStart::Wall(now)
        });
    }

    /// The poll under way ended at `now`.
    fn poll_ended(&mut self, now: Instant, cpu: impl FnOnce() -> Duration) {
        if let Some(since) = self.polled_since.take() {
            self.unpaid += since.elapsed(now, cpu);
        }
    }

    /// At a tick at `now`: everything used since the last tick, which is then paid. From
    /// here on the call is timed by the thread's CPU clock (`cpu`).
    fn take(&mut self, now: Instant, cpu: impl FnOnce() -> Duration) -> Duration {
        let mut used = std::mem::take(&mut self.unpaid);
        if let Some(since) = self.polled_since {
            let cpu_now = cpu();
            used += since.elapsed(now, || cpu_now);
            self.polled_since = Some(PollStart::Cpu(cpu_now));
        }
        if !std::mem::replace(&mut self.by_cpu, true) {
            used = used.min(EPOCH_TICK);
        }
        used
    }
}

/// Add `used` to the nanoseconds in `total`; the new total.
fn add_ns(total: &AtomicU64, used: Duration) -> Duration {
    let ns = u64::try_from(used.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(total.fetch_add(ns, Ordering::Relaxed).saturating_add(ns))
}

/// The CPU time this thread has used.
pub(crate) fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill in.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0;
    if !ok {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// One call's hold on its tenant's shares: none until its first tick. Its clones (the
/// executor's, the epoch callback's, each tick's) share one [`TurnState`].
#[derive(Clone)]
pub(crate) struct CpuTurn {
    tenant: Arc<Tenant>,
    /// In one allocation: every call makes a turn, and a fresh call's whole cost is tens of
    /// microseconds.
    state: Arc<TurnState>,
    /// The call's kill switch, checked while it waits.
    interrupt: Option<Arc<AtomicBool>>,
    /// Past this the call stops waiting for a share; its next tick then ends it.
    deadline_at: Instant,
}

/// What every clone of a call's [`CpuTurn`] sees.
#[derive(Default)]
struct TurnState {
    held: Mutex<Option<OwnedSemaphorePermit>>,
    /// Epoch ticks the call has computed through (used at least half a tick since the one
    /// before, as `Meter` times it; a tick that finds it back from I/O does not count).
    ticks: AtomicU32,
    /// Set at the first epoch tick by which the call has computed half a tick in all, or at
    /// its [`MOVE_AFTER_TICKS`]th tick: it leaves the request thread it started on (see
    /// `executors::GuestExecutors::run_call`). Counted in what the call computed first (as
    /// `Meter` times it), so a call back from a slow query stays where it is and a spinning
    /// call leaves even on a thread it gets only part of; the count of ticks bounds it if the
    /// thread's CPU clock cannot be read.
    ticked: AtomicBool,
    /// Nanoseconds the call has paid for at its ticks so far (as `Meter` times them).
    computed_ns: AtomicU64,
    /// Of those, the nanoseconds the thread's CPU clock timed (from its first tick on).
    computed_on_cpu_ns: AtomicU64,
    /// Epoch ticks the call has met, computing or not.
    seen: AtomicU32,
    /// Set once the call should go on at low priority: it is long, or at one of its ticks,
    /// having computed half a tick by the CPU clock, its tenant was already computing at
    /// length (budget spent or shares taken).
    low_priority: AtomicBool,
    /// What the call has computed and not yet paid for.
    meter: Mutex<Meter>,
}

impl std::fmt::Debug for CpuTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuTurn")
            .field("holds_share", &self.holds_share())
            .finish()
    }
}

impl Tenant {
    /// A turn for one call of this tenant that must end by `deadline_at`.
    pub(crate) fn turn(self: &Arc<Self>, deadline_at: Instant) -> CpuTurn {
        CpuTurn {
            tenant: self.clone(),
            state: Arc::default(),
            interrupt: None,
            deadline_at,
        }
    }
}

impl CpuTurn {
    /// Stop waiting (for budget or a share) once `flag` is set: the call was switched off,
    /// and its next tick ends it.
    pub(crate) fn interrupted_by(mut self, flag: Arc<AtomicBool>) -> Self {
        self.interrupt = Some(flag);
        self
    }

    /// What the guest awaits at an epoch tick. The CPU it used since the last tick is paid from
    /// its tenant's budget. A short call then just lets other tasks run; if it has computed
    /// half a tick by its thread's CPU clock (from its first tick on) and its tenant is
    /// computing at length already (in debt, or all shares taken) it is marked to go on at low
    /// priority, but it never waits. A long call gives its share back, lets other tasks run,
    /// rests if its tenant's budget is spent, then queues (first in, first out among the
    /// tenant's calls) for a share again.
    pub(crate) fn next_tick(&self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let now = Instant::now();
        let (used, on_cpu) = {
            let mut meter = self.meter();
            let by_cpu = meter.by_cpu;
            let used = meter.take(now, thread_cpu_time);
            (used, if by_cpu { used } else { Duration::ZERO })
        };
        if used >= EPOCH_TICK / 2 {
            self.state.ticks.fetch_add(1, Ordering::Relaxed);
        }
        let computed = add_ns(&self.state.computed_ns, used);
        let computed_on_cpu = add_ns(&self.state.computed_on_cpu_ns, on_cpu);
        let seen = self.state.seen.fetch_add(1, Ordering::Relaxed) + 1;
        let long = self.state.ticks.load(Ordering::Relaxed) >= LONG_AFTER_TICKS;
        let rest = self.tenant.cpu.charge(used, now);
        let computing = computed >= EPOCH_TICK / 2;
        // Decided before any yield, so the executor can move the call at the first one. Only
        // a call that computes goes on at low priority for its tenant's long computation: one
        // that has computed less than half a tick in all (it waits for queries) is an
        // ordinary call whatever else its tenant runs, and the lowest priority would leave it
        // waiting for an idle core on a busy host. Counted by the CPU clock alone: the wall
        // clock that times a call until its first tick also counts the time its thread was
        // preempted, which on a busy host made ordinary calls look computing. A tenant
        // sending POS lists from 32 clients on PostgreSQL, in debt from its own calls' ticks,
        // had about 4% of them go on at the lowest priority, where a few waited for a core
        // until their deadline and were answered 504 (docs/PERFORMANCE.md, thirtieth
        // session). A call that does compute is marked a tick later than the wall clock
        // would have marked it.
        let busy_tenant = computed_on_cpu >= EPOCH_TICK / 2
            && (!rest.is_zero() || self.tenant.cpu.shares.available_permits() == 0);
        if !computing && seen < MOVE_AFTER_TICKS {
            // Mostly waiting so far (a tick found it back from a query): not worth a move
            // to the guest executors, nor a yield.
            return Box::pin(std::future::ready(()));
        }
        self.state.ticked.store(true, Ordering::Relaxed);
        if (long || busy_tenant) && !self.state.low_priority.swap(true, Ordering::Relaxed) {
            // Once per call, when it is marked: rare, so the label set is built here.
            let reason = if long { "long" } else { "tenant_busy" };
            metrics::counter!("nova_module_low_priority_calls_total", "reason" => reason)
                .increment(1);
        }
        let turn = self.clone();
        Box::pin(async move {
            turn.release();
            tokio::task::yield_now().await;
            if !long {
                return;
            }
            let shares = &turn.tenant.cpu.shares;
            // A call whose deadline passes (or that is switched off) while it waits goes on
            // without a share, and its next tick stops it.
            let deadline = tokio::time::Instant::from_std(turn.deadline_at);
            if !rest.is_zero() {
                let until = deadline.min(tokio::time::Instant::now() + rest);
                while tokio::time::Instant::now() < until && !turn.interrupted() {
                    tokio::time::sleep_until(
                        until.min(tokio::time::Instant::now() + INTERRUPT_CHECK),
                    )
                    .await;
                }
            }
            if let Ok(permit) = shares.clone().try_acquire_owned() {
                turn.hold(permit);
                return;
            }
            // Keep one place in the queue while checking the kill switch now and then.
            let acquire = shares.clone().acquire_owned();
            tokio::pin!(acquire);
            loop {
                let check = deadline.min(tokio::time::Instant::now() + INTERRUPT_CHECK);
                // The semaphore is never closed, so `ok()` loses nothing.
                if let Ok(permit) = tokio::time::timeout_at(check, &mut acquire).await {
                    if let Ok(permit) = permit {
                        turn.hold(permit);
                    }
                    return;
                }
                if tokio::time::Instant::now() >= deadline || turn.interrupted() {
                    return;
                }
            }
        })
    }

    fn hold(&self, permit: OwnedSemaphorePermit) {
        *self.held() = Some(permit);
    }

    fn interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Acquire))
    }

    /// Should the call go on at low priority (see `low_priority`)?
    pub(crate) fn low_priority(&self) -> bool {
        self.state.low_priority.load(Ordering::Relaxed)
    }

    /// The call's future is being polled on this thread from now on: it computes.
    pub(crate) fn poll_started(&self) {
        self.meter().poll_started(Instant::now(), thread_cpu_time);
    }

    /// The call's future returned from a poll: it waits, or it is done.
    pub(crate) fn poll_ended(&self) {
        self.meter().poll_ended(Instant::now(), thread_cpu_time);
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Option<OwnedSemaphorePermit>> {
        self.state.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Time this call's polls by the thread's CPU clock from its start, as a call that has
    /// met a tick is: for tests of what computing decides, which a test thread preempted
    /// before a call's first tick must not sway.
    #[cfg(test)]
    pub(crate) fn timed_by_cpu(self) -> Self {
        self.meter().by_cpu = true;
        self
    }

    fn meter(&self) -> std::sync::MutexGuard<'_, Meter> {
        self.state.meter.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True once the call has reached an epoch tick.
    pub(crate) fn reached_tick(&self) -> bool {
        self.state.ticked.load(Ordering::Relaxed)
    }

    /// Give the share back while the call is not computing (waiting, or done).
    pub(crate) fn release(&self) {
        drop(self.held().take());
    }

    /// Does this call hold a share now?
    pub(crate) fn holds_share(&self) -> bool {
        self.held().is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::task::{Context, Poll, Waker};

    use super::super::tenants::Tenants;
    use super::*;

    type Tick = Pin<Box<dyn Future<Output = ()> + Send>>;

    fn poll_once(tick: &mut Tick) -> Poll<()> {
        tick.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }

    /// A tick after a tick's worth of computing.
    fn computed_tick(turn: &CpuTurn) -> Tick {
        turn.meter().unpaid += EPOCH_TICK;
        turn.next_tick()
    }

    /// Compute through the ticks that make a call long, short of the last one.
    async fn nearly_long(turns: &[&CpuTurn]) {
        for turn in turns {
            for _ in 1..LONG_AFTER_TICKS {
                computed_tick(turn).await;
                assert!(!turn.holds_share(), "short calls take no share");
            }
        }
    }

    #[tokio::test]
    async fn a_tenant_computes_on_at_most_its_shares_and_others_are_unaffected() {
        let shares = Tenants::for_threads(2);
        assert_eq!(shares.cpu_shares(), 1);
        let later = Instant::now() + std::time::Duration::from_secs(60);
        let first = shares.get("a").turn(later);
        let second = shares.get("a").turn(later);
        let other = shares.get("b").turn(later);
        nearly_long(&[&first, &second, &other]).await;
        computed_tick(&first).await;
        assert!(first.holds_share());
        // The second long call of the same tenant waits for the first to give its share back.
        let mut waiting = computed_tick(&second);
        assert!(poll_once(&mut waiting).is_pending());
        assert!(poll_once(&mut waiting).is_pending());
        computed_tick(&other).await;
        assert!(other.holds_share(), "another tenant is not held up");
        // At its next tick the first gives its share back, and the second gets it.
        let mut first_again = computed_tick(&first);
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

    #[test]
    fn a_tenant_computes_its_burst_at_full_speed_then_rests_for_what_it_owes() {
        let shares = Tenants::new(1);
        let later = Instant::now() + std::time::Duration::from_secs(60);
        let a = shares.get("a").turn(later);
        let now = Instant::now();
        let burst_ticks = (BURST.as_secs_f64() / EPOCH_TICK.as_secs_f64()).round() as u32;
        for _ in 1..burst_ticks {
            assert_eq!(a.tenant.cpu.charge(EPOCH_TICK, now), Duration::ZERO);
        }
        // Two ticks past the burst: the tenant owes about a tick at the sustained rate.
        a.tenant.cpu.charge(EPOCH_TICK, now);
        let owed = a.tenant.cpu.charge(EPOCH_TICK, now);
        let tick_owed = EPOCH_TICK.as_secs_f64() / SUSTAINED;
        assert!(
            (owed.as_secs_f64() - tick_owed).abs() < tick_owed / 100.0,
            "{owed:?}"
        );
        // Another tenant has its own budget.
        let b = shares.get("b").turn(later);
        assert_eq!(b.tenant.cpu.charge(EPOCH_TICK, now), Duration::ZERO);
        // Once the debt is paid, the tenant computes again without resting.
        let paid = now + owed * 3;
        assert_eq!(a.tenant.cpu.charge(EPOCH_TICK, paid), Duration::ZERO);
    }

    #[test]
    fn a_call_leaves_its_thread_once_it_has_computed_half_a_tick() {
        let shares = Tenants::new(1);
        let turn = shares
            .get("a")
            .turn(Instant::now() + Duration::from_secs(60));
        // Back from a query, having computed next to nothing: the tick costs no move (and
        // no yield: the tick is ready at once).
        assert_eq!(poll_once(&mut turn.next_tick()), Poll::Ready(()));
        assert!(!turn.reached_tick());
        // A quarter of a tick, twice: half a tick in all, so it goes, even though neither
        // tick alone saw it compute much (a thread it gets only part of).
        for expected in [false, true] {
            turn.meter().unpaid += EPOCH_TICK / 4;
            drop(turn.next_tick());
            assert_eq!(turn.reached_tick(), expected);
        }
        // Ticks alone move a call at the fourth, whatever its CPU clock said.
        let waiting = shares
            .get("b")
            .turn(Instant::now() + Duration::from_secs(60));
        for tick in 1..=MOVE_AFTER_TICKS {
            drop(waiting.next_tick());
            assert_eq!(
                waiting.reached_tick(),
                tick == MOVE_AFTER_TICKS,
                "tick {tick}"
            );
        }
    }

    #[test]
    fn a_call_back_from_a_query_is_not_slowed_for_its_tenants_long_computation() {
        let shares = Tenants::new(1);
        let later = Instant::now() + Duration::from_secs(60);
        // The tenant's budget is spent, for a minute to come: it computes at length.
        let tenant = shares.get("a");
        let owes = tenant
            .cpu
            .charge(BURST + Duration::from_secs(15), Instant::now());
        assert!(owes >= Duration::from_secs(59), "{owes:?}");
        // A call of the same tenant back from a query, having computed next to nothing,
        // meets a tick: it stays where it is, at its priority.
        let waiting = shares.get("a").turn(later);
        assert_eq!(poll_once(&mut waiting.next_tick()), Poll::Ready(()));
        assert!(!waiting.reached_tick());
        assert!(!waiting.low_priority());
        // Once it has computed half a tick, it goes on at low priority.
        waiting.meter().unpaid += EPOCH_TICK / 2;
        drop(waiting.next_tick());
        assert!(waiting.reached_tick());
        assert!(waiting.low_priority());
        // One that keeps waiting leaves its thread at its fourth tick, still at its priority.
        let slow_query = shares.get("a").turn(later);
        for tick in 1..=MOVE_AFTER_TICKS {
            drop(slow_query.next_tick());
            assert_eq!(slow_query.reached_tick(), tick == MOVE_AFTER_TICKS);
        }
        assert!(!slow_query.low_priority());
        // Another tenant's call that computes as much, by the CPU clock (after a first tick),
        // is not held back.
        let other = shares.get("b").turn(later);
        assert_eq!(poll_once(&mut other.next_tick()), Poll::Ready(()));
        other.meter().unpaid += EPOCH_TICK / 2;
        drop(other.next_tick());
        assert!(other.reached_tick());
        assert!(!other.low_priority());
    }

    #[test]
    fn time_before_a_calls_first_tick_does_not_slow_it_for_its_tenants_long_computation() {
        let shares = Tenants::new(1);
        let later = Instant::now() + Duration::from_secs(60);
        // The tenant's budget is spent: it computes at length.
        let tenant = shares.get("a");
        tenant
            .cpu
            .charge(BURST + Duration::from_secs(15), Instant::now());
        // Until its first tick a call is timed by the wall clock, which also counts the time
        // its thread was preempted: half a tick of it moves the call off the request
        // thread, at its priority.
        let call = shares.get("a").turn(later);
        call.meter().unpaid += EPOCH_TICK / 2;
        drop(call.next_tick());
        assert!(call.reached_tick());
        assert!(!call.low_priority());
        // From then on it is timed by the CPU clock: a quarter of a tick, then another, is
        // half a tick computed, and the call goes on at low priority (not as a long call:
        // neither tick alone saw half a tick).
        for expected in [false, true] {
            call.meter().unpaid += EPOCH_TICK / 4;
            drop(call.next_tick());
            assert_eq!(call.low_priority(), expected);
        }
        assert!(call.state.ticks.load(Ordering::Relaxed) < LONG_AFTER_TICKS);
    }

    /// The CPU clock of a test: read only where the meter may read it.
    fn cpu_at(at: Duration) -> impl FnOnce() -> Duration {
        move || at
    }

    fn no_cpu_clock() -> Duration {
        panic!("a call that has met no tick reads no CPU clock")
    }

    #[test]
    fn only_time_inside_polls_is_paid() {
        let ms = Duration::from_millis;
        let (t0, c0) = (Instant::now(), Duration::from_secs(7));
        let mut meter = Meter {
            unpaid: ms(2),
            polled_since: None,
            by_cpu: true,
        };
        // Between polls the call waits (I/O, memory, a share): that costs nothing.
        assert_eq!(meter.take(t0 + ms(50), cpu_at(c0 + ms(50))), ms(2));
        assert_eq!(meter.take(t0 + ms(60), cpu_at(c0 + ms(60))), Duration::ZERO);
        // During a poll it computes; each tick pays up to itself, once, by the thread's CPU
        // clock: the 5 ms it was preempted for (wall 69, CPU 64) are not paid.
        meter.poll_started(t0 + ms(60), cpu_at(c0 + ms(60)));
        assert_eq!(meter.take(t0 + ms(61), cpu_at(c0 + ms(61))), ms(1));
        assert_eq!(meter.take(t0 + ms(69), cpu_at(c0 + ms(64))), ms(3));
        meter.poll_ended(t0 + ms(70), cpu_at(c0 + ms(65)));
        assert_eq!(meter.take(t0 + ms(80), cpu_at(c0 + ms(70))), ms(1));
    }

    /// Until its first tick a call's polls are timed by the wall clock, without a system
    /// call; the first tick pays that time, at most a tick of it, and times the call by the
    /// thread's CPU clock from then on.
    #[test]
    fn a_call_is_timed_by_the_cpu_clock_from_its_first_tick() {
        let us = Duration::from_micros;
        let (t0, c0) = (Instant::now(), Duration::from_secs(7));
        let mut short = Meter::default();
        short.poll_started(t0, no_cpu_clock);
        short.poll_ended(t0 + us(40), no_cpu_clock);
        short.poll_started(t0 + us(300), no_cpu_clock);
        short.poll_ended(t0 + us(330), no_cpu_clock);
        assert_eq!(short.unpaid, us(70), "the two polls, not the wait between");

        let mut ticking = Meter::default();
        ticking.poll_started(t0, no_cpu_clock);
        assert_eq!(ticking.take(t0 + us(600), cpu_at(c0)), us(600));
        // Timed by the CPU clock now: preempted for 2 ms of the next 2.5, it pays 0.5.
        let (wall, cpu) = (t0 + us(3_100), c0 + us(500));
        assert_eq!(ticking.take(wall, cpu_at(cpu)), us(500));
        ticking.poll_ended(wall + us(100), cpu_at(cpu + us(100)));
        ticking.poll_started(wall + us(900), cpu_at(cpu + us(150)));
        assert_eq!(ticking.take(wall + us(950), cpu_at(cpu + us(190))), us(140));
        // Later ticks are not capped: 1.5 ms of computing is paid in full.
        assert_eq!(
            ticking.take(wall + us(2_500), cpu_at(cpu + us(1_690))),
            us(1_500)
        );

        // A first tick after a long preemption pays no more than a tick.
        let mut preempted = Meter::default();
        preempted.poll_started(t0, no_cpu_clock);
        assert_eq!(preempted.take(t0 + us(20_000), cpu_at(c0)), EPOCH_TICK);
    }

    #[tokio::test]
    async fn a_switched_off_call_stops_waiting_for_a_share() {
        let shares = Tenants::new(1);
        let later = Instant::now() + std::time::Duration::from_secs(60);
        let holder = shares.get("a").turn(later);
        nearly_long(&[&holder]).await;
        computed_tick(&holder).await;
        let flag = Arc::new(AtomicBool::new(false));
        let switched_off = shares.get("a").turn(later).interrupted_by(flag.clone());
        nearly_long(&[&switched_off]).await;
        let mut waiting = computed_tick(&switched_off);
        assert!(poll_once(&mut waiting).is_pending());
        flag.store(true, Ordering::Release);
        // It stops waiting within one check, long before its deadline a minute away.
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("a switched-off call stops waiting");
        assert!(!switched_off.holds_share());
        assert!(holder.holds_share());
    }

    #[tokio::test]
    async fn a_call_past_its_deadline_stops_waiting_for_a_share() {
        let shares = Tenants::new(1);
        let holder = shares
            .get("a")
            .turn(Instant::now() + std::time::Duration::from_secs(60));
        nearly_long(&[&holder]).await;
        computed_tick(&holder).await;
        assert!(holder.holds_share());
        let late = shares.get("a").turn(Instant::now());
        nearly_long(&[&late]).await;
        computed_tick(&late).await;
        assert!(
            !late.holds_share(),
            "it went on without one, to be stopped at its next tick"
        );
    }
}
