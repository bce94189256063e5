//! `module_sequences`: numbers a module takes from a named sequence (`kv.next-number`).
//!
//! A server reserves a block of numbers in one short transaction of its own and hands them
//! out from memory, so thousands of ticket creations a second share one row write per
//! block instead of rewriting one hot kv key each (which serialised them: issue 17). A
//! number is never given twice, by any server; within one server they increase. Two
//! servers interleave by block.
//!
//! A block no call has used for a while, and every block when the server stops, is
//! forgotten and its unused numbers given back, unless another server has reserved since
//! (then they are skipped: a gap, as with PostgreSQL's sequences). So a restaurant's ticket
//! numbers run on without a jump across a stop and start, and the map holds only sequences
//! in use (issue 17's memory per idle tenant). A crash still skips the rest of a block, and
//! so does a rolling deploy whose new server takes numbers before the old one stops.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::Row;

use super::{Backend, Db};

/// Numbers reserved per trip to the database.
const BLOCK: i64 = 32;
/// The largest number a sequence gives, far below where its arithmetic could overflow.
pub(crate) const MAX_NUMBER: u64 = 1 << 62;

/// How long a sequence goes unused before its block is given back.
pub(crate) const IDLE: Duration = Duration::from_secs(60);

/// The numbers a server holds of one sequence: `next..end`.
struct Block {
    next: i64,
    end: i64,
    used_at: Instant,
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
                .or_insert_with(|| {
                    Arc::new(tokio::sync::Mutex::new(Block {
                        next: 0,
                        end: 0,
                        used_at: Instant::now(),
                    }))
                })
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
        block.used_at = Instant::now();
        Ok(n as u64)
    }

    /// Forget every block no call holds that has gone unused for `idle`, giving its unused
    /// numbers back. Returns how many sequences were forgotten. Periodic with [`IDLE`], and
    /// with zero when the server stops.
    pub(crate) async fn release_idle(&self, idle: Duration) -> usize {
        let now = Instant::now();
        let mut unused = Vec::new();
        let mut forgotten = 0;
        {
            let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
            blocks.retain(|key, block| {
                // Only the map holds it, so no call can reach it once it is removed here: a
                // call that comes later starts a block of its own.
                if Arc::strong_count(block) > 1 {
                    return true;
                }
                let Ok(b) = block.try_lock() else {
                    return true;
                };
                if now.saturating_duration_since(b.used_at) < idle {
                    return true;
                }
                if b.next < b.end {
                    unused.push((key.clone(), b.next, b.end));
                }
                forgotten += 1;
                false
            });
        }
        for ((tenant, module, name), next, end) in unused {
            if let Err(e) = give_back(&self.db, &tenant, &module, &name, next, end).await {
                tracing::warn!(error = %e, %tenant, %module, %name, "could not give unused numbers back; they are skipped");
            }
        }
        forgotten
    }

    /// Sequences with a block held in memory.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.blocks.lock().unwrap().len()
    }
}

/// Return `next..end` to the sequence if nothing was reserved after it: the row still ends
/// where this block does. Otherwise another server's block follows it and the numbers stay
/// skipped, since giving them back would let the next reservation overlap that block.
async fn give_back(
    db: &Db,
    tenant: &str,
    module: &str,
    name: &str,
    next: i64,
    end: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE module_sequences SET next_block = $1 \
         WHERE tenant_id = $2 AND module = $3 AND name = $4 AND next_block = $5",
    )
    .bind(next)
    .bind(tenant)
    .bind(module)
    .bind(name)
    .bind(end)
    .execute(db.pool())
    .await?;
    Ok(())
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
        crate::storage::scratch_sqlite(dir).await.0
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

    #[tokio::test]
    async fn an_idle_block_is_forgotten_and_its_numbers_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(&dir).await;
        let seq = Sequences::new(db.clone());
        for want in 1..=3 {
            assert_eq!(seq.next("t1", "pos", "ticket", 1).await.unwrap(), want);
        }
        seq.next("t2", "pos", "ticket", 1).await.unwrap();
        // Used just now: kept.
        assert_eq!(seq.release_idle(IDLE).await, 0);
        assert_eq!(seq.held(), 2);

        assert_eq!(seq.release_idle(Duration::ZERO).await, 2);
        assert_eq!(seq.held(), 0);
        // The same server, and one started later (a restart), go on without a gap.
        assert_eq!(seq.next("t1", "pos", "ticket", 1).await.unwrap(), 4);
        seq.release_idle(Duration::ZERO).await;
        assert_eq!(
            Sequences::new(db)
                .next("t1", "pos", "ticket", 1)
                .await
                .unwrap(),
            5
        );
    }

    #[tokio::test]
    async fn numbers_are_not_given_back_over_a_block_reserved_after_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(&dir).await;
        let a = Sequences::new(db.clone());
        let b = Sequences::new(db.clone());
        assert_eq!(a.next("t1", "pos", "ticket", 1).await.unwrap(), 1);
        let first_of_b = b.next("t1", "pos", "ticket", 1).await.unwrap();
        assert_eq!(first_of_b, 1 + BLOCK as u64);

        // A's unused 2..=32 lie below B's block: giving them back would let the next block
        // overlap B's, so they are skipped.
        a.release_idle(Duration::ZERO).await;
        let later = Sequences::new(db.clone());
        let n = later.next("t1", "pos", "ticket", 1).await.unwrap();
        assert!(n > first_of_b + BLOCK as u64 - 1, "{n} overlaps B's block");

        // `later` reserved last, so its unused numbers do come back.
        later.release_idle(Duration::ZERO).await;
        assert_eq!(
            Sequences::new(db)
                .next("t1", "pos", "ticket", 1)
                .await
                .unwrap(),
            n + 1
        );
    }
}
