//! `POST /tickets`, `GET /tickets`, `GET /tickets/{id}`, `POST /tickets/{id}/close`.

use nova_sdk::{Error, Request, Response, audit};
use serde_json::{Value, json};

use crate::replies::Reply;
use crate::sla::{self, Severity};
use crate::ticket::Ticket;
use crate::{keys, roles, store, time, validate};

const MAX_SUBJECT: usize = 200;
pub const MAX_BODY: usize = 10_000;
const DEFAULT_LIMIT: u32 = 50;

/// A create body, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    pub subject: String,
    pub body: String,
    pub severity: Severity,
}

pub fn parse_new(v: &Value) -> Result<NewTicket, Error> {
    let v = validate::object(v, &["subject", "body", "severity"])?;
    Ok(NewTicket {
        subject: validate::text(v, "subject", MAX_SUBJECT)?,
        body: validate::text(v, "body", MAX_BODY)?,
        severity: validate::severity(v)?,
    })
}

pub fn create(req: &Request) -> Result<Response, Error> {
    let new = parse_new(&req.json()?)?;
    let (actor, _) = roles::writer()?;
    let id = store::next_id()?;
    let t = Ticket::open(
        id,
        new.subject,
        new.body,
        new.severity,
        actor,
        time::now_ms(),
    );
    store::save(&t)?;
    audit::record(
        "support.ticket.opened",
        &json!({
            "ticketId": id, "severity": t.severity, "createdBy": t.created_by,
            "responseDueAtMs": t.response_due_at_ms, "resolveDueAtMs": t.resolve_due_at_ms,
        }),
    )?;
    Response::json(201, &t.view())
}

pub fn list(req: &Request) -> Result<Response, Error> {
    let status = validate::status(req)?;
    let limit = validate::limit(req, DEFAULT_LIMIT)?;
    let prefix = status.map_or_else(|| keys::TICKETS.to_string(), keys::by_status);
    let cursor = validate::cursor(req, &prefix)?;
    let (tickets, next) = store::page(status, limit, cursor)?;
    Response::json(200, &json!({"tickets": tickets, "nextCursor": next}))
}

pub fn get(req: &Request) -> Result<Response, Error> {
    let t = store::load(validate::path_id(req, "id")?)?;
    let replies: Vec<Reply> = store::all(&keys::replies(t.id))?;
    let mut v = serde_json::to_value(t.view())?;
    v["replies"] = serde_json::to_value(replies)?;
    Response::json(200, &v)
}

/// A tenant's users close a ticket once solved; the support team may close it too.
pub fn close(req: &Request) -> Result<Response, Error> {
    let id = validate::path_id(req, "id")?;
    let (actor, _) = roles::writer()?;
    let mut t = store::load(id)?;
    let now = time::now_ms();
    t.close(now)?;
    store::save(&t)?;
    audit::record(
        "support.ticket.closed",
        &json!({
            "ticketId": id, "who": actor, "at": now, "severity": t.severity,
            "resolvedWithinSla": sla::within(now, t.resolve_due_at_ms),
        }),
    )?;
    Response::json(200, &t.view())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_body_is_trimmed_and_checked() {
        let new = parse_new(
            &json!({"subject": " Till offline ", "body": "No receipts", "severity": "S1"}),
        )
        .unwrap();
        assert_eq!(
            new,
            NewTicket {
                subject: "Till offline".into(),
                body: "No receipts".into(),
                severity: Severity::S1
            }
        );
    }

    #[test]
    fn bad_create_bodies_name_their_field() {
        let ok = json!({"subject": "s", "body": "b", "severity": "S4"});
        let with = |k: &str, v: Value| {
            let mut b = ok.clone();
            b[k] = v;
            b
        };
        let cases = [
            (with("subject", json!("")), "subject"),
            (with("subject", json!("x".repeat(201))), "subject"),
            (with("subject", json!(null)), "subject"),
            (with("body", json!("  ")), "body"),
            (with("body", json!("x".repeat(10_001))), "body"),
            (with("body", json!(["x"])), "body"),
            (with("severity", json!("S5")), "severity"),
            (with("severity", json!(null)), "severity"),
            (with("priority", json!("high")), "priority"),
            (json!("subject"), "body"),
        ];
        for (body, field) in cases {
            let e = parse_new(&body).unwrap_err();
            assert_eq!((e.status, e.field.as_deref()), (400, Some(field)), "{body}");
        }
        assert!(parse_new(&with("subject", json!("x".repeat(200)))).is_ok());
        assert!(parse_new(&with("body", json!("x".repeat(10_000)))).is_ok());
    }
}
