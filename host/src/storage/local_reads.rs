//! Module kv reads on SQLite, on the calling thread. Through the pool, every read went to
//! sqlx's worker thread for the connection and back: two thread hops and a channel per read,
//! more than the read itself (issue 17's profile of `GET pos/tickets`). A guest's kv read
//! now runs on the thread the guest runs on, through a connection of that thread's own, with
//! its statements cached. SQLite reads in WAL mode take microseconds and do not wait for the
//! writer, so holding the thread for one costs less than the hops did; a read that would
//! wait goes through the pool instead (`kv::get`, `kv::list_in`).

use std::cell::RefCell;

use rusqlite::OptionalExtension;

use super::Db;
use super::kv::Stored;
use super::stmt::Stmt;

/// Databases one thread keeps a reader open for (tests open many; a server one).
const MAX_OPEN: usize = 4;

thread_local! {
    /// This thread's readers, by the generation of the `Db` they read for, newest last.
    static READERS: RefCell<Vec<(u64, rusqlite::Connection)>> = const { RefCell::new(Vec::new()) };
}

fn failed(e: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other(e.to_string()))
}

/// Run `read` on this thread's reader for `db`, opening one if needed.
fn with_reader<T>(
    db: &Db,
    read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
) -> Result<T, sqlx::Error> {
    READERS.with(|readers| {
        let mut readers = readers.borrow_mut();
        let at = match readers.iter().position(|(g, _)| *g == db.generation()) {
            Some(at) => at,
            None => {
                if readers.len() >= MAX_OPEN {
                    readers.remove(0);
                }
                let conn = super::commit::open_sqlite(db.url()).map_err(failed)?;
                // Readers in WAL mode wait only in rare moments (recovery, another process
                // resetting the log). Never hold the thread long for one: after this the
                // read goes through the pool, which may wait.
                conn.busy_timeout(std::time::Duration::from_millis(50))
                    .map_err(failed)?;
                readers.push((db.generation(), conn));
                readers.len() - 1
            }
        };
        read(&readers[at].1).map_err(failed)
    })
}

/// One key of `module`'s kv for `tenant`.
pub(super) fn get(
    db: &Db,
    tenant: &str,
    module: &str,
    key: &str,
) -> Result<Option<Stored>, sqlx::Error> {
    with_reader(db, |conn| {
        conn.prepare_cached(
            "SELECT value, version FROM module_kv WHERE tenant_id = ?1 AND module = ?2 AND key = ?3",
        )?
        .query_row((tenant, module, key), |r| {
            Ok(Stored {
                value: r.get(0)?,
                version: r.get(1)?,
            })
        })
        .optional()
    })
}

/// The rows of a kv listing (`kv::list_stmt`), the same statement the pool would run.
pub(super) fn list(db: &Db, stmt: &Stmt<'_>) -> Result<Vec<(String, Stored)>, sqlx::Error> {
    with_reader(db, |conn| {
        let mut prepared = stmt.prepare_sqlite(conn)?;
        let mut rows = prepared.raw_query();
        let mut listed = Vec::new();
        while let Some(r) = rows.next()? {
            listed.push((
                r.get(0)?,
                Stored {
                    value: r.get(1)?,
                    version: r.get(2)?,
                },
            ));
        }
        Ok(listed)
    })
}
