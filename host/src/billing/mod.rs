//! Billing: the provider's signed webhooks are stored with a job in one transaction, and a
//! worker runs each event through the billing module (Wasm) and applies what it decides in
//! one transaction with marking the event processed.

pub(crate) mod apply;
pub(crate) mod gauges;
pub(crate) mod replay;

/// The queue billing events go through.
pub const QUEUE: &str = "billing:webhooks";
/// Who the billing module sees as the caller.
pub(crate) const ACTOR: &str = "worker:billing";

/// Count a billing webhook by what happened to it: `received`, `duplicate`, `processed`,
/// `retrying` or `failed`.
pub(crate) fn count(status: &'static str) {
    metrics::counter!("nova_api_billing_webhook_total", "status" => status).increment(1);
}
