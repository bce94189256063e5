//! `POST /auth/login`: email and password in, a signed token out.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::client::ClientAddr;
use super::error::{ApiError, ApiResult, current_request_id};
use super::json::ApiJson;
use crate::app::AppState;
use crate::auth::{Role, password};
use crate::storage::audit::{self, AuditEvent};
use crate::storage::{now_ms, users};

/// Failed logins allowed per account *from one client address* per minute (a bucket: a burst
/// of this many, refilled over the minute), so passwords cannot be guessed quickly, while a
/// stranger guessing wrong from elsewhere cannot lock the owner out.
pub const FAILURES_PER_ACCOUNT: u64 = 5;
/// Failed logins allowed per client address per minute, so one client cannot try many accounts.
pub(crate) const FAILURES_PER_ADDRESS: u64 = 20;

/// A hash of a password nobody has, to spend the same time on unknown emails.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    password::hash("no account has this password").expect("hashing a fixed password works")
});

/// Login body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    pub(crate) email: String,
    pub(crate) password: String,
}

/// A signed-in user's token.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Session {
    /// The bearer token to send as `Authorization: Bearer …`.
    pub(crate) token: String,
    /// Always `Bearer`.
    pub(crate) token_type: &'static str,
    /// Seconds until the token expires.
    pub(crate) expires_in: u64,
    pub(crate) user: users::User,
}

/// Check the password and issue a token.
#[utoipa::path(post, path = "/auth/login", request_body = Login, responses(
    (status = 200, description = "Signed in", body = Session),
    (status = 429, description = "Too many failed logins from this address; retry after a minute", body = crate::http::openapi::ErrorBody),
    (status = 503, description = "Too many passwords being checked at once; retry shortly", body = crate::http::openapi::ErrorBody),
))]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    ApiJson(body): ApiJson<Login>,
) -> ApiResult<Json<Session>> {
    let email = body.email.trim().to_lowercase();
    if email.is_empty() || email.len() > 254 {
        return Err(ApiError::validation(
            "email",
            "email must be 1 to 254 characters",
        ));
    }
    let (account_key, address_key) = (
        format!("login:account:{email}:{address}"),
        format!("login:address:{address}"),
    );
    let now = now_ms();
    let limiter = &state.tenancy.rate;
    // Every attempt takes its tokens before the (slow) password check, so parallel guesses
    // cannot all pass a check made before any of them failed; a success gives them back.
    let account_ok = limiter.allow(&account_key, FAILURES_PER_ACCOUNT, now);
    let address_ok = limiter.allow(&address_key, FAILURES_PER_ADDRESS, now);
    let give_back = || {
        if account_ok {
            limiter.give_back(&account_key);
        }
        if address_ok {
            limiter.give_back(&address_key);
        }
    };
    if !account_ok || !address_ok {
        give_back();
        metrics::counter!("nova_login_refused_total", "reason" => "auth.login_rate_limited")
            .increment(1);
        // One audit row per account and address a minute: a flood of refusals must not
        // become a flood of rows.
        if limiter.allow(&format!("login:refusal-audited:{email}:{address}"), 1, now) {
            audit_login(&state, "auth.login_rate_limited", &email, &address).await;
        }
        return Err(ApiError::rate_limited(
            "too many failed logins; wait a minute and try again",
            60,
        ));
    }
    // The hashing queue's place is taken before the database is read, so a flood beyond it
    // is refused without touching the database. A refusal or an outage checked no password
    // and costs no tokens.
    let checked = async {
        let ticket = password::admit()?;
        let found = users::credentials(&state.db, &email).await?;
        // An unknown email is checked against a fixed hash, so timing does not tell which
        // accounts exist.
        let hash = found
            .as_ref()
            .map_or_else(|| DUMMY_HASH.clone(), |c| c.password_hash.clone());
        let ok = ticket.verify(body.password, hash).await?;
        Ok::<_, ApiError>((found, ok))
    }
    .await;
    let (found, ok) = match checked {
        Ok(checked) => checked,
        Err(e) => {
            give_back();
            return Err(e);
        }
    };
    let Some(creds) = found.filter(|_| ok) else {
        metrics::counter!("nova_login_refused_total", "reason" => "auth.login_failed").increment(1);
        audit_login(&state, "auth.login_failed", &email, &address).await;
        return Err(ApiError::unauthorized("wrong email or password"));
    };
    give_back();
    if creds.disabled {
        // The right password, so saying why reveals nothing an attacker could not know.
        metrics::counter!("nova_login_refused_total", "reason" => "disabled").increment(1);
        return Err(ApiError::unauthorized(
            "this account is disabled; ask a superadmin to enable it",
        ));
    }
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
    Ok(Json(Session {
        token,
        token_type: "Bearer",
        expires_in: crate::auth::token::TOKEN_TTL_SECS as u64,
        user: creds.user,
    }))
}

/// Record a refused login; a failure to record is logged, never a reason to answer differently.
async fn audit_login(state: &AppState, action: &str, email: &str, address: &str) {
    let event = AuditEvent::new(
        None,
        "auth",
        action,
        Some(email),
        &json!({"email": email, "address": address}),
        Some(&current_request_id()),
    );
    let written = async {
        let mut conn = state.db.pool().acquire().await?;
        audit::insert(&mut conn, &event).await
    }
    .await;
    if let Err(e) = written {
        tracing::warn!(error = %e, "could not audit a refused login");
    }
}
