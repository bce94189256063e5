//! PostgreSQL connections for the statements every call makes (a module's kv reads, the
//! committer's records), lent without sqlx's pool.
//!
//! sqlx's pool pings each connection as it comes back (`PoolConnection`'s drop spawns a
//! task that sends a `Sync` and waits for the answer), to flush what a dropped query may
//! have left behind. On PostgreSQL that is a second round trip for every statement: a
//! task, a write and a read in Nova, and a backend woken to answer, on a path where the
//! profile is mostly wake-ups. A lease here is only given back when its statement finished;
//! one dropped half way (its caller hung up) is closed instead, so nothing is left to flush.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, ConnectOptions, Connection};
use tokio::sync::{Semaphore, SemaphorePermit};

/// How long a caller waits for a connection (a free place, a check, a new connection) before
/// it is told the database cannot be reached: the pool's acquire timeout.
const LEASE_TIMEOUT: Duration = Duration::from_secs(10);

/// An idle connection unused this long is closed rather than kept: a firewall or the
/// server's `idle_session_timeout` may drop it silently meanwhile.
const IDLE_LIMIT: Duration = Duration::from_secs(300);

/// Connections lent one statement at a time.
pub(crate) struct Direct {
    options: AnyConnectOptions,
    /// Idle connections, the most recently used last. `None` once closed.
    idle: Mutex<Option<Vec<(AnyConnection, Instant)>>>,
    permits: Semaphore,
    recheck_after: Duration,
    /// [`LEASE_TIMEOUT`], but for tests.
    lease_timeout: Duration,
}

/// One lent connection. Given back by [`Lease::release`]; dropped otherwise, which closes it.
struct Lease<'a> {
    direct: &'a Direct,
    conn: Option<AnyConnection>,
    _permit: SemaphorePermit<'a>,
}

impl Direct {
    /// Connections open at once, at most. A kv read takes well under a millisecond, so a
    /// few serve many calls; the pool beside them keeps its own 16.
    pub(crate) const MAX_OPEN: usize = 8;

    /// Lend connections to the database of `options`; one idle for longer than
    /// `recheck_after` is pinged before it is lent again (the server may have dropped it).
    pub(crate) fn new(options: AnyConnectOptions, recheck_after: Duration) -> Self {
        Self {
            options,
            idle: Mutex::new(Some(Vec::new())),
            permits: Semaphore::new(Self::MAX_OPEN),
            recheck_after,
            lease_timeout: LEASE_TIMEOUT,
        }
    }

    /// Run `statement` on a lent connection. The connection is given back when the statement
    /// succeeded; after an error, or when the caller stops waiting half way, it is closed.
    pub(crate) async fn run<T>(
        &self,
        statement: impl AsyncFnOnce(&mut AnyConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        let mut lease = tokio::time::timeout(self.lease_timeout, self.lease())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        let out = statement(lease.conn()).await;
        if out.is_ok() {
            lease.release();
        }
        out
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Option<Vec<(AnyConnection, Instant)>>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection for one statement: an idle one, or a new one.
    async fn lease(&self) -> Result<Lease<'_>, sqlx::Error> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        loop {
            let idle = self.idle().as_mut().and_then(Vec::pop);
            let Some((mut conn, since)) = idle else { break };
            if since.elapsed() <= self.recheck_after || conn.ping().await.is_ok() {
                return Ok(self.lent(conn, permit));
            }
        }
        let conn = self.connect().await?;
        Ok(self.lent(conn, permit))
    }

    /// A new connection. While the server restarts (it refuses connections, or says it is
    /// starting up), try again with a growing pause, as the pool does, until the caller's
    /// [`LEASE_TIMEOUT`] ends it.
    async fn connect(&self) -> Result<AnyConnection, sqlx::Error> {
        let mut pause = Duration::from_millis(10);
        loop {
            match self.options.connect().await {
                Err(e) if server_unavailable(&e) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                done => return done,
            }
        }
    }

    fn lent<'a>(&'a self, conn: AnyConnection, permit: SemaphorePermit<'a>) -> Lease<'a> {
        Lease {
            direct: self,
            conn: Some(conn),
            _permit: permit,
        }
    }

    /// Connections lent now, and open (lent or idle); at most [`Direct::MAX_OPEN`].
    pub(crate) fn sizes(&self) -> (usize, usize) {
        let lent = Self::MAX_OPEN - self.permits.available_permits();
        let idle = self.idle().as_ref().map_or(0, Vec::len);
        (lent, lent + idle)
    }

    /// Lend no more, and close every idle connection (telling the server).
    pub(crate) async fn close(&self) {
        self.permits.close();
        let idle = self.idle().take().unwrap_or_default();
        for (conn, _) in idle {
            let _ = conn.close().await;
        }
    }
}

/// A connection refused, or PostgreSQL saying it cannot take connections yet (`57P03`: it
/// is starting up, shutting down or in recovery): worth another try.
fn server_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::ConnectionRefused,
        sqlx::Error::Database(db) => db.code().as_deref() == Some("57P03"),
        _ => false,
    }
}

impl Lease<'_> {
    /// The connection, for one statement.
    fn conn(&mut self) -> &mut AnyConnection {
        self.conn.as_mut().expect("a lease holds its connection")
    }

    /// Give the connection back: its statement finished, so it is ready for the next. Idle
    /// connections unused for [`IDLE_LIMIT`] are dropped on the way.
    fn release(mut self) {
        let Some(conn) = self.conn.take() else { return };
        // Under the lock: a lender closed meanwhile keeps nothing.
        if let Some(idle) = self.direct.idle().as_mut() {
            let now = Instant::now();
            idle.retain(|(_, since)| now.duration_since(*since) < IDLE_LIMIT);
            idle.push((conn, now));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    /// A lender to the test server (`NOVA_TEST_DATABASE_URL`, as the integration tests use).
    fn lender(recheck_after: Duration) -> Direct {
        lender_to(&crate::storage::test_postgres_url(), recheck_after)
    }

    fn lender_to(url: &str, recheck_after: Duration) -> Direct {
        sqlx::any::install_default_drivers();
        Direct::new(AnyConnectOptions::from_str(url).unwrap(), recheck_after)
    }

    async fn backend(direct: &Direct) -> Result<i32, sqlx::Error> {
        direct
            .run(async |conn| {
                let (pid,): (i32,) = sqlx::query_as("SELECT pg_backend_pid()")
                    .fetch_one(conn)
                    .await?;
                Ok(pid)
            })
            .await
    }

    /// Wait until the server has no backend `pid` any more.
    async fn until_gone(pid: i32) {
        let watcher = lender(Duration::from_secs(60));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = watcher
                .run(async |conn| {
                    let (n,): (i64,) =
                        sqlx::query_as("SELECT count(*) FROM pg_stat_activity WHERE pid = $1")
                            .bind(pid)
                            .fetch_one(conn)
                            .await?;
                    Ok(n)
                })
                .await
                .unwrap();
            if left == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "backend {pid} never ended");
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_finished_statement_gives_its_connection_back() {
        let direct = lender(Duration::from_secs(60));
        let first = backend(&direct).await.unwrap();
        assert_eq!(backend(&direct).await.unwrap(), first);
    }

    #[tokio::test]
    async fn sizes_count_lent_and_idle_connections() {
        let direct = lender(Duration::from_secs(60));
        assert_eq!(direct.sizes(), (0, 0));
        let seen = direct
            .run(async |conn| {
                sqlx::query("SELECT 1").execute(conn).await?;
                Ok(direct.sizes())
            })
            .await
            .unwrap();
        assert_eq!(seen, (1, 1));
        assert_eq!(direct.sizes(), (0, 1));
    }

    #[tokio::test]
    async fn a_failed_statement_closes_its_connection() {
        let direct = lender(Duration::from_secs(60));
        let first = backend(&direct).await.unwrap();
        let failed = direct
            .run(async |conn| sqlx::query("SELECT 1 / 0").execute(conn).await)
            .await;
        assert!(failed.is_err());
        assert_ne!(backend(&direct).await.unwrap(), first);
        until_gone(first).await;
    }

    #[tokio::test]
    async fn a_statement_given_up_half_way_is_not_lent_again() {
        let direct = lender(Duration::from_secs(60));
        let first = backend(&direct).await.unwrap();
        let sleeping =
            direct.run(async |conn| sqlx::query("SELECT pg_sleep(5)").execute(conn).await);
        assert!(
            tokio::time::timeout(Duration::from_millis(100), sleeping)
                .await
                .is_err()
        );
        // Lent again, the connection would answer only once the sleep ended, 5 s from now.
        let next = tokio::time::timeout(Duration::from_secs(10), backend(&direct))
            .await
            .expect("the next statement waited behind the abandoned one")
            .unwrap();
        // (The server itself runs the sleep to its end: it only notices the closed socket then.)
        assert_ne!(next, first);
    }

    #[tokio::test]
    async fn an_idle_connection_the_server_dropped_is_replaced() {
        // Every idle connection is checked before it is lent again.
        let direct = lender(Duration::ZERO);
        let first = backend(&direct).await.unwrap();
        let other = lender(Duration::from_secs(60));
        other
            .run(async |conn| {
                sqlx::query("SELECT pg_terminate_backend($1)")
                    .bind(first)
                    .execute(conn)
                    .await
            })
            .await
            .unwrap();
        until_gone(first).await;
        let next = backend(&direct)
            .await
            .expect("the dropped connection was lent");
        assert_ne!(next, first);
    }

    #[tokio::test]
    async fn a_server_that_refuses_connections_is_retried_until_the_timeout() {
        // Nothing listens on port 1.
        let direct = Direct {
            lease_timeout: Duration::from_millis(300),
            ..lender_to(
                "postgres://postgres@127.0.0.1:1/test",
                Duration::from_secs(60),
            )
        };
        let started = Instant::now();
        let refused = backend(&direct).await;
        assert!(
            matches!(refused, Err(sqlx::Error::PoolTimedOut)),
            "{refused:?}"
        );
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(direct.sizes(), (0, 0));
    }

    #[tokio::test]
    async fn a_closed_lender_lends_nothing() {
        let direct = lender(Duration::from_secs(60));
        backend(&direct).await.unwrap();
        direct.close().await;
        assert!(matches!(
            backend(&direct).await,
            Err(sqlx::Error::PoolClosed)
        ));
        assert_eq!(direct.sizes(), (0, 0));
    }
}
