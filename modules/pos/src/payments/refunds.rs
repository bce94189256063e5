//! `POST /payments/{id}/refunds`: give money back, in part or in full.

use nova_sdk::{Error, Request, Response, audit, context};
use serde_json::{Value, json};

use super::{Method, Refund, load, path_id, provider, save};
use crate::tickets::{self, Status as TicketStatus};
use crate::{reports, store, validate};

/// A refund body: how much.
pub fn parse(body: &Value) -> Result<i64, Error> {
    validate::object(body)?;
    validate::int(body, "amountCents", "amountCents", 1, i64::MAX)
}

pub fn refund(req: &Request) -> Result<Response, Error> {
    let id = path_id(req.param("id"))?;
    let amount = parse(&req.json()?)?;
    crate::roles::managers_only("refund a payment")?;
    let mut payment = load(&id)?;
    payment.check_refund(amount)?;
    let mut stored = tickets::load(payment.ticket_id)?;
    let ctx = context::get();
    // Refunds are allowed on closed tickets (a guest sends a dish back after paying); they
    // lower the ticket's paid amount and count against the day's sales.
    let refund_id = match payment.method {
        // Keyed by the payment's next refund slot, for the same reason as captures.
        Method::Card => provider::refund(
            &payment.id,
            amount,
            &format!(
                "{}:{}:r{}",
                ctx.tenant_id,
                payment.id,
                payment.refunds.len() + 1
            ),
        )?,
        Method::Cash => format!("{}-r{}", payment.id, payment.refunds.len() + 1),
    };
    let refund = Refund {
        id: refund_id,
        amount_cents: amount,
        created_at_ms: store::now_ms(),
    };
    let before = payment.paid_cents();
    payment.add_refund(refund.clone());
    stored.ticket.paid_cents += payment.paid_cents() - before;
    save(&payment)?;
    tickets::save(&stored)?;
    if stored.ticket.status == TicketStatus::Closed {
        reports::record_refund(&stored.ticket, amount)?;
    }
    audit::record(
        "pos.payment.refunded",
        &json!({
            "paymentId": payment.id, "refundId": refund.id, "ticketId": payment.ticket_id,
            "amountCents": amount, "refundedCents": payment.refunded_cents, "status": payment.status,
        }),
    )?;
    Response::json(201, &json!({ "refund": refund, "payment": payment }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amount_is_a_positive_whole_number() {
        assert_eq!(parse(&json!({"amountCents": 5})).unwrap(), 5);
        for body in [
            json!({}),
            json!({"amountCents": 0}),
            json!({"amountCents": "5"}),
        ] {
            assert_eq!(
                parse(&body).unwrap_err().field.as_deref(),
                Some("amountCents")
            );
        }
    }
}
