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
/// could sign. One statement, so two operators retiring the last two keys at once cannot
/// both succeed.
pub(crate) async fn retire(db: &Db, kid: &str) -> Result<(), RetireError> {
    let keys = list(db).await?;
    let Some(key) = keys.iter().find(|k| k.kid == kid) else {
        return Err(RetireError::NoKey(kid.to_string()));
    };
    if key.retired {
        return Err(RetireError::AlreadyRetired(kid.to_string()));
    }
    let done = sqlx::query(
        "UPDATE signing_keys SET retired_at = $1 WHERE kid = $2 AND retired_at IS NULL \
         AND (SELECT COUNT(*) FROM signing_keys WHERE retired_at IS NULL AND kid <> $2) > 0",
    )
    .bind(now_ms())
    .bind(kid)
    .execute(db.pool())
    .await?;
    if done.rows_affected() == 0 {
        return Err(RetireError::LastKey(kid.to_string()));
    }
    Ok(())
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
