//! `POST /payments/{id}/status`: the provider's settlement webhook, relayed by the host
//! after it has checked the signature. Only the host's webhook actor may call it; a till
//! that could would be able to mark its own payments settled.

use nova_sdk::{Error, Request, Response, audit, context};
use serde_json::{Value, json};

use super::{Settlement, load, path_id, save};
use crate::{store, tickets, validate};

/// The actor the host uses for verified payment webhooks.
pub const ACTOR: &str = "webhook:payments";

/// A settlement event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    pub outcome: Settlement,
    pub amount_cents: Option<i64>,
}

/// Read an event about payment `payment_id` (the one in the URL).
pub fn parse(body: &Value, payment_id: &str) -> Result<Event, Error> {
    validate::object(body)?;
    let id = validate::string(body, "id", "id", 200)?;
    let named = validate::string(body, "paymentId", "paymentId", 64)?;
    if named != payment_id {
        return Err(Error::validation(
            "paymentId",
            format!("the event is about {named}, not {payment_id}"),
        ));
    }
    let outcome = match validate::string(body, "status", "status", 20)?.as_str() {
        "settled" => Settlement::Settled,
        "failed" => Settlement::Failed,
        _ => {
            return Err(Error::validation(
                "status",
                "status must be settled or failed",
            ));
        }
    };
    let expected = match outcome {
        Settlement::Settled => "payment.settled",
        Settlement::Failed => "payment.failed",
    };
    if let Some(kind) = validate::opt_string(body, "type", "type", 50)?
        && kind != expected
    {
        return Err(Error::validation(
            "type",
            format!("type must be {expected} for this status"),
        ));
    }
    let amount_cents = validate::opt_int(body, "amountCents", "amountCents", 0, i64::MAX)?;
    Ok(Event {
        id,
        outcome,
        amount_cents,
    })
}

pub fn status(req: &Request) -> Result<Response, Error> {
    if context::get().actor != ACTOR {
        return Err(Error::new(
            403,
            "FORBIDDEN",
            "only the payment provider's webhook may report payment status",
        ));
    }
    let id = path_id(req.param("id"))?;
    let event = parse(&req.json()?, &id)?;
    let mut payment = load(&id)?;
    let before = payment.paid_cents();
    if !payment.settle(event.outcome, store::now_ms())? {
        // A repeated delivery: answer as before so the provider stops retrying.
        return Response::json(200, &payment);
    }
    let mut stored = tickets::load(payment.ticket_id)?;
    stored.ticket.paid_cents += payment.paid_cents() - before;
    save(&payment)?;
    tickets::save(&stored)?;
    let action = match event.outcome {
        Settlement::Settled => "pos.payment.settled",
        Settlement::Failed => "pos.payment.failed",
    };
    audit::record(
        action,
        &json!({
            "paymentId": payment.id, "ticketId": payment.ticket_id, "eventId": event.id,
            "amountCents": payment.amount_cents, "reportedAmountCents": event.amount_cents,
        }),
    )?;
    Response::json(200, &payment)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(status: &str, kind: &str) -> Value {
        json!({"id": "evt_1", "type": kind, "paymentId": "pay_1", "status": status,
               "amountCents": 500, "tenantId": "t1", "reference": "4"})
    }

    #[test]
    fn reads_settled_and_failed_events() {
        let e = parse(&event("settled", "payment.settled"), "pay_1").unwrap();
        assert_eq!(
            (e.id.as_str(), e.outcome, e.amount_cents),
            ("evt_1", Settlement::Settled, Some(500))
        );
        let e = parse(&event("failed", "payment.failed"), "pay_1").unwrap();
        assert_eq!(e.outcome, Settlement::Failed);
    }

    #[test]
    fn inconsistent_events_name_their_field() {
        let cases = [
            (event("settled", "payment.settled"), "pay_2", "paymentId"),
            (event("refunded", "payment.settled"), "pay_1", "status"),
            (event("settled", "payment.failed"), "pay_1", "type"),
            (
                json!({"paymentId": "pay_1", "status": "settled"}),
                "pay_1",
                "id",
            ),
        ];
        for (body, path, field) in cases {
            assert_eq!(
                parse(&body, path).unwrap_err().field.as_deref(),
                Some(field),
                "{body}"
            );
        }
    }
}
