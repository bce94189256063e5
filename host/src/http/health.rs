//! Liveness, readiness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;

use super::scrape::{ApiScrape, PrivateScrape};
use crate::app::AppState;

/// The process answers.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Alive {
    /// Always `ok`.
    pub(crate) status: &'static str,
}

/// Whether this replica can serve.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Readiness {
    /// `ready` or `not ready`.
    pub(crate) status: &'static str,
    /// The database answered.
    pub(crate) database: bool,
    /// Modules loaded, sorted.
    pub(crate) modules: Vec<String>,
}

/// `GET /health`: the process answers.
#[utoipa::path(get, path = "/health", responses((status = 200, description = "Alive", body = Alive)))]
pub(crate) async fn health() -> Json<Alive> {
    Json(Alive { status: "ok" })
}

/// `GET /readyz`: the database answers and modules are loaded.
#[utoipa::path(get, path = "/readyz", responses((status = 200, description = "Ready", body = Readiness), (status = 503, description = "Not ready", body = Readiness)))]
pub(crate) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = state.db.ping().await;
    let modules = state.runtime.registry.names();
    let status = if database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // A probe's answer, not an error: its body says what is not ready.
    (
        status,
        axum::Extension(super::shape::Answered),
        Json(Readiness {
            status: if database { "ready" } else { "not ready" },
            database,
            modules,
        }),
    )
}

/// `GET /metrics`: Prometheus text format, for the scrape token (`NOVA_METRICS_TOKEN`) or a
/// superadmin.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(_: ApiScrape, State(state): State<AppState>) -> impl IntoResponse {
    render(&state).await
}

/// `GET /metrics` on a private listener (`--metrics-listen`, the worker's probe port).
pub(crate) async fn private_metrics(
    _: PrivateScrape,
    State(state): State<AppState>,
) -> impl IntoResponse {
    render(&state).await
}

async fn render(state: &AppState) -> impl IntoResponse + use<> {
    // Gauges that live in the database are read at scrape time, so every replica and worker
    // reports the current numbers. Scrapes take turns, so each renders the numbers it read
    // (the recorder is one per process, shared by every server a test process runs).
    static SCRAPE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = SCRAPE.lock().await;
    if let Err(e) = crate::billing::gauges::refresh(&state.db).await {
        tracing::warn!(error = %e, "could not refresh queue and billing gauges");
    }
    crate::telemetry::publish_heap_stats();
    let text = state.metrics.render();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
