//! Who may do what: a matrix of routes × callers, forged and expired tokens, and login rate
//! limits with their audit trail.

use crate::common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::{Backend, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

struct Callers {
    staff: String,
    admin: String,
    other_admin: String,
    service: String,
    superadmin: String,
}

async fn login_new_admin(server: &TestServer, root: &str, tenant: &str, email: &str) -> String {
    let (s, v) = server
        .send(
            Method::POST,
            root,
            &format!("/v1/superadmin/tenants/{tenant}/users"),
            &json!({"email": email, "password": "admin-password", "role": "admin"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    server.login(email, "admin-password").await
}

/// Send with an optional bearer token; the status.
async fn status(
    server: &TestServer,
    token: Option<&str>,
    method: &Method,
    path: &str,
    body: &Value,
) -> u16 {
    let mut req = server.http.request(method.clone(), server.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if *method != Method::GET {
        req = req.json(body);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_group_answers_each_caller_as_documented() {
    let server = TestServer::start(Backend::Sqlite).await;
    let root = server.superadmin().await;
    let (a, staff) = server.tenant(&root, "Alpha").await;
    let (b, _) = server.tenant(&root, "Beta").await;
    for t in [&a, &b] {
        server.toggle(&root, t, "pos", true).await;
        server.toggle(&root, t, "support", true).await;
    }
    let (s, tok) = server
        .send(
            Method::POST,
            &root,
            &format!("/v1/superadmin/tenants/{a}/service-tokens"),
            &json!({"name": "synthetic"}),
        )
        .await;
    assert_eq!(s, 201);
    let c = Callers {
        staff,
        admin: login_new_admin(&server, &root, &a, "boss@alpha.test").await,
        other_admin: login_new_admin(&server, &root, &b, "boss@beta.test").await,
        service: tok["token"].as_str().unwrap().to_string(),
        superadmin: root,
    };
    let (s, ticket) = server
        .send(
            Method::POST,
            &c.staff,
            "/v1/portal/pos/tickets",
            &json!({"table": "1", "items": [{"name": "Tea", "qty": 1, "priceCents": 300}]}),
        )
        .await;
    assert_eq!(s, 201);
    let a_ticket = format!("/v1/portal/pos/tickets/{}", ticket["id"]);

    // (method, path, body, [anonymous, staff, tenant admin, other tenant's admin, service token, superadmin])
    let g = Method::GET;
    let p = Method::POST;
    let u = Method::PUT;
    let none = Value::Null;
    let rows: Vec<(Method, String, Value, [u16; 6])> = vec![
        (
            g.clone(),
            "/health".into(),
            none.clone(),
            [200, 200, 200, 200, 200, 200],
        ),
        (
            g.clone(),
            "/metrics".into(),
            none.clone(),
            [401, 403, 403, 403, 403, 200],
        ),
        (
            g.clone(),
            "/openapi.json".into(),
            none.clone(),
            [200, 200, 200, 200, 200, 200],
        ),
        (
            g.clone(),
            "/docs".into(),
            none.clone(),
            [200, 200, 200, 200, 200, 200],
        ),
        (
            g.clone(),
            "/v1/portal/me".into(),
            none.clone(),
            [401, 200, 200, 200, 200, 403],
        ),
        (
            g.clone(),
            "/v1/portal/pos/tickets".into(),
            none.clone(),
            [401, 200, 200, 200, 200, 403],
        ),
        (
            g.clone(),
            a_ticket.clone(),
            none.clone(),
            [401, 200, 200, 404, 200, 403],
        ),
        (
            p.clone(),
            "/v1/portal/support/tickets".into(),
            json!({"subject": "s", "body": "b", "severity": "S4"}),
            [401, 201, 201, 201, 201, 403],
        ),
        (
            g.clone(),
            "/v1/portal/support/announcements".into(),
            none.clone(),
            [401, 200, 200, 200, 200, 403],
        ),
        (
            g.clone(),
            "/v1/superadmin/tenants".into(),
            none.clone(),
            [401, 403, 403, 403, 403, 200],
        ),
        (
            p.clone(),
            "/v1/superadmin/tenants".into(),
            json!({"name": "Gamma"}),
            [401, 403, 403, 403, 403, 201],
        ),
        (
            g.clone(),
            format!("/v1/superadmin/tenants/{a}/modules"),
            none.clone(),
            [401, 403, 403, 403, 403, 200],
        ),
        (
            u.clone(),
            format!("/v1/superadmin/tenants/{a}/feature-flags/pos.reports"),
            json!({"enabled": true}),
            [401, 403, 403, 403, 403, 200],
        ),
        (
            g.clone(),
            "/v1/superadmin/modules/pos/grants".into(),
            none.clone(),
            [401, 403, 403, 403, 403, 200],
        ),
        (
            g.clone(),
            "/v1/superadmin/audit".into(),
            none.clone(),
            [401, 403, 403, 403, 403, 200],
        ),
        (
            g.clone(),
            "/v1/superadmin/billing/summary".into(),
            none.clone(),
            [401, 403, 403, 403, 403, 200],
        ),
        (
            g.clone(),
            "/v1/superadmin/billing/webhooks".into(),
            none.clone(),
            [401, 403, 403, 403, 403, 200],
        ),
        (
            p.clone(),
            "/ops/outbox/no-such-job/retry".into(),
            json!({}),
            [401, 403, 403, 403, 403, 404],
        ),
        (
            g.clone(),
            "/v1/superadmin/support/tickets".into(),
            none.clone(),
            [401, 403, 403, 403, 403, 200],
        ),
        (
            p.clone(),
            "/support/announcements".into(),
            json!({"title": "t", "body": "b"}),
            [401, 403, 403, 403, 403, 201],
        ),
        (
            g.clone(),
            "/v1/superadmin/maintenance".into(),
            none.clone(),
            [401, 403, 403, 403, 403, 200],
        ),
        (
            g.clone(),
            "/v1/superadmin/mail/outbox".into(),
            none.clone(),
            [401, 403, 403, 403, 403, 200],
        ),
        // Provider webhooks authenticate by signature only: a bearer token is no way in.
        (
            p.clone(),
            "/billing/webhooks/sandbox".into(),
            json!({"id": "e", "type": "invoice.paid"}),
            [401, 401, 401, 401, 401, 401],
        ),
        (
            p.clone(),
            "/v1/portal/pos/payments/pay_1/status".into(),
            json!({}),
            [401, 401, 401, 401, 401, 401],
        ),
    ];
    let callers: [Option<&str>; 6] = [
        None,
        Some(&c.staff),
        Some(&c.admin),
        Some(&c.other_admin),
        Some(&c.service),
        Some(&c.superadmin),
    ];
    let names = [
        "anonymous",
        "staff",
        "admin",
        "other tenant's admin",
        "service token",
        "superadmin",
    ];
    let mut wrong = Vec::new();
    for (method, path, body, expected) in &rows {
        for (i, caller) in callers.iter().enumerate() {
            let got = status(&server, *caller, method, path, body).await;
            if got != expected[i] {
                wrong.push(format!(
                    "{method} {path} as {}: {got}, expected {}",
                    names[i], expected[i]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn forge(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_tampered_tokens_are_refused() {
    let server = TestServer::start(Backend::Sqlite).await;
    let root = server.superadmin().await;
    let (a, staff) = server.tenant(&root, "Alpha").await;
    let (b, _) = server.tenant(&root, "Beta").await;
    server.toggle(&root, &a, "pos", true).await;
    server.toggle(&root, &b, "pos", true).await;
    assert_eq!(
        status(
            &server,
            Some(&staff),
            &Method::GET,
            "/v1/portal/me",
            &Value::Null
        )
        .await,
        200
    );

    let parts: Vec<&str> = staff.split('.').collect();
    let header: Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    let kid = header["kid"].as_str().unwrap();

    // alg none, with and without a signature.
    let none = json!({"alg": "none", "typ": "JWT", "kid": kid});
    let unsigned = forge(&none, &claims, "");
    let none_sig = forge(&none, &claims, parts[2]);
    // Another tenant's id in a token signed for this one.
    let mut moved = claims.clone();
    moved["tenant"] = json!(b);
    let tampered = forge(&header, &moved, parts[2]);
    // Promoted to superadmin.
    let mut promoted = claims.clone();
    promoted["role"] = json!("superadmin");
    promoted.as_object_mut().unwrap().remove("tenant");
    let elevated = forge(&header, &promoted, parts[2]);
    // Properly signed, but with a key Nova does not have, under Nova's own kid.
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some(kid.to_string());
    let wrong_key = jsonwebtoken::encode(
        &h,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"not-the-key-not-the-key-not-the-key"),
    )
    .unwrap();
    // Properly signed by Nova's key, but expired.
    let mut old: nova::auth::Claims = serde_json::from_value(claims.clone()).unwrap();
    old.iat -= 7200;
    old.exp = old.iat + 60;
    let expired = server.state.keys.sign(&old).unwrap();

    for (what, token) in [
        ("alg none", &unsigned),
        ("alg none, signed", &none_sig),
        ("tampered tenant", &tampered),
        ("tampered role", &elevated),
        ("wrong key", &wrong_key),
        ("expired", &expired),
        ("garbage", &"a.b.c".to_string()),
    ] {
        for path in [
            "/v1/portal/me",
            "/v1/portal/pos/tickets",
            "/v1/superadmin/tenants",
        ] {
            let got = status(&server, Some(token), &Method::GET, path, &Value::Null).await;
            assert_eq!(got, 401, "{what} on {path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_limited_and_audited() {
    let server = TestServer::start(Backend::Sqlite).await;
    let root = server.superadmin().await;
    let (a, _) = server.tenant(&root, "Alpha").await;
    login_new_admin(&server, &root, &a, "boss@alpha.test").await;
    let attempt = |email: &'static str, password: &'static str| {
        let http = server.http.clone();
        let url = server.url("/auth/login");
        async move {
            http.post(url)
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for _ in 0..nova::http::login::FAILURES_PER_ACCOUNT {
        assert_eq!(attempt("boss@alpha.test", "guess-guess").await, 401);
    }
    // The account is locked for now, even with the right password.
    assert_eq!(attempt("boss@alpha.test", "admin-password").await, 429);
    // Other accounts from the same address still log in.
    assert_eq!(
        attempt("root@nova.test", "correct horse battery").await,
        200
    );
    let (_, audit) = server
        .get(&root, "/v1/superadmin/audit?module=auth&limit=100")
        .await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "auth.login_failed")
            .count(),
        5,
        "{actions:?}"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "auth.login_rate_limited")
            .count(),
        1,
        "{actions:?}"
    );
    assert_eq!(audit["events"][0]["payload"]["address"], "127.0.0.1");
}
