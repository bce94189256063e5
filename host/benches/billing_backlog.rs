//! Billing webhooks: intake throughput (signed deliveries accepted per second through the
//! router, each stored with its job in one transaction), then the time for a backlog of
//! 10,000 events to drain with one worker and with two, on SQLite and (with
//! `NOVA_BENCH_POSTGRES=postgres://…/db`) PostgreSQL.
//!
//! `cargo bench -p nova --bench billing_backlog`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use nova::app::AppState;
use nova::config::Config;
use nova::storage::{outbox, tenants};
use nova::webhooks::signature;
use tower::ServiceExt;

// Only its scratch database: this benchmark runs its backends itself (a backlog per backend).
#[allow(dead_code)]
#[path = "shared/postgres.rs"]
mod postgres;
use postgres::fresh_postgres;

const EVENTS: usize = 10_000;
const IN_FLIGHT: usize = 32;
const SECRET: &str = "bench-billing-secret";

async fn state(database_url: Option<String>, dir: &std::path::Path) -> AppState {
    let config = Config {
        jwt_secret: Some("bench-secret-bench-secret-bench-secret".into()),
        billing_webhook_secret: Some(SECRET.into()),
        database_url,
        ..Config::embedded(dir.to_path_buf())
    };
    let state = AppState::build(&config).await.unwrap();
    state.runtime.install_bundled().await.unwrap();
    state
}

/// Post `EVENTS` signed invoice events; accepted per second.
async fn intake(state: &AppState, tenant: &str) -> f64 {
    let router = nova::http::router(state.clone());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let senders: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let (router, next, tenant) = (router.clone(), next.clone(), tenant.to_string());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= EVENTS {
                        return;
                    }
                    let body = format!(
                        r#"{{"id":"evt_{n}","type":"invoice.created","data":{{"tenantId":"{tenant}","invoiceId":"in_{n}","amountCents":100}}}}"#
                    );
                    let sig = signature::sign(SECRET, signature::unix_now(), body.as_bytes());
                    let req = Request::post("/billing/webhooks/sandbox")
                        .header("x-sandbox-signature", sig)
                        .body(Body::from(body))
                        .unwrap();
                    let resp = router.clone().oneshot(req).await.unwrap();
                    assert_eq!(resp.status(), 202);
                }
            })
        })
        .collect();
    for s in senders {
        s.await.unwrap();
    }
    EVENTS as f64 / started.elapsed().as_secs_f64()
}

/// Start `workers` worker tasks and time until nothing is waiting.
async fn drain(state: &AppState, workers: usize) -> Duration {
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|i| {
            tokio::spawn(nova::jobs::run(
                state.clone(),
                format!("bench-{i}"),
                std::future::pending(),
            ))
        })
        .collect();
    loop {
        let waiting: i64 = outbox::depths(&state.db)
            .await
            .unwrap()
            .iter()
            .map(|(_, n)| n)
            .sum();
        if waiting == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    for t in tasks {
        t.abort();
    }
    took
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut backends: Vec<(&str, Option<String>)> = vec![("sqlite", None)];
        if let Ok(url) = std::env::var("NOVA_BENCH_POSTGRES") {
            backends.push(("postgres", Some(url)));
        }
        println!("billing_backlog: {EVENTS} events, {IN_FLIGHT} deliveries in flight");
        for (name, url) in backends {
            for workers in [1, 2] {
                let dir = tempfile::tempdir().unwrap();
                let db = match &url {
                    Some(u) => Some(fresh_postgres(u).await),
                    None => None,
                };
                let state = state(db, dir.path()).await;
                let tenant = tenants::create(&state.db, "bench").await.unwrap().id;
                let accepted = intake(&state, &tenant).await;
                let took = drain(&state, workers).await;
                println!(
                    "  {name:8} intake {accepted:>7.0} webhooks/s; drain with {workers} worker(s): {:>6.2} s ({:.0} events/s)",
                    took.as_secs_f64(),
                    EVENTS as f64 / took.as_secs_f64()
                );
            }
        }
    });
}
