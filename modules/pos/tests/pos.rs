//! POS in an in-process Nova host (nova-testkit): the kit module authors use.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use nova_testkit::{Reply, Tenant, TestHost, build_component};
use serde_json::{Value, json};

fn component() -> &'static [u8] {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(|| build_component(env!("CARGO_MANIFEST_DIR")).expect("POS builds"))
}

/// A host with POS installed and a provider stub that captures, declines `tok_declined`
/// and refunds.
fn host() -> (TestHost, Tenant) {
    let host = TestHost::new();
    host.install("pos", component());
    let n = Arc::new(AtomicU32::new(0));
    host.stub_http("payments", move |req| {
        let k = n.fetch_add(1, Ordering::Relaxed);
        match req.path.as_str() {
            "/v1/captures" if req.json["source"] == "tok_declined" => (
                402,
                json!({"id": format!("pay_d{k}"), "status": "failed", "failureReason": "card_declined"}),
            ),
            "/v1/captures" if req.json["source"] == "tok_pending" => (
                201,
                json!({"id": format!("pay_p{k}"), "status": "pending", "amountCents": req.json["amountCents"]}),
            ),
            "/v1/captures" => (
                201,
                json!({"id": format!("pay_{k}"), "status": "captured", "amountCents": req.json["amountCents"]}),
            ),
            "/v1/refunds" => (
                201,
                json!({"id": format!("re_{k}"), "paymentId": req.json["paymentId"], "amountCents": req.json["amountCents"], "status": "refunded"}),
            ),
            _ => (404, json!({})),
        }
    });
    let tenant = host.tenant("Bistro");
    (host, tenant)
}

fn call(host: &TestHost, t: &Tenant, method: &str, path: &str, body: Value) -> Reply {
    let body = (!body.is_null()).then_some(body);
    host.call(t, "pos", method, path, body)
}

fn ok(reply: Reply, status: u16) -> Value {
    assert_eq!(reply.status, status, "{}", reply.text());
    reply.json()
}

fn actions(host: &TestHost, t: &Tenant) -> Vec<String> {
    host.audit(t).into_iter().map(|a| a.action).collect()
}

#[test]
fn totals_taxes_and_partial_refunds_in_integer_cents() {
    let (host, t) = host();
    let ticket = ok(
        call(
            &host,
            &t,
            "POST",
            "/tickets",
            json!({"table": "4", "items": [
                {"name": "Soup", "qty": 3, "priceCents": 333, "taxRateBps": 825},
                {"name": "Wine", "qty": 1, "priceCents": 1250, "taxRateBps": 1000}
            ]}),
        ),
        201,
    );
    // 999 × 8.25% = 82.4175 → 82; 1250 × 10% = 125.
    assert_eq!(
        (
            &ticket["subtotalCents"],
            &ticket["taxCents"],
            &ticket["totalCents"]
        ),
        (&json!(2249), &json!(207), &json!(2456))
    );
    let id = ticket["id"].as_u64().unwrap();

    // Paying more than is due is refused; paying in two parts is not.
    let over = call(
        &host,
        &t,
        "POST",
        &format!("/tickets/{id}/payments"),
        json!({"amountCents": 2457}),
    );
    assert_eq!(
        (over.status, over.error_field().as_deref()),
        (400, Some("amountCents"))
    );
    let cash = ok(
        call(
            &host,
            &t,
            "POST",
            &format!("/tickets/{id}/payments"),
            json!({"amountCents": 456, "method": "cash"}),
        ),
        201,
    );
    assert_eq!(cash["status"], "settled");
    let card = ok(
        call(
            &host,
            &t,
            "POST",
            &format!("/tickets/{id}/payments"),
            json!({"amountCents": 2000}),
        ),
        201,
    );
    let pay = card["id"].as_str().unwrap().to_string();
    let closed = ok(
        call(
            &host,
            &t,
            "POST",
            &format!("/tickets/{id}/close"),
            json!({}),
        ),
        200,
    );
    assert_eq!(
        (closed["paidCents"].as_i64(), closed["status"].as_str()),
        (Some(2456), Some("closed"))
    );

    ok(
        call(
            &host,
            &t,
            "POST",
            &format!("/payments/{pay}/refunds"),
            json!({"amountCents": 700}),
        ),
        201,
    );
    let too_much = call(
        &host,
        &t,
        "POST",
        &format!("/payments/{pay}/refunds"),
        json!({"amountCents": 1301}),
    );
    assert_eq!(
        (too_much.status, too_much.error_code().as_deref()),
        (409, Some("REFUND_EXCEEDS_CAPTURED"))
    );
    ok(
        call(
            &host,
            &t,
            "POST",
            &format!("/payments/{pay}/refunds"),
            json!({"amountCents": 1300}),
        ),
        201,
    );
    let p = ok(
        call(&host, &t, "GET", &format!("/payments/{pay}"), Value::Null),
        200,
    );
    assert_eq!(
        (p["refundedCents"].as_i64(), p["status"].as_str()),
        (Some(2000), Some("refunded"))
    );

    // The provider saw one capture and two refunds, each with its own idempotency key.
    let sent = host.http_requests("payments");
    let keys: std::collections::BTreeSet<_> = sent
        .iter()
        .map(|r| r.header("idempotency-key").unwrap().to_string())
        .collect();
    assert_eq!((sent.len(), keys.len()), (3, 3));
    assert_eq!(sent[0].json["metadata"]["tenantId"], t.id.as_str());

    // What the module stored and audited.
    let stored: Value = host.kv_json(&t, "pos", &format!("payment/{pay}")).unwrap();
    assert_eq!(stored["refundedCents"], 2000);
    let a = actions(&host, &t);
    for want in [
        "pos.ticket.opened",
        "pos.payment.captured",
        "pos.ticket.closed",
        "pos.payment.refunded",
    ] {
        assert!(a.iter().any(|x| x == want), "{want} not in {a:?}");
    }
}

#[test]
fn a_declined_card_is_recorded_and_pays_nothing() {
    let (host, t) = host();
    let ticket = ok(
        call(
            &host,
            &t,
            "POST",
            "/tickets",
            json!({"table": "1", "items": [{"name": "Tea", "qty": 1, "priceCents": 300}]}),
        ),
        201,
    );
    let id = ticket["id"].as_u64().unwrap();
    let r = call(
        &host,
        &t,
        "POST",
        &format!("/tickets/{id}/payments"),
        json!({"amountCents": 300, "cardToken": "tok_declined"}),
    );
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (402, Some("PAYMENT_DECLINED"))
    );
    let ticket = ok(
        call(&host, &t, "GET", &format!("/tickets/{id}"), Value::Null),
        200,
    );
    assert_eq!(ticket["paidCents"], 0);
    let list = ok(
        call(
            &host,
            &t,
            "GET",
            &format!("/tickets/{id}/payments"),
            Value::Null,
        ),
        200,
    );
    assert_eq!(list["payments"][0]["status"], "failed");
    assert!(actions(&host, &t).contains(&"pos.payment.declined".to_string()));
}

#[test]
fn only_the_verified_webhook_settles_a_payment() {
    let (host, t) = host();
    let ticket = ok(
        call(
            &host,
            &t,
            "POST",
            "/tickets",
            json!({"table": "1", "items": [{"name": "Tea", "qty": 1, "priceCents": 300}]}),
        ),
        201,
    );
    let id = ticket["id"].as_u64().unwrap();
    let pay = ok(
        call(
            &host,
            &t,
            "POST",
            &format!("/tickets/{id}/payments"),
            json!({"amountCents": 300}),
        ),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let event = json!({"id": "evt_1", "type": "payment.settled", "paymentId": pay, "status": "settled",
        "amountCents": 300, "tenantId": t.id, "reference": id.to_string()});
    let path = format!("/payments/{pay}/status");
    // The host sends only verified webhooks here; POS still refuses anyone else.
    let as_user = host.call_as(&t, "staff-1", "pos", "POST", &path, Some(event.clone()));
    assert_eq!(as_user.status, 403, "{}", as_user.text());
    let settled = host.call_as(
        &t,
        "webhook:payments",
        "pos",
        "POST",
        &path,
        Some(event.clone()),
    );
    assert_eq!(ok(settled, 200)["status"], "settled");
    let again = host.call_as(&t, "webhook:payments", "pos", "POST", &path, Some(event));
    assert_eq!(
        ok(again, 200)["status"],
        "settled",
        "a repeat changes nothing"
    );
    let unknown = host.call_as(&t, "webhook:payments", "pos", "POST", "/payments/pay_nope/status",
        Some(json!({"id": "evt_2", "type": "payment.settled", "paymentId": "pay_nope", "status": "settled", "amountCents": 1, "tenantId": t.id})));
    assert_eq!(unknown.status, 404);
}

#[test]
fn closed_and_void_tickets_cannot_change() {
    let (host, t) = host();
    let open = |table: &str| {
        ok(
            call(
                &host,
                &t,
                "POST",
                "/tickets",
                json!({"table": table, "items": [{"name": "Tea", "qty": 1, "priceCents": 300}]}),
            ),
            201,
        )["id"]
            .as_u64()
            .unwrap()
    };
    let closed = open("1");
    ok(
        call(
            &host,
            &t,
            "POST",
            &format!("/tickets/{closed}/payments"),
            json!({"amountCents": 300, "method": "cash"}),
        ),
        201,
    );
    ok(
        call(
            &host,
            &t,
            "POST",
            &format!("/tickets/{closed}/close"),
            json!({}),
        ),
        200,
    );
    let void = open("2");
    ok(
        call(
            &host,
            &t,
            "POST",
            &format!("/tickets/{void}/void"),
            json!({"reason": "wrong table"}),
        ),
        200,
    );
    for id in [closed, void] {
        for (method, path, body) in [
            (
                "POST",
                format!("/tickets/{id}/lines"),
                json!({"name": "Cake", "qty": 1, "priceCents": 400}),
            ),
            (
                "POST",
                format!("/tickets/{id}/payments"),
                json!({"amountCents": 1, "method": "cash"}),
            ),
            ("POST", format!("/tickets/{id}/close"), json!({})),
            (
                "POST",
                format!("/tickets/{id}/void"),
                json!({"reason": "again"}),
            ),
        ] {
            let r = call(&host, &t, method, &path, body);
            assert_eq!(
                (r.status, r.error_code().as_deref()),
                (409, Some("TICKET_CLOSED")),
                "{method} {path}: {}",
                r.text()
            );
        }
    }
}

#[test]
fn stock_menu_lines_and_low_stock() {
    let (host, t) = host();
    let item = ok(
        call(
            &host,
            &t,
            "POST",
            "/menu/items",
            json!({"name": "Pie", "priceCents": 450, "taxRateBps": 0}),
        ),
        201,
    );
    let iid = item["id"].as_u64().unwrap();
    let dup = call(
        &host,
        &t,
        "POST",
        "/menu/items",
        json!({"name": "PIE", "priceCents": 1, "taxRateBps": 0}),
    );
    assert_eq!(
        (dup.status, dup.error_code().as_deref()),
        (409, Some("ITEM_EXISTS"))
    );
    ok(
        call(
            &host,
            &t,
            "POST",
            &format!("/inventory/{iid}/adjustments"),
            json!({"delta": 3, "reason": "baked"}),
        ),
        201,
    );
    ok(
        call(
            &host,
            &t,
            "PUT",
            &format!("/inventory/{iid}"),
            json!({"lowStockThreshold": 2}),
        ),
        200,
    );
    let below = call(
        &host,
        &t,
        "POST",
        &format!("/inventory/{iid}/adjustments"),
        json!({"delta": -4, "reason": "dropped"}),
    );
    assert_eq!(
        (below.status, below.error_code().as_deref()),
        (409, Some("INSUFFICIENT_STOCK"))
    );

    let ticket = ok(
        call(
            &host,
            &t,
            "POST",
            "/tickets",
            json!({"table": "9", "items": [{"itemId": iid, "qty": 2}]}),
        ),
        201,
    );
    assert_eq!(
        (
            ticket["items"][0]["name"].as_str(),
            ticket["totalCents"].as_i64()
        ),
        (Some("Pie"), Some(900))
    );
    let id = ticket["id"].as_u64().unwrap();
    ok(
        call(
            &host,
            &t,
            "POST",
            &format!("/tickets/{id}/payments"),
            json!({"amountCents": 900, "method": "cash"}),
        ),
        201,
    );
    ok(
        call(
            &host,
            &t,
            "POST",
            &format!("/tickets/{id}/close"),
            json!({}),
        ),
        200,
    );
    let low = ok(
        call(&host, &t, "GET", "/inventory?lowStock=true", Value::Null),
        200,
    );
    assert_eq!(low["items"].as_array().unwrap().len(), 1, "{low}");
    assert_eq!(
        (
            low["items"][0]["onHand"].as_i64(),
            low["items"][0]["low"].as_bool()
        ),
        (Some(1), Some(true))
    );
    let stored: Value = host
        .kv_json(&t, "pos", &format!("stock/{iid:020}"))
        .or_else(|| host.kv_json(&t, "pos", &format!("stock/{iid}")))
        .expect("stock stored");
    assert_eq!(stored["onHand"], 1);
}

#[test]
fn sales_report_by_business_date() {
    let (host, t) = host();
    for (date, price) in [
        ("2026-11-20", 1000),
        ("2026-11-20", 500),
        ("2026-11-22", 250),
    ] {
        let ticket = ok(
            call(
                &host,
                &t,
                "POST",
                "/tickets",
                json!({"table": "1", "businessDate": date,
            "items": [{"name": "Dish", "qty": 1, "priceCents": price}]}),
            ),
            201,
        );
        let id = ticket["id"].as_u64().unwrap();
        ok(
            call(
                &host,
                &t,
                "POST",
                &format!("/tickets/{id}/payments"),
                json!({"amountCents": price, "method": "cash"}),
            ),
            201,
        );
        ok(
            call(
                &host,
                &t,
                "POST",
                &format!("/tickets/{id}/close"),
                json!({}),
            ),
            200,
        );
    }
    let report = ok(
        call(
            &host,
            &t,
            "GET",
            "/reports/sales?from=2026-11-20&to=2026-11-22",
            Value::Null,
        ),
        200,
    );
    let days = report["days"].as_array().unwrap();
    assert_eq!(days.len(), 3, "every day of the range: {report}");
    assert_eq!(
        (days[0]["tickets"].as_i64(), days[0]["totalCents"].as_i64()),
        (Some(2), Some(1500))
    );
    assert_eq!(days[1]["tickets"], 0);
    assert_eq!(report["totals"]["totalCents"], 1750);
    assert_eq!(report["items"][0]["qty"], 3);
}

#[test]
fn every_route_names_the_field_at_fault() {
    let (host, t) = host();
    let item = ok(
        call(
            &host,
            &t,
            "POST",
            "/menu/items",
            json!({"name": "Pie", "priceCents": 450, "taxRateBps": 0}),
        ),
        201,
    );
    let iid = item["id"].as_u64().unwrap();
    let ticket = ok(
        call(
            &host,
            &t,
            "POST",
            "/tickets",
            json!({"table": "1", "items": [{"name": "Tea", "qty": 1, "priceCents": 300}]}),
        ),
        201,
    );
    let id = ticket["id"].as_u64().unwrap();
    let pay = ok(
        call(
            &host,
            &t,
            "POST",
            &format!("/tickets/{id}/payments"),
            json!({"amountCents": 100, "method": "cash"}),
        ),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let kv_before = host.kv(&t, "pos");
    let cases: Vec<(&str, String, Value, &str)> = vec![
        ("POST", "/menu/categories".into(), json!({}), "name"),
        (
            "POST",
            "/menu/items".into(),
            json!({"priceCents": 1, "taxRateBps": 0}),
            "name",
        ),
        (
            "POST",
            "/menu/items".into(),
            json!({"name": "x", "priceCents": -1, "taxRateBps": 0}),
            "priceCents",
        ),
        (
            "POST",
            "/menu/items".into(),
            json!({"name": "x", "priceCents": 1, "taxRateBps": 10001}),
            "taxRateBps",
        ),
        (
            "PUT",
            format!("/menu/items/{iid}"),
            json!({"priceCents": "free"}),
            "priceCents",
        ),
        ("GET", "/menu/items/abc".into(), Value::Null, "id"),
        (
            "POST",
            format!("/inventory/{iid}/adjustments"),
            json!({"delta": 0, "reason": "x"}),
            "delta",
        ),
        (
            "POST",
            format!("/inventory/{iid}/adjustments"),
            json!({"delta": 1}),
            "reason",
        ),
        (
            "PUT",
            format!("/inventory/{iid}"),
            json!({"lowStockThreshold": -1}),
            "lowStockThreshold",
        ),
        (
            "GET",
            "/inventory?lowStock=maybe".into(),
            Value::Null,
            "lowStock",
        ),
        ("GET", "/tickets?limit=0".into(), Value::Null, "limit"),
        ("POST", "/tickets".into(), json!({"items": []}), "table"),
        (
            "POST",
            "/tickets".into(),
            json!({"table": "1", "businessDate": "2026-13-01"}),
            "businessDate",
        ),
        (
            "POST",
            "/tickets".into(),
            json!({"table": "1", "items": [{"itemId": 999, "qty": 1}]}),
            "items[0].itemId",
        ),
        (
            "POST",
            format!("/tickets/{id}/lines"),
            json!({"name": "x", "qty": 0, "priceCents": 1}),
            "qty",
        ),
        ("POST", format!("/tickets/{id}/void"), json!({}), "reason"),
        (
            "POST",
            format!("/tickets/{id}/payments"),
            json!({"amountCents": 0}),
            "amountCents",
        ),
        (
            "POST",
            format!("/tickets/{id}/payments"),
            json!({"amountCents": 1, "method": "bitcoin"}),
            "method",
        ),
        (
            "POST",
            format!("/payments/{pay}/refunds"),
            json!({"amountCents": "x"}),
            "amountCents",
        ),
        (
            "GET",
            "/reports/sales?from=2026-01-01".into(),
            Value::Null,
            "to",
        ),
        (
            "GET",
            "/reports/sales?from=yesterday&to=2026-01-01".into(),
            Value::Null,
            "from",
        ),
    ];
    for (method, path, body, field) in cases {
        let r = call(&host, &t, method, &path, body.clone());
        assert_eq!(
            (
                r.status,
                r.error_code().as_deref(),
                r.error_field().as_deref()
            ),
            (400, Some("VALIDATION"), Some(field)),
            "{method} {path} {body}: {}",
            r.text()
        );
    }
    assert_eq!(
        host.kv(&t, "pos"),
        kv_before,
        "refused requests wrote nothing"
    );
}

#[test]
fn a_ticket_waiting_on_a_pending_payment_cannot_be_voided() {
    let (host, t) = host();
    let ticket = ok(
        call(
            &host,
            &t,
            "POST",
            "/tickets",
            json!({"table": "2", "items": [{"name": "Tea", "qty": 1, "priceCents": 300}]}),
        ),
        201,
    );
    let id = ticket["id"].as_u64().unwrap();
    let pending = ok(
        call(
            &host,
            &t,
            "POST",
            &format!("/tickets/{id}/payments"),
            json!({"amountCents": 300, "cardToken": "tok_pending"}),
        ),
        201,
    );
    assert_eq!(pending["status"], "pending");
    let void = call(
        &host,
        &t,
        "POST",
        &format!("/tickets/{id}/void"),
        json!({"reason": "walked out"}),
    );
    assert_eq!(
        (void.status, void.error_code().as_deref()),
        (409, Some("PAYMENT_PENDING"))
    );
    // The provider settles it; the ticket is paid and can close.
    let pay = pending["id"].as_str().unwrap();
    let event = json!({"id": "evt_p", "type": "payment.settled", "paymentId": pay, "status": "settled", "amountCents": 300, "tenantId": t.id});
    let settled = host.call_as(
        &t,
        "webhook:payments",
        "pos",
        "POST",
        &format!("/payments/{pay}/status"),
        Some(event),
    );
    assert_eq!(ok(settled, 200)["status"], "settled");
    assert_eq!(
        ok(
            call(
                &host,
                &t,
                "POST",
                &format!("/tickets/{id}/close"),
                json!({})
            ),
            200
        )["status"],
        "closed"
    );
}

#[test]
fn the_business_date_is_the_restaurants_own_day() {
    let (host, east) = host();
    let west = host.tenant("Far West");
    // UTC+14 and UTC-11: 25 hours apart, so their local dates always differ.
    host.set_timezone(&east, "Pacific/Kiritimati");
    host.set_timezone(&west, "Pacific/Pago_Pago");
    let date = |t: &Tenant| {
        let ticket = ok(
            call(&host, t, "POST", "/tickets", json!({"table": "1"})),
            201,
        );
        ticket["businessDate"].as_str().unwrap().to_string()
    };
    let (e, w) = (date(&east), date(&west));
    assert_ne!(e, w, "each restaurant's own day");
    assert!(e > w, "Kiritimati is ahead of Pago Pago: {e} vs {w}");
    // A date given by the client wins.
    let given = ok(
        call(
            &host,
            &east,
            "POST",
            "/tickets",
            json!({"table": "2", "businessDate": "2026-01-05"}),
        ),
        201,
    );
    assert_eq!(given["businessDate"], "2026-01-05");

    // Without the clock grant, creating a ticket is refused and writes nothing.
    host.grant("pos", &["kv", "audit", "outbound-http"], &["payments"]);
    let before = host.kv(&east, "pos").len();
    let refused = call(&host, &east, "POST", "/tickets", json!({"table": "3"}));
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(refused.error_code().as_deref(), Some("CAPABILITY_DENIED"));
    assert_eq!(host.kv(&east, "pos").len(), before);
}

/// Staff open tickets, ring up, take payment and close; voids, refunds and menu changes are
/// the admin's. The screens leave those out for staff, and the routes refuse them anyway.
#[test]
fn staff_serve_and_only_the_admin_manages() {
    let (host, admin) = host();
    let staff = host.staff(&admin);
    let item = ok(
        call(
            &host,
            &admin,
            "POST",
            "/menu/items",
            json!({"name": "Tea", "priceCents": 300, "taxRateBps": 0}),
        ),
        201,
    );
    let ticket = ok(
        call(
            &host,
            &staff,
            "POST",
            "/tickets",
            json!({"table": "2", "items": [{"itemId": item["id"], "qty": 1}]}),
        ),
        201,
    );
    let id = ticket["id"].as_u64().unwrap();
    let paid = ok(
        call(
            &host,
            &staff,
            "POST",
            &format!("/tickets/{id}/payments"),
            json!({"amountCents": 300, "method": "cash"}),
        ),
        201,
    );
    let kv_before = host.kv(&admin, "pos");
    for (method, path, body) in [
        (
            "POST",
            format!("/tickets/{id}/void"),
            json!({"reason": "spilt"}),
        ),
        (
            "POST",
            format!("/payments/{}/refunds", paid["id"].as_str().unwrap()),
            json!({"amountCents": 100}),
        ),
        ("POST", "/menu/categories".into(), json!({"name": "Hot"})),
        (
            "PUT",
            format!("/menu/items/{}", item["id"]),
            json!({"priceCents": 1}),
        ),
        ("DELETE", format!("/menu/items/{}", item["id"]), Value::Null),
        (
            "PUT",
            format!("/inventory/{}", item["id"]),
            json!({"lowStockThreshold": 3}),
        ),
    ] {
        let r = call(&host, &staff, method, &path, body);
        assert_eq!(
            (r.status, r.error_code().as_deref()),
            (403, Some("FORBIDDEN")),
            "{method} {path}: {}",
            r.text()
        );
    }
    assert_eq!(host.kv(&admin, "pos"), kv_before, "refusals write nothing");
    // Each refusal is the module's own answer: recorded, with outcome ok.
    let last = host.invocations(&admin).pop().unwrap();
    assert_eq!(
        (last.path.as_str(), last.status, last.outcome.as_str()),
        (format!("/inventory/{}", item["id"]).as_str(), 403, "ok")
    );

    let forms = |view: &nova_sdk::view::View| -> Vec<String> {
        view.blocks
            .iter()
            .filter_map(|b| match b {
                nova_sdk::view::Block::Form(f) => Some(f.submit.clone()),
                _ => None,
            })
            .collect()
    };
    let q = format!("id={id}");
    let as_staff = forms(&host.view(&staff, "pos", "ticket", &q));
    let as_admin = forms(&host.view(&admin, "pos", "ticket", &q));
    assert!(
        !as_staff.contains(&"Void ticket".to_string()),
        "{as_staff:?}"
    );
    assert!(
        as_admin.contains(&"Void ticket".to_string()),
        "{as_admin:?}"
    );
    assert!(forms(&host.view(&staff, "pos", "menu", "")).is_empty());
    assert!(forms(&host.view(&staff, "pos", "categories", "")).is_empty());
    assert_eq!(
        forms(&host.view(&admin, "pos", "categories", "")),
        ["Add category"]
    );

    // Staff close the paid ticket; the admin voids another.
    ok(
        call(
            &host,
            &staff,
            "POST",
            &format!("/tickets/{id}/close"),
            json!({}),
        ),
        200,
    );
    let other = ok(
        call(&host, &staff, "POST", "/tickets", json!({"table": "3"})),
        201,
    );
    let voided = ok(
        call(
            &host,
            &admin,
            "POST",
            &format!("/tickets/{}/void", other["id"]),
            json!({"reason": "spilt"}),
        ),
        200,
    );
    assert_eq!(voided["status"], "void");
}

/// The test kit's switches reach the host: a module switched off is refused and recorded as
/// denied, a withdrawn grant is refused by capability, a flag change is audited.
#[test]
fn switches_grants_and_flags_reach_the_host() {
    let (host, t) = host();
    host.set_module(&t, "pos", false);
    let off = call(&host, &t, "GET", "/tickets", Value::Null);
    assert_eq!(
        (off.status, off.error_code().as_deref()),
        (403, Some("MODULE_DISABLED")),
        "{}",
        off.text()
    );
    assert_eq!(host.invocations(&t).pop().unwrap().outcome, "denied");
    host.set_module(&t, "pos", true);
    ok(call(&host, &t, "GET", "/tickets", Value::Null), 200);

    host.grant("pos", &["audit"], &[]);
    let no_kv = call(&host, &t, "GET", "/tickets", Value::Null);
    assert_eq!(no_kv.error_code().as_deref(), Some("CAPABILITY_DENIED"));

    let fresh = TestHost::new();
    fresh.install_ungranted("pos", component());
    let cafe = fresh.tenant("Cafe");
    let refused = fresh.call(&cafe, "pos", "GET", "/tickets", None);
    assert_eq!(refused.error_code().as_deref(), Some("CAPABILITY_DENIED"));

    host.set_feature(&t, "pos.reports", true);
    assert_eq!(
        actions(&host, &t).last().map(String::as_str),
        Some("registration.feature_flag_toggled")
    );
}

#[test]
fn concurrent_creations_get_distinct_increasing_numbers_without_conflicts() {
    let (host, t) = host();
    // Two tickets one after the other: the second's number is higher.
    let first = ok(
        call(&host, &t, "POST", "/tickets", json!({"table": "1"})),
        201,
    );
    let second = ok(
        call(&host, &t, "POST", "/tickets", json!({"table": "2"})),
        201,
    );
    assert!(
        second["id"].as_u64() > first["id"].as_u64(),
        "{first} {second}"
    );

    // 8 clients creating at once each get a number of their own. (Before numbers came from
    // the host, every create rewrote one counter key, so concurrent creations re-ran each
    // other and, under load, some ran out of re-runs: 409.)
    let ids: Vec<u64> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|w| {
                let (host, t) = (&host, &t);
                s.spawn(move || {
                    (0..6)
                        .map(|i| {
                            let body = json!({"table": format!("{w}-{i}")});
                            ok(call(host, t, "POST", "/tickets", body), 201)["id"]
                                .as_u64()
                                .unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 48, "{ids:?}");
    assert!(distinct[0] > second["id"].as_u64().unwrap());
    // No create wrote a key the others read: the shared counter is gone, so nothing made
    // concurrent creations re-run each other.
    let keys: Vec<String> = host.kv(&t, "pos").into_iter().map(|(k, _)| k).collect();
    assert!(
        !keys.iter().any(|k| k.starts_with("seq/ticket")),
        "{keys:?}"
    );
    assert_eq!(keys.iter().filter(|k| k.starts_with("ticket/")).count(), 50);
}
