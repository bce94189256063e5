//! `users`: superadmins (no tenant) and tenant admins and staff.

use serde::Serialize;
use sqlx::Row;

use super::{Db, now_ms, rfc3339};

/// A user as the API shows it (never with the password hash).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub tenant_id: Option<String>,
    pub email: String,
    pub role: String,
    pub created_at: String,
}

/// What login needs: the user and the stored hash.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

/// Insert a user. A duplicate email is a unique violation (see [`super::is_unique_violation`]).
pub async fn create(
    db: &Db,
    tenant_id: Option<&str>,
    email: &str,
    password_hash: &str,
    role: &str,
) -> Result<User, sqlx::Error> {
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO users (id, tenant_id, email, password_hash, role, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(tenant_id)
    .bind(email)
    .bind(password_hash)
    .bind(role)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(User {
        id,
        tenant_id: tenant_id.map(str::to_string),
        email: email.to_string(),
        role: role.to_string(),
        created_at: rfc3339(now),
    })
}

/// Look a user up by email (emails are stored lower-case).
pub async fn credentials(db: &Db, email: &str) -> Result<Option<Credentials>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, tenant_id, email, password_hash, role, created_at FROM users WHERE email = $1",
    )
    .bind(email)
    .fetch_optional(db.pool())
    .await?;
    row.map(|row| {
        Ok(Credentials {
            user: User {
                id: row.try_get("id")?,
                tenant_id: row.try_get("tenant_id")?,
                email: row.try_get("email")?,
                role: row.try_get("role")?,
                created_at: rfc3339(row.try_get("created_at")?),
            },
            password_hash: row.try_get("password_hash")?,
        })
    })
    .transpose()
}

/// Record a successful login (for the monthly RBAC review).
pub async fn touch_login(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}
