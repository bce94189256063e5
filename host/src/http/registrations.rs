//! `POST /v1/registrations`: a restaurant asks to join (public). A superadmin approves or
//! rejects it under `/v1/superadmin/registrations`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use super::superadmin::check_email;
use crate::app::AppState;
use crate::auth::password;
use crate::storage::{plans, registrations, users};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewRegistration {
    restaurant_name: String,
    email: String,
    password: String,
    plan: String,
}

/// Store a pending registration; 202 because a person decides later.
#[utoipa::path(post, path = "/v1/registrations", request_body = NewRegistration, responses((status = 202, description = "Done", body = Object)))]
pub async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewRegistration>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let name = body.restaurant_name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::validation(
            "restaurantName",
            "restaurantName must be 1 to 200 characters",
        ));
    }
    let email = body.email.trim().to_lowercase();
    check_email(&email)?;
    password::check_strength(&body.password).map_err(|m| ApiError::validation("password", m))?;
    let plan = {
        let mut conn = state.db.pool().acquire().await?;
        plans::find(&mut conn, body.plan.trim()).await?
    }
    .ok_or_else(|| {
        ApiError::validation(
            "plan",
            "plan must be Core, Pro or Enterprise (or a plan id)",
        )
    })?;
    if users::credentials(&state.db, &email).await?.is_some()
        || registrations::pending_email_exists(&state.db, &email).await?
    {
        return Err(ApiError::conflict(format!(
            "{email} is already registered or waiting for approval"
        )));
    }
    let pw = body.password;
    let hash = tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let reg = registrations::create(&state.db, name, &email, &hash, &plan.id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({"id": reg.id, "status": reg.status, "plan": plan.name, "createdAt": reg.created_at}),
        ),
    ))
}
