//! Where guests run. A call starts on the request's own task: most calls are done well
//! within an epoch tick, and running them there saves two thread hops per call (issue 17:
//! the hops were the largest cost on the trivial path). A call moves, between two polls,
//! to the short-call executor at the first epoch tick by which it has computed half a tick
//! in all (a call back from a slow query has not, and stays), or at its fourth tick
//! whatever it computed. The short-call threads have the same priority as the request
//! threads. So a spinning guest holds a request thread for a tick and a half of its CPU
//! time at most, and an ordinary call is never queued behind somebody's long computation,
//! nor made to wait for the CPU behind it. A call that has computed through
//! [`super::cpu::LONG_AFTER_TICKS`] ticks moves, between two polls, to the long-call
//! executor, and so does one that has computed half a tick (by its thread's CPU clock) by a
//! tick at which its tenant is computing at length already (budget spent or shares taken);
//! a call that has computed less than half a tick in all (it waits for queries) stays an
//! ordinary call whatever its tenant runs beside it. The long-call threads run at the lowest
//! priority: from then on a long call only gets the CPU nobody else wants, shared between
//! tenants by [`super::cpu`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use anyhow::Context as _;

use super::cpu::CpuTurn;
use super::tenants::lock;

/// A call's future, movable between executors between polls.
pub(crate) type CallFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The two guest executors.
pub(crate) struct GuestExecutors {
    short: Option<tokio::runtime::Runtime>,
    long: Option<tokio::runtime::Runtime>,
    gate: Arc<LongGate>,
}

impl GuestExecutors {
    /// One thread per core on each executor.
    pub(crate) fn start() -> anyhow::Result<Self> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let short = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("nova-guest")
            // Check the shared queue at every task switch: a new call waits behind at
            // most one other call's slice, not behind a worker's whole local queue.
            .global_queue_interval(1)
            .enable_all()
            .build()
            .context("starting the guest executor")?;
        let long = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("nova-guest-long")
            .on_thread_start(lower_thread_priority)
            .global_queue_interval(1)
            .enable_all()
            .build()
            .context("starting the long-call executor")?;
        Ok(Self {
            short: Some(short),
            long: Some(long),
            gate: Arc::default(),
        })
    }

    /// Keep every long call from running, between two of its polls, until every guard
    /// is dropped: what a host saturated by short calls does to them (their threads run at the
    /// lowest priority), made certain, for tests of what the host does meanwhile.
    pub(crate) fn hold_long_calls(&self) -> LongCallsHeld {
        self.gate.holds.fetch_add(1, Ordering::AcqRel);
        LongCallsHeld {
            gate: self.gate.clone(),
        }
    }

    /// Where calls give their instance and slots back.
    pub(crate) fn cleanup(&self) -> Cleanup {
        Cleanup {
            short: self.short().clone(),
            long: self.long().id(),
        }
    }

    /// Threads that run long calls (the CPU shares are fractions of these).
    pub(crate) fn long_threads(&self) -> usize {
        self.long().metrics().num_workers()
    }

    /// Run a call on the calling task until it ends or reaches a tick that moves it; from
    /// there it goes on as [`GuestExecutors::spawn_call`] runs it, and this returns (the call
    /// tells its caller its result by its own means). A panic inside the call ends the call,
    /// not the caller, as it did when every call was a task of its own. If the caller is
    /// dropped while the call runs here, the call is dropped on the guest executor: it may
    /// be in the middle of a guest, and the caller is going away, not waiting.
    pub(crate) async fn run_call(&self, call: CallFuture, turn: CpuTurn) {
        let mut here = Abandoned {
            call: Some(Box::pin(Metered {
                call,
                turn: turn.clone(),
            })),
            cleanup: self.short().clone(),
        };
        let moves = std::future::poll_fn(|cx| {
            let Some(call) = here.call.as_mut() else {
                return Poll::Ready(false);
            };
            let polled =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call.as_mut().poll(cx)));
            match polled {
                Ok(Poll::Ready(())) => {
                    here.call = None;
                    return Poll::Ready(false);
                }
                Ok(Poll::Pending) => {}
                Err(_) => {
                    // The call's answer channel is dropped with it: the caller records a
                    // failed guest task.
                    tracing::error!("a guest call panicked on the request thread");
                    here.call = None;
                    return Poll::Ready(false);
                }
            }
            if turn.reached_tick() {
                Poll::Ready(true)
            } else {
                Poll::Pending
            }
        })
        .await;
        if moves && let Some(call) = here.call.take() {
            self.spawn_metered(call, turn);
        }
    }

    /// Run a call: on the short-call executor until `turn` says it is long, then on the
    /// long-call executor.
    #[cfg(test)]
    pub(crate) fn spawn_call(&self, call: CallFuture, turn: CpuTurn) {
        let call: CallFuture = Box::pin(Metered {
            call,
            turn: turn.clone(),
        });
        self.spawn_metered(call, turn);
    }

    fn spawn_metered(&self, call: CallFuture, turn: CpuTurn) {
        self.short().spawn(Handoff {
            call: Some(call),
            turn,
            long: self.long().clone(),
            gate: self.gate.clone(),
        });
    }

    fn short(&self) -> &tokio::runtime::Handle {
        self.short
            .as_ref()
            .expect("the executors live as long as the runtime")
            .handle()
    }

    fn long(&self) -> &tokio::runtime::Handle {
        self.long
            .as_ref()
            .expect("the executors live as long as the runtime")
            .handle()
    }
}

impl Drop for GuestExecutors {
    fn drop(&mut self) {
        // They may be dropped on an async thread, where a blocking shutdown panics. Long calls
        // may hold timers of the short executor's driver, so they stop first.
        for rt in [self.long.take(), self.short.take()].into_iter().flatten() {
            rt.shutdown_background();
        }
    }
}

/// Drops what a finished call leaves behind: its store (which gives its instance slot back
/// and, every few drops, a batch of slots to the kernel) and then its places in the pool and
/// in its tenant's slots.
#[derive(Clone)]
pub(crate) struct Cleanup {
    /// Normal priority and never a request thread.
    short: tokio::runtime::Handle,
    long: tokio::runtime::Id,
}

impl Cleanup {
    /// Drop `value` once the current task waits: as a task of the runtime this thread works
    /// for. Spawned from one of its workers, tokio puts it in that worker's next-task slot,
    /// runs it there once the current task waits and wakes no other thread (issue 17:
    /// handing every fresh call's store to a parked executor thread cost about three
    /// context switches per call, a fifth of its CPU). When that slot is taken already, or
    /// from a thread that only blocks on the runtime, tokio queues it and may wake a worker,
    /// as before. A request's task waits next for its record's commit, which a drop
    /// overlaps. From a long-call thread, whose low priority could keep the slot from
    /// everybody on a busy host, and from outside a runtime, the drop goes to the short-call
    /// executor.
    pub(crate) fn soon<T: Send + 'static>(&self, value: T) {
        match tokio::runtime::Handle::try_current() {
            Ok(here) if here.id() != self.long => here.spawn(async move { drop(value) }),
            _ => self.short.spawn(async move { drop(value) }),
        };
    }

    /// Drop `value` on the short-call executor, never on this thread: for many instances at
    /// once, which would hold a request thread for as long as they take.
    pub(crate) fn elsewhere<T: Send + 'static>(&self, value: T) {
        self.short.spawn(async move { drop(value) });
    }
}

/// Polls a call on the short-call executor; once the call is long and waiting (at a tick),
/// hands the future to the long-call executor. Futures may be polled from any thread and
/// re-register their waker on every poll, so the move loses no wake-up.
struct Handoff {
    call: Option<CallFuture>,
    turn: CpuTurn,
    long: tokio::runtime::Handle,
    gate: Arc<LongGate>,
}

impl Future for Handoff {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(call) = self.call.as_mut() else {
            return Poll::Ready(());
        };
        if call.as_mut().poll(cx).is_ready() {
            self.call = None;
            return Poll::Ready(());
        }
        if self.turn.low_priority()
            && let Some(call) = self.call.take()
        {
            self.long.spawn(Gated {
                call,
                gate: self.gate.clone(),
            });
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// How many guards hold long calls ([`GuestExecutors::hold_long_calls`]), and the calls
/// waiting: they run again once the last guard is dropped.
#[derive(Default)]
struct LongGate {
    holds: AtomicUsize,
    waiting: Mutex<Vec<Waker>>,
}

/// Long calls are held until this, and every other guard taken meanwhile, is dropped.
pub struct LongCallsHeld {
    gate: Arc<LongGate>,
}

impl LongCallsHeld {
    /// Long calls held from running.
    pub fn waiting(&self) -> usize {
        lock(&self.gate.waiting).len()
    }
}

impl Drop for LongCallsHeld {
    fn drop(&mut self) {
        // Under the lock the gated calls look again under, so none misses the release.
        let mut waiting = lock(&self.gate.waiting);
        if self.gate.holds.fetch_sub(1, Ordering::AcqRel) > 1 {
            return;
        }
        for waker in std::mem::take(&mut *waiting) {
            waker.wake();
        }
    }
}

/// A call on the long-call executor: polled unless long calls are held (one atomic load per
/// poll, and a long call is polled about once a tick).
struct Gated {
    call: CallFuture,
    gate: Arc<LongGate>,
}

impl Future for Gated {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.gate.holds.load(Ordering::Acquire) > 0 {
            let mut waiting = lock(&self.gate.waiting);
            // Looked at again under the lock the release takes, so a release in between
            // cannot miss this waker.
            if self.gate.holds.load(Ordering::Acquire) > 0 {
                // Once per call, however often it is woken meanwhile (each tick).
                if !waiting.iter().any(|w| w.will_wake(cx.waker())) {
                    waiting.push(cx.waker().clone());
                }
                return Poll::Pending;
            }
        }
        self.call.as_mut().poll(cx)
    }
}

/// A call still running on a caller's task when the caller is dropped: handed to the guest
/// executor to be dropped there (its store goes back to the pool, its holds after it).
struct Abandoned {
    call: Option<CallFuture>,
    cleanup: tokio::runtime::Handle,
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            self.cleanup.spawn(async move { drop(call) });
        }
    }
}

/// Times each poll of a call: the call computes while it is polled, and waits in between.
struct Metered {
    call: CallFuture,
    turn: CpuTurn,
}

impl Future for Metered {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.turn.poll_started();
        let polled = self.call.as_mut().poll(cx);
        self.turn.poll_ended();
        polled
    }
}

/// Long-call threads run under `SCHED_IDLE`: any other thread that wakes up (HTTP, commits,
/// short calls) takes the core from them at once, and the kernel places wakers on cores
/// that run only such threads as if those cores were idle. A merely niced thread keeps the
/// core until its slice ends, which put milliseconds on other tenants' calls.
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        // Moving a thread to SCHED_IDLE needs no privilege; if it fails the thread keeps
        // the default policy.
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is a valid sched_param that outlives the call; 0 names this thread.
        let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::runtime::cpu::LONG_AFTER_TICKS;
    use crate::runtime::tenants::Tenants;

    fn thread_name() -> String {
        std::thread::current()
            .name()
            .unwrap_or_default()
            .to_string()
    }

    /// Run what `body` makes of the call's turn as a call of tenant "a"; return its result.
    async fn run_call<T, F, Fut>(shares: &Tenants, deadline: Instant, body: F) -> T
    where
        F: FnOnce(CpuTurn) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let executors = GuestExecutors::start().unwrap();
        // Timed by the CPU clock from its start, so that a test thread preempted before the
        // call's first tick cannot make it look as if it computed (see `cpu::Meter`).
        let turn = shares.get("a").turn(deadline).timed_by_cpu();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let call = body(turn.clone());
        executors.spawn_call(
            Box::pin(async move {
                let _ = tx.send(call.await);
            }),
            turn,
        );
        rx.await.unwrap()
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    /// Compute (spin) for a tick's worth of this thread's CPU time.
    fn compute_a_tick() {
        let until = crate::runtime::cpu::thread_cpu_time() + crate::runtime::engine::EPOCH_TICK;
        while crate::runtime::cpu::thread_cpu_time() < until {
            std::hint::spin_loop();
        }
    }

    #[tokio::test]
    async fn a_call_moves_to_the_long_executor_after_its_ticks_and_finishes_there() {
        let seen = run_call(&Tenants::new(1), later(), |turn| async move {
            let mut seen = vec![thread_name()];
            for _ in 0..LONG_AFTER_TICKS + 1 {
                compute_a_tick();
                turn.next_tick().await;
                seen.push(thread_name());
            }
            seen
        })
        .await;
        assert_eq!(seen[0], "nova-guest", "calls start on the short executor");
        assert_eq!(
            seen.last().unwrap(),
            "nova-guest-long",
            "a long call ends on the long executor"
        );
        let first_long = seen.iter().position(|t| t == "nova-guest-long").unwrap();
        assert_eq!(
            first_long as u32, LONG_AFTER_TICKS,
            "it moves at its {LONG_AFTER_TICKS}th tick, not before"
        );
    }

    #[tokio::test]
    async fn a_computing_call_of_a_tenant_already_computing_at_length_moves_at_its_first_tick() {
        let executors = GuestExecutors::start().unwrap();
        let shares = Tenants::new(1);
        // A long call of tenant "a" takes its only share and keeps it until told to finish.
        let holder = shares.get("a").turn(later()).timed_by_cpu();
        let (held, holding) = tokio::sync::oneshot::channel();
        let (finish, finished) = tokio::sync::oneshot::channel::<()>();
        let ticking = holder.clone();
        executors.spawn_call(
            Box::pin(async move {
                for _ in 0..LONG_AFTER_TICKS {
                    compute_a_tick();
                    ticking.next_tick().await;
                }
                let _ = held.send(ticking.holds_share());
                let _ = finished.await;
            }),
            holder,
        );
        assert!(holding.await.unwrap(), "the long call holds the share");
        // Another call of "a" computes through one tick, short of a long call's ticks.
        let ended_on = run_call(&shares, later(), |turn| async move {
            compute_a_tick();
            turn.next_tick().await;
            thread_name()
        })
        .await;
        assert_eq!(ended_on, "nova-guest-long");
        // One back from a query at its tick (next to no CPU) stays where it started.
        let ended_on = run_call(&shares, later(), |turn| async move {
            turn.next_tick().await;
            thread_name()
        })
        .await;
        assert_eq!(ended_on, "nova-guest");
        drop(finish);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_call_runs_on_its_callers_task_until_it_has_computed_through_a_tick() {
        let executors = GuestExecutors::start().unwrap();
        let shares = Tenants::new(1);
        let caller = thread_name();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        let turn = shares.get("a").turn(later()).timed_by_cpu();
        let ticking = turn.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        executors
            .run_call(
                Box::pin(async move {
                    record.lock().unwrap().push(thread_name());
                    // Waiting (as for a kv read) keeps it here, and so does a tick that
                    // finds it back from waiting.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    ticking.next_tick().await;
                    record.lock().unwrap().push(thread_name());
                    // Computing through a tick moves it.
                    compute_a_tick();
                    ticking.next_tick().await;
                    record.lock().unwrap().push(thread_name());
                    let _ = tx.send(());
                }),
                turn,
            )
            .await;
        rx.await.unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen[..2],
            [caller.clone(), caller],
            "before it has computed through a tick"
        );
        assert_eq!(
            seen[2], "nova-guest",
            "after it, on the short-call executor"
        );
    }

    #[tokio::test]
    async fn held_long_calls_run_again_only_when_every_guard_is_dropped() {
        let executors = GuestExecutors::start().unwrap();
        let shares = Tenants::new(1);
        let (first, second) = (executors.hold_long_calls(), executors.hold_long_calls());
        let turn = shares.get("a").turn(later()).timed_by_cpu();
        let ticking = turn.clone();
        let (tx, done) = tokio::sync::oneshot::channel();
        executors.spawn_call(
            Box::pin(async move {
                for _ in 0..LONG_AFTER_TICKS + 1 {
                    compute_a_tick();
                    ticking.next_tick().await;
                }
                let _ = tx.send(());
            }),
            turn,
        );
        while second.waiting() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(first);
        // A release would have taken the waiting call's waker off the list and woken it.
        assert_eq!(second.waiting(), 1, "one guard still holds the call");
        drop(second);
        done.await.expect("the call ran to its end once released");
    }

    #[tokio::test]
    async fn a_short_call_stays_on_the_short_executor() {
        let ended_on = run_call(&Tenants::new(1), later(), |turn| async move {
            // Ticks that find it back from waiting (no computing between them) do not make
            // a call long.
            for _ in 0..LONG_AFTER_TICKS + 1 {
                turn.next_tick().await;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            thread_name()
        })
        .await;
        assert_eq!(ended_on, "nova-guest");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn long_call_threads_run_at_the_lowest_priority() {
        let executors = GuestExecutors::start().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        executors.long().spawn(async move {
            // SAFETY: sched_getscheduler only reads its argument; 0 names this thread.
            let _ = tx.send(unsafe { libc::sched_getscheduler(0) });
        });
        assert_eq!(rx.await.unwrap(), libc::SCHED_IDLE);
        // SAFETY: as above, for the test's own thread.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
    }

    /// Sends the name of the thread it is dropped on.
    struct Probe(std::sync::mpsc::Sender<String>);

    impl Drop for Probe {
        fn drop(&mut self) {
            let _ = self.0.send(thread_name());
        }
    }

    #[test]
    fn cleanup_drops_on_the_callers_thread_once_its_task_waits() {
        let executors = GuestExecutors::start().unwrap();
        let cleanup = executors.cleanup();
        let requests = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("request")
            .enable_all()
            .build()
            .unwrap();
        let (tx, dropped) = std::sync::mpsc::channel();
        let task_cleanup = cleanup.clone();
        let before_waiting = requests.block_on(async move {
            tokio::spawn(async move {
                task_cleanup.soon(Probe(tx));
                // Not while the task runs on: the drop is not on its clock.
                let before = dropped.try_recv().ok();
                tokio::task::yield_now().await;
                (before, dropped)
            })
            .await
            .unwrap()
        });
        let (before, dropped) = before_waiting;
        assert_eq!(before, None, "dropped before the task waited");
        assert_eq!(
            dropped.recv_timeout(Duration::from_secs(10)).unwrap(),
            "request",
            "dropped on the request thread, without waking a guest executor thread"
        );

        // From a long-call thread, and from outside any runtime: the short-call executor.
        let (tx, dropped) = std::sync::mpsc::channel();
        let long_cleanup = cleanup.clone();
        executors
            .long()
            .spawn(async move { long_cleanup.soon(Probe(tx)) });
        assert_eq!(
            dropped.recv_timeout(Duration::from_secs(10)).unwrap(),
            "nova-guest"
        );
        let (tx, dropped) = std::sync::mpsc::channel();
        cleanup.soon(Probe(tx));
        assert_eq!(
            dropped.recv_timeout(Duration::from_secs(10)).unwrap(),
            "nova-guest"
        );
        let (tx, dropped) = std::sync::mpsc::channel();
        requests
            .block_on(requests.spawn(async move { cleanup.elsewhere(Probe(tx)) }))
            .unwrap();
        assert_eq!(
            dropped.recv_timeout(Duration::from_secs(10)).unwrap(),
            "nova-guest",
            "elsewhere is never the caller's thread"
        );
    }
}
