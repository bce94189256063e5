//! Tenant exports: everything of one tenant in one encrypted bundle, built by a worker, kept
//! for 7 days for whoever asked, then deleted. Requested, ready, downloaded, failed and
//! expired exports are audited (`tenant.export.*`).

pub mod bundle;
pub mod tables;

use age::secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::app::AppState;
use crate::storage::Db;
use crate::storage::audit::{self, AuditEvent};
use crate::storage::exports::{self, Export};
use bundle::Recipient;

/// The shortest passphrase a bundle may be sealed with.
pub(crate) const MIN_PASSPHRASE: usize = 12;
/// Marks a stored passphrase in `tenant_exports.recipient`.
const PASSPHRASE: &str = "passphrase:";

/// What the job reads back from `recipient` as stored.
fn stored(state: &AppState, id: &str, to: &Recipient) -> String {
    match to {
        Recipient::Key(key) => key.to_string(),
        Recipient::Passphrase(pass) => {
            let pass = pass.expose_secret();
            match state.db.master_key() {
                Some(master) => format!("{PASSPHRASE}{}", master.seal(id, pass)),
                None => format!("{PASSPHRASE}{pass}"),
            }
        }
    }
}

fn recipient_of(db: &Db, id: &str, stored: &str) -> anyhow::Result<Recipient> {
    match stored.strip_prefix(PASSPHRASE) {
        Some(pass) => {
            let pass = if crate::storage::sealed::is_sealed(pass) {
                // Never fall back to the sealed text: the bundle would be sealed to something
                // nobody knows.
                db.master_key()
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "the passphrase is sealed with NOVA_MASTER_KEY, which this worker lacks"
                        )
                    })?
                    .open(id, pass)?
            } else {
                pass.to_string()
            };
            Ok(Recipient::Passphrase(SecretString::from(pass)))
        }
        None if stored.starts_with("age1") => Recipient::key(stored).map_err(anyhow::Error::msg),
        None => anyhow::bail!("the export's recipient is gone ({stored})"),
    }
}

/// Record an export of `tenant` requested by user `by_id` (`by_email` in the audit), queue
/// its job and wake a worker.
pub(crate) async fn request(
    state: &AppState,
    tenant: &str,
    by_id: &str,
    by_email: &str,
    to: &Recipient,
) -> Result<Export, sqlx::Error> {
    let id = uuid::Uuid::now_v7().to_string();
    let mut tx = state.db.begin().await?;
    let export = exports::create_in(&mut tx, &id, tenant, by_id, &stored(state, &id, to)).await?;
    let event = AuditEvent::new(
        Some(tenant),
        "exports",
        "tenant.export.requested",
        Some(by_email),
        &json!({"exportId": id, "recipient": to.kind()}),
        Some(&crate::telemetry::current_request_id()),
    );
    audit::insert(&mut tx, &event).await?;
    crate::storage::commit_in_task(tx).await?;
    state.jobs_queued(exports::QUEUE).await;
    Ok(export)
}

/// Build export `id`'s bundle: (tenant, bundle, recipient kind). `Ok(None)` when it is no
/// longer pending.
pub(crate) async fn build(
    db: &Db,
    id: &str,
) -> anyhow::Result<Option<(String, Vec<u8>, &'static str)>> {
    let Some((tenant, status, stored)) = exports::job_input(db, id).await? else {
        return Ok(None);
    };
    if status != "pending" {
        return Ok(None);
    }
    let to = recipient_of(db, id, &stored)?;
    let work = tempfile::tempdir()?;
    let counts = tables::dump_all(db, &tenant, work.path()).await?;
    let (export_id, tenant_id) = (id.to_string(), tenant.clone());
    let kind = to.kind();
    // Compression and encryption are CPU work: off the async threads.
    let sealed = tokio::task::spawn_blocking(move || {
        bundle::seal(work.path(), &tenant_id, &export_id, &counts, &to)
    })
    .await??;
    Ok(Some((tenant, sealed, kind)))
}

/// Delete the bundles past their time as of `now` (each with its `tenant.export.expired`
/// record): how many.
pub async fn expire_due(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    let mut expired = 0;
    loop {
        let due = exports::due(db, now, 50).await?;
        if due.is_empty() {
            break;
        }
        for (id, tenant) in &due {
            let mut tx = db.begin().await?;
            if exports::expire_in(&mut tx, id, now).await? {
                let event = AuditEvent::new(
                    Some(tenant),
                    "exports",
                    "tenant.export.expired",
                    None,
                    &json!({"exportId": id}),
                    None,
                );
                audit::insert(&mut tx, &event).await?;
                expired += 1;
            }
            crate::storage::commit_in_task(tx).await?;
        }
    }
    if expired > 0 {
        metrics::counter!("nova_exports_expired_total").increment(expired);
    }
    Ok(expired)
}
