//! A billing job: run its event through the billing module, apply the decision and finish
//! the job in one transaction; on failure, give the job back with an exponential backoff, or
//! mark it failed after the last attempt.

use serde_json::Value;

use crate::app::AppState;
use crate::billing::apply::{self, ApplyError, Decision};
use crate::billing::{ACTOR, count};
use crate::calls::{self, Call, CallOutcome, CallerRole, Policy};
use crate::contract::GuestRequest;
use crate::storage::commit::{self, Job};
use crate::storage::outbox::{self, Claimed};
use crate::storage::{billing_events, tenants};
use crate::tenancy::changes;

/// How one attempt ended.
#[derive(Debug)]
enum Outcome {
    Processed,
    /// Worth another attempt: storage, a module that failed, a tenant not there yet.
    Retry(String),
    /// Retrying cannot help.
    Fail(String),
    /// Another worker took the job over; it will finish it.
    LeaseLost,
}

/// One attempt at one job, with its outcome recorded.
pub(crate) async fn process(state: &AppState, worker_id: &str, job: Claimed) {
    let outcome = attempt(state, worker_id, &job).await;
    let (status, error, retry_at) = match &outcome {
        Outcome::Processed => {
            count("processed");
            return;
        }
        Outcome::LeaseLost => {
            tracing::warn!(job = %job.id, "lost the lease on a job; another worker has it");
            return;
        }
        Outcome::Retry(e) => super::next_step(state, &job, e),
        Outcome::Fail(e) => ("failed", e.clone(), None),
    };
    tracing::warn!(job = %job.id, event = %job.ref_id, attempts = job.attempts, status, error = %error, "billing event not processed");
    let recorded = async {
        let mut tx = state.db.begin().await?;
        if outbox::give_back_in(&mut tx, &job, worker_id, &error, retry_at).await? {
            billing_events::set_status_in(&mut tx, &job.ref_id, status, job.attempts, Some(&error))
                .await?;
            crate::storage::commit_in_task(tx).await?;
            count(status);
        }
        Ok::<_, sqlx::Error>(())
    }
    .await;
    if let Err(e) = recorded {
        // The lease runs out and the job is tried again.
        tracing::warn!(error = %e, job = %job.id, "could not record a failed attempt");
    }
}

async fn attempt(state: &AppState, worker_id: &str, job: &Claimed) -> Outcome {
    let mut conn = match state.db.pool().acquire().await {
        Ok(c) => c,
        Err(e) => return Outcome::Retry(format!("storage: {e}")),
    };
    let event = match billing_events::get_in(&mut conn, &job.ref_id).await {
        Ok(Some(e)) => e,
        Ok(None) => return Outcome::Fail(format!("no billing event {}", job.ref_id)),
        Err(e) => return Outcome::Retry(format!("storage: {e}")),
    };
    drop(conn);
    if event.status == "processed" {
        // Applied by an earlier attempt whose job update was lost: just finish the job.
        return finish(state, worker_id, job, None, None).await;
    }
    let Some(tenant) = event.tenant_id.clone() else {
        return Outcome::Fail("the event has no data.tenantId".into());
    };
    match tenants::get(&state.db, &tenant).await {
        Ok(Some(_)) => {}
        // Providers can send a subscription before the tenant's registration is approved.
        Ok(None) => return Outcome::Retry(format!("tenant {tenant} does not exist (yet)")),
        Err(e) => return Outcome::Retry(format!("storage: {e}")),
    }
    let request_id = format!("billing-{}-{}", event.id, job.attempts);
    let call = Call {
        tenant_id: tenant.clone(),
        actor: ACTOR.into(),
        role: CallerRole::System,
        request_id: request_id.clone(),
        module: "billing".into(),
        request: GuestRequest {
            method: "POST".into(),
            path: "/events".into(),
            query: String::new(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: event.payload.to_string().into_bytes(),
        },
    };
    let (outcome, record) = calls::call_record_by_caller(state, call, Policy::BILLING).await;
    let outcome = match decide(outcome) {
        Ok(decision) => {
            finish(
                state,
                worker_id,
                job,
                Some((&tenant, &decision, &request_id)),
                record.as_ref(),
            )
            .await
        }
        Err(outcome) => outcome,
    };
    if !matches!(outcome, Outcome::Processed)
        && let Some(record) = record
    {
        // The decision's transaction did not commit, so neither did the record in it: the
        // call happened, so its record is written on its own. (A commit that failed on the
        // way back after the database applied it would leave two records of one call:
        // the price of one commit per event, and only on a lost connection.)
        state.runtime.commit_record(record).await;
    }
    outcome
}

/// The billing module's decision, or how the attempt ends without one.
fn decide(outcome: CallOutcome) -> Result<Decision, Outcome> {
    let resp = match outcome {
        CallOutcome::Answered(resp) => resp,
        CallOutcome::NotInstalled { .. } => {
            return Err(Outcome::Retry("the billing module is not installed".into()));
        }
        CallOutcome::Storage(e) => return Err(Outcome::Retry(format!("storage: {e}"))),
        CallOutcome::Failed { failure, error } => {
            return Err(Outcome::Retry(format!(
                "the billing module failed ({failure:?}): {error}"
            )));
        }
        refused => {
            // The billing policy checks no toggle, rate or slot, so nothing else refuses.
            let refusal = refused.into_answer().err();
            return Err(Outcome::Retry(format!(
                "the billing call was refused: {refusal:?}"
            )));
        }
    };
    if resp.status >= 500 {
        return Err(Outcome::Retry(format!(
            "the billing module answered {}",
            resp.status
        )));
    }
    if resp.status >= 400 {
        let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        let message = body["error"]["message"].as_str().unwrap_or("refused");
        return Err(Outcome::Fail(format!(
            "billing refused the event ({}): {message}",
            resp.status
        )));
    }
    serde_json::from_slice(&resp.body)
        .map_err(|e| Outcome::Fail(format!("the billing module's answer is unreadable: {e}")))
}

/// In one transaction: the decision applied (when there is one) with the call's invocation
/// record, the event marked processed, the job done. Then, once committed, tell this and
/// the other replicas about changed entitlements.
async fn finish(
    state: &AppState,
    worker_id: &str,
    job: &Claimed,
    decision: Option<(&str, &Decision, &str)>,
    record: Option<&Job>,
) -> Outcome {
    let result = async {
        let mut tx = state.db.begin().await?;
        let deltas = match decision {
            Some((tenant, d, request_id)) => apply::apply(&mut tx, tenant, d, request_id).await?,
            None => Vec::new(),
        };
        if let Some(record) = record {
            commit::write_in(&mut tx, record).await?;
        }
        billing_events::set_status_in(&mut tx, &job.ref_id, "processed", job.attempts, None)
            .await?;
        if !outbox::complete_in(&mut tx, job, worker_id).await? {
            return Ok(None);
        }
        crate::storage::commit_in_task(tx).await?;
        Ok::<_, ApplyError>(Some(deltas))
    }
    .await;
    match result {
        Ok(Some(deltas)) => {
            if let Some((tenant, ..)) = decision {
                changes::record_metrics(&deltas);
                state.tenancy.invalidate(tenant);
                state.changed(tenant, &deltas).await;
            }
            Outcome::Processed
        }
        Ok(None) => Outcome::LeaseLost,
        Err(ApplyError::Permanent(e)) => Outcome::Fail(e),
        Err(ApplyError::Storage(e)) => Outcome::Retry(format!("storage: {e}")),
    }
}
