//! `/v1/superadmin/…` for module versions: list, activate, roll back, pin a tenant.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::{ApiError, ApiResult, current_request_id};
use super::extract::SuperAdmin;
use super::json::ApiJson;
use crate::app::AppState;
use crate::capabilities::grants::{Capability, Permissions};
use crate::error_code::ErrorCode;
use crate::runtime::manifest::valid_host;
use crate::runtime::versions::{Actor, VersionError};
use crate::storage::audit::{self, AuditEvent};
use crate::storage::{grants, modules, tenants};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes mounted under `/v1/superadmin`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_versions))
        .routes(routes!(activate))
        .routes(routes!(rollback))
        .routes(routes!(pin, unpin))
        .routes(routes!(list_grants, set_grants))
}

/// What a module declares, what it is granted, and what it may use (both).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Grants {
    module: String,
    declared: BTreeSet<Capability>,
    granted: BTreeSet<Capability>,
    effective: BTreeSet<Capability>,
    declared_hosts: BTreeSet<String>,
    granted_hosts: BTreeSet<String>,
    effective_hosts: BTreeSet<String>,
}

fn grants_view(state: &AppState, module: &crate::runtime::registry::LoadedModule) -> Grants {
    let granted = state.runtime.registry.granted(&module.name);
    let effective = state.runtime.effective_grants(module);
    Grants {
        module: module.name.clone(),
        declared: module.declared.capabilities.clone(),
        granted: granted.capabilities,
        effective: effective.capabilities,
        declared_hosts: module.declared.hosts.clone(),
        granted_hosts: granted.hosts,
        effective_hosts: effective.hosts,
    }
}

/// A module's versions, newest first.
#[derive(Serialize, utoipa::ToSchema)]
struct VersionList {
    module: String,
    versions: Vec<modules::VersionSummary>,
}

/// The version now active for everyone.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Active {
    module: String,
    active_version: i64,
}

/// A tenant's pin.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Pinned {
    tenant_id: String,
    module: String,
    pinned_version: i64,
}

fn loaded(
    state: &AppState,
    module: &str,
) -> ApiResult<std::sync::Arc<crate::runtime::registry::LoadedModule>> {
    state.runtime.registry.get(module).ok_or_else(|| {
        ApiError::not_found(
            ErrorCode::MODULE_NOT_FOUND,
            format!("no module named {module:?} is installed"),
        )
    })
}

#[utoipa::path(get, path = "/modules/{module}/grants", responses((status = 200, description = "The module's grants", body = Grants)))]
async fn list_grants(
    State(state): State<AppState>,
    _admin: SuperAdmin,
    Path(module): Path<String>,
) -> ApiResult<Json<Grants>> {
    let m = loaded(&state, &module)?;
    Ok(Json(grants_view(&state, &m)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct GrantsBody {
    capabilities: Vec<String>,
    /// Hosts for `outbound-http`; omitted means none.
    #[serde(default)]
    hosts: Vec<String>,
}

/// Replace what a module is granted (deny by default); audited as `module.grants_changed`.
#[utoipa::path(put, path = "/modules/{module}/grants", request_body = GrantsBody, responses((status = 200, description = "The module's grants, as changed", body = Grants)))]
async fn set_grants(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path(module): Path<String>,
    ApiJson(body): ApiJson<GrantsBody>,
) -> ApiResult<Json<Grants>> {
    let m = loaded(&state, &module)?;
    let mut caps = Permissions::default();
    for name in &body.capabilities {
        caps.capabilities
            .insert(Capability::parse(name).ok_or_else(|| {
                ApiError::validation(
                    "capabilities",
                    format!(
                        "unknown capability {name:?}: use {}",
                        Capability::names_for_people()
                    ),
                )
            })?);
    }
    for host in &body.hosts {
        if !valid_host(host) {
            return Err(ApiError::validation(
                "hosts",
                format!("{host:?} is not a host name (a-z, 0-9, '.', '-', optional ':port')"),
            ));
        }
        caps.hosts.insert(host.clone());
    }
    let previous = state.runtime.registry.granted(&module);
    let names = caps.to_names();
    let mut tx = state.db.begin().await?;
    grants::replace(&mut tx, &module, &names, &admin.email).await?;
    let payload = json!({
        "module": module,
        "previous": previous.capabilities,
        "current": caps.capabilities,
        "previousHosts": previous.hosts,
        "currentHosts": caps.hosts,
    });
    let event = AuditEvent::new(
        None,
        "superadmin",
        "module.grants_changed",
        Some(&admin.email),
        &payload,
        Some(&current_request_id()),
    );
    audit::insert(&mut tx, &event).await?;
    crate::storage::commit_in_task(tx).await?;
    state.runtime.registry.set_grants(&module, caps);
    state.versions_changed().await;
    Ok(Json(grants_view(&state, &m)))
}

fn version_error(e: VersionError) -> ApiError {
    match e {
        VersionError::NoModule(_) => {
            ApiError::not_found(ErrorCode::MODULE_NOT_FOUND, e.to_string())
        }
        VersionError::NoVersion(..) => {
            ApiError::not_found(ErrorCode::VERSION_NOT_FOUND, e.to_string())
        }
        VersionError::NoPin => ApiError::not_found(ErrorCode::PIN_NOT_FOUND, e.to_string()),
        VersionError::NothingToRollBack(_) => ApiError::conflict(e.to_string()),
        VersionError::Load(e) => ApiError::internal(e),
        VersionError::Storage(e) => e.into(),
    }
}

#[utoipa::path(get, path = "/modules/{module}/versions", responses((status = 200, description = "Every version, newest first", body = VersionList)))]
async fn list_versions(
    State(state): State<AppState>,
    _admin: SuperAdmin,
    Path(module): Path<String>,
) -> ApiResult<Json<VersionList>> {
    let versions = modules::versions(&state.db, &module).await?;
    if versions.is_empty() {
        return Err(ApiError::not_found(
            ErrorCode::MODULE_NOT_FOUND,
            format!("no module named {module:?} is installed"),
        ));
    }
    Ok(Json(VersionList { module, versions }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct VersionBody {
    version: i64,
}

#[utoipa::path(post, path = "/modules/{module}/activate", request_body = VersionBody, responses((status = 200, description = "Now active", body = Active)))]
async fn activate(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path(module): Path<String>,
    ApiJson(body): ApiJson<VersionBody>,
) -> ApiResult<Json<Active>> {
    let request_id = current_request_id();
    let actor = Actor {
        email: &admin.email,
        request_id: &request_id,
    };
    let active = state
        .runtime
        .activate_version(&module, body.version, actor)
        .await
        .map_err(version_error)?;
    state.versions_changed().await;
    Ok(Json(Active {
        module,
        active_version: active,
    }))
}

#[utoipa::path(post, path = "/modules/{module}/rollback", responses((status = 200, description = "The version now active", body = Active)))]
async fn rollback(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path(module): Path<String>,
) -> ApiResult<Json<Active>> {
    let request_id = current_request_id();
    let actor = Actor {
        email: &admin.email,
        request_id: &request_id,
    };
    let active = state
        .runtime
        .rollback(&module, actor)
        .await
        .map_err(version_error)?;
    state.versions_changed().await;
    Ok(Json(Active {
        module,
        active_version: active,
    }))
}

#[utoipa::path(put, path = "/tenants/{tenant_id}/modules/{module}/pin", request_body = VersionBody, responses((status = 200, description = "Pinned", body = Pinned)))]
async fn pin(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path((tenant, module)): Path<(String, String)>,
    ApiJson(body): ApiJson<VersionBody>,
) -> ApiResult<Json<Pinned>> {
    if tenants::get(&state.db, &tenant).await?.is_none() {
        return Err(ApiError::not_found(
            ErrorCode::TENANT_NOT_FOUND,
            format!("tenant {tenant} does not exist"),
        ));
    }
    let request_id = current_request_id();
    let actor = Actor {
        email: &admin.email,
        request_id: &request_id,
    };
    state
        .runtime
        .pin_version(&tenant, &module, body.version, actor)
        .await
        .map_err(version_error)?;
    state.versions_changed().await;
    Ok(Json(Pinned {
        tenant_id: tenant,
        module,
        pinned_version: body.version,
    }))
}

#[utoipa::path(delete, path = "/tenants/{tenant_id}/modules/{module}/pin", responses((status = 204, description = "Done")))]
async fn unpin(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path((tenant, module)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let request_id = current_request_id();
    let actor = Actor {
        email: &admin.email,
        request_id: &request_id,
    };
    state
        .runtime
        .unpin_version(&tenant, &module, actor)
        .await
        .map_err(version_error)?;
    state.versions_changed().await;
    Ok(StatusCode::NO_CONTENT)
}
