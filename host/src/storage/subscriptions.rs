//! `subscriptions`: which plan a tenant is on.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::{now_ms, rfc3339};

/// A subscription as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Subscription {
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    pub(crate) plan_id: String,
    pub(crate) status: String,
    pub(crate) billing_cycle: String,
    pub(crate) created_at: String,
}

/// Start an active subscription.
pub(crate) async fn create(
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
pub(crate) async fn current(
    conn: &mut AnyConnection,
    tenant_id: &str,
) -> Result<Option<Subscription>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, tenant_id, plan_id, status, billing_cycle, created_at FROM subscriptions \
         WHERE tenant_id = $1 AND status <> 'canceled' ORDER BY created_at DESC, id DESC LIMIT 1",
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

/// The plan id of each of `tenants`' current subscription (as [`current`] picks it); tenants
/// without one are absent.
pub(crate) async fn current_plans_in(
    conn: &mut AnyConnection,
    tenants: &[String],
) -> Result<HashMap<String, String>, sqlx::Error> {
    let sql = format!(
        "SELECT tenant_id, plan_id FROM subscriptions WHERE tenant_id IN ({}) \
         AND status <> 'canceled' ORDER BY created_at DESC, id DESC",
        super::marks(1, tenants.len())
    );
    let mut q = sqlx::query(&sql);
    for t in tenants {
        q = q.bind(t);
    }
    let mut out = HashMap::new();
    for r in q.fetch_all(conn).await? {
        // Newest first: the first row of a tenant is its current subscription.
        out.entry(r.try_get("tenant_id")?)
            .or_insert(r.try_get("plan_id")?);
    }
    Ok(out)
}

/// Move the tenant's current subscription to another plan; false when it has none.
pub(crate) async fn change_plan(
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
pub(crate) async fn cancel(conn: &mut AnyConnection, tenant_id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE subscriptions SET status = 'canceled', updated_at = $1 WHERE tenant_id = $2 AND status <> 'canceled'",
    )
    .bind(now_ms())
    .bind(tenant_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Provider facts about the tenant's current subscription: its id at the provider, billing
/// cycle and the end of the paid period (each left as is when `None`).
pub(crate) async fn set_provider_facts(
    conn: &mut AnyConnection,
    tenant_id: &str,
    provider_id: Option<&str>,
    billing_cycle: Option<&str>,
    current_period_end: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE subscriptions SET provider_subscription_id = COALESCE($1, provider_subscription_id), \
         billing_cycle = COALESCE($2, billing_cycle), current_period_end = COALESCE($3, current_period_end), \
         updated_at = $4 WHERE tenant_id = $5 AND status <> 'canceled'",
    )
    .bind(provider_id)
    .bind(billing_cycle)
    .bind(current_period_end)
    .bind(now_ms())
    .bind(tenant_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// A renewal: a new paid period, active again, no pending cancellation.
pub(crate) async fn renew(
    conn: &mut AnyConnection,
    tenant_id: &str,
    current_period_end: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE subscriptions SET status = 'active', cancel_at_period_end = 0, current_period_end = $1, \
         updated_at = $2 WHERE tenant_id = $3 AND status <> 'canceled'",
    )
    .bind(current_period_end)
    .bind(now_ms())
    .bind(tenant_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Cancellation at the end of the paid period: entitlements stay until then.
pub(crate) async fn cancel_at_period_end(
    conn: &mut AnyConnection,
    tenant_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE subscriptions SET cancel_at_period_end = 1, updated_at = $1 WHERE tenant_id = $2 AND status <> 'canceled'",
    )
    .bind(now_ms())
    .bind(tenant_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// `active` or `past_due`, as invoices are paid or fail.
pub(crate) async fn set_status(
    conn: &mut AnyConnection,
    tenant_id: &str,
    status: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE subscriptions SET status = $1, updated_at = $2 WHERE tenant_id = $3 AND status <> 'canceled'",
    )
    .bind(status)
    .bind(now_ms())
    .bind(tenant_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}
