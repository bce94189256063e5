//! `tenant_modules` and `tenant_feature_flags`: which modules and flags each tenant has. A
//! row's `source` is `plan` or `override`; the effective state is the override if there is
//! one, else the plan row, else off. `enabled` is stored as 0/1: the `Any` driver cannot
//! decode SQLite booleans.

use std::collections::HashMap;

use sqlx::{AnyConnection, Row};

use super::{Db, now_ms};

/// Which of the two tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// `tenant_modules` (column `module`).
    Module,
    /// `tenant_feature_flags` (column `flag`).
    Flag,
}

impl Kind {
    fn table(self) -> &'static str {
        match self {
            Kind::Module => "tenant_modules",
            Kind::Flag => "tenant_feature_flags",
        }
    }

    fn column(self) -> &'static str {
        match self {
            Kind::Module => "module",
            Kind::Flag => "flag",
        }
    }
}

/// Where a row comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Plan,
    Override,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Plan => "plan",
            Source::Override => "override",
        }
    }
}

/// The two rows that can exist for one (tenant, name).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Rows {
    pub(crate) plan: Option<bool>,
    pub(crate) r#override: Option<bool>,
}

impl Rows {
    /// The effective state: override, else plan, else off.
    pub(crate) fn effective(self) -> bool {
        self.r#override.or(self.plan).unwrap_or(false)
    }

    /// Where the effective state comes from: `override`, `plan` or `none`.
    pub(crate) fn source(self) -> &'static str {
        if self.r#override.is_some() {
            "override"
        } else if self.plan.is_some() {
            "plan"
        } else {
            "none"
        }
    }

    /// The effective state, or `None` when no row decides it (shown as `null` in audit deltas).
    pub(crate) fn decided(self) -> Option<bool> {
        self.r#override.or(self.plan)
    }

    fn set(&mut self, source: &str, enabled: bool) {
        match source {
            "plan" => self.plan = Some(enabled),
            _ => self.r#override = Some(enabled),
        }
    }
}

/// Every row of one tenant in one table, grouped by name.
pub(crate) async fn for_tenant(
    db: &Db,
    kind: Kind,
    tenant: &str,
) -> Result<HashMap<String, Rows>, sqlx::Error> {
    let mut conn = db.pool().acquire().await?;
    for_tenant_in(&mut conn, kind, tenant).await
}

/// Every row of one tenant in one table, read inside a transaction.
pub(crate) async fn for_tenant_in(
    conn: &mut AnyConnection,
    kind: Kind,
    tenant: &str,
) -> Result<HashMap<String, Rows>, sqlx::Error> {
    let sql = format!(
        "SELECT {} AS name, source, enabled FROM {} WHERE tenant_id = $1",
        kind.column(),
        kind.table()
    );
    let rows = sqlx::query(&sql).bind(tenant).fetch_all(conn).await?;
    let mut out: HashMap<String, Rows> = HashMap::new();
    for r in rows {
        let enabled = r.try_get::<i64, _>("enabled")? != 0;
        let source: String = r.try_get("source")?;
        out.entry(r.try_get("name")?)
            .or_default()
            .set(&source, enabled);
    }
    Ok(out)
}

/// Every row of `kind` for each of `tenants`, grouped by tenant: reconciliation re-reads
/// the cached views in batches with this.
pub(crate) async fn for_tenants_in(
    conn: &mut AnyConnection,
    kind: Kind,
    tenants: &[String],
) -> Result<HashMap<String, HashMap<String, Rows>>, sqlx::Error> {
    let sql = format!(
        "SELECT tenant_id, {} AS name, source, enabled FROM {} WHERE tenant_id IN ({})",
        kind.column(),
        kind.table(),
        super::marks(1, tenants.len())
    );
    let mut q = sqlx::query(&sql);
    for t in tenants {
        q = q.bind(t);
    }
    let mut out: HashMap<String, HashMap<String, Rows>> = HashMap::new();
    for r in q.fetch_all(conn).await? {
        let enabled = r.try_get::<i64, _>("enabled")? != 0;
        let source: String = r.try_get("source")?;
        out.entry(r.try_get("tenant_id")?)
            .or_default()
            .entry(r.try_get("name")?)
            .or_default()
            .set(&source, enabled);
    }
    Ok(out)
}

/// Write (or replace) one row.
pub(crate) async fn upsert(
    conn: &mut AnyConnection,
    kind: Kind,
    source: Source,
    tenant: &str,
    name: &str,
    enabled: bool,
    actor: &str,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO {table} (tenant_id, {col}, source, enabled, updated_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, {col}, source) \
         DO UPDATE SET enabled = excluded.enabled, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        table = kind.table(),
        col = kind.column()
    );
    sqlx::query(&sql)
        .bind(tenant)
        .bind(name)
        .bind(source.as_str())
        .bind(i64::from(enabled))
        .bind(actor)
        .bind(now_ms())
        .execute(conn)
        .await?;
    Ok(())
}

/// Remove one row (no error when it does not exist).
pub(crate) async fn remove(
    conn: &mut AnyConnection,
    kind: Kind,
    source: Source,
    tenant: &str,
    name: &str,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "DELETE FROM {} WHERE tenant_id = $1 AND {} = $2 AND source = $3",
        kind.table(),
        kind.column()
    );
    sqlx::query(&sql)
        .bind(tenant)
        .bind(name)
        .bind(source.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

/// How many tenants have each module on and off, by effective state (override, else plan):
/// `(module, enabled, tenants)`. Tenants with no row for a module are not counted.
pub(crate) async fn adoption(db: &Db) -> Result<Vec<(String, bool, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT module, effective, COUNT(*) AS tenants FROM (\
           SELECT tenant_id, module, COALESCE(\
             MAX(CASE WHEN source = 'override' THEN enabled END), \
             MAX(CASE WHEN source = 'plan' THEN enabled END)) AS effective \
           FROM tenant_modules GROUP BY tenant_id, module) AS states \
         GROUP BY module, effective ORDER BY module, effective",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>("module")?,
                r.try_get::<i64, _>("effective")? == 1,
                r.try_get::<i64, _>("tenants")?,
            ))
        })
        .collect()
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
