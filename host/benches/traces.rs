//! What traces and access lines cost a request, from outside: four `nova serve` processes on
//! SQLite, driven in alternating rounds by the same client (32 connections, `GET
//! /v1/portal/pos/tickets?limit=1`):
//!
//! - `off`: no OTLP endpoint, `RUST_LOG=warn` (no access lines);
//! - `access lines`: `RUST_LOG=info`, one JSON access line per request (to /dev/null);
//! - `traces 10%`: an endpoint that answers (a receiver in this process), the default ratio;
//! - `traces 100%`: the same, every request traced;
//! - `collector down`: every request traced to an endpoint nothing listens on, which should
//!   cost what `traces 100%` costs and no more.
//!
//! Prints req/s and p99 per target and each as a ratio to `off`. Run on demand:
//! `cargo bench -p nova --bench traces` (`NOVA_BENCH_SECONDS`, default 4; `NOVA_BENCH_ROUNDS`,
//! default 3).

#[path = "shared/load.rs"]
#[expect(
    dead_code,
    reason = "this benchmark's traffic is the list alone, not chosen from the environment"
)]
mod load;
#[path = "shared/process.rs"]
mod process;

use load::{Traffic, median, round};
use process::{Nova, Running};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A server with `env`, a POS tenant and its admin's token.
async fn server(env: &[(&str, String)], quiet: bool) -> (Running, Nova, String, String) {
    let nova = Nova {
        data: tempfile::tempdir().unwrap(),
        database_url: None,
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        quiet,
    };
    nova.create_superadmin();
    let (running, base) = nova.start(&["serve", "--listen", "127.0.0.1:0"], "nova listening on ");
    let token = process::tenant(&base, &["pos"]).await;
    (running, nova, base, token)
}

#[tokio::main]
async fn main() {
    let seconds: u64 = env_or("NOVA_BENCH_SECONDS", 4);
    let rounds: usize = env_or("NOVA_BENCH_ROUNDS", 3);
    let connections = 32;

    // A collector that takes everything.
    let app = axum::Router::new().route("/v1/traces", axum::routing::post(|| async { "" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };

    let targets = [
        ("off", vec![], true),
        ("access lines", vec![("RUST_LOG", "info".to_string())], true),
        (
            "traces 10%",
            vec![("OTEL_EXPORTER_OTLP_ENDPOINT", collector.clone())],
            true,
        ),
        (
            "traces 100%",
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.clone()),
                ("OTEL_TRACES_SAMPLER_ARG", "1".to_string()),
            ],
            true,
        ),
        (
            "collector down",
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", down.clone()),
                ("OTEL_TRACES_SAMPLER_ARG", "1".to_string()),
            ],
            true,
        ),
    ];
    let mut servers = Vec::new();
    for (name, env, quiet) in &targets {
        let (running, nova, base, token) = server(env, *quiet).await;
        // Warm up: compile caches, pools.
        round(
            Traffic::List,
            &base,
            std::slice::from_ref(&token),
            1,
            connections,
        )
        .await;
        servers.push((*name, running, nova, base, token, Vec::new(), Vec::new()));
    }
    for _ in 0..rounds {
        for (_, _, _, base, token, rps, p99) in servers.iter_mut() {
            let (r, p) = round(
                Traffic::List,
                base,
                std::slice::from_ref(token),
                seconds,
                connections,
            )
            .await;
            rps.push(r);
            p99.push(p);
        }
    }
    println!(
        "\ntraces: {connections} clients, {rounds} rounds of {seconds} s per target, alternating; medians"
    );
    println!("| target | req/s | p99 ms | req/s vs off | p99 vs off |");
    println!("|---|---|---|---|---|");
    let base_rps = median(servers[0].5.clone());
    let base_p99 = median(servers[0].6.clone());
    for (name, _, _, _, _, rps, p99) in &servers {
        let (r, p) = (median(rps.clone()), median(p99.clone()));
        println!(
            "| {name} | {r:.0} | {p:.2} | {:.2} | {:.2} |",
            r / base_rps,
            p / base_p99
        );
    }
}
