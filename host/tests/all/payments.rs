//! POS with the payment provider: the sandbox runs as its own process, Nova is reached by
//! its settlement webhooks, and every money path is checked end to end.

use crate::common;

use std::time::{Duration, Instant};

use common::sandbox::start;
use common::{Backend, PAYMENTS_SECRET, TestServer};
use nova::webhooks::signature;
use reqwest::Method;
use serde_json::{Value, json};

/// A tenant with POS on; returns (superadmin token, tenant id, the tenant admin's token):
/// these flows refund and change the menu, which POS allows only the restaurant's admin.
async fn pos_tenant(server: &TestServer) -> (String, String, String) {
    let admin = server.superadmin().await;
    let (tenant, _staff) = server.tenant(&admin, "Bistro").await;
    server.toggle(&admin, &tenant, "pos", true).await;
    let token = server.tenant_user(&admin, &tenant, "admin").await;
    (admin, tenant, token)
}

async fn pos(
    server: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let path = format!("/v1/portal/pos{path}");
    if method == Method::GET {
        server.get(token, &path).await
    } else {
        server.send(method, token, &path, &body).await
    }
}

/// Poll the payment until the provider's webhook settled it (a condition, not a delay).
async fn settled(server: &TestServer, token: &str, payment: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, p) = pos(
            server,
            token,
            Method::GET,
            &format!("/payments/{payment}"),
            Value::Null,
        )
        .await;
        assert_eq!(status, 200, "{p}");
        if p["status"] == "settled" {
            return p;
        }
        assert!(Instant::now() < deadline, "never settled: {p}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn audit_actions(server: &TestServer, admin: &str, tenant: &str) -> Vec<(String, Value)> {
    let (status, body) = server
        .get(
            admin,
            &format!("/v1/superadmin/audit?tenantId={tenant}&module=pos&limit=500"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["actor"].clone(),
            )
        })
        .collect()
}

async fn full_sale_flow(backend: Backend) {
    let (server, _sandbox) = start(backend).await;
    let (admin, tenant, token) = pos_tenant(&server).await;

    let (s, item) = pos(
        &server,
        &token,
        Method::POST,
        "/menu/items",
        json!({"name": "Burger", "priceCents": 1000, "taxRateBps": 1000}),
    )
    .await;
    assert_eq!(s, 201, "{item}");
    let item_id = item["id"].as_u64().unwrap();
    let (s, stock) = pos(
        &server,
        &token,
        Method::POST,
        &format!("/inventory/{item_id}/adjustments"),
        json!({"delta": 5, "reason": "delivery"}),
    )
    .await;
    assert_eq!((s, stock["onHand"].as_i64()), (201, Some(5)), "{stock}");

    let (s, ticket) = pos(
        &server,
        &token,
        Method::POST,
        "/tickets",
        json!({"table": "7", "items": [{"itemId": item_id, "qty": 2}]}),
    )
    .await;
    assert_eq!(s, 201, "{ticket}");
    assert_eq!(ticket["totalCents"], 2200, "2 × 1000 + 10% tax");
    let id = ticket["id"].as_u64().unwrap();

    // Closing before paying is refused and changes nothing.
    let (s, body) = pos(
        &server,
        &token,
        Method::POST,
        &format!("/tickets/{id}/close"),
        json!({}),
    )
    .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("PAYMENT_REQUIRED")),
        "{body}"
    );

    let (s, payment) = pos(
        &server,
        &token,
        Method::POST,
        &format!("/tickets/{id}/payments"),
        json!({"amountCents": 2200, "method": "card"}),
    )
    .await;
    assert_eq!(s, 201, "{payment}");
    assert_eq!(payment["status"], "captured");
    let pay = payment["id"].as_str().unwrap().to_string();
    assert!(pay.starts_with("pay_"), "the provider's id: {pay}");

    let (s, closed) = pos(
        &server,
        &token,
        Method::POST,
        &format!("/tickets/{id}/close"),
        json!({}),
    )
    .await;
    assert_eq!(
        (s, closed["status"].as_str()),
        (200, Some("closed")),
        "{closed}"
    );
    let (_, stock) = pos(
        &server,
        &token,
        Method::GET,
        &format!("/inventory/{item_id}"),
        Value::Null,
    )
    .await;
    assert_eq!(stock["onHand"], 3, "the sale took two: {stock}");

    // The sandbox's signed webhook reaches POS through the host.
    let p = settled(&server, &token, &pay).await;
    assert_eq!(p["amountCents"], 2200);

    // Partial refund, an over-refund refused, then the rest.
    let (s, r) = pos(
        &server,
        &token,
        Method::POST,
        &format!("/payments/{pay}/refunds"),
        json!({"amountCents": 500}),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    let (s, r) = pos(
        &server,
        &token,
        Method::POST,
        &format!("/payments/{pay}/refunds"),
        json!({"amountCents": 1701}),
    )
    .await;
    assert_eq!(
        (s, r["error"]["code"].as_str()),
        (409, Some("REFUND_EXCEEDS_CAPTURED")),
        "{r}"
    );
    let (s, r) = pos(
        &server,
        &token,
        Method::POST,
        &format!("/payments/{pay}/refunds"),
        json!({"amountCents": 1700}),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    let (_, p) = pos(
        &server,
        &token,
        Method::GET,
        &format!("/payments/{pay}"),
        Value::Null,
    )
    .await;
    assert_eq!(
        (p["status"].as_str(), p["refundedCents"].as_i64()),
        (Some("refunded"), Some(2200)),
        "{p}"
    );

    let actions = audit_actions(&server, &admin, &tenant).await;
    for a in [
        "pos.ticket.opened",
        "pos.payment.captured",
        "pos.ticket.closed",
        "pos.payment.settled",
        "pos.payment.refunded",
    ] {
        assert!(
            actions.iter().any(|(x, _)| x == a),
            "{a} missing from {actions:?}"
        );
    }
    let settled_by = actions
        .iter()
        .find(|(a, _)| a == "pos.payment.settled")
        .unwrap();
    assert_eq!(settled_by.1, "webhook:payments");
}

async fn last_units_never_oversell(backend: Backend) {
    let (server, _sandbox) = start(backend).await;
    let (_, _, token) = pos_tenant(&server).await;
    let (_, item) = pos(
        &server,
        &token,
        Method::POST,
        "/menu/items",
        json!({"name": "Last pie", "priceCents": 500, "taxRateBps": 0}),
    )
    .await;
    let item_id = item["id"].as_u64().unwrap();
    let (s, _) = pos(
        &server,
        &token,
        Method::POST,
        &format!("/inventory/{item_id}/adjustments"),
        json!({"delta": 5, "reason": "the last five"}),
    )
    .await;
    assert_eq!(s, 201);

    // 16 paid tickets for one unit each, closed at the same moment.
    let mut ids = Vec::new();
    for n in 0..16 {
        let (s, t) = pos(
            &server,
            &token,
            Method::POST,
            "/tickets",
            json!({"table": format!("{n}"), "items": [{"itemId": item_id, "qty": 1}]}),
        )
        .await;
        assert_eq!(s, 201, "{t}");
        let id = t["id"].as_u64().unwrap();
        let (s, p) = pos(
            &server,
            &token,
            Method::POST,
            &format!("/tickets/{id}/payments"),
            json!({"amountCents": 500, "method": "cash"}),
        )
        .await;
        assert_eq!(s, 201, "{p}");
        ids.push(id);
    }
    let server = std::sync::Arc::new(server);
    let closes = ids.into_iter().map(|id| {
        let server = server.clone();
        let token = token.clone();
        tokio::spawn(async move {
            pos(
                &server,
                &token,
                Method::POST,
                &format!("/tickets/{id}/close"),
                json!({}),
            )
            .await
        })
    });
    let results = futures_util::future::join_all(closes).await;
    let (mut sold, mut refused) = (0, 0);
    for r in results {
        let (s, body) = r.unwrap();
        match s {
            200 => sold += 1,
            409 => {
                assert_eq!(body["error"]["code"], "INSUFFICIENT_STOCK", "{body}");
                refused += 1;
            }
            other => panic!("close answered {other}: {body}"),
        }
    }
    assert_eq!((sold, refused), (5, 11));
    let (_, stock) = pos(
        &server,
        &token,
        Method::GET,
        &format!("/inventory/{item_id}"),
        Value::Null,
    )
    .await;
    assert_eq!(stock["onHand"], 0, "{stock}");
}

both_backends!(full_sale_flow, last_units_never_oversell);

/// A signed settlement for `payment` of `tenant`, at time `t`.
fn delivery(tenant: &str, payment: &str, event: &str) -> String {
    json!({"id": event, "type": "payment.settled", "paymentId": payment, "status": "settled",
        "amountCents": 100, "tenantId": tenant, "reference": "1"})
    .to_string()
}

async fn post_webhook(
    server: &TestServer,
    payment: &str,
    body: &str,
    sig: Option<String>,
) -> (u16, Value) {
    let mut req = server
        .http
        .post(server.url(&format!("/v1/portal/pos/payments/{payment}/status")))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(sig) = sig {
        req = req.header("x-sandbox-signature", sig);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_signatures_timestamps_and_replays() {
    let (server, _sandbox) = start(Backend::Sqlite).await;
    let (_, tenant, token) = pos_tenant(&server).await;
    let now = signature::unix_now();
    let invocations = server.count("invocations").await;

    let body = delivery(&tenant, "pay_unknown", "evt_1");
    let refused = [
        ("unsigned", None, "WEBHOOK_SIGNATURE_INVALID"),
        (
            "wrong secret",
            Some(signature::sign("not-the-secret", now, body.as_bytes())),
            "WEBHOOK_SIGNATURE_INVALID",
        ),
        (
            "tampered",
            Some(signature::sign(
                PAYMENTS_SECRET,
                now,
                delivery(&tenant, "pay_unknown", "evt_2").as_bytes(),
            )),
            "WEBHOOK_SIGNATURE_INVALID",
        ),
        (
            "old",
            Some(signature::sign(PAYMENTS_SECRET, now - 301, body.as_bytes())),
            "WEBHOOK_TIMESTAMP_OUT_OF_RANGE",
        ),
        (
            "garbage",
            Some("t=soon,v1=nothex".into()),
            "WEBHOOK_SIGNATURE_INVALID",
        ),
    ];
    for (what, sig, code) in refused {
        let (s, b) = post_webhook(&server, "pay_unknown", &body, sig).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (401, Some(code)),
            "{what}: {b}"
        );
    }
    assert_eq!(
        server.count("invocations").await,
        invocations,
        "nothing was invoked"
    );
    assert_eq!(server.count("webhook_deliveries").await, 0);

    // A tenant's own token is no way in either.
    let (s, _) = server
        .send(
            Method::POST,
            &token,
            "/v1/portal/pos/payments/pay_unknown/status",
            &serde_json::from_str::<Value>(&body).unwrap(),
        )
        .await;
    assert_eq!(s, 401);

    // Properly signed but for a payment POS does not know (yet): POS answers 404, and the
    // delivery is not recorded, so the provider's retry is taken again.
    let sig = signature::sign(PAYMENTS_SECRET, now, body.as_bytes());
    for _ in 0..2 {
        let (s, b) = post_webhook(&server, "pay_unknown", &body, Some(sig.clone())).await;
        assert_eq!(s, 404, "{b}");
    }
    assert_eq!(server.count("invocations").await, invocations + 2);

    // A delivery POS accepted, sent again, is a replay and runs nothing.
    let (_, t) = pos(
        &server,
        &token,
        Method::POST,
        "/tickets",
        json!({"table": "1", "items": [{"name": "Tea", "qty": 1, "priceCents": 100}]}),
    )
    .await;
    let (s, cash) = pos(
        &server,
        &token,
        Method::POST,
        &format!("/tickets/{}/payments", t["id"]),
        json!({"amountCents": 100, "method": "cash"}),
    )
    .await;
    assert_eq!(s, 201, "{cash}");
    let paid = cash["id"].as_str().unwrap();
    let settle = delivery(&tenant, paid, "evt_cash");
    let sig = signature::sign(PAYMENTS_SECRET, now, settle.as_bytes());
    let (s, b) = post_webhook(&server, paid, &settle, Some(sig.clone())).await;
    assert_eq!(s, 200, "{b}");
    let before = server.count("invocations").await;
    let (s, b) = post_webhook(&server, paid, &settle, Some(sig)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("WEBHOOK_REPLAYED")),
        "{b}"
    );
    assert_eq!(
        server.count("invocations").await,
        before,
        "a replay invokes nothing"
    );

    // A body naming a tenant that does not exist, or another payment than the path.
    let stranger = delivery("no-such-tenant", "pay_x", "evt_3");
    let (s, _) = post_webhook(
        &server,
        "pay_x",
        &stranger,
        Some(signature::sign(PAYMENTS_SECRET, now, stranger.as_bytes())),
    )
    .await;
    assert_eq!(s, 404);
    let mismatch = delivery(&tenant, "pay_y", "evt_4");
    let (s, b) = post_webhook(
        &server,
        "pay_x",
        &mismatch,
        Some(signature::sign(PAYMENTS_SECRET, now, mismatch.as_bytes())),
    )
    .await;
    assert_eq!(
        (s, b["error"]["field"].as_str()),
        (400, Some("paymentId")),
        "{b}"
    );

    // Reaching the status route through the portal as a tenant user is refused by POS.
    let (s, _) = pos(
        &server,
        &token,
        Method::POST,
        "/payments/pay_unknown/status/",
        serde_json::from_str(&body).unwrap(),
    )
    .await;
    assert!(s == 403 || s == 404, "a user cannot settle payments: {s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_to_a_host_not_granted_is_refused_and_audited() {
    let (server, _sandbox) = start(Backend::Sqlite).await;
    let (admin, tenant, token) = pos_tenant(&server).await;
    // Take the `payments` host away from POS, keeping the capability.
    let (s, g) = server
        .send(
            Method::PUT,
            &admin,
            "/v1/superadmin/modules/pos/grants",
            &json!({"capabilities": ["kv", "audit", "outbound-http", "clock"], "hosts": []}),
        )
        .await;
    assert_eq!((s, g["effectiveHosts"].clone()), (200, json!([])), "{g}");

    let (_, t) = pos(
        &server,
        &token,
        Method::POST,
        "/tickets",
        json!({"table": "1", "items": [{"name": "Tea", "qty": 1, "priceCents": 300}]}),
    )
    .await;
    let id = t["id"].as_u64().unwrap();
    let (s, b) = pos(
        &server,
        &token,
        Method::POST,
        &format!("/tickets/{id}/payments"),
        json!({"amountCents": 300}),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (403, Some("OUTBOUND_NOT_ALLOWED")),
        "{b}"
    );
    let (_, list) = pos(
        &server,
        &token,
        Method::GET,
        &format!("/tickets/{id}/payments"),
        Value::Null,
    )
    .await;
    assert_eq!(list["payments"], json!([]), "no payment was stored: {list}");

    let (_, audit) = server
        .get(
            &admin,
            &format!("/v1/superadmin/audit?tenantId={tenant}&action=outbound.denied"),
        )
        .await;
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{audit}");
    assert_eq!(events[0]["payload"]["host"], "payments");

    // A host the module never declared stays refused even when a superadmin grants it.
    let hostile = nova_artifacts::guests::HOSTILE;
    assert_eq!(
        server.install(&admin, "hostile", hostile).await.status(),
        201
    );
    let (s, _) = server
        .send(
            Method::PUT,
            &admin,
            "/v1/superadmin/modules/hostile/grants",
            &json!({"capabilities": ["outbound-http"], "hosts": ["payments", "evil.example"]}),
        )
        .await;
    assert_eq!(s, 200);
    server.toggle(&admin, &tenant, "hostile", true).await;
    let (s, b) = server
        .get(
            &token,
            "/v1/portal/hostile/fetch?url=http://evil.example/steal",
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (403, Some("OUTBOUND_NOT_ALLOWED")),
        "{b}"
    );
    // The declared and granted name reaches the sandbox.
    let (s, b) = server
        .get(
            &token,
            "/v1/portal/hostile/fetch?url=http://payments/healthz",
        )
        .await;
    assert_eq!((s, b["status"].as_u64()), (200, Some(200)), "{b}");
    let (s, b) = server
        .get(&token, "/v1/portal/hostile/fetch?url=file:///etc/passwd")
        .await;
    assert!(s >= 400, "{s} {b}");
}
