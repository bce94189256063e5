//! The mail worker: takes each queued mail from `mail_outbox`, hands it to the mailer, and
//! records what became of it, retrying with backoff.

use crate::app::AppState;
use crate::mail::Delivery;
use crate::storage::mail as store;
use crate::storage::outbox::{self, Claimed};

enum Outcome {
    Done(&'static str),
    Retry(String),
    Fail(String),
}

/// Deliver one queued mail.
pub(crate) async fn process(state: &AppState, worker_id: &str, job: Claimed) {
    let outcome = deliver(state, &job).await;
    let (status, error, retry_at) = match &outcome {
        Outcome::Done(status) => (*status, None, None),
        Outcome::Retry(e) => {
            let (s, e, at) = super::next_step(state, &job, e);
            (s, Some(e), at)
        }
        Outcome::Fail(e) => ("failed", Some(e.clone()), None),
    };
    let recorded = async {
        let mut tx = state.db.begin().await?;
        let held = match (status, &error) {
            ("sent" | "stored", _) => outbox::complete_in(&mut tx, &job, worker_id).await?,
            (_, e) => {
                let e = e.as_deref().unwrap_or("");
                outbox::give_back_in(&mut tx, &job, worker_id, e, retry_at).await?
            }
        };
        if held {
            let mail_status = if status == "retrying" {
                "queued"
            } else {
                status
            };
            store::mark_in(
                &mut tx,
                &job.ref_id,
                mail_status,
                job.attempts,
                error.as_deref(),
            )
            .await?;
            crate::storage::commit_in_task(tx).await?;
            metrics::counter!("nova_mail_total", "status" => status).increment(1);
        }
        Ok::<_, sqlx::Error>(())
    }
    .await;
    if let Err(e) = recorded {
        tracing::warn!(error = %e, job = %job.id, "could not record a mail delivery");
    }
}

async fn deliver(state: &AppState, job: &Claimed) -> Outcome {
    let mail = match store::get(&state.db, &job.ref_id).await {
        Ok(Some(m)) => m,
        Ok(None) => return Outcome::Fail(format!("no mail {}", job.ref_id)),
        Err(e) => return Outcome::Retry(format!("storage: {e}")),
    };
    match state.mailer.deliver(&mail).await {
        Delivery::Sent => Outcome::Done("sent"),
        Delivery::Stored => Outcome::Done("stored"),
        Delivery::Retry(e) => Outcome::Retry(e),
        Delivery::Fail(e) => Outcome::Fail(e),
    }
}
