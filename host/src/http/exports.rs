//! Tenant exports over HTTP: a superadmin exports any tenant, a tenant's admin their own.
//! Only the user who asked sees an export's status or downloads its bundle; anyone else gets
//! the same 404 as for an export that does not exist.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult};
use super::extract::{SuperAdmin, TenantUser};
use super::json::ApiJson;
use crate::app::AppState;
use crate::auth::token::{Claims, Role};
use crate::error_code::ErrorCode;
use crate::exports::bundle::Recipient;
use crate::exports::{self, MIN_PASSPHRASE};
use crate::storage::audit::{self, AuditEvent};
use crate::storage::exports::{self as store, Export};
use crate::storage::tenants;
use crate::telemetry::current_request_id;

/// The superadmin's routes, nested under `/v1/superadmin`.
pub(crate) fn superadmin_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_for_tenant))
        .routes(routes!(status_for_tenant))
        .routes(routes!(download_for_tenant))
}

/// A tenant admin's routes.
pub(crate) fn portal_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_own))
        .routes(routes!(status_own))
        .routes(routes!(download_own))
}

/// Who can open the bundle: exactly one of the two.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportRequest {
    /// An age X25519 public key (`age1…`).
    recipient: Option<String>,
    /// A passphrase of at least 12 characters.
    passphrase: Option<String>,
}

impl ExportRequest {
    fn recipient(self) -> ApiResult<Recipient> {
        match (self.recipient, self.passphrase) {
            (Some(key), None) => {
                Recipient::key(&key).map_err(|e| ApiError::validation("recipient", e))
            }
            (None, Some(pass)) => {
                let n = pass.chars().count();
                if !(MIN_PASSPHRASE..=1024).contains(&n) {
                    return Err(ApiError::validation(
                        "passphrase",
                        format!("a passphrase has {MIN_PASSPHRASE} to 1024 characters"),
                    ));
                }
                Ok(Recipient::Passphrase(pass.into()))
            }
            _ => Err(ApiError::validation(
                "recipient",
                "give either recipient (an age1… public key) or passphrase, not both",
            )),
        }
    }
}

fn no_export(id: &str) -> ApiError {
    ApiError::not_found(ErrorCode::EXPORT_NOT_FOUND, format!("no export {id}"))
}

async fn request(
    state: &AppState,
    tenant: &str,
    by: &Claims,
    body: ExportRequest,
) -> ApiResult<(StatusCode, Json<Export>)> {
    let to = body.recipient()?;
    let export = exports::request(state, tenant, &by.sub, &by.email, &to).await?;
    Ok((StatusCode::ACCEPTED, Json(export)))
}

/// The export, when `by` asked for it.
async fn mine(state: &AppState, tenant: &str, id: &str, by: &Claims) -> ApiResult<Export> {
    match store::get(&state.db, tenant, id).await? {
        Some(export) if export.requested_by == by.sub => Ok(export),
        _ => Err(no_export(id)),
    }
}

async fn download(state: &AppState, tenant: &str, id: &str, by: &Claims) -> ApiResult<Response> {
    let export = mine(state, tenant, id, by).await?;
    match export.status.as_str() {
        "ready" => {}
        "expired" => {
            return Err(ApiError::new(
                StatusCode::GONE,
                ErrorCode::EXPORT_EXPIRED,
                "this export's bundle was deleted after 7 days; request a new one",
            ));
        }
        status => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::EXPORT_NOT_READY,
                format!("this export is {status}, not ready"),
            ));
        }
    }
    let mut tx = state.db.begin().await?;
    // Expired between the two reads: the bundle is gone.
    let Some(bundle) = store::take_bundle_in(&mut tx, id).await? else {
        return Err(no_export(id));
    };
    let event = AuditEvent::new(
        Some(tenant),
        "exports",
        "tenant.export.downloaded",
        Some(&by.email),
        &json!({"exportId": id, "bytes": bundle.len()}),
        Some(&current_request_id()),
    );
    audit::insert(&mut tx, &event).await?;
    crate::storage::commit_in_task(tx).await?;
    let name = format!("nova-export-{tenant}-{id}.tar.gz.age");
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from(bundle),
    )
        .into_response())
}

async fn tenant_exists(state: &AppState, tenant: &str) -> ApiResult<()> {
    match tenants::get(&state.db, tenant).await? {
        Some(_) => Ok(()),
        None => Err(super::superadmin::no_tenant(tenant)),
    }
}

/// A tenant's admin; staff and service tokens get 403.
fn tenant_admin(user: &TenantUser) -> ApiResult<()> {
    if user.claims.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only a tenant's admin exports its data",
        ))
    }
}

#[utoipa::path(post, path = "/tenants/{tenant_id}/exports", request_body = ExportRequest, responses((status = 202, description = "The export, pending until a worker builds it", body = Export)))]
async fn request_for_tenant(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path(tenant_id): Path<String>,
    ApiJson(body): ApiJson<ExportRequest>,
) -> ApiResult<(StatusCode, Json<Export>)> {
    tenant_exists(&state, &tenant_id).await?;
    request(&state, &tenant_id, &admin, body).await
}

#[utoipa::path(get, path = "/tenants/{tenant_id}/exports/{export_id}", responses((status = 200, description = "The export's status", body = Export)))]
async fn status_for_tenant(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path((tenant_id, export_id)): Path<(String, String)>,
) -> ApiResult<Json<Export>> {
    Ok(Json(mine(&state, &tenant_id, &export_id, &admin).await?))
}

#[utoipa::path(get, path = "/tenants/{tenant_id}/exports/{export_id}/download", responses((status = 200, description = "The encrypted bundle (application/octet-stream)"), (status = 409, description = "Not ready yet"), (status = 410, description = "Expired")))]
async fn download_for_tenant(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path((tenant_id, export_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    download(&state, &tenant_id, &export_id, &admin).await
}

#[utoipa::path(post, path = "/v1/portal/me/exports", request_body = ExportRequest, responses((status = 202, description = "The export, pending until a worker builds it", body = Export)))]
async fn request_own(
    State(state): State<AppState>,
    user: TenantUser,
    ApiJson(body): ApiJson<ExportRequest>,
) -> ApiResult<(StatusCode, Json<Export>)> {
    tenant_admin(&user)?;
    request(&state, &user.tenant_id, &user.claims, body).await
}

#[utoipa::path(get, path = "/v1/portal/me/exports/{export_id}", responses((status = 200, description = "The export's status", body = Export)))]
async fn status_own(
    State(state): State<AppState>,
    user: TenantUser,
    Path(export_id): Path<String>,
) -> ApiResult<Json<Export>> {
    tenant_admin(&user)?;
    Ok(Json(
        mine(&state, &user.tenant_id, &export_id, &user.claims).await?,
    ))
}

#[utoipa::path(get, path = "/v1/portal/me/exports/{export_id}/download", responses((status = 200, description = "The encrypted bundle (application/octet-stream)"), (status = 409, description = "Not ready yet"), (status = 410, description = "Expired")))]
async fn download_own(
    State(state): State<AppState>,
    user: TenantUser,
    Path(export_id): Path<String>,
) -> ApiResult<Response> {
    tenant_admin(&user)?;
    download(&state, &user.tenant_id, &export_id, &user.claims).await
}
