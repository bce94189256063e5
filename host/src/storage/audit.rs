//! `audit_events`: domain actions recorded by modules and by superadmin changes.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::stmt::{Param, Stmt};
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

/// The statement that inserts one event.
pub(crate) fn insert_stmt(e: &AuditEvent) -> Stmt<'_> {
    use Param::{Int, OptText, Text};
    Stmt::new(
        "INSERT INTO audit_events (id, tenant_id, module, action, actor, payload, request_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        vec![
            Text(&e.id),
            OptText(e.tenant_id.as_deref()),
            Text(&e.module),
            Text(&e.action),
            OptText(e.actor.as_deref()),
            Text(&e.payload),
            OptText(e.request_id.as_deref()),
            Int(e.created_at),
        ],
    )
}

/// Insert one event inside the caller's transaction.
pub(crate) async fn insert(conn: &mut AnyConnection, e: &AuditEvent) -> Result<(), sqlx::Error> {
    insert_stmt(e).run_sqlx(conn).await.map(drop)
}

/// Filters for [`query`]; `None` means any.
#[derive(Debug, Default)]
pub struct AuditFilter {
    pub module: Option<String>,
    pub action: Option<String>,
    pub tenant_id: Option<String>,
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

/// Newest first.
pub async fn query(db: &Db, f: &AuditFilter) -> Result<Vec<AuditView>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, tenant_id, module, action, actor, payload, request_id, created_at FROM audit_events \
         WHERE ($1 IS NULL OR module = $1) AND ($2 IS NULL OR action = $2) AND ($3 IS NULL OR tenant_id = $3) \
         ORDER BY created_at DESC, id DESC LIMIT $4",
    )
    .bind(&f.module)
    .bind(&f.action)
    .bind(&f.tenant_id)
    .bind(f.limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let payload: String = row.try_get("payload")?;
            Ok(AuditView {
                id: row.try_get("id")?,
                tenant_id: row.try_get("tenant_id")?,
                module: row.try_get("module")?,
                action: row.try_get("action")?,
                actor: row.try_get("actor")?,
                payload: serde_json::from_str(&payload)
                    .unwrap_or(serde_json::Value::String(payload)),
                request_id: row.try_get("request_id")?,
                created_at: rfc3339(row.try_get("created_at")?),
            })
        })
        .collect()
}
