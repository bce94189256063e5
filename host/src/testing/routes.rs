//! The test host's control routes (`/_testkit/…`): what `nova-testkit` does besides calling
//! modules through the ordinary `/v1/portal/{module}/…` routes. No authentication: the test
//! host listens on loopback and belongs to one test.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::Role;
use crate::calls::{self, Call, CallerRole, Policy};
use crate::capabilities::grants::{Capability, Permissions};
use crate::contract::GuestRequest;
use crate::storage::{self, audit::AuditFilter};
use crate::tenancy::changes::Change;

type Answer = Result<Response, (StatusCode, String)>;

fn bad(message: impl Into<String>) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, message.into())
}

fn failed(e: impl std::fmt::Display) -> (StatusCode, String) {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

pub(super) fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route(
            "/_testkit/modules/{name}",
            // As large a component as the superadmin install route takes.
            post(install).layer(axum::extract::DefaultBodyLimit::max(64 << 20)),
        )
        .route("/_testkit/modules/{name}/grants", put(grant))
        .route("/_testkit/tenants", post(tenant))
        .route("/_testkit/tenants/{id}/tokens", post(token))
        .route(
            "/_testkit/tenants/{id}/modules/{module}",
            put(switch_module),
        )
        .route("/_testkit/tenants/{id}/flags/{flag}", put(switch_flag))
        .route("/_testkit/tenants/{id}/timezone", put(timezone))
        .route("/_testkit/tenants/{id}/call-as", post(call_as))
        .route("/_testkit/tenants/{id}/kv/{module}", get(kv))
        .route("/_testkit/tenants/{id}/audit", get(audit))
        .route("/_testkit/tenants/{id}/invocations", get(invocations))
        .with_state(state)
}

#[derive(Deserialize)]
struct InstallQuery {
    #[serde(default)]
    ungranted: bool,
}

/// Install the body as the next version of `name`, granted what it declares unless
/// `?ungranted=true`.
async fn install(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<InstallQuery>,
    body: Bytes,
) -> Answer {
    let installed = state
        .runtime
        .install(&name, body.to_vec(), Some("testkit"))
        .await
        .map_err(|e| bad(format!("installing {name}: {e}")))?;
    if !q.ungranted {
        state
            .runtime
            .grant_declared(&name, "testkit")
            .await
            .map_err(failed)?;
    }
    Ok(Json(json!({"version": installed.version})).into_response())
}

#[derive(Deserialize)]
struct Grants {
    capabilities: Vec<String>,
    hosts: Vec<String>,
}

async fn grant(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(g): Json<Grants>,
) -> Answer {
    let mut p = Permissions::default();
    for c in &g.capabilities {
        p.capabilities
            .insert(Capability::parse(c).ok_or_else(|| bad(format!("unknown capability {c:?}")))?);
    }
    p.hosts = g.hosts.into_iter().collect();
    state
        .runtime
        .grant(&name, p, "testkit")
        .await
        .map_err(failed)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct NewTenant {
    name: String,
}

/// A tenant with every installed module on, and its admin's token.
async fn tenant(State(state): State<AppState>, Json(t): Json<NewTenant>) -> Answer {
    let tenant = storage::tenants::create(&state.db, &t.name)
        .await
        .map_err(failed)?;
    let changes: Vec<Change> = state
        .runtime
        .registry
        .names()
        .iter()
        .map(|m| Change::module_override(m, true))
        .collect();
    change(&state, &tenant.id, &changes).await?;
    let token = issue(&state, &tenant.id, Role::Admin)?;
    Ok(Json(json!({"id": tenant.id, "token": token})).into_response())
}

fn issue(state: &AppState, tenant: &str, role: Role) -> Result<String, (StatusCode, String)> {
    let name = format!("{}-of-{tenant}", role.as_str());
    state
        .keys
        .issue(&name, &format!("{name}@testkit.test"), role, Some(tenant))
        .map_err(failed)
}

#[derive(Deserialize)]
struct TokenFor {
    role: String,
}

async fn token(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Json(t): Json<TokenFor>,
) -> Answer {
    let role = match Role::parse(&t.role) {
        Some(r @ (Role::Admin | Role::Staff | Role::Service)) => r,
        _ => {
            return Err(bad(format!(
                "a tenant user is admin, staff or service, not {:?}",
                t.role
            )));
        }
    };
    Ok(Json(json!({"token": issue(&state, &tenant, role)?})).into_response())
}

#[derive(Deserialize)]
struct Switch {
    enabled: bool,
}

async fn switch_module(
    State(state): State<AppState>,
    Path((tenant, module)): Path<(String, String)>,
    Json(s): Json<Switch>,
) -> Answer {
    change(
        &state,
        &tenant,
        &[Change::module_override(&module, s.enabled)],
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn switch_flag(
    State(state): State<AppState>,
    Path((tenant, flag)): Path<(String, String)>,
    Json(s): Json<Switch>,
) -> Answer {
    change(&state, &tenant, &[Change::flag_override(&flag, s.enabled)]).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn change(
    state: &AppState,
    tenant: &str,
    changes: &[Change],
) -> Result<(), (StatusCode, String)> {
    state
        .tenancy
        .change(tenant, changes, "testkit", "", "testkit")
        .await
        .map(|_| ())
        .map_err(|e| failed(format!("{e:?}")))
}

#[derive(Deserialize)]
struct Timezone {
    timezone: String,
}

async fn timezone(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Json(t): Json<Timezone>,
) -> Answer {
    if !crate::capabilities::clock::known_timezone(&t.timezone) {
        return Err(bad(format!("unknown timezone {:?}", t.timezone)));
    }
    let mut conn = state.db.pool().acquire().await.map_err(failed)?;
    storage::tenants::set_timezone_in(&mut conn, &tenant, &t.timezone)
        .await
        .map_err(failed)?;
    state.tenancy.invalidate(&tenant);
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct CallAs {
    actor: String,
    module: String,
    method: String,
    path: String,
    #[serde(default)]
    body: Option<Value>,
}

/// Call a module as the host calls it for its own actors (a verified webhook): the module
/// reads the role `system`. Answers with the module's status and body.
async fn call_as(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Json(c): Json<CallAs>,
) -> Answer {
    let (path, query) = c.path.split_once('?').unwrap_or((&c.path, ""));
    let request = GuestRequest {
        method: c.method,
        path: path.to_string(),
        query: query.to_string(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: c
            .body
            .map(|b| b.to_string().into_bytes())
            .unwrap_or_default(),
    };
    let request_id = uuid::Uuid::now_v7().to_string();
    let call = Call {
        tenant_id: tenant,
        actor: c.actor,
        role: CallerRole::System,
        request_id: request_id.clone(),
        module: c.module,
        request,
    };
    let (status, body) = match calls::call(&state, call, Policy::PLATFORM)
        .await
        .into_answer()
    {
        Ok(resp) => (resp.status, resp.body),
        Err(refusal) => (
            refusal.status,
            refusal.body(request_id).to_string().into_bytes(),
        ),
    };
    let status = StatusCode::from_u16(status).map_err(failed)?;
    Ok((status, body).into_response())
}

/// Every kv entry of the module for the tenant, in key order; values as byte arrays.
async fn kv(
    State(state): State<AppState>,
    Path((tenant, module)): Path<(String, String)>,
) -> Answer {
    let entries = storage::kv::list(&state.db, &tenant, &module, "", None, i64::MAX)
        .await
        .map_err(failed)?;
    let out: Vec<Value> = entries
        .into_iter()
        .map(|(key, stored)| json!({"key": key, "value": stored.value}))
        .collect();
    Ok(Json(out).into_response())
}

/// The tenant's audit records, oldest first.
async fn audit(State(state): State<AppState>, Path(tenant): Path<String>) -> Answer {
    let filter = AuditFilter {
        tenant_id: Some(tenant),
        limit: 10_000,
        ..AuditFilter::default()
    };
    let mut rows = storage::audit::query(&state.db, &filter)
        .await
        .map_err(failed)?;
    rows.reverse();
    Ok(Json(rows).into_response())
}

/// The tenant's invocation records, oldest first.
async fn invocations(State(state): State<AppState>, Path(tenant): Path<String>) -> Answer {
    let rows = storage::invocations::all_for_tenant(&state.db, &tenant)
        .await
        .map_err(failed)?;
    Ok(Json(rows).into_response())
}
