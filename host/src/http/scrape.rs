//! Who may read `/metrics`. The metrics carry revenue (MRR, paying tenants) and every tenant's
//! request counts, so the API port answers only Prometheus' token (`--metrics-token`) or a
//! superadmin. The private listeners (`--metrics-listen`, the worker's probe port) sit on
//! addresses only the monitoring network reaches; they ask for the token when one is set.

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::extract::{SuperAdmin, bearer};
use crate::app::AppState;

/// The scrape token, kept as its digest: comparing digests takes the same time however many
/// leading bytes of a guess are right.
#[derive(Clone)]
pub(crate) struct MetricsToken([u8; 32]);

impl MetricsToken {
    pub(crate) fn new(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest == self.0
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(..)")
    }
}

/// True when the request presents the configured scrape token.
fn has_token(state: &AppState, headers: &HeaderMap) -> bool {
    match (&state.metrics_token, bearer(headers)) {
        (Some(token), Some(presented)) => token.matches(presented),
        _ => false,
    }
}

/// A scrape of the API port's `/metrics`: the scrape token or a superadmin's token.
pub(crate) struct ApiScrape;

impl FromRequestParts<AppState> for ApiScrape {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if has_token(state, &parts.headers) {
            return Ok(ApiScrape);
        }
        SuperAdmin::from_request_parts(parts, state).await?;
        Ok(ApiScrape)
    }
}

/// A scrape of a private listener: the scrape token when one is configured, else anyone.
pub(crate) struct PrivateScrape;

impl FromRequestParts<AppState> for PrivateScrape {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.metrics_token.is_none() || has_token(state, &parts.headers) {
            Ok(PrivateScrape)
        } else {
            Err(ApiError::unauthorized(
                "this /metrics wants the scrape token (NOVA_METRICS_TOKEN) as a bearer token",
            ))
        }
    }
}

/// The router of `--metrics-listen`: only `/metrics`.
pub(crate) fn private_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(super::health::private_metrics))
        .with_state(state)
}
