//! `tenant_exports`: requested tenant exports, their encrypted bundles while they are kept, and
//! the record of each after its bundle is gone.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::{Db, now_ms, outbox, rfc3339};

/// The queue export jobs go through.
pub(crate) const QUEUE: &str = "export:build";
/// How long a bundle is kept once it is ready.
pub(crate) const KEEP_MS: i64 = 7 * 24 * 3600 * 1000;

/// An export as its requester sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Export {
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    /// `pending`, `ready`, `failed` or `expired`.
    pub(crate) status: String,
    pub(crate) created_at: String,
    /// When the bundle is (or was) deleted.
    pub(crate) expires_at: String,
    /// The bundle's size once ready.
    pub(crate) bytes: Option<i64>,
    /// Why a failed export failed.
    pub(crate) error: Option<String>,
    #[serde(skip)]
    pub(crate) requested_by: String,
}

const COLUMNS: &str = "id, tenant_id, status, created_at, expires_at, bytes, error, requested_by";

fn view(r: &sqlx::any::AnyRow) -> Result<Export, sqlx::Error> {
    Ok(Export {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        status: r.try_get("status")?,
        created_at: rfc3339(r.try_get("created_at")?),
        expires_at: rfc3339(r.try_get("expires_at")?),
        bytes: r.try_get("bytes")?,
        error: r.try_get("error")?,
        requested_by: r.try_get("requested_by")?,
    })
}

/// Record a requested export of `tenant` for `requested_by` (a user id) and queue its job.
/// `recipient` is what the job encrypts to, as stored (see the table's comment).
pub(crate) async fn create_in(
    conn: &mut AnyConnection,
    id: &str,
    tenant: &str,
    requested_by: &str,
    recipient: &str,
) -> Result<Export, sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO tenant_exports (id, tenant_id, requested_by, recipient, status, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, 'pending', $5, $6)",
    )
    .bind(id)
    .bind(tenant)
    .bind(requested_by)
    .bind(recipient)
    .bind(now)
    .bind(now + KEEP_MS)
    .execute(&mut *conn)
    .await?;
    outbox::enqueue_in(conn, QUEUE, id).await?;
    Ok(Export {
        id: id.to_string(),
        tenant_id: tenant.to_string(),
        status: "pending".into(),
        created_at: rfc3339(now),
        expires_at: rfc3339(now + KEEP_MS),
        bytes: None,
        error: None,
        requested_by: requested_by.to_string(),
    })
}

/// One export of `tenant`.
pub(crate) async fn get(db: &Db, tenant: &str, id: &str) -> Result<Option<Export>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM tenant_exports WHERE id = $1 AND tenant_id = $2");
    let row = sqlx::query(&sql)
        .bind(id)
        .bind(tenant)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(view).transpose()
}

/// What a job needs to build an export: (tenant, status, recipient as stored).
pub(crate) async fn job_input(
    db: &Db,
    id: &str,
) -> Result<Option<(String, String, String)>, sqlx::Error> {
    let row = sqlx::query("SELECT tenant_id, status, recipient FROM tenant_exports WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .transpose()
}

/// Store a built bundle: the export is ready for [`KEEP_MS`], and a passphrase is forgotten
/// (`recipient` keeps only its kind). False when the export was no longer pending.
pub(crate) async fn finish_in(
    conn: &mut AnyConnection,
    id: &str,
    bundle: &[u8],
    recipient_kind: &str,
) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE tenant_exports SET status = 'ready', bundle = $1, bytes = $2, ready_at = $3, \
         expires_at = $4, recipient = $5 WHERE id = $6 AND status = 'pending'",
    )
    .bind(bundle.to_vec())
    .bind(bundle.len() as i64)
    .bind(now)
    .bind(now + KEEP_MS)
    .bind(recipient_kind)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Give up on an export: failed, with why, and its passphrase forgotten. Its tenant, or
/// `None` when it was no longer pending.
pub(crate) async fn fail_in(
    conn: &mut AnyConnection,
    id: &str,
    error: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE tenant_exports SET status = 'failed', error = $1, \
         recipient = CASE WHEN recipient LIKE 'passphrase%' THEN 'passphrase' ELSE 'x25519' END \
         WHERE id = $2 AND status = 'pending' RETURNING tenant_id",
    )
    .bind(error)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(|r| r.try_get(0)).transpose()
}

/// A ready export's bundle, noting the download.
pub(crate) async fn take_bundle_in(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    let row = sqlx::query("SELECT bundle FROM tenant_exports WHERE id = $1 AND status = 'ready'")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    sqlx::query("UPDATE tenant_exports SET downloaded_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(conn)
        .await?;
    row.try_get::<Option<Vec<u8>>, _>(0)
}

/// Exports whose bundle is past its time as of `now`: (id, tenant), oldest first.
pub(crate) async fn due(
    db: &Db,
    now: i64,
    limit: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, tenant_id FROM tenant_exports WHERE status IN ('ready', 'failed') \
         AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Drop an export's bundle: it is `expired` from now on. False when another worker did.
pub(crate) async fn expire_in(
    conn: &mut AnyConnection,
    id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE tenant_exports SET status = 'expired', bundle = NULL \
         WHERE id = $1 AND status IN ('ready', 'failed') AND expires_at <= $2",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
