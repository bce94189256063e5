//! `subscriptions`: which plan a tenant is on.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::{now_ms, rfc3339};

/// A subscription as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    pub tenant_id: String,
    pub plan_id: String,
    pub status: String,
    pub billing_cycle: String,
    pub created_at: String,
}

/// Start an active subscription.
pub async fn create(
    conn: &mut AnyConnection,
    tenant_id: &str,
    plan_id: &str,
    billing_cycle: &str,
) -> Result<Subscription, sqlx::Error> {
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO subscriptions (id, tenant_id, plan_id, status, billing_cycle, created_at, updated_at) \
         VALUES ($1, $2, $3, 'active', $4, $5, $6)",
    )
    .bind(&id)
    .bind(tenant_id)
    .bind(plan_id)
    .bind(billing_cycle)
    .bind(now)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(Subscription {
        id,
        tenant_id: tenant_id.to_string(),
        plan_id: plan_id.to_string(),
        status: "active".into(),
        billing_cycle: billing_cycle.to_string(),
        created_at: rfc3339(now),
    })
}

/// The tenant's current (not canceled) subscription.
pub async fn current(
    conn: &mut AnyConnection,
    tenant_id: &str,
) -> Result<Option<Subscription>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, tenant_id, plan_id, status, billing_cycle, created_at FROM subscriptions \
         WHERE tenant_id = $1 AND status <> 'canceled' ORDER BY created_at DESC LIMIT 1",
    )
    .bind(tenant_id)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(Subscription {
            id: r.try_get("id")?,
            tenant_id: r.try_get("tenant_id")?,
            plan_id: r.try_get("plan_id")?,
            status: r.try_get("status")?,
            billing_cycle: r.try_get("billing_cycle")?,
            created_at: rfc3339(r.try_get("created_at")?),
        })
    })
    .transpose()
}

/// Move the tenant's current subscription to another plan; false when it has none.
pub async fn change_plan(
    conn: &mut AnyConnection,
    tenant_id: &str,
    plan_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE subscriptions SET plan_id = $1, updated_at = $2 WHERE tenant_id = $3 AND status <> 'canceled'",
    )
    .bind(plan_id)
    .bind(now_ms())
    .bind(tenant_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Cancel the tenant's current subscription; false when it has none.
pub async fn cancel(conn: &mut AnyConnection, tenant_id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE subscriptions SET status = 'canceled', updated_at = $1 WHERE tenant_id = $2 AND status <> 'canceled'",
    )
    .bind(now_ms())
    .bind(tenant_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}
