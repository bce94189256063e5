//! SQLite WAL checkpoints, off the commit path.
//!
//! SQLite checkpoints inline by default: the commit that takes the WAL past 1,000 pages then
//! copies them all back into the database file and syncs it before it returns. On the
//! committer that commit is what every waiting call's 2xx waits for, so each checkpoint
//! stalled every call in flight; by-hand wrk runs of the trivial module saw p99s from 9 to
//! 101 ms. So a thread of its own copies the WAL back with passive checkpoints, which work
//! beside the writer and never block it.
//!
//! A passive checkpoint alone does not keep the WAL small under steady writes: the WAL only
//! starts over from its beginning when a commit finds every page of it copied back, and the
//! writer keeps adding pages while the thread copies. So once the WAL passes
//! [`START_OVER_AT`] and the thread has copied nearly all of it, the thread asks the
//! committer to copy the few pages left itself, between two batches
//! ([`Checkpointer::start_over_if_due`]); its own batches cannot add pages meanwhile, so its
//! next commit starts the WAL over, unless another writer (rare: admin writes, jobs) got in
//! between or a reader that started before the copy still holds the WAL; then a later turn
//! does it. The committer's connection checkpoints on its own only as a last resort
//! ([`LAST_RESORT_PAGES`]), should the thread stop or a long reader (a backup) hold the WAL.
//!
//! That last copy still stalls the commits queued behind it: it syncs the WAL and the
//! database file before the WAL may start over. A passive checkpoint that does not reach the
//! end of the WAL never syncs the database file, so without help the committer's sync
//! flushed every page the thread had copied since the last start-over, and its stall grew
//! with the WAL (5-12 ms at 1,000 pages, 13-33 ms at 10,000, by hand under `wrk`). So the
//! thread syncs the database file itself after each copy ([`sync_database`]); the
//! committer's sync is left with its few hundred pages, and a start-over at 10,000 pages now
//! stalls 3-8 ms, no longer than one at 1,000 did, and comes up to ten times more rarely
//! (five times at the load measured, where the 200 ms tick capped start-overs at 1,000).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// The committer checkpoints inline only when the WAL holds this many pages (256 MiB of
/// 4 KiB pages): when the checkpoint thread has stopped or a reader holds the WAL too long.
const LAST_RESORT_PAGES: u32 = 65_536;

/// When the WAL starts over, its file is cut back to this size: a long reader can make it
/// grow far past its usual size (up to [`START_OVER_AT`] pages and a tick's growth, about
/// 50 MiB), and the file never shrinks on its own. Three times the usual size, so a busy
/// WAL is not cut back and grown again at every start-over.
const KEEP_WAL_BYTES: u64 = 128 << 20;

/// Make `conn` checkpoint inline only at [`LAST_RESORT_PAGES`], and cut the WAL file back
/// to [`KEEP_WAL_BYTES`] when it starts the WAL over.
pub(super) fn only_as_last_resort(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let (pages, bytes) = (LAST_RESORT_PAGES, KEEP_WAL_BYTES);
    conn.query_row(&format!("PRAGMA wal_autocheckpoint = {pages}"), [], |_| {
        Ok(())
    })?;
    conn.query_row(&format!("PRAGMA journal_size_limit = {bytes}"), [], |_| {
        Ok(())
    })
}

/// The WAL size past which the committer is asked to start it over: 40 MiB of 4 KiB pages,
/// ten times SQLite's default checkpoint size. Each start-over stalls the commits behind it
/// for a few fsyncs (about 5 ms here), so under load it should come rarely: about once a
/// second at 15,000 calls a second, against five times a second at 1,000 pages.
const START_OVER_AT: u64 = 10_000;

/// Most pages the committer is left to copy when it starts the WAL over.
const LEFT_FOR_THE_COMMITTER: u64 = 256;

/// How often the checkpoint thread runs.
const EVERY: Duration = Duration::from_millis(200);

/// The checkpoint thread; it stops when this is dropped.
pub(super) struct Checkpointer {
    /// Dropped to stop the thread: nothing is ever sent.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// WAL pages copied into the database file so far.
    copied: Arc<AtomicU64>,
    /// Set by the thread when the committer should copy what is left and so start the WAL
    /// over.
    due: Arc<AtomicBool>,
    /// Times the thread synced the database file.
    synced: Arc<AtomicU64>,
}

impl Checkpointer {
    /// Start checkpointing the SQLite database behind `url` every [`EVERY`].
    pub(super) fn start(url: &str) -> anyhow::Result<Self> {
        Self::start_every(url, EVERY, START_OVER_AT)
    }

    /// Checkpoint every `every`, and ask for a start-over past `start_over_at` pages.
    fn start_every(url: &str, every: Duration, start_over_at: u64) -> anyhow::Result<Self> {
        let conn = super::commit::open_sqlite(url)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let copied = Arc::new(AtomicU64::new(0));
        let total = copied.clone();
        let due = Arc::new(AtomicBool::new(false));
        let start_over = due.clone();
        let synced = Arc::new(AtomicU64::new(0));
        let syncs = synced.clone();
        let thread = std::thread::Builder::new()
            .name("nova-checkpoint".into())
            .spawn(move || {
                let mut last = Wal::default();
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    match passive(&conn) {
                        // Another connection was checkpointing: its figures are not known.
                        Ok(None) => {}
                        Ok(Some(wal)) => {
                            let copied = wal.copied_since(last);
                            if copied > 0 {
                                // A failure here loses nothing: the committer's checkpoint
                                // syncs the file again before the WAL may start over, and
                                // Linux reports a write-back error to every open descriptor.
                                match sync_database(&conn) {
                                    Ok(()) => _ = syncs.fetch_add(1, Ordering::Relaxed),
                                    Err(e) => tracing::error!(
                                        error = %e,
                                        "syncing the database file failed"
                                    ),
                                }
                            }
                            // Release: whoever sees these pages counted sees the sync too.
                            total.fetch_add(copied, Ordering::Release);
                            metrics::counter!("nova_sqlite_checkpointed_pages_total")
                                .increment(copied);
                            metrics::gauge!("nova_sqlite_wal_pages").set(wal.pages as f64);
                            if wal.nearly_copied_and_large(start_over_at) {
                                start_over.store(true, Ordering::Relaxed);
                            }
                            last = wal;
                        }
                        Err(e) => tracing::warn!(error = %e, "a WAL checkpoint failed"),
                    }
                }
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
            copied,
            due,
            synced,
        })
    }

    /// Called by the committer between batches on its own connection, `conn`: when the
    /// thread found the WAL large and nearly all copied, copy the rest, so the next commit
    /// starts the WAL over.
    pub(super) fn start_over_if_due(&self, conn: &rusqlite::Connection) {
        if !self.due.swap(false, Ordering::Relaxed) {
            return;
        }
        match passive(conn) {
            Ok(Some(_)) => {}
            // The thread is checkpointing right now: take the turn after the next batch.
            Ok(None) => self.due.store(true, Ordering::Relaxed),
            Err(e) => tracing::warn!(error = %e, "a WAL checkpoint on the committer failed"),
        }
    }

    /// WAL pages this thread has copied into the database file.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "the tests' way to know the thread ran")
    )]
    fn copied(&self) -> u64 {
        self.copied.load(Ordering::Acquire)
    }

    /// Times this thread synced the database file.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "the tests' way to know the thread synced")
    )]
    fn synced(&self) -> u64 {
        self.synced.load(Ordering::Relaxed)
    }
}

/// What a passive checkpoint found: pages in the WAL, and of those, pages copied into the
/// database file. Both count from when the WAL last started over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Wal {
    pages: u64,
    copied: u64,
}

impl Wal {
    /// Past `start_over_at` pages with at most [`LEFT_FOR_THE_COMMITTER`] not yet copied.
    /// A reader that holds the WAL keeps pages from being copied; then the committer is not
    /// asked, since it could not start the WAL over either.
    fn nearly_copied_and_large(self, start_over_at: u64) -> bool {
        self.pages >= start_over_at
            && self.pages.saturating_sub(self.copied) <= LEFT_FOR_THE_COMMITTER
    }

    /// Pages copied since `earlier`: all of this one's if the WAL started over in between.
    fn copied_since(self, earlier: Wal) -> u64 {
        if self.pages < earlier.pages || self.copied < earlier.copied {
            self.copied
        } else {
            self.copied - earlier.copied
        }
    }
}

/// One passive checkpoint on `conn`; `None` when another connection was checkpointing (or
/// the database is not in WAL mode), so nothing was copied and nothing is known.
fn passive(conn: &rusqlite::Connection) -> rusqlite::Result<Option<Wal>> {
    let (busy, pages, copied): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    Ok((busy == 0 && pages >= 0 && copied >= 0).then_some(Wal {
        pages: pages as u64,
        copied: copied as u64,
    }))
}

/// Sync the database file of `conn` (not its WAL) through SQLite's own handle for it. Opening
/// the file a second time would not do: closing that descriptor would drop every POSIX lock
/// this process holds on the file, SQLite's included.
fn sync_database(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::ffi;
    let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
    // SAFETY: `conn.handle()` is this open connection's, used on the thread that owns it;
    // SQLITE_FCNTL_FILE_POINTER writes the main database's `sqlite3_file` (owned by the
    // connection and valid while it is open) into `file`, whose `xSync` is the VFS's
    // documented way to sync it. Both are checked for null before use.
    let rc = unsafe {
        let rc = ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_FILE_POINTER,
            (&raw mut file).cast(),
        );
        if rc != ffi::SQLITE_OK {
            rc
        } else if file.is_null() || (*file).pMethods.is_null() {
            ffi::SQLITE_NOTFOUND
        } else {
            match (*(*file).pMethods).xSync {
                Some(sync) => sync(file, ffi::SQLITE_SYNC_NORMAL),
                None => ffi::SQLITE_NOTFOUND,
            }
        }
    };
    match rc {
        ffi::SQLITE_OK => Ok(()),
        rc => Err(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), None)),
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // The thread wakes as the channel disconnects, so this waits at most for a
        // checkpoint under way.
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory for a database file; removed when dropped.
    type TempDb = tempfile::TempDir;

    fn url(db: &TempDb) -> String {
        format!("sqlite:{}", db.path().join("db.sqlite").display())
    }

    /// A connection set up as the committer's, with the table the tests write to.
    fn committer_conn(db: &TempDb) -> rusqlite::Connection {
        let conn = crate::storage::commit::open_sqlite(&url(db)).unwrap();
        only_as_last_resort(&conn).unwrap();
        conn.execute_batch("CREATE TABLE IF NOT EXISTS t (b BLOB)")
            .unwrap();
        conn
    }

    /// Commit `pages` pages of blobs in one transaction.
    fn write_pages(conn: &mut rusqlite::Connection, pages: usize) {
        conn.execute_batch("CREATE TABLE IF NOT EXISTS t (b BLOB)")
            .unwrap();
        let tx = conn.transaction().unwrap();
        for _ in 0..pages {
            tx.execute("INSERT INTO t VALUES (randomblob(4000))", [])
                .unwrap();
        }
        tx.commit().unwrap();
    }

    /// Commit one small row: this starts the WAL over if everything in it was copied back.
    fn write_row(conn: &rusqlite::Connection) {
        conn.execute("INSERT INTO t VALUES (1)", []).unwrap();
    }

    /// Pages in the WAL, from its file's size, without checkpointing.
    fn wal_file_pages(db: &TempDb, conn: &rusqlite::Connection) -> u64 {
        let page: u64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        let wal = std::fs::metadata(db.path().join("db.sqlite-wal"))
            .unwrap()
            .len();
        // A 32-byte file header, then a 24-byte header per page.
        (wal - 32) / (page + 24)
    }

    fn wal_pages(url: &str) -> u64 {
        let conn = crate::storage::commit::open_sqlite(url).unwrap();
        passive(&conn)
            .unwrap()
            .expect("no other connection checkpoints")
            .pages
    }

    #[test]
    fn copied_pages_count_across_a_wal_restart() {
        let at = |pages, copied| Wal { pages, copied };
        assert_eq!(at(10, 8).copied_since(at(6, 6)), 2);
        assert_eq!(at(3, 3).copied_since(at(10, 10)), 3, "started over");
        assert_eq!(at(10, 10).copied_since(at(10, 10)), 0);
    }

    #[test]
    fn the_committer_is_asked_only_when_the_wal_is_large_and_nearly_copied() {
        let at = |pages, copied| Wal { pages, copied };
        assert!(at(1_000, 1_000).nearly_copied_and_large(1_000));
        assert!(at(1_300, 1_044).nearly_copied_and_large(1_000));
        assert!(!at(999, 999).nearly_copied_and_large(1_000), "small");
        assert!(
            !at(1_300, 1_043).nearly_copied_and_large(1_000),
            "a reader holds it"
        );
        assert!(!at(9_999, 9_999).nearly_copied_and_large(START_OVER_AT));
    }

    #[test]
    fn under_steady_writes_the_wal_starts_over() {
        let db = tempfile::tempdir().unwrap();
        let conn = committer_conn(&db);
        let checkpoints =
            Checkpointer::start_every(&url(&db), Duration::from_millis(1), 1_000).unwrap();
        // Commits back to back, as the committer's under load, each followed by its turn to
        // start the WAL over.
        for _ in 0..6_000 {
            conn.execute("INSERT INTO t VALUES (randomblob(4000))", [])
                .unwrap();
            checkpoints.start_over_if_due(&conn);
        }
        // The file never shrinks, so its size is the most the WAL ever held. The inserts
        // wrote about 18,000 pages, and all of them stay in the WAL when the committer never
        // takes its turn; with it, the WAL starts over every 1,000 to 2,000 pages here. The
        // bound leaves room for a checkpoint thread that a busy machine runs late.
        let most = wal_file_pages(&db, &conn);
        assert!(most < 9_000, "the WAL grew to {most} pages");
        assert!(checkpoints.copied() > 0);
    }

    #[test]
    fn a_committer_connection_leaves_the_wal_to_the_thread() {
        // SQLite's default: the big commit checkpoints inline, and the next one starts over.
        let inline = tempfile::tempdir().unwrap();
        let mut conn = crate::storage::commit::open_sqlite(&url(&inline)).unwrap();
        write_pages(&mut conn, 2_000);
        write_row(&conn);
        let after_inline = wal_pages(&url(&inline));
        assert!(after_inline < 100, "{after_inline} pages left in the WAL");

        let elsewhere = tempfile::tempdir().unwrap();
        let mut conn = committer_conn(&elsewhere);
        write_pages(&mut conn, 2_000);
        write_row(&conn);
        let kept = wal_pages(&url(&elsewhere));
        assert!(
            kept >= 2_000,
            "only {kept} pages in the WAL: it was checkpointed inline"
        );
    }

    #[test]
    fn the_thread_copies_the_wal_back_and_it_starts_over() {
        let db = tempfile::tempdir().unwrap();
        let mut conn = committer_conn(&db);
        write_pages(&mut conn, 2_000);
        let written = wal_file_pages(&db, &conn);
        assert!(written >= 2_000, "{written} pages in the WAL");
        let checkpoints =
            Checkpointer::start_every(&url(&db), Duration::from_millis(1), 1_000).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while checkpoints.copied() < written {
            assert!(
                std::time::Instant::now() < deadline,
                "the thread copied {} of {written} pages",
                checkpoints.copied()
            );
            // Polling a condition the thread sets, without taking its core.
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            checkpoints.synced() > 0,
            "the database file was never synced"
        );
        drop(checkpoints);
        // Everything was copied, so the next commit starts the WAL from its beginning.
        write_row(&conn);
        let left = wal_pages(&url(&db));
        assert!(left < 100, "{left} pages left in the WAL");
    }
}
