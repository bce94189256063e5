//! Taking payments: `POST /tickets/{id}/payments`, `GET /tickets/{id}/payments`,
//! `GET /payments/{id}`.

use nova_sdk::{Error, Request, Response, audit, context, kv};
use serde_json::{Value, json};

use super::provider::{self, Capture};
use super::{Method, Payment, Status};
use crate::{keys, store, tickets, validate};

/// A payment body.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPayment {
    pub amount_cents: i64,
    pub method: Method,
    pub card_token: Option<String>,
}

/// Read a payment body; the amount is checked against the ticket by [`check_amount`].
pub fn parse(body: &Value) -> Result<NewPayment, Error> {
    validate::object(body)?;
    let amount_cents = validate::int(body, "amountCents", "amountCents", 1, i64::MAX)?;
    let method = match validate::opt_string(body, "method", "method", 10)?.as_deref() {
        None | Some("card") => Method::Card,
        Some("cash") => Method::Cash,
        Some(_) => return Err(Error::validation("method", "method must be card or cash")),
    };
    let card_token = validate::opt_string(body, "cardToken", "cardToken", 200)?;
    Ok(NewPayment {
        amount_cents,
        method,
        card_token,
    })
}

/// A payment may not exceed what is left to pay.
pub fn check_amount(amount: i64, remaining: i64) -> Result<(), Error> {
    if amount > remaining {
        return Err(Error::validation(
            "amountCents",
            format!("amountCents must be at most {remaining}, the amount left to pay"),
        ));
    }
    Ok(())
}

fn blank(id: String, ticket_id: u64, amount_cents: i64, method: Method, now: u64) -> Payment {
    Payment {
        id,
        ticket_id,
        amount_cents,
        refunded_cents: 0,
        method,
        status: Status::Pending,
        created_at_ms: now,
        settled_at_ms: None,
        failure_reason: None,
        refunds: Vec::new(),
    }
}

/// Cash is in the drawer: captured and settled at once.
pub fn cash(id: String, ticket_id: u64, amount_cents: i64, now: u64) -> Payment {
    Payment {
        status: Status::Settled,
        settled_at_ms: Some(now),
        ..blank(id, ticket_id, amount_cents, Method::Cash, now)
    }
}

/// The payment a card capture produced (a declined capture is kept too, as `failed`).
pub fn card(capture: Capture, ticket_id: u64, requested: i64, now: u64) -> Payment {
    match capture {
        Capture::Captured { id, amount_cents } => Payment {
            status: Status::Captured,
            ..blank(id, ticket_id, amount_cents, Method::Card, now)
        },
        Capture::Pending { id, amount_cents } => {
            blank(id, ticket_id, amount_cents, Method::Card, now)
        }
        Capture::Declined { id, reason } => Payment {
            status: Status::Failed,
            failure_reason: Some(reason),
            ..blank(id, ticket_id, requested, Method::Card, now)
        },
    }
}

pub fn take(req: &Request) -> Result<Response, Error> {
    let ticket_id = validate::path_id(req, "id")?;
    let new = parse(&req.json()?)?;
    let mut stored = tickets::load(ticket_id)?;
    stored.ticket.ensure_open()?;
    check_amount(new.amount_cents, stored.ticket.remaining_cents())?;
    let ctx = context::get();
    let now = store::now_ms();
    let seq = stored.payment_seq + 1;
    // Everything is checked before money moves, and nothing is written before the provider
    // answers: if it cannot be reached the call fails with nothing half-recorded.
    let payment = match new.method {
        Method::Cash => cash(
            format!("cash-{ticket_id}-{seq}"),
            ticket_id,
            new.amount_cents,
            now,
        ),
        Method::Card => {
            let source = new
                .card_token
                .as_deref()
                .unwrap_or(provider::DEFAULT_SOURCE);
            // Keyed by the ticket's next payment slot, not the request: when two captures
            // race for one ticket, the loser's first run and the winner share a key, so the
            // provider charges once, and the loser's re-run sees the new balance.
            let key = format!("{}:{ticket_id}:{seq}", ctx.tenant_id);
            let capture =
                provider::capture(new.amount_cents, ticket_id, &ctx.tenant_id, source, &key)?;
            card(capture, ticket_id, new.amount_cents, now)
        }
    };
    stored.payment_seq = seq;
    stored.ticket.paid_cents += payment.paid_cents();
    super::save(&payment)?;
    kv::set_json(&keys::ticket_payment(ticket_id, seq), &payment.id)?;
    tickets::save(&stored)?;
    let summary = json!({
        "paymentId": payment.id, "ticketId": ticket_id, "amountCents": payment.amount_cents,
        "method": payment.method, "status": payment.status, "failureReason": payment.failure_reason,
    });
    if payment.status == Status::Failed {
        // A 402 is below 500, so the failed payment and this record are still kept.
        audit::record("pos.payment.declined", &summary)?;
        return Err(Error::new(
            402,
            "PAYMENT_DECLINED",
            format!(
                "payment {} was declined: {}",
                payment.id,
                payment.failure_reason.as_deref().unwrap_or("declined")
            ),
        ));
    }
    audit::record("pos.payment.captured", &summary)?;
    Response::json(201, &payment)
}

pub fn list_for_ticket(req: &Request) -> Result<Response, Error> {
    let ticket_id = validate::path_id(req, "id")?;
    tickets::load(ticket_id)?;
    let payments = store::list_all::<String>(&keys::ticket_payments(ticket_id))?
        .iter()
        .map(|id| super::load(id))
        .collect::<Result<Vec<_>, _>>()?;
    Response::json(200, &json!({ "payments": payments }))
}

pub fn get(req: &Request) -> Result<Response, Error> {
    let id = super::path_id(req.param("id"))?;
    Response::json(200, &super::load(&id)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_name_their_field() {
        let p = parse(&json!({"amountCents": 500})).unwrap();
        assert_eq!((p.method, p.card_token), (Method::Card, None));
        let p = parse(&json!({"amountCents": 5, "method": "cash"})).unwrap();
        assert_eq!(p.method, Method::Cash);
        for (body, field) in [
            (json!({}), "amountCents"),
            (json!({"amountCents": 0}), "amountCents"),
            (json!({"amountCents": 1.5}), "amountCents"),
            (json!({"amountCents": 5, "method": "cheque"}), "method"),
            (json!({"amountCents": 5, "cardToken": ""}), "cardToken"),
        ] {
            assert_eq!(
                parse(&body).unwrap_err().field.as_deref(),
                Some(field),
                "{body}"
            );
        }
    }

    #[test]
    fn amount_is_capped_by_what_is_left() {
        check_amount(300, 300).unwrap();
        let err = check_amount(301, 300).unwrap_err();
        assert_eq!(
            (err.status, err.field.as_deref()),
            (400, Some("amountCents"))
        );
    }

    #[test]
    fn captures_become_payments() {
        let captured = card(
            Capture::Captured {
                id: "pay_1".into(),
                amount_cents: 500,
            },
            4,
            500,
            9,
        );
        assert_eq!(
            (captured.status, captured.paid_cents()),
            (Status::Captured, 500)
        );
        let declined = card(
            Capture::Declined {
                id: "pay_2".into(),
                reason: "card_declined".into(),
            },
            4,
            500,
            9,
        );
        assert_eq!(declined.status, Status::Failed);
        assert_eq!(declined.amount_cents, 500);
        assert_eq!(declined.paid_cents(), 0);
        assert_eq!(declined.failure_reason.as_deref(), Some("card_declined"));
        let c = cash("cash-4-1".into(), 4, 200, 9);
        assert_eq!(
            (c.status, c.settled_at_ms, c.paid_cents()),
            (Status::Settled, Some(9), 200)
        );
    }
}
