//! The HTTP API: one router per resource, one error shape, request ids and metrics.

pub(crate) mod access;
pub(crate) mod billing;
pub(crate) mod client;
pub(crate) mod console;
pub(crate) mod error;
pub(crate) mod exports;
pub(crate) mod extract;
pub(crate) mod health;
pub mod json;
pub mod login;
pub(crate) mod me;
pub(crate) mod openapi;
pub mod pace;
pub(crate) mod parse_errors;
pub(crate) mod password_reset;
pub(crate) mod payments_webhook;
pub(crate) mod portal;
pub(crate) mod query;
pub(crate) mod registrations;
pub(crate) mod relayed;
pub(crate) mod scrape;
pub mod server;
pub(crate) mod shape;
pub(crate) mod site;
pub(crate) mod superadmin;
pub(crate) mod support;
pub(crate) mod tenancy;
pub(crate) mod tenant_app;
pub(crate) mod tracing_settings;
pub(crate) mod versions;
pub(crate) mod views;

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error_code::ErrorCode;
use error::{ApiError, REQUEST_ID};

/// Slack above the 1 MiB module body limit for portal requests' framing.
const BODY_LIMIT: usize = 1 << 20;

/// The whole API. The routes and the OpenAPI description come from the same handlers, so
/// the description served at `/openapi.json` cannot drift from what the server does.
pub fn router(state: AppState) -> Router {
    let (api, spec) = documented_routes().split_for_parts();
    let spec = std::sync::Arc::new(openapi::finish(spec));
    api.route("/openapi.json", get(openapi::json).with_state(spec.clone()))
        .route("/docs", get(openapi::page).with_state(spec))
        // Whatever a module serves under its prefix: documented by the module, not here.
        .route("/v1/portal/{module}", any(portal::call_root))
        .route("/v1/portal/{module}/{*path}", any(portal::call))
        .merge(console::router())
        .merge(tenant_app::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), front))
        .with_state(state)
}

/// What every route passes first inside the router (after `serve`'s deadline), in this
/// order: its request id and metrics ([`observe`]), the refusal of input no backend can
/// store, and the refusal of tenant writes during maintenance. One layer rather than three:
/// each `from_fn` layer clones the service under it and boxes the rest of the request's
/// future for every request; merged, a warm portal call used about 6% less CPU
/// (docs/PERFORMANCE.md, "one front layer").
async fn front(State(state): State<AppState>, req: Request, next: Next) -> Response {
    observe(req, |req| async move {
        if let Some(refused) = shape::bad_input_refusal(&req) {
            return refused;
        }
        if let Some(refused) =
            support::maintenance_refusal(&state, req.method(), req.uri().path()).await
        {
            return refused;
        }
        next.run(req).await
    })
    .await
}

/// Every route with a fixed path, each from a handler that describes itself.
fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::health))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .merge(anonymous_password_routes())
        .routes(routes!(me::me))
        .nest(
            "/v1/superadmin",
            superadmin::router()
                .merge(billing::superadmin_router())
                .merge(support::superadmin_router())
                .merge(exports::superadmin_router())
                .merge(password_reset::superadmin_router()),
        )
        .merge(exports::portal_router())
        .routes(routes!(support::announce))
        .routes(routes!(support::tenant_announcements))
        .routes(routes!(billing::intake))
        .routes(routes!(billing::queues))
        .routes(routes!(billing::retry_job))
        .routes(routes!(payments_webhook::settlement))
}

/// The routes anyone may call that check or store a password: their refusals are paced
/// ([`pace`]).
fn anonymous_password_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login::login))
        .routes(routes!(registrations::register))
        .merge(password_reset::public_router())
        .route_layer(middleware::from_fn(pace::pace_refusals))
}

async fn not_found() -> ApiError {
    ApiError::not_found(ErrorCode::NOT_FOUND, "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::METHOD_NOT_ALLOWED,
        "this route does not take that method",
    )
}

/// A client's `x-request-id` when it is short and plain, else a fresh one.
pub(crate) fn request_id(req: &Request) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// Give every request an id (in errors, logs, invocation records and the `x-request-id`
/// response header) and time it for `http_request_duration_seconds`.
async fn observe<F: Future<Output = Response>>(
    mut req: Request,
    inner: impl FnOnce(Request) -> F,
) -> Response {
    let started = Instant::now();
    let id = request_id(&req);
    let method = shape::method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let tenant = crate::telemetry::RequestTenant::default();
    req.extensions_mut().insert(tenant.clone());
    let span = tracing::info_span!(
        "request",
        otel.name = tracing::field::Empty,
        otel.kind = "server",
        request_id = %id,
        method = %method,
        route = %route,
        tenant_id = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    );
    if crate::traces::enabled() {
        // Only traces read the name, so only they pay for it; it must be set before the span
        // starts (which `continue_from` and `trace_id` do).
        span.record("otel.name", format!("{method} {route}"));
    }
    crate::traces::continue_from(&span, req.headers());
    let trace_id = crate::traces::trace_id(&span);
    if let Some(trace) = &trace_id {
        span.record("trace_id", trace.as_str());
    }
    let response = REQUEST_ID
        .scope(
            id.clone(),
            tracing::Instrument::instrument(inner(req), span.clone()),
        )
        .await
        .into_response();
    let mut response = shape::reshape(response, &id);
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    let took = started.elapsed();
    let held = response
        .extensions()
        .get::<pace::Held>()
        .map_or(std::time::Duration::ZERO, |h| h.0);
    let status = response.status().as_u16();
    span.record("http.response.status_code", i64::from(status));
    metrics::histogram!(
        "http_request_duration_seconds",
        "service" => "api",
        "method" => method,
        "route" => route.clone(),
        "status" => status.to_string()
    )
    .record(took.saturating_sub(held).as_secs_f64());
    crate::telemetry::record_request(
        crate::telemetry::Request {
            tenant: tenant.get(),
            request_id: &id,
            trace_id: trace_id.as_deref(),
            method,
            route: &route,
            status,
        },
        took,
    );
    response
}
