//! Portal screens through the API: a module built only from `nova-sdk` (the `notes`
//! fixture) serves its screens through the normal call path, and a hostile module's
//! screens are refused with `VIEW_INVALID` (and recorded) when they break `nova.view/1`,
//! or passed on as inert data when they only carry markup in their text.

use crate::common;

use common::{Backend, TestServer, guests};
use reqwest::Method;
use serde_json::{Value, json};

async fn screens_pass_through_the_host_checks(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    assert_eq!(
        server
            .install(&admin, "notes", guests::NOTES)
            .await
            .status(),
        201
    );
    assert_eq!(
        server
            .install(&admin, "hostile", guests::HOSTILE)
            .await
            .status(),
        201
    );
    let (tenant, staff) = server.tenant(&admin, "Views Cafe").await;

    // Off: the screens are refused like any other call.
    let (status, body) = server.get(&staff, "/v1/portal/notes/_views").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("MODULE_DISABLED"))
    );

    server.toggle(&admin, &tenant, "notes", true).await;
    let (status, screens) = server.get(&staff, "/v1/portal/notes/_views").await;
    assert_eq!(status, 200, "{screens}");
    assert_eq!(
        (screens["title"].as_str(), screens["home"].as_str()),
        (Some("Shift notes"), Some("notes"))
    );
    let (status, view) = server.get(&staff, "/v1/portal/notes/_views/notes").await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["format"], "nova.view/1");

    // The form's route refuses a note that is too long, naming the field; a good one shows.
    let (status, err) = server
        .send(
            Method::POST,
            &staff,
            "/v1/portal/notes/notes",
            &json!({"text": "x".repeat(281)}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (400, Some("text")),
        "{err}"
    );
    // Notes take time-ordered ids (nova_sdk::id) and list newest first
    // (kv::list_descending), on both backends.
    let mut ids = Vec::new();
    for text in ["Out of oat milk", "Dishwasher fixed", "Call the baker"] {
        let (status, note) = server
            .send(
                Method::POST,
                &staff,
                "/v1/portal/notes/notes",
                &json!({ "text": text }),
            )
            .await;
        assert_eq!(status, 201, "{note}");
        ids.push(note["id"].as_str().unwrap().to_string());
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, ids, "ids sort by creation");
    let (_, view) = server.get(&staff, "/v1/portal/notes/_views/notes").await;
    let table = view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "table")
        .cloned()
        .unwrap_or(Value::Null);
    let texts: Vec<&str> = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cells"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["Call the baker", "Dishwasher fixed", "Out of oat milk"],
        "{view}"
    );

    // A hostile module: markup in text is only data and passes; everything else is refused.
    server.toggle(&admin, &tenant, "hostile", true).await;
    let (status, markup) = server.get(&staff, "/v1/portal/hostile/_views/markup").await;
    assert_eq!(status, 200, "{markup}");
    assert!(
        markup["blocks"][1]["text"]
            .as_str()
            .unwrap()
            .contains("<script>")
    );
    // (5 MB is over the limit on any module answer, so the call itself is stopped.)
    for (view, code, at) in [
        ("script-link", "VIEW_INVALID", "blocks[0].items[0].view"),
        ("escape", "VIEW_INVALID", "blocks[0].items[0].path"),
        ("huge", "MODULE_LIMIT", "limit"),
        (
            "unknown-block",
            "VIEW_INVALID",
            "blocks[0].type must be one of heading",
        ),
    ] {
        let (status, err) = server
            .get(&staff, &format!("/v1/portal/hostile/_views/{view}"))
            .await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (502, Some(code)),
            "{view}: {err}"
        );
        assert!(
            err["error"]["message"].as_str().unwrap().contains(at),
            "{view}: {err}"
        );
    }
    // Each refusal is recorded for the tenant, and every screen call left its invocation record.
    let (_, audit) = server
        .get(
            &admin,
            &format!("/v1/superadmin/audit?tenantId={tenant}&action=portal.view_invalid"),
        )
        .await;
    let refused: Vec<String> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["payload"]["path"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    for view in ["script-link", "escape", "unknown-block"] {
        assert!(
            refused.iter().any(|p| p == &format!("/_views/{view}")),
            "{view} not recorded: {audit}"
        );
    }
    let (_, records) = server
        .get(
            &admin,
            &format!("/v1/superadmin/invocations?tenantId={tenant}&module=hostile&limit=100"),
        )
        .await;
    assert_eq!(
        records["invocations"].as_array().unwrap().len(),
        5,
        "{records}"
    );

    // Any other route of a module is not a screen and is not checked as one.
    let (status, _) = server.get(&staff, "/v1/portal/hostile/ping").await;
    assert_eq!(status, 200);
}

/// Every screen the bundled modules ship passes the host's checks (the types the committed
/// JSON Schemas are generated from), with data in them.
async fn bundled_screens_keep_the_format(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, staff) = server.tenant(&admin, "Bundled Cafe").await;
    server.toggle(&admin, &tenant, "support", true).await;
    let (status, t) = server
        .send(
            Method::POST,
            &staff,
            "/v1/portal/support/tickets",
            &json!({"subject": "Till", "body": "offline", "severity": "S1"}),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    let (status, _) = server
        .send(
            Method::POST,
            &staff,
            &format!("/v1/portal/support/tickets/{}/replies", t["id"]),
            &json!({"body": "still offline"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, screens) = server.get(&staff, "/v1/portal/support/_views").await;
    let mut views: Vec<String> = screens["menu"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["view"].as_str().unwrap().to_string())
        .collect();
    views.push(format!("ticket?id={}", t["id"]));
    assert_eq!(views.len(), 4, "{screens}");
    for v in views {
        let (status, doc) = server
            .get(&staff, &format!("/v1/portal/support/_views/{v}"))
            .await;
        assert_eq!(status, 200, "{v}: {doc}");
        assert_eq!(doc["format"], "nova.view/1", "{v}");
    }
    // A bad param is the module's own 400, naming it.
    let (status, err) = server
        .get(&staff, "/v1/portal/support/_views/ticket?id=zero")
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (400, Some("id")),
        "{err}"
    );

    // POS: a category and an item (the restaurant's admin keeps the menu), an open ticket
    // with a line, a closed one; every screen, both states, as staff and as the admin.
    server.toggle(&admin, &tenant, "pos", true).await;
    let owner = server.tenant_user(&admin, &tenant, "admin").await;
    let (status, category) = server
        .send(
            Method::POST,
            &owner,
            "/v1/portal/pos/menu/categories",
            &json!({"name": "Coffee"}),
        )
        .await;
    assert_eq!(status, 201, "{category}");
    let (status, item) = server
        .send(
            Method::POST,
            &owner,
            "/v1/portal/pos/menu/items",
            &json!({"name": "Espresso", "priceCents": 250, "taxRateBps": 0,
                    "categoryId": category["id"]}),
        )
        .await;
    assert_eq!(status, 201, "{item}");
    let mut tickets = Vec::new();
    for table in ["1", "2"] {
        let (status, t) = server
            .send(
                Method::POST,
                &staff,
                "/v1/portal/pos/tickets",
                &json!({"table": table, "items": [{"itemId": item["id"], "qty": 2}]}),
            )
            .await;
        assert_eq!(status, 201, "{t}");
        tickets.push(t["id"].clone());
    }
    let (status, paid) = server
        .send(
            Method::POST,
            &staff,
            &format!("/v1/portal/pos/tickets/{}/payments", tickets[1]),
            &json!({"amountCents": 500, "method": "cash"}),
        )
        .await;
    assert_eq!(status, 201, "{paid}");
    let (status, closed) = server
        .send(
            Method::POST,
            &staff,
            &format!("/v1/portal/pos/tickets/{}/close", tickets[1]),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{closed}");
    let (_, screens) = server.get(&staff, "/v1/portal/pos/_views").await;
    let mut views: Vec<String> = screens["menu"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["view"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        views,
        ["tickets", "new", "menu", "categories", "stock", "report"],
        "{screens}"
    );
    views.extend(tickets.iter().map(|id| format!("ticket?id={id}")));
    for v in views {
        for who in [&staff, &owner] {
            let (status, doc) = server.get(who, &format!("/v1/portal/pos/_views/{v}")).await;
            assert_eq!(status, 200, "{v}: {doc}");
        }
    }
    // The open ticket offers its menu as numbers (an id is sent as the route wants it).
    let (_, open) = server
        .get(
            &staff,
            &format!("/v1/portal/pos/_views/ticket?id={}", tickets[0]),
        )
        .await;
    let add = open["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "form" && b["submit"] == "Add line")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        add["fields"][0]["options"][0]["value"], item["id"],
        "{open}"
    );
    let (_, report) = server.get(&staff, "/v1/portal/pos/_views/report").await;
    assert_eq!(
        report["blocks"][0]["items"][1]["value"], closed["totalCents"],
        "{report}"
    );
}

/// The forms a screen offers, by their submit label.
fn forms(view: &Value) -> Vec<String> {
    view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "form")
        .map(|b| b["submit"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// POS offers staff only what staff may do, and its routes refuse the rest whatever the
/// screen showed: the module decides from the role the host hands it.
async fn staff_are_offered_and_allowed_only_staff_actions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, staff) = server.tenant(&admin, "Roles Cafe").await;
    server.toggle(&admin, &tenant, "pos", true).await;
    let owner = server.tenant_user(&admin, &tenant, "admin").await;
    let (_, t) = server
        .send(
            Method::POST,
            &staff,
            "/v1/portal/pos/tickets",
            &json!({"table": "4"}),
        )
        .await;
    let ticket = format!("/v1/portal/pos/_views/ticket?id={}", t["id"]);

    let (_, as_staff) = server.get(&staff, &ticket).await;
    let (_, as_owner) = server.get(&owner, &ticket).await;
    assert!(
        !forms(&as_staff).contains(&"Void ticket".to_string()),
        "{as_staff}"
    );
    assert!(
        forms(&as_owner).contains(&"Void ticket".to_string()),
        "{as_owner}"
    );
    let (_, menu_staff) = server.get(&staff, "/v1/portal/pos/_views/menu").await;
    let (_, menu_owner) = server.get(&owner, "/v1/portal/pos/_views/menu").await;
    assert_eq!(forms(&menu_staff), Vec::<String>::new(), "{menu_staff}");
    assert_eq!(forms(&menu_owner), ["Add item"], "{menu_owner}");

    // Sent by hand, staff's void is refused, writes nothing and is recorded.
    let void = format!("/v1/portal/pos/tickets/{}/void", t["id"]);
    let kv_before = server.count("module_kv").await;
    let (status, err) = server
        .send(
            Method::POST,
            &staff,
            &void,
            &json!({"reason": "walked out"}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (403, Some("FORBIDDEN")),
        "{err}"
    );
    assert_eq!(server.count("module_kv").await, kv_before);
    let records = server
        .invocations_for(&admin, err["error"]["requestId"].as_str().unwrap())
        .await;
    assert_eq!(records[0]["status"], 403, "{records:?}");
    for (path, body) in [
        ("/v1/portal/pos/menu/categories", json!({"name": "Tea"})),
        (
            "/v1/portal/pos/menu/items",
            json!({"name": "Tea", "priceCents": 200, "taxRateBps": 0}),
        ),
    ] {
        let (status, err) = server.send(Method::POST, &staff, path, &body).await;
        assert_eq!(status, 403, "{path}: {err}");
    }
    // The admin's void goes through.
    let (status, voided) = server
        .send(
            Method::POST,
            &owner,
            &void,
            &json!({"reason": "walked out"}),
        )
        .await;
    assert_eq!(
        (status, voided["status"].as_str()),
        (200, Some("void")),
        "{voided}"
    );
}

both_backends!(
    screens_pass_through_the_host_checks,
    bundled_screens_keep_the_format,
    staff_are_offered_and_allowed_only_staff_actions
);
