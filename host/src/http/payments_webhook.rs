//! `POST /v1/portal/pos/payments/{paymentId}/status`: the payment provider's settlement
//! webhook. It carries no tenant token: the provider's signature is checked (with its
//! timestamp, and the delivery id against replays) before POS runs for the tenant named in
//! the signed body. Anything unsigned, wrongly signed, stale or replayed (a delivery POS
//! already accepted) is a 401 and runs nothing.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::ApiError;
use super::error::current_request_id;
use super::relayed::{PosPayment, relay};
use crate::app::AppState;
use crate::calls::{self, Call, CallerRole, Policy};
use crate::contract::GuestRequest;
use crate::error_code::ErrorCode;
use crate::storage::tenants;
use crate::webhooks::{deliveries, signature};

/// The header the provider signs with.
pub(crate) const SIGNATURE_HEADER: &str = "x-sandbox-signature";
/// Who POS sees as the caller of a verified webhook.
pub(crate) const ACTOR: &str = "webhook:payments";
const SOURCE: &str = "payments";

/// The fields the host needs; POS reads the rest of the body itself.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    id: String,
    tenant_id: String,
    payment_id: String,
}

#[utoipa::path(post, path = "/v1/portal/pos/payments/{payment_id}/status", request_body = Object, responses((status = 200, description = "The payment with the settlement applied (a repeated delivery answers the same)", body = PosPayment)))]
pub(crate) async fn settlement(
    State(state): State<AppState>,
    Path(payment_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match accept(&state, &payment_id, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn accept(
    state: &AppState,
    payment_id: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let Some(secret) = state.payments_webhook_secret.as_deref() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::PAYMENTS_OFF,
            "no payment provider is configured (PAYMENT_PROVIDER_MODE=off)",
        ));
    };
    let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    signature::verify(secret, header, body, signature::unix_now()).map_err(|e| {
        metrics::counter!("nova_payment_webhooks_total", "status" => "refused").increment(1);
        ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string())
    })?;
    let env: Envelope = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body must be a JSON object with id, tenantId and paymentId: {e}"
        ))
    })?;
    if let Ok(v) = serde_json::from_slice(body) {
        super::json::check_no_nul(&v)?;
    }
    if env.id.is_empty() || env.id.len() > 128 {
        return Err(ApiError::validation("id", "id must be 1 to 128 characters"));
    }
    if env.payment_id != payment_id {
        return Err(ApiError::validation(
            "paymentId",
            "paymentId in the body must match the path",
        ));
    }
    let unknown = || {
        ApiError::not_found(
            ErrorCode::PAYMENT_NOT_FOUND,
            format!("no payment {payment_id:?} is known"),
        )
    };
    if tenants::get(&state.db, &env.tenant_id).await?.is_none() {
        return Err(unknown());
    }
    if deliveries::seen(&state.db, SOURCE, &env.id).await? {
        metrics::counter!("nova_payment_webhooks_total", "status" => "replayed").increment(1);
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::WEBHOOK_REPLAYED,
            format!("delivery {:?} was already accepted", env.id),
        ));
    }
    let req = GuestRequest {
        method: "POST".into(),
        path: format!("/payments/{payment_id}/status"),
        query: String::new(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_vec(),
    };
    let call = Call {
        tenant_id: env.tenant_id.clone(),
        actor: ACTOR.into(),
        role: CallerRole::System,
        request_id: current_request_id(),
        module: "pos".into(),
        request: req,
    };
    let resp = match calls::call(state, call, Policy::PLATFORM)
        .await
        .into_answer()
    {
        Ok(answer) => {
            let body = serde_json::from_slice(&answer.body).unwrap_or(serde_json::Value::Null);
            relay::<PosPayment>("pos", answer.status, body)
        }
        Err(refusal) => ApiError::from(refusal).into_response(),
    };
    // Only a delivery POS accepted counts as seen: a refused one (a payment POS has not
    // stored yet, a module switched off, a crash before this line) is taken again when the
    // provider retries it. POS applies a settlement once however often it arrives.
    if resp.status().is_success() {
        deliveries::claim(&state.db, SOURCE, &env.id).await?;
    }
    let status = if resp.status().is_success() {
        "processed"
    } else {
        "rejected"
    };
    metrics::counter!("nova_payment_webhooks_total", "status" => status).increment(1);
    Ok(resp)
}
