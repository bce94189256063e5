//! `service_tokens`: per-tenant tokens for synthetic checks. Only a hash is stored; the
//! token is shown once, when created.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{Db, now_ms, rfc3339};

/// Every service token starts with this, so the auth layer knows to look it up.
pub(crate) const PREFIX: &str = "nova_st_";

/// A token as listed (never the secret).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServiceToken {
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    pub(crate) name: String,
    pub(crate) created_at: String,
    /// After this it is refused; `None`: never.
    pub(crate) expires_at: Option<String>,
}

/// A tenant's token as the console lists it: never its secret or hash.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Listed {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) created_by: Option<String>,
    pub(crate) created_at: String,
    /// When it last authenticated a call; `null` if never.
    pub(crate) last_used_at: Option<String>,
    /// When it was revoked; `null` while it works.
    pub(crate) revoked_at: Option<String>,
    /// When it stops working; `null`: never.
    pub(crate) expires_at: Option<String>,
}

/// Every token of `tenant_id`, newest first.
pub(crate) async fn list(db: &Db, tenant_id: &str) -> Result<Vec<Listed>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, name, created_by, created_at, last_used_at, revoked_at, expires_at \
         FROM service_tokens WHERE tenant_id = $1 ORDER BY created_at DESC, id",
    )
    .bind(tenant_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Listed {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                created_by: r.try_get("created_by")?,
                created_at: rfc3339(r.try_get("created_at")?),
                last_used_at: r.try_get::<Option<i64>, _>("last_used_at")?.map(rfc3339),
                revoked_at: r.try_get::<Option<i64>, _>("revoked_at")?.map(rfc3339),
                expires_at: r.try_get::<Option<i64>, _>("expires_at")?.map(rfc3339),
            })
        })
        .collect()
}

/// The hash under which a token is stored.
pub(crate) fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Create a token; returns it with the secret (the only time it is shown).
pub(crate) async fn create(
    db: &Db,
    tenant_id: &str,
    name: &str,
    actor: &str,
    expires_at: Option<i64>,
) -> Result<(ServiceToken, String), sqlx::Error> {
    let id = uuid::Uuid::new_v4().to_string();
    let secret = format!("{PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()));
    let now = now_ms();
    sqlx::query(
        "INSERT INTO service_tokens (id, tenant_id, name, token_hash, created_by, created_at, \
         expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(tenant_id)
    .bind(name)
    .bind(hash(&secret))
    .bind(actor)
    .bind(now)
    .bind(expires_at)
    .execute(db.pool())
    .await?;
    Ok((
        ServiceToken {
            id,
            tenant_id: tenant_id.to_string(),
            name: name.to_string(),
            created_at: rfc3339(now),
            expires_at: expires_at.map(rfc3339),
        },
        secret,
    ))
}

/// Revoke; false when there was no live token with this id for this tenant.
pub(crate) async fn revoke(db: &Db, tenant_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE service_tokens SET revoked_at = $1 WHERE id = $2 AND tenant_id = $3 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(id)
    .bind(tenant_id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The live token with this secret, if any: not revoked, not expired.
pub(crate) async fn find(db: &Db, secret: &str) -> Result<Option<ServiceToken>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, tenant_id, name, created_at, expires_at FROM service_tokens \
         WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(hash(secret))
    .bind(now_ms())
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(ServiceToken {
            id: r.try_get("id")?,
            tenant_id: r.try_get("tenant_id")?,
            name: r.try_get("name")?,
            created_at: rfc3339(r.try_get("created_at")?),
            expires_at: r.try_get::<Option<i64>, _>("expires_at")?.map(rfc3339),
        })
    })
    .transpose()
}

/// Record that token `id` authenticated a call, at most once a minute per token and process:
/// the list shows when a token was last used without a write on every call.
pub(crate) async fn touch(db: &Db, id: &str) {
    static LAST: std::sync::Mutex<Option<std::collections::HashMap<String, i64>>> =
        std::sync::Mutex::new(None);
    let now = now_ms();
    {
        let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
        let last = last.get_or_insert_with(Default::default);
        if last.get(id).is_some_and(|t| now - t < 60_000) {
            return;
        }
        // A process sees few service tokens; forget those idle for an hour.
        last.retain(|_, t| now - *t < 3_600_000);
        last.insert(id.to_string(), now);
    }
    let written = sqlx::query("UPDATE service_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(db.pool())
        .await;
    if let Err(e) = written {
        tracing::warn!(error = %e, token = id, "could not record a service token's last use");
    }
}
