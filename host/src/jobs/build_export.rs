//! The export worker: builds a requested tenant export's bundle and stores it, in the
//! transaction that finishes the job and records `tenant.export.ready` (or, once the
//! attempts are used up, `tenant.export.failed`).

use serde_json::json;

use crate::app::AppState;
use crate::storage::audit::{self, AuditEvent};
use crate::storage::exports as store;
use crate::storage::outbox::{self, Claimed};

/// Build one export.
pub(crate) async fn process(state: &AppState, worker_id: &str, job: Claimed) {
    let started = std::time::Instant::now();
    // A big tenant's bundle may take longer than one lease: hold the job while building.
    let lease = state.worker.lease_ms;
    let every = std::time::Duration::from_millis((lease / 3).max(1) as u64);
    let built = {
        let build = crate::exports::build(&state.db, &job.ref_id);
        tokio::pin!(build);
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tokio::select! {
                built = &mut build => break built,
                _ = tick.tick() => {
                    if let Err(e) = outbox::renew(&state.db, &job, worker_id, lease).await {
                        tracing::warn!(error = %e, job = %job.id, "could not renew an export's lease");
                    }
                }
            }
        }
    };
    let recorded = async {
        let mut tx = state.db.begin().await?;
        match built {
            Ok(None) => {
                // Already finished (or gone): nothing left to do.
                outbox::complete_in(&mut tx, &job, worker_id).await?;
            }
            Ok(Some((tenant, bundle, kind))) => {
                if !outbox::complete_in(&mut tx, &job, worker_id).await? {
                    return Ok(());
                }
                if store::finish_in(&mut tx, &job.ref_id, &bundle, kind).await? {
                    let event = AuditEvent::new(
                        Some(&tenant),
                        "exports",
                        "tenant.export.ready",
                        None,
                        &json!({"exportId": job.ref_id, "bytes": bundle.len()}),
                        None,
                    );
                    audit::insert(&mut tx, &event).await?;
                }
                metrics::counter!("nova_exports_total", "status" => "ready").increment(1);
                metrics::histogram!("nova_export_build_seconds")
                    .record(started.elapsed().as_secs_f64());
            }
            Err(e) => {
                let error = format!("{e:#}");
                tracing::warn!(error = %error, export = %job.ref_id, "could not build an export");
                let (status, error, retry_at) = super::next_step(state, &job, &error);
                if !outbox::give_back_in(&mut tx, &job, worker_id, &error, retry_at).await? {
                    return Ok(());
                }
                if status == "failed" {
                    fail(&mut tx, &job.ref_id, &error).await?;
                    metrics::counter!("nova_exports_total", "status" => "failed").increment(1);
                }
            }
        }
        crate::storage::commit_in_task(tx).await?;
        Ok::<_, sqlx::Error>(())
    }
    .await;
    if let Err(e) = recorded {
        tracing::warn!(error = %e, job = %job.id, "could not record an export's outcome");
    }
}

/// Mark the export failed (forgetting any passphrase) with its audit record.
async fn fail(tx: &mut sqlx::AnyConnection, id: &str, error: &str) -> Result<(), sqlx::Error> {
    if let Some(tenant) = store::fail_in(tx, id, error).await? {
        let event = AuditEvent::new(
            Some(&tenant),
            "exports",
            "tenant.export.failed",
            None,
            &json!({"exportId": id, "error": error}),
            None,
        );
        audit::insert(tx, &event).await?;
    }
    Ok(())
}
