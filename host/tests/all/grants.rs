//! Capabilities are denied by default: a module uses kv, audit or entitlements only when its
//! manifest declares them and a superadmin granted them; refused attempts are audited.

use crate::common;

use common::{Backend, TestServer, guests};
use reqwest::Method;
use serde_json::json;

async fn capabilities_are_denied_until_granted(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    assert_eq!(
        server
            .install_ungranted(&admin, "hostile", guests::HOSTILE)
            .await
            .status(),
        201
    );
    let (tenant, staff) = server.tenant(&admin, "Guarded").await;
    server.toggle(&admin, &tenant, "hostile", true).await;

    let (status, grants) = server
        .get(&admin, "/v1/superadmin/modules/hostile/grants")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        grants["declared"],
        json!(["kv", "audit", "entitlements", "outbound-http"])
    );
    assert_eq!(grants["declaredHosts"], json!(["payments"]));
    assert_eq!(grants["granted"], json!([]));
    assert_eq!(grants["effective"], json!([]));

    // kv refused: the guest sees an error (and answers 403 with it), nothing is stored.
    let (status, err) = server
        .send(
            Method::POST,
            &staff,
            "/v1/portal/hostile/counter",
            &json!({}),
        )
        .await;
    assert_eq!(status, 403, "{err}");
    assert_eq!(err["error"]["code"], "CAPABILITY_DENIED");
    assert_eq!(server.count("module_kv").await, 0);
    // entitlements refused the same way (in nova:module@0.1.0 it answered "nothing").
    let (status, e) = server
        .get(&staff, "/v1/portal/hostile/entitlements?flag=x")
        .await;
    assert_eq!(status, 403, "{e}");
    assert_eq!(e["error"]["code"], "CAPABILITY_DENIED");
    let (_, audit) = server
        .get(
            &admin,
            &format!("/v1/superadmin/audit?action=capability.denied&tenantId={tenant}"),
        )
        .await;
    let denied: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["capability"].as_str().unwrap())
        .collect();
    assert_eq!(denied, ["entitlements", "kv"]);
    assert_eq!(audit["events"][0]["module"], "hostile");

    // Granting kv lets the same call through.
    let (status, g) = server
        .send(
            Method::PUT,
            &admin,
            "/v1/superadmin/modules/hostile/grants",
            &json!({"capabilities": ["kv"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(g["effective"], json!(["kv"]));
    let (status, n) = server
        .send(
            Method::POST,
            &staff,
            "/v1/portal/hostile/counter",
            &json!({}),
        )
        .await;
    assert_eq!((status, n), (200, json!(1)));
    let (_, audit) = server
        .get(&admin, "/v1/superadmin/audit?action=module.grants_changed")
        .await;
    assert_eq!(audit["events"][0]["payload"]["current"], json!(["kv"]));

    // A module gets at most what it declares: the trivial guest declares nothing.
    assert_eq!(
        server
            .install(&admin, "plain", guests::TRIVIAL)
            .await
            .status(),
        201
    );
    let (_, g) = server
        .get(&admin, "/v1/superadmin/modules/plain/grants")
        .await;
    assert_eq!(
        (g["declared"].clone(), g["effective"].clone()),
        (json!([]), json!([]))
    );

    // Bundled modules come with what their manifest declares.
    let (_, pos) = server
        .get(&admin, "/v1/superadmin/modules/pos/grants")
        .await;
    assert_eq!(
        pos["effective"],
        json!(["kv", "audit", "outbound-http", "clock"])
    );
    assert_eq!(pos["effectiveHosts"], json!(["payments"]));

    // Bad input and permissions.
    let path = "/v1/superadmin/modules/hostile/grants";
    assert_eq!(
        server
            .send(
                Method::PUT,
                &admin,
                path,
                &json!({"capabilities": ["http"]})
            )
            .await
            .0,
        400
    );
    assert_eq!(
        server
            .send(Method::PUT, &admin, path, &json!({"capabilities": "kv"}))
            .await
            .0,
        400
    );
    let missing = "/v1/superadmin/modules/nope/grants";
    assert_eq!(
        server
            .send(Method::PUT, &admin, missing, &json!({"capabilities": []}))
            .await
            .0,
        404
    );
    assert_eq!(server.get(&staff, path).await.0, 403);
}

both_backends!(capabilities_are_denied_until_granted);
