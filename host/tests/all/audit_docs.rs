//! The audit payloads docs/API.md describes are what the server writes: a scenario makes
//! the host write each of its own audit actions, and every action's payload keys must match
//! the table under "Audit events the host writes".

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{Backend, TestServer, guests};
use reqwest::Method;
use serde_json::{Value, json};

/// The table in docs/API.md: action → payload keys.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let doc = include_str!("../../../docs/API.md");
    let section = doc
        .split_once("### Audit events the host writes")
        .expect("docs/API.md has the audit table")
        .1;
    let section = section.split("\n#").next().unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').collect();
            let ticked = |cell: &str| -> Vec<String> {
                cell.split('`')
                    .enumerate()
                    .filter(|(i, _)| i % 2 == 1)
                    .map(|(_, s)| s.to_string())
                    .collect()
            };
            let action = ticked(cells[1]).remove(0);
            (action, ticked(cells[2]).into_iter().collect())
        })
        .collect()
}

async fn ok(server: &TestServer, token: &str, method: Method, path: &str, body: Value) -> Value {
    let (status, answer) = if method == Method::GET {
        server.get(token, path).await
    } else {
        server.send(method.clone(), token, path, &body).await
    };
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {answer}"
    );
    answer
}

async fn the_documented_payloads_are_written(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, staff) = server.tenant(&admin, "Audited Bistro").await;
    let t = format!("/v1/superadmin/tenants/{tenant}");
    // A refused sign-in.
    let (status, _) = server
        .send(
            Method::POST,
            "",
            "/auth/login",
            &json!({"email": common::SUPERADMIN_EMAIL, "password": "not the password"}),
        )
        .await;
    assert_eq!(status, 401);
    // Superadmins come and go; a user is disabled and enabled.
    let added = ok(
        &server,
        &admin,
        Method::POST,
        "/v1/superadmin/members",
        json!({"email": "deputy@nova.test", "password": "deputy-password"}),
    )
    .await;
    let deputy = added["id"].as_str().unwrap().to_string();
    for disabled in [true, false] {
        ok(
            &server,
            &admin,
            Method::PUT,
            &format!("/v1/superadmin/users/{deputy}/status"),
            json!({"disabled": disabled}),
        )
        .await;
    }
    ok(
        &server,
        &admin,
        Method::DELETE,
        &format!("/v1/superadmin/members/{deputy}"),
        json!({}),
    )
    .await;
    // Trace sampling, set and reset.
    ok(
        &server,
        &admin,
        Method::PUT,
        "/v1/superadmin/tracing",
        json!({"sampleRatio": 0.5}),
    )
    .await;
    ok(
        &server,
        &admin,
        Method::DELETE,
        "/v1/superadmin/tracing",
        json!({}),
    )
    .await;
    // Toggles, flags, timezone.
    server.toggle(&admin, &tenant, "support", true).await;
    ok(
        &server,
        &admin,
        Method::PUT,
        &format!("{t}/feature-flags/pos.reports"),
        json!({"enabled": true}),
    )
    .await;
    ok(
        &server,
        &admin,
        Method::PUT,
        &format!("{t}/timezone"),
        json!({"timezone": "Europe/Paris"}),
    )
    .await;
    // Installs, grants, versions, pins.
    for _ in 0..2 {
        assert_eq!(
            server
                .install(&admin, "probe", guests::TRIVIAL)
                .await
                .status(),
            201
        );
    }
    assert_eq!(
        server
            .install(&admin, "probe", guests::HOSTILE)
            .await
            .status(),
        201
    );
    ok(
        &server,
        &admin,
        Method::PUT,
        "/v1/superadmin/modules/probe/grants",
        json!({"capabilities": ["kv"]}),
    )
    .await;
    ok(
        &server,
        &admin,
        Method::POST,
        "/v1/superadmin/modules/probe/rollback",
        json!({}),
    )
    .await;
    ok(
        &server,
        &admin,
        Method::POST,
        "/v1/superadmin/modules/probe/activate",
        json!({"version": 3}),
    )
    .await;
    ok(
        &server,
        &admin,
        Method::PUT,
        &format!("{t}/modules/probe/pin"),
        json!({"version": 3}),
    )
    .await;
    ok(
        &server,
        &admin,
        Method::DELETE,
        &format!("{t}/modules/probe/pin"),
        json!({}),
    )
    .await;
    // A capability the module was not granted, and a screen the portal cannot show.
    server.toggle(&admin, &tenant, "probe", true).await;
    let (status, _) = server
        .get(&staff, "/v1/portal/probe/entitlements?flag=x")
        .await;
    assert_eq!(status, 403);
    let (status, _) = server.get(&staff, "/v1/portal/probe/_views/escape").await;
    assert_eq!(status, 502);
    // Service tokens, announcements, maintenance.
    let token = ok(
        &server,
        &admin,
        Method::POST,
        &format!("{t}/service-tokens"),
        json!({"name": "smoke"}),
    )
    .await;
    ok(
        &server,
        &admin,
        Method::DELETE,
        &format!("{t}/service-tokens/{}", token["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    ok(
        &server,
        &admin,
        Method::POST,
        "/support/announcements",
        json!({"title": "Hello", "body": "New menu screens"}),
    )
    .await;
    ok(
        &server,
        &admin,
        Method::PUT,
        "/v1/superadmin/maintenance",
        json!({"enabled": true, "message": "Upgrade"}),
    )
    .await;
    ok(
        &server,
        &admin,
        Method::PUT,
        "/v1/superadmin/maintenance",
        json!({"enabled": false}),
    )
    .await;

    // A password reset link, used; a tenant export, built and downloaded.
    let (user_id, email): (String, String) =
        sqlx::query_as("SELECT id, email FROM users WHERE tenant_id = $1")
            .bind(&tenant)
            .fetch_one(server.db().pool())
            .await
            .unwrap();
    ok(
        &server,
        &admin,
        Method::POST,
        &format!("/v1/superadmin/users/{user_id}/password-reset"),
        json!({}),
    )
    .await;
    let mail: String = sqlx::query_scalar("SELECT body FROM mail_outbox WHERE to_addr = $1")
        .bind(&email)
        .fetch_one(server.db().pool())
        .await
        .unwrap();
    let link = mail.split("#token=").nth(1).unwrap();
    let reset_token: String = link.chars().take_while(char::is_ascii_hexdigit).collect();
    let (status, _) = server
        .send(
            Method::POST,
            "",
            "/auth/password-reset",
            &json!({"token": reset_token, "password": "a-new-password"}),
        )
        .await;
    assert_eq!(status, 204);
    let _worker = server.spawn_worker("audit-docs");
    let export = ok(
        &server,
        &admin,
        Method::POST,
        &format!("{t}/exports"),
        json!({"passphrase": "a long passphrase"}),
    )
    .await;
    let export = format!("{t}/exports/{}", export["id"].as_str().unwrap());
    let started = Instant::now();
    while ok(&server, &admin, Method::GET, &export, Value::Null).await["status"] == "pending" {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the export is not built"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let resp = server
        .http
        .get(server.url(&format!("{export}/download")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    nova::exports::expire_due(server.db(), nova::storage::now_ms() + 8 * 24 * 3600 * 1000)
        .await
        .unwrap();

    let events = ok(
        &server,
        &admin,
        Method::GET,
        "/v1/superadmin/audit?limit=1000",
        Value::Null,
    )
    .await;
    let mut written: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in events["events"].as_array().unwrap() {
        // Modules' own actions (`pos.…`) are the modules' to document.
        if e["module"] != "superadmin"
            && e["module"] != "exports"
            && !matches!(e["action"].as_str(), Some(a) if ["capability.denied", "outbound.denied", "portal.view_invalid", "auth.login_failed", "auth.login_rate_limited", "user.password_reset"].contains(&a))
        {
            continue;
        }
        let keys: BTreeSet<String> = e["payload"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        written.insert(e["action"].as_str().unwrap().to_string(), keys);
    }
    let docs = documented();
    let table: Vec<String> = written
        .iter()
        .map(|(a, keys)| {
            let keys: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
            format!("| `{a}` | {} |", keys.join(", "))
        })
        .collect();
    for (action, keys) in &written {
        assert_eq!(
            docs.get(action),
            Some(keys),
            "docs/API.md must describe {action}'s payload as written; the rows the server \
             writes:\n{}",
            table.join("\n")
        );
    }
    assert!(written.len() >= 15, "the scenario wrote {written:?}");
}

both_backends!(the_documented_payloads_are_written);
