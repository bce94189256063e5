//! `webhook_deliveries`: which provider deliveries were accepted, so a replay is refused.

use crate::storage::{Db, now_ms};

/// Claim `delivery_id` from `source`: true the first time, false for a replay (including a
/// concurrent duplicate: the primary key decides).
pub async fn claim(db: &Db, source: &str, delivery_id: &str) -> Result<bool, sqlx::Error> {
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

/// Give a claim back after the delivery could not be handled, so the provider's retry of the
/// same delivery is accepted.
pub async fn release(db: &Db, source: &str, delivery_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM webhook_deliveries WHERE source = $1 AND delivery_id = $2")
        .bind(source)
        .bind(delivery_id)
        .execute(db.pool())
        .await?;
    Ok(())
}
