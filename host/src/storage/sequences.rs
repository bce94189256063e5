//! `module_sequences`: numbers a module takes from a named sequence (`kv.next-number`).
//!
//! A server reserves a block of numbers in one short transaction of its own and hands them
//! out from memory, so thousands of ticket creations a second share one row write per
//! block instead of rewriting one hot kv key each (which serialised them: issue 17). A
//! number is never given twice, by any server; within one server they increase. Numbers
//! reserved but not handed out when a server stops are skipped (gaps), as with
//! PostgreSQL's sequences. Two servers interleave by block.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::Row;

use super::{Backend, Db};

/// Numbers reserved per trip to the database.
const BLOCK: i64 = 32;
/// The largest number a sequence gives, far below where its arithmetic could overflow.
pub(crate) const MAX_NUMBER: u64 = 1 << 62;

/// The numbers a server holds of one sequence: `next..end`.
#[derive(Default)]
struct Block {
    next: i64,
    end: i64,
}

type Key = (String, String, String);

/// Every sequence this server has taken numbers from, each with its block.
pub(crate) struct Sequences {
    db: Db,
    blocks: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<Block>>>>,
}

impl Sequences {
    pub(crate) fn new(db: Db) -> Self {
        Self {
            db,
            blocks: Mutex::new(HashMap::new()),
        }
    }

    /// The next number of `tenant`'s `module`'s sequence `name`, at least `at_least` (so a
    /// module can move a counter it kept in kv over without reusing a number).
    pub(crate) async fn next(
        &self,
        tenant: &str,
        module: &str,
        name: &str,
        at_least: u64,
    ) -> Result<u64, sqlx::Error> {
        let at_least = at_least.clamp(1, MAX_NUMBER) as i64;
        let block = {
            let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
            blocks
                .entry((tenant.to_string(), module.to_string(), name.to_string()))
                .or_default()
                .clone()
        };
        // One reservation at a time per sequence, so blocks are used in the order reserved
        // and numbers from this server only increase.
        let mut block = block.lock().await;
        if block.next < at_least {
            block.next = at_least;
        }
        if block.next >= block.end {
            let end = reserve(&self.db, tenant, module, name, block.next).await?;
            block.next = block.next.max(end - BLOCK);
            block.end = end;
        }
        let n = block.next;
        if n as u64 > MAX_NUMBER {
            return Err(sqlx::Error::Protocol(format!(
                "sequence {name:?} has given every number up to {MAX_NUMBER}"
            )));
        }
        block.next += 1;
        Ok(n as u64)
    }
}

/// Reserve the next block at or above `at_least`; returns its end (exclusive).
async fn reserve(
    db: &Db,
    tenant: &str,
    module: &str,
    name: &str,
    at_least: i64,
) -> Result<i64, sqlx::Error> {
    let greatest = match db.backend() {
        Backend::Sqlite => "MAX",
        Backend::Postgres => "GREATEST",
    };
    let sql = format!(
        "INSERT INTO module_sequences (tenant_id, module, name, next_block) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant_id, module, name) \
         DO UPDATE SET next_block = {greatest}(module_sequences.next_block, $5) + $6 \
         RETURNING next_block"
    );
    // One statement, committed on its own: no transaction held across an await (a call on
    // the idle-priority threads could otherwise sit on SQLite's only write lock).
    let row = sqlx::query(&sql)
        .bind(tenant)
        .bind(module)
        .bind(name)
        .bind(at_least + BLOCK)
        .bind(at_least)
        .bind(BLOCK)
        .fetch_one(db.pool())
        .await?;
    row.try_get::<i64, _>(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn db(dir: &tempfile::TempDir) -> Db {
        let url = format!("sqlite://{}/seq.db?mode=rwc", dir.path().display());
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        db
    }

    #[tokio::test]
    async fn numbers_increase_never_repeat_and_respect_the_floor() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(&dir).await;
        let seq = Arc::new(Sequences::new(db.clone()));
        let mut taken: Vec<u64> = Vec::new();
        for _ in 0..(BLOCK * 2 + 3) {
            taken.push(seq.next("t1", "pos", "ticket", 1).await.unwrap());
        }
        assert!(taken.windows(2).all(|w| w[0] < w[1]), "{taken:?}");
        assert_eq!(taken[0], 1);
        // A floor above the block skips ahead.
        assert_eq!(seq.next("t1", "pos", "ticket", 1000).await.unwrap(), 1000);
        assert_eq!(seq.next("t1", "pos", "ticket", 1).await.unwrap(), 1001);
        // Another tenant, module or name has its own numbers.
        assert_eq!(seq.next("t2", "pos", "ticket", 1).await.unwrap(), 1);
        assert_eq!(seq.next("t1", "pos", "order", 1).await.unwrap(), 1);

        // A second server (a restart, a replica) continues past every block reserved.
        let other = Sequences::new(db);
        let after = other.next("t1", "pos", "ticket", 1).await.unwrap();
        assert!(after > 1001 + BLOCK as u64 - 2, "{after}");
        assert!(seq.next("t1", "pos", "ticket", 1).await.unwrap() < after);
    }

    #[tokio::test]
    async fn concurrent_takers_never_share_a_number() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(&dir).await;
        let a = Arc::new(Sequences::new(db.clone()));
        let b = Arc::new(Sequences::new(db));
        let mut tasks = Vec::new();
        for i in 0..200 {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                s.next("t1", "pos", "ticket", 1).await.unwrap()
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await.unwrap());
        }
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 200);
    }
}
