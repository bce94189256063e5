//! Extractors that turn the `Authorization` header into a caller, or a 401/403.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::app::AppState;
use crate::auth::token::{Claims, Role, VerifyError};
use crate::storage::service_tokens;

/// Any authenticated caller.
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub Claims);

/// A superadmin; anyone else gets 403.
#[derive(Debug, Clone)]
pub(crate) struct SuperAdmin(pub Claims);

/// A user of some tenant (admin or staff), with the tenant id taken from the token.
#[derive(Debug, Clone)]
pub(crate) struct TenantUser {
    pub(crate) claims: Claims,
    pub(crate) tenant_id: String,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(AUTHORIZATION) {
            return Err(ApiError::unauthorized(
                "missing Authorization: Bearer <token> header",
            ));
        }
        let token = bearer(&parts.headers).ok_or_else(|| {
            ApiError::unauthorized("Authorization header must be 'Bearer <token>'")
        })?;
        if token.starts_with(service_tokens::PREFIX) {
            let found = service_tokens::find(&state.db, token)
                .await?
                .ok_or_else(|| {
                    ApiError::unauthorized("unknown, revoked or expired service token")
                })?;
            note_tenant(parts, &found.tenant_id);
            // Off the request's path: the call does not wait for the bookkeeping.
            let (db, id) = (state.db.clone(), found.id.clone());
            tokio::spawn(async move { service_tokens::touch(&db, &id).await });
            return Ok(Caller(Claims {
                sub: found.id,
                email: format!("service:{}", found.name),
                role: Role::Service,
                tenant: Some(found.tenant_id),
                iat: 0,
                exp: i64::MAX,
            }));
        }
        let verified = match state.keys.verify(token) {
            // Another replica may have rotated the keys: re-read them once (at most once a
            // second for the whole process, so tokens with invented key ids cannot turn each
            // request into a database read).
            Err(VerifyError::UnknownKey) if state.keys.may_reload() => {
                state
                    .keys
                    .reload(&state.db)
                    .await
                    .map_err(ApiError::unavailable)?;
                state.keys.verify(token)
            }
            other => other,
        };
        let claims = verified
            .map_err(|e| ApiError::unauthorized(format!("invalid or expired token ({e})")))?;
        if state.token_revoked(&claims.sub, claims.iat) {
            return Err(ApiError::unauthorized(
                "this account is disabled; ask a superadmin to enable it",
            ));
        }
        if let Some(tenant) = &claims.tenant {
            note_tenant(parts, tenant);
        }
        Ok(Caller(claims))
    }
}

/// The request's bearer token, if its `Authorization` header carries one.
pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Tell the request's access log and counters which tenant it acts for.
fn note_tenant(parts: &Parts, tenant: &str) {
    if let Some(slot) = parts.extensions.get::<crate::telemetry::RequestTenant>() {
        slot.set(tenant);
    }
}

impl FromRequestParts<AppState> for SuperAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Caller(claims) = Caller::from_request_parts(parts, state).await?;
        if claims.role != Role::Superadmin {
            return Err(ApiError::forbidden("this route is for superadmins"));
        }
        Ok(SuperAdmin(claims))
    }
}

impl FromRequestParts<AppState> for TenantUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Caller(claims) = Caller::from_request_parts(parts, state).await?;
        match (&claims.role, &claims.tenant) {
            (Role::Admin | Role::Staff | Role::Service, Some(tenant)) => Ok(TenantUser {
                tenant_id: tenant.clone(),
                claims,
            }),
            _ => Err(ApiError::forbidden(
                "portal routes need a tenant user's token",
            )),
        }
    }
}
