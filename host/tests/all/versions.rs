//! Module versions: list, activate, roll back, and pin one tenant to a version.

use crate::common;

use common::{Backend, TestServer, guests};
use reqwest::Method;
use serde_json::{Value, json};

async fn versions_activate_roll_back_and_pin(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    // Version 1 has no /counter route (trivial), version 2 has one (hostile).
    assert_eq!(
        server
            .install(&admin, "probe", guests::TRIVIAL)
            .await
            .status(),
        201
    );
    assert_eq!(
        server
            .install(&admin, "probe", guests::HOSTILE)
            .await
            .status(),
        201
    );
    let (a, staff_a) = server.tenant(&admin, "Canary").await;
    let (b, staff_b) = server.tenant(&admin, "Fleet").await;
    server.toggle(&admin, &a, "probe", true).await;
    server.toggle(&admin, &b, "probe", true).await;
    let counter = "/v1/portal/probe/counter";

    let (status, list) = server
        .get(&admin, "/v1/superadmin/modules/probe/versions")
        .await;
    assert_eq!(status, 200);
    let versions: Vec<(i64, bool)> = list["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_i64().unwrap(),
                v["active"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(versions, [(2, true), (1, false)]);

    // Pin the canary tenant to version 1.
    let pin = format!("/v1/superadmin/tenants/{a}/modules/probe/pin");
    assert_eq!(
        server
            .send(Method::PUT, &admin, &pin, &json!({"version": 1}))
            .await
            .0,
        200
    );
    assert_eq!(
        server.get(&staff_a, counter).await.0,
        404,
        "pinned to version 1"
    );
    assert_eq!(
        server.get(&staff_b, counter).await.0,
        200,
        "everyone else on version 2"
    );
    // The tenant's module list says so, and only for that tenant.
    let pinned_of = |list: &Value| {
        list["modules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "probe")
            .map(|m| m["pinnedVersion"].clone())
    };
    let (_, list) = server
        .get(&admin, &format!("/v1/superadmin/tenants/{a}/modules"))
        .await;
    assert_eq!(pinned_of(&list), Some(json!(1)), "{list}");
    let (_, list) = server
        .get(&admin, &format!("/v1/superadmin/tenants/{b}/modules"))
        .await;
    assert_eq!(pinned_of(&list), Some(Value::Null), "{list}");

    // Roll back everyone, then activate version 2 again.
    let (status, body) = server
        .send(
            Method::POST,
            &admin,
            "/v1/superadmin/modules/probe/rollback",
            &json!({}),
        )
        .await;
    assert_eq!((status, body["activeVersion"].clone()), (200, json!(1)));
    assert_eq!(server.get(&staff_b, counter).await.0, 404);
    let (status, _) = server
        .send(
            Method::POST,
            &admin,
            "/v1/superadmin/modules/probe/rollback",
            &json!({}),
        )
        .await;
    assert_eq!(status, 409, "nothing before version 1");
    let (status, _) = server
        .send(
            Method::POST,
            &admin,
            "/v1/superadmin/modules/probe/activate",
            &json!({"version": 2}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(server.get(&staff_b, counter).await.0, 200);

    // Pins survive a restart; removing the pin puts the tenant back on the active version.
    let server = server.restart().await;
    assert_eq!(server.get(&staff_a, counter).await.0, 404);
    assert_eq!(
        server
            .send(Method::DELETE, &admin, &pin, &json!({}))
            .await
            .0,
        204
    );
    assert_eq!(server.get(&staff_a, counter).await.0, 200);
    assert_eq!(
        server
            .send(Method::DELETE, &admin, &pin, &json!({}))
            .await
            .0,
        404
    );

    // Every change was audited.
    let (_, audit) = server
        .get(&admin, "/v1/superadmin/audit?module=superadmin&limit=100")
        .await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .filter(|a| a.starts_with("module.version"))
        .collect();
    assert_eq!(
        actions,
        [
            "module.version_unpinned",
            "module.version_activated",
            "module.version_rolled_back",
            "module.version_pinned",
        ]
    );

    // Bad input.
    let bad = [
        (
            Method::POST,
            "/v1/superadmin/modules/probe/activate".to_string(),
            json!({"version": 9}),
            404,
        ),
        (
            Method::POST,
            "/v1/superadmin/modules/probe/activate".to_string(),
            json!({"version": "two"}),
            400,
        ),
        (
            Method::POST,
            "/v1/superadmin/modules/nope/rollback".to_string(),
            json!({}),
            404,
        ),
        (
            Method::PUT,
            format!("/v1/superadmin/tenants/{a}/modules/nope/pin"),
            json!({"version": 1}),
            404,
        ),
        (
            Method::PUT,
            "/v1/superadmin/tenants/missing/modules/probe/pin".to_string(),
            json!({"version": 1}),
            404,
        ),
    ];
    for (method, path, body, status) in bad {
        assert_eq!(
            server.send(method, &admin, &path, &body).await.0,
            status,
            "{path} {body}"
        );
    }
    assert_eq!(
        server
            .get(&admin, "/v1/superadmin/modules/nope/versions")
            .await
            .0,
        404
    );
    assert_eq!(
        server
            .get(&staff_a, "/v1/superadmin/modules/probe/versions")
            .await
            .0,
        403
    );
}

both_backends!(versions_activate_roll_back_and_pin);
