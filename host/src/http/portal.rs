//! `ANY /v1/portal/{module}/{*path}`: a tenant user's request, handed to the module.

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, current_request_id};
use super::extract::TenantUser;
use super::views;
use crate::app::AppState;
use crate::calls::{self, Call, CallOutcome, CallerRole, Policy};
use crate::contract::GuestRequest;
use crate::error_code::ErrorCode;

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
pub(crate) async fn call_root(
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
pub(crate) async fn call(
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
                ErrorCode::PAYLOAD_TOO_LARGE,
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
    // A screen's answer is checked after the call, which needs who asked for it; only
    // screens pay for the copies.
    let screen = views::is_view_route(&method, &path).then(|| {
        (
            user.tenant_id.clone(),
            user.claims.sub.clone(),
            module_name.clone(),
        )
    });
    let call = Call {
        tenant_id: user.tenant_id,
        actor: user.claims.sub,
        role: CallerRole::from(user.claims.role),
        request_id: current_request_id(),
        module: module_name,
        request: req,
    };
    let outcome = calls::call(&state, call, Policy::TENANT_REQUEST).await;
    let Some((tenant, actor, module)) = screen else {
        return respond(outcome);
    };
    match outcome.into_answer() {
        Ok(resp) => match (resp.status == 200)
            .then(|| views::problem(&path, &resp.body))
            .flatten()
        {
            Some(p) => views::refuse(&state, &tenant, &actor, &module, &path, &p).await,
            None => guest_response(resp.status, resp.headers, resp.body),
        },
        Err(refusal) => ApiError::from(refusal).into_response(),
    }
}

/// The HTTP answer to a module call: the module's own response, or the refusal in the
/// standard error shape.
pub(crate) fn respond(outcome: CallOutcome) -> Response {
    match outcome.into_answer() {
        Ok(resp) => guest_response(resp.status, resp.headers, resp.body),
        Err(refusal) => ApiError::from(refusal).into_response(),
    }
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
    // The call service answers only with statuses HTTP can carry.
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
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
