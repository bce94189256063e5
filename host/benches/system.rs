//! The whole server on loopback under load: requests per second and p50/p99/p99.9 latency for
//! a native axum handler (the baseline, same binary and server loop), the trivial module
//! through the full path (auth, toggle, instance, invocation record), and POS list and
//! create; each as a ratio to the baseline measured in the same run. SQLite always, and
//! PostgreSQL when `NOVA_BENCH_POSTGRES=postgres://…/db` is set.
//!
//! `cargo bench -p nova --bench system`

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use nova::app::AppState;
use nova::auth::Role;
use nova::config::Config;
use nova::http::server::{ServerLimits, serve};
use nova::storage::tenants;
use nova::tenancy::changes::Change;
use nova_artifacts::guests;

#[path = "shared/postgres.rs"]
mod postgres;

const CONNECTIONS: usize = 32;
const ROUND: Duration = Duration::from_secs(4);

struct Figures {
    /// Requests answered 409 (a write race lost six times) out of all; counted, not timed.
    conflicts: usize,
    rps: f64,
    p50: f64,
    p99: f64,
    p999: f64,
}

/// Drive `method path` with `CONNECTIONS` clients for one round.
async fn load(
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&'static str>,
) -> Figures {
    let started = Instant::now();
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (base, token, method, path) = (
                base.to_string(),
                token.to_string(),
                method.clone(),
                path.to_string(),
            );
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .unwrap();
                let mut took = Vec::new();
                let mut conflicts = 0;
                while started.elapsed() < ROUND {
                    let t = Instant::now();
                    let mut req = http
                        .request(method.clone(), format!("{base}{path}"))
                        .bearer_auth(&token);
                    if let Some(b) = body {
                        req = req.header("content-type", "application/json").body(b);
                    }
                    let resp = req.send().await.unwrap();
                    let status = resp.status();
                    resp.bytes().await.unwrap();
                    if status == reqwest::StatusCode::CONFLICT {
                        conflicts += 1;
                        continue;
                    }
                    assert!(status.is_success(), "{path}: {status}");
                    took.push(t.elapsed().as_micros() as u64);
                }
                (took, conflicts)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut conflicts = 0;
    for c in clients {
        let (took, lost) = c.await.unwrap();
        all.extend(took);
        conflicts += lost;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)] as f64 / 1000.0;
    Figures {
        conflicts,
        rps: all.len() as f64 / elapsed,
        p50: at(0.5),
        p99: at(0.99),
        p999: at(0.999),
    }
}

async fn run(name: &str, database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        jwt_secret: Some("bench-secret-bench-secret-bench-secret".into()),
        database_url,
        ..Config::embedded(dir.path().to_path_buf())
    };
    let state = AppState::build(&config).await.unwrap();
    state.runtime.install_bundled().await.unwrap();
    state
        .runtime
        .install("trivial", guests::TRIVIAL.to_vec(), None)
        .await
        .unwrap();
    let tenant = tenants::create(&state.db, "bench").await.unwrap().id;
    let on = [
        Change::module_override("pos", true),
        Change::module_override("trivial", true),
    ];
    state
        .tenancy
        .change(&tenant, &on, "bench", "bench", "bench")
        .await
        .unwrap();
    let token = state
        .keys
        .issue(
            "bench-user",
            "bench@example.com",
            Role::Staff,
            Some(&tenant),
        )
        .unwrap();

    // The baseline checks the token like every portal route, then answers as the module does.
    let keys_state = state.clone();
    let native = Router::new().route(
        "/native/ping",
        get(move |headers: axum::http::HeaderMap| {
            let state = keys_state.clone();
            async move {
                let token = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .unwrap_or("");
                match state.keys.verify(token) {
                    Ok(_) => (axum::http::StatusCode::OK, "pong"),
                    Err(_) => (axum::http::StatusCode::UNAUTHORIZED, ""),
                }
            }
        }),
    );
    let app = nova::http::router(state.clone()).merge(native);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(
        listener,
        app,
        ServerLimits::default(),
        std::future::pending(),
    ));
    let ticket = r#"{"table":"1","items":[{"name":"Soup","qty":1,"priceCents":450}]}"#;
    // One ticket so the list has something to show.
    load(
        &base,
        &token,
        reqwest::Method::POST,
        "/v1/portal/pos/tickets",
        Some(ticket),
    )
    .await;

    let get = reqwest::Method::GET;
    let baseline = load(&base, &token, get.clone(), "/native/ping", None).await;
    let scenarios = [
        ("native axum handler", baseline),
        (
            "trivial module",
            load(&base, &token, get.clone(), "/v1/portal/trivial/ping", None).await,
        ),
        (
            "GET pos/tickets?limit=1",
            load(
                &base,
                &token,
                get.clone(),
                "/v1/portal/pos/tickets?limit=1",
                None,
            )
            .await,
        ),
        (
            "POST pos/tickets",
            load(
                &base,
                &token,
                reqwest::Method::POST,
                "/v1/portal/pos/tickets",
                Some(ticket),
            )
            .await,
        ),
    ];
    let b = &scenarios[0].1;
    println!("{name}: {CONNECTIONS} connections, {ROUND:?} per scenario");
    println!(
        "  {:26} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "scenario", "req/s", "× base", "p50 ms", "p99 ms", "p99.9 ms", "p99 ×", "409s"
    );
    for (label, f) in &scenarios {
        println!(
            "  {label:26} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.1} {:>6}",
            f.rps,
            f.rps / b.rps,
            f.p50,
            f.p99,
            f.p999,
            f.p99 / b.p99,
            f.conflicts,
        );
    }
}

fn main() {
    postgres::on_each_backend(run);
}
