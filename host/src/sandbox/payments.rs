//! `nova payments-sandbox`: a payment provider for development and tests.
//!
//! It captures and refunds in memory, honours idempotency keys the way real providers do
//! (the same key returns the first answer, so a module's retried call never charges
//! twice), and settles each capture a moment later with a signed webhook to Nova.
//! Card token `tok_declined` is declined.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::payments_webhook::SIGNATURE_HEADER;
use crate::webhooks::signature;

/// How the sandbox is run.
#[derive(Debug, Clone)]
pub(crate) struct SandboxConfig {
    /// Nova's base URL, where settlement webhooks go.
    pub(crate) api_url: String,
    /// Secret webhooks are signed with.
    pub(crate) webhook_secret: String,
    /// How long after a capture its settlement is sent.
    pub(crate) settle_after: Duration,
}

#[derive(Debug, Clone)]
struct Payment {
    id: String,
    amount_cents: i64,
    refunded_cents: i64,
    status: &'static str,
    tenant_id: String,
    reference: String,
}

impl Payment {
    fn json(&self) -> Value {
        json!({
            "id": self.id, "amountCents": self.amount_cents, "refundedCents": self.refunded_cents,
            "status": self.status, "tenantId": self.tenant_id, "reference": self.reference,
        })
    }
}

#[derive(Default)]
struct Books {
    payments: HashMap<String, Payment>,
    /// Idempotency key → the first answer given for it.
    answers: HashMap<String, (u16, Value)>,
    /// Every webhook delivery attempted: event id, payment id, Nova's answer.
    deliveries: Vec<Value>,
    next: u64,
}

#[derive(Clone)]
struct Sandbox {
    config: Arc<SandboxConfig>,
    books: Arc<Mutex<Books>>,
    client: reqwest::Client,
}

impl Sandbox {
    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Sandbox {
    fn new(config: SandboxConfig) -> Self {
        Self {
            config: Arc::new(config),
            books: Arc::default(),
            client: reqwest::Client::new(),
        }
    }
}

/// The sandbox's routes.
pub(crate) fn router(config: SandboxConfig) -> Router {
    let sandbox = Sandbox::new(config);
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/captures", post(capture))
        .route("/v1/refunds", post(refund))
        .route("/v1/payments/{id}", get(payment))
        .route("/v1/deliveries", get(deliveries))
        .with_state(sandbox)
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": "SANDBOX", "message": message}})),
    )
        .into_response()
}

fn idempotency_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CaptureBody {
    amount_cents: i64,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    metadata: HashMap<String, Value>,
}

async fn capture(
    State(sb): State<Sandbox>,
    headers: HeaderMap,
    body: Result<Json<CaptureBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "the body must be a capture request",
        );
    };
    if body.amount_cents < 1 {
        return error(StatusCode::BAD_REQUEST, "amountCents must be at least 1");
    }
    let key = idempotency_key(&headers);
    let answered = {
        let mut books = sb.books();
        if let Some((status, answer)) = key.as_ref().and_then(|k| books.answers.get(k)) {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::OK);
            return (status, Json(answer.clone())).into_response();
        }
        books.next += 1;
        let declined = body.source.as_deref() == Some("tok_declined");
        let payment = Payment {
            id: format!("pay_{:06}{:08x}", books.next, rand::random::<u32>()),
            amount_cents: body.amount_cents,
            refunded_cents: 0,
            status: if declined { "failed" } else { "captured" },
            tenant_id: body
                .metadata
                .get("tenantId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            reference: body.reference,
        };
        let mut answer = payment.json();
        let status = if declined {
            answer["failureReason"] = json!("card_declined");
            StatusCode::PAYMENT_REQUIRED
        } else {
            StatusCode::CREATED
        };
        books.payments.insert(payment.id.clone(), payment.clone());
        if let Some(k) = key {
            books.answers.insert(k, (status.as_u16(), answer.clone()));
        }
        (status, answer)
    };
    let (status, answer) = answered;
    if status == StatusCode::CREATED {
        let id = answer["id"].as_str().unwrap_or_default().to_string();
        tokio::spawn(settle(sb.clone(), id));
    }
    (status, Json(answer)).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefundBody {
    payment_id: String,
    amount_cents: i64,
}

async fn refund(
    State(sb): State<Sandbox>,
    headers: HeaderMap,
    body: Result<Json<RefundBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return error(StatusCode::BAD_REQUEST, "the body must be a refund request");
    };
    let key = idempotency_key(&headers);
    let mut books = sb.books();
    if let Some((status, answer)) = key.as_ref().and_then(|k| books.answers.get(k)) {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::OK);
        return (status, Json(answer.clone())).into_response();
    }
    books.next += 1;
    let refund_id = format!("re_{:06}", books.next);
    let Some(p) = books.payments.get_mut(&body.payment_id) else {
        return error(StatusCode::NOT_FOUND, "no such payment");
    };
    if !matches!(p.status, "captured" | "settled") {
        return error(
            StatusCode::CONFLICT,
            "only captured payments can be refunded",
        );
    }
    if body.amount_cents < 1 || p.refunded_cents + body.amount_cents > p.amount_cents {
        return error(
            StatusCode::CONFLICT,
            "the refund is more than what remains captured",
        );
    }
    p.refunded_cents += body.amount_cents;
    let answer = json!({
        "id": refund_id, "paymentId": p.id, "amountCents": body.amount_cents,
        "status": "refunded", "refundedCents": p.refunded_cents,
    });
    if let Some(k) = key {
        books.answers.insert(k, (201, answer.clone()));
    }
    (StatusCode::CREATED, Json(answer)).into_response()
}

async fn payment(State(sb): State<Sandbox>, Path(id): Path<String>) -> Response {
    match sb.books().payments.get(&id) {
        Some(p) => Json(p.json()).into_response(),
        None => error(StatusCode::NOT_FOUND, "no such payment"),
    }
}

async fn deliveries(State(sb): State<Sandbox>) -> Json<Value> {
    Json(json!({"deliveries": sb.books().deliveries}))
}

/// How often the sandbox tries to deliver one settlement, and the longest wait between two
/// tries (about 16 s in all; a real provider keeps trying for days).
const DELIVERY_ATTEMPTS: u32 = 8;
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Settle a capture after the configured delay and tell Nova, retrying with backoff until
/// Nova answers 2xx. Any other answer is retried, as real providers do: a 404 can mean only
/// that the webhook overtook the capture it is about, whose record commits when POS's call
/// ends (on a loaded machine that has come after the settle delay).
async fn settle(sb: Sandbox, payment_id: String) {
    tokio::time::sleep(sb.config.settle_after).await;
    let event = {
        let mut books = sb.books();
        books.next += 1;
        let n = books.next;
        let Some(p) = books.payments.get_mut(&payment_id) else {
            return;
        };
        if p.status == "captured" {
            p.status = "settled";
        }
        json!({
            "id": format!("evt_{n:06}{:08x}", rand::random::<u32>()),
            "type": "payment.settled",
            "paymentId": p.id,
            "status": "settled",
            "amountCents": p.amount_cents,
            "tenantId": p.tenant_id,
            "reference": p.reference,
        })
    };
    let url = format!(
        "{}/v1/portal/pos/payments/{payment_id}/status",
        sb.config.api_url.trim_end_matches('/')
    );
    let body = event.to_string();
    let mut backoff = Duration::from_millis(200);
    for attempt in 1..=DELIVERY_ATTEMPTS {
        let header = signature::sign(
            &sb.config.webhook_secret,
            signature::unix_now(),
            body.as_bytes(),
        );
        let answer = sb
            .client
            .post(&url)
            .header(SIGNATURE_HEADER, header)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        let status = answer.as_ref().map(|r| r.status().as_u16()).unwrap_or(0);
        sb.books().deliveries.push(json!({
            "eventId": event["id"], "paymentId": payment_id, "attempt": attempt, "status": status,
        }));
        if (200..300).contains(&status) {
            tracing::info!(payment_id, status, "settlement delivered");
            return;
        }
        if attempt == DELIVERY_ATTEMPTS {
            tracing::warn!(
                payment_id,
                status,
                attempt,
                "settlement not delivered; giving up"
            );
            return;
        }
        tracing::warn!(
            payment_id,
            status,
            attempt,
            "settlement delivery failed; retrying"
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A webhook that overtakes the capture it is about gets a 404 from Nova; the sandbox
    /// tries again and the settlement lands once Nova knows the payment.
    #[tokio::test]
    async fn a_settlement_nova_does_not_know_yet_is_delivered_again() {
        let calls = Arc::new(AtomicU32::new(0));
        let nova = {
            let calls = calls.clone();
            Router::new().route(
                "/v1/portal/pos/payments/{id}/status",
                post(move || async move {
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        StatusCode::NOT_FOUND
                    } else {
                        StatusCode::OK
                    }
                }),
            )
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, nova).await });
        let sb = Sandbox::new(SandboxConfig {
            api_url,
            webhook_secret: "s".into(),
            settle_after: Duration::ZERO,
        });
        let payment = Payment {
            id: "pay_1".into(),
            amount_cents: 100,
            refunded_cents: 0,
            status: "captured",
            tenant_id: "t".into(),
            reference: "r".into(),
        };
        sb.books().payments.insert(payment.id.clone(), payment);

        settle(sb.clone(), "pay_1".into()).await;

        let books = sb.books();
        let statuses: Vec<_> = books
            .deliveries
            .iter()
            .map(|d| d["status"].clone())
            .collect();
        assert_eq!(statuses, [json!(404), json!(200)]);
        assert_eq!(books.payments["pay_1"].status, "settled");
    }
}
