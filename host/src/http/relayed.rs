//! The shapes of module answers the API passes on (support's tickets, POS's payments), so
//! the OpenAPI description names their fields and a module answering something else is
//! caught here (502), not by the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::ApiError;
use crate::error_code::ErrorCode;

/// A module's answer, typed as `T` when it succeeded; its own error answer otherwise.
pub(crate) fn relay<T: DeserializeOwned + Serialize>(
    module: &str,
    status: u16,
    body: Value,
) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    if !status.is_success() {
        return (status, Json(body)).into_response();
    }
    match serde_json::from_value::<T>(body) {
        Ok(typed) => (status, Json(typed)).into_response(),
        Err(e) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            ErrorCode::MODULE_BAD_RESPONSE,
            format!("module {module} answered a body of the wrong shape: {e}"),
        )
        .into_response(),
    }
}

/// A ticket's severity: S1 is an outage, S4 a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) enum Severity {
    S1,
    S2,
    S3,
    S4,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TicketStatus {
    Open,
    Closed,
}

/// A support ticket as the support module shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SupportTicket {
    pub(crate) id: u64,
    subject: String,
    body: String,
    pub(crate) severity: Severity,
    status: TicketStatus,
    created_by: String,
    pub(crate) created_at_ms: u64,
    /// RFC 3339 of `createdAtMs`.
    created_at: String,
    response_due_at_ms: Option<u64>,
    response_due_at: Option<String>,
    resolve_due_at_ms: Option<u64>,
    resolve_due_at: Option<String>,
    first_response_at_ms: Option<u64>,
    assignee: Option<String>,
    closed_at_ms: Option<u64>,
    reply_count: u64,
    /// The deadline that is running now (response, then resolution); none when closed.
    pub(crate) sla_due_at_ms: Option<u64>,
}

/// A reply on a ticket.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SupportReply {
    id: u64,
    author: String,
    from_support: bool,
    body: String,
    created_at_ms: u64,
}

/// A ticket with its replies, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SupportThread {
    #[serde(flatten)]
    ticket: SupportTicket,
    replies: Vec<SupportReply>,
}

/// A ticket in the cross-tenant triage list.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TriageTicket {
    #[serde(flatten)]
    pub(crate) ticket: SupportTicket,
    pub(crate) tenant_id: String,
    /// Time left on the running SLA deadline (negative: breached); none when nothing is due.
    pub(crate) sla_ms_left: Option<i64>,
}

/// A tenant whose support module could not list its tickets.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Unreadable {
    pub(crate) tenant_id: String,
    /// What the module call answered.
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) message: String,
}

/// Tickets of every tenant with support, least time left first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TriageList {
    pub(crate) tickets: Vec<TriageTicket>,
    /// Tenants whose tickets could not be read (their support module failed or was refused
    /// a capability); the other tenants' tickets are still listed.
    pub(crate) unreadable: Vec<Unreadable>,
    /// The server's clock when the list was made, in Unix milliseconds.
    pub(crate) now: i64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PaymentStatus {
    Pending,
    Captured,
    Settled,
    Refunded,
    Failed,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PaymentMethod {
    Card,
    Cash,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PosRefund {
    id: String,
    amount_cents: i64,
    created_at_ms: u64,
}

/// A POS payment after a settlement was applied.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PosPayment {
    id: String,
    ticket_id: u64,
    amount_cents: i64,
    refunded_cents: i64,
    method: PaymentMethod,
    status: PaymentStatus,
    created_at_ms: u64,
    settled_at_ms: Option<u64>,
    failure_reason: Option<String>,
    refunds: Vec<PosRefund>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ticket() -> Value {
        json!({"id": 3, "subject": "Till offline", "body": "No receipts", "severity": "S1",
            "status": "open", "createdBy": "u1", "createdAtMs": 10, "createdAt": "1970-01-01T00:00:00.010Z",
            "responseDueAtMs": 20, "responseDueAt": "1970-01-01T00:00:00.020Z",
            "resolveDueAtMs": null, "resolveDueAt": null, "firstResponseAtMs": null,
            "assignee": null, "closedAtMs": null, "replyCount": 0, "slaDueAtMs": 20})
    }

    #[tokio::test]
    async fn a_module_answer_of_the_right_shape_passes_through_unchanged() {
        let resp = relay::<SupportTicket>("support", 200, ticket());
        assert_eq!(resp.status(), 200);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let back: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(back, ticket());

        let mut thread = ticket();
        thread["replies"] = json!([{"id": 1, "author": "support:ops", "fromSupport": true,
            "body": "On it", "createdAtMs": 15}]);
        let resp = relay::<SupportThread>("support", 200, thread.clone());
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), thread);
    }

    #[test]
    fn a_wrong_shape_is_a_bad_gateway_and_errors_pass_through() {
        let mut odd = ticket();
        odd["priority"] = json!("high");
        assert_eq!(relay::<SupportTicket>("support", 200, odd).status(), 502);
        let mut odd = ticket();
        odd["severity"] = json!("S9");
        assert_eq!(relay::<SupportTicket>("support", 200, odd).status(), 502);
        let refused = json!({"error": {"code": "NOT_FOUND", "message": "no ticket 9"}});
        assert_eq!(
            relay::<SupportTicket>("support", 404, refused).status(),
            404
        );
    }
}
