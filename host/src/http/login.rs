//! `POST /auth/login`: email and password in, a signed token out.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use crate::app::AppState;
use crate::auth::{Role, password};
use crate::storage::users;

/// Login body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub email: String,
    pub password: String,
}

/// Check the password and issue a token.
pub async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Login>,
) -> ApiResult<Json<Value>> {
    let email = body.email.trim().to_lowercase();
    let found = users::credentials(&state.db, &email).await?;
    let hash = found.as_ref().map(|c| c.password_hash.clone());
    let password = body.password;
    // argon2 takes tens of milliseconds of CPU: not on the async threads.
    let ok =
        tokio::task::spawn_blocking(move || hash.is_some_and(|h| password::verify(&password, &h)))
            .await
            .map_err(ApiError::internal)?;
    let Some(creds) = found.filter(|_| ok) else {
        return Err(ApiError::unauthorized("wrong email or password"));
    };
    let role = Role::parse(&creds.user.role)
        .ok_or_else(|| ApiError::internal("stored role is unknown"))?;
    let token = state
        .keys
        .issue(
            &creds.user.id,
            &creds.user.email,
            role,
            creds.user.tenant_id.as_deref(),
        )
        .map_err(ApiError::internal)?;
    users::touch_login(&state.db, &creds.user.id).await?;
    Ok(Json(json!({
        "token": token,
        "tokenType": "Bearer",
        "expiresIn": crate::auth::token::TOKEN_TTL_SECS,
        "user": creds.user,
    })))
}
