//! How Nova's cost grows with its invocation table (issue 17, target 5), from outside: three
//! `nova serve` processes, each with 100 tenants with POS on and its invocation table holding
//! 0, 1,000,000 and 10,000,000 records (spread over the last 29 days, the way a busy month
//! leaves them), driven in alternating rounds by the same client: 32 connections calling
//! `GET /v1/portal/pos/tickets?limit=1` evenly over the tenants (`NOVA_BENCH_TRAFFIC=mixed`:
//! a restaurant's mix of reads and writes instead, see `shared/load.rs`), every call adding
//! its own durable record. Prints req/s and p99 per table size and each as a ratio to the first size.
//!
//! The records are written with SQL while the server is stopped, oldest first, with
//! time-ordered ids like the server's, into the table with its indexes in place (so their pages
//! fill as a month of calls would leave them), then `ANALYZE`d as a database that has been
//! running a while would be. On PostgreSQL autovacuum is off for every table of the series.
//!
//! SQLite always; PostgreSQL too when `NOVA_BENCH_POSTGRES=postgres://…/db` is set. Run on
//! demand: `cargo bench -p nova --bench invocation_rows` (`NOVA_BENCH_SECONDS`, default 4;
//! `NOVA_BENCH_ROUNDS`, default 3; `NOVA_BENCH_ROWS`, default `0,1000000,10000000`).

use std::time::Instant;

use sqlx::Connection;

#[path = "shared/compare.rs"]
mod compare;
#[path = "shared/load.rs"]
mod load;
#[path = "shared/postgres.rs"]
mod postgres;
#[path = "shared/process.rs"]
#[expect(
    dead_code,
    reason = "this benchmark signs its tenants' tokens itself instead of signing in"
)]
mod process;
#[path = "shared/signed.rs"]
mod signed;
#[path = "shared/threads.rs"]
mod threads;

use compare::{Target, compare};
use load::{Traffic, round};
use process::{Nova, Running};
use signed::{SECRET, env_or, tenants};

const TENANTS: usize = 100;
const MONTH_MS: i64 = 29 * 24 * 3600 * 1000;

/// One server of the series: its table size, process, address and tenants' tokens.
struct Server {
    rows: i64,
    _nova: Nova,
    running: Running,
    base: String,
    tokens: Vec<String>,
}

fn nova(database_url: Option<String>) -> Nova {
    let nova = Nova {
        data: tempfile::tempdir().unwrap(),
        database_url,
        env: vec![("NOVA_JWT_SECRET".into(), SECRET.into())],
        quiet: true,
    };
    nova.create_superadmin();
    nova
}

fn database_url(nova: &Nova) -> String {
    match &nova.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}/nova.db", nova.data.path().display()),
    }
}

/// Write `rows` invocation records for the tenants in the database, oldest first, the way
/// the server writes them: one a step over the last 29 days, each with a time-ordered
/// (UUIDv7-shaped) id and request id, into the table with all its indexes in place, so the
/// indexes fill their pages as a month of calls would.
async fn seed(url: &str, rows: i64) {
    let postgres = url.starts_with("postgres");
    let mut db = sqlx::AnyConnection::connect(url).await.unwrap();
    let prepare: &[&str] = if postgres {
        // Autovacuum off on every table of the series, the empty one too: its first round's
        // inserts would otherwise set it off mid-round on the baseline alone.
        &[
            "SET synchronous_commit = off",
            "ALTER TABLE invocations SET (autovacuum_enabled = off)",
        ]
    } else {
        // Room for the indexes' B-trees while they grow.
        &["PRAGMA cache_size = -1000000"]
    };
    for sql in prepare.iter().chain(&[
        "CREATE TABLE bench_tenants (n INTEGER PRIMARY KEY, id TEXT NOT NULL)",
        "INSERT INTO bench_tenants (n, id) SELECT ROW_NUMBER() OVER (ORDER BY id) - 1, id FROM tenants",
    ]) {
        sqlx::query(sql).execute(&mut db).await.unwrap();
    }
    let start = nova::storage::now_ms() - MONTH_MS;
    let step = (MONTH_MS / rows.max(1)).max(1);
    // The UUIDv7 layout: the millisecond in the first 48 bits, so ids sort by time.
    let (numbers, id, request) = if postgres {
        let hex = |variant: &str| {
            format!(
                "lpad(to_hex(s.ts >> 16), 8, '0') || '-' || lpad(to_hex(s.ts & 65535), 4, '0') \
                 || '-7000-{variant}-' || lpad(to_hex(s.i), 12, '0')"
            )
        };
        (
            format!("generate_series(CAST(1 AS BIGINT), {rows}) AS n(i)"),
            hex("8000"),
            hex("9000"),
        )
    } else {
        let hex = |variant: &str| {
            format!("printf('%08x-%04x-7000-{variant}-%012x', s.ts >> 16, s.ts & 65535, s.i)")
        };
        (
            format!(
                "(WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {rows}) \
                 SELECT i FROM c) AS n"
            ),
            hex("8000"),
            hex("9000"),
        )
    };
    let insert = format!(
        "INSERT INTO invocations (id, tenant_id, module, version, actor, method, path, status, \
         outcome, duration_us, fuel, request_id, error, created_at) \
         SELECT {id}, t.id, 'pos', '1', 'bench', 'GET', '/tickets', \
         CASE WHEN s.i % 50 = 0 THEN 500 ELSE 200 END, \
         CASE WHEN s.i % 50 = 0 THEN 'error' ELSE 'ok' END, 900, 100000, {request}, NULL, s.ts \
         FROM (SELECT i, {start} + i * {step} AS ts FROM {numbers}) AS s \
         JOIN bench_tenants t ON t.n = s.i % {TENANTS} ORDER BY s.i"
    );
    if rows > 0 {
        sqlx::query(&insert).execute(&mut db).await.unwrap();
    }
    // What a database that has been running a while has: statistics for its planner, a
    // vacuumed table on PostgreSQL, and the seeding's log written back, so no checkpoint
    // of it runs during the rounds.
    let settle: &[&str] = if postgres {
        &[
            "DROP TABLE bench_tenants",
            "VACUUM (ANALYZE) invocations",
            "CHECKPOINT",
        ]
    } else {
        &[
            "DROP TABLE bench_tenants",
            "ANALYZE",
            "PRAGMA wal_checkpoint(TRUNCATE)",
        ]
    };
    for sql in settle {
        sqlx::query(sql).execute(&mut db).await.unwrap();
    }
    db.close().await.unwrap();
}

/// A server whose invocation table holds `rows` records, started and warmed.
async fn server(database: Option<String>, rows: i64) -> Server {
    let nova = nova(database);
    let (running, base) = nova.start(&["serve", "--listen", "127.0.0.1:0"], "nova listening on ");
    let tokens = tenants(&base, TENANTS).await;
    drop(running);
    let started = Instant::now();
    seed(&database_url(&nova), rows).await;
    println!(
        "  {rows} records written in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let (running, base) = nova.start(&["serve", "--listen", "127.0.0.1:0"], "nova listening on ");
    round(Traffic::List, &base, &tokens, 1, 8).await;
    Server {
        rows,
        _nova: nova,
        running,
        base,
        tokens,
    }
}

/// The series on one backend; `postgres` is a scratch database for the first server.
async fn series(backend: &'static str, postgres: Option<String>) {
    let seconds = env_or("NOVA_BENCH_SECONDS", 4u64);
    let rounds = env_or("NOVA_BENCH_ROUNDS", 3usize);
    let sizes: Vec<i64> = std::env::var("NOVA_BENCH_ROWS")
        .unwrap_or_else(|_| "0,1000000,10000000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("NOVA_BENCH_ROWS: numbers, comma-separated")
        })
        .collect();
    println!("\n{backend}:");
    let mut servers = Vec::new();
    for (i, rows) in sizes.into_iter().enumerate() {
        let database = match &postgres {
            Some(url) if i == 0 => Some(url.clone()),
            Some(url) => Some(postgres::fresh_postgres(url).await),
            None => None,
        };
        servers.push(server(database, rows).await);
    }
    let traffic = Traffic::from_env(Traffic::List);
    let targets: Vec<Target> = servers
        .iter()
        .map(|s| Target {
            label: format!("{} records", s.rows),
            base: &s.base,
            tokens: &s.tokens,
            traffic,
            pid: s.running.0.id(),
            scrape: None,
        })
        .collect();
    compare(
        &format!("{backend}: records before the run"),
        &targets,
        rounds,
        seconds,
    )
    .await;
}

fn main() {
    sqlx::any::install_default_drivers();
    postgres::on_each_backend(series);
}
