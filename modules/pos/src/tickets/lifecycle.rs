//! `POST /tickets/{id}/void` and `POST /tickets/{id}/close`.

use nova_sdk::{Error, Request, Response, audit, context, kv};
use serde_json::{Value, json};

use super::{load, save};
use crate::{inventory, keys, reports, store, validate};

const MAX_REASON: usize = 200;

/// A void body: why the ticket is void.
pub fn parse_void(body: &Value) -> Result<String, Error> {
    validate::object(body)?;
    validate::string(body, "reason", "reason", MAX_REASON)
}

pub fn void(req: &Request) -> Result<Response, Error> {
    let id = validate::path_id(req, "id")?;
    let reason = parse_void(&req.json()?)?;
    crate::roles::managers_only("void a ticket")?;
    let mut stored = load(id)?;
    // A pending card payment may still settle; voiding under it would strand the money.
    stored.ticket.ensure_open()?;
    if crate::payments::any_pending(id)? {
        return Err(Error::new(
            409,
            "PAYMENT_PENDING",
            format!(
                "ticket {id} has a card payment waiting for the provider; void it once that settles or fails"
            ),
        ));
    }
    stored.ticket.void(reason, store::now_ms())?;
    save(&stored)?;
    audit::record(
        "pos.ticket.voided",
        &json!({"ticketId": id, "reason": stored.ticket.void_reason, "totalCents": stored.ticket.total_cents}),
    )?;
    Response::json(200, &stored.ticket)
}

/// Close a paid ticket: take its items out of stock and record the sale for reports. Every
/// check (payment, stock) runs before the first write, so a refusal changes nothing.
pub fn close(req: &Request) -> Result<Response, Error> {
    let id = validate::path_id(req, "id")?;
    let mut stored = load(id)?;
    let now = store::now_ms();
    stored.ticket.close(now)?;
    let actor = context::get().actor;
    inventory::take_for_sale(id, &stored.ticket.sold_quantities(), &actor, now)?;
    save(&stored)?;
    let t = &stored.ticket;
    kv::set_json(&keys::sale(&t.business_date, id), &reports::Sale::of(t))?;
    audit::record(
        "pos.ticket.closed",
        &json!({"ticketId": id, "businessDate": t.business_date, "totalCents": t.total_cents, "paidCents": t.paid_cents}),
    )?;
    Response::json(200, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn void_needs_a_reason() {
        assert_eq!(parse_void(&json!({"reason": " spilt "})).unwrap(), "spilt");
        for body in [json!({}), json!({"reason": ""}), json!({"reason": 1})] {
            assert_eq!(
                parse_void(&body).unwrap_err().field.as_deref(),
                Some("reason")
            );
        }
    }
}
