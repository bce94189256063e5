//! `platform_settings`: values a superadmin sets for the whole platform at runtime (the trace
//! sampling ratio), read by every replica when told and at each reconciliation.

use sqlx::{AnyConnection, Row};

use super::{Db, now_ms};

/// The share of new traces kept (a number from 0 to 1, as text).
pub(crate) const TRACE_SAMPLE_RATIO: &str = "tracing.sample_ratio";

/// The value of `name`, if set.
pub(crate) async fn get(db: &Db, name: &str) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT value FROM platform_settings WHERE name = $1")
        .bind(name)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| r.try_get("value")).transpose()
}

/// Set `name` to `value`, or remove it (`None`).
pub(crate) async fn set_in(
    conn: &mut AnyConnection,
    name: &str,
    value: Option<&str>,
    by: &str,
) -> Result<(), sqlx::Error> {
    match value {
        Some(value) => {
            sqlx::query(
                "INSERT INTO platform_settings (name, value, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET \
                 value = excluded.value, updated_by = excluded.updated_by, \
                 updated_at = excluded.updated_at",
            )
            .bind(name)
            .bind(value)
            .bind(by)
            .bind(now_ms())
            .execute(conn)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM platform_settings WHERE name = $1")
                .bind(name)
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}
