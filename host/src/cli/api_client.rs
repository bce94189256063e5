//! A small client for Nova's own API, used by the commands that act through it
//! (`nova smoke`, `nova seed sample-data`), so they exercise what clients use.

use anyhow::Context;
use serde_json::Value;

/// Nova's base URL and a bearer token.
pub(crate) struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
}

/// One answer: status and JSON body (`Value::Null` for an empty or non-JSON body).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

impl Answer {
    /// The error message in Nova's standard shape, or the raw body.
    pub(crate) fn describe(&self) -> String {
        match self.body.pointer("/error/message").and_then(Value::as_str) {
            Some(m) => format!(
                "{} {}: {m}",
                self.status,
                self.body
                    .pointer("/error/code")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            ),
            None => format!("{} {}", self.status, self.body),
        }
    }
}

impl Api {
    pub(crate) fn new(base: &str, token: &str) -> anyhow::Result<Self> {
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()?,
        })
    }

    /// The same server with another token.
    pub(crate) fn with_token(&self, token: &str) -> Self {
        Self {
            base: self.base.clone(),
            token: token.to_string(),
            client: self.client.clone(),
        }
    }

    /// Send `method path` with an optional JSON body. Only transport failures are errors;
    /// every HTTP status comes back as an [`Answer`].
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let url = format!("{}{path}", self.base);
        let mut req = self
            .client
            .request(reqwest::Method::from_bytes(method.as_bytes())?, &url)
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {url}: no answer"))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    /// GET `path` as text (`/metrics`); a non-2xx answer is an error.
    pub(crate) async fn text(&self, path: &str) -> anyhow::Result<String> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .client
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("GET {url}: no answer"))?
            .error_for_status()?;
        Ok(resp.text().await?)
    }

    /// POST `bytes` as `application/octet-stream` (a component upload).
    pub(crate) async fn upload(&self, path: &str, bytes: Vec<u8>) -> anyhow::Result<Answer> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .client
            .post(&url)
            .bearer_auth(&self.token)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .with_context(|| format!("POST {url}: no answer"))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    /// Like [`Api::call`], but any status outside `expect` is an error naming `what`.
    pub(crate) async fn expect(
        &self,
        what: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
        expect: &[u16],
    ) -> anyhow::Result<Value> {
        let answer = self.call(method, path, body).await?;
        if !expect.contains(&answer.status) {
            anyhow::bail!(
                "{what} failed: {method} {path} answered {}",
                answer.describe()
            );
        }
        Ok(answer.body)
    }
}
