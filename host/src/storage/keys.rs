//! `signing_keys`: token signing secrets every replica reads.

use sqlx::Row;

use super::{Db, now_ms};

/// Every key, newest first: (kid, secret).
pub(crate) async fn list(db: &Db) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query("SELECT kid, secret FROM signing_keys ORDER BY created_at DESC, kid")
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("kid")?, r.try_get("secret")?)))
        .collect()
}

/// Add a key (no-op when the kid exists). `created_at` orders keys: the newest signs.
pub(crate) async fn insert(db: &Db, kid: &str, secret: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO signing_keys (kid, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (kid) DO NOTHING")
        .bind(kid)
        .bind(secret)
        .bind(now_ms())
        .execute(db.pool())
        .await?;
    Ok(())
}
