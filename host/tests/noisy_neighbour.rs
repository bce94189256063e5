//! One tenant hammering a module that spins to its deadline or grows memory to its limit
//! does not slow another tenant's ordinary calls: tenant B's p99 with A at full tilt stays
//! within 2× of its p99 alone (the goal, printed with every run and tracked in
//! docs/PERFORMANCE.md; the test fails past [`CI_BOUND`]). A's excess calls are refused
//! with 429, not queued for ever.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Backend, TestServer, guests};
use tokio::task::JoinSet;

/// Rounds of (B alone, B beside A); samples of each kind are pooled across rounds, so a
/// slow patch of the machine falls on both kinds rather than on one.
const ROUNDS: usize = 10;
/// Calls B makes in each half round (p99 is then the 40th slowest of 4,000, which one
/// hiccup of the machine does not move much).
const SAMPLES: usize = 400;
/// Clients tenant A runs at once: more than its limit (8) and its queue (32) together, so
/// some are refused at once.
const NOISY_CLIENTS: usize = 48;
/// The ratio the test fails beyond. The goal is 2×: runs on a quiet machine measure
/// 1.5–1.7×, but a debug build sharing two cores with the rest of CI once measured 2.03×,
/// so the bound leaves that noise room.
const CI_BOUND: f64 = 3.0;
/// The noisy-neighbour goal, printed beside the measured ratio.
const GOAL: f64 = 2.0;

async fn time_pings(server: &TestServer, token: &str, into: &mut Vec<Duration>) {
    let url = server.url("/v1/portal/trivial/ping");
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let resp = server
            .http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap();
        into.push(started.elapsed());
    }
}

fn p99(mut took: Vec<Duration>) -> Duration {
    took.sort_unstable();
    took[took.len() * 99 / 100]
}

#[derive(Default)]
struct NoisyCounts {
    stopped: AtomicU64,
    refused: AtomicU64,
    other: AtomicU64,
}

/// Tenant A's clients: half call a guest that spins to its deadline, half one that grows
/// memory until stopped. They run until `stop` is set.
fn hammer(
    server: &TestServer,
    token: &str,
    stop: &Arc<AtomicBool>,
    counts: &Arc<NoisyCounts>,
) -> (JoinSet<()>, Arc<tokio::sync::Notify>) {
    let stopped = Arc::new(tokio::sync::Notify::new());
    let mut clients = JoinSet::new();
    for i in 0..NOISY_CLIENTS {
        let path = if i % 2 == 0 { "loop" } else { "grow" };
        let url = server.url(&format!("/v1/portal/hostile/{path}"));
        let (http, token) = (server.http.clone(), token.to_string());
        let (stop, counts, stopped) = (stop.clone(), counts.clone(), stopped.clone());
        clients.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let resp = http.get(&url).bearer_auth(&token).send().await.unwrap();
                let status = resp.status().as_u16();
                let counter = match status {
                    502 | 504 => &counts.stopped,
                    429 => &counts.refused,
                    _ => &counts.other,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if status != 429 {
                    stopped.notify_one();
                }
                if status == 429 {
                    // A client that hammers within HTTP's rules backs off as told; one that
                    // ignores 429 is a request flood, which the connection cap bounds.
                    let secs = resp.headers()["retry-after"]
                        .to_str()
                        .unwrap()
                        .parse()
                        .unwrap();
                    tokio::time::sleep(Duration::from_secs(secs)).await;
                }
            }
        });
    }
    (clients, stopped)
}

/// The SQLite and PostgreSQL runs take turns: each would be the other's noisy neighbour.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn quiet_tenant_keeps_its_latency(backend: Backend) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start_with_host_limits(backend).await;
    let admin = server.superadmin().await;
    for (name, bytes) in [("hostile", guests::HOSTILE), ("trivial", guests::TRIVIAL)] {
        assert_eq!(server.install(&admin, name, bytes).await.status(), 201);
    }
    let (noisy, noisy_staff) = server.tenant(&admin, "Noisy").await;
    server.toggle(&admin, &noisy, "hostile", true).await;
    let (quiet, quiet_staff) = server.tenant(&admin, "Quiet").await;
    server.toggle(&admin, &quiet, "trivial", true).await;

    // Warm up: connection pool, compiled code, instance slots.
    time_pings(&server, &quiet_staff, &mut Vec::new()).await;
    let counts = Arc::new(NoisyCounts::default());
    let (mut alone, mut beside) = (Vec::new(), Vec::new());
    let most_running = Arc::new(AtomicU64::new(0));
    for _ in 0..ROUNDS {
        time_pings(&server, &quiet_staff, &mut alone).await;
        let stop = Arc::new(AtomicBool::new(false));
        let (mut clients, stopped) = hammer(&server, &noisy_staff, &stop, &counts);
        // Watch how many calls A runs at once (slots held until its guests are gone), until
        // A has stopped and its last guest is gone, so B's next calls alone really are alone.
        let watcher = {
            let (state, noisy) = (server.state.clone(), noisy.clone());
            let (stop, most) = (stop.clone(), most_running.clone());
            tokio::spawn(async move {
                // Sampled every millisecond: a spinning watcher would itself be a neighbour.
                let mut every = tokio::time::interval(Duration::from_millis(1));
                loop {
                    every.tick().await;
                    let now = u64::from(state.runtime.tenants.running(&noisy));
                    most.fetch_max(now, Ordering::Relaxed);
                    if now == 0 && stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
            })
        };
        // Measure once A's calls are being stopped at their limits: A is at full tilt.
        stopped.notified().await;
        time_pings(&server, &quiet_staff, &mut beside).await;
        stop.store(true, Ordering::Relaxed);
        while let Some(r) = clients.join_next().await {
            r.unwrap();
        }
        // A leaked slot would keep A "running" for ever: fail, do not hang.
        tokio::time::timeout(Duration::from_secs(30), watcher)
            .await
            .expect("A's last guest is gone within 30 s")
            .unwrap();
    }
    let noisy_running = most_running.load(Ordering::Relaxed);

    let (alone, beside) = (p99(alone), p99(beside));
    let ratio = beside.as_secs_f64() / alone.as_secs_f64();
    let stopped = counts.stopped.load(Ordering::Relaxed);
    let refused = counts.refused.load(Ordering::Relaxed);
    println!(
        "{backend:?}: B p99 alone {alone:?}, beside A {beside:?}, ratio {ratio:.2} \
         (goal {GOAL}, fails past {CI_BOUND}); \
         A: {stopped} calls stopped at a limit, {refused} refused with 429, \
         at most {noisy_running} running at once"
    );
    assert_eq!(
        counts.other.load(Ordering::Relaxed),
        0,
        "A only sees 502/504/429"
    );
    assert!(stopped > 0, "A's guests ran and were stopped");
    assert!(
        refused > 0,
        "A's calls beyond its concurrency limit were refused"
    );
    assert!(
        (1..=8).contains(&noisy_running),
        "A ran at most {noisy_running} calls at once; its limit is 8"
    );
    assert!(
        ratio <= CI_BOUND,
        "B's p99 went from {alone:?} alone to {beside:?} beside A ({ratio:.2}×)"
    );
}

both_backends!(quiet_tenant_keeps_its_latency);
