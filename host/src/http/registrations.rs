//! `POST /v1/registrations`: a restaurant asks to join (public). A superadmin approves or
//! rejects it under `/v1/superadmin/registrations`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use super::superadmin::check_email;
use crate::app::AppState;
use crate::auth::password;
use crate::http::client::ClientAddr;
use crate::storage::{mail, now_ms, plans, registrations, rfc3339, users};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NewRegistration {
    restaurant_name: String,
    email: String,
    password: String,
    plan: String,
}

/// Registrations allowed per client address per minute (a burst of this many, refilled over
/// the minute): a restaurant registers once, a flood gets 429 before any password is hashed.
pub(crate) const REGISTRATIONS_PER_ADDRESS: u64 = 5;

/// A registration as its sender sees it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Received {
    pub(crate) id: String,
    /// Always `pending`: the sender is told nothing more.
    pub(crate) status: &'static str,
    /// The plan's name.
    pub(crate) plan: String,
    pub(crate) created_at: String,
}

/// Store a pending registration; 202 because a person decides later.
///
/// The answer is the same 202, after the same password hash, whether or not the email already
/// has an account or a pending registration, so the route does not tell strangers who is a
/// customer. The address's owner is told by mail instead.
#[utoipa::path(post, path = "/v1/registrations", request_body = NewRegistration, responses(
    (status = 202, description = "Received; a superadmin approves or rejects it", body = Received),
    (status = 429, description = "Too many registrations from this address; retry after a minute", body = crate::http::openapi::ErrorBody),
    (status = 503, description = "Too many passwords being checked at once; retry shortly", body = crate::http::openapi::ErrorBody),
))]
pub(crate) async fn register(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    ApiJson(body): ApiJson<NewRegistration>,
) -> ApiResult<(StatusCode, Json<Received>)> {
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
    // Before any database work: a flood from one address costs next to nothing.
    if !state.tenancy.rate.allow(
        &format!("register:address:{address}"),
        REGISTRATIONS_PER_ADDRESS,
        now_ms(),
    ) {
        metrics::counter!("nova_registrations_refused_total", "reason" => "rate").increment(1);
        return Err(ApiError::rate_limited(
            "too many registrations from this address; wait a minute and try again",
            60,
        ));
    }
    // A place in the hashing queue before any database work: when it is full, the request is
    // refused without reading anything.
    let ticket = password::admit()?;
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
    let known = users::credentials(&state.db, &email).await?.is_some()
        || registrations::pending_email_exists(&state.db, &email).await?;
    // Hashed either way: the time taken must not tell a known email from a new one.
    let hash = ticket
        .hash(body.password)
        .await?
        .map_err(ApiError::internal)?;
    let (id, created_at) = if known {
        tell_owner(&state, &email).await?;
        (uuid::Uuid::new_v4().to_string(), rfc3339(now_ms()))
    } else {
        let reg = registrations::create(&state.db, name, &email, &hash, &plan.id).await?;
        (reg.id, reg.created_at)
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(Received {
            id,
            status: "pending",
            plan: plan.name,
            created_at,
        }),
    ))
}

/// Mail the owner of an address someone tried to register again.
async fn tell_owner(state: &AppState, email: &str) -> ApiResult<()> {
    let mut conn = state.db.pool().acquire().await?;
    mail::enqueue_in(
        &mut conn,
        email,
        "Someone tried to register your address with Nova",
        "Someone asked to register a restaurant with this email address, which already has an \
         account or a registration waiting for approval. Nothing was changed. If it was you, \
         sign in with your existing account; if not, you can ignore this mail.",
    )
    .await?;
    drop(conn);
    state.jobs_queued(mail::QUEUE).await;
    Ok(())
}
