//! The support desk's screens in the tenant portal (`GET /_views…`, `nova.view/1`): open
//! and closed tickets, raising a ticket with a severity, and a ticket's thread with its
//! replies, a reply form and closing. Built from the same store as the JSON routes.

use nova_sdk::view::{Action, Detail, Field, Form, Kind, Screens, Table, Target, Value, View};
use nova_sdk::{Error, Request, Response};
use serde_json::Value as Json;

use crate::replies::Reply;
use crate::ticket::{Status, Ticket};
use crate::{keys, store, time, validate};

const PAGE: u32 = 25;

/// `GET /_views`: the desk's entry and menu.
pub fn entry(_req: &Request) -> Result<Response, Error> {
    Response::screens(
        &Screens::new("Support", "tickets")
            .menu("Open tickets", "tickets")
            .menu("Closed tickets", "closed")
            .menu("Raise a ticket", "new"),
    )
}

/// `GET /_views/tickets`: open tickets, newest first.
pub fn open(req: &Request) -> Result<Response, Error> {
    listing(
        req,
        Status::Open,
        "tickets",
        "Open tickets",
        "No open tickets.",
    )
}

/// `GET /_views/closed`: closed tickets, newest first.
pub fn closed(req: &Request) -> Result<Response, Error> {
    listing(
        req,
        Status::Closed,
        "closed",
        "Closed tickets",
        "No closed tickets.",
    )
}

fn listing(
    req: &Request,
    status: Status,
    view: &str,
    title: &str,
    empty: &str,
) -> Result<Response, Error> {
    let cursor = validate::cursor(req, &keys::by_status(status))?;
    let (tickets, next) = store::page(Some(status), PAGE, cursor)?;
    // The subject leads (and links): the widest target to open a ticket by.
    let mut table = Table::new()
        .column("subject", "Subject", Kind::Text)
        .column("id", "#", Kind::Text)
        .column("severity", "Severity", Kind::Badge)
        .column("createdAt", "Opened", Kind::DateTime)
        .column("responseDueAt", "Answer due", Kind::DateTime)
        .empty(empty)
        .next(next.map(|c| Target::view(view).param("cursor", c)));
    for t in tickets {
        let cell = |k: &str| match &t[k] {
            Json::String(s) => Value::from(s.as_str()),
            Json::Number(n) => Value::from(n.as_i64().unwrap_or_default()),
            _ => Value::from(""),
        };
        let id = t["id"].as_u64().unwrap_or_default();
        table = table.row_linked(
            Target::view("ticket").param("id", id.to_string()),
            [
                ("subject", cell("subject")),
                ("id", Value::from(id)),
                ("severity", cell("severity")),
                ("createdAt", cell("createdAt")),
                ("responseDueAt", cell("responseDueAt")),
            ],
        );
    }
    Response::view(&View::new(title).table(table))
}

/// `GET /_views/new`: raise a ticket.
pub fn raise(_req: &Request) -> Result<Response, Error> {
    let severities = [
        ("S1", "S1 — we cannot trade (answer within 15 minutes)"),
        ("S2", "S2 — something important is broken (within an hour)"),
        ("S3", "S3 — a problem with a way around it (within 4 hours)"),
        ("S4", "S4 — a question or a wish"),
    ];
    let form = Form::post("/tickets", "Raise ticket")
        .field(Field::text("subject", "Subject").required())
        .field(Field::select("severity", "How bad is it?", severities).required())
        .field(
            Field::textarea("body", "What happened")
                .required()
                .help("What you did, what you saw, and since when."),
        )
        .then(Target::view("ticket").param("id", "{id}"));
    Response::view(
        &View::new("Raise a ticket")
            .text("Nova's support team answers by the deadline of the severity you choose.")
            .form(form),
    )
}

/// `GET /_views/ticket?id=N`: one ticket, its thread, a reply and (while open) closing.
pub fn thread(req: &Request) -> Result<Response, Error> {
    let id = match req.query("id").as_deref().map(str::parse::<u64>) {
        Some(Ok(n)) if n >= 1 => n,
        _ => {
            return Err(Error::validation(
                "id",
                "id must be a positive whole number",
            ));
        }
    };
    let t: Ticket = store::load(id)?;
    let replies: Vec<Reply> = store::all(&keys::replies(t.id))?;
    let when = |ms: u64| Value::from(time::rfc3339(ms));
    let open = t.is_open();
    let mut view = View::new(format!("#{} {}", t.id, t.subject))
        .details([
            Detail::new(
                "Status",
                Some(if open { "open" } else { "closed" }.into()),
                Kind::Badge,
            ),
            Detail::new("Severity", Some(t.severity.as_str().into()), Kind::Badge),
            Detail::new("Opened", Some(when(t.created_at_ms)), Kind::DateTime),
            Detail::new("Answer due", t.response_due_at_ms.map(when), Kind::DateTime),
            Detail::new(
                "First answer",
                t.first_response_at_ms.map(when),
                Kind::DateTime,
            ),
            Detail::new(
                "Looked after by",
                t.assignee.clone().map(Value::from),
                Kind::Text,
            ),
        ])
        .text(t.body.clone())
        .heading("Replies");
    let mut table = Table::new()
        .column("from", "From", Kind::Text)
        .column("at", "When", Kind::DateTime)
        .column("body", "Reply", Kind::Text)
        .empty("No replies yet.");
    for r in replies {
        // The module knows the restaurant's users only by id: name the side instead.
        let from = if r.from_support {
            "Nova support"
        } else {
            "Your restaurant"
        };
        table = table.row([
            ("from", Value::from(from)),
            ("at", when(r.created_at_ms)),
            ("body", Value::from(r.body)),
        ]);
    }
    view = view.table(table);
    if open {
        view = view
            .form(
                Form::post(format!("/tickets/{id}/replies"), "Send reply")
                    .field(Field::textarea("body", "Your reply").required()),
            )
            .actions(
                [Action::post("Close ticket", format!("/tickets/{id}/close"))
                    .confirm("Close this ticket? Do it once the problem is solved.")
                    .then(Target::view("closed"))],
            );
    }
    Response::view(&view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_raise_form_is_a_valid_view() {
        let resp = raise(&Request::new("GET", "/_views/new", "", b"")).unwrap();
        let view = nova_sdk::view::check::parse_view(&resp.body).unwrap();
        assert_eq!(view.title, "Raise a ticket");
        let entry = entry(&Request::new("GET", "/_views", "", b"")).unwrap();
        nova_sdk::view::check::parse_screens(&entry.body).unwrap();
    }
}
