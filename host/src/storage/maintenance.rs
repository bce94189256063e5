//! Maintenance mode: the global flag `support.maintenance_mode` in `platform_flags`, and one
//! `maintenance_periods` row per period.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::announcements::Window;
use super::{Db, now_ms, rfc3339};

/// The flag's name.
pub(crate) const FLAG: &str = "support.maintenance_mode";

/// Maintenance as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct On {
    pub(crate) message: String,
    pub(crate) period_id: String,
}

/// A period in the log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Period {
    pub(crate) id: String,
    pub(crate) started_at: String,
    pub(crate) started_by: String,
    pub(crate) ended_at: Option<String>,
    pub(crate) ended_by: Option<String>,
    pub(crate) message: String,
    pub(crate) window: Option<Window>,
    pub(crate) refused_writes: i64,
}

/// The open period, when maintenance is on.
pub(crate) async fn current(db: &Db) -> Result<Option<On>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT p.id, p.message FROM platform_flags f JOIN maintenance_periods p ON p.ended_at IS NULL \
         WHERE f.name = $1 AND f.enabled = 1 ORDER BY p.started_at DESC LIMIT 1",
    )
    .bind(FLAG)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(On {
            period_id: r.try_get("id")?,
            message: r.try_get("message")?,
        })
    })
    .transpose()
}

async fn set_flag(
    conn: &mut AnyConnection,
    on: bool,
    message: Option<&str>,
    who: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO platform_flags (name, enabled, message, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, message = excluded.message, \
         updated_by = excluded.updated_by, updated_at = excluded.updated_at",
    )
    .bind(FLAG)
    .bind(i64::from(on))
    .bind(message)
    .bind(who)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

/// Turn maintenance on (a new period) or, when already on, change its message and window.
pub(crate) async fn start_in(
    conn: &mut AnyConnection,
    message: &str,
    window: Option<Window>,
    who: &str,
) -> Result<String, sqlx::Error> {
    set_flag(conn, true, Some(message), who).await?;
    let open = sqlx::query("SELECT id FROM maintenance_periods WHERE ended_at IS NULL")
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(r) = open {
        let id: String = r.try_get("id")?;
        sqlx::query("UPDATE maintenance_periods SET message = $1, window_start = $2, window_end = $3 WHERE id = $4")
            .bind(message)
            .bind(window.map(|w| w.start))
            .bind(window.map(|w| w.end))
            .bind(&id)
            .execute(conn)
            .await?;
        return Ok(id);
    }
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO maintenance_periods (id, started_at, started_by, message, window_start, window_end, refused_writes) \
         VALUES ($1, $2, $3, $4, $5, $6, 0)",
    )
    .bind(&id)
    .bind(now_ms())
    .bind(who)
    .bind(message)
    .bind(window.map(|w| w.start))
    .bind(window.map(|w| w.end))
    .execute(conn)
    .await?;
    Ok(id)
}

/// Turn maintenance off; the period that ended, if one was open.
pub(crate) async fn end_in(
    conn: &mut AnyConnection,
    who: &str,
) -> Result<Option<Period>, sqlx::Error> {
    set_flag(conn, false, None, who).await?;
    let open = sqlx::query("SELECT id FROM maintenance_periods WHERE ended_at IS NULL")
        .fetch_optional(&mut *conn)
        .await?;
    let Some(r) = open else { return Ok(None) };
    let id: String = r.try_get("id")?;
    sqlx::query("UPDATE maintenance_periods SET ended_at = $1, ended_by = $2 WHERE id = $3")
        .bind(now_ms())
        .bind(who)
        .bind(&id)
        .execute(&mut *conn)
        .await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM maintenance_periods WHERE id = $1"
    ))
    .bind(&id)
    .fetch_one(conn)
    .await?;
    Ok(Some(view(&row)?))
}

/// Count one refused write against the open period.
pub(crate) async fn count_refused(db: &Db, period_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE maintenance_periods SET refused_writes = refused_writes + 1 WHERE id = $1")
        .bind(period_id)
        .execute(db.pool())
        .await?;
    Ok(())
}

const COLUMNS: &str = "id, started_at, started_by, ended_at, ended_by, message, window_start, window_end, refused_writes";

fn view(r: &sqlx::any::AnyRow) -> Result<Period, sqlx::Error> {
    let start: Option<i64> = r.try_get("window_start")?;
    let end: Option<i64> = r.try_get("window_end")?;
    Ok(Period {
        id: r.try_get("id")?,
        started_at: rfc3339(r.try_get("started_at")?),
        started_by: r.try_get("started_by")?,
        ended_at: r.try_get::<Option<i64>, _>("ended_at")?.map(rfc3339),
        ended_by: r.try_get("ended_by")?,
        message: r.try_get("message")?,
        window: start.zip(end).map(|(start, end)| Window { start, end }),
        refused_writes: r.try_get("refused_writes")?,
    })
}

/// Every period, newest first.
pub(crate) async fn log(db: &Db, limit: i64) -> Result<Vec<Period>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM maintenance_periods ORDER BY started_at DESC, id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(view).collect()
}
