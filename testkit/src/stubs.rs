//! Outbound HTTP answered in-process by the test's stubs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use nova::capabilities::outbound_http::{Outgoing, Sent, Transport, TransportError};
use nova::contract::outbound_http::Response;
use serde_json::Value;

/// An outbound request a module sent, as a stub sees it.
#[derive(Debug, Clone)]
pub struct StubRequest {
    /// Upper-case method.
    pub method: String,
    /// The path (and query) on the named host, such as `/v1/captures`.
    pub path: String,
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON (`Value::Null` when it is not JSON).
    pub json: Value,
}

impl StubRequest {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Handler = Arc<dyn Fn(&StubRequest) -> (u16, Value) + Send + Sync>;

/// Host name → stub, plus every request seen.
#[derive(Default)]
pub(crate) struct Stubs {
    handlers: Mutex<HashMap<String, Handler>>,
    pub(crate) seen: Mutex<Vec<(String, StubRequest)>>,
}

impl Stubs {
    pub(crate) fn set(&self, host: &str, handler: Handler) {
        self.handlers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(host.to_string(), handler);
    }
}

/// The transport the test host runs modules with. The test host binds no names, so the
/// host part of the URL is the name the module used.
pub(crate) struct StubTransport(pub(crate) Arc<Stubs>);

impl Transport for StubTransport {
    fn send(&self, req: Outgoing) -> Sent {
        let stubs = self.0.clone();
        Box::pin(async move {
            let name = req.url.host_str().unwrap_or_default().to_string();
            let path = match req.url.query() {
                Some(q) => format!("{}?{q}", req.url.path()),
                None => req.url.path().to_string(),
            };
            let seen = StubRequest {
                method: req.method,
                path,
                headers: req.headers,
                json: serde_json::from_slice(&req.body).unwrap_or(Value::Null),
            };
            let handler = stubs
                .handlers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&name)
                .cloned();
            stubs
                .seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((name.clone(), seen.clone()));
            let Some(handler) = handler else {
                return Err(TransportError::Failed(format!(
                    "no stub answers host {name:?}; register one with TestHost::stub_http"
                )));
            };
            let (status, body) = handler(&seen);
            Ok(Response {
                status,
                headers: vec![("content-type".into(), "application/json".into())],
                body: body.to_string().into_bytes(),
            })
        })
    }
}
