//! Support desk: a tenant's users open tickets, the platform's support team responds and
//! triages them, and the SLA watcher reports deadlines at risk or breached.
//!
//! Written only against `nova-sdk`, as an outside module author would. This file is the
//! route table; each resource lives in its own module.

mod keys;
mod replies;
mod roles;
mod screens;
mod sla;
mod store;
mod ticket;
mod tickets;
mod time;
mod triage;
mod validate;
mod watcher;

use nova_sdk::{Module, Router};

/// The support module.
pub struct Support;

impl Module for Support {
    fn router() -> Router {
        Router::new()
            .post("/tickets", tickets::create)
            .get("/tickets", tickets::list)
            .get("/tickets/{id}", tickets::get)
            .post("/tickets/{id}/replies", replies::add)
            .post("/tickets/{id}/close", tickets::close)
            .put("/tickets/{id}/severity", triage::set_severity)
            .put("/tickets/{id}/assignee", triage::set_assignee)
            .post("/sla/check", watcher::check)
            .get("/_views", screens::entry)
            .get("/_views/tickets", screens::open)
            .get("/_views/closed", screens::closed)
            .get("/_views/new", screens::raise)
            .get("/_views/ticket", screens::thread)
    }
}

nova_sdk::export!(Support, capabilities = ["kv", "audit"]);

#[cfg(test)]
mod tests {
    use super::*;
    use nova_sdk::Request;

    /// Every route open to tenants reaches its handler: each request here is refused by
    /// validation, which runs before any host call, so the table can be checked without a
    /// host. (Triage and the SLA check ask the host who is calling first.)
    #[test]
    fn every_route_reaches_its_handler() {
        let cases = [
            (
                "POST",
                "/tickets",
                "",
                r#"{"subject":"s","body":"b"}"#,
                "severity",
            ),
            ("POST", "/tickets", "", "{", "body"),
            ("GET", "/tickets", "limit=0", "", "limit"),
            ("GET", "/tickets", "status=all", "", "status"),
            ("GET", "/tickets", "cursor=reply%2F1", "", "cursor"),
            ("GET", "/tickets/abc", "", "", "id"),
            ("GET", "/tickets/0", "", "", "id"),
            ("POST", "/tickets/1/replies", "", "{}", "body"),
            ("POST", "/tickets/x/replies", "", r#"{"body":"b"}"#, "id"),
            ("POST", "/tickets/-1/close", "", "", "id"),
        ];
        let router = Support::router();
        for (method, path, query, body, field) in cases {
            let resp = router.handle(&Request::new(method, path, query, body.as_bytes()));
            let err: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
            assert_eq!(resp.status, 400, "{method} {path}: {err}");
            assert_eq!(err["error"]["code"], "VALIDATION", "{method} {path}");
            assert_eq!(err["error"]["field"], field, "{method} {path}");
        }
    }

    #[test]
    fn unknown_paths_and_methods() {
        let router = Support::router();
        let status = |m, p| router.handle(&Request::new(m, p, "", b"")).status;
        assert_eq!(status("GET", "/nope"), 404);
        assert_eq!(status("DELETE", "/tickets/1"), 405);
        assert_eq!(status("GET", "/sla/check"), 405);
    }
}
