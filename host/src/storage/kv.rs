//! `module_kv`: each module's storage, keyed by (tenant, module, key), with a version per key
//! so that read-modify-write calls can be checked for conflicts at commit.

use sqlx::{AnyConnection, Row};

use super::stmt::{Check, InsertSql, Param, Stmt};
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
    /// The call read the key and it did not exist, or created it without a read
    /// (`kv.create`): it must not exist at commit.
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

/// The smallest string above every string that starts with `prefix` (`None` when nothing
/// is: an empty prefix, or one of only the largest character). Keys compare byte by byte on
/// both backends (SQLite's `BINARY`, PostgreSQL's `COLLATE "C"` on `module_kv.key`), which
/// for UTF-8 is the order of characters, so `prefix <= key < prefix_end(prefix)` holds exactly
/// for the keys that start with `prefix`.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next character, stepping over the surrogates, which are not characters.
        let next = match last as u32 + 1 {
            0xD800 => Some('\u{E000}'),
            n => char::from_u32(n),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The listing statement, for both backends and both ways of reading (the pool, and
/// `local_reads` on SQLite): keys from `prefix` up to `end` (its [`prefix_end`]), beyond
/// `cursor`, in `order`. Every bound is a plain comparison on the primary key, so the index
/// scan starts and stops at the page: a listing reads its page, not every key that sorts
/// after its prefix (a tenant's tickets when its menu is listed, as it did until issue 17's
/// mixed traffic showed the menu slowing with every ticket sold).
pub(super) fn list_stmt<'a>(
    tenant: &'a str,
    module: &'a str,
    prefix: &'a str,
    end: Option<&'a str>,
    cursor: Option<&'a str>,
    limit: i64,
    order: Order,
) -> Stmt<'a> {
    use Param::{Int, Text};
    let mut params = vec![Text(tenant), Text(module), Text(prefix)];
    params.extend(end.map(Text));
    params.extend(cursor.map(Text));
    params.push(Int(limit));
    Stmt::new(list_sql(order, end.is_some(), cursor.is_some()), params)
}

/// The SQL of [`list_stmt`]: one of eight, each built once.
fn list_sql(order: Order, bounded: bool, after_cursor: bool) -> &'static str {
    static SQL: std::sync::OnceLock<[String; 8]> = std::sync::OnceLock::new();
    let all = SQL.get_or_init(|| {
        std::array::from_fn(|i| {
            let order = if i & 4 == 0 {
                Order::Ascending
            } else {
                Order::Descending
            };
            build_list_sql(order, i & 2 != 0, i & 1 != 0)
        })
    });
    &all[usize::from(order == Order::Descending) * 4
        + usize::from(bounded) * 2
        + usize::from(after_cursor)]
}

/// One listing's SQL. Parameters are numbered in the order they appear (SQLite numbers `$n`
/// by first appearance), as [`list_stmt`] pushes them.
fn build_list_sql(order: Order, bounded: bool, after_cursor: bool) -> String {
    let (beyond, direction) = match order {
        Order::Ascending => (">", ""),
        Order::Descending => ("<", " DESC"),
    };
    let mut sql = String::from(
        "SELECT key, value, version FROM module_kv \
         WHERE tenant_id = $1 AND module = $2 AND key >= $3",
    );
    let mut n = 3;
    if bounded {
        n += 1;
        sql.push_str(&format!(" AND key < ${n}"));
    }
    if after_cursor {
        n += 1;
        sql.push_str(&format!(" AND key {beyond} ${n}"));
    }
    sql.push_str(&format!(" ORDER BY key{direction} LIMIT ${}", n + 1));
    sql
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
    let end = prefix_end(prefix);
    let stmt = list_stmt(tenant, module, prefix, end.as_deref(), cursor, limit, order);
    if db.backend() == Backend::Sqlite
        && let Ok(rows) = super::local_reads::list(db, &stmt)
    {
        return Ok(rows);
    }
    let rows = db
        .on_connection(async |conn| stmt.fetch_all_on(conn).await)
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
    // Bounded above too, so a tenant without such a key costs a probe, not a scan of every
    // key after the prefix.
    let end = prefix_end(prefix);
    let sql = format!(
        "SELECT t.id FROM tenants t WHERE EXISTS (SELECT 1 FROM module_kv k \
         WHERE k.tenant_id = t.id AND k.module = $1 AND k.key >= $2{}) ORDER BY t.id",
        if end.is_some() { " AND k.key < $3" } else { "" }
    );
    let mut query = sqlx::query(&sql).bind(module).bind(prefix);
    if let Some(end) = &end {
        query = query.bind(end);
    }
    let rows = query.fetch_all(db.pool()).await?;
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

/// The INSERT of keys their calls expect absent, many rows at once.
pub(crate) static INSERT_ABSENT: InsertSql = InsertSql::new(
    "module_kv",
    "tenant_id, module, key, value, version, updated_at",
    CREATE_COLUMNS,
);
/// Columns of one row of [`INSERT_ABSENT`].
const CREATE_COLUMNS: usize = 6;

/// The end of [`INSERT_ABSENT`]'s statement: a key taken already is left as it is, and the
/// keys that went in come back.
pub(crate) const ABSENT_ONLY: &str =
    " ON CONFLICT (tenant_id, module, key) DO NOTHING RETURNING tenant_id, module, key";

/// A creation's row of [`INSERT_ABSENT`], stamped `now`.
pub(crate) fn create_values<'a>(
    tenant: &'a str,
    module: &'a str,
    w: &'a Write,
    now: i64,
) -> [Param<'a>; CREATE_COLUMNS] {
    use Param::{Blob, Int, Text};
    let Op::Set(value) = &w.op else {
        unreachable!("a create sets its key")
    };
    [
        Text(tenant),
        Text(module),
        Text(&w.key),
        Blob(value),
        Int(1),
        Int(now),
    ]
}

/// A call's one write, if that is all it writes and it creates a key the call expects
/// absent (read as absent, or written by `kv.create`: a POS ticket): what [`insert_absent`]
/// takes.
pub(crate) fn single_create(writes: &[Write]) -> Option<&Write> {
    match writes {
        [
            w @ Write {
                op: Op::Set(_),
                expect: Expect::Absent,
                ..
            },
        ] => Some(w),
        _ => None,
    }
}

/// `creates` (tenant, module, a [`single_create`]) in key order, so two servers creating the
/// same keys lock them in one order; `None` if a key comes twice (one statement would create
/// it once and count it for both).
pub(crate) fn in_key_order<'a>(
    mut creates: Vec<(&'a str, &'a str, &'a Write)>,
) -> Option<Vec<(&'a str, &'a str, &'a Write)>> {
    creates.sort_by_key(|(tenant, module, w)| (*tenant, *module, w.key.as_str()));
    let twice = creates
        .windows(2)
        .any(|p| (p[0].0, p[0].1, &p[0].2.key) == (p[1].0, p[1].1, &p[1].2.key));
    (!twice).then_some(creates)
}

/// Create each of `creates` (tenant, module, a [`single_create`]), in one statement inside
/// the caller's transaction; whether each went in, in order (`false`: its key was taken, a
/// conflict). Their keys must differ: a key twice would come back once and count for both.
/// Rows go in in key order, so two servers creating the same keys lock them in one order.
pub(crate) async fn insert_absent(
    conn: &mut AnyConnection,
    creates: &[(&str, &str, &Write)],
) -> Result<Vec<bool>, sqlx::Error> {
    let now = now_ms();
    // The caller gives each key once; should it not, the batch fails and its calls are
    // committed one by one.
    let ordered = in_key_order(creates.to_vec())
        .ok_or_else(|| sqlx::Error::Protocol("a key created twice in one statement".into()))?;
    let params = ordered
        .into_iter()
        .flat_map(|(tenant, module, w)| create_values(tenant, module, w, now))
        .collect();
    let sql = format!("{}{ABSENT_ONLY}", INSERT_ABSENT.rows(creates.len()));
    let created = Created::read(Stmt::new(sql, params).fetch_all_on(conn).await?)?;
    Ok(creates
        .iter()
        .map(|(tenant, module, w)| created.holds(tenant, module, &w.key))
        .collect())
}

/// The keys a statement ending in [`ABSENT_ONLY`] created, from the rows it returned.
pub(crate) struct Created(Vec<(String, String, String)>);

impl Created {
    pub(crate) fn read(rows: Vec<sqlx::any::AnyRow>) -> Result<Self, sqlx::Error> {
        let mut keys: Vec<(String, String, String)> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<_, sqlx::Error>>()?;
        keys.sort_unstable();
        Ok(Self(keys))
    }

    /// Whether `tenant`'s `module`'s `key` went in.
    pub(crate) fn holds(&self, tenant: &str, module: &str, key: &str) -> bool {
        self.0
            .binary_search_by(|(t, m, k)| {
                (t.as_str(), m.as_str(), k.as_str()).cmp(&(tenant, module, key))
            })
            .is_ok()
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

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;

    #[test]
    fn a_prefix_ends_at_the_next_string_past_all_its_keys() {
        assert_eq!(prefix_end("item/").as_deref(), Some("item0"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("caf\u{E9}").as_deref(), Some("caf\u{EA}"));
        assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("\u{10FFFF}\u{10FFFF}"), None);
        // Every key that starts with the prefix is below its end, in byte order.
        let end = prefix_end("ab").unwrap();
        for key in ["ab", "ab\u{10FFFF}", "ab\u{7F}", "abz"] {
            assert!("ab" <= key && key < end.as_str(), "{key}");
        }
        for key in ["aa\u{10FFFF}", "ac", "b"] {
            assert!(!(key >= "ab" && key < end.as_str()), "{key}");
        }
    }

    /// 4,000 tickets and one menu item for (t1, pos): the keys after `item/` are tickets.
    const TICKETS: i64 = 4_000;
    const SEED: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000) \
         INSERT INTO module_kv (tenant_id, module, key, value, version, updated_at) \
         SELECT 't1', 'pos', 'ticket/' || (100000 + i), 'x', 1, 0 FROM n";

    /// The listings of the menu a POS with many tickets makes, every way round.
    fn menu_listings() -> Vec<(Option<&'static str>, Order)> {
        let mut all = Vec::new();
        for order in [Order::Ascending, Order::Descending] {
            for cursor in [None, Some("item/0")] {
                all.push((cursor, order));
            }
        }
        all
    }

    #[tokio::test]
    async fn a_listing_on_sqlite_steps_through_its_page_only() {
        let dir = tempfile::tempdir().unwrap();
        let (db, url) = crate::storage::scratch_sqlite(&dir).await;
        sqlx::query(SEED).execute(db.pool()).await.unwrap();
        sqlx::query(
            "INSERT INTO module_kv (tenant_id, module, key, value, version, updated_at) \
             VALUES ('t1', 'pos', 'item/1', 'x', 1, 0)",
        )
        .execute(db.pool())
        .await
        .unwrap();
        let conn = super::super::commit::open_sqlite(&url).unwrap();
        let end = prefix_end("item/");
        for (cursor, order) in menu_listings() {
            let stmt = list_stmt("t1", "pos", "item/", end.as_deref(), cursor, 1000, order);
            let mut prepared = stmt.prepare_sqlite(&conn).unwrap();
            // The count is the statement's, kept across runs of a cached statement.
            prepared.reset_status(rusqlite::StatementStatus::VmStep);
            let mut rows = prepared.raw_query();
            let mut keys = Vec::new();
            while let Some(r) = rows.next().unwrap() {
                keys.push(r.get::<_, String>(0).unwrap());
            }
            drop(rows);
            let wanted: &[&str] = match (cursor, order) {
                (None, _) | (Some(_), Order::Ascending) => &["item/1"],
                (Some(_), Order::Descending) => &[],
            };
            assert_eq!(keys, wanted, "{cursor:?} {order:?}");
            // Without the upper bound the scan read every ticket after the prefix.
            let steps = prepared.get_status(rusqlite::StatementStatus::VmStep);
            assert!(
                i64::from(steps) < TICKETS / 10,
                "{cursor:?} {order:?}: {steps} steps for one key: {}",
                stmt.sql
            );
        }
    }

    #[tokio::test]
    async fn a_listing_on_postgres_reads_no_key_outside_its_page() {
        let url = super::super::test_postgres_url();
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        // A table of this connection's own, shaped as the migration makes `module_kv`, in
        // the schema searched first; the index is what the plan is about, so it is used.
        for sql in [
            "CREATE TEMP TABLE module_kv (tenant_id TEXT NOT NULL, module TEXT NOT NULL, \
             key TEXT COLLATE \"C\" NOT NULL, value BYTEA NOT NULL, version BIGINT NOT NULL, \
             updated_at BIGINT NOT NULL, PRIMARY KEY (tenant_id, module, key))",
            &SEED.replace("'x'", "'x'::bytea"),
            "INSERT INTO module_kv VALUES ('t1', 'pos', 'item/1', 'x'::bytea, 1, 0)",
            "ANALYZE module_kv",
            "SET enable_seqscan = off",
        ] {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        let end = prefix_end("item/");
        for (cursor, order) in menu_listings() {
            let stmt = list_stmt("t1", "pos", "item/", end.as_deref(), cursor, 1000, order);
            let explain = Stmt::new(
                format!("EXPLAIN (ANALYZE, FORMAT TEXT) {}", stmt.sql),
                stmt.params.clone(),
            );
            let plan: Vec<String> = explain
                .fetch_all_on(&mut conn)
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get::<String, _>(0).unwrap())
                .collect();
            let plan = plan.join("\n");
            assert!(plan.contains("Index"), "{plan}");
            assert!(!plan.contains("Rows Removed by Filter"), "{plan}");
            assert!(plan.contains("key < 'item0'"), "bounded above: {plan}");
        }
        let _ = conn.close().await;
    }
}
