//! The main flow through a real server: enable a module, call it, read its records; switch
//! it off; tenants never see each other's data; a restart keeps everything.

use crate::common;

use common::{Backend, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

fn ticket(table: &str) -> Value {
    json!({"table": table, "items": [{"name": "Soup", "qty": 2, "priceCents": 450}, {"name": "Bread", "qty": 1, "priceCents": 199}]})
}

async fn walkthrough(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, staff) = server.tenant(&admin, "Luigi").await;

    // Off by default: refused, and the refusal is recorded.
    let resp = server
        .http
        .post(server.url("/v1/portal/pos/tickets"))
        .bearer_auth(&staff)
        .json(&ticket("1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let denied_id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "MODULE_DISABLED");
    assert_eq!(body["error"]["requestId"], denied_id.as_str());
    let records = server.invocations_for(&admin, &denied_id).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["outcome"], "denied");
    assert_eq!(records[0]["status"], 403);

    server.toggle(&admin, &tenant, "pos", true).await;
    let resp = server
        .http
        .post(server.url("/v1/portal/pos/tickets"))
        .bearer_auth(&staff)
        .json(&ticket("4"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let created: Value = resp.json().await.unwrap();
    assert_eq!(created["subtotalCents"], 1099);
    assert_eq!(created["totalCents"], 1099);
    assert_eq!(created["table"], "4");
    let id = created["id"].as_u64().unwrap();

    let (status, fetched) = server
        .get(&staff, &format!("/v1/portal/pos/tickets/{id}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(fetched, created);

    // The invocation record of the create, with its fuel and version.
    let records = server.invocations_for(&admin, &request_id).await;
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r["tenantId"], tenant.as_str());
    assert_eq!(r["module"], "pos");
    assert_eq!(r["version"], "1");
    assert_eq!(r["method"], "POST");
    assert_eq!(r["path"], "/tickets");
    assert_eq!(r["status"], 201);
    assert_eq!(r["outcome"], "ok");
    assert!(r["fuel"].as_i64().unwrap() > 0);

    // The domain audit record written through the audit import, and the toggle's.
    let (_, audit) = server
        .get(
            &admin,
            "/v1/superadmin/audit?module=pos&action=pos.ticket.opened",
        )
        .await;
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["payload"]["ticketId"], id);
    assert_eq!(events[0]["requestId"], request_id.as_str());
    let (_, toggles) = server
        .get(&admin, &format!("/v1/superadmin/audit?module=superadmin&action=registration.module_toggled&tenantId={tenant}"))
        .await;
    let toggles = toggles["events"].as_array().unwrap();
    assert_eq!(toggles.len(), 1);
    assert_eq!(
        toggles[0]["payload"]["delta"]["toggles"]["pos"],
        json!({"previous": null, "current": true})
    );
    assert_eq!(toggles[0]["actor"], common::SUPERADMIN_EMAIL);

    // Switched off: the very next request is refused.
    server.toggle(&admin, &tenant, "pos", false).await;
    let (status, body) = server.get(&staff, "/v1/portal/pos/tickets?limit=1").await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "MODULE_DISABLED");
    let (_, toggles) = server
        .get(
            &admin,
            &format!(
                "/v1/superadmin/audit?action=registration.module_toggled&tenantId={tenant}&limit=1"
            ),
        )
        .await;
    assert_eq!(
        toggles["events"][0]["payload"]["delta"]["toggles"]["pos"],
        json!({"previous": true, "current": false})
    );

    // Metrics moved.
    let metrics = server.metrics().await;
    assert!(
        metrics
            .contains(r#"nova_api_superadmin_module_toggle_total{module="pos",enabled="false"}"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"nova_module_invocations_total{module="pos",outcome="ok"}"#));
    assert!(metrics.contains(r#"nova_module_invocations_total{module="pos",outcome="denied"}"#));
    assert!(metrics.contains("nova_module_invocation_duration_seconds_bucket"));
    assert!(metrics.contains(r#"http_request_duration_seconds_bucket{service="api""#));
}

async fn tenants_are_isolated(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (a, staff_a) = server.tenant(&admin, "Alpha").await;
    let (b, staff_b) = server.tenant(&admin, "Beta").await;
    server.toggle(&admin, &a, "pos", true).await;
    server.toggle(&admin, &b, "pos", true).await;

    let (status, ta) = server
        .send(
            Method::POST,
            &staff_a,
            "/v1/portal/pos/tickets",
            &ticket("A-table"),
        )
        .await;
    assert_eq!(status, 201);
    // Same module, same keys (ticket 1 for both), separate data.
    let (_, list_b) = server
        .get(&staff_b, "/v1/portal/pos/tickets?limit=10")
        .await;
    assert_eq!(list_b["tickets"], json!([]));
    let (status, _) = server
        .get(&staff_b, &format!("/v1/portal/pos/tickets/{}", ta["id"]))
        .await;
    assert_eq!(status, 404);
    let (_, tb) = server
        .send(
            Method::POST,
            &staff_b,
            "/v1/portal/pos/tickets",
            &ticket("B-table"),
        )
        .await;
    assert_eq!(ta["id"], tb["id"], "each tenant has its own sequence");
    let (_, got_a) = server
        .get(&staff_a, &format!("/v1/portal/pos/tickets/{}", ta["id"]))
        .await;
    assert_eq!(got_a["table"], "A-table");
    let (_, got_b) = server
        .get(&staff_b, &format!("/v1/portal/pos/tickets/{}", tb["id"]))
        .await;
    assert_eq!(got_b["table"], "B-table");

    // Switching A off leaves B untouched.
    server.toggle(&admin, &a, "pos", false).await;
    assert_eq!(server.get(&staff_a, "/v1/portal/pos/tickets").await.0, 403);
    assert_eq!(server.get(&staff_b, "/v1/portal/pos/tickets").await.0, 200);
}

async fn restart_keeps_data(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, staff) = server.tenant(&admin, "Durable").await;
    server.toggle(&admin, &tenant, "pos", true).await;
    let mut ids = Vec::new();
    for table in ["1", "2", "3"] {
        let (status, t) = server
            .send(
                Method::POST,
                &staff,
                "/v1/portal/pos/tickets",
                &ticket(table),
            )
            .await;
        assert_eq!(status, 201);
        ids.push(t["id"].as_u64().unwrap());
    }
    let server = server.restart().await;
    // Tokens survive (same signing key), toggles survive, data survives, newest first.
    let (status, list) = server.get(&staff, "/v1/portal/pos/tickets?limit=10").await;
    assert_eq!(status, 200);
    let got: Vec<u64> = list["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    assert_eq!(got, vec![ids[2], ids[1], ids[0]]);
    // Numbering runs on: the stopped server gave back the rest of its block.
    let (status, t) = server
        .send(Method::POST, &staff, "/v1/portal/pos/tickets", &ticket("4"))
        .await;
    assert_eq!(status, 201);
    assert_eq!(t["id"].as_u64().unwrap(), ids[2] + 1);
    let (_, page) = server.get(&staff, "/v1/portal/pos/tickets?limit=2").await;
    assert_eq!(page["tickets"].as_array().unwrap().len(), 2);
    let cursor = page["nextCursor"].as_str().unwrap();
    let (_, rest) = server
        .get(
            &staff,
            &format!("/v1/portal/pos/tickets?limit=3&cursor={cursor}"),
        )
        .await;
    assert_eq!(rest["tickets"][0]["id"], ids[1]);
    assert_eq!(rest["tickets"][1]["id"], ids[0]);
    assert_eq!(rest["nextCursor"], Value::Null);
    // Installed modules are loaded again, without reinstalling.
    let (_, modules) = server
        .get(&server.superadmin().await, "/v1/superadmin/modules")
        .await;
    let pos = modules["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "pos")
        .unwrap();
    assert_eq!(pos["versions"], 1);
}

async fn pos_validation_names_fields(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, staff) = server.tenant(&admin, "Strict").await;
    server.toggle(&admin, &tenant, "pos", true).await;
    let before = server.count("module_kv").await;
    let cases = [
        (
            json!({"items": [{"name": "a", "qty": 1, "priceCents": 1}]}),
            "table",
        ),
        (json!({"table": "1", "items": []}), "items"),
        (
            json!({"table": "1", "items": [{"name": "a", "qty": "two", "priceCents": 1}]}),
            "items[0].qty",
        ),
        (
            json!({"table": "1", "items": [{"name": "a", "qty": 1, "priceCents": -1}]}),
            "items[0].priceCents",
        ),
    ];
    for (body, field) in cases {
        let (status, err) = server
            .send(Method::POST, &staff, "/v1/portal/pos/tickets", &body)
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(err["error"]["code"], "VALIDATION");
        assert_eq!(err["error"]["field"], field, "{body}");
        assert!(!err["error"]["requestId"].as_str().unwrap().is_empty());
    }
    let resp = server
        .http
        .post(server.url("/v1/portal/pos/tickets"))
        .bearer_auth(&staff)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        server.get(&staff, "/v1/portal/pos/tickets?limit=0").await.0,
        400
    );
    assert_eq!(
        server.get(&staff, "/v1/portal/pos/tickets/abc").await.0,
        400
    );
    assert_eq!(
        server.get(&staff, "/v1/portal/pos/tickets/999").await.0,
        404
    );
    assert_eq!(
        server.count("module_kv").await,
        before,
        "refused requests write nothing"
    );
}

both_backends!(
    walkthrough,
    tenants_are_isolated,
    restart_keeps_data,
    pos_validation_names_fields
);
