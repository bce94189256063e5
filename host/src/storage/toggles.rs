//! `tenant_modules`: which modules each tenant has. A row's `source` is `plan` or `override`;
//! the effective state is the override if there is one, else the plan row, else off.
//! `enabled` is stored as 0/1: the `Any` driver cannot decode SQLite booleans.

use std::collections::HashMap;

use sqlx::{AnyConnection, Row};

use super::{Db, now_ms};

/// The two rows that can exist for one (tenant, module).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rows {
    pub plan: Option<bool>,
    pub r#override: Option<bool>,
}

impl Rows {
    /// The effective state: override, else plan, else off.
    pub fn effective(self) -> bool {
        self.r#override.or(self.plan).unwrap_or(false)
    }

    /// Where the effective state comes from: `override`, `plan` or `none`.
    pub fn source(self) -> &'static str {
        if self.r#override.is_some() {
            "override"
        } else if self.plan.is_some() {
            "plan"
        } else {
            "none"
        }
    }

    /// The effective state, or `None` when no row decides it (shown as `null` in audit deltas).
    pub fn decided(self) -> Option<bool> {
        self.r#override.or(self.plan)
    }
}

/// Every row of one tenant, grouped by module.
pub async fn for_tenant(db: &Db, tenant: &str) -> Result<HashMap<String, Rows>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT module, source, enabled FROM tenant_modules WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_all(db.pool())
            .await?;
    let mut out: HashMap<String, Rows> = HashMap::new();
    for r in rows {
        let module: String = r.try_get("module")?;
        let source: String = r.try_get("source")?;
        let enabled = r.try_get::<i64, _>("enabled")? != 0;
        let entry = out.entry(module).or_default();
        match source.as_str() {
            "plan" => entry.plan = Some(enabled),
            _ => entry.r#override = Some(enabled),
        }
    }
    Ok(out)
}

/// Both rows of one (tenant, module), read inside a transaction.
pub async fn rows_in(
    conn: &mut AnyConnection,
    tenant: &str,
    module: &str,
) -> Result<Rows, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT source, enabled FROM tenant_modules WHERE tenant_id = $1 AND module = $2",
    )
    .bind(tenant)
    .bind(module)
    .fetch_all(conn)
    .await?;
    let mut out = Rows::default();
    for r in rows {
        let source: String = r.try_get("source")?;
        let enabled = r.try_get::<i64, _>("enabled")? != 0;
        match source.as_str() {
            "plan" => out.plan = Some(enabled),
            _ => out.r#override = Some(enabled),
        }
    }
    Ok(out)
}

/// Write (or replace) the override row.
pub async fn set_override(
    conn: &mut AnyConnection,
    tenant: &str,
    module: &str,
    enabled: bool,
    actor: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tenant_modules (tenant_id, module, source, enabled, updated_by, updated_at) \
         VALUES ($1, $2, 'override', $3, $4, $5) ON CONFLICT (tenant_id, module, source) \
         DO UPDATE SET enabled = excluded.enabled, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
    )
    .bind(tenant)
    .bind(module)
    .bind(i64::from(enabled))
    .bind(actor)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Rows;

    #[test]
    fn override_beats_plan_beats_nothing() {
        let cases = [
            (None, None, false, "none"),
            (Some(true), None, true, "plan"),
            (Some(false), None, false, "plan"),
            (None, Some(true), true, "override"),
            (None, Some(false), false, "override"),
            (Some(true), Some(false), false, "override"),
            (Some(false), Some(true), true, "override"),
        ];
        for (plan, ov, effective, source) in cases {
            let rows = Rows {
                plan,
                r#override: ov,
            };
            assert_eq!(rows.effective(), effective, "{rows:?}");
            assert_eq!(rows.source(), source, "{rows:?}");
        }
    }
}
