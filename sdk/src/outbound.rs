//! HTTP requests to services outside Nova, such as a payment provider.
//!
//! A module may only call hosts it lists in `export!(…, hosts = ["payments"])` and that a
//! superadmin granted it (capability `"outbound-http"`). Hosts are names the operator binds
//! to base URLs, so `http://payments/v1/captures` reaches the sandbox in development and the
//! live provider in production without a change to the module.
//!
//! Requests are not part of the call's transaction: if the host runs the call again after a
//! write conflict, the request is sent again. Send an idempotency key, such as
//! [`crate::context::get`]`().request_id`, so the destination can recognise a repeat.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::wit::nova::module::outbound_http as raw;

/// What the destination answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Response headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON; an unreadable body is a 502 `UPSTREAM_BAD_RESPONSE`.
    ///
    /// ```
    /// let r = nova_sdk::outbound::Reply { status: 200, headers: vec![], body: br#"{"id":"p1"}"#.to_vec() };
    /// let v: serde_json::Value = r.json().unwrap();
    /// assert_eq!(v["id"], "p1");
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(
                502,
                "UPSTREAM_BAD_RESPONSE",
                format!("the upstream answer is not the JSON expected: {e}"),
            )
        })
    }

    /// True for a 2xx status.
    ///
    /// ```
    /// let r = nova_sdk::outbound::Reply { status: 201, headers: vec![], body: vec![] };
    /// assert!(r.is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

fn map(e: raw::Error) -> Error {
    match e {
        raw::Error::NotAllowed(m) => Error::new(403, "OUTBOUND_NOT_ALLOWED", m),
        raw::Error::Denied(m) => Error::capability_denied(m),
        raw::Error::InvalidRequest(m) => Error::internal(format!("invalid outbound request: {m}")),
        raw::Error::Timeout(m) => Error::new(504, "UPSTREAM_TIMEOUT", m),
        raw::Error::QuotaExceeded(m) => Error::new(429, "QUOTA_EXCEEDED", m),
        raw::Error::Failed(m) => Error::new(502, "UPSTREAM_FAILED", m),
    }
}

/// Send a request with any method, headers and body.
///
/// ```no_run
/// let reply = nova_sdk::outbound::send("GET", "http://payments/v1/health", &[], b"")?;
/// assert!(reply.is_success());
/// # Ok::<(), nova_sdk::Error>(())
/// ```
pub fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Reply, Error> {
    let req = raw::Request {
        method: method.to_string(),
        url: url.to_string(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: body.to_vec(),
    };
    let resp = raw::send(&req).map_err(map)?;
    Ok(Reply {
        status: resp.status,
        headers: resp.headers,
        body: resp.body,
    })
}

/// POST a JSON body (adds `content-type: application/json`).
///
/// ```no_run
/// let reply = nova_sdk::outbound::post_json(
///     "http://payments/v1/captures",
///     &[("idempotency-key", "req-42")],
///     &serde_json::json!({"amountCents": 1250}),
/// )?;
/// # Ok::<(), nova_sdk::Error>(())
/// ```
pub fn post_json<T: Serialize + ?Sized>(
    url: &str,
    headers: &[(&str, &str)],
    value: &T,
) -> Result<Reply, Error> {
    let body = serde_json::to_vec(value)?;
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    send("POST", url, &all, &body)
}
