//! Module toggle analytics for dashboards: toggles per module and state over a window, and
//! how many tenants created in the window have each module on.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use super::{Db, rfc3339};

/// Toggles of one module in the window.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ModuleToggles {
    pub(crate) module: String,
    pub(crate) enabled: u64,
    pub(crate) disabled: u64,
}

/// Tenants created in the window that have a module on now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NewTenants {
    pub(crate) module: String,
    pub(crate) tenants: i64,
}

/// One module's toggles on one day (UTC).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DailyToggles {
    /// `YYYY-MM-DD`, UTC.
    pub(crate) day: String,
    pub(crate) module: String,
    pub(crate) enabled: u64,
    pub(crate) disabled: u64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) toggles: Vec<ModuleToggles>,
    /// By day, then module; days without toggles are left out.
    pub(crate) daily: Vec<DailyToggles>,
    pub(crate) new_tenants: Vec<NewTenants>,
}

/// Count `registration.module_toggled` deltas since `since_ms`, by module and new state.
pub(crate) async fn module_toggles(db: &Db, since_ms: i64) -> Result<Report, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT payload, created_at FROM audit_events WHERE module = 'superadmin' \
         AND action = 'registration.module_toggled' AND created_at >= $1",
    )
    .bind(since_ms)
    .fetch_all(db.pool())
    .await?;
    let mut by_module: BTreeMap<String, ModuleToggles> = BTreeMap::new();
    let mut by_day: BTreeMap<(String, String), DailyToggles> = BTreeMap::new();
    for r in rows {
        let payload: String = r.try_get("payload")?;
        let day = rfc3339(r.try_get("created_at")?)[..10].to_string();
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&payload) else {
            continue;
        };
        let Some(toggles) = v["delta"]["toggles"].as_object() else {
            continue;
        };
        for (module, d) in toggles {
            let entry = by_module
                .entry(module.clone())
                .or_insert_with(|| ModuleToggles {
                    module: module.clone(),
                    ..ModuleToggles::default()
                });
            let daily = by_day
                .entry((day.clone(), module.clone()))
                .or_insert_with(|| DailyToggles {
                    day: day.clone(),
                    module: module.clone(),
                    ..DailyToggles::default()
                });
            if d["current"].as_bool().unwrap_or(false) {
                entry.enabled += 1;
                daily.enabled += 1;
            } else {
                entry.disabled += 1;
                daily.disabled += 1;
            }
        }
    }
    // Effective state in SQL: an enabled override, or an enabled plan row with no override.
    let rows = sqlx::query(
        "SELECT tm.module AS module, COUNT(DISTINCT tm.tenant_id) AS tenants FROM tenant_modules tm \
         JOIN tenants t ON t.id = tm.tenant_id WHERE t.created_at >= $1 AND tm.enabled = 1 \
         AND (tm.source = 'override' OR NOT EXISTS (SELECT 1 FROM tenant_modules o \
              WHERE o.tenant_id = tm.tenant_id AND o.module = tm.module AND o.source = 'override')) \
         GROUP BY tm.module ORDER BY tm.module",
    )
    .bind(since_ms)
    .fetch_all(db.pool())
    .await?;
    let new_tenants = rows
        .iter()
        .map(|r| {
            Ok(NewTenants {
                module: r.try_get("module")?,
                tenants: r.try_get("tenants")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(Report {
        toggles: by_module.into_values().collect(),
        daily: by_day.into_values().collect(),
        new_tenants,
    })
}
