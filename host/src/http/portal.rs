//! `ANY /v1/portal/{module}/{*path}`: a tenant user's request, handed to the module.

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, current_request_id};
use crate::app::AppState;
use crate::auth::TenantUser;
use crate::runtime::bindings::GuestRequest;
use crate::runtime::invoke::{Caller, failure_status};
use crate::storage::invocations::Outcome;

/// Headers never shown to a module: credentials and hop-by-hop headers.
const HIDDEN: &[&str] = &[
    "authorization",
    "cookie",
    "proxy-authorization",
    "connection",
    "upgrade",
];
/// Most request headers passed to a module.
const MAX_HEADERS: usize = 64;

/// `/v1/portal/{module}` (the module's root).
pub async fn call_root(
    state: State<AppState>,
    user: TenantUser,
    Path(module): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(
        state,
        user,
        module,
        String::new(),
        method,
        uri,
        headers,
        body,
    )
    .await
}

/// `/v1/portal/{module}/{*path}`: a call into a module, which answers as it likes.
#[utoipa::path(
    method(get, post, put, patch, delete),
    path = "/v1/portal/{module}/{path}",
    params(
        ("module" = String, Path, description = "The module's name, e.g. `pos`"),
        ("path" = String, Path, description = "The module's own route (may contain `/`)"),
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "Passed to the module as is"),
    responses(
        (status = "2XX", description = "The module's answer"),
        (status = 429, description = "The plan's call rate or concurrency limit was reached", body = crate::http::openapi::ErrorBody),
        (status = 502, description = "The module trapped or hit a limit", body = crate::http::openapi::ErrorBody),
        (status = 504, description = "The module ran past its deadline", body = crate::http::openapi::ErrorBody),
    )
)]
pub async fn call(
    state: State<AppState>,
    user: TenantUser,
    Path((module, path)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(state, user, module, path, method, uri, headers, body).await
}

#[allow(clippy::too_many_arguments)]
async fn handle(
    State(state): State<AppState>,
    user: TenantUser,
    module_name: String,
    path: String,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b.to_vec(),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!(
                    "request bodies are limited to {} bytes",
                    state.limits.body_bytes
                ),
            )
            .into_response();
        }
        Err(e) => return ApiError::bad_request(e.body_text()).into_response(),
    };
    let req = GuestRequest {
        method: method.as_str().to_string(),
        path: format!("/{path}"),
        query: uri.query().unwrap_or("").to_string(),
        headers: guest_headers(&headers),
        body,
    };
    dispatch(
        &state,
        &user.tenant_id,
        &user.claims.sub,
        &module_name,
        req,
        true,
    )
    .await
}

/// Run `module_name` for `tenant_id` on behalf of `actor`: the checks every module call
/// passes (installed, enabled for the tenant, and, when `rate_limited`, the plan's call
/// rate), then the call, mapped to an HTTP response.
pub async fn dispatch(
    state: &AppState,
    tenant_id: &str,
    actor: &str,
    module_name: &str,
    req: GuestRequest,
    rate_limited: bool,
) -> Response {
    let Some(module) = state.runtime.registry.get_for(tenant_id, module_name) else {
        return ApiError::not_found(
            "MODULE_NOT_FOUND",
            format!("no module named {module_name:?} is installed"),
        )
        .into_response();
    };
    let view = match state.tenancy.view(tenant_id).await {
        Ok(v) => v,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let caller = Caller {
        tenant_id: tenant_id.to_string(),
        actor: actor.to_string(),
        request_id: current_request_id(),
        limits: view.limits(state.limits),
        view: view.clone(),
    };
    // The plan's rate counts every call, including those refused below: a tenant must not
    // be able to write denied records (or spend the host's time) beyond its rate.
    if rate_limited
        && let Some(per_minute) = view.calls_per_minute()
        && !state.allow_call(tenant_id, per_minute).await
    {
        return ApiError::rate_limited(
            format!("your plan allows {per_minute} module calls per minute"),
            1,
        )
        .into_response();
    }
    if !view.module_enabled(module_name) {
        state
            .runtime
            .record_denied(&module, &caller, &req, 403, "module disabled for tenant")
            .await;
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "MODULE_DISABLED",
            format!("module {module_name:?} is not enabled for this tenant"),
        )
        .into_response();
    }

    // Wait for a slot at most as long as the call itself may run.
    let admitted = state
        .runtime
        .admission
        .admit(
            tenant_id,
            caller.limits.concurrent_calls,
            caller.limits.deadline,
        )
        .await;
    let slot = match admitted {
        Ok(slot) => slot,
        Err(refused) => {
            // No tenant label on the metric (one series per tenant is too many); the log
            // names the tenant.
            metrics::counter!("nova_tenant_calls_refused_total", "reason" => "concurrency")
                .increment(1);
            tracing::info!(
                tenant = tenant_id,
                module = module_name,
                limit = refused.limit(),
                "call refused: concurrency limit"
            );
            let mut resp = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_CONCURRENT_CALLS",
                format!(
                    "this tenant already runs {} module calls at once, its plan's limit; retry shortly",
                    refused.limit()
                ),
            )
            .into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return resp;
        }
    };
    let invoked = state
        .runtime
        .invoke_admitted(module, &caller, req, Some(slot))
        .await;
    if let Some(resp) = invoked.response {
        return guest_response(resp.status, resp.headers, resp.body);
    }
    let status = StatusCode::from_u16(failure_status(&invoked)).unwrap_or(StatusCode::BAD_GATEWAY);
    let (code, message) = if invoked.conflict {
        (
            "CONFLICT",
            "the request raced with another one changing the same data; retry it".to_string(),
        )
    } else if invoked.commit_failed {
        (
            "UNAVAILABLE",
            "storage is unavailable; nothing was written, retry".to_string(),
        )
    } else {
        match invoked.outcome {
            Outcome::Timeout => (
                "MODULE_TIMEOUT",
                "the module ran past its CPU deadline and was stopped".to_string(),
            ),
            Outcome::Limit => (
                "MODULE_LIMIT",
                format!(
                    "the module hit a limit and was stopped: {}",
                    invoked.error.unwrap_or_default()
                ),
            ),
            Outcome::Interrupted => (
                "MODULE_INTERRUPTED",
                "the module was switched off while running".to_string(),
            ),
            _ => (
                "MODULE_TRAPPED",
                "the module failed while handling the request".to_string(),
            ),
        }
    };
    ApiError::new(status, code, message).into_response()
}

fn guest_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| !HIDDEN.contains(&name.as_str()))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
        })
        .take(MAX_HEADERS)
        .collect()
}

fn guest_response(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Response {
    let Ok(status) = StatusCode::from_u16(status) else {
        return ApiError::new(
            StatusCode::BAD_GATEWAY,
            "MODULE_BAD_RESPONSE",
            format!("the module answered with status {status}"),
        )
        .into_response();
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    // The module's own answer, whatever its shape: not rewritten on the way out.
    response.extensions_mut().insert(super::shape::Answered);
    let out = response.headers_mut();
    for (name, value) in headers {
        let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value))
        else {
            continue;
        };
        if !HIDDEN.contains(&name.as_str())
            && name != "content-length"
            && name != "transfer-encoding"
        {
            out.append(name, value);
        }
    }
    response
}
