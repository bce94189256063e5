//! Who is at the other end: the client's address, believing `X-Forwarded-For` only when the
//! connection comes from a proxy the operator trusts (see `crate::proxies`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::app::AppState;

/// The calling client's address, as a string key for limiters (`unknown` when served without
/// connection info, as in-process tests are).
#[derive(Debug, Clone)]
pub(crate) struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Ok(Self("unknown".into()));
        };
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Ok(Self(
            state
                .trusted_proxies
                .client(peer.ip(), &forwarded)
                .to_string(),
        ))
    }
}
