//! Password resets: a superadmin sends a user a one-time link by mail (valid for an hour);
//! the link's page sets a new password, and every token the user held stops working.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::client::ClientAddr;
use super::error::{ApiError, ApiResult};
use super::extract::SuperAdmin;
use super::json::ApiJson;
use crate::app::AppState;
use crate::auth::password;
use crate::error_code::ErrorCode;
use crate::storage::audit::{self, AuditEvent};
use crate::storage::{mail, now_ms, password_resets as resets, rfc3339, users};
use crate::telemetry::current_request_id;

/// The superadmin's route, nested under `/v1/superadmin`.
pub(crate) fn superadmin_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(send_link))
}

/// The link's page posts here.
pub(crate) fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(reset))
}

/// A link on its way.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LinkSent {
    user_id: String,
    email: String,
    expires_at: String,
}

#[utoipa::path(post, path = "/users/{user_id}/password-reset", responses((status = 202, description = "A one-time link is mailed to the user", body = LinkSent), (status = 404, description = "No such user")))]
async fn send_link(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path(user_id): Path<String>,
) -> ApiResult<(StatusCode, Json<LinkSent>)> {
    let mut tx = state.db.begin().await?;
    let Some((email, _, _)) = users::status_in(&mut tx, &user_id).await? else {
        return Err(ApiError::not_found(
            ErrorCode::USER_NOT_FOUND,
            format!("no user {user_id}"),
        ));
    };
    let (token, expires_at) = resets::create_in(&mut tx, &user_id, &admin.email).await?;
    let link = format!("{}/app/reset.html#token={token}", state.public_url);
    let body = format!(
        "A Nova administrator sent you this link to choose a new password:\n\n{link}\n\n\
         It works once, until {}. Choosing a new password signs you out everywhere. If you did \
         not expect this mail, ignore it; your password stays as it is.",
        rfc3339(expires_at)
    );
    mail::enqueue_secret_in(&mut tx, &email, "Choose a new Nova password", &body).await?;
    let tenant = users::tenant_of_in(&mut tx, &user_id).await?;
    let event = AuditEvent::new(
        tenant.as_deref(),
        "superadmin",
        "user.password_reset_sent",
        Some(&admin.email),
        &json!({"userId": user_id, "email": email, "expiresAt": rfc3339(expires_at)}),
        Some(&current_request_id()),
    );
    audit::insert(&mut tx, &event).await?;
    crate::storage::commit_in_task(tx).await?;
    state.jobs_queued(mail::QUEUE).await;
    Ok((
        StatusCode::ACCEPTED,
        Json(LinkSent {
            user_id,
            email,
            expires_at: rfc3339(expires_at),
        }),
    ))
}

/// A link's token and the new password.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Reset {
    token: String,
    /// At least 8 characters.
    password: String,
}

fn dead_link() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::RESET_LINK_INVALID,
        "this link is used, expired or wrong; ask an administrator for a new one",
    )
}

#[utoipa::path(post, path = "/auth/password-reset", request_body = Reset, responses((status = 204, description = "The password is changed; every earlier token is dead"), (status = 400, description = "A used, expired or unknown link, or a weak password")))]
async fn reset(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    ApiJson(body): ApiJson<Reset>,
) -> ApiResult<StatusCode> {
    password::check_strength(&body.password).map_err(|m| ApiError::validation("password", m))?;
    let token = body.token.trim();
    if token.len() != 64 || !resets::usable(&state.db, token, now_ms()).await? {
        return Err(dead_link());
    }
    let hash = password::hash_gated(body.password)
        .await?
        .map_err(ApiError::internal)?;
    let mut tx = state.db.begin().await?;
    // Redeemed here, atomically: of two uses racing past the check above only one gets on.
    let Some(user) = resets::redeem_in(&mut tx, token, now_ms()).await? else {
        return Err(dead_link());
    };
    users::set_password_in(&mut tx, &user, &hash).await?;
    let tenant = users::tenant_of_in(&mut tx, &user).await?;
    let event = AuditEvent::new(
        tenant.as_deref(),
        "auth",
        "user.password_reset",
        None,
        &json!({"userId": user, "address": address}),
        Some(&current_request_id()),
    );
    audit::insert(&mut tx, &event).await?;
    crate::storage::commit_in_task(tx).await?;
    state.users_changed().await;
    Ok(StatusCode::NO_CONTENT)
}
