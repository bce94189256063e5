//! Who may still get in: a superadmin disables and enables users (their tokens stop working on
//! every replica at once with Redis, within 5 s without), and adds and removes superadmins.
//! The platform never loses its last enabled superadmin. All of it is audited.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult};
use super::extract::SuperAdmin;
use super::json::ApiJson;
use super::superadmin::check_email;
use crate::app::AppState;
use crate::auth::password;
use crate::error_code::ErrorCode;
use crate::storage::audit::{self, AuditEvent};
use crate::storage::{self, users};
use crate::telemetry::current_request_id;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_status))
        .routes(routes!(add_superadmin))
        .routes(routes!(remove_superadmin))
}

/// Whether a user is disabled.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Status {
    disabled: bool,
}

/// A user's access now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Access {
    id: String,
    email: String,
    role: String,
    disabled: bool,
}

fn last_superadmin() -> ApiError {
    ApiError::conflict(
        "the last enabled superadmin cannot be disabled or removed; add another first",
    )
}

fn no_user(id: &str) -> ApiError {
    ApiError::not_found(ErrorCode::USER_NOT_FOUND, format!("no user {id}"))
}

/// Disable or enable `id` in one transaction with its audit record (`action`, or
/// `user.disabled` / `user.enabled`): 404 when it does not exist, 409 when it is the last
/// enabled superadmin.
async fn change(
    state: &AppState,
    by: &str,
    id: &str,
    disabled: bool,
    action: Option<&str>,
) -> ApiResult<Access> {
    let mut tx = state.db.begin().await?;
    storage::serialise_in(&mut tx, state.db.backend(), users::SUPERADMINS_LOCK).await?;
    let Some((email, role, _)) = users::status_in(&mut tx, id).await? else {
        return Err(no_user(id));
    };
    if !users::set_disabled_in(&mut tx, id, disabled).await? {
        return Err(last_superadmin());
    }
    let action = action.unwrap_or(if disabled {
        "user.disabled"
    } else {
        "user.enabled"
    });
    let event = AuditEvent::new(
        None,
        "superadmin",
        action,
        Some(by),
        &json!({"userId": id, "email": email, "role": role}),
        Some(&current_request_id()),
    );
    audit::insert(&mut tx, &event).await?;
    crate::storage::commit_in_task(tx).await?;
    state.users_changed().await;
    Ok(Access {
        id: id.to_string(),
        email,
        role,
        disabled,
    })
}

#[utoipa::path(put, path = "/users/{user_id}/status", request_body = Status, responses((status = 200, description = "The user's access now", body = Access), (status = 409, description = "The last enabled superadmin")))]
async fn set_status(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path(user_id): Path<String>,
    ApiJson(body): ApiJson<Status>,
) -> ApiResult<Json<Access>> {
    Ok(Json(
        change(&state, &admin.email, &user_id, body.disabled, None).await?,
    ))
}

/// A new superadmin's sign-in.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSuperadmin {
    email: String,
    /// At least 8 characters.
    password: String,
}

#[utoipa::path(post, path = "/members", request_body = NewSuperadmin, responses((status = 201, description = "The superadmin, enabled", body = Access)))]
async fn add_superadmin(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    ApiJson(body): ApiJson<NewSuperadmin>,
) -> ApiResult<(StatusCode, Json<Access>)> {
    let email = body.email.trim().to_lowercase();
    check_email(&email)?;
    password::check_strength(&body.password).map_err(|m| ApiError::validation("password", m))?;
    let hash = password::hash_gated(body.password)
        .await?
        .map_err(ApiError::internal)?;
    let mut tx = state.db.begin().await?;
    // A removed superadmin's account is kept (the audit trail names it): adding the same
    // email again enables it with the new password. An enabled account is never touched, so
    // no superadmin can take over another's sign-in this way.
    let id = match users::restore_superadmin_in(&mut tx, &email, &hash).await? {
        Some(id) => id,
        None => match users::create_in(&mut tx, None, &email, &hash, "superadmin").await {
            Ok(user) => user.id,
            Err(e) if storage::is_unique_violation(&e) => {
                return Err(ApiError::conflict(format!(
                    "{email} already has an account (an enabled superadmin or a restaurant's user)"
                )));
            }
            Err(e) => return Err(e.into()),
        },
    };
    let event = AuditEvent::new(
        None,
        "superadmin",
        "superadmin.added",
        Some(&admin.email),
        &json!({"userId": id, "email": email}),
        Some(&current_request_id()),
    );
    audit::insert(&mut tx, &event).await?;
    crate::storage::commit_in_task(tx).await?;
    state.users_changed().await;
    Ok((
        StatusCode::CREATED,
        Json(Access {
            id,
            email,
            role: "superadmin".into(),
            disabled: false,
        }),
    ))
}

#[utoipa::path(delete, path = "/members/{user_id}", responses((status = 200, description = "The superadmin, removed (disabled, kept for the audit trail)", body = Access), (status = 409, description = "The last enabled superadmin")))]
async fn remove_superadmin(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Access>> {
    let mut conn = state.db.pool().acquire().await?;
    match users::status_in(&mut conn, &user_id).await? {
        Some((_, role, _)) if role == "superadmin" => {}
        Some(_) => {
            return Err(ApiError::validation(
                "userId",
                "not a superadmin: disable a restaurant's user with PUT /v1/superadmin/users/{id}/status",
            ));
        }
        None => return Err(no_user(&user_id)),
    }
    drop(conn);
    let access = change(
        &state,
        &admin.email,
        &user_id,
        true,
        Some("superadmin.removed"),
    )
    .await?;
    Ok(Json(access))
}
