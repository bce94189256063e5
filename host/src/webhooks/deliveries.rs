//! `webhook_deliveries`: which provider deliveries were accepted, so a replay is refused.

use crate::storage::{Db, now_ms};

/// True when `delivery_id` from `source` was accepted before.
pub(crate) async fn seen(db: &Db, source: &str, delivery_id: &str) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "SELECT 1 AS one FROM webhook_deliveries WHERE source = $1 AND delivery_id = $2",
    )
    .bind(source)
    .bind(delivery_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.is_some())
}

/// Record `delivery_id` from `source` as accepted: true the first time, false when it was
/// already recorded (a concurrent duplicate: the primary key decides).
pub(crate) async fn claim(db: &Db, source: &str, delivery_id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO webhook_deliveries (source, delivery_id, received_at) VALUES ($1, $2, $3) \
         ON CONFLICT (source, delivery_id) DO NOTHING",
    )
    .bind(source)
    .bind(delivery_id)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}
