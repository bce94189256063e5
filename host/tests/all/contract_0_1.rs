//! `nova:module@0.1.0` stays served as it shipped: a component built against it (kept as a
//! binary fixture, built from `fixtures/guests/hostile` before 0.2.0 existed) installs and
//! runs beside 0.2.0 modules, and a refused capability reaches it in 0.1.0's words, which
//! its SDK turned into 403 `CAPABILITY_DENIED` (entitlements answered "nothing").

use crate::common;

use common::{Backend, TestServer, guests};
use reqwest::Method;
use serde_json::json;

const LEGACY: &[u8] = include_bytes!("../../../fixtures/components/hostile-nova-module-0.1.0.wasm");

async fn a_component_built_against_0_1_0_still_runs(backend: Backend) {
    let server = TestServer::start_with_host_limits(backend).await;
    let admin = server.superadmin().await;
    let installed = server.install_ungranted(&admin, "legacy", LEGACY).await;
    assert_eq!(installed.status(), 201);
    // A current component beside it.
    assert_eq!(
        server
            .install(&admin, "current", guests::HOSTILE)
            .await
            .status(),
        201
    );
    let (tenant, staff) = server.tenant(&admin, "Old Friends").await;
    server.toggle(&admin, &tenant, "legacy", true).await;
    server.toggle(&admin, &tenant, "current", true).await;

    // The handler, and context (no grant needed).
    let (status, who) = server.get(&staff, "/v1/portal/legacy/whoami").await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(
        (who["tenant"].as_str(), who["module"].as_str()),
        (Some(tenant.as_str()), Some("legacy"))
    );

    // Refusals in 0.1.0's words.
    let (status, err) = server
        .send(
            Method::POST,
            &staff,
            "/v1/portal/legacy/counter",
            &json!({}),
        )
        .await;
    assert_eq!(status, 403, "{err}");
    assert_eq!(err["error"]["code"], "CAPABILITY_DENIED");
    let (status, e) = server
        .get(&staff, "/v1/portal/legacy/entitlements?flag=x")
        .await;
    assert_eq!(
        (status, e),
        (200, json!({"hasFeature": false, "modules": []}))
    );
    // The 0.2.0 component is refused the same capability with the `denied` case.
    let (status, e) = server
        .get(&staff, "/v1/portal/current/entitlements?flag=x")
        .await;
    assert_eq!(status, 200, "granted to the current module: {e}");

    // Granted, the old component's kv works and commits.
    let (status, _) = server
        .send(
            Method::PUT,
            &admin,
            "/v1/superadmin/modules/legacy/grants",
            &json!({"capabilities": ["kv", "entitlements"]}),
        )
        .await;
    assert_eq!(status, 200);
    for expected in [1, 2] {
        let (status, n) = server
            .send(
                Method::POST,
                &staff,
                "/v1/portal/legacy/counter",
                &json!({}),
            )
            .await;
        assert_eq!((status, n), (200, json!(expected)));
    }
    let (status, e) = server
        .get(&staff, "/v1/portal/legacy/entitlements?flag=x")
        .await;
    assert_eq!(status, 200);
    assert_eq!(e["modules"], json!(["current", "legacy"]));

    // Limits hold for it as for any module.
    let (status, err) = server.get(&staff, "/v1/portal/legacy/loop").await;
    assert_eq!(status, 504, "{err}");
    assert_eq!(err["error"]["code"], "MODULE_TIMEOUT");
}

both_backends!(a_component_built_against_0_1_0_still_runs);
