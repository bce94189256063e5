//! `password_resets`: one-time links a superadmin sends a user. Only the SHA-256 of a link's
//! token is stored; a link works once, before it expires.

use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

use super::now_ms;

/// How long a link works.
pub(crate) const VALID_MS: i64 = 3600 * 1000;

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Store a new link for `user`: (its token, when it expires). Links sent before stay valid
/// until they expire or one of them is used.
pub(crate) async fn create_in(
    conn: &mut AnyConnection,
    user: &str,
    requested_by: &str,
) -> Result<(String, i64), sqlx::Error> {
    let token = hex::encode(rand::random::<[u8; 32]>());
    let now = now_ms();
    sqlx::query(
        "INSERT INTO password_resets (token_hash, user_id, requested_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(digest(&token))
    .bind(user)
    .bind(requested_by)
    .bind(now)
    .bind(now + VALID_MS)
    .execute(conn)
    .await?;
    Ok((token, now + VALID_MS))
}

/// Whether a link would work as of `now` (checked before the slow password hash).
pub(crate) async fn usable(db: &super::Db, token: &str, now: i64) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "SELECT 1 FROM password_resets WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(digest(token))
    .bind(now)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.is_some())
}

/// Use a link as of `now`: the user it was for, when it was unused and unexpired. Every
/// other unused link of that user dies with it.
pub(crate) async fn redeem_in(
    conn: &mut AnyConnection,
    token: &str,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE password_resets SET used_at = $1 \
         WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
    )
    .bind(now)
    .bind(digest(token))
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let user: String = row.try_get(0)?;
    sqlx::query("UPDATE password_resets SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
        .bind(now)
        .bind(&user)
        .execute(conn)
        .await?;
    Ok(Some(user))
}
