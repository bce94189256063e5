//! Menu items: `POST/GET /menu/items`, `GET/PUT/DELETE /menu/items/{id}`.
//!
//! Besides the item itself, two indexes are kept in step: `item-name/` (names are unique per
//! tenant, ignoring case) and `category-item/` (items per category).

use nova_sdk::{Error, Request, Response, audit, kv};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::money::{MAX_PRICE_CENTS, MAX_TAX_BPS};
use crate::{categories, keys, store, validate};

/// Longest item name, in characters.
pub const MAX_NAME: usize = 120;
const FIELDS: &[&str] = &["name", "priceCents", "taxRateBps", "categoryId", "active"];
/// Accepted and ignored, so a client may send back an item exactly as it read it.
const READ_ONLY: &[&str] = &["id", "createdAtMs"];

/// A menu item as stored and returned.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MenuItem {
    pub id: u64,
    pub name: String,
    pub price_cents: i64,
    pub tax_rate_bps: i64,
    pub category_id: Option<u64>,
    pub active: bool,
    pub created_at_ms: u64,
}

/// The fields of a create, or of an update where `None` leaves a field as it is
/// (`category_id: Some(None)` removes the category).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    pub name: Option<String>,
    pub price_cents: Option<i64>,
    pub tax_rate_bps: Option<i64>,
    pub category_id: Option<Option<u64>>,
    pub active: Option<bool>,
}

fn read(body: &Value) -> Result<Changes, Error> {
    validate::only_fields(body, &[FIELDS, READ_ONLY].concat())?;
    Ok(Changes {
        name: validate::opt_string(body, "name", "name", MAX_NAME)?,
        price_cents: validate::opt_int(body, "priceCents", "priceCents", 0, MAX_PRICE_CENTS)?,
        tax_rate_bps: validate::opt_int(body, "taxRateBps", "taxRateBps", 0, MAX_TAX_BPS)?,
        category_id: validate::nullable_id(body, "categoryId")?,
        active: validate::opt_bool(body, "active", "active")?,
    })
}

/// A create body: name, price and tax rate are required; no category and active by default.
pub fn parse_new(body: &Value) -> Result<Changes, Error> {
    let c = read(body)?;
    for (missing, field) in [
        (c.name.is_none(), "name"),
        (c.price_cents.is_none(), "priceCents"),
        (c.tax_rate_bps.is_none(), "taxRateBps"),
    ] {
        if missing {
            return Err(Error::validation(field, format!("{field} is required")));
        }
    }
    Ok(c)
}

/// An update body: any subset of the fields, at least one.
pub fn parse_changes(body: &Value) -> Result<Changes, Error> {
    let c = read(body)?;
    if c == Changes::default() {
        return Err(Error::validation(
            "body",
            format!("give at least one of {}", FIELDS.join(", ")),
        ));
    }
    Ok(c)
}

impl Changes {
    /// `item` with these changes applied.
    pub fn apply(&self, item: &MenuItem) -> MenuItem {
        MenuItem {
            id: item.id,
            name: self.name.clone().unwrap_or_else(|| item.name.clone()),
            price_cents: self.price_cents.unwrap_or(item.price_cents),
            tax_rate_bps: self.tax_rate_bps.unwrap_or(item.tax_rate_bps),
            category_id: self.category_id.unwrap_or(item.category_id),
            active: self.active.unwrap_or(item.active),
            created_at_ms: item.created_at_ms,
        }
    }
}

/// A menu item, if it exists.
pub fn find(id: u64) -> Result<Option<MenuItem>, Error> {
    kv::get_json(&keys::item(id))
}

/// A menu item, or 404.
pub fn load(id: u64) -> Result<MenuItem, Error> {
    find(id)?.ok_or_else(|| Error::not_found(format!("no menu item {id}")))
}

fn check_category(id: Option<u64>) -> Result<(), Error> {
    match id {
        Some(c) if !categories::exists(c)? => {
            Err(Error::validation("categoryId", format!("no category {c}")))
        }
        _ => Ok(()),
    }
}

fn check_name_free(name: &str, except: Option<u64>) -> Result<(), Error> {
    match kv::get_json::<u64>(&keys::item_name(name))? {
        Some(holder) if Some(holder) != except => Err(Error::new(
            409,
            "ITEM_EXISTS",
            format!("menu item {holder} is already called {name:?}"),
        )),
        _ => Ok(()),
    }
}

pub fn create(req: &Request) -> Result<Response, Error> {
    let changes = parse_new(&req.json()?)?;
    crate::roles::managers_only("change the menu")?;
    let name = changes.name.clone().unwrap_or_default();
    check_category(changes.category_id.flatten())?;
    check_name_free(&name, None)?;
    let id = store::next_id(keys::ITEM_SEQ)?;
    let blank = MenuItem {
        id,
        name,
        price_cents: 0,
        tax_rate_bps: 0,
        category_id: None,
        active: true,
        created_at_ms: store::now_ms(),
    };
    let item = changes.apply(&blank);
    kv::set_json(&keys::item(id), &item)?;
    kv::set_json(&keys::item_name(&item.name), &id)?;
    if let Some(c) = item.category_id {
        kv::set_json(&keys::category_item(c, id), &id)?;
    }
    audit::record("pos.menu.item_created", &item)?;
    Response::json(201, &item)
}

pub fn list(req: &Request) -> Result<Response, Error> {
    let category = req
        .query("categoryId")
        .filter(|s| !s.is_empty())
        .map(|s| validate::parse_id(&s, "categoryId"))
        .transpose()?;
    let active = validate::query_bool(req, "active")?;
    let items: Vec<MenuItem> = match category {
        Some(c) => store::list_all::<u64>(&keys::category_items(c))?
            .into_iter()
            .filter_map(|id| find(id).transpose())
            .collect::<Result<_, _>>()?,
        None => store::list_all(keys::ITEMS)?,
    };
    let items: Vec<MenuItem> = items
        .into_iter()
        .filter(|i| active.is_none_or(|a| i.active == a))
        .collect();
    Response::json(200, &json!({ "items": items }))
}

pub fn get(req: &Request) -> Result<Response, Error> {
    Response::json(200, &load(validate::path_id(req, "id")?)?)
}

pub fn update(req: &Request) -> Result<Response, Error> {
    let id = validate::path_id(req, "id")?;
    let changes = parse_changes(&req.json()?)?;
    crate::roles::managers_only("change the menu")?;
    let old = load(id)?;
    let new = changes.apply(&old);
    let renamed = keys::item_name(&old.name) != keys::item_name(&new.name);
    if renamed {
        check_name_free(&new.name, Some(id))?;
    }
    if new.category_id != old.category_id {
        check_category(new.category_id)?;
    }
    // Checks are done; from here on only writes, so a refusal above leaves nothing behind.
    if renamed {
        kv::delete(&keys::item_name(&old.name))?;
        kv::set_json(&keys::item_name(&new.name), &id)?;
    }
    if new.category_id != old.category_id {
        if let Some(c) = old.category_id {
            kv::delete(&keys::category_item(c, id))?;
        }
        if let Some(c) = new.category_id {
            kv::set_json(&keys::category_item(c, id), &id)?;
        }
    }
    kv::set_json(&keys::item(id), &new)?;
    audit::record(
        "pos.menu.item_updated",
        &json!({ "id": id, "before": old, "after": new }),
    )?;
    Response::json(200, &new)
}

pub fn delete(req: &Request) -> Result<Response, Error> {
    let id = validate::path_id(req, "id")?;
    crate::roles::managers_only("change the menu")?;
    let item = load(id)?;
    kv::delete(&keys::item(id))?;
    kv::delete(&keys::item_name(&item.name))?;
    if let Some(c) = item.category_id {
        kv::delete(&keys::category_item(c, id))?;
    }
    // Tickets copy name and price, so past sales are unaffected; stock of a gone item is
    // no longer tracked.
    kv::delete(&keys::stock(id))?;
    audit::record("pos.menu.item_deleted", &item)?;
    Ok(Response::empty(204))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> MenuItem {
        MenuItem {
            id: 3,
            name: "Soup".into(),
            price_cents: 450,
            tax_rate_bps: 825,
            category_id: Some(1),
            active: true,
            created_at_ms: 7,
        }
    }

    #[test]
    fn create_needs_name_price_and_tax_rate() {
        let ok = json!({"name": "Soup", "priceCents": 450, "taxRateBps": 825});
        let c = parse_new(&ok).unwrap();
        assert_eq!(c.category_id, None);
        assert_eq!(c.active, None);
        let cases = [
            (json!({"priceCents": 1, "taxRateBps": 0}), "name"),
            (json!({"name": "a", "taxRateBps": 0}), "priceCents"),
            (json!({"name": "a", "priceCents": 1}), "taxRateBps"),
            (
                json!({"name": "a", "priceCents": -1, "taxRateBps": 0}),
                "priceCents",
            ),
            (
                json!({"name": "a", "priceCents": 1, "taxRateBps": 10_001}),
                "taxRateBps",
            ),
            (
                json!({"name": "a", "priceCents": 1, "taxRateBps": 0, "categoryId": "x"}),
                "categoryId",
            ),
            (
                json!({"name": "a", "priceCents": 1, "taxRateBps": 0, "active": "yes"}),
                "active",
            ),
            (
                json!({"name": "a", "priceCents": 1, "taxRateBps": 0, "colour": "red"}),
                "colour",
            ),
        ];
        for (body, field) in cases {
            let err = parse_new(&body).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{body}");
        }
    }

    #[test]
    fn updates_change_only_what_is_given() {
        let c = parse_changes(&json!({"priceCents": 500})).unwrap();
        let new = c.apply(&item());
        assert_eq!(new.price_cents, 500);
        assert_eq!(new.name, "Soup");
        assert_eq!(new.category_id, Some(1));

        let c = parse_changes(&json!({"categoryId": null, "active": false})).unwrap();
        let new = c.apply(&item());
        assert_eq!(new.category_id, None);
        assert!(!new.active);
        assert_eq!(new.tax_rate_bps, 825);
    }

    #[test]
    fn an_item_as_read_can_be_sent_back() {
        let body = serde_json::to_value(item()).unwrap();
        assert_eq!(parse_changes(&body).unwrap().apply(&item()), item());
    }

    #[test]
    fn empty_update_is_refused() {
        assert_eq!(
            parse_changes(&json!({})).unwrap_err().field.as_deref(),
            Some("body")
        );
    }
}
