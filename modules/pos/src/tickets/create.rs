//! `POST /tickets`, `GET /tickets?limit=N&cursor=`, `GET /tickets/{id}`.

use nova_sdk::{Error, Request, Response, audit, context, kv};
use serde_json::{Value, json};

use super::lines::{self, LineInput};
use super::{Stored, Ticket, load, save_new};
use crate::{dates, keys, menu, store, validate};

/// Most lines one create may carry.
const MAX_ITEMS: usize = 100;
const MAX_REFERENCE: usize = 64;

/// A create body, checked but not yet priced.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTicket {
    pub table: String,
    /// The client's own id for this ticket, so a retried create is recognised.
    pub reference: Option<String>,
    pub business_date: Option<String>,
    pub lines: Vec<LineInput>,
}

/// Read and check a create body. `items` may be left out (an empty ticket) but not `[]`,
/// which is more likely a client bug than a wish for an empty ticket.
pub fn parse_new(body: &Value) -> Result<NewTicket, Error> {
    validate::object(body)?;
    let table = validate::string(body, "table", "table", 64)?;
    let reference = validate::opt_string(body, "reference", "reference", MAX_REFERENCE)?;
    let business_date = validate::opt_string(body, "businessDate", "businessDate", 10)?
        .map(|d| dates::field(&d, "businessDate").map(|_| d))
        .transpose()?;
    let lines = validate::opt_array(body, "items", MAX_ITEMS)?
        .map(|items| {
            items
                .iter()
                .enumerate()
                .map(|(i, item)| lines::parse(item, &format!("items[{i}]")))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    Ok(NewTicket {
        table,
        reference,
        business_date,
        lines,
    })
}

pub fn create(req: &Request) -> Result<Response, Error> {
    let new = parse_new(&req.json()?)?;
    // A retry of a create that already landed answers with that ticket and writes nothing.
    // Checked before pricing so a menu change since cannot turn the retry into an error.
    if let Some(reference) = &new.reference
        && let Some(id) = kv::get_json::<u64>(&keys::ticket_ref(reference))?
    {
        return Response::json(200, &load(id)?.ticket);
    }
    let priced = new
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| lines::resolve(l, &format!("items[{i}]"), &mut menu::find))
        .collect::<Result<Vec<_>, _>>()?;
    // The business date is the restaurant's own calendar day (its timezone), unless given.
    let clock = nova_sdk::clock::now()?;
    let now = u64::try_from(clock.unix_ms).unwrap_or(0);
    let id = store::next_ticket_id()?;
    let mut stored = Stored::open(
        id,
        new.table,
        new.reference,
        new.business_date.unwrap_or(clock.date),
        context::get().actor,
        now,
    );
    for line in priced {
        stored.add_line(line)?;
    }
    save_new(&stored)?;
    if let Some(reference) = &stored.ticket.reference {
        kv::set_json(&keys::ticket_ref(reference), &id)?;
    }
    let t = &stored.ticket;
    audit::record(
        "pos.ticket.opened",
        &json!({"ticketId": id, "table": t.table, "reference": t.reference, "totalCents": t.total_cents}),
    )?;
    Response::json(201, t)
}

pub fn list(req: &Request) -> Result<Response, Error> {
    let limit = match req.query("limit") {
        None => 20,
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(Error::validation(
                    "limit",
                    "limit must be a whole number from 1 to 100",
                ));
            }
        },
    };
    let cursor = req.query("cursor").filter(|c| !c.is_empty());
    let page = kv::list_json::<Ticket>(keys::TICKETS, limit, cursor.as_deref())?;
    let tickets: Vec<_> = page.entries.into_iter().map(|(_, t)| t.upgrade()).collect();
    Response::json(
        200,
        &TicketPage {
            tickets,
            next_cursor: page.cursor,
        },
    )
}

/// A page of tickets as the API shows it. Serialized straight from the tickets: going
/// through a `serde_json::Value` first doubled the work of a list's answer.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct TicketPage {
    tickets: Vec<Ticket>,
    next_cursor: Option<String>,
}

pub fn get(req: &Request) -> Result<Response, Error> {
    Response::json(200, &load(validate::path_id(req, "id")?)?.ticket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_reference_the_menu_or_stand_alone() {
        let body = json!({"table": "4", "reference": "till-1-0042", "businessDate": "2024-05-01",
            "items": [{"itemId": 3, "qty": 2}, {"name": "Bread", "qty": 1, "priceCents": 199}]});
        let new = parse_new(&body).unwrap();
        assert_eq!(new.reference.as_deref(), Some("till-1-0042"));
        assert_eq!(new.business_date.as_deref(), Some("2024-05-01"));
        assert_eq!(new.lines[0], LineInput::Menu { item_id: 3, qty: 2 });
        assert!(matches!(
            new.lines[1],
            LineInput::Open {
                price_cents: 199,
                ..
            }
        ));
    }

    #[test]
    fn items_may_be_left_out_but_not_empty() {
        assert!(parse_new(&json!({"table": "1"})).unwrap().lines.is_empty());
        assert!(
            parse_new(&json!({"table": "1", "items": null}))
                .unwrap()
                .lines
                .is_empty()
        );
        let err = parse_new(&json!({"table": "1", "items": []})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("items"));
    }

    #[test]
    fn bad_bodies_name_their_field() {
        let cases = [
            (
                json!({"items": [{"name": "a", "qty": 1, "priceCents": 1}]}),
                "table",
            ),
            (
                json!({"table": "1", "items": [{"name": "a", "qty": 0, "priceCents": 1}]}),
                "items[0].qty",
            ),
            (
                json!({"table": "1", "items": [{"name": "a", "qty": "two", "priceCents": 1}]}),
                "items[0].qty",
            ),
            (
                json!({"table": "1", "items": [{"name": "a", "qty": 1, "priceCents": -5}]}),
                "items[0].priceCents",
            ),
            (
                json!({"table": "1", "items": [{"name": "a", "qty": 1, "priceCents": "1"}]}),
                "items[0].priceCents",
            ),
            (
                json!({"table": "1", "items": [{"name": "a", "qty": 1, "priceCents": 1}, {"itemId": -2, "qty": 1}]}),
                "items[1].itemId",
            ),
            (json!({"table": "1", "reference": ""}), "reference"),
            (
                json!({"table": "1", "reference": "r".repeat(65)}),
                "reference",
            ),
            (
                json!({"table": "1", "businessDate": "2024-02-30"}),
                "businessDate",
            ),
            (
                json!({"table": "1", "businessDate": 20240501}),
                "businessDate",
            ),
            (json!({"table": "1", "items": {"name": "a"}}), "items"),
            (json!([1, 2]), "body"),
        ];
        for (body, field) in cases {
            let err = parse_new(&body).unwrap_err();
            assert_eq!(err.status, 400, "{body}");
            assert_eq!(err.field.as_deref(), Some(field), "{body}");
        }
    }
}
