//! `GET /v1/portal/me`: who the caller is and what their tenant has right now.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use crate::app::AppState;
use crate::auth::TenantUser;
use crate::error_code::ErrorCode;
use crate::storage::tenants;

/// What a tenant's screen shows: the user, the tenant, its plan, modules and flags.
#[utoipa::path(get, path = "/v1/portal/me", responses((status = 200, description = "Done", body = Object)))]
pub async fn me(State(state): State<AppState>, user: TenantUser) -> ApiResult<Json<Value>> {
    let tenant = tenants::get(&state.db, &user.tenant_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(ErrorCode::TENANT_NOT_FOUND, "your tenant no longer exists")
        })?;
    let view = state.tenancy.view(&user.tenant_id).await?;
    let limits = view.limits(state.limits);
    Ok(Json(json!({
        "user": {"id": user.claims.sub, "email": user.claims.email, "role": user.claims.role},
        "tenant": tenant,
        "plan": view.plan.as_ref().map(|p| json!({"id": p.id, "name": p.name})),
        "modules": view.enabled_modules(),
        "featureFlags": view.enabled_flags(),
        "limits": {
            "memoryBytes": limits.memory_bytes,
            "deadlineMs": limits.deadline.as_millis() as u64,
            "fuel": limits.fuel,
            "callsPerMinute": view.calls_per_minute(),
            "concurrentCalls": limits.concurrent_calls,
        },
    })))
}
