//! `/v1/superadmin/tracing`: how many traces are kept, changed at runtime (the runbook raises
//! it to 50% during an incident and puts it back after). Stored for the whole platform, so
//! every replica follows within its reconciliation interval (at once with Redis).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult};
use super::extract::SuperAdmin;
use super::json::ApiJson;
use crate::app::AppState;
use crate::storage::audit::{self, AuditEvent};
use crate::storage::settings;
use crate::telemetry::current_request_id;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show, change, reset))
}

/// Trace sampling as this replica applies it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Sampling {
    /// Whether spans are exported (an OTLP endpoint is configured).
    exporting: bool,
    /// The share of new traces kept now, 0 to 1.
    sample_ratio: f64,
    /// The share the environment sets (`OTEL_TRACES_SAMPLER[_ARG]`), kept when no
    /// superadmin has set one.
    configured_ratio: f64,
    /// `setting` when a superadmin set the ratio, else `environment`.
    source: &'static str,
}

/// A new ratio.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NewSampling {
    /// The share of new traces to keep, 0 to 1 (0.5 keeps half).
    sample_ratio: f64,
}

async fn sampling(state: &AppState) -> ApiResult<Sampling> {
    let stored = settings::get(&state.db, settings::TRACE_SAMPLE_RATIO).await?;
    Ok(Sampling {
        exporting: crate::traces::enabled(),
        sample_ratio: crate::traces::ratio(),
        configured_ratio: crate::traces::configured_ratio(),
        source: if stored.is_some() {
            "setting"
        } else {
            "environment"
        },
    })
}

#[utoipa::path(get, path = "/tracing", responses((status = 200, description = "Trace sampling now", body = Sampling)))]
async fn show(State(state): State<AppState>, _admin: SuperAdmin) -> ApiResult<Json<Sampling>> {
    Ok(Json(sampling(&state).await?))
}

#[utoipa::path(put, path = "/tracing", request_body = NewSampling, responses((status = 200, description = "Trace sampling now", body = Sampling)))]
async fn change(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    ApiJson(body): ApiJson<NewSampling>,
) -> ApiResult<Json<Sampling>> {
    if !(0.0..=1.0).contains(&body.sample_ratio) {
        return Err(ApiError::validation(
            "sampleRatio",
            "sampleRatio must be a number from 0 to 1",
        ));
    }
    save(&state, &admin.email, Some(body.sample_ratio)).await?;
    Ok(Json(sampling(&state).await?))
}

#[utoipa::path(delete, path = "/tracing", responses((status = 200, description = "Back to the environment's ratio", body = Sampling)))]
async fn reset(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
) -> ApiResult<Json<Sampling>> {
    save(&state, &admin.email, None).await?;
    Ok(Json(sampling(&state).await?))
}

/// Store the ratio (or drop it) with its audit record, then apply it here and elsewhere.
async fn save(state: &AppState, by: &str, ratio: Option<f64>) -> ApiResult<()> {
    let previous = crate::traces::ratio();
    let mut tx = state.db.begin().await?;
    let value = ratio.map(|r| r.to_string());
    settings::set_in(&mut tx, settings::TRACE_SAMPLE_RATIO, value.as_deref(), by).await?;
    let event = AuditEvent::new(
        None,
        "superadmin",
        "tracing.sampling_changed",
        Some(by),
        &json!({"previous": previous, "current": ratio.unwrap_or_else(crate::traces::configured_ratio), "source": if ratio.is_some() { "setting" } else { "environment" }}),
        Some(&current_request_id()),
    );
    audit::insert(&mut tx, &event).await?;
    crate::storage::commit_in_task(tx).await?;
    state.settings_changed().await;
    Ok(())
}
