//! `users`: superadmins (no tenant) and tenant admins and staff.

use serde::Serialize;
use sqlx::Row;

use super::{Db, now_ms, rfc3339};

/// A user as the API shows it (never with the password hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub(crate) id: String,
    pub(crate) tenant_id: Option<String>,
    pub(crate) email: String,
    pub(crate) role: String,
    pub(crate) created_at: String,
}

/// What login needs: the user and the stored hash.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    pub(crate) user: User,
    pub(crate) password_hash: String,
    /// Disabled by a superadmin: may not sign in.
    pub(crate) disabled: bool,
}

/// Insert a user. A duplicate email is a unique violation (see [`super::is_unique_violation`]).
pub async fn create(
    db: &Db,
    tenant_id: Option<&str>,
    email: &str,
    password_hash: &str,
    role: &str,
) -> Result<User, sqlx::Error> {
    create_in(
        &mut *db.pool().acquire().await?,
        tenant_id,
        email,
        password_hash,
        role,
    )
    .await
}

/// [`create`] inside the caller's transaction.
pub(crate) async fn create_in(
    conn: &mut sqlx::AnyConnection,
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
    .execute(conn)
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
pub(crate) async fn credentials(db: &Db, email: &str) -> Result<Option<Credentials>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, tenant_id, email, password_hash, role, created_at, disabled_at FROM users \
         WHERE email = $1",
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
            disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
        })
    })
    .transpose()
}

/// Record a successful login (for the monthly RBAC review).
pub(crate) async fn touch_login(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// A user as the RBAC review and a tenant's page list them: who, what role, and when they
/// last signed in (never the password hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) role: String,
    pub(crate) created_at: String,
    pub(crate) last_login_at: Option<String>,
    /// Disabled by a superadmin (or removed, for a superadmin): signs in no more, and the
    /// tokens it holds are refused.
    pub(crate) disabled: bool,
}

/// Every superadmin, with when they last logged in.
pub(crate) async fn superadmins(db: &Db) -> Result<Vec<Member>, sqlx::Error> {
    members(db, None).await
}

/// A tenant's admins and staff, by email.
pub(crate) async fn in_tenant(db: &Db, tenant: &str) -> Result<Vec<Member>, sqlx::Error> {
    members(db, Some(tenant)).await
}

/// The users of `tenant`, or the superadmins when it is `None`.
async fn members(db: &Db, tenant: Option<&str>) -> Result<Vec<Member>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, email, role, created_at, last_login_at, disabled_at FROM users \
         WHERE ($1 IS NULL AND role = 'superadmin') OR tenant_id = $1 ORDER BY email",
    )
    .bind(tenant)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Member {
                id: r.try_get("id")?,
                email: r.try_get("email")?,
                role: r.try_get("role")?,
                created_at: rfc3339(r.try_get("created_at")?),
                last_login_at: r.try_get::<Option<i64>, _>("last_login_at")?.map(rfc3339),
                disabled: r.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
            })
        })
        .collect()
}

/// Email addresses of users with `role`, in `tenant` (or platform-wide for superadmins).
pub(crate) async fn emails_in(
    conn: &mut sqlx::AnyConnection,
    tenant: Option<&str>,
    role: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT email FROM users WHERE role = $1 AND (($2 IS NULL AND tenant_id IS NULL) OR tenant_id = $2) ORDER BY email",
    )
    .bind(role)
    .bind(tenant)
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| r.try_get("email")).collect()
}

/// Email addresses of every tenant's admins.
pub(crate) async fn all_tenant_admin_emails_in(
    conn: &mut sqlx::AnyConnection,
) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT email FROM users WHERE role = 'admin' AND tenant_id IS NOT NULL ORDER BY email",
    )
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| r.try_get("email")).collect()
}

/// Who may not use tokens they hold: user id → `None` when disabled (no token works), or
/// `Some(ms)` when only tokens issued before that moment are dead (a disable lifted, a
/// password reset).
pub(crate) async fn revoked(
    db: &Db,
) -> Result<std::collections::HashMap<String, Option<i64>>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, disabled_at, tokens_valid_after FROM users \
         WHERE disabled_at IS NOT NULL OR tokens_valid_after IS NOT NULL",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let disabled = r.try_get::<Option<i64>, _>("disabled_at")?.is_some();
            let after: Option<i64> = r.try_get("tokens_valid_after")?;
            Ok((r.try_get("id")?, if disabled { None } else { after }))
        })
        .collect()
}

/// The advisory lock for changes to enabled superadmins.
pub(crate) const SUPERADMINS_LOCK: i64 = 0x4e4f_5641_0001;

/// A user's email, role and whether it is disabled.
pub(crate) async fn status_in(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> Result<Option<(String, String, bool)>, sqlx::Error> {
    let row = sqlx::query("SELECT email, role, disabled_at FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.map(|r| {
        Ok((
            r.try_get("email")?,
            r.try_get("role")?,
            r.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
        ))
    })
    .transpose()
}

/// Disable or enable a user. Disabling also kills every token issued until now, for good
/// (enabling again does not bring them back). Disabling a superadmin succeeds only while
/// another enabled superadmin remains; call [`serialise_in`] first. False when nothing changed
/// for that reason (or the user does not exist).
pub(crate) async fn set_disabled_in(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    disabled: bool,
) -> Result<bool, sqlx::Error> {
    let done = if disabled {
        sqlx::query(
            "UPDATE users SET disabled_at = COALESCE(disabled_at, $1), tokens_valid_after = $1 \
             WHERE id = $2 \
             AND (role <> 'superadmin' OR (SELECT COUNT(*) FROM users \
               WHERE role = 'superadmin' AND disabled_at IS NULL AND id <> $2) > 0)",
        )
        .bind(now_ms())
        .bind(id)
        .execute(conn)
        .await?
    } else {
        sqlx::query("UPDATE users SET disabled_at = NULL WHERE id = $1")
            .bind(id)
            .execute(conn)
            .await?
    };
    Ok(done.rows_affected() > 0)
}

/// Give a removed (disabled) superadmin a new password and enable it again; tokens from
/// before stay dead. `None` when `email` is no removed superadmin.
pub(crate) async fn restore_superadmin_in(
    conn: &mut sqlx::AnyConnection,
    email: &str,
    password_hash: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE users SET disabled_at = NULL, password_hash = $1, tokens_valid_after = $2 \
         WHERE email = $3 AND role = 'superadmin' AND disabled_at IS NOT NULL RETURNING id",
    )
    .bind(password_hash)
    .bind(now_ms())
    .bind(email)
    .fetch_optional(conn)
    .await?;
    row.map(|r| r.try_get("id")).transpose()
}

/// Give `user` a new password hash; every token issued before now stops working.
pub(crate) async fn set_password_in(
    conn: &mut sqlx::AnyConnection,
    user: &str,
    hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $1, tokens_valid_after = $2 WHERE id = $3")
        .bind(hash)
        .bind(now_ms())
        .bind(user)
        .execute(conn)
        .await?;
    Ok(())
}

/// The tenant a user belongs to (`None` for superadmins and unknown users).
pub(crate) async fn tenant_of_in(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT tenant_id FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(row.and_then(|(t,)| t))
}
