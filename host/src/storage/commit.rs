//! Group commit: one writer task commits the results of many calls in one transaction.
//!
//! Each call hands over its kv writes, audit records and invocation record and waits for
//! the commit of the batch that holds them, so a 2xx is only sent once its writes and its
//! record are durable. A call whose read keys changed (or whose created key is taken) is
//! left out alone and told `Conflict`, the rest of the batch commits: several writes of a
//! call run inside a savepoint, a single write's failed check changed nothing, and on
//! PostgreSQL a batch's creations (one write each, of a key the call expects absent) go in
//! together in one statement. On PostgreSQL a batch of up to 128 reads' records alone is one
//! INSERT, and one of reads and such creations alone is one statement with everything
//! (`one_statement`): no transaction of several round trips.
//!
//! The writer runs on its own thread with its own connection, so commits are not queued
//! behind guest code on the request threads: commit latency is what every 2xx waits for.

use tokio::sync::{mpsc, oneshot};

use super::audit::{self, AuditEvent};
use super::invocations::{self, Invocation};
use super::kv::{self, Conflict, Write};
use super::{Backend, Db};

/// Most calls committed in one transaction.
const MAX_BATCH: usize = 256;
/// Batches smaller than this wait [`COALESCE_WAIT`] for more calls before committing (not a
/// lone caller's: see [`Batches`]).
const COALESCE_BELOW: usize = 16;
/// Batches of one call in a row after which the next batch of one is taken for a lone
/// caller's and commits without waiting (see [`Batches`]).
const LONE_AFTER: u32 = 8;
/// On PostgreSQL, batches of reads' records alone smaller than this wait for company
/// (see `waits_for_company`).
const RECORDS_COALESCE_BELOW: usize = 8;
/// How long a small batch waits for company.
const COALESCE_WAIT: std::time::Duration = std::time::Duration::from_micros(250);
/// Invocation records per multi-row INSERT (15 parameters each).
const RECORDS_PER_INSERT: usize = 128;

/// Everything one call wants committed.
#[derive(Debug, Default)]
pub struct Job {
    pub tenant_id: String,
    pub module: String,
    pub writes: Vec<Write>,
    pub audits: Vec<AuditEvent>,
    /// `None` for audits alone (capability uses refused for a call answered without its guest).
    pub invocation: Option<Invocation>,
}

impl Job {
    /// No kv writes and no audits: what a read leaves.
    fn holds_only_a_record(&self) -> bool {
        self.writes.is_empty() && self.audits.is_empty()
    }
}

/// What happened to a job.
#[derive(Debug, PartialEq, Eq)]
pub enum Committed {
    /// Durable.
    Ok,
    /// Not written: a key the call read was changed by another call.
    Conflict(Conflict),
}

/// The database failed; nothing of the job was written.
#[derive(Debug, thiserror::Error)]
#[error("commit failed: {0}")]
pub struct CommitError(pub String);

struct Pending {
    job: Job,
    reply: oneshot::Sender<Result<Committed, CommitError>>,
}

/// A handle to the writer task. Cheap to clone.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Pending>,
}

impl Committer {
    /// Start the writer thread, connected to the same database as `db`. It stops when the
    /// last handle is dropped.
    pub(crate) fn start(db: &Db) -> anyhow::Result<Self> {
        let (tx, rx) = mpsc::channel(4096);
        let url = db.url().to_string();
        let thread = std::thread::Builder::new().name("nova-commit".into());
        match db.backend() {
            // SQLite has one writer anyway: a direct connection on this thread commits a batch
            // without a hop to another thread per statement.
            Backend::Sqlite => thread.spawn(move || match open_sqlite(&url) {
                Ok(mut conn) => {
                    let checkpoints = checkpoint_elsewhere(&conn, &url);
                    sqlite_writer(&mut conn, rx, checkpoints.as_ref())
                }
                Err(e) => {
                    tracing::error!(error = %e, "the committer cannot open the database");
                    refuse_all_blocking(rx, &e.to_string());
                }
            })?,
            Backend::Postgres => thread.spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => return refuse_all_blocking(rx, &e.to_string()),
                };
                rt.block_on(async move {
                    match Db::connect_with(&url, Some(1)).await {
                        Ok(db) => {
                            postgres_writer(&db, rx).await;
                            db.close().await;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "the committer cannot reach the database");
                            let mut rx = rx;
                            while let Some(p) = rx.recv().await {
                                let _ = p.reply.send(Err(CommitError(e.to_string())));
                            }
                        }
                    }
                });
            })?,
        };
        Ok(Self { tx })
    }

    /// Commit `job` and wait until it is durable (or refused).
    pub async fn commit(&self, job: Job) -> Result<Committed, CommitError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending { job, reply })
            .await
            .map_err(|_| CommitError("the writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| CommitError("the writer dropped the job".into()))?
    }
}

/// Start the checkpoint thread (see `checkpoint`) and leave checkpoints to it, so the
/// committer's commits do not wait for them; it stops when the returned handle is dropped.
/// Without it, the committer checkpoints inline as SQLite does by default.
fn checkpoint_elsewhere(
    conn: &rusqlite::Connection,
    url: &str,
) -> Option<super::checkpoint::Checkpointer> {
    let started = super::checkpoint::Checkpointer::start(url).and_then(|checkpoints| {
        super::checkpoint::only_as_last_resort(conn)?;
        Ok(checkpoints)
    });
    match started {
        Ok(checkpoints) => Some(checkpoints),
        Err(e) => {
            tracing::warn!(error = %e, "checkpoints stay on the commit path");
            None
        }
    }
}

fn refuse_all_blocking(mut rx: mpsc::Receiver<Pending>, why: &str) {
    while let Some(p) = rx.blocking_recv() {
        let _ = p.reply.send(Err(CommitError(why.to_string())));
    }
}

/// Top up a small batch: a commit costs far more than a row, so when few calls are waiting,
/// give the ones still running a moment to join (on SQLite, committing each call's record
/// as it came doubled the committer's CPU per call, issue 17). The thread only commits, so
/// it may block. `batch` holds the calls that were waiting; `true` if it waited (for the
/// tests).
fn coalesce(rx: &mut mpsc::Receiver<Pending>, batch: &mut Vec<Pending>) -> bool {
    if batch.len() >= COALESCE_BELOW {
        return false;
    }
    std::thread::sleep(COALESCE_WAIT);
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(p) => batch.push(p),
            Err(_) => break,
        }
    }
    true
}

/// The SQLite writer's next batch: the calls already queued, up to [`MAX_BATCH`] (waiting
/// for the first), then topped up by [`coalesce`] if that is few, so a batch waits for
/// company only when few calls are waiting, and not at all once a run of [`LONE_AFTER`]
/// batches of one marks a lone caller (see [`Batches`]). `None` once every handle is
/// gone, else whether it waited (for the tests).
fn next_batch(
    rx: &mut mpsc::Receiver<Pending>,
    batch: &mut Vec<Pending>,
    batches: &mut Batches,
) -> Option<bool> {
    if rx.blocking_recv_many(batch, MAX_BATCH) == 0 {
        return None;
    }
    Some(batches.top_up(rx, batch, true))
}

/// What a writer remembers of its batches: how many in a row held a single call, and how
/// many calls the last one held (PostgreSQL's reads have a rule of their own with it, see
/// `waits_for_company`). A client calling alone, one call at a time, makes batches of one
/// that no company will join: waiting for it only added 250 µs to each of its calls (a lone
/// client's POS list took 651-705 µs at the median with the wait and 346-368 µs without; its
/// p99 rose a little, as each call now commits alone and the WAL is checkpointed more often;
/// docs/PERFORMANCE.md, twenty-ninth session). Under
/// load a batch of one happens now and then too (a commit of one is quick, and one call may
/// arrive during it), and going at once after a single such batch kept batches small: with
/// 32 clients a list cost 9% more CPU on SQLite. So only a run of [`LONE_AFTER`] single
/// batches marks a lone caller, on either backend.
#[derive(Debug, Default)]
struct Batches {
    /// Batches in a row that held a single call.
    singles: u32,
    /// Calls the last batch held.
    last: usize,
}

impl Batches {
    /// Top `batch` up with [`coalesce`] if `wanted` and it is not a lone caller's, then count
    /// it (after the wait: a batch of one that company joined counts as several). Whether it
    /// waited.
    fn top_up(
        &mut self,
        rx: &mut mpsc::Receiver<Pending>,
        batch: &mut Vec<Pending>,
        wanted: bool,
    ) -> bool {
        let lone = batch.len() == 1 && self.singles >= LONE_AFTER;
        let waited = wanted && !lone && coalesce(rx, batch);
        self.last = batch.len();
        self.singles = if self.last == 1 {
            self.singles.saturating_add(1)
        } else {
            0
        };
        waited
    }
}

fn send_all(batch: &mut Vec<Pending>, results: Vec<Committed>) {
    for (p, r) in batch.drain(..).zip(results) {
        let _ = p.reply.send(Ok(r));
    }
}

fn sqlite_writer(
    conn: &mut rusqlite::Connection,
    mut rx: mpsc::Receiver<Pending>,
    checkpoints: Option<&super::checkpoint::Checkpointer>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut batches = Batches::default();
    while next_batch(&mut rx, &mut batch, &mut batches).is_some() {
        let jobs: Vec<&Job> = batch.iter().map(|p| &p.job).collect();
        match commit_sqlite(conn, &jobs) {
            Ok(results) => send_all(&mut batch, results),
            Err(e) => {
                // One bad job must not fail its neighbours: retry each on its own.
                tracing::warn!(error = %e, jobs = batch.len(), "batch commit failed; committing one by one");
                for p in batch.drain(..) {
                    let r = commit_sqlite(conn, &[&p.job]).map(|mut r| r.remove(0));
                    let _ = p.reply.send(r.map_err(|e| CommitError(e.to_string())));
                }
            }
        }
        // After the replies: this batch's calls do not wait for it. Calls queued meanwhile
        // do, for a copy of at most a few hundred pages and its syncs.
        if let Some(checkpoints) = checkpoints {
            checkpoints.start_over_if_due(conn);
        }
    }
}

/// Whether a PostgreSQL batch that holds `queued` calls waits for company, the batch before it
/// having held `last`. A lone caller's never waits, whatever this says: [`Batches::top_up`]
/// exempts it, as on SQLite (a lone client's creations: 1.62 times as many a second without the
/// wait, docs/PERFORMANCE.md, thirtieth session). Other batches with writes do: each is a
/// transaction of several round trips. A batch of reads' records alone is one statement, but
/// PostgreSQL spends about as much CPU on a statement of one record as on one of five, so under
/// load a batch of records that waits costs each read a fraction of what it did (a POS list
/// from 32 clients: 1.4 statements a call without the wait, 1.1 with it, and a sixth more calls
/// a second; docs/PERFORMANCE.md, twenty-second session). It waits only while calls arrive
/// faster than one per commit (it or the batch before it held more than one call: a lone
/// client's reads go at once, as a wait that found no company would only add its 250 µs to
/// each), and only while it holds fewer than [`RECORDS_COALESCE_BELOW`]: past that the
/// statement's share per record is already small, and the wait cost the trivial path, whose
/// batches are that large anyway, a sixth of its calls a second.
fn waits_for_company(records_alone: bool, queued: usize, last: usize) -> bool {
    !records_alone || (queued < RECORDS_COALESCE_BELOW && (queued > 1 || last > 1))
}

/// Top up the PostgreSQL writer's `batch`, just received, as `waits_for_company` says;
/// whether it waited (for the tests).
fn top_up_postgres(
    rx: &mut mpsc::Receiver<Pending>,
    batch: &mut Vec<Pending>,
    batches: &mut Batches,
) -> bool {
    let records_alone = batch.iter().all(|p| p.job.holds_only_a_record());
    let wanted = waits_for_company(records_alone, batch.len(), batches.last);
    batches.top_up(rx, batch, wanted)
}

async fn postgres_writer(db: &Db, mut rx: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut batches = Batches::default();
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        top_up_postgres(&mut rx, &mut batch, &mut batches);
        let jobs: Vec<&Job> = batch.iter().map(|p| &p.job).collect();
        match commit_postgres(db, &jobs).await {
            Ok(results) => send_all(&mut batch, results),
            Err(e) => {
                tracing::warn!(error = %e, jobs = batch.len(), "batch commit failed; committing one by one");
                for p in batch.drain(..) {
                    let r = commit_alone(db, &p.job).await;
                    let _ = p.reply.send(r.map_err(|e| CommitError(e.to_string())));
                }
            }
        }
    }
}

/// Commit one job of a PostgreSQL batch that failed. The batch may have failed after the
/// server committed it (the connection lost on the way back, or its COMMIT's answer): then a
/// creation finds its own key taken and would be told to run again, opening a second
/// ticket, and a record finds its own id taken. A job's record goes in with its writes and
/// only with them, so a job whose record is stored by then was committed. Looked for only
/// after the job's own commit, which waits for any transaction still holding its keys.
async fn commit_alone(db: &Db, job: &Job) -> Result<Committed, sqlx::Error> {
    let alone = commit_postgres(db, &[job]).await.map(|mut r| r.remove(0));
    if matches!(alone, Ok(Committed::Ok)) {
        return alone;
    }
    match &job.invocation {
        Some(inv) if invocations::exists(db, &inv.id).await? => Ok(Committed::Ok),
        _ => alone,
    }
}

/// Open the SQLite file behind a `sqlite:` URL with the same settings as the pool.
pub(super) fn open_sqlite(url: &str) -> rusqlite::Result<rusqlite::Connection> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = path.split('?').next().unwrap_or(path);
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

fn commit_sqlite(
    conn: &mut rusqlite::Connection,
    jobs: &[&Job],
) -> rusqlite::Result<Vec<Committed>> {
    let mut tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(jobs.len());
    let mut records = Vec::with_capacity(jobs.len());
    for job in jobs {
        if job.writes.is_empty() {
            audit::insert_sqlite(&tx, &job.audits)?;
        } else {
            let sp = tx.savepoint()?;
            if let Err(conflict) = kv::apply_sqlite(&sp, &job.tenant_id, &job.module, &job.writes)?
            {
                // Dropping a savepoint rolls it back.
                drop(sp);
                results.push(Committed::Conflict(conflict));
                continue;
            }
            audit::insert_sqlite(&sp, &job.audits)?;
            sp.commit()?;
        }
        if let Some(inv) = &job.invocation {
            records.push(inv);
        }
        results.push(Committed::Ok);
    }
    invocations::insert_sqlite(&tx, &records)?;
    tx.commit()?;
    Ok(results)
}

/// Write a job that holds no kv writes (its audits and invocation record) in the caller's
/// transaction: a record handed back by a call whose caller commits it with its own work.
pub(crate) async fn write_in(conn: &mut sqlx::AnyConnection, job: &Job) -> Result<(), sqlx::Error> {
    debug_assert!(job.writes.is_empty(), "kv writes go through the committer");
    for e in &job.audits {
        audit::insert(&mut *conn, e).await?;
    }
    if let Some(inv) = &job.invocation {
        invocations::insert_many_stmt(&[inv])
            .run_sqlx(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Apply the batch's creations (calls whose one write creates a key they expect absent: a
/// POS ticket each) in one statement instead of one round trip each; what became of each,
/// by job, `None` for the jobs left to apply one by one. A key created twice in the batch
/// goes in once here; its other creators are left to the loop, where they find it taken, as
/// they would have in order. Applying these first runs the batch in an order other than its
/// arrival's, creations first: still an order calls could have run in one after another,
/// each job's check made against what the jobs before it in that order wrote. So a call may
/// lose where arrival order would have let it win (a creation after a delete of its key in
/// the same batch), and then it runs again, as any call that loses a race does.
async fn create_together(
    tx: &mut sqlx::AnyConnection,
    jobs: &[&Job],
) -> Result<Vec<Option<Result<(), Conflict>>>, sqlx::Error> {
    let mut decided = vec![None; jobs.len()];
    let mut keys = std::collections::HashSet::new();
    let mut together = Vec::new();
    let mut creates = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        if let Some(w) = kv::single_create(&job.writes)
            && keys.insert((job.tenant_id.as_str(), job.module.as_str(), w.key.as_str()))
        {
            together.push(i);
            creates.push((job.tenant_id.as_str(), job.module.as_str(), w));
        }
    }
    // One alone gains nothing over its own statement in the loop.
    if creates.len() < 2 {
        return Ok(decided);
    }
    let inserted = kv::insert_absent(tx, &creates).await?;
    for ((i, (_, _, w)), ok) in together.into_iter().zip(&creates).zip(inserted) {
        decided[i] = Some(if ok {
            Ok(())
        } else {
            Err(Conflict { key: w.key.clone() })
        });
    }
    Ok(decided)
}

/// Commit a batch on PostgreSQL, on a connection lent without the pool's ping on return
/// (`storage::direct`): the committer makes a statement or a transaction per batch, and the
/// ping was one more round trip for each.
async fn commit_postgres(db: &Db, jobs: &[&Job]) -> Result<Vec<Committed>, sqlx::Error> {
    db.on_connection(async |conn| commit_on(conn, jobs).await)
        .await
}

async fn commit_on(
    conn: &mut sqlx::AnyConnection,
    jobs: &[&Job],
) -> Result<Vec<Committed>, sqlx::Error> {
    // Records alone (calls that wrote nothing and audited nothing, the common read) go in one
    // autocommitted multi-row INSERT: one round trip to the server instead of three (BEGIN,
    // INSERT, COMMIT), and one statement is all or nothing like the transaction.
    if jobs.len() <= RECORDS_PER_INSERT && jobs.iter().all(|j| j.holds_only_a_record()) {
        let records: Vec<&Invocation> = jobs.iter().filter_map(|j| j.invocation.as_ref()).collect();
        if !records.is_empty() {
            invocations::insert_many_stmt(&records)
                .run_sqlx(conn)
                .await?;
        }
        return Ok(jobs.iter().map(|_| Committed::Ok).collect());
    }
    // Reads and creations alone (a POS ticket each): one statement too.
    if let Some(results) = super::one_statement::commit(conn, jobs).await? {
        return Ok(results);
    }
    let mut tx = sqlx::Connection::begin(conn).await?;
    let created = create_together(&mut tx, jobs).await?;
    let mut results = Vec::with_capacity(jobs.len());
    let mut records = Vec::with_capacity(jobs.len());
    // The audit rows of the calls whose writes stand, all in a few statements at the end: in
    // the same transaction, so they commit or fail with the writes.
    let mut audits = Vec::new();
    for (job, created) in jobs.iter().zip(created) {
        if let Some(created) = created {
            if let Err(conflict) = created {
                results.push(Committed::Conflict(conflict));
                continue;
            }
        } else if job.writes.len() <= 1 {
            // No savepoint for none or one write (two round trips fewer): a single write's
            // conflict is a check that matched no row, so it changed nothing to roll back.
            if let Err(conflict) =
                kv::apply(&mut tx, &job.tenant_id, &job.module, &job.writes).await?
            {
                results.push(Committed::Conflict(conflict));
                continue;
            }
        } else {
            let mut sp = sqlx::Acquire::begin(&mut *tx).await?;
            if let Err(conflict) =
                kv::apply(&mut sp, &job.tenant_id, &job.module, &job.writes).await?
            {
                sp.rollback().await?;
                results.push(Committed::Conflict(conflict));
                continue;
            }
            sp.commit().await?;
        }
        audits.extend(&job.audits);
        if let Some(inv) = &job.invocation {
            records.push(inv);
        }
        results.push(Committed::Ok);
    }
    for chunk in audits.chunks(audit::EVENTS_PER_INSERT) {
        audit::insert_many_stmt(chunk).run_sqlx(&mut tx).await?;
    }
    for chunk in records.chunks(RECORDS_PER_INSERT) {
        invocations::insert_many_stmt(chunk)
            .run_sqlx(&mut tx)
            .await?;
    }
    tx.commit().await?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;
    use crate::storage::invocations::Outcome;
    use crate::storage::kv::{Expect, Op};

    #[test]
    fn reads_records_wait_for_company_on_postgres_only_while_calls_arrive_together() {
        // A lone client's reads: one call a batch, and the last batch held one too.
        assert!(!waits_for_company(true, 1, 1));
        assert!(!waits_for_company(true, 1, 0));
        // Calls arriving together: queued together now, or the last batch held several.
        assert!(waits_for_company(true, 2, 1));
        assert!(waits_for_company(true, 1, 3));
        assert!(waits_for_company(true, RECORDS_COALESCE_BELOW - 1, 9));
        // A batch of records already large enough goes at once.
        assert!(!waits_for_company(true, RECORDS_COALESCE_BELOW, 9));
        // A batch with writes does, unless it is a lone caller's (coalesce itself skips a
        // batch already large).
        assert!(waits_for_company(false, 1, 1));
    }

    #[test]
    fn a_lone_callers_writes_go_without_waiting_on_postgres_after_a_run_of_single_calls() {
        let mut waits = postgres_batches(blind_write);
        for _ in 0..LONE_AFTER {
            assert!(waits(1));
        }
        assert!(!waits(1));
        // Two writes queued together still wait, and end the run.
        assert!(waits(2));
        assert!(waits(1));
    }

    #[test]
    fn a_postgres_batch_of_reads_records_waits_after_a_batch_of_several() {
        let mut waits = postgres_batches(Job::default);
        assert!(waits(3));
        // One record alone waits while the batch before it held several, ...
        assert!(waits(1));
        // ... and goes at once after a batch of one.
        assert!(!waits(1));
    }

    /// The PostgreSQL writer's batches without a database: each call of the closure queues
    /// `calls` calls of `job()`, takes them as one batch, topped up as the writer does, and
    /// says whether it waited for company.
    fn postgres_batches(job: fn() -> Job) -> impl FnMut(usize) -> bool {
        let (tx, mut rx) = mpsc::channel(4096);
        let mut batches = Batches::default();
        move |calls| {
            queue(&tx, calls, job);
            let mut batch = Vec::new();
            rx.blocking_recv_many(&mut batch, MAX_BATCH);
            let waited = top_up_postgres(&mut rx, &mut batch, &mut batches);
            assert_eq!(batch.len(), calls);
            waited
        }
    }

    /// Queue `calls` calls for the writer, each with a `job()` of its own.
    fn queue(tx: &mpsc::Sender<Pending>, calls: usize, job: impl Fn() -> Job) {
        for _ in 0..calls {
            let p = Pending {
                job: job(),
                reply: oneshot::channel().0,
            };
            tx.try_send(p).unwrap_or_else(|_| panic!("room"));
        }
    }

    #[test]
    fn a_batch_waits_for_company_only_when_few_calls_are_queued() {
        let (tx, mut rx) = mpsc::channel(4096);
        let mut batch = Vec::new();
        let mut batches = Batches::default();
        queue(&tx, COALESCE_BELOW + 4, Job::default);
        assert_eq!(next_batch(&mut rx, &mut batch, &mut batches), Some(false));
        assert_eq!(batch.len(), COALESCE_BELOW + 4);
        batch.clear();
        queue(&tx, MAX_BATCH + 3, Job::default);
        assert_eq!(next_batch(&mut rx, &mut batch, &mut batches), Some(false));
        assert_eq!(batch.len(), MAX_BATCH, "at most a full batch");
        batch.clear();
        // The 3 left over are few: they wait for company, then go as one batch.
        assert_eq!(next_batch(&mut rx, &mut batch, &mut batches), Some(true));
        assert_eq!(batch.len(), 3);
        batch.clear();
        drop(tx);
        assert_eq!(next_batch(&mut rx, &mut batch, &mut batches), None);
    }

    #[test]
    fn only_a_run_of_single_calls_goes_without_waiting_for_company() {
        let (tx, mut rx) = mpsc::channel(4096);
        let mut batches = Batches::default();
        // Whether a batch of `calls` queued waited for company.
        let mut waits = |calls: usize, job: fn() -> Job| {
            queue(&tx, calls, job);
            let mut batch = Vec::new();
            let waited = next_batch(&mut rx, &mut batch, &mut batches).unwrap();
            assert_eq!(batch.len(), calls);
            waited
        };
        // A caller's first calls wait, as a single call under load does.
        for _ in 0..LONE_AFTER {
            assert!(waits(1, Job::default));
        }
        // After a run of them, the calls are a lone caller's, reads or writes: no wait.
        assert!(!waits(1, Job::default));
        assert!(!waits(1, blind_write));
        // A batch of several ends the run.
        assert!(waits(2, Job::default));
        assert!(waits(1, Job::default));
        // Not checked here: that a batch of one topped up by its wait counts as several
        // (`Batches::top_up` counts after `coalesce`), which needs a call sent during the wait.
    }

    /// An empty, migrated PostgreSQL database on the test server (`NOVA_TEST_DATABASE_URL`),
    /// named like the integration tests' so their sweep would drop it if the test did not;
    /// with the URL to drop it by.
    async fn scratch_postgres() -> (Db, String, String) {
        let url = crate::storage::test_postgres_url();
        let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
        let name = format!(
            "nova_t_{}_lib_{}",
            std::process::id(),
            rand::random::<u32>()
        );
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let (base, _) = url.rsplit_once('/').unwrap();
        let db = Db::connect(&format!("{base}/{name}")).await.unwrap();
        db.migrate().await.unwrap();
        (db, url, name)
    }

    /// A call that sets `counter` whatever it held (no read checked at commit).
    fn blind_write() -> Job {
        Job {
            writes: vec![Write {
                key: "counter".into(),
                op: Op::Set(b"7".to_vec()),
                expect: Expect::Any,
            }],
            ..create("", "")
        }
    }

    /// Drop a [`scratch_postgres`] database.
    async fn drop_scratch(db: Db, admin_url: &str, name: &str) {
        db.close().await;
        let mut admin = sqlx::PgConnection::connect(admin_url).await.unwrap();
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .unwrap();
    }

    /// Tenant `t1`'s POS `ticket/1`, there before any batch.
    async fn old_ticket(db: &Db) {
        sqlx::query(
            "INSERT INTO module_kv (tenant_id, module, key, value, version, updated_at) \
             VALUES ('t1', 'pos', 'ticket/1', $1, 1, 0)",
        )
        .bind(b"old".to_vec())
        .execute(db.pool())
        .await
        .unwrap();
    }

    /// A call that creates `key`, with its audit record and invocation record, both under
    /// the request id `key` names.
    fn create(key: &str, value: &str) -> Job {
        let request = format!("req-{key}-{value}");
        Job {
            tenant_id: "t1".into(),
            module: "pos".into(),
            writes: vec![Write {
                key: key.into(),
                op: Op::Set(value.as_bytes().to_vec()),
                expect: Expect::Absent,
            }],
            audits: vec![AuditEvent::new(
                Some("t1"),
                "pos",
                "pos.ticket.opened",
                Some("staff"),
                &serde_json::json!({"key": key}),
                Some(&request),
            )],
            invocation: Some(Invocation {
                id: uuid::Uuid::now_v7().to_string(),
                tenant_id: "t1".into(),
                module: "pos".into(),
                version: None,
                actor: "staff".into(),
                method: "POST".into(),
                path: "/tickets".into(),
                status: 201,
                outcome: Outcome::Ok,
                duration_us: 1,
                fuel: 1,
                request_id: request,
                error: None,
                created_at: 0,
                trace_id: None,
            }),
        }
    }

    /// Audit and invocation rows written under `request`.
    async fn rows_for(db: &Db, request: &str) -> (i64, i64) {
        let count = async |table: &str| {
            let (n,): (i64,) = sqlx::query_as(&format!(
                "SELECT count(*) FROM {table} WHERE request_id = $1"
            ))
            .bind(request)
            .fetch_one(db.pool())
            .await
            .unwrap();
            n
        };
        (count("audit_events").await, count("invocations").await)
    }

    /// A call that only read: its invocation record alone, under the request id `req-{name}`.
    fn read(name: &str) -> Job {
        Job {
            writes: Vec::new(),
            audits: Vec::new(),
            ..create(name, "")
        }
    }

    #[test]
    fn one_statement_takes_batches_of_reads_and_single_creations_only() {
        use crate::storage::one_statement::statement;
        let fits = |jobs: &[Job]| statement(&jobs.iter().collect::<Vec<_>>(), 0).is_some();
        assert!(fits(&[
            create("ticket/1", "a"),
            read("r"),
            create("ticket/2", "b")
        ]));
        assert!(fits(&[create("ticket/1", "a")]));
        // Reads alone go as a plain INSERT of records.
        assert!(!fits(&[read("r"), read("s")]));
        // A key created twice: the second finds it taken only in order, one by one.
        assert!(!fits(&[create("ticket/1", "a"), create("ticket/1", "b")]));
        // A write that is not a creation, a call with two writes, an audit without a write.
        let blind = blind_write();
        let mut two = create("ticket/3", "c");
        two.writes.extend(create("ticket/4", "d").writes);
        let audit_only = Job {
            writes: Vec::new(),
            ..create("", "")
        };
        for odd in [blind, two, audit_only] {
            assert!(!fits(&[create("ticket/1", "a"), odd]));
        }
        // Past PostgreSQL's 65,535 parameters (a call may audit many times): a transaction of
        // several statements instead.
        let mut audits_a_lot = create("ticket/5", "e");
        audits_a_lot.audits = vec![audits_a_lot.audits[0].clone(); 6000];
        assert!(!fits(&[create("ticket/1", "a"), audits_a_lot]));
        // Every placeholder has its parameter: the highest is the last one bound.
        let jobs = [create("ticket/1", "a"), read("r"), create("ticket/2", "b")];
        let stmt = statement(&jobs.iter().collect::<Vec<_>>(), 0).unwrap();
        let highest = stmt
            .sql
            .split('$')
            .skip(1)
            .map(|s| s.split(|c: char| !c.is_ascii_digit()).next().unwrap())
            .map(|n| n.parse::<usize>().unwrap())
            .max();
        assert_eq!(highest, Some(stmt.params.len()));
        assert_eq!(stmt.params.len(), 2 * 6 + 2 * (8 + 3) + 3 * (15 + 3));
    }

    #[tokio::test]
    async fn a_batch_of_reads_and_creations_commits_as_one_statement() {
        let (db, admin_url, name) = scratch_postgres().await;
        old_ticket(&db).await;
        // A creation that audits nothing and leaves no record yet (an attempt that may run
        // again).
        let quiet = Job {
            audits: Vec::new(),
            invocation: None,
            ..create("ticket/4", "quiet")
        };
        let jobs = [
            create("ticket/2", "first"),
            read("list"),
            // Taken before the batch.
            create("ticket/1", "again"),
            create("ticket/3", "third"),
            read("menu"),
            quiet,
        ];
        let jobs: Vec<&Job> = jobs.iter().collect();
        assert!(crate::storage::one_statement::statement(&jobs, 0).is_some());
        let results = commit_postgres(&db, &jobs).await.unwrap();
        assert_eq!(
            results,
            [
                Committed::Ok,
                Committed::Ok,
                Committed::Conflict(Conflict {
                    key: "ticket/1".into()
                }),
                Committed::Ok,
                Committed::Ok,
                Committed::Ok,
            ]
        );
        for (key, value) in [
            ("ticket/1", "old"),
            ("ticket/2", "first"),
            ("ticket/3", "third"),
            ("ticket/4", "quiet"),
        ] {
            let stored = kv::get(&db, "t1", "pos", key).await.unwrap().unwrap();
            assert_eq!(
                (stored.value, stored.version),
                (value.as_bytes().to_vec(), 1)
            );
        }
        // A creation's audit and record stand with its key, and only then; a read's record
        // always.
        for (request, rows) in [
            ("req-ticket/2-first", (1, 1)),
            ("req-ticket/1-again", (0, 0)),
            ("req-ticket/3-third", (1, 1)),
            ("req-list-", (0, 1)),
            ("req-menu-", (0, 1)),
            ("req-ticket/4-quiet", (0, 0)),
        ] {
            assert_eq!(rows_for(&db, request).await, rows, "{request}");
        }
        // All or nothing: a batch whose record cannot go in (its id is taken) leaves no key.
        let mut clash = create("ticket/5", "clash");
        clash.invocation.as_mut().unwrap().id = jobs[0].invocation.as_ref().unwrap().id.clone();
        let batch = [create("ticket/6", "fine"), clash];
        let batch: Vec<&Job> = batch.iter().collect();
        assert!(crate::storage::one_statement::statement(&batch, 0).is_some());
        assert!(commit_postgres(&db, &batch).await.is_err());
        for key in ["ticket/5", "ticket/6"] {
            assert!(
                kv::get(&db, "t1", "pos", key).await.unwrap().is_none(),
                "{key}"
            );
        }
        drop_scratch(db, &admin_url, &name).await;
    }

    #[tokio::test]
    async fn a_job_of_a_failed_batch_that_was_committed_after_all_is_not_told_to_run_again() {
        let (db, admin_url, name) = scratch_postgres().await;
        let job = create("ticket/1", "first");
        assert_eq!(
            commit_postgres(&db, &[&job]).await.unwrap(),
            [Committed::Ok]
        );
        // Committed again alone, as after a batch whose answer was lost: its record is there,
        // so it was committed, and nothing is written twice.
        assert_eq!(commit_alone(&db, &job).await.unwrap(), Committed::Ok);
        assert_eq!(rows_for(&db, "req-ticket/1-first").await, (1, 1));
        // Another call creating that key still finds it taken.
        let other = create("ticket/1", "second");
        assert_eq!(
            commit_alone(&db, &other).await.unwrap(),
            Committed::Conflict(Conflict {
                key: "ticket/1".into()
            })
        );
        drop_scratch(db, &admin_url, &name).await;
    }

    #[tokio::test]
    async fn a_batchs_creations_go_in_together_and_a_taken_key_conflicts() {
        let (db, admin_url, name) = scratch_postgres().await;
        old_ticket(&db).await;
        let blind = blind_write();
        let jobs = [
            create("ticket/2", "first"),
            // Taken before the batch.
            create("ticket/1", "again"),
            // Taken by the first job of this batch.
            create("ticket/2", "second"),
            create("ticket/3", "third"),
            blind,
        ];
        let jobs: Vec<&Job> = jobs.iter().collect();
        // Which jobs one statement decides: the creations whose key is theirs alone in the
        // batch (a transaction rolled back, so nothing stays).
        let decided = db
            .on_connection(async |conn| {
                let mut tx = sqlx::Connection::begin(conn).await?;
                let decided = create_together(&mut tx, &jobs).await?;
                tx.rollback().await?;
                Ok(decided)
            })
            .await
            .unwrap();
        let taken = |key: &str| {
            Some(Err(Conflict {
                key: key.to_string(),
            }))
        };
        assert_eq!(
            decided,
            [Some(Ok(())), taken("ticket/1"), None, Some(Ok(())), None]
        );
        let results = commit_postgres(&db, &jobs).await.unwrap();
        let conflict = |key: &str| {
            Committed::Conflict(Conflict {
                key: key.to_string(),
            })
        };
        assert_eq!(
            results,
            [
                Committed::Ok,
                conflict("ticket/1"),
                conflict("ticket/2"),
                Committed::Ok,
                Committed::Ok
            ]
        );
        let stored = |key: &'static str| {
            let db = db.clone();
            async move {
                kv::get(&db, "t1", "pos", key)
                    .await
                    .unwrap()
                    .map(|s| (String::from_utf8(s.value).unwrap(), s.version))
            }
        };
        assert_eq!(stored("ticket/1").await, Some(("old".into(), 1)));
        assert_eq!(stored("ticket/2").await, Some(("first".into(), 1)));
        assert_eq!(stored("ticket/3").await, Some(("third".into(), 1)));
        assert_eq!(stored("counter").await, Some(("7".into(), 1)));
        // Audits and records stand with the writes that did, and only with those.
        for (request, rows) in [
            ("req-ticket/2-first", (1, 1)),
            ("req-ticket/1-again", (0, 0)),
            ("req-ticket/2-second", (0, 0)),
            ("req-ticket/3-third", (1, 1)),
        ] {
            assert_eq!(rows_for(&db, request).await, rows, "{request}");
        }
        drop_scratch(db, &admin_url, &name).await;
    }
}
