//! `registrations`: restaurants asking to join, pending until a superadmin decides.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::{Db, now_ms, rfc3339};

/// A registration as the API shows it (never with the password hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Registration {
    pub(crate) id: String,
    pub(crate) restaurant_name: String,
    pub(crate) email: String,
    pub(crate) plan_id: String,
    pub(crate) status: String,
    pub(crate) reason: Option<String>,
    pub(crate) tenant_id: Option<String>,
    pub(crate) subscription_id: Option<String>,
    pub(crate) decided_by: Option<String>,
    pub(crate) created_at: String,
}

/// What approval needs besides the public fields.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) registration: Registration,
    pub(crate) password_hash: String,
}

const COLUMNS: &str = "id, restaurant_name, email, password_hash, plan_id, status, reason, tenant_id, \
                       subscription_id, decided_by, created_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Pending, sqlx::Error> {
    Ok(Pending {
        registration: Registration {
            id: r.try_get("id")?,
            restaurant_name: r.try_get("restaurant_name")?,
            email: r.try_get("email")?,
            plan_id: r.try_get("plan_id")?,
            status: r.try_get("status")?,
            reason: r.try_get("reason")?,
            tenant_id: r.try_get("tenant_id")?,
            subscription_id: r.try_get("subscription_id")?,
            decided_by: r.try_get("decided_by")?,
            created_at: rfc3339(r.try_get("created_at")?),
        },
        password_hash: r.try_get("password_hash")?,
    })
}

/// Store a pending registration.
pub(crate) async fn create(
    db: &Db,
    restaurant_name: &str,
    email: &str,
    password_hash: &str,
    plan_id: &str,
) -> Result<Registration, sqlx::Error> {
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO registrations (id, restaurant_name, email, password_hash, plan_id, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', $6)",
    )
    .bind(&id)
    .bind(restaurant_name)
    .bind(email)
    .bind(password_hash)
    .bind(plan_id)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(Registration {
        id,
        restaurant_name: restaurant_name.to_string(),
        email: email.to_string(),
        plan_id: plan_id.to_string(),
        status: "pending".into(),
        reason: None,
        tenant_id: None,
        subscription_id: None,
        decided_by: None,
        created_at: rfc3339(now),
    })
}

/// True when a pending registration already uses this email.
pub(crate) async fn pending_email_exists(db: &Db, email: &str) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("SELECT 1 FROM registrations WHERE email = $1 AND status = 'pending'")
            .bind(email)
            .fetch_optional(db.pool())
            .await?
            .is_some(),
    )
}

/// Registrations with the given status (any when `None`), oldest first.
pub(crate) async fn list(db: &Db, status: Option<&str>) -> Result<Vec<Registration>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM registrations WHERE ($1 IS NULL OR status = $1) ORDER BY created_at, id"
    );
    let rows = sqlx::query(&sql).bind(status).fetch_all(db.pool()).await?;
    rows.iter()
        .map(|r| from_row(r).map(|p| p.registration))
        .collect()
}

/// One registration.
pub(crate) async fn get(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<Pending>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM registrations WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// Move a pending registration to `status`; false when it was not pending any more. Run it
/// first in the deciding transaction: the conditional update takes the row, so a concurrent
/// second decision waits and then loses.
pub(crate) async fn claim(
    conn: &mut AnyConnection,
    id: &str,
    status: &str,
    reason: Option<&str>,
    actor: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE registrations SET status = $1, reason = $2, decided_by = $3, decided_at = $4 \
         WHERE id = $5 AND status = 'pending'",
    )
    .bind(status)
    .bind(reason)
    .bind(actor)
    .bind(now_ms())
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Record what an approval created.
pub(crate) async fn link(
    conn: &mut AnyConnection,
    id: &str,
    tenant_id: &str,
    subscription_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE registrations SET tenant_id = $1, subscription_id = $2 WHERE id = $3")
        .bind(tenant_id)
        .bind(subscription_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
