//! Outbound HTTP of the modules under test, answered by the test's stubs. The test host
//! sends a module's `http://{name}/{path}` to `{stub server}/{name}/{path}`; the stub
//! server runs in the test process, so stubs are plain closures.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// An outbound request a module sent, as a stub sees it.
#[derive(Debug, Clone)]
pub struct StubRequest {
    /// Upper-case method.
    pub method: String,
    /// The path (and query) on the named host, such as `/v1/captures`.
    pub path: String,
    /// Request headers the module sent.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON (`Value::Null` when it is not JSON).
    pub json: Value,
}

impl StubRequest {
    /// A header's value, whatever the case of its name.
    ///
    /// ```
    /// let req = nova_testkit::StubRequest {
    ///     method: "POST".into(),
    ///     path: "/v1/captures".into(),
    ///     headers: vec![("idempotency-key".into(), "req-1".into())],
    ///     json: serde_json::Value::Null,
    /// };
    /// assert_eq!(req.header("Idempotency-Key"), Some("req-1"));
    /// ```
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
    seen: Mutex<Vec<(String, StubRequest)>>,
}

impl Stubs {
    pub(crate) fn set(&self, host: &str, handler: Handler) {
        self.handlers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(host.to_string(), handler);
    }

    pub(crate) fn seen_by(&self, host: &str) -> Vec<StubRequest> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(h, _)| h == host)
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// Record `req` for `host` and answer it: the stub's status and JSON, or `None` when no
    /// stub answers that host.
    fn answer(&self, host: &str, req: StubRequest) -> Option<(u16, Value)> {
        let handler = self
            .handlers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(host)
            .cloned();
        // A stub that panics answers 500 (and the test sees why on stderr) rather than
        // leaving the module's request hanging.
        let answer = handler.map(|h| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h(&req))).unwrap_or_else(
                |_| {
                    (
                        500,
                        serde_json::json!({"error": format!("the stub for {host:?} panicked")}),
                    )
                },
            )
        });
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((host.to_string(), req));
        answer
    }
}

/// Headers the HTTP client adds on the way, which the module did not send.
const TRANSPORT_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "accept",
    "accept-encoding",
];

/// The stub server: a thread answering from [`Stubs`] until dropped.
pub(crate) struct StubServer {
    pub(crate) url: String,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StubServer {
    pub(crate) fn start(stubs: Arc<Stubs>) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("a loopback port"));
        let url = format!(
            "http://{}",
            server.server_addr().to_ip().expect("an IP address")
        );
        let serving = server.clone();
        let thread = std::thread::spawn(move || {
            for mut request in serving.incoming_requests() {
                let (host, path) = split(request.url());
                let mut body = Vec::new();
                let _ = request.as_reader().read_to_end(&mut body);
                let seen = StubRequest {
                    method: request.method().as_str().to_ascii_uppercase(),
                    path,
                    headers: request
                        .headers()
                        .iter()
                        .map(|h| {
                            (
                                h.field.as_str().as_str().to_ascii_lowercase(),
                                h.value.as_str().to_string(),
                            )
                        })
                        .filter(|(n, _)| !TRANSPORT_HEADERS.contains(&n.as_str()))
                        .collect(),
                    json: serde_json::from_slice(&body).unwrap_or(Value::Null),
                };
                let response = match stubs.answer(&host, seen) {
                    Some((status, json)) => tiny_http::Response::from_string(json.to_string())
                        .with_status_code(status)
                        .with_header(json_header()),
                    // The test host turns this into a failed request, as a missing host is.
                    None => tiny_http::Response::from_string(format!(
                        "no stub answers host {host:?}; register one with TestHost::stub_http"
                    ))
                    .with_status_code(599),
                };
                let _ = request.respond(response);
            }
        });
        Self {
            url,
            server,
            thread: Some(thread),
        }
    }
}

impl Drop for StubServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn json_header() -> tiny_http::Header {
    tiny_http::Header::from_bytes(&b"content-type"[..], &b"application/json"[..])
        .expect("a valid header")
}

/// `/{host}/{path}?{query}` → (`host`, `/{path}?{query}`).
fn split(url: &str) -> (String, String) {
    let rest = url.trim_start_matches('/');
    match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (rest[..i].to_string(), rest[i..].to_string()),
        Some(i) => (rest[..i].to_string(), format!("/{}", &rest[i..])),
        None => (rest.to_string(), "/".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn the_first_segment_is_the_host() {
        assert_eq!(
            split("/payments/v1/captures?x=1"),
            ("payments".into(), "/v1/captures?x=1".into())
        );
        assert_eq!(split("/payments"), ("payments".into(), "/".into()));
        assert_eq!(split("/payments?x=1"), ("payments".into(), "/?x=1".into()));
    }
}
