//! Outbound requests of the test host's modules, sent to the test's stub server.

use crate::capabilities::outbound_http::{Network, Outgoing, Sent, Transport, TransportError};

/// Sends `http://{name}/{path}` to `{stub}/{name}/{path}` over the network; fails every
/// request when the test has no stub server, and each one the stub server answers with
/// [`NO_STUB`] (no stub for that host), as a request to an unreachable host fails.
pub(crate) const NO_STUB: u16 = 599;

pub(crate) struct Forward {
    stub: Option<reqwest::Url>,
    network: Network,
}

impl Forward {
    pub(crate) fn new(stub: Option<reqwest::Url>) -> Self {
        Self {
            stub,
            network: Network::new(),
        }
    }
}

/// Where `url` (a module's `http://{name}/{path}?{query}`) goes on the stub server.
fn on_stub(stub: &reqwest::Url, url: &reqwest::Url) -> Result<reqwest::Url, String> {
    let name = url.host_str().unwrap_or_default();
    let mut to = stub.clone();
    to.set_path(&format!(
        "{}/{name}{}",
        stub.path().trim_end_matches('/'),
        url.path()
    ));
    to.set_query(url.query());
    if to.host_str() != stub.host_str() {
        return Err(format!("{url} does not map onto the stub server"));
    }
    Ok(to)
}

impl Transport for Forward {
    fn send(&self, mut req: Outgoing) -> Sent {
        let Some(stub) = &self.stub else {
            let name = req.url.host_str().unwrap_or_default().to_string();
            return Box::pin(async move {
                Err(TransportError::Failed(format!(
                    "no stub answers host {name:?}; register one with TestHost::stub_http"
                )))
            });
        };
        match on_stub(stub, &req.url) {
            Ok(url) => {
                req.url = url;
                let sent = self.network.send(req);
                Box::pin(async move {
                    let resp = sent.await?;
                    if resp.status == NO_STUB {
                        return Err(TransportError::Failed(
                            String::from_utf8_lossy(&resp.body).into_owned(),
                        ));
                    }
                    Ok(resp)
                })
            }
            Err(e) => Box::pin(async move { Err(TransportError::Failed(e)) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::on_stub;

    #[test]
    fn a_module_url_lands_under_its_host_name() {
        let stub = reqwest::Url::parse("http://127.0.0.1:4000").unwrap();
        let url = reqwest::Url::parse("http://payments/v1/captures?x=1").unwrap();
        assert_eq!(
            on_stub(&stub, &url).unwrap().as_str(),
            "http://127.0.0.1:4000/payments/v1/captures?x=1"
        );
    }
}
