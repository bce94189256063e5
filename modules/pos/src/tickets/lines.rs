//! Ticket lines: reading a line from JSON, pricing it from the menu, and
//! `POST /tickets/{id}/lines`, `DELETE /tickets/{id}/lines/{lineId}`.

use nova_sdk::{Error, Request, Response, audit};
use serde_json::{Value, json};

use super::{Line, load, save};
use crate::menu::{self, MenuItem};
use crate::money::{MAX_PRICE_CENTS, MAX_QTY, MAX_TAX_BPS};
use crate::validate::{self, join};

/// A line as the client wrote it, before the menu is consulted.
#[derive(Debug, Clone, PartialEq)]
pub enum LineInput {
    /// `{"itemId", "qty"}`: name, price and tax rate come from the menu.
    Menu { item_id: u64, qty: i64 },
    /// `{"name", "qty", "priceCents", "taxRateBps"?}`: anything not on the menu.
    Open {
        name: String,
        qty: i64,
        price_cents: i64,
        tax_rate_bps: i64,
    },
}

/// Read one line; `at` prefixes field names in errors (`items[2]`, or empty for a lone line).
pub fn parse(v: &Value, at: &str) -> Result<LineInput, Error> {
    if !v.is_object() {
        let path = if at.is_empty() { "body" } else { at };
        return Err(Error::validation(path, format!("{path} must be an object")));
    }
    if let Some(item_id) = validate::opt_id(v, "itemId", &join(at, "itemId"))? {
        // Silently ignoring a price sent with a menu line would charge something other than
        // what the client showed, so refuse it.
        for field in ["name", "priceCents", "taxRateBps"] {
            if v.get(field).is_some_and(|x| !x.is_null()) {
                return Err(Error::validation(
                    &join(at, field),
                    format!("a menu line takes {field} from the menu; send only itemId and qty"),
                ));
            }
        }
        let qty = validate::int(v, "qty", &join(at, "qty"), 1, MAX_QTY)?;
        return Ok(LineInput::Menu { item_id, qty });
    }
    Ok(LineInput::Open {
        name: validate::string(v, "name", &join(at, "name"), menu::MAX_NAME)?,
        qty: validate::int(v, "qty", &join(at, "qty"), 1, MAX_QTY)?,
        price_cents: validate::int(v, "priceCents", &join(at, "priceCents"), 0, MAX_PRICE_CENTS)?,
        tax_rate_bps: validate::opt_int(v, "taxRateBps", &join(at, "taxRateBps"), 0, MAX_TAX_BPS)?
            .unwrap_or(0),
    })
}

/// Price a line. `find` looks menu items up; an unknown or inactive item is a 400 naming
/// `at.itemId`.
pub fn resolve(
    input: &LineInput,
    at: &str,
    find: &mut impl FnMut(u64) -> Result<Option<MenuItem>, Error>,
) -> Result<Line, Error> {
    match input {
        LineInput::Open {
            name,
            qty,
            price_cents,
            tax_rate_bps,
        } => Ok(Line::new(
            None,
            name.clone(),
            *qty,
            *price_cents,
            *tax_rate_bps,
        )),
        LineInput::Menu { item_id, qty } => match find(*item_id)? {
            Some(item) if item.active => Ok(Line::new(
                Some(item.id),
                item.name,
                *qty,
                item.price_cents,
                item.tax_rate_bps,
            )),
            Some(_) => Err(Error::validation(
                &join(at, "itemId"),
                format!("menu item {item_id} is not active"),
            )),
            None => Err(Error::validation(
                &join(at, "itemId"),
                format!("no menu item {item_id}"),
            )),
        },
    }
}

fn audit_line(action: &str, ticket: &super::Ticket, line: &Line) -> Result<(), Error> {
    audit::record(
        action,
        &json!({
            "ticketId": ticket.id, "lineId": line.line_id, "itemId": line.item_id,
            "name": line.name, "qty": line.qty, "lineTotalCents": line.line_total_cents,
            "totalCents": ticket.total_cents,
        }),
    )
}

pub fn add(req: &Request) -> Result<Response, Error> {
    let id = validate::path_id(req, "id")?;
    let input = parse(&req.json()?, "")?;
    let mut stored = load(id)?;
    stored.ticket.ensure_open()?;
    let line = resolve(&input, "", &mut menu::find)?;
    let line_id = stored.add_line(line)?;
    save(&stored)?;
    let added = stored.ticket.items.iter().find(|l| l.line_id == line_id);
    if let Some(line) = added {
        audit_line("pos.ticket.line_added", &stored.ticket, line)?;
    }
    Response::json(201, &stored.ticket)
}

pub fn remove(req: &Request) -> Result<Response, Error> {
    let id = validate::path_id(req, "id")?;
    let line_id = validate::path_id(req, "lineId")?;
    let line_id = u32::try_from(line_id)
        .map_err(|_| Error::not_found(format!("ticket {id} has no line {line_id}")))?;
    let mut stored = load(id)?;
    let line = stored.remove_line(line_id)?;
    save(&stored)?;
    audit_line("pos.ticket.line_removed", &stored.ticket, &line)?;
    Response::json(200, &stored.ticket)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soup(active: bool) -> MenuItem {
        MenuItem {
            id: 7,
            name: "Soup".into(),
            price_cents: 450,
            tax_rate_bps: 825,
            category_id: None,
            active,
            created_at_ms: 0,
        }
    }

    fn menu_with(active: bool) -> impl FnMut(u64) -> Result<Option<MenuItem>, Error> {
        move |id| Ok((id == 7).then(|| soup(active)))
    }

    #[test]
    fn menu_lines_copy_name_price_and_tax() {
        let input = parse(&json!({"itemId": 7, "qty": 2}), "items[0]").unwrap();
        let line = resolve(&input, "items[0]", &mut menu_with(true)).unwrap();
        assert_eq!(line.item_id, Some(7));
        assert_eq!(line.name, "Soup");
        assert_eq!(line.line_total_cents, 900);
        assert_eq!(line.tax_cents, 74); // 8.25% of 900 = 74.25
    }

    #[test]
    fn unknown_or_inactive_items_name_the_line() {
        for (id, active) in [(8, true), (7, false)] {
            let input = LineInput::Menu {
                item_id: id,
                qty: 1,
            };
            let err = resolve(&input, "items[3]", &mut menu_with(active)).unwrap_err();
            assert_eq!(err.status, 400);
            assert_eq!(err.field.as_deref(), Some("items[3].itemId"));
        }
    }

    #[test]
    fn open_lines_default_to_no_tax() {
        let input = parse(
            &json!({"name": "Special", "qty": 1, "priceCents": 1000}),
            "",
        )
        .unwrap();
        let line = resolve(&input, "", &mut menu_with(true)).unwrap();
        assert_eq!(
            (line.item_id, line.tax_rate_bps, line.tax_cents),
            (None, 0, 0)
        );
    }

    #[test]
    fn bad_lines_name_their_field() {
        let cases = [
            (json!({"itemId": 7}), "qty"),
            (json!({"itemId": 0, "qty": 1}), "itemId"),
            (
                json!({"itemId": 7, "qty": 1, "priceCents": 5}),
                "priceCents",
            ),
            (json!({"name": "a", "qty": 1}), "priceCents"),
            (json!({"name": "a", "qty": 1001, "priceCents": 1}), "qty"),
            (
                json!({"name": "a", "qty": 1, "priceCents": 1, "taxRateBps": -1}),
                "taxRateBps",
            ),
            (json!({"qty": 1, "priceCents": 1}), "name"),
            (json!("soup"), "body"),
        ];
        for (body, field) in cases {
            let err = parse(&body, "").unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{body}");
        }
        let err = parse(&json!(3), "items[1]").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("items[1]"));
    }
}
