//! `GET /v1/portal/me`: who the caller is and what their tenant has right now.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::error::{ApiError, ApiResult};
use super::extract::TenantUser;
use crate::app::AppState;
use crate::error_code::ErrorCode;
use crate::storage::tenants;

/// What a tenant's screen shows: the user, the tenant, its plan, modules and flags.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Me {
    pub(crate) user: MeUser,
    pub(crate) tenant: tenants::Tenant,
    /// The plan of the current subscription; `null` without one.
    pub(crate) plan: Option<PlanRef>,
    /// Modules switched on for the tenant, sorted.
    pub(crate) modules: Vec<String>,
    /// Feature flags on for the tenant, sorted.
    pub(crate) feature_flags: Vec<String>,
    pub(crate) limits: MeLimits,
    /// The message writes get while maintenance mode is on; `null` when it is off.
    pub(crate) maintenance: Option<String>,
}

/// The signed-in user.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MeUser {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) role: String,
}

/// A plan, by id and name.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PlanRef {
    pub(crate) id: String,
    pub(crate) name: String,
}

/// The limits each of the tenant's module calls runs under.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MeLimits {
    pub(crate) memory_bytes: u64,
    pub(crate) deadline_ms: u64,
    pub(crate) fuel: u64,
    /// `null` without a plan: no rate limit.
    pub(crate) calls_per_minute: Option<u64>,
    pub(crate) concurrent_calls: u32,
}

#[utoipa::path(get, path = "/v1/portal/me", responses((status = 200, description = "The caller and their tenant", body = Me)))]
pub(crate) async fn me(State(state): State<AppState>, user: TenantUser) -> ApiResult<Json<Me>> {
    let tenant = tenants::get(&state.db, &user.tenant_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(ErrorCode::TENANT_NOT_FOUND, "your tenant no longer exists")
        })?;
    let view = state.tenancy.view(&user.tenant_id).await?;
    let limits = view.limits(state.limits);
    Ok(Json(Me {
        user: MeUser {
            id: user.claims.sub,
            email: user.claims.email,
            role: user.claims.role.as_str().to_string(),
        },
        tenant,
        plan: view.plan.as_ref().map(|p| PlanRef {
            id: p.id.clone(),
            name: p.name.clone(),
        }),
        modules: view.enabled_modules(),
        feature_flags: view.enabled_flags(),
        limits: MeLimits {
            memory_bytes: limits.memory_bytes as u64,
            deadline_ms: limits.deadline.as_millis() as u64,
            fuel: limits.fuel,
            calls_per_minute: view.calls_per_minute(),
            concurrent_calls: limits.concurrent_calls,
        },
        maintenance: state
            .maintenance
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|on| on.message.clone()),
    }))
}
