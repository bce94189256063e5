//! Point of sale: a menu with categories, inventory, tickets with taxed lines, card and
//! cash payments through the tenant's payment provider, and sales reports. All money is
//! integer cents.
//!
//! Written only against `nova-sdk`, as an outside module author would. This file is the
//! route table; each resource lives in its own module.

mod categories;
mod dates;
mod inventory;
mod keys;
mod menu;
mod money;
mod payments;
mod reports;
mod roles;
mod screens;
mod store;
mod tickets;
mod validate;

use nova_sdk::{Module, Router};

use payments::{capture, refunds, webhook};
use tickets::{create, lifecycle, lines};

/// The POS module.
pub struct Pos;

impl Module for Pos {
    fn router() -> Router {
        Router::new()
            .post("/menu/categories", categories::create)
            .get("/menu/categories", categories::list)
            .get("/menu/categories/{id}", categories::get)
            .put("/menu/categories/{id}", categories::update)
            .delete("/menu/categories/{id}", categories::delete)
            .post("/menu/items", menu::create)
            .get("/menu/items", menu::list)
            .get("/menu/items/{id}", menu::get)
            .put("/menu/items/{id}", menu::update)
            .delete("/menu/items/{id}", menu::delete)
            .get("/inventory", inventory::list)
            .get("/inventory/{itemId}", inventory::get)
            .put("/inventory/{itemId}", inventory::set_threshold)
            .post("/inventory/{itemId}/adjustments", inventory::adjust)
            .post("/tickets", create::create)
            .get("/tickets", create::list)
            .get("/tickets/{id}", create::get)
            .post("/tickets/{id}/lines", lines::add)
            .delete("/tickets/{id}/lines/{lineId}", lines::remove)
            .post("/tickets/{id}/void", lifecycle::void)
            .post("/tickets/{id}/close", lifecycle::close)
            .post("/tickets/{id}/payments", capture::take)
            .get("/tickets/{id}/payments", capture::list_for_ticket)
            .get("/payments/{id}", capture::get)
            .post("/payments/{id}/refunds", refunds::refund)
            .post("/payments/{id}/status", webhook::status)
            .get("/reports/sales", reports::sales)
            .get("/_views", screens::entry)
            .get("/_views/tickets", screens::tickets)
            .get("/_views/new", screens::new_ticket)
            .get("/_views/ticket", screens::ticket)
            .get("/_views/menu", screens::menu_screen)
            .get("/_views/categories", screens::categories)
            .get("/_views/stock", screens::stock)
            .get("/_views/report", screens::report)
    }
}

nova_sdk::export!(
    Pos,
    capabilities = ["kv", "audit", "outbound-http", "clock"],
    hosts = ["payments"],
    // POS keeps nothing between calls in its statics but the floor its tenant's old ticket
    // counter sets (see `store::old_counter_floor`), so a tenant's next call may run in the
    // instance its last one used, skipping instantiation.
    instances = reuse
);

#[cfg(test)]
mod tests {
    use super::*;
    use nova_sdk::Request;

    /// Every route reaches its handler: each request here is refused by validation, which
    /// runs before any host call, so the table can be checked without a host.
    #[test]
    fn every_route_reaches_its_handler() {
        let cases = [
            ("POST", "/menu/categories", "", "{}", "name"),
            ("GET", "/menu/categories/abc", "", "", "id"),
            ("PUT", "/menu/categories/1", "", "{}", "name"),
            ("DELETE", "/menu/categories/0", "", "", "id"),
            ("POST", "/menu/items", "", "{}", "name"),
            ("GET", "/menu/items", "active=maybe", "", "active"),
            ("GET", "/menu/items", "categoryId=x", "", "categoryId"),
            ("GET", "/menu/items/x", "", "", "id"),
            ("PUT", "/menu/items/1", "", "{}", "body"),
            ("DELETE", "/menu/items/x", "", "", "id"),
            ("GET", "/inventory", "lowStock=x", "", "lowStock"),
            ("GET", "/inventory/x", "", "", "itemId"),
            ("PUT", "/inventory/1", "", "{}", "lowStockThreshold"),
            (
                "POST",
                "/inventory/1/adjustments",
                "",
                r#"{"delta":0,"reason":"x"}"#,
                "delta",
            ),
            (
                "POST",
                "/tickets",
                "",
                r#"{"table":"1","items":[]}"#,
                "items",
            ),
            ("GET", "/tickets", "limit=0", "", "limit"),
            ("GET", "/tickets/abc", "", "", "id"),
            ("POST", "/tickets/1/lines", "", "{}", "name"),
            ("DELETE", "/tickets/1/lines/x", "", "", "lineId"),
            ("POST", "/tickets/1/void", "", "{}", "reason"),
            ("POST", "/tickets/x/close", "", "", "id"),
            ("POST", "/tickets/1/payments", "", "{}", "amountCents"),
            ("GET", "/tickets/x/payments", "", "", "id"),
            ("GET", "/payments/bad.id", "", "", "id"),
            ("POST", "/payments/pay_1/refunds", "", "{}", "amountCents"),
            ("GET", "/reports/sales", "to=2024-01-01", "", "from"),
        ];
        let router = Pos::router();
        for (method, path, query, body, field) in cases {
            let resp = router.handle(&Request::new(method, path, query, body.as_bytes()));
            let err: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
            assert_eq!(resp.status, 400, "{method} {path}: {err}");
            assert_eq!(err["error"]["field"], field, "{method} {path}");
        }
    }
}
