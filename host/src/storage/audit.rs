//! `audit_events`: domain actions recorded by modules and by superadmin changes.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::page::{self, Position};
use super::stmt::{InsertSql, Param, Stmt};
use super::{Db, rfc3339};

/// One audit row, before or after it is stored.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub(crate) id: String,
    pub(crate) tenant_id: Option<String>,
    pub(crate) module: String,
    pub(crate) action: String,
    pub(crate) actor: Option<String>,
    /// JSON text.
    pub(crate) payload: String,
    pub(crate) request_id: Option<String>,
    pub(crate) created_at: i64,
}

impl AuditEvent {
    /// A new event stamped now.
    pub(crate) fn new(
        tenant_id: Option<&str>,
        module: &str,
        action: &str,
        actor: Option<&str>,
        payload: &serde_json::Value,
        request_id: Option<&str>,
    ) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant_id.map(str::to_string),
            module: module.to_string(),
            action: action.to_string(),
            actor: actor.map(str::to_string),
            payload: payload.to_string(),
            request_id: request_id.map(str::to_string),
            created_at: super::now_ms(),
        }
    }
}

/// Columns of one row of [`INSERT`].
const COLUMNS: usize = 8;
/// The INSERT of events.
pub(crate) static INSERT: InsertSql = InsertSql::new(
    "audit_events",
    "id, tenant_id, module, action, actor, payload, request_id, created_at",
    COLUMNS,
);

/// One event's values, in [`INSERT`]'s column order.
pub(crate) fn values(e: &AuditEvent) -> [Param<'_>; COLUMNS] {
    use Param::{Int, OptText, Text};
    [
        Text(&e.id),
        OptText(e.tenant_id.as_deref()),
        Text(&e.module),
        Text(&e.action),
        OptText(e.actor.as_deref()),
        Text(&e.payload),
        OptText(e.request_id.as_deref()),
        Int(e.created_at),
    ]
}

/// The statement that inserts one event.
fn insert_stmt(e: &AuditEvent) -> Stmt<'_> {
    insert_many_stmt(&[e])
}

/// Insert `events` on a direct SQLite connection (the committer's, in its transaction).
pub(crate) fn insert_sqlite(
    conn: &rusqlite::Connection,
    events: &[AuditEvent],
) -> rusqlite::Result<()> {
    INSERT.run_each_sqlite(conn, events.iter().map(values))
}

/// Audit events per multi-row INSERT.
pub(crate) const EVENTS_PER_INSERT: usize = 256;

/// One multi-row INSERT for many events (the PostgreSQL committer's: one round trip).
pub(crate) fn insert_many_stmt<'a>(events: &[&'a AuditEvent]) -> Stmt<'a> {
    Stmt::new(
        INSERT.rows(events.len()),
        events.iter().flat_map(|e| values(e)).collect(),
    )
}

/// Insert one event inside the caller's transaction.
pub(crate) async fn insert(conn: &mut AnyConnection, e: &AuditEvent) -> Result<(), sqlx::Error> {
    insert_stmt(e).run_sqlx(conn).await.map(drop)
}

/// Filters for [`page`]; `None` means any.
#[derive(Debug, Default)]
pub struct AuditFilter {
    pub module: Option<String>,
    pub action: Option<String>,
    pub tenant_id: Option<String>,
    pub request_id: Option<String>,
    /// Created at or after, in Unix milliseconds.
    pub since_ms: Option<i64>,
    /// Created before, in Unix milliseconds.
    pub until_ms: Option<i64>,
    /// After this row of the page before.
    pub(crate) after: Option<Position>,
    pub limit: i64,
}

/// An audit row as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditView {
    pub(crate) id: String,
    pub(crate) tenant_id: Option<String>,
    pub module: String,
    pub action: String,
    pub actor: Option<String>,
    pub payload: serde_json::Value,
    pub(crate) request_id: Option<String>,
    pub(crate) created_at: String,
}

/// Newest first, a page at a time: the rows and where the next page starts.
pub(crate) async fn page(
    db: &Db,
    f: &AuditFilter,
) -> Result<(Vec<AuditView>, Option<Position>), sqlx::Error> {
    let rows = page::Newest::from(
        "audit_events",
        "id, tenant_id, module, action, actor, payload, request_id, created_at",
    )
    .equal("module", f.module.as_deref())
    .equal("action", f.action.as_deref())
    .equal("tenant_id", f.tenant_id.as_deref())
    .equal("request_id", f.request_id.as_deref())
    .fetch(db, f.since_ms, f.until_ms, f.after.as_ref(), f.limit)
    .await?;
    page::split(rows, f.limit, |row| {
        let payload: String = row.try_get("payload")?;
        Ok(AuditView {
            id: row.try_get("id")?,
            tenant_id: row.try_get("tenant_id")?,
            module: row.try_get("module")?,
            action: row.try_get("action")?,
            actor: row.try_get("actor")?,
            payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload)),
            request_id: row.try_get("request_id")?,
            created_at: rfc3339(row.try_get("created_at")?),
        })
    })
}

/// The first page, newest first.
pub async fn query(db: &Db, f: &AuditFilter) -> Result<Vec<AuditView>, sqlx::Error> {
    Ok(page(db, f).await?.0)
}
