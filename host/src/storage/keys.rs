//! `signing_keys`: token signing secrets every replica reads.

use sqlx::Row;

use super::{Db, now_ms};

/// One signing key as stored.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) kid: String,
    pub(crate) secret: String,
    /// Retired keys verify nothing (`nova keys retire`).
    pub(crate) retired: bool,
}

/// Every key, newest first.
pub(crate) async fn list(db: &Db) -> Result<Vec<Stored>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT kid, secret, retired_at FROM signing_keys ORDER BY created_at DESC, kid",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Stored {
                kid: r.try_get("kid")?,
                secret: r.try_get("secret")?,
                retired: r.try_get::<Option<i64>, _>("retired_at")?.is_some(),
            })
        })
        .collect()
}

/// Why a key could not be retired.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RetireError {
    #[error("no signing key {0:?}")]
    NoKey(String),
    #[error("key {0} is already retired")]
    AlreadyRetired(String),
    #[error("key {0} is the last key that signs; run `nova keys rotate` first")]
    LastKey(String),
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
}

/// Retire `kid`: from now on it verifies nothing. The last active key cannot go, or nothing
/// could sign; operators retiring keys at once take turns, so two cannot retire the last two.
/// The audit record (`signing_key.retired`, actor `by`) commits with the change.
pub(crate) async fn retire(db: &Db, kid: &str, by: &str) -> Result<(), RetireError> {
    let mut tx = db.begin().await?;
    super::users::serialise_in(&mut tx, db.backend(), KEYS_LOCK).await?;
    let row = sqlx::query("SELECT retired_at FROM signing_keys WHERE kid = $1")
        .bind(kid)
        .fetch_optional(&mut *tx)
        .await?;
    match row {
        None => return Err(RetireError::NoKey(kid.to_string())),
        Some(r) if r.try_get::<Option<i64>, _>("retired_at")?.is_some() => {
            return Err(RetireError::AlreadyRetired(kid.to_string()));
        }
        Some(_) => {}
    }
    let done = sqlx::query(
        "UPDATE signing_keys SET retired_at = $1 WHERE kid = $2 AND retired_at IS NULL \
         AND (SELECT COUNT(*) FROM signing_keys WHERE retired_at IS NULL AND kid <> $2) > 0",
    )
    .bind(now_ms())
    .bind(kid)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(RetireError::LastKey(kid.to_string()));
    }
    let event = super::audit::AuditEvent::new(
        None,
        "superadmin",
        "signing_key.retired",
        Some(by),
        &serde_json::json!({"kid": kid}),
        None,
    );
    super::audit::insert(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(())
}

/// The advisory lock for retiring keys (PostgreSQL).
const KEYS_LOCK: i64 = 0x4e4f_5641_0002;

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
