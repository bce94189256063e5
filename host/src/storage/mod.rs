//! The database: one connection pool over SQLite (embedded default) or PostgreSQL, with the
//! same SQL for both. Queries use `$N` placeholders, which both backends accept. On
//! PostgreSQL the statements every call makes (kv reads, the committer's) run on connections
//! lent beside the pool (`direct`, through `Db::on_connection`).

pub(crate) mod analytics;
pub mod announcements;
pub mod audit;
pub(crate) mod billing_events;
mod checkpoint;
pub mod commit;
mod direct;
pub(crate) use direct::Direct;
pub(crate) mod exports;
pub mod grants;
pub mod invocations;
pub(crate) mod invoices;
pub(crate) mod keys;
pub mod kv;
pub(crate) mod local_reads;
pub(crate) mod mail;
pub(crate) mod maintenance;
pub(crate) mod modules;
mod one_statement;
pub mod outbox;
pub(crate) mod page;
pub(crate) mod password_resets;
pub(crate) mod plans;
pub(crate) mod presets;
pub(crate) mod registrations;
pub mod sealed;
pub(crate) mod sequences;
pub(crate) mod service_tokens;
pub(crate) mod settings;
pub(crate) mod stmt;
pub mod subscriptions;
pub mod tenants;
pub mod toggles;
pub mod users;

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

/// Which database the pool talks to. Only used where the two SQL dialects really differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// The embedded default: a file in the data directory.
    Sqlite,
    /// Production: `DATABASE_URL=postgres://…`.
    Postgres,
}

/// A handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    url: std::sync::Arc<str>,
    /// Tells this handle's SQLite readers on other threads (`local_reads`) from those of an
    /// earlier handle to a file of the same name (a restore replaces the file).
    generation: u64,
    /// PostgreSQL only: connections for the statements every call makes, lent without the
    /// pool's round trip on return (`direct`).
    direct: Option<std::sync::Arc<direct::Direct>>,
    /// Seals secrets at rest (signing keys), when `NOVA_MASTER_KEY` is set.
    master_key: Option<std::sync::Arc<sealed::MasterKey>>,
}

/// A pooled connection idle longer than this is pinged before it is handed out again.
const RECHECK_IDLE_AFTER: Duration = Duration::from_secs(1);

static NEXT_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

impl Db {
    /// Connect to `url` (`sqlite://…` or `postgres://…`). Does not run migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, None).await
    }

    /// Like [`Db::connect`] with an explicit pool size.
    pub(crate) async fn connect_with(
        url: &str,
        max_connections: Option<u32>,
    ) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("DATABASE_URL must start with sqlite: or postgres:, got {url:?}");
        };
        let options = AnyConnectOptions::from_str(url).context("parsing DATABASE_URL")?;
        let direct = (backend == Backend::Postgres)
            .then(|| std::sync::Arc::new(direct::Direct::new(options.clone(), RECHECK_IDLE_AFTER)));
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.unwrap_or(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            }))
            .acquire_timeout(Duration::from_secs(10))
            // sqlx pings every connection it hands out unless told otherwise: a round trip
            // before each query on PostgreSQL, a hop to the worker thread on SQLite. A
            // connection coming back to the pool is pinged on its way in already, so only one
            // idle long enough for the server to have dropped it is checked again.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > RECHECK_IDLE_AFTER {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the single writer; NORMAL keeps commits
                        // durable against process crashes (only an OS crash can lose the tail).
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .with_context(|| format!("connecting to the database ({})", redact(url)))?;
        Ok(Self {
            pool,
            backend,
            url: url.into(),
            generation: NEXT_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            direct,
            master_key: None,
        })
    }

    /// Apply every pending migration for this backend.
    pub(crate) async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .context("running migrations")?;
        Ok(())
    }

    /// A transaction for writing. On SQLite it takes the write lock as it starts (`BEGIN
    /// IMMEDIATE`): a transaction that reads before it writes would otherwise fail with
    /// "database is locked" when another writer commits in between, since waiting
    /// (`busy_timeout`) cannot help a read lock that must become a write lock.
    ///
    /// The transaction starts in a task of its own. If the caller is dropped while `BEGIN` is
    /// under way (a client hung up, a request timed out), sqlx hands a PostgreSQL connection
    /// back to the pool inside a transaction nobody owns; the next user's statements then ran
    /// in it (PostgreSQL warned "there is already a transaction in progress") and its locks
    /// stayed held. A task that finishes drops its `Transaction`, which rolls back.
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        let (pool, backend) = (self.pool.clone(), self.backend);
        joined(tokio::spawn(tracing::Instrument::in_current_span(
            async move {
                match backend {
                    Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
                    Backend::Postgres => pool.begin().await,
                }
            },
        )))
        .await
    }

    /// The same handle, sealing secrets at rest with `key`.
    pub fn with_master_key(mut self, key: Option<sealed::MasterKey>) -> Self {
        self.master_key = key.map(std::sync::Arc::new);
        self
    }

    /// The master key secrets at rest are sealed with, if any.
    pub(crate) fn master_key(&self) -> Option<&sealed::MasterKey> {
        self.master_key.as_deref()
    }

    /// The pool, for queries.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// On PostgreSQL, connections lent one statement at a time without the pool's ping.
    pub(crate) fn direct(&self) -> Option<&direct::Direct> {
        self.direct.as_deref()
    }

    /// Run `statement` on one connection: on PostgreSQL one lent without the pool's ping on
    /// its return (`direct`: for the statements every call makes), on SQLite the pool's.
    pub(crate) async fn on_connection<T>(
        &self,
        statement: impl AsyncFnOnce(&mut sqlx::AnyConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        match &self.direct {
            Some(direct) => direct.run(statement).await,
            None => statement(&mut *self.pool.acquire().await?).await,
        }
    }

    /// The URL this handle connected to (with its password: never log it unredacted).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Which handle this is, among every handle this process opened.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Which backend this is.
    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// True when a trivial query answers.
    pub(crate) async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Close every connection (used on shutdown and by restart tests).
    pub async fn close(&self) {
        if let Some(direct) = &self.direct {
            direct.close().await;
        }
        self.pool.close().await;
    }
}

/// Commit a transaction from [`Db::begin`] in a task of its own, so that it finishes even if
/// its caller does not wait for it. A request dropped while COMMIT is under way (the client
/// hung up, the request timed out) would otherwise drop the `Transaction` with it, and sqlx
/// then queues a ROLLBACK behind the COMMIT it has already sent: the writes stand, but
/// PostgreSQL answers the ROLLBACK with "there is no transaction in progress", which the pool
/// logs as a warning when the connection comes back, about nothing that went wrong.
pub async fn commit_in_task(tx: sqlx::Transaction<'static, sqlx::Any>) -> Result<(), sqlx::Error> {
    joined(tokio::spawn(tracing::Instrument::in_current_span(
        tx.commit(),
    )))
    .await
}

/// The result of a task running a database step. A panic in it is the caller's panic, as
/// if the step had run in place, not a storage outage.
async fn joined<T>(
    task: tokio::task::JoinHandle<Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    match task.await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(sqlx::Error::Io(std::io::Error::other(e.to_string()))),
    }
}

/// Hide the password in a database URL before it reaches a log or error message.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***{}", &url[..scheme_end], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

/// Milliseconds since the Unix epoch: the unit of every `*_at` column.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Placeholders `$first, …, $(first + n - 1)` for an `IN (…)` list: the list is built from
/// placeholders, never from the values.
pub(crate) fn marks(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `s` fit for a text column on every backend: PostgreSQL refuses NUL in text, so it is
/// replaced by U+FFFD (records of what happened must be written whatever the input was).
pub(crate) fn plain_text(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_string()
    }
}

/// Render a `*_at` column for the API (RFC 3339, UTC, milliseconds).
pub(crate) fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// True when a database error is a unique-constraint violation on either backend.
/// Whether `err` means storage could not be reached (so a retry may succeed), rather than a
/// statement that failed.
pub(crate) fn is_unreachable(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed
    )
}

pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation)
                || db.code().as_deref() == Some("23505")
                || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

/// Serialise one kind of change (`lock` names it: enabled superadmins, signing keys) within
/// `conn`'s transaction. SQLite's writers already take turns (`BEGIN IMMEDIATE`); on
/// PostgreSQL two transactions would each count the other's row as still enabled, so they
/// take an advisory lock.
pub(crate) async fn serialise_in(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    lock: i64,
) -> Result<(), sqlx::Error> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock($1)) AS l")
            .bind(lock)
            .fetch_all(conn)
            .await?;
    }
    Ok(())
}

/// The PostgreSQL server the storage tests use (`NOVA_TEST_DATABASE_URL`, as the integration
/// tests do).
#[cfg(test)]
pub(crate) fn test_postgres_url() -> String {
    std::env::var("NOVA_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A migrated SQLite database in `dir`, for tests; with its URL, for a direct connection.
#[cfg(test)]
pub(crate) async fn scratch_sqlite(dir: &tempfile::TempDir) -> (Db, String) {
    let url = format!("sqlite://{}/nova.db?mode=rwc", dir.path().display());
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    (db, url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_password_only() {
        assert_eq!(
            redact("postgres://nova:s3cret@db:5432/nova"),
            "postgres://nova:***@db:5432/nova"
        );
        assert_eq!(
            redact("sqlite://./nova-data/nova.db"),
            "sqlite://./nova-data/nova.db"
        );
    }

    #[test]
    fn rfc3339_renders_utc_millis() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_500), "1970-01-01T00:00:01.500Z");
    }

    /// The SQLite linked in is built as `.cargo/config.toml` asks (`LIBSQLITE3_FLAGS`): no
    /// memory statistics and no page cache shared by every connection, each behind a global
    /// mutex. A build that lost the setting would be about 7% slower on a module's read
    /// (docs/PERFORMANCE.md, twenty-fourth session) and nothing else would say so.
    #[test]
    fn sqlite_is_built_without_memory_statistics_or_a_shared_page_cache() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let mut stmt = conn.prepare("PRAGMA compile_options").unwrap();
        let options: Vec<String> = stmt
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
    }
}
