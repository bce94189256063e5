//! The `clock` capability end to end: a superadmin sets a restaurant's timezone, and POS
//! (which declares `clock`) dates its tickets by that restaurant's own day.

use crate::common;

use common::{Backend, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

async fn set_timezone(server: &TestServer, token: &str, tenant: &str, tz: &str) -> (u16, Value) {
    server
        .send(
            Method::PUT,
            token,
            &format!("/v1/superadmin/tenants/{tenant}/timezone"),
            &json!({"timezone": tz}),
        )
        .await
}

async fn business_date(server: &TestServer, token: &str) -> String {
    let (status, ticket) = server
        .send(
            Method::POST,
            token,
            "/v1/portal/pos/tickets",
            &json!({"table": "1"}),
        )
        .await;
    assert_eq!(status, 201, "{ticket}");
    ticket["businessDate"].as_str().unwrap().to_string()
}

async fn tickets_carry_the_restaurants_own_date(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (east, east_staff) = server.tenant(&admin, "Kiritimati Grill").await;
    let (west, west_staff) = server.tenant(&admin, "Pago Pago Diner").await;
    for t in [&east, &west] {
        server.toggle(&admin, t, "pos", true).await;
    }
    // Until set, a tenant's timezone is UTC.
    let (_, tenants) = server.get(&admin, "/v1/superadmin/tenants").await;
    assert!(
        tenants["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["timezone"] == "UTC")
    );

    let (status, t) = set_timezone(&server, &admin, &east, "Pacific/Kiritimati").await;
    assert_eq!(
        (status, t["timezone"].as_str()),
        (200, Some("Pacific/Kiritimati")),
        "{t}"
    );
    let (status, _) = set_timezone(&server, &admin, &west, "Pacific/Pago_Pago").await;
    assert_eq!(status, 200);
    // UTC+14 and UTC-11 are 25 hours apart: their dates always differ, east ahead.
    let (e, w) = (
        business_date(&server, &east_staff).await,
        business_date(&server, &west_staff).await,
    );
    assert!(e > w, "{e} should be after {w}");

    // The change is audited with what it replaced.
    let (_, audit) = server
        .get(
            &admin,
            &format!("/v1/superadmin/audit?action=tenant.timezone_changed&tenantId={east}"),
        )
        .await;
    assert_eq!(
        audit["events"][0]["payload"],
        json!({"previous": "UTC", "current": "Pacific/Kiritimati"})
    );

    // Bad input writes nothing; only superadmins may set it.
    for bad in ["", "Mars/Olympus", "Europe/Paris\u{0}", &"a".repeat(65)] {
        let (status, err) = set_timezone(&server, &admin, &east, bad).await;
        assert_eq!(status, 400, "{bad:?}: {err}");
        assert_eq!(err["error"]["field"], "timezone");
    }
    let (status, err) = set_timezone(&server, &admin, "no-such-tenant", "UTC").await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("TENANT_NOT_FOUND"))
    );
    let (status, _) = set_timezone(&server, &east_staff, &east, "UTC").await;
    assert_eq!(status, 403);
    let (_, tenants) = server.get(&admin, "/v1/superadmin/tenants").await;
    let east_now = tenants["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == east.as_str())
        .unwrap()
        .clone();
    assert_eq!(east_now["timezone"], "Pacific/Kiritimati");
}

both_backends!(tickets_carry_the_restaurants_own_date);
