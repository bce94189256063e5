//! `module_kv`: each module's storage, keyed by (tenant, module, key), with a version per key
//! so that read-modify-write calls can be checked for conflicts at commit.

use sqlx::{AnyConnection, Row};

use super::stmt::{Check, Param, Stmt};
use super::{Backend, Db, now_ms};

/// A stored value and its version (bumped on every write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub value: Vec<u8>,
    pub(crate) version: i64,
}

/// What the writer saw when it read the key, checked again at commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// The call never read the key: a blind write, always applied.
    Any,
    /// The call read the key and it did not exist.
    Absent,
    /// The call read the key at this version.
    Version(i64),
}

/// A buffered write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    Set(Vec<u8>),
    Delete,
}

/// One buffered write with the expectation it was made under.
#[derive(Debug, Clone)]
pub struct Write {
    pub(crate) key: String,
    pub(crate) op: Op,
    pub(crate) expect: Expect,
}

/// Another call changed a key this call read before writing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub(crate) key: String,
}

/// Read one key.
pub async fn get(
    db: &Db,
    tenant: &str,
    module: &str,
    key: &str,
) -> Result<Option<Stored>, sqlx::Error> {
    if db.backend() == Backend::Sqlite
        && let Ok(found) = super::local_reads::get(db, tenant, module, key)
    {
        return Ok(found);
    }
    let query = sqlx::query(
        "SELECT value, version FROM module_kv WHERE tenant_id = $1 AND module = $2 AND key = $3",
    )
    .bind(tenant)
    .bind(module)
    .bind(key);
    let row = db
        .on_connection(async |conn| query.fetch_optional(conn).await)
        .await?;
    row.map(|r| {
        Ok(Stored {
            value: r.try_get("value")?,
            version: r.try_get("version")?,
        })
    })
    .transpose()
}

/// Keys starting with `prefix`, strictly after `after` (or from the start), ascending, at most `limit`.
pub async fn list(
    db: &Db,
    tenant: &str,
    module: &str,
    prefix: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<(String, Stored)>, sqlx::Error> {
    list_in(db, tenant, module, prefix, after, limit, Order::Ascending).await
}

/// Which way a listing runs through the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Smallest key first; a cursor is the last key of the page before, and the page starts
    /// after it.
    Ascending,
    /// Largest key first; the page starts before the cursor.
    Descending,
}

/// The listing query, for both backends and both ways of reading (the pool, and
/// `local_reads` on SQLite; SQLite numbers `$n` parameters by first appearance, so the same
/// positions bind).
pub(super) fn list_sql(order: Order) -> &'static str {
    // `key >= prefix` lets the primary key index bound the scan; substr() does the exact test.
    // The index serves both directions.
    match order {
        Order::Ascending => {
            "SELECT key, value, version FROM module_kv \
             WHERE tenant_id = $1 AND module = $2 AND key >= $3 AND substr(key, 1, CAST($4 AS INTEGER)) = $3 \
             AND ($5 IS NULL OR key > $5) ORDER BY key LIMIT $6"
        }
        Order::Descending => {
            "SELECT key, value, version FROM module_kv \
             WHERE tenant_id = $1 AND module = $2 AND key >= $3 AND substr(key, 1, CAST($4 AS INTEGER)) = $3 \
             AND ($5 IS NULL OR key < $5) ORDER BY key DESC LIMIT $6"
        }
    }
}

/// Keys starting with `prefix`, in `order`, from beyond `cursor`, at most `limit`.
pub async fn list_in(
    db: &Db,
    tenant: &str,
    module: &str,
    prefix: &str,
    cursor: Option<&str>,
    limit: i64,
    order: Order,
) -> Result<Vec<(String, Stored)>, sqlx::Error> {
    if db.backend() == Backend::Sqlite
        && let Ok(rows) = super::local_reads::list(db, tenant, module, prefix, cursor, limit, order)
    {
        return Ok(rows);
    }
    let sql = list_sql(order);
    let after = cursor;
    let query = sqlx::query(sql)
        .bind(tenant)
        .bind(module)
        .bind(prefix)
        .bind(prefix.chars().count() as i64)
        .bind(after)
        .bind(limit);
    let rows = db
        .on_connection(async |conn| query.fetch_all(conn).await)
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("key")?,
                Stored {
                    value: r.try_get("value")?,
                    version: r.try_get("version")?,
                },
            ))
        })
        .collect()
}

/// Tenants for which `module` holds at least one key starting with `prefix`, by id. One
/// primary-key probe per tenant, so it stays cheap with many tenants and much data.
pub(crate) async fn tenants_with_prefix(
    db: &Db,
    module: &str,
    prefix: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT t.id FROM tenants t WHERE EXISTS (SELECT 1 FROM module_kv k \
         WHERE k.tenant_id = t.id AND k.module = $1 AND k.key >= $2 \
         AND substr(k.key, 1, CAST($3 AS INTEGER)) = $2) ORDER BY t.id",
    )
    .bind(module)
    .bind(prefix)
    .bind(prefix.chars().count() as i64)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| r.try_get("id")).collect()
}

/// The statement that applies one buffered write, checking what the call read.
pub(crate) fn write_stmt<'a>(tenant: &'a str, module: &'a str, w: &'a Write, now: i64) -> Stmt<'a> {
    use Param::{Blob, Int, Text};
    let key = Text(&w.key);
    match (&w.op, w.expect) {
        (Op::Set(value), Expect::Any) => Stmt::new(
            "INSERT INTO module_kv (tenant_id, module, key, value, version, updated_at) \
             VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT (tenant_id, module, key) \
             DO UPDATE SET value = excluded.value, version = module_kv.version + 1, updated_at = excluded.updated_at",
            vec![Text(tenant), Text(module), key, Blob(value), Int(now)],
        ),
        (Op::Set(value), Expect::Absent) => Stmt::new(
            "INSERT INTO module_kv (tenant_id, module, key, value, version, updated_at) \
             VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT (tenant_id, module, key) DO NOTHING",
            vec![Text(tenant), Text(module), key, Blob(value), Int(now)],
        )
        .checked(Check::Affected),
        (Op::Set(value), Expect::Version(v)) => Stmt::new(
            "UPDATE module_kv SET value = $1, version = version + 1, updated_at = $2 \
             WHERE tenant_id = $3 AND module = $4 AND key = $5 AND version = $6",
            vec![Blob(value), Int(now), Text(tenant), Text(module), key, Int(v)],
        )
        .checked(Check::Affected),
        (Op::Delete, Expect::Any) => Stmt::new(
            "DELETE FROM module_kv WHERE tenant_id = $1 AND module = $2 AND key = $3",
            vec![Text(tenant), Text(module), key],
        ),
        // Read as missing and deleted: still missing is the only consistent state.
        (Op::Delete, Expect::Absent) => Stmt::new(
            "SELECT 1 FROM module_kv WHERE tenant_id = $1 AND module = $2 AND key = $3",
            vec![Text(tenant), Text(module), key],
        )
        .checked(Check::NoRow),
        (Op::Delete, Expect::Version(v)) => Stmt::new(
            "DELETE FROM module_kv WHERE tenant_id = $1 AND module = $2 AND key = $3 AND version = $4",
            vec![Text(tenant), Text(module), key, Int(v)],
        )
        .checked(Check::Affected),
    }
}

/// Apply a call's writes inside the caller's transaction (sqlx). Returns `Ok(Err(conflict))`
/// when a key the call read has changed since; the caller must roll the writes back.
pub(crate) async fn apply(
    conn: &mut AnyConnection,
    tenant: &str,
    module: &str,
    writes: &[Write],
) -> Result<Result<(), Conflict>, sqlx::Error> {
    let now = now_ms();
    for w in writes {
        if !write_stmt(tenant, module, w, now).run_sqlx(conn).await? {
            return Ok(Err(Conflict { key: w.key.clone() }));
        }
    }
    Ok(Ok(()))
}

/// [`apply`] on a direct SQLite connection (the SQLite committer's thread).
pub(crate) fn apply_sqlite(
    conn: &rusqlite::Connection,
    tenant: &str,
    module: &str,
    writes: &[Write],
) -> rusqlite::Result<Result<(), Conflict>> {
    let now = now_ms();
    for w in writes {
        if !write_stmt(tenant, module, w, now).run_sqlite(conn)? {
            return Ok(Err(Conflict { key: w.key.clone() }));
        }
    }
    Ok(Ok(()))
}
