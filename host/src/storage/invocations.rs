//! `invocations`: one row per module call, written by the group committer.

use serde::Serialize;
use sqlx::Row;

use super::page::{self, Position};
use super::stmt::{InsertSql, Param, Stmt};
use super::{Db, rfc3339};

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Returned normally with a status below 500; its writes were committed.
    Ok,
    /// Returned a 5xx, or lost a write conflict for good; nothing written.
    Error,
    /// Refused before the module ran (module off for the tenant).
    Denied,
    /// The guest trapped.
    Trap,
    /// The guest ran past its CPU deadline.
    Timeout,
    /// The guest hit a memory, response size or host-call limit.
    Limit,
    /// Stopped by a kill switch while running.
    Interrupted,
}

impl Outcome {
    /// The stored and displayed name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Denied => "denied",
            Outcome::Trap => "trap",
            Outcome::Timeout => "timeout",
            Outcome::Limit => "limit",
            Outcome::Interrupted => "interrupted",
        }
    }

    /// Parse a stored or query-string name.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ok" => Outcome::Ok,
            "error" => Outcome::Error,
            "denied" => Outcome::Denied,
            "trap" => Outcome::Trap,
            "timeout" => Outcome::Timeout,
            "limit" => Outcome::Limit,
            "interrupted" => Outcome::Interrupted,
            _ => return None,
        })
    }
}

/// One invocation record.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub id: String,
    pub tenant_id: String,
    pub module: String,
    pub version: Option<String>,
    pub actor: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub outcome: Outcome,
    pub duration_us: i64,
    pub fuel: i64,
    pub request_id: String,
    pub error: Option<String>,
    pub created_at: i64,
    /// The trace the call belongs to (32 hex digits), when traces are on.
    pub trace_id: Option<String>,
}

const COLUMNS: usize = 15;

/// The INSERT of records.
pub(crate) static INSERT: InsertSql = InsertSql::new(
    "invocations",
    "id, tenant_id, module, version, actor, method, path, status, \
     outcome, duration_us, fuel, request_id, error, created_at, trace_id",
    COLUMNS,
);

/// One multi-row INSERT for many records (the group committer's hot path on PostgreSQL).
pub(crate) fn insert_many_stmt<'a>(rows: &[&'a Invocation]) -> Stmt<'a> {
    Stmt::new(
        INSERT.rows(rows.len()),
        rows.iter().flat_map(|r| values(r)).collect(),
    )
}

/// Insert `records` on a direct SQLite connection (the committer's, in its transaction).
pub(crate) fn insert_sqlite(
    conn: &rusqlite::Connection,
    records: &[&Invocation],
) -> rusqlite::Result<()> {
    INSERT.run_each_sqlite(conn, records.iter().map(|r| values(r)))
}

/// A record's values in the INSERT's column order.
pub(crate) fn values(r: &Invocation) -> [Param<'_>; COLUMNS] {
    use Param::{Int, OptText, Text};
    [
        Text(&r.id),
        Text(&r.tenant_id),
        Text(&r.module),
        OptText(r.version.as_deref()),
        Text(&r.actor),
        Text(&r.method),
        Text(&r.path),
        Int(i64::from(r.status)),
        Text(r.outcome.as_str()),
        Int(r.duration_us),
        Int(r.fuel),
        Text(&r.request_id),
        OptText(r.error.as_deref()),
        Int(r.created_at),
        OptText(r.trace_id.as_deref()),
    ]
}

/// Filters for [`page`]; `None` means any.
#[derive(Debug, Default)]
pub(crate) struct InvocationFilter {
    pub(crate) tenant_id: Option<String>,
    pub(crate) module: Option<String>,
    pub(crate) outcome: Option<Outcome>,
    pub(crate) request_id: Option<String>,
    /// Created at or after, in Unix milliseconds.
    pub(crate) since_ms: Option<i64>,
    /// Created before, in Unix milliseconds.
    pub(crate) until_ms: Option<i64>,
    /// After this row of the page before.
    pub(crate) after: Option<Position>,
    pub(crate) limit: i64,
}

/// A record as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvocationView {
    pub id: String,
    pub tenant_id: String,
    pub module: String,
    pub version: Option<String>,
    pub actor: Option<String>,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub outcome: String,
    pub duration_ms: f64,
    pub fuel: i64,
    pub request_id: String,
    pub error: Option<String>,
    pub created_at: String,
    /// The trace the call belongs to, when traces were on (in the tracing backend if sampled).
    pub trace_id: Option<String>,
}

/// Whether the record `id` is stored.
pub(crate) async fn exists(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("SELECT 1 FROM invocations WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .is_some())
}

/// Newest first, a page at a time: the rows and where the next page starts.
pub(crate) async fn page(
    db: &Db,
    f: &InvocationFilter,
) -> Result<(Vec<InvocationView>, Option<Position>), sqlx::Error> {
    let rows = page::Newest::from(
        "invocations",
        "id, tenant_id, module, version, actor, method, path, status, outcome, duration_us, \
         fuel, request_id, error, created_at, trace_id",
    )
    .equal("tenant_id", f.tenant_id.as_deref())
    .equal("module", f.module.as_deref())
    .equal("outcome", f.outcome.map(Outcome::as_str))
    .equal("request_id", f.request_id.as_deref())
    .fetch(db, f.since_ms, f.until_ms, f.after.as_ref(), f.limit)
    .await?;
    page::split(rows, f.limit, |row| {
        let duration_us: i64 = row.try_get("duration_us")?;
        Ok(InvocationView {
            id: row.try_get("id")?,
            tenant_id: row.try_get("tenant_id")?,
            module: row.try_get("module")?,
            version: row.try_get("version")?,
            actor: row.try_get("actor")?,
            method: row.try_get("method")?,
            path: row.try_get("path")?,
            status: row.try_get("status")?,
            outcome: row.try_get("outcome")?,
            duration_ms: duration_us as f64 / 1000.0,
            fuel: row.try_get("fuel")?,
            request_id: row.try_get("request_id")?,
            error: row.try_get("error")?,
            created_at: rfc3339(row.try_get("created_at")?),
            trace_id: row.try_get("trace_id")?,
        })
    })
}

/// Every record of `tenant`, oldest first (for the test kit: a tenant there has few).
pub async fn all_for_tenant(db: &Db, tenant: &str) -> Result<Vec<InvocationView>, sqlx::Error> {
    let filter = InvocationFilter {
        tenant_id: Some(tenant.to_string()),
        limit: 100_000,
        ..InvocationFilter::default()
    };
    let (mut rows, _) = page(db, &filter).await?;
    rows.reverse();
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u32, optional: Option<&str>) -> Invocation {
        Invocation {
            id: format!("inv-{n}"),
            tenant_id: "t1".into(),
            module: "pos".into(),
            version: optional.map(str::to_string),
            actor: "staff".into(),
            method: "GET".into(),
            path: format!("/tickets/{n}"),
            status: 200,
            outcome: Outcome::Ok,
            duration_us: i64::from(n),
            fuel: 1_000 + i64::from(n),
            request_id: format!("req-{n}"),
            error: optional.map(str::to_string),
            created_at: i64::from(n),
            trace_id: optional.map(str::to_string),
        }
    }

    /// One statement runs for every record of a batch: each record's values, none of the one
    /// before (an optional value it lacks is NULL, not the last record's).
    #[tokio::test]
    async fn a_batchs_records_go_in_each_with_its_own_values() {
        let dir = tempfile::tempdir().unwrap();
        let (db, url) = crate::storage::scratch_sqlite(&dir).await;
        let (first, second) = (record(1, Some("v7")), record(2, None));
        let conn = super::super::commit::open_sqlite(&url).unwrap();
        insert_sqlite(&conn, &[&first, &second]).unwrap();
        drop(conn);
        let rows = all_for_tenant(&db, "t1").await.unwrap();
        let seen: Vec<_> = rows
            .iter()
            .map(|r| {
                let optional = (
                    r.version.as_deref(),
                    r.error.as_deref(),
                    r.trace_id.as_deref(),
                );
                (r.id.as_str(), r.path.as_str(), r.fuel, optional)
            })
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "inv-1",
                    "/tickets/1",
                    1_001,
                    (Some("v7"), Some("v7"), Some("v7"))
                ),
                ("inv-2", "/tickets/2", 1_002, (None, None, None)),
            ]
        );
    }

    #[test]
    fn outcome_names_round_trip() {
        for o in [
            Outcome::Ok,
            Outcome::Error,
            Outcome::Denied,
            Outcome::Trap,
            Outcome::Timeout,
            Outcome::Limit,
            Outcome::Interrupted,
        ] {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::parse("OK"), None);
    }
}
