//! Bad input gets a clear 4xx in the standard error shape and writes nothing.

use crate::common;

use common::{Backend, JWT_SECRET, TestServer};
use nova::auth::{Claims, Keys, Role};
use reqwest::Method;
use serde_json::{Value, json};

fn assert_error_shape(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        body["error"]["requestId"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

async fn tables_snapshot(server: &TestServer) -> Vec<i64> {
    let mut out = Vec::new();
    for t in [
        "tenants",
        "users",
        "tenant_modules",
        "module_versions",
        "audit_events",
        "module_kv",
    ] {
        out.push(server.count(t).await);
    }
    out
}

async fn malformed_bodies_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, _) = server.tenant(&admin, "Existing").await;
    let before = tables_snapshot(&server).await;

    let raw = |path: &str, body: &'static str| {
        server
            .http
            .post(server.url(path))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(body)
    };
    for (path, body, code) in [
        ("/v1/superadmin/tenants", "{\"name\":", "VALIDATION"),
        ("/v1/superadmin/tenants", "{\"name\": 5}", "VALIDATION"),
        (
            "/v1/superadmin/tenants",
            "{\"name\": \"   \"}",
            "VALIDATION",
        ),
        (
            "/v1/superadmin/tenants",
            "{\"name\": \"x\", \"extra\": 1}",
            "VALIDATION",
        ),
        ("/v1/superadmin/tenants", "[]", "VALIDATION"),
    ] {
        let resp = raw(path, body).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        assert_error_shape(&resp.json().await.unwrap(), code);
    }
    let resp = server
        .http
        .post(server.url("/v1/superadmin/tenants"))
        .bearer_auth(&admin)
        .body("{\"name\":\"x\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415, "JSON without a content type");

    let users = format!("/v1/superadmin/tenants/{tenant}/users");
    for (body, field) in [
        (
            json!({"email": "not-an-email", "password": "long enough", "role": "staff"}),
            "email",
        ),
        (
            json!({"email": "a@b.co", "password": "short", "role": "staff"}),
            "password",
        ),
        (
            json!({"email": "a@b.co", "password": "long enough", "role": "superadmin"}),
            "role",
        ),
        (
            json!({"email": "a@b.co", "password": "long enough", "role": "owner"}),
            "role",
        ),
    ] {
        let (status, err) = server.send(Method::POST, &admin, &users, &body).await;
        assert_eq!(status, 400, "{body}");
        assert_error_shape(&err, "VALIDATION");
        assert_eq!(err["error"]["field"], field);
    }
    let (status, err) = server
        .send(
            Method::POST,
            &admin,
            "/v1/superadmin/tenants/00000000-0000-0000-0000-000000000000/users",
            &json!({"email": "a@b.co", "password": "long enough", "role": "staff"}),
        )
        .await;
    assert_eq!(status, 404);
    assert_error_shape(&err, "TENANT_NOT_FOUND");

    let toggle = format!("/v1/superadmin/tenants/{tenant}/modules/pos");
    let (status, err) = server
        .send(Method::PUT, &admin, &toggle, &json!({"enabled": "yes"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["field"], "enabled");
    let (status, err) = server
        .send(
            Method::PUT,
            &admin,
            &format!("/v1/superadmin/tenants/{tenant}/modules/nope"),
            &json!({"enabled": true}),
        )
        .await;
    assert_eq!(status, 404);
    assert_error_shape(&err, "MODULE_NOT_FOUND");
    let (status, err) = server
        .send(
            Method::PUT,
            &admin,
            "/v1/superadmin/tenants/missing/modules/pos",
            &json!({"enabled": true}),
        )
        .await;
    assert_eq!(status, 404);
    assert_error_shape(&err, "TENANT_NOT_FOUND");

    for q in [
        "limit=0",
        "limit=abc",
        "limit=100000",
        "outcome=exploded",
        "bogus=1",
    ] {
        let (status, err) = server
            .get(&admin, &format!("/v1/superadmin/invocations?{q}"))
            .await;
        assert_eq!(status, 400, "{q}");
        assert_error_shape(&err, "VALIDATION");
    }
    let (status, err) = server.get(&admin, "/v1/nothing-here").await;
    assert_eq!(status, 404);
    assert_error_shape(&err, "NOT_FOUND");
    let (status, err) = server
        .send(Method::DELETE, &admin, "/v1/superadmin/tenants", &json!({}))
        .await;
    assert_eq!(status, 405);
    assert_error_shape(&err, "METHOD_NOT_ALLOWED");

    // A duplicate user is a conflict, not a second row.
    let ok = json!({"email": "dup@b.co", "password": "long enough", "role": "admin"});
    assert_eq!(server.send(Method::POST, &admin, &users, &ok).await.0, 201);
    let after_one = tables_snapshot(&server).await;
    let (status, err) = server.send(Method::POST, &admin, &users, &ok).await;
    assert_eq!(status, 409);
    assert_error_shape(&err, "CONFLICT");
    assert_eq!(tables_snapshot(&server).await, after_one);
    let mut expected = before.clone();
    expected[1] += 1;
    assert_eq!(after_one, expected, "only the one good user was written");
}

async fn oversized_bodies_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, staff) = server.tenant(&admin, "Big").await;
    server.toggle(&admin, &tenant, "pos", true).await;
    let invocations = server.count("invocations").await;
    let huge = vec![b'x'; (1 << 20) + 10];
    let resp = server
        .http
        .post(server.url("/v1/portal/pos/tickets"))
        .bearer_auth(&staff)
        .header("content-type", "application/json")
        .body(huge.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_error_shape(&resp.json().await.unwrap(), "PAYLOAD_TOO_LARGE");
    assert_eq!(
        server.count("invocations").await,
        invocations,
        "the module never ran"
    );
    let resp = server
        .http
        .post(server.url("/v1/superadmin/tenants"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
}

async fn bad_tokens_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, staff) = server.tenant(&admin, "Tokens").await;
    server.toggle(&admin, &tenant, "pos", true).await;
    let before = server.count("invocations").await;

    let keys = Keys::from_secret(JWT_SECRET.as_bytes());
    let now = nova::storage::now_ms() / 1000;
    let expired = keys
        .sign(&Claims {
            sub: "x".into(),
            email: "x@y.z".into(),
            role: Role::Admin,
            tenant: Some(tenant.clone()),
            iat: now - 7200,
            exp: now - 3600,
        })
        .unwrap();
    let other_key = Keys::from_secret(b"some-other-secret-some-other-secret!")
        .issue("x", "x@y.z", Role::Superadmin, None)
        .unwrap();
    let mut tampered = staff.clone();
    tampered.insert(tampered.len() / 2, 'A');
    for (label, header) in [
        ("missing", None),
        ("not bearer", Some(format!("Basic {staff}"))),
        ("garbage", Some("Bearer not.a.jwt".to_string())),
        ("expired", Some(format!("Bearer {expired}"))),
        ("wrong key", Some(format!("Bearer {other_key}"))),
        ("tampered", Some(format!("Bearer {tampered}"))),
    ] {
        for path in ["/v1/portal/pos/tickets", "/v1/superadmin/tenants"] {
            let mut req = server.http.get(server.url(path));
            if let Some(h) = &header {
                req = req.header("authorization", h);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 401, "{label} on {path}");
            assert_error_shape(&resp.json().await.unwrap(), "UNAUTHORIZED");
        }
    }
    // A tenant token on a superadmin route, and a superadmin token on the portal.
    let (status, err) = server.get(&staff, "/v1/superadmin/tenants").await;
    assert_eq!(status, 403);
    assert_error_shape(&err, "FORBIDDEN");
    let (status, err) = server
        .send(
            Method::POST,
            &staff,
            "/v1/superadmin/tenants",
            &json!({"name": "x"}),
        )
        .await;
    assert_eq!(status, 403);
    assert_error_shape(&err, "FORBIDDEN");
    let (status, err) = server.get(&admin, "/v1/portal/pos/tickets").await;
    assert_eq!(status, 403);
    assert_error_shape(&err, "FORBIDDEN");
    // Unknown module.
    let (status, err) = server.get(&staff, "/v1/portal/nope/anything").await;
    assert_eq!(status, 404);
    assert_error_shape(&err, "MODULE_NOT_FOUND");
    assert_eq!(
        server.count("invocations").await,
        before,
        "no call reached a module"
    );

    // Wrong password and unknown user look the same.
    for body in [
        json!({"email": common::SUPERADMIN_EMAIL, "password": "wrong password"}),
        json!({"email": "nobody@nowhere.test", "password": "whatever123"}),
    ] {
        let (status, err) = server.send(Method::POST, "", "/auth/login", &body).await;
        assert_eq!(status, 401);
        assert_error_shape(&err, "UNAUTHORIZED");
    }
}

both_backends!(
    malformed_bodies_are_refused,
    oversized_bodies_are_refused,
    bad_tokens_are_refused
);
