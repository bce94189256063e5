//! `nova:module/outbound-http`: requests from a module to hosts it declared and was granted.
//!
//! Modules name hosts (`http://payments/v1/captures`); the operator binds names to base URLs
//! (`PAYMENT_PROVIDER_URL` binds `payments`), so one module build runs against a sandbox
//! or a live provider. The transport is a trait so the module test kit can answer requests
//! in-process.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::Linker;

use super::{Unit, Using, grants::Capability};
use crate::contract::outbound_http::{self as wit, Error, Host, Request, Response};
use crate::contract::v0_1::nova::module::outbound_http as wit_0_1;

/// Longest wait for one answer (shortened to what is left of the call's deadline).
pub(crate) const TIMEOUT: Duration = Duration::from_secs(5);
/// Outbound requests one call may send.
pub(crate) const MAX_REQUESTS: u32 = 16;
/// Largest request or response body, in bytes.
pub(crate) const MAX_BODY: usize = 1 << 20;

/// Headers a module may not set: the host decides where a request goes and how the
/// connection is used.
const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// A request after its host name was checked and resolved to a real URL.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub method: String,
    pub url: reqwest::Url,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub(crate) timeout: Duration,
}

/// Why a transport got no answer.
#[derive(Debug, Clone)]
pub enum TransportError {
    Timeout(String),
    Failed(String),
}

/// What a transport's `send` returns.
pub type Sent = Pin<Box<dyn Future<Output = Result<Response, TransportError>> + Send>>;

/// Sends resolved requests: over the network in the server, in-process in tests.
pub trait Transport: Send + Sync {
    fn send(&self, req: Outgoing) -> Sent;
}

/// The network transport.
pub(crate) struct Network {
    client: reqwest::Client,
}

impl Network {
    pub(crate) fn new() -> Self {
        Self {
            // Redirects could lead a module to a host it was never granted.
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client with default TLS settings builds"),
        }
    }
}

impl Default for Network {
    fn default() -> Self {
        Self::new()
    }
}

impl Transport for Network {
    fn send(&self, req: Outgoing) -> Sent {
        let client = self.client.clone();
        Box::pin(async move {
            let method = reqwest::Method::from_bytes(req.method.as_bytes())
                .map_err(|e| TransportError::Failed(e.to_string()))?;
            let mut builder = client
                .request(method, req.url)
                .timeout(req.timeout)
                .body(req.body);
            for (n, v) in req.headers {
                builder = builder.header(n, v);
            }
            let resp = builder.send().await.map_err(|e| {
                if e.is_timeout() {
                    TransportError::Timeout(format!("no answer within {:?}", req.timeout))
                } else {
                    TransportError::Failed(e.to_string())
                }
            })?;
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect();
            let too_large =
                || TransportError::Failed(format!("the answer is larger than {MAX_BODY} bytes"));
            if resp.content_length().is_some_and(|n| n as usize > MAX_BODY) {
                return Err(too_large());
            }
            // Read in chunks under the cap: a body without a length cannot grow past it.
            let mut resp = resp;
            let mut body = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| TransportError::Failed(e.to_string()))?
            {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Response {
                status,
                headers,
                body,
            })
        })
    }
}

/// Host names bound to base URLs, and the transport.
#[derive(Clone)]
pub(crate) struct Outbound {
    bindings: HashMap<String, reqwest::Url>,
    transport: Arc<dyn Transport>,
}

impl Outbound {
    /// Bind names to base URLs and send over `transport`.
    pub(crate) fn new(
        bindings: HashMap<String, reqwest::Url>,
        transport: Arc<dyn Transport>,
    ) -> Self {
        Self {
            bindings,
            transport,
        }
    }

    /// Resolve a module's URL: the name it calls (checked against its grants) and where the
    /// request really goes.
    pub(crate) fn resolve(&self, url: &str) -> Result<(String, reqwest::Url), String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!(
                "only http and https URLs, not {:?}",
                parsed.scheme()
            ));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("credentials in URLs are not allowed; send a header".into());
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| format!("{url:?} has no host"))?
            .to_ascii_lowercase();
        let name = match parsed.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let Some(base) = self
            .bindings
            .get(&name)
            .or_else(|| self.bindings.get(&host))
        else {
            return Ok((name, parsed));
        };
        let mut real = base.clone();
        let path = format!(
            "{}/{}",
            base.path().trim_end_matches('/'),
            parsed.path().trim_start_matches('/')
        );
        real.set_path(&path);
        real.set_query(parsed.query());
        Ok((name, real))
    }
}

/// Per-call outbound state.
#[derive(Default)]
pub(crate) struct OutboundState {
    /// Where requests go; `None` in a store built without one (nothing is sent).
    pub(crate) outbound: Option<Arc<Outbound>>,
    pub(crate) sent: u32,
}

/// Link `nova:module/outbound-http` (both contract versions) to the state `get` finds in a
/// store.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> Unit<'_, OutboundState>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, Using<OutboundState>>(linker, get)?;
    wit_0_1::add_to_linker::<T, Using<OutboundState>>(linker, get)
}

impl Host for Unit<'_, OutboundState> {
    #[tracing::instrument(
        level = "debug",
        name = "http.send",
        skip_all,
        fields(otel.kind = "client", server.address = tracing::field::Empty, http.response.status_code = tracing::field::Empty)
    )]
    async fn send(&mut self, req: Request) -> wasmtime::Result<Result<Response, Error>> {
        if let Err(denied) = self.gate.enter(Some(Capability::OutboundHttp))? {
            return Ok(Err(Error::Denied(denied)));
        }
        let Some(outbound) = self.state.outbound.clone() else {
            return Ok(Err(Error::Failed(
                "outbound requests are not configured on this host".into(),
            )));
        };
        let (name, url) = match outbound.resolve(&req.url) {
            Ok(r) => r,
            Err(e) => return Ok(Err(Error::InvalidRequest(e))),
        };
        if !self.gate.granted.hosts.contains(&name) {
            // Audited once per host per call, like a refused capability.
            self.gate
                .refuse("outbound.denied", serde_json::json!({"host": name}));
            metrics::counter!("nova_outbound_requests_total", "module" => self.gate.call.module.clone(), "outcome" => "denied").increment(1);
            return Ok(Err(Error::NotAllowed(format!(
                "host {name:?} is not declared by this module and granted to it"
            ))));
        }
        if req.body.len() > MAX_BODY {
            return Ok(Err(Error::InvalidRequest(format!(
                "request bodies are limited to {MAX_BODY} bytes"
            ))));
        }
        if self.state.sent >= MAX_REQUESTS {
            return Ok(Err(Error::QuotaExceeded(format!(
                "a call may send at most {MAX_REQUESTS} outbound requests"
            ))));
        }
        self.state.sent += 1;
        // Waiting counts against the call's deadline: never wait past it.
        let left = self
            .gate
            .limits
            .deadline
            .saturating_sub(self.gate.started.elapsed());
        let timeout = TIMEOUT.min(left);
        if timeout.is_zero() {
            return Ok(Err(Error::Timeout("the call's deadline has passed".into())));
        }
        let tracing = crate::traces::enabled();
        let mut headers: Vec<(String, String)> = req
            .headers
            .into_iter()
            .filter(|(n, _)| {
                let n = n.to_ascii_lowercase();
                // With traces on, the host names the trace the request belongs to (below).
                let traced = tracing && n == "traceparent";
                !(FORBIDDEN_HEADERS.contains(&n.as_str()) || n.starts_with("proxy-") || traced)
            })
            .collect();
        let span = tracing::Span::current();
        span.record("server.address", url.host_str().unwrap_or_default());
        let mut trace = axum::http::HeaderMap::new();
        crate::traces::inject(&mut trace);
        for (n, v) in &trace {
            if let Ok(v) = v.to_str() {
                headers.push((n.to_string(), v.to_string()));
            }
        }
        let outgoing = Outgoing {
            method: req.method.to_ascii_uppercase(),
            url,
            headers,
            body: req.body,
            timeout,
        };
        let result = outbound.transport.send(outgoing).await;
        if let Ok(resp) = &result {
            span.record("http.response.status_code", i64::from(resp.status));
        }
        let outcome = match &result {
            Ok(_) => "ok",
            Err(TransportError::Timeout(_)) => "timeout",
            Err(TransportError::Failed(_)) => "failed",
        };
        metrics::counter!("nova_outbound_requests_total", "module" => self.gate.call.module.clone(), "outcome" => outcome).increment(1);
        Ok(result.map_err(|e| match e {
            TransportError::Timeout(m) => Error::Timeout(m),
            TransportError::Failed(m) => Error::Failed(m),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbound() -> Outbound {
        let mut b = HashMap::new();
        b.insert(
            "payments".to_string(),
            reqwest::Url::parse("http://127.0.0.1:4010/sandbox").unwrap(),
        );
        Outbound::new(b, Arc::new(Network::new()))
    }

    #[test]
    fn bound_names_resolve_to_their_base_url() {
        let (name, url) = outbound()
            .resolve("http://payments/v1/captures?x=1")
            .unwrap();
        assert_eq!(name, "payments");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:4010/sandbox/v1/captures?x=1"
        );
    }

    #[test]
    fn unbound_names_keep_host_and_port() {
        let (name, url) = outbound()
            .resolve("https://API.example.com:8443/a")
            .unwrap();
        assert_eq!(name, "api.example.com:8443");
        assert_eq!(url.as_str(), "https://api.example.com:8443/a");
    }

    #[test]
    fn bad_urls_are_refused() {
        for bad in [
            "ftp://payments/x",
            "not a url",
            "http://user:pw@payments/x",
            "file:///etc/passwd",
        ] {
            assert!(outbound().resolve(bad).is_err(), "{bad}");
        }
    }
}
