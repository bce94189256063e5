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
}

/// Every token of `tenant_id`, newest first.
pub(crate) async fn list(db: &Db, tenant_id: &str) -> Result<Vec<Listed>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, name, created_by, created_at, last_used_at, revoked_at FROM service_tokens \
         WHERE tenant_id = $1 ORDER BY created_at DESC, id",
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
) -> Result<(ServiceToken, String), sqlx::Error> {
    let id = uuid::Uuid::new_v4().to_string();
    let secret = format!("{PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()));
    let now = now_ms();
    sqlx::query(
        "INSERT INTO service_tokens (id, tenant_id, name, token_hash, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(tenant_id)
    .bind(name)
    .bind(hash(&secret))
    .bind(actor)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok((
        ServiceToken {
            id,
            tenant_id: tenant_id.to_string(),
            name: name.to_string(),
            created_at: rfc3339(now),
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

/// The live token with this secret, if any.
pub(crate) async fn find(db: &Db, secret: &str) -> Result<Option<ServiceToken>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, tenant_id, name, created_at FROM service_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash(secret))
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(ServiceToken {
            id: r.try_get("id")?,
            tenant_id: r.try_get("tenant_id")?,
            name: r.try_get("name")?,
            created_at: rfc3339(r.try_get("created_at")?),
        })
    })
    .transpose()
}
