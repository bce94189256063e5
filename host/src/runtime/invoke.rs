//! One invocation: a fresh store with limits, the guest's `handle`, and the commit of its
//! writes together with the invocation record.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot::error::TryRecvError;
use wasmtime::{Store, Trap, UpdateDeadline};

use super::Runtime;
use super::admission::Admitted;
use super::cpu::CpuTurn;
use super::engine::WasmEngine;
use super::executors::Cleanup;
use super::growth::Growth;
use super::overdue::{self, Overdue};
use super::registry::LoadedModule;
use super::running::Registration;
use super::store::StoreData;
use super::warm::Warm;
use crate::calls::CallerRole;
use crate::capabilities::gate::CallInfo;
use crate::capabilities::grants::Permissions;
use crate::capabilities::outbound_http::Outbound;
use crate::contract::{GuestRequest, GuestResponse};
use crate::limits::{LimitExceeded, Limits};
use crate::storage::audit::AuditEvent;
use crate::storage::commit::{Committed, Job};
use crate::storage::invocations::{Invocation, Outcome};
use crate::storage::kv::Write;
use crate::storage::{Db, now_ms};
use crate::tenancy::TenantView;

/// Attempts per call when its read-modify-write loses a race; the last loser gets 409.
const MAX_ATTEMPTS: u32 = 6;

/// Who is calling and what, as decided by the host.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) tenant_id: String,
    pub(crate) actor: String,
    pub(crate) role: CallerRole,
    pub(crate) request_id: String,
    /// The tenant's resolved view (flags and modules for the entitlements import).
    pub(crate) view: Arc<TenantView>,
    /// Limits for this call: the tenant's plan within the host's.
    pub(crate) limits: Limits,
    /// A call that answers without writing hands its invocation record (and audits) back
    /// in [`Invoked::record`] instead of committing it, for the caller to commit in its own
    /// transaction with what it does with the answer.
    pub(crate) record_by_caller: bool,
}

/// How an invocation ended, as the HTTP layer needs it.
#[derive(Debug)]
pub(crate) struct Invoked {
    pub(crate) outcome: Outcome,
    /// The guest's response when it returned one.
    pub(crate) response: Option<GuestResponse>,
    /// What stopped the call, or why its writes were refused.
    pub(crate) error: Option<String>,
    /// True when the call lost every attempt to a concurrent writer.
    pub(crate) conflict: bool,
    /// True when the commit itself failed (database down): nothing was written.
    pub(crate) commit_failed: bool,
    /// The record the caller must commit (see [`Caller::record_by_caller`]).
    pub(crate) record: Option<Job>,
}

/// Why a module that ran gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// It trapped (a panic, an unreachable, a failed host call) or answered a broken response.
    Trapped,
    /// It ran past its CPU deadline and was stopped.
    TimedOut,
    /// It hit a memory, fuel or response size limit; the text says which.
    Limit(String),
    /// Its module was switched off for the tenant while it ran.
    Interrupted,
    /// Every attempt lost a write race to a concurrent call.
    Conflict,
    /// Its writes could not be committed (storage down): nothing was written.
    CommitFailed,
    /// It answered with a status that is not an HTTP status.
    BadStatus(u16),
}

impl Failure {
    /// The status a client gets for this failure.
    pub(crate) fn status(&self) -> u16 {
        match self {
            Self::Conflict => 409,
            Self::CommitFailed | Self::Interrupted => 503,
            Self::TimedOut => 504,
            Self::Trapped | Self::Limit(_) | Self::BadStatus(_) => 502,
        }
    }
}

impl Invoked {
    /// A call that answered, with its record when the caller commits it.
    fn answered(response: GuestResponse, record: Option<Job>) -> Self {
        Self {
            outcome: Outcome::Ok,
            response: Some(response),
            error: None,
            conflict: false,
            commit_failed: false,
            record,
        }
    }

    /// Why the call gave no usable answer; `None` when the module answered.
    pub(crate) fn failure(&self) -> Option<Failure> {
        if self.response.is_some() {
            return None;
        }
        Some(if self.conflict {
            Failure::Conflict
        } else if self.commit_failed {
            Failure::CommitFailed
        } else {
            match self.outcome {
                Outcome::Timeout => Failure::TimedOut,
                Outcome::Limit => Failure::Limit(self.error.clone().unwrap_or_default()),
                Outcome::Interrupted => Failure::Interrupted,
                _ => Failure::Trapped,
            }
        })
    }
}

/// What a call holds until its last instance is gone: a place in the instance pool and,
/// for module calls over HTTP, the tenant's concurrency slot. Taken ([`Runtime::hold`])
/// before the call runs on unattended, so a caller that goes away while it waits for a
/// place has run nothing.
pub(crate) struct Hold {
    /// When the call began to wait for its place: its record's duration counts the wait.
    since: Instant,
    slot: Option<Admitted>,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// The call's registration, for a guest the requester answered for (`overdue.rs`): it
    /// counts in the console's `inFlight`, and the kill switch reaches it, until it has
    /// stopped. Dropped after the slot and the place, by whoever lets the last reference
    /// go: the requester, or the guest's side once it has stopped, with its instance
    /// ([`Cleanup::soon`]: never on a lowest-priority thread, as it takes the tenant's lock).
    answered_for: std::sync::OnceLock<Registration>,
}

struct Attempt {
    result: Result<GuestResponse, (Outcome, String)>,
    fuel: u64,
    /// What the call did (empty when the guest task itself failed).
    effects: Effects,
    /// The instance, for a module that opts in to reuse and answered below 500: parked
    /// once what it did is committed, dropped otherwise.
    reusable: Option<Reusable>,
    /// Answered without its guest ([`Attempt::overdue`]), which runs on.
    answered_for: bool,
}

impl Attempt {
    /// An attempt that ended without the guest's answer.
    fn failed(outcome: Outcome, error: String) -> Self {
        Self {
            result: Err((outcome, error)),
            fuel: 0,
            effects: Effects::default(),
            reusable: None,
            answered_for: false,
        }
    }

    /// Answered by the requester for a guest still waiting for the CPU (its fuel is not
    /// known yet, so none is counted).
    fn overdue(why: Overdue, deadline: Duration) -> Self {
        let (outcome, limit) = match why {
            Overdue::Deadline => (Outcome::Timeout, LimitExceeded::Deadline(deadline)),
            Overdue::Interrupted => (Outcome::Interrupted, LimitExceeded::Interrupted),
        };
        Self {
            answered_for: true,
            ..Self::failed(
                outcome,
                format!(
                    "{limit}; the guest was still waiting for the CPU, and stops when it next runs"
                ),
            )
        }
    }
}

/// Where a guest whose requester stopped waiting (it answered for the guest: `overdue.rs`)
/// sends the capability uses the host refused it, which are audited whatever becomes of the
/// call. Its writes go with it.
struct LateDenials(crate::storage::commit::Committer);

impl LateDenials {
    async fn audit(self, mut unheard: Attempt) {
        let audits = std::mem::take(&mut unheard.effects.denials);
        // The instance and its places go back first, as for any call that ends.
        drop(unheard);
        if audits.is_empty() {
            return;
        }
        // Audit records carry their own tenant and module; the job has no writes to place.
        let job = Job {
            audits,
            ..Job::default()
        };
        if let Err(e) = self.0.commit(job).await {
            tracing::warn!(error = %e, "could not audit the refused capability uses of a call answered without its guest");
        }
    }
}

/// An instance that may be parked for its tenant's next call. Dropped unparked (a failed
/// commit, a lost race, a requester gone), it goes the way every finished store goes
/// ([`Cleanup::soon`]), with the call's place in the pool released only after it.
struct Reusable {
    warm: Option<Warm>,
    hold: Option<Arc<Hold>>,
    cleanup: Cleanup,
}

impl Reusable {
    /// Drop the instance now, on this thread: before the call's next attempt takes a new
    /// one on the same pool place (see the retry in `invoke_in_span`).
    fn drop_now(mut self) {
        drop(self.warm.take());
        drop(self.hold.take());
    }
}

impl Drop for Reusable {
    fn drop(&mut self) {
        let (warm, hold) = (self.warm.take(), self.hold.take());
        if warm.is_some() || hold.is_some() {
            // The instance first, then its places.
            self.cleanup.soon((warm, hold));
        }
    }
}

/// What an attempt leaves behind: a store to drop, or an instance that may be reused.
enum Leftover {
    Store(Store<StoreData>),
    Warm(Warm),
}

/// What a call leaves to commit: its kv writes, its audit records and its refused
/// capability uses.
#[derive(Default)]
struct Effects {
    writes: Vec<Write>,
    audits: Vec<AuditEvent>,
    denials: Vec<AuditEvent>,
}

fn classify(err: &wasmtime::Error) -> Outcome {
    if let Some(limit) = err.downcast_ref::<LimitExceeded>() {
        return match limit {
            LimitExceeded::Deadline(_) => Outcome::Timeout,
            LimitExceeded::Interrupted => Outcome::Interrupted,
            _ => Outcome::Limit,
        };
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Outcome::Limit,
        Some(Trap::Interrupt) => Outcome::Timeout,
        _ => Outcome::Trap,
    }
}

/// Everything one attempt needs, owned, so it can run on the guest executor.
struct AttemptInput {
    engine: Arc<WasmEngine>,
    db: Db,
    module: Arc<LoadedModule>,
    view: Arc<TenantView>,
    limits: Limits,
    call: CallInfo,
    req: GuestRequest,
    interrupt: Arc<AtomicBool>,
    granted: Permissions,
    outbound: Option<Arc<Outbound>>,
    sequences: Arc<crate::storage::sequences::Sequences>,
    cpu: CpuTurn,
    growth: Growth,
    /// A parked instance of this tenant and version to run in, instead of a new one.
    warm: Option<Warm>,
    /// The module opts in to reuse: an instance that answers below 500 is kept.
    reuse: bool,
}

/// Run one attempt; returns what it did and the store (or the instance to reuse), which the
/// caller drops once the requester has the answer.
async fn attempt(input: AttemptInput) -> (Attempt, Leftover) {
    let AttemptInput {
        engine,
        db,
        module,
        view,
        limits,
        call,
        req,
        interrupt,
        granted,
        outbound,
        sequences,
        cpu,
        growth,
        warm,
        reuse,
    } = input;
    let (mut store, instance, uses) = match warm {
        Some(Warm {
            mut store,
            instance,
            uses,
        }) => {
            store.data_mut().renew(db, call, limits, view);
            (store, Some(instance), uses)
        }
        None => {
            let mut store = Store::new(engine.engine(), StoreData::new(db, call, limits, view));
            store.limiter_async(|s| &mut s.limiter);
            (store, None, 0)
        }
    };
    let data = store.data_mut();
    data.caps.gate.granted = granted;
    data.limiter.growth = Some(growth);
    data.limiter.cpu = Some(cpu.clone());
    data.caps.outbound.outbound = outbound;
    data.caps.kv.sequences = Some(sequences);
    let _ = store.set_fuel(limits.fuel);
    // Check the deadline and the kill switch on every epoch tick and yield to the executor
    // in between, so a looping guest neither outlives its deadline nor pins a thread; going
    // on past a tick takes the tenant's CPU share (see `cpu`).
    store.set_epoch_deadline(1);
    let switch = interrupt.clone();
    let deadline = limits.deadline;
    let tick = cpu.clone();
    store.epoch_deadline_callback(move |ctx| {
        if interrupt.load(Ordering::Acquire) {
            return Err(wasmtime::Error::new(LimitExceeded::Interrupted));
        }
        if ctx.data().caps.gate.started.elapsed() >= deadline {
            return Err(wasmtime::Error::new(LimitExceeded::Deadline(deadline)));
        }
        Ok(UpdateDeadline::YieldCustom(1, tick.next_tick()))
    });

    let instance = match instance {
        Some(instance) => Ok(instance),
        None => module.pre.instantiate(&mut store).await,
    };
    let (result, instance) = match instance {
        Ok(instance) => (instance.handle(&mut store, &req).await, Some(instance)),
        Err(e) => (Err(e), None),
    };
    // Done computing, whatever the outcome.
    cpu.release();
    let fuel = limits
        .fuel
        .saturating_sub(store.get_fuel().unwrap_or(limits.fuel));
    let result = match result {
        Ok(resp) if resp.body.len() > limits.body_bytes => Err((
            Outcome::Limit,
            LimitExceeded::ResponseBody(limits.body_bytes).to_string(),
        )),
        Ok(resp) => Ok(resp),
        Err(e) => Err((classify(&e), format!("{e:#}"))),
    };
    let data = store.data_mut();
    let effects = Effects {
        writes: data.caps.kv.take_writes(),
        audits: std::mem::take(&mut data.caps.audit.events),
        denials: std::mem::take(&mut data.caps.gate.denials),
    };
    // Not after the kill switch: a module switched off mid-call keeps nothing warm.
    let switched_off = switch.load(Ordering::Acquire);
    let leftover = match instance {
        Some(instance)
            if reuse
                && !switched_off
                && result
                    .as_ref()
                    .is_ok_and(|r| (100..500).contains(&r.status)) =>
        {
            Leftover::Warm(Warm {
                store,
                instance,
                uses: uses + 1,
            })
        }
        _ => Leftover::Store(store),
    };
    (
        Attempt {
            result,
            fuel,
            effects,
            reusable: None,
            answered_for: false,
        },
        leftover,
    )
}

impl Runtime {
    /// Run one attempt: on this task until an epoch tick finds it has computed half a tick
    /// in all (or until its fourth tick), then on the guest executors, so guests that spin
    /// until their deadline hold the request threads (HTTP, storage, toggles) for a tick and
    /// a half of CPU at most.
    async fn attempt(
        &self,
        module: &Arc<LoadedModule>,
        caller: &Caller,
        call: CallInfo,
        req: GuestRequest,
        registration: &Registration,
        hold: Option<Arc<Hold>>,
    ) -> Attempt {
        let (tenant, interrupt) = (registration.tenant(), registration.flag.clone());
        let deadline = Instant::now() + caller.limits.deadline;
        let cpu = tenant.turn(deadline).interrupted_by(interrupt.clone());
        let reuse = module.reuse_instances && self.warm.enabled();
        // A parked instance idle too long, or grown past a memory limit a plan has lowered
        // since, is dropped (`stale`) and the call starts afresh.
        let (warm, stale) = if reuse {
            self.warm.take(&caller.tenant_id, &module.version_id, |w| {
                w.store.data().limiter.peak <= caller.limits.memory_bytes
            })
        } else {
            (None, None)
        };
        if warm.is_some() {
            module.metrics.warm_call();
        }
        let input = AttemptInput {
            engine: self.engine.clone(),
            db: self.db.clone(),
            module: module.clone(),
            view: caller.view.clone(),
            limits: caller.limits,
            call,
            req,
            interrupt,
            granted: self.effective_grants(module),
            outbound: self.outbound.clone(),
            sequences: self.sequences.clone(),
            cpu,
            growth: tenant.growth(),
            warm,
            reuse,
        };
        let (answer, mut answered) = tokio::sync::oneshot::channel();
        let turn = input.cpu.clone();
        let cleanup = self.guests.cleanup();
        if let Some(w) = stale {
            // Not `soon`: it would wait for this call's guest, holding its memory.
            cleanup.elsewhere(w);
        }
        let late = LateDenials(self.committer.clone());
        // The guest may finish on another thread; its host calls' spans stay in this call.
        let call = async move {
            let (mut done, leftover) = attempt(input).await;
            match leftover {
                // Kept with the call's place in the pool until it is parked or dropped.
                Leftover::Warm(warm) => {
                    done.reusable = Some(Reusable {
                        warm: Some(warm),
                        hold,
                        cleanup,
                    });
                    if let Err(unheard) = answer.send(done) {
                        late.audit(unheard).await;
                    }
                }
                Leftover::Store(store) => {
                    let unheard = answer.send(done).err();
                    // Dropping the store returns its instance to the pool, and every 32nd
                    // drop gives a batch of slots back to the kernel, which may be another
                    // tenant's gigabytes: not on the guest's clock, and at normal priority
                    // even for a long call (see `Cleanup::soon`). On the request thread it
                    // runs while the caller waits for its record's commit, so the drop that
                    // flushes a batch can delay that one answer. Only then is the instance
                    // back: the call's pool permit and tenant slot go last, even if the
                    // requester stopped waiting long ago. (A tuple drops in order.)
                    cleanup.soon((store, hold));
                    if let Some(unheard) = unheard {
                        late.audit(unheard).await;
                    }
                }
            }
        };
        let call = tracing::Instrument::instrument(call, tracing::Span::current());
        self.guests.run_call(Box::pin(call), turn).await;
        let done = match answered.try_recv() {
            Ok(done) => Some(done),
            Err(TryRecvError::Closed) => None,
            // It moved to the guest executors and runs on there.
            Err(TryRecvError::Empty) => {
                match overdue::answer_or_overdue(answered, &registration.flag, deadline).await {
                    Ok(done) => done,
                    Err(why) => return Attempt::overdue(why, caller.limits.deadline),
                }
            }
        };
        done.unwrap_or_else(|| Attempt::failed(Outcome::Trap, "the guest task failed".into()))
    }

    /// Park the instance of a call whose answer and writes stand, for its tenant's next
    /// call of the same version.
    fn park(
        &self,
        module: &LoadedModule,
        tenant: &str,
        reusable: Option<Reusable>,
        switched_off: &AtomicBool,
    ) {
        let Some(mut reusable) = reusable else {
            return;
        };
        let Some(warm) = reusable.warm.take() else {
            return;
        };
        let unparked = self
            .warm
            .park(tenant, &module.name, &module.version_id, warm, switched_off);
        let hold = reusable.hold.take();
        if unparked.is_empty() {
            // Parked: the instance keeps a pool place of its own, and releasing the call's
            // place and slot is cheap, so do it here rather than spawn a drop for every warm
            // call (waking a thread for it was the profile's largest cost on the warm path).
            drop(hold);
        } else if unparked.len() == 1 {
            // This one was not parked, or one instance made way for it: the usual case once
            // the warm pool is full, as with many active tenants, where a call's instance is
            // dropped unparked or parks in the place of the oldest (`WarmPool::park`).
            // Dropped like a fresh call's store, without waking a thread
            // (handing it to the short-call executor cost about an eighth of the throughput
            // of 10,000 tenants' calls: docs/PERFORMANCE.md).
            reusable.cleanup.soon((unparked, hold));
        } else {
            // Several (idled out together, up to `--warm-instances`, or this one with those
            // that made way when no pool place was left): on the short-call executor, not
            // on this request thread before its answer.
            reusable.cleanup.elsewhere((unparked, hold));
        }
    }

    /// `module` was switched off for `tenant`: interrupt its running calls (returning how
    /// many) and drop its parked instances, which could only idle out now.
    pub(crate) fn switched_off(&self, tenant: &str, module: &str) -> usize {
        // Flags first: a running call checks its flag under the warm pool's lock before it
        // parks, so it either parks before the eviction below or sees the flag and does not.
        let stopped = self.tenants.interrupt(tenant, module);
        self.drop_later(self.warm.evict(tenant, module));
        stopped
    }

    /// Drop the parked instances no call took within the idle time (from the periodic
    /// reconciliation, so a quiet host does not hold them).
    pub(crate) fn drop_idle_instances(&self) {
        self.drop_later(self.warm.evict_idle());
    }

    /// Drop instances taken out of the warm pool on the cleanup executor, off the request
    /// path: each drop returns an instance slot (and may decommit a batch), then its place.
    fn drop_later(&self, parked: Vec<super::warm::Parked>) {
        if !parked.is_empty() {
            self.guests.cleanup().elsewhere(parked);
        }
    }

    /// What a call of a module holds while it runs: `slot` (the tenant's concurrency slot,
    /// if it took one) and a place in the instance pool, waited for here. Parked instances
    /// make way when there is no place, as calls come first.
    pub(crate) async fn hold(&self, slot: Option<Admitted>) -> Hold {
        let since = Instant::now();
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                self.drop_later(self.warm.evict_all());
                self.permits.clone().acquire_owned().await.ok()
            }
        };
        Hold {
            since,
            slot,
            _permit: permit,
            answered_for: Default::default(),
        }
    }

    /// Run `module` for `caller` and commit what it did, keeping `hold` (from
    /// [`Self::hold`]) until the guest is gone. Never panics on guest
    /// behaviour: every way a guest can fail ends as an [`Outcome`] with its invocation
    /// record written. The one record not written here: an answer below 500 that wrote
    /// nothing, for a caller with [`Caller::record_by_caller`], comes back in
    /// [`Invoked::record`].
    pub(crate) async fn invoke(
        &self,
        module: Arc<LoadedModule>,
        caller: &Caller,
        req: GuestRequest,
        hold: Hold,
    ) -> Invoked {
        let span = tracing::debug_span!(
            "module.call",
            otel.name = %format_args!("call {}", module.name),
            tenant_id = %caller.tenant_id,
            module = %module.name,
            module.version = %module.version,
            outcome = tracing::field::Empty,
            fuel = tracing::field::Empty,
        );
        tracing::Instrument::instrument(self.invoke_in_span(module, caller, req, hold), span).await
    }

    /// [`Self::invoke`], inside its span (which it names the outcome and fuel on).
    async fn invoke_in_span(
        &self,
        module: Arc<LoadedModule>,
        caller: &Caller,
        req: GuestRequest,
        hold: Hold,
    ) -> Invoked {
        let started = hold.since;
        // Looked up once: a call that took a slot has it already.
        let tenant = match &hold.slot {
            Some(slot) => slot.tenant().clone(),
            None => self.tenants.get(&caller.tenant_id),
        };
        // Given up (`None`) once no attempt can follow, so the instance's own reference
        // decides when the place and the slot go back.
        let mut hold = Some(Arc::new(hold));
        let call = CallInfo {
            tenant_id: caller.tenant_id.clone(),
            actor: caller.actor.clone(),
            role: caller.role,
            request_id: caller.request_id.clone(),
            module: module.name.clone(),
            version: module.version.to_string(),
        };
        let mut fuel_total = 0u64;
        let mut attempt_no = 0;
        let registration = tenant.register(&module.name);
        let mut retry_guard = None;
        // Refused capability uses of the last attempt: audited whatever the outcome (by the
        // guest's side, `LateDenials`, when the call was answered without its guest).
        let mut denials;
        let mut answered_for;
        let invoked = loop {
            attempt_no += 1;
            if attempt_no == 2 {
                // A call that lost a race retries under a lock shared by the calls of its
                // tenant and module, so retries queue behind each other instead of colliding
                // again; first attempts stay lock-free.
                retry_guard = Some(
                    self.retry_lock(&caller.tenant_id, &module.name)
                        .lock_owned()
                        .await,
                );
            }
            let mut attempt = self
                .attempt(
                    &module,
                    caller,
                    call.clone(),
                    req.clone(),
                    &registration,
                    hold.clone(),
                )
                .await;
            fuel_total += attempt.fuel;
            denials = std::mem::take(&mut attempt.effects.denials);
            answered_for = attempt.answered_for;
            if !denials.is_empty() {
                // The host keeps none of a refused call's writes: what the instance holds may
                // assume them, so it goes.
                attempt.reusable = None;
            }
            let response = match attempt.result {
                Err((outcome, error)) => {
                    break Invoked {
                        outcome,
                        response: None,
                        error: Some(error),
                        conflict: false,
                        commit_failed: false,
                        record: None,
                    };
                }
                Ok(resp) => resp,
            };
            if response.status >= 500 {
                break Invoked {
                    outcome: Outcome::Error,
                    error: Some(format!("module answered {}", response.status)),
                    response: Some(response),
                    conflict: false,
                    commit_failed: false,
                    record: None,
                };
            }
            let record = self.record(
                &module,
                caller,
                &req,
                response.status,
                Outcome::Ok,
                started,
                fuel_total,
                None,
            );
            let Effects {
                mut writes,
                mut audits,
                ..
            } = attempt.effects;
            if response.status == 403 && !denials.is_empty() {
                // Refused a capability and answered 403 (as the SDK does): a refusal keeps
                // nothing it wrote before it, so no write stands without its audit record.
                writes.clear();
                audits.clear();
            }
            audits.extend(denials.iter().cloned());
            let job = Job {
                tenant_id: caller.tenant_id.clone(),
                module: module.name.clone(),
                writes,
                audits,
                invocation: Some(record),
            };
            if job.writes.is_empty() {
                if caller.record_by_caller {
                    // The caller commits the record with what it does about the answer. (Its
                    // instance is not parked: the module called this way, billing, takes a
                    // fresh instance every call.)
                    self.observe(&module, Outcome::Ok, started);
                    name_outcome(Outcome::Ok, fuel_total);
                    return Invoked::answered(response, Some(job));
                }
                // Nothing to conflict or to undo, so no attempt follows, and whatever becomes
                // of the record the instance may serve the tenant's next call. Parked now (or
                // dropped, if fresh), it gives back the call's pool place and tenant slot
                // before the wait for the durable commit, not after: a tenant's reads are not
                // capped by its slots over that wait.
                hold = None;
                self.park(
                    &module,
                    &caller.tenant_id,
                    attempt.reusable.take(),
                    &registration.flag,
                );
            }
            let committing = tracing::debug_span!(
                "commit",
                writes = job.writes.len(),
                audits = job.audits.len()
            );
            match tracing::Instrument::instrument(self.committer.commit(job), committing).await {
                Ok(Committed::Ok) => {
                    // A call with writes parks once they stand.
                    self.park(
                        &module,
                        &caller.tenant_id,
                        attempt.reusable,
                        &registration.flag,
                    );
                    self.observe(&module, Outcome::Ok, started);
                    name_outcome(Outcome::Ok, fuel_total);
                    return Invoked::answered(response, None);
                }
                // A job without writes cannot conflict; if one ever did, its hold is gone
                // and it must not run again without its slot and pool place.
                Ok(Committed::Conflict(c)) if attempt_no < MAX_ATTEMPTS && hold.is_some() => {
                    tracing::debug!(key = %c.key, attempt = attempt_no, "write conflict; running the call again");
                    // The next attempt may instantiate at once, on the same pool place: the
                    // pool has one instance slot per place, so this attempt's instance goes
                    // first, here, not as a task that runs when this one next waits.
                    if let Some(reusable) = attempt.reusable.take() {
                        reusable.drop_now();
                    }
                }
                Ok(Committed::Conflict(c)) => {
                    break Invoked {
                        outcome: Outcome::Error,
                        response: None,
                        error: Some(format!(
                            "write conflict on key {:?} after {attempt_no} attempts",
                            c.key
                        )),
                        conflict: true,
                        commit_failed: false,
                        record: None,
                    };
                }
                Err(e) => {
                    break Invoked {
                        outcome: Outcome::Error,
                        response: None,
                        error: Some(e.to_string()),
                        conflict: false,
                        commit_failed: true,
                        record: None,
                    };
                }
            }
        };
        drop(retry_guard);
        // A call answered for its guest still has its hold: only an attempt whose guest
        // answered gives it up.
        debug_assert!(!answered_for || hold.is_some());
        match &hold {
            // Answered for a guest that runs on: it stays registered until it stops. (The
            // hold is this call's own and this was its last attempt, so the cell is empty.)
            Some(hold) if answered_for => drop(hold.answered_for.set(registration)),
            _ => drop(registration),
        }
        // The slot and the place go back once the guest's side, too, lets its hold go: for a
        // guest that ended on this task, as its store is dropped while the record commits.
        drop(hold);
        // Failed calls keep nothing but their record.
        let status = match (&invoked.response, invoked.failure()) {
            (Some(r), _) => r.status,
            (None, failure) => failure.map_or(502, |f| f.status()),
        };
        let record = self.record(
            &module,
            caller,
            &req,
            status,
            invoked.outcome,
            started,
            fuel_total,
            invoked.error.clone(),
        );
        let committing = tracing::debug_span!("commit", writes = 0, audits = denials.len());
        tracing::Instrument::instrument(self.write_record(record, denials), committing).await;
        self.observe(&module, invoked.outcome, started);
        name_outcome(invoked.outcome, fuel_total);
        invoked
    }

    fn retry_lock(&self, tenant: &str, module: &str) -> Arc<tokio::sync::Mutex<()>> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (tenant, module).hash(&mut h);
        self.retry_locks[h.finish() as usize % self.retry_locks.len()].clone()
    }

    /// Record a call that was refused before the module ran.
    pub(crate) async fn record_denied(
        &self,
        module: &LoadedModule,
        caller: &Caller,
        req: &GuestRequest,
        status: u16,
        why: &str,
    ) {
        let record = self.record(
            module,
            caller,
            req,
            status,
            Outcome::Denied,
            Instant::now(),
            0,
            Some(why.to_string()),
        );
        self.write_record(record, Vec::new()).await;
        self.observe(module, Outcome::Denied, Instant::now());
    }

    async fn write_record(
        &self,
        record: Invocation,
        audits: Vec<crate::storage::audit::AuditEvent>,
    ) {
        self.commit_record(Job {
            tenant_id: record.tenant_id.clone(),
            module: record.module.clone(),
            audits,
            invocation: Some(record),
            ..Job::default()
        })
        .await;
    }

    /// Commit a record that holds no writes: one handed back by [`Self::invoke`] whose
    /// caller could not commit it with its own transaction, or a failed call's.
    pub(crate) async fn commit_record(&self, job: Job) {
        if let Err(e) = self.committer.commit(job).await {
            tracing::error!(error = %e, "could not write an invocation record");
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        module: &LoadedModule,
        caller: &Caller,
        req: &GuestRequest,
        status: u16,
        outcome: Outcome,
        started: Instant,
        fuel: u64,
        error: Option<String>,
    ) -> Invocation {
        Invocation {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: caller.tenant_id.clone(),
            module: module.name.clone(),
            version: Some(module.version.to_string()),
            actor: caller.actor.clone(),
            method: req.method.clone(),
            path: crate::storage::plain_text(&req.path),
            status,
            outcome,
            duration_us: started.elapsed().as_micros() as i64,
            fuel: fuel.min(i64::MAX as u64) as i64,
            request_id: caller.request_id.clone(),
            error: error.map(|e| crate::storage::plain_text(&truncate(e, 2000))),
            created_at: now_ms(),
            trace_id: crate::traces::trace_id(&tracing::Span::current()),
        }
    }

    fn observe(&self, module: &LoadedModule, outcome: Outcome, started: Instant) {
        module
            .metrics
            .observe(outcome, started.elapsed().as_secs_f64());
    }
}

/// Name how the call ended on its span.
fn name_outcome(outcome: Outcome, fuel: u64) {
    let span = tracing::Span::current();
    span.record("outcome", outcome.as_str());
    span.record("fuel", fuel.min(i64::MAX as u64) as i64);
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}
