//! Stock of menu items: `POST /inventory/{itemId}/adjustments`, `PUT/GET
//! /inventory/{itemId}`, `GET /inventory?lowStock=`. An item is tracked once it has an
//! inventory record; closing a ticket takes tracked items out of stock ([`take_for_sale`]).

use std::collections::BTreeMap;

use nova_sdk::{Error, Request, Response, audit, context, kv};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{keys, menu, store, validate};

const MAX_DELTA: i64 = 1_000_000;
const MAX_REASON: usize = 200;
const HISTORY: u32 = 20;

/// An item's inventory record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Stock {
    pub item_id: u64,
    pub on_hand: i64,
    pub low_stock_threshold: i64,
    /// How many adjustments were made; numbers the next one.
    pub adjustments: u64,
}

/// One change of stock, kept as history.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Adjustment {
    pub seq: u64,
    pub delta: i64,
    pub reason: String,
    pub on_hand_after: i64,
    pub actor: String,
    pub at_ms: u64,
    /// The closed ticket, for sales.
    pub ticket_id: Option<u64>,
}

/// What the API shows for a tracked item.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StockView {
    pub item_id: u64,
    pub name: String,
    pub on_hand: i64,
    pub low_stock_threshold: i64,
    pub low: bool,
}

impl Stock {
    /// A record for an item not tracked before: nothing on hand, warn when empty.
    pub fn new(item_id: u64) -> Self {
        Self {
            item_id,
            on_hand: 0,
            low_stock_threshold: 0,
            adjustments: 0,
        }
    }

    /// The record after adding `delta`; 409 `INSUFFICIENT_STOCK` naming the item if the
    /// result would be negative.
    pub fn adjusted(&self, delta: i64, name: &str) -> Result<Stock, Error> {
        let on_hand = self.on_hand + delta;
        if on_hand < 0 {
            return Err(Error::new(
                409,
                "INSUFFICIENT_STOCK",
                format!(
                    "not enough {name} (item {}): {} on hand, {} needed",
                    self.item_id, self.on_hand, -delta
                ),
            ));
        }
        Ok(Stock {
            on_hand,
            adjustments: self.adjustments + 1,
            ..self.clone()
        })
    }

    pub fn view(&self, name: &str) -> StockView {
        StockView {
            item_id: self.item_id,
            name: name.to_string(),
            on_hand: self.on_hand,
            low_stock_threshold: self.low_stock_threshold,
            low: self.on_hand <= self.low_stock_threshold,
        }
    }
}

/// An adjustment body: a non-zero delta and a reason.
pub fn parse_adjustment(body: &Value) -> Result<(i64, String), Error> {
    validate::object(body)?;
    let delta = validate::int(body, "delta", "delta", -MAX_DELTA, MAX_DELTA)?;
    if delta == 0 {
        return Err(Error::validation("delta", "delta must not be 0"));
    }
    let reason = validate::string(body, "reason", "reason", MAX_REASON)?;
    Ok((delta, reason))
}

/// A threshold body.
pub fn parse_threshold(body: &Value) -> Result<i64, Error> {
    validate::object(body)?;
    validate::int(body, "lowStockThreshold", "lowStockThreshold", 0, MAX_DELTA)
}

fn find(item_id: u64) -> Result<Option<Stock>, Error> {
    kv::get_json(&keys::stock(item_id))
}

/// Write `stock` and the adjustment that produced it.
fn save(stock: &Stock, adjustment: &Adjustment) -> Result<(), Error> {
    kv::set_json(&keys::stock(stock.item_id), stock)?;
    kv::set_json(
        &keys::stock_adjustment(stock.item_id, adjustment.seq),
        adjustment,
    )
}

pub fn adjust(req: &Request) -> Result<Response, Error> {
    let item_id = validate::path_id(req, "itemId")?;
    let (delta, reason) = parse_adjustment(&req.json()?)?;
    let item = menu::load(item_id)?;
    let stock = find(item_id)?
        .unwrap_or_else(|| Stock::new(item_id))
        .adjusted(delta, &item.name)?;
    let adjustment = Adjustment {
        seq: stock.adjustments,
        delta,
        reason,
        on_hand_after: stock.on_hand,
        actor: context::get().actor,
        at_ms: store::now_ms(),
        ticket_id: None,
    };
    save(&stock, &adjustment)?;
    audit::record(
        "pos.inventory.adjusted",
        &json!({"itemId": item_id, "delta": delta, "reason": adjustment.reason, "onHand": stock.on_hand}),
    )?;
    Response::json(201, &stock.view(&item.name))
}

pub fn set_threshold(req: &Request) -> Result<Response, Error> {
    let item_id = validate::path_id(req, "itemId")?;
    let threshold = parse_threshold(&req.json()?)?;
    crate::roles::managers_only("set a stock threshold")?;
    let item = menu::load(item_id)?;
    // Setting a threshold starts tracking, with nothing on hand until stock is counted in.
    let mut stock = find(item_id)?.unwrap_or_else(|| Stock::new(item_id));
    stock.low_stock_threshold = threshold;
    kv::set_json(&keys::stock(item_id), &stock)?;
    audit::record(
        "pos.inventory.threshold_set",
        &json!({"itemId": item_id, "lowStockThreshold": threshold}),
    )?;
    Response::json(200, &stock.view(&item.name))
}

pub fn get(req: &Request) -> Result<Response, Error> {
    let item_id = validate::path_id(req, "itemId")?;
    let item = menu::load(item_id)?;
    let stock = find(item_id)?
        .ok_or_else(|| Error::not_found(format!("menu item {item_id} has no inventory record")))?;
    let history = kv::list_json::<Adjustment>(&keys::stock_adjustments(item_id), HISTORY, None)?;
    let adjustments: Vec<Adjustment> = history.entries.into_iter().map(|(_, a)| a).collect();
    let mut body = serde_json::to_value(stock.view(&item.name))?;
    body["adjustments"] = serde_json::to_value(adjustments)?;
    Response::json(200, &body)
}

pub fn list(req: &Request) -> Result<Response, Error> {
    let low = validate::query_bool(req, "lowStock")?;
    let mut items = Vec::new();
    for stock in store::list_all::<Stock>(keys::STOCK)? {
        // Deleting an item drops its record, so a miss here is only a race with a delete.
        let Some(item) = menu::find(stock.item_id)? else {
            continue;
        };
        let view = stock.view(&item.name);
        if low.is_none_or(|l| view.low == l) {
            items.push(view);
        }
    }
    Response::json(200, &json!({ "items": items }))
}

/// New records for the tracked items among `needs` (item id → (name, qty sold)), or 409
/// `INSUFFICIENT_STOCK` naming the first item that would go below zero.
pub fn plan_sale(
    needs: &BTreeMap<u64, (String, i64)>,
    tracked: &BTreeMap<u64, Stock>,
) -> Result<Vec<Stock>, Error> {
    needs
        .iter()
        .filter_map(|(id, (name, qty))| tracked.get(id).map(|s| s.adjusted(-qty, name)))
        .collect()
}

/// Take a closed ticket's quantities out of stock. Reads and checks everything before
/// writing, so a shortage leaves no partial decrement behind.
pub fn take_for_sale(
    ticket_id: u64,
    needs: &BTreeMap<u64, (String, i64)>,
    actor: &str,
    now: u64,
) -> Result<(), Error> {
    let mut tracked = BTreeMap::new();
    for id in needs.keys() {
        if let Some(stock) = find(*id)? {
            tracked.insert(*id, stock);
        }
    }
    for stock in plan_sale(needs, &tracked)? {
        let adjustment = Adjustment {
            seq: stock.adjustments,
            delta: stock.on_hand - tracked[&stock.item_id].on_hand,
            reason: format!("sale: ticket {ticket_id}"),
            on_hand_after: stock.on_hand,
            actor: actor.to_string(),
            at_ms: now,
            ticket_id: Some(ticket_id),
        };
        save(&stock, &adjustment)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stock(item_id: u64, on_hand: i64) -> Stock {
        Stock {
            on_hand,
            ..Stock::new(item_id)
        }
    }

    #[test]
    fn stock_never_goes_negative() {
        let s = stock(1, 3);
        let after = s.adjusted(-3, "Soup").unwrap();
        assert_eq!(after.on_hand, 0);
        assert_eq!(after.adjustments, 1);
        let err = s.adjusted(-4, "Soup").unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (409, "INSUFFICIENT_STOCK"));
        assert!(err.message.contains("Soup"), "{}", err.message);
    }

    #[test]
    fn low_means_at_or_below_threshold() {
        let mut s = stock(1, 5);
        s.low_stock_threshold = 5;
        assert!(s.view("x").low);
        s.on_hand = 6;
        assert!(!s.view("x").low);
        assert!(
            Stock::new(2).view("y").low,
            "untouched stock is empty, so low"
        );
    }

    #[test]
    fn adjustment_bodies_name_their_field() {
        assert_eq!(
            parse_adjustment(&json!({"delta": 5, "reason": "delivery"})).unwrap(),
            (5, "delivery".to_string())
        );
        for (body, field) in [
            (json!({"delta": 0, "reason": "x"}), "delta"),
            (json!({"delta": 1.5, "reason": "x"}), "delta"),
            (json!({"reason": "x"}), "delta"),
            (json!({"delta": -1}), "reason"),
            (json!({"delta": -1, "reason": "r".repeat(201)}), "reason"),
        ] {
            assert_eq!(
                parse_adjustment(&body).unwrap_err().field.as_deref(),
                Some(field),
                "{body}"
            );
        }
        assert_eq!(
            parse_threshold(&json!({"lowStockThreshold": -1}))
                .unwrap_err()
                .field
                .as_deref(),
            Some("lowStockThreshold")
        );
    }

    #[test]
    fn a_sale_touches_only_tracked_items_and_fails_whole() {
        let needs = BTreeMap::from([
            (1, ("Soup".to_string(), 2)),
            (2, ("Bread".to_string(), 5)),
            (3, ("Tea".to_string(), 1)),
        ]);
        let tracked = BTreeMap::from([(1, stock(1, 10)), (2, stock(2, 5))]);
        let plan = plan_sale(&needs, &tracked).unwrap();
        assert_eq!(
            plan.iter()
                .map(|s| (s.item_id, s.on_hand))
                .collect::<Vec<_>>(),
            vec![(1, 8), (2, 0)]
        );
        let short = BTreeMap::from([(1, stock(1, 10)), (2, stock(2, 4))]);
        let err = plan_sale(&needs, &short).unwrap_err();
        assert!(err.message.contains("Bread"), "{}", err.message);
    }
}
