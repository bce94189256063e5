//! Billing over HTTP: the provider's webhook intake, and what superadmins use to watch and
//! mend the pipeline (event lists, replay, job retry, the billing summary).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{ApiError, ApiResult, current_request_id};
use super::extract::SuperAdmin;
use super::query::{ApiQuery, limit};
use crate::app::AppState;
use crate::billing::replay::{self, ReplayError};
use crate::billing::{QUEUE, count, gauges};
use crate::error_code::ErrorCode;
use crate::storage::billing_events::{self, Stored};
use crate::storage::{invoices, now_ms, outbox};
use crate::webhooks::signature;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The header the billing provider signs with.
pub(crate) const SIGNATURE_HEADER: &str = "x-sandbox-signature";
const STATUSES: [&str; 4] = ["pending", "retrying", "processed", "failed"];

/// `/v1/superadmin/billing/*`.
pub(crate) fn superadmin_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(one))
        .routes(routes!(replay_event))
        .routes(routes!(summary))
}

/// `POST /billing/webhooks/sandbox`: check the signature, then store the event and its job in
/// one transaction. 202 for a new event, 200 for a provider event id seen before.
/// What the provider is told about its delivery.
#[derive(Serialize, utoipa::ToSchema)]
struct Delivery {
    /// Nova's id for the event.
    id: String,
    /// `pending` when new; the stored event's status for a repeat.
    status: String,
    /// Present (true) when the provider sent this event id before.
    #[serde(skip_serializing_if = "Option::is_none")]
    duplicate: Option<bool>,
}

#[utoipa::path(post, path = "/billing/webhooks/sandbox", request_body = Object, responses((status = 202, description = "Accepted; applied by the worker", body = Delivery), (status = 200, description = "Already accepted (same event id)", body = Delivery), (status = 503, description = "BILLING_WEBHOOK_SECRET is not set", body = crate::http::openapi::ErrorBody)))]
pub(crate) async fn intake(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match accept(&state, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn accept(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let Some(secret) = state.billing_webhook_secret.as_deref() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::BILLING_OFF,
            "billing webhooks are refused until BILLING_WEBHOOK_SECRET is set",
        ));
    };
    let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    signature::verify(secret, header, body, signature::unix_now())
        .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string()))?;
    let event: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    if !event.is_object() {
        return Err(ApiError::validation(
            "body",
            "the event must be a JSON object",
        ));
    }
    super::json::check_no_nul(&event)?;
    let id = event["id"]
        .as_str()
        .filter(|s| !s.is_empty() && s.len() <= 128)
        .ok_or_else(|| {
            ApiError::validation(
                "id",
                "id (the provider's event id) must be 1 to 128 characters",
            )
        })?;
    let kind = event["type"]
        .as_str()
        .filter(|s| !s.is_empty() && s.len() <= 64)
        .ok_or_else(|| ApiError::validation("type", "type must be 1 to 64 characters"))?;
    let tenant = event["data"]["tenantId"].as_str();
    let payload = String::from_utf8_lossy(body);
    let mut tx = state.db.begin().await?;
    let stored = billing_events::insert_in(&mut tx, id, kind, tenant, &payload).await?;
    if let Stored::New(our_id) = &stored {
        outbox::enqueue_in(&mut tx, QUEUE, our_id).await?;
    }
    crate::storage::commit_in_task(tx).await?;
    Ok(match stored {
        Stored::New(our_id) => {
            count("received");
            state.jobs_queued(QUEUE).await;
            (
                StatusCode::ACCEPTED,
                Json(Delivery {
                    id: our_id,
                    status: "pending".into(),
                    duplicate: None,
                }),
            )
                .into_response()
        }
        Stored::Duplicate(our_id, status) => {
            count("duplicate");
            Json(Delivery {
                id: our_id,
                status,
                duplicate: Some(true),
            })
            .into_response()
        }
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    limit: Option<String>,
}

/// `GET /v1/superadmin/billing/webhooks?status=failed,pending&limit=N`, newest first.
/// Billing events, newest first.
#[derive(Serialize, utoipa::ToSchema)]
struct EventList {
    events: Vec<billing_events::EventView>,
}

#[utoipa::path(get, path = "/billing/webhooks", responses((status = 200, description = "Billing events, newest first", body = EventList)))]
async fn list(
    State(state): State<AppState>,
    _admin: SuperAdmin,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<EventList>> {
    let mut statuses = Vec::new();
    for s in q
        .status
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if !STATUSES.contains(&s) {
            return Err(ApiError::validation(
                "status",
                format!("unknown status {s:?}: use pending, retrying, processed or failed"),
            ));
        }
        statuses.push(s.to_string());
    }
    let limit = limit(q.limit.as_deref(), 100, 1000)?;
    let events = billing_events::list(&state.db, &statuses, limit).await?;
    Ok(Json(EventList { events }))
}

/// One billing event and its job.
#[derive(Serialize, utoipa::ToSchema)]
struct EventDetail {
    event: billing_events::EventView,
    /// The worker's job for it; `null` once the outbox no longer holds one.
    job: Option<outbox::JobView>,
}

#[utoipa::path(get, path = "/billing/webhooks/{id}", responses((status = 200, description = "The event and its job", body = EventDetail)))]
async fn one(
    State(state): State<AppState>,
    _admin: SuperAdmin,
    Path(id): Path<String>,
) -> ApiResult<Json<EventDetail>> {
    let mut conn = state.db.pool().acquire().await?;
    let event = billing_events::get_in(&mut conn, &id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(ErrorCode::EVENT_NOT_FOUND, format!("no billing event {id}"))
        })?;
    let job = outbox::for_ref_in(&mut conn, &id).await?;
    Ok(Json(EventDetail { event, job }))
}

fn replay_error(e: ReplayError) -> ApiError {
    match e {
        ReplayError::NotFound(..) => ApiError::not_found(ErrorCode::NOT_FOUND, e.to_string()),
        ReplayError::Conflict(m) => ApiError::conflict(m),
        ReplayError::Storage(e) => e.into(),
    }
}

/// `POST /v1/superadmin/billing/webhooks/{id}/replay`.
/// A replayed event, pending again.
#[derive(Serialize, utoipa::ToSchema)]
struct Replayed {
    event: billing_events::EventView,
}

#[utoipa::path(post, path = "/billing/webhooks/{id}/replay", responses((status = 200, description = "The event, queued again", body = Replayed)))]
async fn replay_event(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path(id): Path<String>,
) -> ApiResult<Json<Replayed>> {
    let event = replay::replay(&state.db, &id, &admin.email, &current_request_id())
        .await
        .map_err(replay_error)?;
    state.jobs_queued(QUEUE).await;
    Ok(Json(Replayed { event }))
}

/// `POST /ops/outbox/{id}/retry`.
/// A job made due again.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Retried {
    job: outbox::JobView,
}

#[utoipa::path(post, path = "/ops/outbox/{id}/retry", responses((status = 200, description = "The job, due now", body = Retried)))]
pub(crate) async fn retry_job(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path(id): Path<String>,
) -> ApiResult<Json<Retried>> {
    let job = replay::retry_job(&state.db, &id, &admin.email, &current_request_id())
        .await
        .map_err(replay_error)?;
    state.jobs_queued(&job.queue).await;
    Ok(Json(Retried { job }))
}

/// Job statuses an operator can list.
const JOB_STATUSES: &[&str] = &["pending", "retrying", "failed", "done"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueueQuery {
    queue: Option<String>,
    /// Comma-separated; default `failed,retrying`.
    status: Option<String>,
    limit: Option<String>,
}

/// Every queue's jobs counted by status, and the jobs asked for.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Queues {
    queues: Vec<outbox::QueueView>,
    jobs: Vec<outbox::JobView>,
}

/// `GET /ops/outbox`: all job queues with their depth, and their failed and retrying jobs.
#[utoipa::path(get, path = "/ops/outbox", responses((status = 200, description = "Queues by status, and the failed and retrying jobs (or `status=`)", body = Queues)))]
pub(crate) async fn queues(
    State(state): State<AppState>,
    _admin: SuperAdmin,
    ApiQuery(q): ApiQuery<QueueQuery>,
) -> ApiResult<Json<Queues>> {
    let raw = q.status.as_deref().unwrap_or("failed,retrying");
    let mut statuses = Vec::new();
    for s in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !JOB_STATUSES.contains(&s) {
            return Err(ApiError::validation(
                "status",
                format!("unknown status {s:?}: use pending, retrying, failed or done"),
            ));
        }
        statuses.push(s.to_string());
    }
    let limit = limit(q.limit.as_deref(), 100, 1000)?;
    let jobs = outbox::list(&state.db, q.queue.as_deref(), &statuses, limit).await?;
    Ok(Json(Queues {
        queues: outbox::queues(&state.db).await?,
        jobs,
    }))
}

/// `GET /v1/superadmin/billing/summary`; the same numbers feed the `nova_api_billing_*` gauges.
#[utoipa::path(get, path = "/billing/summary", responses((status = 200, description = "Tenants, revenue, renewals and open invoices", body = invoices::Summary)))]
async fn summary(
    State(state): State<AppState>,
    _admin: SuperAdmin,
) -> ApiResult<Json<invoices::Summary>> {
    let s = invoices::summary(&state.db, now_ms()).await?;
    gauges::refresh(&state.db).await?;
    Ok(Json(s))
}
