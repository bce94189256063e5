//! `plans`: Core, Pro and Enterprise with the modules, feature flags and limits they entitle.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::Db;

/// Per-call limits a plan sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PlanLimits {
    pub(crate) memory_mb: u64,
    pub(crate) deadline_ms: u64,
    pub(crate) fuel: u64,
    pub(crate) calls_per_minute: u64,
    /// Calls a tenant may run at once; absent means the host's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) concurrent_calls: Option<u32>,
}

/// What a plan entitles a tenant to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Entitlements {
    pub(crate) modules: Vec<String>,
    pub(crate) feature_flags: Vec<String>,
    pub(crate) limits: PlanLimits,
    /// Keeping periods longer than the platform's defaults; absent keeps the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) retention: Option<PlanRetention>,
}

/// How long a plan's tenants' records are kept, in days, when longer than the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PlanRetention {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) invocations_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) audit_days: Option<u32>,
}

/// A plan as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Plan {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) price_cents: i64,
    pub(crate) entitlements: Entitlements,
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Plan, sqlx::Error> {
    let raw: String = r.try_get("entitlements")?;
    let entitlements = serde_json::from_str(&raw).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(Plan {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        price_cents: r.try_get("price_cents")?,
        entitlements,
    })
}

/// Every plan, cheapest first.
pub(crate) async fn list(db: &Db) -> Result<Vec<Plan>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, name, price_cents, entitlements FROM plans ORDER BY price_cents, name",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Every plan that reads, by id, on the caller's connection. A plan whose row does not
/// decode is left out and logged: the tenants on it are read one by one, where the error
/// reaches the call that needs the plan.
pub(crate) async fn by_id_in(
    conn: &mut sqlx::AnyConnection,
) -> Result<std::collections::HashMap<String, std::sync::Arc<Plan>>, sqlx::Error> {
    let rows = sqlx::query("SELECT id, name, price_cents, entitlements FROM plans")
        .fetch_all(conn)
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| match from_row(r) {
            Ok(p) => Some((p.id.clone(), std::sync::Arc::new(p))),
            Err(e) => {
                tracing::warn!(error = %e, "a plan does not decode");
                None
            }
        })
        .collect())
}

/// A plan by id or (case-insensitive) name.
pub(crate) async fn find(
    conn: &mut sqlx::AnyConnection,
    id_or_name: &str,
) -> Result<Option<Plan>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, name, price_cents, entitlements FROM plans WHERE id = $1 OR LOWER(name) = LOWER($2)",
    )
    .bind(id_or_name)
    .bind(id_or_name)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}
