//! A PostgreSQL batch of creations and reads committed as one statement.
//!
//! The committer's transaction for a batch holding creations took five round trips (BEGIN,
//! the creations, their audits, every record, COMMIT), each carrying PostgreSQL's fixed cost
//! per statement (issue 17, target 6). When every call in the batch either only leaves its
//! record (a read) or creates one key it expects absent (a POS ticket, with its audits), one
//! statement does it all: each data-modifying `WITH` runs once, a creation's audits and
//! record go in only if its key did, and the statement commits or fails as a whole, as the
//! transaction did.

use std::fmt::Write as _;

use sqlx::AnyConnection;

use super::commit::{Committed, Job};
use super::kv::{self, Conflict};
use super::stmt::{InsertSql, Param, Stmt, push_values};
use super::{audit, invocations};

/// PostgreSQL's limit on one statement's parameters.
const MAX_PARAMS: usize = 65_535;
/// Columns after a row's own naming the creation it stands or falls with: tenant, module
/// and key, or three NULLs for a read's record.
const OWNER: usize = 3;

/// Commit `jobs` in one statement, if they are all reads and single creations (with their
/// audits) of different keys; `None`, having done nothing, if not.
pub(super) async fn commit(
    conn: &mut AnyConnection,
    jobs: &[&Job],
) -> Result<Option<Vec<Committed>>, sqlx::Error> {
    let Some(stmt) = statement(jobs, super::now_ms()) else {
        return Ok(None);
    };
    let created = kv::Created::read(stmt.fetch_all_on(conn).await?)?;
    Ok(Some(
        jobs.iter()
            .map(|job| match kv::single_create(&job.writes) {
                Some(w) if !created.holds(&job.tenant_id, &job.module, &w.key) => {
                    Committed::Conflict(Conflict { key: w.key.clone() })
                }
                _ => Committed::Ok,
            })
            .collect(),
    ))
}

/// The statement committing `jobs` (stamping creations `now`), which returns the keys
/// created; `None` if a job writes anything but one creation or audits without writing, two
/// jobs create one key, there is no creation, or it would take too many parameters.
pub(super) fn statement<'a>(jobs: &[&'a Job], now: i64) -> Option<Stmt<'a>> {
    let mut creates = Vec::new();
    let (mut audits, mut records) = (0, 0);
    for job in jobs {
        if let Some(w) = kv::single_create(&job.writes) {
            creates.push((job.tenant_id.as_str(), job.module.as_str(), w));
        } else if !job.writes.is_empty() || !job.audits.is_empty() {
            return None;
        }
        audits += job.audits.len();
        records += usize::from(job.invocation.is_some());
    }
    let creates = kv::in_key_order(creates)?;
    let params = creates.len() * kv::INSERT_ABSENT.width()
        + audits * (audit::INSERT.width() + OWNER)
        + records * (invocations::INSERT.width() + OWNER);
    if creates.is_empty() || params > MAX_PARAMS {
        return None;
    }
    let mut sql = format!(
        "WITH created AS ({}{})",
        kv::INSERT_ABSENT.rows(creates.len()),
        kv::ABSENT_ONLY
    );
    let mut params: Vec<Param<'a>> = Vec::with_capacity(params);
    for (tenant, module, w) in creates {
        params.extend(kv::create_values(tenant, module, w, now));
    }
    if audits > 0 {
        push_owned(&mut sql, "audits", &audit::INSERT, audits, params.len() + 1);
        for job in jobs {
            for e in &job.audits {
                params.extend(audit::values(e));
                params.extend(owner(job));
            }
        }
    }
    if records > 0 {
        push_owned(
            &mut sql,
            "records",
            &invocations::INSERT,
            records,
            params.len() + 1,
        );
        for job in jobs {
            if let Some(r) = &job.invocation {
                params.extend(invocations::values(r));
                params.extend(owner(job));
            }
        }
    }
    sql.push_str(" SELECT tenant_id, module, key FROM created");
    Some(Stmt::new(sql, params))
}

/// The creation `job`'s rows stand or fall with, or none for a read.
fn owner(job: &Job) -> [Param<'_>; OWNER] {
    match kv::single_create(&job.writes) {
        Some(w) => [
            Param::Text(&job.tenant_id),
            Param::Text(&job.module),
            Param::Text(&w.key),
        ],
        None => [Param::OptText(None); OWNER],
    }
}

/// `, name AS (INSERT …)` of `rows` rows of `insert`'s table, each with its owner's three
/// columns after its own, placeholders numbered from `$first`: a row goes in if it has no
/// owner or its owner's key was created.
fn push_owned(sql: &mut String, name: &str, insert: &InsertSql, rows: usize, first: usize) {
    let columns = insert.column_list();
    let _ = write!(
        sql,
        ", {name} AS (INSERT INTO {} ({columns}) SELECT {columns} FROM (VALUES ",
        insert.table()
    );
    push_values(sql, first, rows, insert.width() + OWNER);
    let _ = write!(
        sql,
        ") AS v ({columns}, owner_tenant, owner_module, owner_key) \
         WHERE v.owner_key IS NULL OR EXISTS (SELECT 1 FROM created c \
         WHERE c.tenant_id = v.owner_tenant AND c.module = v.owner_module AND c.key = v.owner_key))"
    );
}
