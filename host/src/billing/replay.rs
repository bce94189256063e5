//! Operator actions on the queue: replay a billing event, retry any job. Both are audited.

use serde_json::json;

use super::QUEUE;
use crate::storage::Db;
use crate::storage::audit::{self, AuditEvent};
use crate::storage::billing_events::{self, EventView};
use crate::storage::outbox::{self, JobView};

/// Why an operator action was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReplayError {
    #[error("no {0} with id {1}")]
    NotFound(&'static str, String),
    #[error("{0}")]
    Conflict(String),
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
}

/// Put a billing event back to `pending` with no error and no attempts, and make its job due
/// now (a new job if it has none). A processed event is not replayed: its effect happened.
pub(crate) async fn replay(
    db: &Db,
    event_id: &str,
    actor: &str,
    request_id: &str,
) -> Result<EventView, ReplayError> {
    let mut tx = db.begin().await?;
    let event = billing_events::get_in(&mut tx, event_id)
        .await?
        .ok_or_else(|| ReplayError::NotFound("billing event", event_id.to_string()))?;
    if event.status == "processed" {
        return Err(ReplayError::Conflict(format!(
            "billing event {event_id} was processed; replaying it would apply it twice"
        )));
    }
    billing_events::reset_in(&mut tx, event_id).await?;
    let job = match outbox::for_ref_in(&mut tx, event_id).await? {
        Some(job) => outbox::retry_in(&mut tx, &job.id).await?.map(|j| j.id),
        None => Some(outbox::enqueue_in(&mut tx, QUEUE, event_id).await?),
    };
    let payload = json!({"eventId": event_id, "providerEventId": event.provider_event_id,
        "previousStatus": event.status, "previousError": event.last_error, "jobId": job});
    let row = AuditEvent::new(
        event.tenant_id.as_deref(),
        "superadmin",
        "billing.webhook.replayed",
        Some(actor),
        &payload,
        Some(request_id),
    );
    audit::insert(&mut tx, &row).await?;
    let event = billing_events::get_in(&mut tx, event_id)
        .await?
        .ok_or_else(|| ReplayError::NotFound("billing event", event_id.to_string()))?;
    crate::storage::commit_in_task(tx).await?;
    Ok(event)
}

/// Make any queued job due now with its attempts reset; a billing job's event goes back to
/// `pending` too. A finished job is not retried.
pub(crate) async fn retry_job(
    db: &Db,
    job_id: &str,
    actor: &str,
    request_id: &str,
) -> Result<JobView, ReplayError> {
    let mut tx = db.begin().await?;
    let job = outbox::get_in(&mut tx, job_id)
        .await?
        .ok_or_else(|| ReplayError::NotFound("job", job_id.to_string()))?;
    if job.status == "done" {
        return Err(ReplayError::Conflict(format!("job {job_id} is done")));
    }
    let job = outbox::retry_in(&mut tx, job_id)
        .await?
        .ok_or_else(|| ReplayError::NotFound("job", job_id.to_string()))?;
    if job.queue == QUEUE {
        billing_events::reset_in(&mut tx, &job.ref_id).await?;
    }
    let row = AuditEvent::new(
        None,
        "superadmin",
        "outbox.retried",
        Some(actor),
        &json!({"jobId": job.id, "queue": job.queue, "refId": job.ref_id}),
        Some(request_id),
    );
    audit::insert(&mut tx, &row).await?;
    crate::storage::commit_in_task(tx).await?;
    Ok(job)
}
