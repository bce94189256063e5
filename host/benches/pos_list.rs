//! `GET /v1/portal/pos/tickets?limit=1` through the whole host (authentication, tenant view,
//! the POS component, the kv read, the durable invocation record) against a native axum
//! handler that authenticates the same way and does the same kv read, side by side in one
//! process and one run, each driven through its router with the same concurrency.
//!
//! `cargo bench -p nova --bench pos_list` prints requests per second and host/native.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use nova::app::AppState;
use nova::auth::Role;
use nova::config::Config;
use nova::storage::{kv, tenants};
use nova::tenancy::changes::Change;
use tower::ServiceExt;

const IN_FLIGHT: usize = 64;
const ROUND: Duration = Duration::from_secs(3);
const ROUNDS: usize = 3;

/// The native baseline: the same token check and the same kv read, no Wasm, no record.
async fn native(State((state, tenant)): State<(AppState, String)>, headers: HeaderMap) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if state.keys.verify(token).is_err() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let rows = kv::list(&state.db, &tenant, "pos", "ticket/", None, 1)
        .await
        .unwrap();
    let tickets: Vec<serde_json::Value> = rows
        .iter()
        .map(|(_, v)| serde_json::from_slice(&v.value).unwrap())
        .collect();
    let next = rows.last().map(|(k, _)| k.clone());
    axum::Json(serde_json::json!({"tickets": tickets, "nextCursor": next})).into_response()
}

/// Requests per second of `router` on `path` over one round.
async fn round(router: Router, path: &'static str, token: Arc<String>) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let (router, token, stop, done) =
                (router.clone(), token.clone(), stop.clone(), done.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let req = Request::get(path)
                        .header("authorization", format!("Bearer {token}"))
                        .body(Body::empty())
                        .unwrap();
                    let resp = router.clone().oneshot(req).await.unwrap();
                    assert_eq!(resp.status(), 200);
                    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
                        .await
                        .unwrap();
                    assert!(body.starts_with(b"{"));
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(ROUND).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let config = Config {
            jwt_secret: Some("bench-secret-bench-secret-bench-secret".into()),
            ..Config::embedded(dir.path().to_path_buf())
        };
        let state = AppState::build(&config).await.unwrap();
        state.runtime.install_bundled().await.unwrap();
        let tenant = tenants::create(&state.db, "bench").await.unwrap().id;
        state
            .tenancy
            .change(
                &tenant,
                &[Change::module_override("pos", true)],
                "bench",
                "bench",
                "bench",
            )
            .await
            .unwrap();
        let token = Arc::new(
            state
                .keys
                .issue(
                    "bench-user",
                    "bench@example.com",
                    Role::Staff,
                    Some(&tenant),
                )
                .unwrap(),
        );
        let host = nova::http::router(state.clone());
        let create = Request::post("/v1/portal/pos/tickets")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Body::from(
                r#"{"table":"1","items":[{"name":"Soup","qty":1,"priceCents":450}]}"#,
            ))
            .unwrap();
        assert_eq!(host.clone().oneshot(create).await.unwrap().status(), 201);
        let baseline = Router::new()
            .route("/native/tickets", get(native))
            .with_state((state.clone(), tenant.clone()));

        // Alternate rounds so drift (cache warmth, WAL growth) hits both sides alike.
        let (mut n, mut h) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            n.push(round(baseline.clone(), "/native/tickets", token.clone()).await);
            h.push(
                round(
                    host.clone(),
                    "/v1/portal/pos/tickets?limit=1",
                    token.clone(),
                )
                .await,
            );
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(|a, b| a.total_cmp(b));
            v[v.len() / 2]
        };
        let (native_rps, host_rps) = (median(&mut n), median(&mut h));
        println!(
            "pos_list: {IN_FLIGHT} in flight, {ROUNDS} alternating rounds of {ROUND:?}, medians"
        );
        println!("  native axum + kv read        {native_rps:>10.0} req/s");
        println!("  nova GET pos/tickets?limit=1 {host_rps:>10.0} req/s");
        println!(
            "  host/native                  {:>10.2}",
            host_rps / native_rps
        );
    });
}
