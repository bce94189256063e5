//! How Nova's cost grows with the number of tenants (issue 17, target 5), from outside: one
//! `nova serve` with 10,000 tenants with POS on, and the same client (32 connections) spreading
//! a restaurant's mix of calls (for each tenant in turn: its tickets listed, its menu read, a
//! ticket opened; `shared/load.rs`) evenly over 1, 100 and 10,000 of them in alternating
//! rounds. Then the server's resident memory per tenant that has called once: before the
//! tenants past the first 256 called (those warm what does not grow with tenants), after, and
//! once the tenants are idle (the per-tenant maps swept, the views dropped); each as resident
//! memory and as the heap's live bytes.
//!
//! On SQLite, then on a scratch PostgreSQL database when `NOVA_BENCH_POSTGRES=postgres://…/db`
//! is set, with each PostgreSQL figure as a ratio to SQLite's at the end (issue 17, target 6).
//! Tokens are signed here with the server's `NOVA_JWT_SECRET` (10,000 sign-ins would measure
//! Argon2, not the host). Prints req/s and p99 per tenant count and each as a ratio to one
//! tenant. Run on demand: `cargo bench -p nova --bench tenant_scale` (`NOVA_BENCH_SECONDS`,
//! default 4; `NOVA_BENCH_ROUNDS`, default 3; `NOVA_BENCH_TENANTS`, default 10000;
//! `NOVA_BENCH_TRAFFIC`, `mixed` (the default) or `list` (`GET pos/tickets?limit=1` alone, as
//! the runs before 2026-12-06 measured); `NOVA_WARM_INSTANCES` and `NOVA_WARM_MAKE_WAY_MS` are
//! passed on to the server).

use std::time::{Duration, Instant};

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
use process::Nova;
use signed::{SECRET, env_or, tenants};

/// The server's resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// The scrape token the benchmark gives the server, to read its heap from `/metrics`.
const SCRAPE_TOKEN: &str = "tenant-scale-scrape-token";

/// The server's heap gauges in KiB: live allocations, and what the allocator holds.
async fn heap_kib(base: &str) -> (f64, f64) {
    let text = compare::metrics_text(base, SCRAPE_TOKEN).await;
    let gauge = |name: &str| -> f64 {
        compare::metric(&text, name).unwrap_or_else(|| panic!("{name} missing from /metrics"))
            / 1024.0
    };
    (
        gauge("nova_heap_allocated_bytes"),
        gauge("nova_heap_resident_bytes"),
    )
}

/// Tenants called once before the memory per tenant is measured (at most half of them).
const WARM_UP_TENANTS: usize = 256;

/// One call of each tenant's token, 32 at a time.
async fn call_each_once(base: &str, tokens: &[String]) {
    let http = reqwest::Client::new();
    for chunk in tokens.chunks(32) {
        let calls: Vec<_> = chunk
            .iter()
            .map(|t| {
                http.get(format!("{base}/v1/portal/pos/tickets?limit=1"))
                    .bearer_auth(t)
                    .send()
            })
            .collect();
        for c in futures_util::future::join_all(calls).await {
            assert_eq!(c.unwrap().status(), 200);
        }
    }
}

/// The medians of one backend's rounds, per tenant count: req/s and p99 ms.
type Medians = Vec<(f64, f64)>;

fn main() {
    let results = std::sync::Mutex::new(Vec::new());
    postgres::on_each_backend(|backend, database_url| {
        let results = &results;
        async move {
            let medians = run(backend, database_url).await;
            results.lock().unwrap().push(medians);
        }
    });
    let results = results.into_inner().unwrap();
    if let [sqlite, postgres] = &results[..] {
        println!("\n| active tenants | PostgreSQL / SQLite, req/s | p99 |\n|---|---|---|");
        for (count, (s, p)) in tenant_counts().iter().zip(sqlite.iter().zip(postgres)) {
            println!("| {count} | {:.2} | {:.2} |", p.0 / s.0, p.1 / s.1);
        }
    }
}

/// How many tenants each target spreads its calls over.
fn tenant_counts() -> Vec<usize> {
    let n = env_or("NOVA_BENCH_TENANTS", 10_000usize);
    vec![1, 100.min(n), n]
}

/// The whole benchmark on one backend (`database_url` is a scratch PostgreSQL database, or
/// `None` for SQLite); the medians of each tenant count's rounds.
async fn run(backend: &'static str, database_url: Option<String>) -> Medians {
    let seconds = env_or("NOVA_BENCH_SECONDS", 4u64);
    let rounds = env_or("NOVA_BENCH_ROUNDS", 3usize);
    let traffic = Traffic::from_env(Traffic::Mixed);
    let counts = tenant_counts();
    let n = counts[2];
    let mut env = vec![
        ("NOVA_JWT_SECRET".into(), SECRET.into()),
        ("NOVA_METRICS_TOKEN".into(), SCRAPE_TOKEN.into()),
    ];
    // The server's warm-instance cap and make-way age, to see what other values cost and give,
    // and its perf map, to profile it.
    for name in [
        "NOVA_WARM_INSTANCES",
        "NOVA_WARM_MAKE_WAY_MS",
        "NOVA_PERFMAP",
    ] {
        if let Ok(value) = std::env::var(name) {
            env.push((name.into(), value));
        }
    }
    let nova = Nova {
        data: tempfile::tempdir().unwrap(),
        database_url,
        env,
        quiet: true,
    };
    nova.create_superadmin();
    let (running, base) = nova.start(&["serve", "--listen", "127.0.0.1:0"], "nova listening on ");
    let pid = running.0.id();
    let started = Instant::now();
    let tokens = tenants(&base, n).await;
    println!(
        "\n{backend}, {traffic:?} traffic: {n} tenants with POS on in {:.0} s",
        started.elapsed().as_secs_f64()
    );

    // One tenant warms the path, and the first tenants called once warm what does not grow
    // with tenants (memory slots the pool keeps resident, SQLite's caches); then the resident
    // memory before the others call once each.
    round(traffic, &base, &tokens[..1], 1, 4).await;
    let warm = WARM_UP_TENANTS.min(n / 2);
    call_each_once(&base, &tokens[..warm]).await;
    // The first scrape's own allocations (gauges registered, statements cached) are not a
    // tenant's.
    heap_kib(&base).await;
    let before = rss_kib(pid);
    let heap_before = heap_kib(&base).await;
    let started = Instant::now();
    call_each_once(&base, &tokens[warm..]).await;
    let after = rss_kib(pid);
    let heap_after = heap_kib(&base).await;
    let called = (n - warm) as f64;
    println!(
        "every tenant called once ({:.0} s): resident {before} KiB -> {after} KiB over the last {} of them, {:.2} KiB per tenant",
        started.elapsed().as_secs_f64(),
        n - warm,
        (after as f64 - before as f64) / called
    );
    // Resident memory also grows with SQLite's page caches (bounded, outside the heap) and
    // with what the allocator keeps for reuse; live heap bytes are what the host holds.
    println!(
        "and the heap: {:.0} KiB -> {:.0} KiB allocated, {:.2} KiB per tenant; the allocator's resident {:.0} KiB -> {:.0} KiB, {:.2} KiB per tenant",
        heap_before.0,
        heap_after.0,
        (heap_after.0 - heap_before.0) / called,
        heap_before.1,
        heap_after.1,
        (heap_after.1 - heap_before.1) / called
    );

    let targets: Vec<Target> = counts
        .iter()
        .map(|&count| Target {
            label: format!("{count} tenant{}", if count == 1 { "" } else { "s" }),
            base: &base,
            tokens: &tokens[..count],
            traffic,
            pid,
            scrape: Some(SCRAPE_TOKEN),
        })
        .collect();
    let medians = compare(
        &format!("{backend}: active tenants"),
        &targets,
        rounds,
        seconds,
    )
    .await;

    // The per-tenant maps drop entries at rest in a sweep at most once a minute, on the next
    // access, and a tenant view no call used for twelve reconciliations (5 s apart) goes at
    // the thirteenth: wait past both, touch one tenant, and look again.
    tokio::time::sleep(Duration::from_secs(75)).await;
    round(traffic, &base, &tokens[..1], 1, 1).await;
    let swept = rss_kib(pid);
    let heap_swept = heap_kib(&base).await;
    println!(
        "\nafter the idle sweep: resident {swept} KiB ({:.2} KiB per tenant above the figure before the last {} called); heap allocated {:.0} KiB ({:.2} KiB per tenant above it)",
        (swept as f64 - before as f64) / called,
        n - warm,
        heap_swept.0,
        (heap_swept.0 - heap_before.0) / called
    );
    drop(running);
    medians
}
