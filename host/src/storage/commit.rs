//! Group commit: one writer task commits the results of many calls in one transaction.
//!
//! Each call hands over its kv writes, audit records and invocation record and waits for
//! the commit of the batch that holds them, so a 2xx is only sent once its writes and its
//! record are durable. Calls with kv writes run inside a savepoint: a call whose read keys
//! changed is rolled back alone and told `Conflict`, the rest of the batch commits.

use tokio::sync::{mpsc, oneshot};

use super::Db;
use super::audit::{self, AuditEvent};
use super::invocations::{self, Invocation};
use super::kv::{self, Conflict, Write};

/// Most calls committed in one transaction.
const MAX_BATCH: usize = 256;

/// Everything one call wants committed.
#[derive(Debug, Default)]
pub struct Job {
    pub tenant_id: String,
    pub module: String,
    pub writes: Vec<Write>,
    pub audits: Vec<AuditEvent>,
    /// `None` for an attempt that may still be retried.
    pub invocation: Option<Invocation>,
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
    /// Start the writer task on the current runtime.
    pub fn start(db: Db) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(writer(db, rx));
        Self { tx }
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

async fn writer(db: Db, mut rx: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs: Vec<&Job> = batch.iter().map(|p| &p.job).collect();
        match commit_batch(&db, &jobs).await {
            Ok(results) => {
                for (p, r) in batch.drain(..).zip(results) {
                    let _ = p.reply.send(Ok(r));
                }
            }
            Err(e) => {
                // One bad job must not fail its neighbours: retry each on its own.
                tracing::warn!(error = %e, jobs = batch.len(), "batch commit failed; committing one by one");
                for p in batch.drain(..) {
                    let result = commit_batch(&db, &[&p.job])
                        .await
                        .map(|mut r| r.remove(0))
                        .map_err(|e| CommitError(e.to_string()));
                    let _ = p.reply.send(result);
                }
            }
        }
    }
}

async fn commit_batch(db: &Db, jobs: &[&Job]) -> Result<Vec<Committed>, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    let mut results = Vec::with_capacity(jobs.len());
    let mut records = Vec::with_capacity(jobs.len());
    for job in jobs {
        if job.writes.is_empty() {
            for e in &job.audits {
                audit::insert(&mut tx, e).await?;
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
            for e in &job.audits {
                audit::insert(&mut sp, e).await?;
            }
            sp.commit().await?;
        }
        if let Some(inv) = &job.invocation {
            records.push(inv);
        }
        results.push(Committed::Ok);
    }
    for chunk in records.chunks(128) {
        invocations::insert_many(&mut tx, chunk).await?;
    }
    tx.commit().await?;
    Ok(results)
}
