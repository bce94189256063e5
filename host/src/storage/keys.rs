//! `signing_keys`: token signing secrets every replica reads.

use sqlx::Row;

use super::{Db, now_ms, sealed};

/// One signing key as stored.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) kid: String,
    pub(crate) secret: String,
    /// Retired keys verify nothing (`nova keys retire`).
    pub(crate) retired: bool,
}

/// Every key, newest first.
pub(crate) async fn list(db: &Db) -> Result<Vec<Stored>, ListError> {
    let rows = sqlx::query(
        "SELECT kid, secret, retired_at FROM signing_keys ORDER BY created_at DESC, kid",
    )
    .fetch_all(db.pool())
    .await?;
    let mut keys = Vec::with_capacity(rows.len());
    for r in &rows {
        let kid: String = r.try_get("kid")?;
        let stored: String = r.try_get("secret")?;
        let secret = if sealed::is_sealed(&stored) {
            let master = db.master_key().ok_or_else(|| {
                ListError::Sealed(
                    "the signing keys are sealed at rest: set NOVA_MASTER_KEY to the key they \
                     were sealed with"
                        .into(),
                )
            })?;
            master
                .open(&kid, &stored)
                .map_err(|e| ListError::Sealed(e.to_string()))?
        } else {
            stored
        };
        keys.push(Stored {
            kid,
            secret,
            retired: r.try_get::<Option<i64>, _>("retired_at")?.is_some(),
        });
    }
    Ok(keys)
}

/// Why the keys could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ListError {
    #[error("{0}")]
    Sealed(String),
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
}

/// Seal every key still stored in plain text with the master key (the migration for a
/// database from before `NOVA_MASTER_KEY`); how many were sealed.
pub(crate) async fn seal_all(db: &Db) -> anyhow::Result<usize> {
    let master = db
        .master_key()
        .ok_or_else(|| anyhow::anyhow!("set NOVA_MASTER_KEY first"))?;
    let rows = sqlx::query("SELECT kid, secret FROM signing_keys")
        .fetch_all(db.pool())
        .await?;
    let mut sealed_now = 0;
    for r in &rows {
        let (kid, secret): (String, String) = (r.try_get("kid")?, r.try_get("secret")?);
        if sealed::is_sealed(&secret) {
            continue;
        }
        // Only if still the same plain value: two runs at once seal each key once.
        let done =
            sqlx::query("UPDATE signing_keys SET secret = $1 WHERE kid = $2 AND secret = $3")
                .bind(master.seal(&kid, &secret))
                .bind(&kid)
                .bind(&secret)
                .execute(db.pool())
                .await?;
        sealed_now += done.rows_affected() as usize;
    }
    Ok(sealed_now)
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
    super::serialise_in(&mut tx, db.backend(), KEYS_LOCK).await?;
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
    crate::storage::commit_in_task(tx).await?;
    Ok(())
}

/// The advisory lock for retiring keys (PostgreSQL).
const KEYS_LOCK: i64 = 0x4e4f_5641_0002;

/// Add a key (no-op when the kid exists), sealed when a master key is set. `created_at`
/// orders keys: the newest signs.
pub(crate) async fn insert(db: &Db, kid: &str, secret: &str) -> Result<(), sqlx::Error> {
    let stored = match db.master_key() {
        Some(master) => master.seal(kid, secret),
        None => secret.to_string(),
    };
    sqlx::query("INSERT INTO signing_keys (kid, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (kid) DO NOTHING")
        .bind(kid)
        .bind(stored)
        .bind(now_ms())
        .execute(db.pool())
        .await?;
    Ok(())
}
