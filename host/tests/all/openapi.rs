//! The OpenAPI description at `/openapi.json` matches the router: every documented route
//! exists with its method, every protected one asks for a token, every one documents the
//! error shape; `/docs` renders it.

use crate::common;

use common::{Backend, TestServer};
use reqwest::Method;
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn description_matches_the_router(backend: Backend) {
    let server = TestServer::start(backend).await;
    let resp = server
        .http
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let spec: Value = resp.json().await.unwrap();
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        spec["openapi"]
    );
    assert_eq!(
        spec["components"]["schemas"]["Error"]["properties"]["error"]["$ref"],
        "#/components/schemas/ErrorDetail"
    );
    let paths = spec["paths"].as_object().unwrap();
    for must in [
        "/v1/superadmin/tenants",
        "/v1/superadmin/tenants/{tenant_id}/modules/{module}",
        "/v1/superadmin/billing/webhooks/{id}/replay",
        "/v1/superadmin/support/tickets",
        "/v1/portal/me",
        "/v1/portal/{module}/{path}",
        "/auth/login",
        "/health",
    ] {
        assert!(paths.contains_key(must), "{must} is not documented");
    }
    let admin = server.superadmin().await;
    let mut operations = 0;
    for (path, item) in paths {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            operations += 1;
            assert!(
                op["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"]
                    == "#/components/schemas/Error",
                "{method} {path} does not document the error shape"
            );
            let params: Vec<&str> = op["parameters"]
                .as_array()
                .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
                .unwrap_or_default();
            let concrete = path
                .split('/')
                .map(
                    |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(name) => {
                            assert!(
                                params.contains(&name),
                                "{method} {path}: no parameter {name}"
                            );
                            "nope"
                        }
                        None => seg,
                    },
                )
                .collect::<Vec<_>>()
                .join("/");
            let public = op.get("security").is_none();
            // Without a token, a protected route refuses with 401 before anything else.
            let resp = server
                .http
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    server.url(&concrete),
                )
                .send()
                .await
                .unwrap();
            if !public {
                assert_eq!(resp.status(), 401, "{method} {path} without a token");
            }
            // With a token, the route exists: no "no such route" 404 and no 405.
            let resp = server
                .http
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    server.url(&concrete),
                )
                .bearer_auth(&admin)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            assert_ne!(status, 405, "{method} {path} is documented but not routed");
            assert!(
                !(status == 404 && body["error"]["message"] == "no such route"),
                "{method} {path} is documented but not routed: {body}"
            );
            assert!(status < 500, "{method} {path} answered {status}: {body}");
        }
    }
    assert!(operations >= 60, "only {operations} operations documented");
    success_bodies_are_described(&spec);

    let resp = server.http.get(server.url("/docs")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = resp.text().await.unwrap();
    assert!(page.contains("<code>/v1/superadmin/tenants/{tenant_id}/subscription</code>"));
    assert!(page.contains("/openapi.json"));
}

/// Every 2xx JSON body has a schema naming its fields, those the host relays from a module
/// (support's tickets, POS's payments) too, so schemathesis checks every field.
fn success_bodies_are_described(spec: &Value) {
    let resolve = |schema: &Value| -> Value {
        match schema["$ref"].as_str() {
            Some(r) => {
                let name = r.rsplit('/').next().unwrap();
                spec["components"]["schemas"][name].clone()
            }
            None => schema.clone(),
        }
    };
    let mut bare = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            for (status, resp) in op["responses"].as_object().unwrap() {
                if !status.starts_with('2') {
                    continue;
                }
                let Some(schema) = resp["content"]["application/json"].get("schema") else {
                    continue;
                };
                let schema = resolve(schema);
                let described = schema.get("properties").is_some()
                    || schema.get("items").is_some()
                    || schema.get("oneOf").is_some()
                    || schema.get("allOf").is_some();
                if !described {
                    bare.push(format!("{method} {path}"));
                }
            }
        }
    }
    bare.sort();
    bare.dedup();
    assert!(
        bare.is_empty(),
        "success bodies without a schema: {bare:#?}"
    );
}

both_backends!(description_matches_the_router);
