//! `billing_webhook_events`: every event the billing provider sent, with its processing state.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::{Db, now_ms, rfc3339};

/// An event as operators see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventView {
    pub(crate) id: String,
    pub(crate) provider_event_id: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) tenant_id: Option<String>,
    pub(crate) status: String,
    pub(crate) attempts: i64,
    pub(crate) last_error: Option<String>,
    pub(crate) created_at: String,
    pub(crate) processed_at: Option<String>,
    pub(crate) payload: serde_json::Value,
}

/// What storing a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stored {
    /// A new event, with our id.
    New(String),
    /// This provider event id was stored before: our id and its status.
    Duplicate(String, String),
}

/// Store an event as `pending`, unless its provider id is known.
pub(crate) async fn insert_in(
    conn: &mut AnyConnection,
    provider_event_id: &str,
    kind: &str,
    tenant_id: Option<&str>,
    payload: &str,
) -> Result<Stored, sqlx::Error> {
    let id = uuid::Uuid::now_v7().to_string();
    let done = sqlx::query(
        "INSERT INTO billing_webhook_events (id, provider_event_id, type, payload, tenant_id, status, attempts, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6) ON CONFLICT (provider_event_id) DO NOTHING",
    )
    .bind(&id)
    .bind(provider_event_id)
    .bind(kind)
    .bind(payload)
    .bind(tenant_id)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(Stored::New(id));
    }
    let row =
        sqlx::query("SELECT id, status FROM billing_webhook_events WHERE provider_event_id = $1")
            .bind(provider_event_id)
            .fetch_one(conn)
            .await?;
    Ok(Stored::Duplicate(
        row.try_get("id")?,
        row.try_get("status")?,
    ))
}

/// Record an attempt's outcome: `processed`, `retrying` or `failed`.
pub(crate) async fn set_status_in(
    conn: &mut AnyConnection,
    id: &str,
    status: &str,
    attempts: i64,
    last_error: Option<&str>,
) -> Result<(), sqlx::Error> {
    let processed_at = (status == "processed").then(now_ms);
    sqlx::query(
        "UPDATE billing_webhook_events SET status = $1, attempts = $2, last_error = $3, processed_at = $4 WHERE id = $5",
    )
    .bind(status)
    .bind(attempts)
    .bind(last_error)
    .bind(processed_at)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Back to `pending` with no error and no attempts (replay).
pub(crate) async fn reset_in(conn: &mut AnyConnection, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE billing_webhook_events SET status = 'pending', attempts = 0, last_error = NULL, processed_at = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

const COLUMNS: &str = "id, provider_event_id, type, payload, tenant_id, status, attempts, last_error, created_at, processed_at";

fn view(r: &sqlx::any::AnyRow) -> Result<EventView, sqlx::Error> {
    let payload: String = r.try_get("payload")?;
    Ok(EventView {
        id: r.try_get("id")?,
        provider_event_id: r.try_get("provider_event_id")?,
        kind: r.try_get("type")?,
        tenant_id: r.try_get("tenant_id")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        last_error: r.try_get("last_error")?,
        created_at: rfc3339(r.try_get("created_at")?),
        processed_at: r.try_get::<Option<i64>, _>("processed_at")?.map(rfc3339),
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
    })
}

/// One event by our id.
pub(crate) async fn get_in(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<EventView>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM billing_webhook_events WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(|r| view(&r)).transpose()
}

/// Events in any of `statuses` (all when empty), newest first.
pub(crate) async fn list(
    db: &Db,
    statuses: &[String],
    limit: i64,
) -> Result<Vec<EventView>, sqlx::Error> {
    // Statuses are checked against a fixed list by the caller; the IN list is built from
    // placeholders, never from the values.
    let filter = if statuses.is_empty() {
        String::new()
    } else {
        format!("WHERE status IN ({})", super::marks(1, statuses.len()))
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM billing_webhook_events {filter} ORDER BY created_at DESC, id DESC LIMIT ${}",
        statuses.len() + 1
    );
    let mut q = sqlx::query(&sql);
    for s in statuses {
        q = q.bind(s);
    }
    let rows = q.bind(limit).fetch_all(db.pool()).await?;
    rows.iter().map(view).collect()
}
