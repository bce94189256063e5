//! `outbox`: the durable job queue. Jobs are written in the same transaction as the rows they
//! act on; a worker claims one with a lease, finishes it in the transaction that applies its
//! effect, or gives it back with a retry time. A worker that dies leaves a lease that runs
//! out, and the job is claimed again.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::{Db, now_ms, rfc3339};

/// A job a worker holds.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub(crate) id: String,
    pub(crate) queue: String,
    /// What the job is about: a billing event's id, a mail's, an export's.
    pub ref_id: String,
    /// Attempts so far, this one included.
    pub(crate) attempts: i64,
}

/// A job as operators see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobView {
    pub(crate) id: String,
    pub(crate) queue: String,
    pub(crate) ref_id: String,
    pub(crate) status: String,
    pub(crate) attempts: i64,
    pub(crate) next_attempt_at: String,
    pub(crate) last_error: Option<String>,
}

/// Add a job to `queue` for `ref_id`, due now.
pub(crate) async fn enqueue_in(
    conn: &mut AnyConnection,
    queue: &str,
    ref_id: &str,
) -> Result<String, sqlx::Error> {
    let id = uuid::Uuid::now_v7().to_string();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO outbox (id, queue, ref_id, status, attempts, next_attempt_at, created_at, updated_at) \
         VALUES ($1, $2, $3, 'pending', 0, $4, $4, $4)",
    )
    .bind(&id)
    .bind(queue)
    .bind(ref_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(id)
}

/// Claim the oldest due job of `queue` for `worker` under a lease of `lease_ms`.
pub async fn claim(
    db: &Db,
    queue: &str,
    worker: &str,
    lease_ms: i64,
) -> Result<Option<Claimed>, sqlx::Error> {
    Ok(claim_many(db, queue, worker, lease_ms, 1).await?.pop())
}

/// Claim up to `n` of the oldest due jobs of `queue` for `worker`, each under a lease of
/// `lease_ms`, in one statement: oldest first. Safe under concurrency on both backends:
/// the outer `WHERE` is re-checked on each row, so of two workers that picked the same job
/// only one gets it (the other gets fewer this time and looks again).
pub async fn claim_many(
    db: &Db,
    queue: &str,
    worker: &str,
    lease_ms: i64,
    n: i64,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let now = now_ms();
    // PostgreSQL: concurrent workers skip rows another is claiming instead of all racing for
    // the oldest jobs, and the pick is materialized so it runs once: as a plain `IN`
    // subquery the planner may run it again, each run skipping the rows the last one
    // locked, and claim more than `n`. SQLite has one writer at a time, so there is no race
    // to skip.
    let (materialized, skip) = match db.backend() {
        super::Backend::Postgres => ("MATERIALIZED", "FOR UPDATE SKIP LOCKED"),
        super::Backend::Sqlite => ("", ""),
    };
    let sql = format!(
        "WITH picked AS {materialized} (SELECT id FROM outbox WHERE queue = $4 \
              AND status IN ('pending', 'retrying') AND next_attempt_at <= $3 \
              AND (locked_until IS NULL OR locked_until < $3) \
              ORDER BY next_attempt_at, id LIMIT $5 {skip}) \
         UPDATE outbox SET locked_by = $1, locked_until = $2, attempts = attempts + 1, updated_at = $3 \
         WHERE id IN (SELECT id FROM picked) \
         AND status IN ('pending', 'retrying') AND (locked_until IS NULL OR locked_until < $3) \
         RETURNING id, queue, ref_id, attempts, next_attempt_at"
    );
    let rows = sqlx::query(&sql)
        .bind(worker)
        .bind(now + lease_ms)
        .bind(now)
        .bind(queue)
        .bind(n)
        .fetch_all(db.pool())
        .await?;
    let mut claimed = rows
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<i64, _>("next_attempt_at")?,
                Claimed {
                    id: r.try_get("id")?,
                    queue: r.try_get("queue")?,
                    ref_id: r.try_get("ref_id")?,
                    attempts: r.try_get("attempts")?,
                },
            ))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    // RETURNING keeps no order.
    claimed.sort_by(|(a, x), (b, y)| (a, &x.id).cmp(&(b, &y.id)));
    Ok(claimed.into_iter().map(|(_, c)| c).collect())
}

/// Mark a held job done, inside the transaction that applied its effect. False when the
/// lease was lost (another worker took the job over): roll back then.
pub(crate) async fn complete_in(
    conn: &mut AnyConnection,
    job: &Claimed,
    worker: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE outbox SET status = 'done', locked_by = NULL, locked_until = NULL, last_error = NULL, updated_at = $1 \
         WHERE id = $2 AND locked_by = $3 AND status IN ('pending', 'retrying')",
    )
    .bind(now_ms())
    .bind(&job.id)
    .bind(worker)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Hold a job `lease_ms` longer (a long job renews its lease as it goes, so no other worker
/// takes it over). False when the lease was lost already.
pub(crate) async fn renew(
    db: &Db,
    job: &Claimed,
    worker: &str,
    lease_ms: i64,
) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let held = sqlx::query(
        "UPDATE outbox SET locked_until = $1, updated_at = $2 \
         WHERE id = $3 AND locked_by = $4 AND status IN ('pending', 'retrying')",
    )
    .bind(now + lease_ms)
    .bind(now)
    .bind(&job.id)
    .bind(worker)
    .execute(db.pool())
    .await?;
    Ok(held.rows_affected() == 1)
}

/// Give a held job back after a failure: due again at `retry_at`, or `failed` when `None`.
pub(crate) async fn give_back_in(
    conn: &mut AnyConnection,
    job: &Claimed,
    worker: &str,
    error: &str,
    retry_at: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let (status, next) = match retry_at {
        Some(t) => ("retrying", t),
        None => ("failed", now_ms()),
    };
    let done = sqlx::query(
        "UPDATE outbox SET status = $1, next_attempt_at = $2, last_error = $3, locked_by = NULL, \
         locked_until = NULL, updated_at = $4 WHERE id = $5 AND locked_by = $6",
    )
    .bind(status)
    .bind(next)
    .bind(error)
    .bind(now_ms())
    .bind(&job.id)
    .bind(worker)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Make a job due now with its attempts reset (operator retry or replay); the job.
pub(crate) async fn retry_in(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<JobView>, sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1, last_error = NULL, \
         locked_by = NULL, locked_until = NULL, updated_at = $1 WHERE id = $2",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    get_in(conn, id).await
}

/// One job.
pub(crate) async fn get_in(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<JobView>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, queue, ref_id, status, attempts, next_attempt_at, last_error FROM outbox WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(|r| view(&r)).transpose()
}

/// The newest job for `ref_id`.
pub(crate) async fn for_ref_in(
    conn: &mut AnyConnection,
    ref_id: &str,
) -> Result<Option<JobView>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, queue, ref_id, status, attempts, next_attempt_at, last_error FROM outbox \
         WHERE ref_id = $1 ORDER BY created_at DESC LIMIT 1",
    )
    .bind(ref_id)
    .fetch_optional(conn)
    .await?;
    row.map(|r| view(&r)).transpose()
}

fn view(r: &sqlx::any::AnyRow) -> Result<JobView, sqlx::Error> {
    Ok(JobView {
        id: r.try_get("id")?,
        queue: r.try_get("queue")?,
        ref_id: r.try_get("ref_id")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: rfc3339(r.try_get("next_attempt_at")?),
        last_error: r.try_get("last_error")?,
    })
}

/// One queue's jobs by status.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueueView {
    pub(crate) queue: String,
    pub(crate) pending: i64,
    pub(crate) retrying: i64,
    pub(crate) failed: i64,
    pub(crate) done: i64,
}

/// Every queue with its jobs counted by status, by name.
pub(crate) async fn queues(db: &Db) -> Result<Vec<QueueView>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT queue, status, COUNT(*) AS n FROM outbox GROUP BY queue, status")
            .fetch_all(db.pool())
            .await?;
    let mut out: std::collections::BTreeMap<String, QueueView> = Default::default();
    for r in &rows {
        let queue: String = r.try_get("queue")?;
        let status: String = r.try_get("status")?;
        let n: i64 = r.try_get("n")?;
        let q = out.entry(queue.clone()).or_insert_with(|| QueueView {
            queue,
            ..QueueView::default()
        });
        match status.as_str() {
            "pending" => q.pending += n,
            "retrying" => q.retrying += n,
            "failed" => q.failed += n,
            _ => q.done += n,
        }
    }
    Ok(out.into_values().collect())
}

/// Up to `limit` jobs in `statuses` (any queue, or `queue`), the most recently changed first.
pub(crate) async fn list(
    db: &Db,
    queue: Option<&str>,
    statuses: &[String],
    limit: i64,
) -> Result<Vec<JobView>, sqlx::Error> {
    let mut sql = String::from(
        "SELECT id, queue, ref_id, status, attempts, next_attempt_at, last_error FROM outbox \
         WHERE ($1 IS NULL OR queue = $1)",
    );
    if !statuses.is_empty() {
        sql.push_str(&format!(
            " AND status IN ({})",
            super::marks(3, statuses.len())
        ));
    }
    sql.push_str(" ORDER BY updated_at DESC, id LIMIT $2");
    let mut q = sqlx::query(&sql).bind(queue).bind(limit);
    for s in statuses {
        q = q.bind(s);
    }
    q.fetch_all(db.pool()).await?.iter().map(view).collect()
}

/// Jobs waiting in each queue (pending or retrying), for the queue-depth gauges.
pub async fn depths(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT queue, COUNT(*) AS n FROM outbox WHERE status IN ('pending', 'retrying') GROUP BY queue",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("queue")?, r.try_get("n")?)))
        .collect()
}

/// When the next job of `queue` is due or its lease runs out (none waiting: `None`), so an
/// idle worker sleeps exactly until then.
pub(crate) async fn next_due(db: &Db, queue: &str) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT MIN(CASE WHEN locked_until IS NOT NULL AND locked_until > next_attempt_at \
         THEN locked_until ELSE next_attempt_at END) AS t \
         FROM outbox WHERE queue = $1 AND status IN ('pending', 'retrying')",
    )
    .bind(queue)
    .fetch_one(db.pool())
    .await?;
    row.try_get::<Option<i64>, _>("t")
}
