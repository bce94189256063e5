//! `tenants`: the restaurants Nova serves.

use serde::Serialize;
use sqlx::Row;

use super::page::{self, Position};
use super::{Db, now_ms, rfc3339};

/// A tenant as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: String,
    pub(crate) name: String,
    pub(crate) status: String,
    /// The IANA timezone of the restaurant (its local business date); `UTC` unless set.
    pub(crate) timezone: String,
    pub(crate) created_at: String,
}

/// The timezone of a tenant that has not set one.
pub(crate) const DEFAULT_TIMEZONE: &str = "UTC";

fn from_row(row: &sqlx::any::AnyRow) -> Result<Tenant, sqlx::Error> {
    Ok(Tenant {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        status: row.try_get("status")?,
        timezone: row
            .try_get::<Option<String>, _>("timezone")?
            .unwrap_or_else(|| DEFAULT_TIMEZONE.into()),
        created_at: rfc3339(row.try_get("created_at")?),
    })
}

/// Create an active tenant.
pub async fn create(db: &Db, name: &str) -> Result<Tenant, sqlx::Error> {
    create_in(&mut *db.pool().acquire().await?, name).await
}

/// Create an active tenant inside the caller's transaction.
pub(crate) async fn create_in(
    conn: &mut sqlx::AnyConnection,
    name: &str,
) -> Result<Tenant, sqlx::Error> {
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    sqlx::query("INSERT INTO tenants (id, name, status, created_at) VALUES ($1, $2, 'active', $3)")
        .bind(&id)
        .bind(name)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(Tenant {
        id,
        name: name.to_string(),
        status: "active".into(),
        timezone: DEFAULT_TIMEZONE.into(),
        created_at: rfc3339(now),
    })
}

/// One tenant, if it exists.
pub(crate) async fn get(db: &Db, id: &str) -> Result<Option<Tenant>, sqlx::Error> {
    let row =
        sqlx::query("SELECT id, name, status, timezone, created_at FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
    row.as_ref().map(from_row).transpose()
}

/// Up to `limit` tenants, newest first, after `after`, whose name contains `search` (any
/// case) or whose id is `search`; and where the next page starts, if there is one.
pub(crate) async fn page(
    db: &Db,
    search: &str,
    after: Option<&Position>,
    limit: i64,
) -> Result<(Vec<Tenant>, Option<Position>), sqlx::Error> {
    // LIKE's own wildcards in the search are matched as themselves.
    let pattern = format!(
        "%{}%",
        search
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let (after_ms, after_id) = match after {
        Some(a) => (a.created_ms, a.id.as_str()),
        None => (i64::MAX, ""),
    };
    let rows = sqlx::query(
        "SELECT id, name, status, timezone, created_at FROM tenants \
         WHERE ($1 = '' OR LOWER(name) LIKE $2 ESCAPE '\\' OR id = $1) \
           AND (created_at < $3 OR (created_at = $3 AND id > $4)) \
         ORDER BY created_at DESC, id LIMIT $5",
    )
    .bind(search)
    .bind(&pattern)
    .bind(after_ms)
    .bind(after_id)
    .bind(limit + 1)
    .fetch_all(db.pool())
    .await?;
    page::split(rows, limit, from_row)
}

/// A tenant's timezone, inside the caller's connection; `None` when the tenant does not exist.
pub(crate) async fn timezone_in(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT timezone FROM tenants WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.map(|r| {
        r.try_get::<Option<String>, _>("timezone")
            .map(|tz| tz.unwrap_or_else(|| DEFAULT_TIMEZONE.into()))
    })
    .transpose()
}

/// The timezone of each of `tenants` that exists.
pub(crate) async fn timezones_in(
    conn: &mut sqlx::AnyConnection,
    ids: &[String],
) -> Result<std::collections::HashMap<String, String>, sqlx::Error> {
    let sql = format!(
        "SELECT id, timezone FROM tenants WHERE id IN ({})",
        super::marks(1, ids.len())
    );
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(id);
    }
    q.fetch_all(conn)
        .await?
        .iter()
        .map(|r| {
            let tz: Option<String> = r.try_get("timezone")?;
            Ok((
                r.try_get("id")?,
                tz.unwrap_or_else(|| DEFAULT_TIMEZONE.into()),
            ))
        })
        .collect()
}

/// Set a tenant's timezone (already checked to be a known IANA name) in the caller's
/// transaction; false when the tenant does not exist.
pub async fn set_timezone_in(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    timezone: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE tenants SET timezone = $1 WHERE id = $2")
        .bind(timezone)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
