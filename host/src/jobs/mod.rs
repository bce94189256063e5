//! Workers: take jobs from the queues in the `outbox` table (billing events, mail) and hand
//! each to the code for its queue. Any number of workers, in any processes, may run: a job is
//! held by one at a time under a lease.

mod apply_billing;
mod build_export;
mod deliver_mail;
pub mod retention;

use std::time::Duration;

use crate::app::AppState;
use crate::storage::outbox::{self, Claimed};
use crate::storage::{exports, mail, now_ms};

/// The queues workers serve, in the order they are looked at.
pub(crate) const QUEUES: [&str; 3] = [crate::billing::QUEUE, mail::QUEUE, exports::QUEUE];
/// Longest an idle worker sleeps before looking again without being woken.
const IDLE_POLL: Duration = Duration::from_secs(5);
/// Longest wait between two attempts.
const MAX_BACKOFF_MS: i64 = 10 * 60 * 1000;

/// The delay before attempt `attempts + 1`.
pub(crate) fn backoff_ms(base_ms: i64, attempts: i64) -> i64 {
    let shift = (attempts - 1).clamp(0, 30) as u32;
    base_ms.saturating_mul(1i64 << shift).min(MAX_BACKOFF_MS)
}

/// After a failed attempt that may succeed later: `retrying` with the next due time, or
/// `failed` once the attempts are used up. (status, error to record, retry at).
pub(crate) fn next_step(
    state: &AppState,
    job: &Claimed,
    error: &str,
) -> (&'static str, String, Option<i64>) {
    if job.attempts < state.worker.max_attempts {
        let at = now_ms() + backoff_ms(state.worker.retry_base_ms, job.attempts);
        ("retrying", error.to_string(), Some(at))
    } else {
        (
            "failed",
            format!("{error} (gave up after {} attempts)", job.attempts),
            None,
        )
    }
}

/// Take and run jobs until `stop` resolves.
pub async fn run(state: AppState, worker_id: String, stop: impl Future<Output = ()>) {
    tracing::info!(worker = %worker_id, queues = ?QUEUES, "worker started");
    tokio::pin!(stop);
    loop {
        // Registered before looking, so a wake-up between the look and the wait is not lost.
        let woken = state.jobs_wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if run_one(&state, &worker_id).await {
            continue;
        }
        let mut due: Option<i64> = None;
        for q in QUEUES {
            if let Ok(Some(t)) = outbox::next_due(&state.db, q).await {
                due = Some(due.map_or(t, |d| d.min(t)));
            }
        }
        let wait = match due {
            Some(t) => {
                Duration::from_millis((t - now_ms()).clamp(1, IDLE_POLL.as_millis() as i64) as u64)
            }
            None => IDLE_POLL,
        };
        tokio::select! {
            _ = &mut stop => break,
            _ = &mut woken => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
    tracing::info!(worker = %worker_id, "worker stopped");
}

/// Claim and run due jobs from one queue (see [`claim_batch`]); false when none was due.
/// The queue looked at first rotates, so a backlog on one queue does not hold up the others.
pub(crate) async fn run_one(state: &AppState, worker_id: &str) -> bool {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let start = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    for i in 0..QUEUES.len() {
        let queue = QUEUES[(start + i) % QUEUES.len()];
        let batch = claim_batch(queue);
        // Taken before the claim statement, so a lease's age measured from here is never
        // less than its real age: renewals come early, never late.
        let claimed = std::time::Instant::now();
        match outbox::claim_many(&state.db, queue, worker_id, state.worker.lease_ms, batch).await {
            Ok(jobs) if !jobs.is_empty() => {
                run_claimed(state, worker_id, jobs, claimed).await;
                return true;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, queue, "could not claim a job"),
        }
    }
    false
}

/// How many jobs of `queue` a worker claims at once. A billing event usually takes
/// milliseconds, so claiming several saves a commit per event and a backlog drains faster;
/// mail and exports can take long, so one at a time.
fn claim_batch(queue: &str) -> i64 {
    if queue == crate::billing::QUEUE { 8 } else { 1 }
}

/// Run jobs claimed together, in order; `claimed` is an instant taken no later than the
/// claim. Their leases all started at the claim: once half of one has gone (slow storage,
/// slow calls), each job still waiting is renewed before it starts, and one whose lease
/// another worker has taken is left to that worker.
pub async fn run_claimed(
    state: &AppState,
    worker_id: &str,
    jobs: Vec<Claimed>,
    claimed: std::time::Instant,
) {
    let half = Duration::from_millis(state.worker.lease_ms.max(0) as u64 / 2);
    for job in jobs {
        if claimed.elapsed() > half {
            match outbox::renew(&state.db, &job, worker_id, state.worker.lease_ms).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, job = %job.id, "could not renew a claimed job's lease; leaving it");
                    continue;
                }
            }
        }
        process(state, worker_id, job).await;
    }
}

/// Run one claimed job with the code for its queue.
pub async fn process(state: &AppState, worker_id: &str, job: Claimed) {
    // Each job is a trace of its own: the module call, host calls and commits under it.
    let span = tracing::debug_span!(
        "job",
        otel.name = %format_args!("job {}", job.queue),
        otel.kind = "consumer",
        queue = %job.queue,
        job.id = %job.id,
        job.attempts = job.attempts,
    );
    let work = async {
        match job.queue.as_str() {
            crate::billing::QUEUE => apply_billing::process(state, worker_id, job).await,
            mail::QUEUE => deliver_mail::process(state, worker_id, job).await,
            exports::QUEUE => build_export::process(state, worker_id, job).await,
            other => {
                tracing::error!(queue = other, job = %job.id, "a job on a queue no worker serves")
            }
        }
    };
    tracing::Instrument::instrument(work, span).await
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_ms(1000, 1), 1000);
        assert_eq!(backoff_ms(1000, 2), 2000);
        assert_eq!(backoff_ms(1000, 4), 8000);
        assert_eq!(backoff_ms(1000, 40), 600_000);
    }
}
