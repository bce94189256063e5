//! What a tenant export holds: each table, the columns given out (never password hashes or
//! token hashes), and the column that ties a row to its tenant. Every row is selected by that
//! column alone, so no other tenant's row can be in a bundle.

use std::io::Write;

use base64::Engine;
use futures_util::TryStreamExt;
use serde_json::{Map, Value};
use sqlx::{Column, Row};

use crate::storage::Db;

/// One table of the bundle.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static str,
    /// The column holding the tenant's id.
    pub tenant_column: &'static str,
    pub order_by: &'static str,
}

const fn table(
    name: &'static str,
    columns: &'static str,
    tenant_column: &'static str,
    order_by: &'static str,
) -> Table {
    Table {
        name,
        columns,
        tenant_column,
        order_by,
    }
}

/// Every table of a bundle, in the order they are written.
pub const TABLES: [Table; 14] = [
    table(
        "tenants",
        "id, name, status, timezone, created_at",
        "id",
        "id",
    ),
    table(
        "users",
        "id, tenant_id, email, role, created_at, last_login_at, disabled_at",
        "tenant_id",
        "id",
    ),
    table(
        "registrations",
        "id, restaurant_name, email, plan_id, status, reason, tenant_id, subscription_id, decided_at, created_at",
        "tenant_id",
        "id",
    ),
    table(
        "subscriptions",
        "id, tenant_id, plan_id, status, billing_cycle, cancel_at_period_end, current_period_end, provider_subscription_id, created_at, updated_at",
        "tenant_id",
        "id",
    ),
    table(
        "invoices",
        "id, tenant_id, subscription_id, status, amount_cents, due_at, paid_at, created_at, updated_at",
        "tenant_id",
        "id",
    ),
    table(
        "billing_events",
        "id, provider_event_id, type, payload, tenant_id, status, attempts, last_error, created_at, processed_at",
        "tenant_id",
        "id",
    ),
    table(
        "tenant_modules",
        "tenant_id, module, source, enabled, updated_by, updated_at",
        "tenant_id",
        "module, source",
    ),
    table(
        "tenant_feature_flags",
        "tenant_id, flag, source, enabled, updated_by, updated_at",
        "tenant_id",
        "flag, source",
    ),
    table(
        "tenant_module_pins",
        "tenant_id, module, version_id, pinned_by, pinned_at",
        "tenant_id",
        "module",
    ),
    table(
        "service_tokens",
        "id, tenant_id, name, created_by, created_at, revoked_at, last_used_at, expires_at",
        "tenant_id",
        "id",
    ),
    table(
        "module_kv",
        "tenant_id, module, key, value, version, updated_at",
        "tenant_id",
        "module, key",
    ),
    table(
        "module_sequences",
        "tenant_id, module, name, next_block",
        "tenant_id",
        "module, name",
    ),
    table(
        "audit_events",
        "id, tenant_id, module, action, actor, payload, request_id, created_at",
        "tenant_id",
        "id",
    ),
    table(
        "invocations",
        "id, tenant_id, module, version, actor, method, path, status, outcome, duration_us, fuel, request_id, trace_id, error, created_at",
        "tenant_id",
        "id",
    ),
];

impl Table {
    /// The database table a bundle table comes from (one is renamed for readers).
    fn source(&self) -> &'static str {
        match self.name {
            "billing_events" => "billing_webhook_events",
            other => other,
        }
    }

    /// The statement selecting one tenant's rows (`$1` is the tenant).
    pub fn select(&self) -> String {
        format!(
            "SELECT {} FROM {} WHERE {} = $1 ORDER BY {}",
            self.columns,
            self.source(),
            self.tenant_column,
            self.order_by
        )
    }

    /// Write one tenant's rows as JSON Lines: how many.
    pub(crate) async fn dump(
        &self,
        conn: &mut sqlx::AnyConnection,
        tenant: &str,
        out: &mut impl Write,
    ) -> anyhow::Result<u64> {
        let sql = self.select();
        let mut rows = sqlx::query(&sql).bind(tenant).fetch(conn);
        let mut n = 0;
        while let Some(row) = rows.try_next().await? {
            serde_json::to_writer(&mut *out, &row_json(&row)?)?;
            out.write_all(b"\n")?;
            n += 1;
        }
        Ok(n)
    }
}

/// One row as a JSON object: numbers stay numbers, text stays text, bytes become text when
/// they are UTF-8 (module kv values are) and `{"base64": …}` when not.
pub fn row_json(row: &sqlx::any::AnyRow) -> anyhow::Result<Value> {
    let mut object = Map::new();
    for (i, column) in row.columns().iter().enumerate() {
        object.insert(column.name().to_string(), cell(row, i)?);
    }
    Ok(Value::Object(object))
}

fn cell(row: &sqlx::any::AnyRow, i: usize) -> anyhow::Result<Value> {
    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
        return Ok(v.map_or(Value::Null, Value::from));
    }
    if let Ok(v) = row.try_get::<Option<String>, _>(i) {
        return Ok(v.map_or(Value::Null, Value::from));
    }
    if let Ok(v) = row.try_get::<Option<Vec<u8>>, _>(i) {
        return Ok(match v {
            None => Value::Null,
            Some(bytes) => match String::from_utf8(bytes) {
                Ok(text) => Value::from(text),
                Err(e) => serde_json::json!({
                    "base64": base64::engine::general_purpose::STANDARD.encode(e.into_bytes())
                }),
            },
        });
    }
    if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
        return Ok(v.map_or(Value::Null, Value::from));
    }
    anyhow::bail!("column {i} has a type the export does not know")
}

/// Read the rows of every table of `tenant` in one snapshot into `dir` as
/// `tables/<name>.jsonl`: (table, rows) in [`TABLES`] order.
pub(crate) async fn dump_all(
    db: &Db,
    tenant: &str,
    dir: &std::path::Path,
) -> anyhow::Result<Vec<(&'static str, u64)>> {
    let mut tx = db.begin().await?;
    if db.backend() == crate::storage::Backend::Postgres {
        // One consistent view across the tables (SQLite's read transaction is one already).
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
    }
    std::fs::create_dir_all(dir.join("tables"))?;
    let mut counts = Vec::new();
    for table in &TABLES {
        let file = std::fs::File::create(dir.join("tables").join(format!("{}.jsonl", table.name)))?;
        let mut out = std::io::BufWriter::new(file);
        let n = table.dump(&mut tx, tenant, &mut out).await?;
        out.flush()?;
        counts.push((table.name, n));
    }
    tx.rollback().await?;
    Ok(counts)
}
