//! Tickets: `POST /tickets`, `GET /tickets?limit=N`, `GET /tickets/{id}`.

use nova_sdk::{Error, Request, Response, audit, context, kv};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::validate;

const SEQ_KEY: &str = "seq/ticket";
const PREFIX: &str = "ticket/";
const MAX_ITEMS: usize = 100;

/// One line of a ticket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub name: String,
    pub qty: i64,
    pub price_cents: i64,
    pub line_total_cents: i64,
}

/// A ticket as stored and returned.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    pub id: u64,
    pub table: String,
    pub items: Vec<Line>,
    pub subtotal_cents: i64,
    pub total_cents: i64,
    pub status: String,
    pub opened_by: String,
    pub created_at_ms: u64,
}

/// Newest tickets sort first: keys hold the id counted down from `u64::MAX`.
pub fn key(id: u64) -> String {
    format!("{PREFIX}{:020}", u64::MAX - id)
}

/// Read and check a new ticket's body; totals are computed here, in integer cents.
pub fn parse_new(body: &Value) -> Result<(String, Vec<Line>, i64), Error> {
    validate::object(body)?;
    let table = validate::string(body, "table", "table", 64)?;
    let mut lines = Vec::new();
    let mut subtotal: i64 = 0;
    for (i, item) in validate::array(body, "items", MAX_ITEMS)?
        .iter()
        .enumerate()
    {
        let at = |f: &str| format!("items[{i}].{f}");
        if !item.is_object() {
            return Err(Error::validation(
                &format!("items[{i}]"),
                "each item must be an object",
            ));
        }
        let name = validate::string(item, "name", &at("name"), 120)?;
        let qty = validate::int(item, "qty", &at("qty"), 1, 1000)?;
        let price_cents = validate::int(item, "priceCents", &at("priceCents"), 0, 10_000_000)?;
        let line_total_cents = qty * price_cents;
        subtotal += line_total_cents;
        lines.push(Line {
            name,
            qty,
            price_cents,
            line_total_cents,
        });
    }
    Ok((table, lines, subtotal))
}

pub fn create(req: &Request) -> Result<Response, Error> {
    let body: Value = req.json()?;
    let (table, items, subtotal) = parse_new(&body)?;
    let id = kv::get_json::<u64>(SEQ_KEY)?.unwrap_or(0) + 1;
    kv::set_json(SEQ_KEY, &id)?;
    let ticket = Ticket {
        id,
        table,
        items,
        subtotal_cents: subtotal,
        total_cents: subtotal,
        status: "open".into(),
        opened_by: context::get().actor,
        created_at_ms: now_ms(),
    };
    kv::set_json(&key(id), &ticket)?;
    audit::record(
        "pos.ticket.opened",
        &json!({"ticketId": id, "table": ticket.table, "totalCents": ticket.total_cents}),
    )?;
    Response::json(201, &ticket)
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
    let cursor = req.query("cursor");
    let page = kv::list_json::<Ticket>(PREFIX, limit, cursor.as_deref())?;
    let tickets: Vec<Ticket> = page.entries.into_iter().map(|(_, t)| t).collect();
    Response::json(200, &json!({"tickets": tickets, "nextCursor": page.cursor}))
}

pub fn get(req: &Request) -> Result<Response, Error> {
    let raw = req.param("id").unwrap_or_default();
    let id: u64 = raw
        .parse()
        .map_err(|_| Error::validation("id", "ticket ids are positive whole numbers"))?;
    match kv::get_json::<Ticket>(&key(id))? {
        Some(t) => Response::json(200, &t),
        None => Err(Error::not_found(format!("no ticket {id}"))),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_integer_cents() {
        let body = json!({"table": "4", "items": [
            {"name": "Soup", "qty": 2, "priceCents": 450},
            {"name": "Bread", "qty": 1, "priceCents": 199}
        ]});
        let (table, lines, subtotal) = parse_new(&body).unwrap();
        assert_eq!(table, "4");
        assert_eq!(lines[0].line_total_cents, 900);
        assert_eq!(subtotal, 1099);
    }

    #[test]
    fn bad_items_name_their_field() {
        let cases = [
            (
                json!({"items": [{"name": "a", "qty": 1, "priceCents": 1}]}),
                "table",
            ),
            (json!({"table": "1", "items": []}), "items"),
            (
                json!({"table": "1", "items": [{"name": "a", "qty": 0, "priceCents": 1}]}),
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
            (json!([1, 2]), "body"),
        ];
        for (body, field) in cases {
            let err = parse_new(&body).unwrap_err();
            assert_eq!(err.status, 400, "{body}");
            assert_eq!(err.field.as_deref(), Some(field), "{body}");
        }
    }

    #[test]
    fn newer_tickets_sort_first() {
        assert!(key(2) < key(1));
        assert!(key(10) < key(9));
    }
}
