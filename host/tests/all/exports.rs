//! Tenant exports, on both backends: a bundle for tenant A holds A's rows from every table
//! (checked row by row against the database) and nothing of tenant B; it opens with the
//! requester's key or passphrase and not with another; staff cannot ask for one, another
//! tenant cannot read or download it, and after its 7 days it is gone.

use crate::common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use age::secrecy::ExposeSecret;
use common::{Backend, TestServer};
use nova::exports::bundle::{self, Opener};
use nova::exports::tables::{TABLES, row_json};
use reqwest::Method;
use serde_json::{Value, json};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Every row of `tenant`, per bundle table, as the bundle writes them.
async fn rows_of(server: &TestServer, tenant: &str) -> Vec<(&'static str, BTreeSet<String>)> {
    let mut all = Vec::new();
    for table in &TABLES {
        let rows = sqlx::query(&table.select())
            .bind(tenant)
            .fetch_all(server.db().pool())
            .await
            .unwrap();
        let lines = rows
            .iter()
            .map(|r| row_json(r).unwrap().to_string())
            .collect();
        all.push((table.name, lines));
    }
    all
}

/// Rows the API has no short way to make, for `tenant`: a subscription and its invoice, a
/// billing event, a feature flag override, a pin and a registration.
async fn more_rows(server: &TestServer, tenant: &str, tag: &str) {
    let version: String = sqlx::query_scalar("SELECT id FROM module_versions LIMIT 1")
        .fetch_one(server.db().pool())
        .await
        .unwrap();
    let plan: String = sqlx::query_scalar("SELECT id FROM plans WHERE name = 'Pro'")
        .fetch_one(server.db().pool())
        .await
        .unwrap();
    for sql in [
        format!(
            "INSERT INTO subscriptions (id, tenant_id, plan_id, status, created_at, updated_at) VALUES ('sub-{tag}', '{tenant}', '{plan}', 'canceled', 1, 1)"
        ),
        format!(
            "INSERT INTO invoices (id, tenant_id, subscription_id, status, amount_cents, created_at, updated_at) VALUES ('inv-{tag}', '{tenant}', 'sub-{tag}', 'paid', 14900, 1, 1)"
        ),
        format!(
            "INSERT INTO billing_webhook_events (id, provider_event_id, type, payload, tenant_id, status, attempts, created_at) VALUES ('evt-{tag}', 'p-{tag}', 'invoice.paid', '{{}}', '{tenant}', 'processed', 1, 1)"
        ),
        format!(
            "INSERT INTO tenant_feature_flags (tenant_id, flag, source, enabled, updated_at) VALUES ('{tenant}', 'pos.reports', 'override', 1, 1)"
        ),
        format!(
            "INSERT INTO tenant_module_pins (tenant_id, module, version_id, pinned_by, pinned_at) VALUES ('{tenant}', 'pos', '{version}', 'ops', 1)"
        ),
        format!(
            "INSERT INTO registrations (id, restaurant_name, email, password_hash, plan_id, status, tenant_id, created_at) VALUES ('reg-{tag}', 'R {tag}', 'owner@{tag}.test', 'secret-hash-{tag}', '{plan}', 'approved', '{tenant}', 1)"
        ),
    ] {
        sqlx::query(&sql).execute(server.db().pool()).await.unwrap();
    }
}

/// A tenant with its admin's token, POS and support on, a sale, a support ticket, a service
/// token and the rows above.
async fn busy_tenant(server: &TestServer, admin: &str, name: &str, tag: &str) -> (String, String) {
    let (tenant, staff) = server.tenant(admin, name).await;
    let owner = server.tenant_user(admin, &tenant, "admin").await;
    server.toggle(admin, &tenant, "pos", true).await;
    server.toggle(admin, &tenant, "support", true).await;
    let (status, _) = server
        .send(
            Method::POST,
            &staff,
            "/v1/portal/pos/tickets",
            &json!({"table": "7"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = server
        .send(
            Method::POST,
            &owner,
            "/v1/portal/support/tickets",
            &json!({"subject": "Printer", "body": "It jams", "severity": "S4"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = server
        .send(
            Method::POST,
            admin,
            &format!("/v1/superadmin/tenants/{tenant}/service-tokens"),
            &json!({"name": "till"}),
        )
        .await;
    assert_eq!(status, 201);
    more_rows(server, &tenant, tag).await;
    (tenant, owner)
}

/// Ask for an export's status until it is no longer pending.
async fn finished(server: &TestServer, token: &str, path: &str) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = server.get(token, path).await;
        assert_eq!(status, 200, "{body}");
        if body["status"] != "pending" {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "still pending: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn download(server: &TestServer, token: &str, path: &str) -> (u16, Vec<u8>) {
    let resp = server
        .http
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
}

async fn audited(server: &TestServer, tenant: &str, action: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM audit_events WHERE tenant_id = $1 AND action = $2",
    )
    .bind(tenant)
    .bind(action)
    .fetch_one(server.db().pool())
    .await
    .unwrap()
}

async fn a_bundle_holds_its_tenant_and_nothing_else(backend: Backend) {
    let server = TestServer::start(backend).await;
    let _worker = server.spawn_worker("exports");
    let admin = server.superadmin().await;
    let (a, a_owner) = busy_tenant(&server, &admin, "Export A", "a").await;
    let (b, b_owner) = busy_tenant(&server, &admin, "Export B", "b").await;
    let a_staff = server.tenant_user(&admin, &a, "staff").await;
    let before = rows_of(&server, &a).await;
    let b_rows = rows_of(&server, &b).await;

    // Staff may not ask; nor may anyone without a key or passphrase, or with a bad one.
    let key = age::x25519::Identity::generate();
    let recipient = json!({"recipient": key.to_public().to_string()});
    let (status, _) = server
        .send(Method::POST, &a_staff, "/v1/portal/me/exports", &recipient)
        .await;
    assert_eq!(status, 403);
    for bad in [
        json!({}),
        json!({"recipient": "age1nope"}),
        json!({"passphrase": "short"}),
        json!({"recipient": key.to_public().to_string(), "passphrase": "long enough passphrase"}),
    ] {
        let (status, body) = server
            .send(Method::POST, &a_owner, "/v1/portal/me/exports", &bad)
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("VALIDATION")),
            "{bad}"
        );
    }
    let exports_before: i64 = server.count("tenant_exports").await;
    assert_eq!(exports_before, 0, "a refused request writes nothing");

    let (status, export) = server
        .send(Method::POST, &a_owner, "/v1/portal/me/exports", &recipient)
        .await;
    assert_eq!(
        (status, export["status"].as_str()),
        (202, Some("pending")),
        "{export}"
    );
    let id = export["id"].as_str().unwrap();
    let path = format!("/v1/portal/me/exports/{id}");
    let done = finished(&server, &a_owner, &path).await;
    assert_eq!(done["status"], "ready", "{done}");
    assert!(done["bytes"].as_i64().unwrap() > 0);

    // Another tenant sees no such export, and cannot download it; nor can another admin of
    // the same restaurant, who did not ask for it.
    let a_second = server.tenant_user(&admin, &a, "admin").await;
    for other in [&b_owner, &a_second] {
        let (status, _) = server.get(other, &path).await;
        assert_eq!(status, 404);
        let (status, _) = download(&server, other, &format!("{path}/download")).await;
        assert_eq!(status, 404);
    }

    let (status, sealed) = download(&server, &a_owner, &format!("{path}/download")).await;
    assert_eq!(status, 200);
    assert_eq!(sealed.len() as i64, done["bytes"].as_i64().unwrap());
    let wrong = age::x25519::Identity::generate();
    let wrong = Opener::Identity(wrong.to_string().expose_secret().to_string());
    assert!(bundle::open(&sealed, &wrong, tempfile::tempdir().unwrap().path()).is_err());
    let out = tempfile::tempdir().unwrap();
    let right = Opener::Identity(key.to_string().expose_secret().to_string());
    let manifest = bundle::open(&sealed, &right, out.path()).unwrap();
    assert_eq!(manifest["tenantId"], a.as_str());

    let after = rows_of(&server, &a).await;
    let b_text: Vec<&str> = [b.as_str(), "export-b.test", "owner@b.test", "secret-hash"].to_vec();
    for (((name, was), (_, now)), (_, theirs)) in before.iter().zip(&after).zip(&b_rows) {
        let text =
            std::fs::read_to_string(out.path().join(format!("tables/{name}.jsonl"))).unwrap();
        let lines: BTreeSet<String> = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap().to_string())
            .collect();
        // Every row A had when it asked is there; every row there is A's, as stored.
        assert!(!was.is_empty(), "A has no {name} rows to export");
        assert!(
            was.is_subset(&lines),
            "{name}: rows missing from the bundle"
        );
        assert!(
            lines.is_subset(now),
            "{name}: rows the database does not hold for A"
        );
        assert!(lines.is_disjoint(theirs), "{name}: B's rows in A's bundle");
        for word in &b_text {
            assert!(!text.contains(word), "{name} mentions {word}");
        }
        let listed = manifest["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == *name);
        assert_eq!(listed.unwrap()["rows"], lines.len());
    }
    let users = std::fs::read_to_string(out.path().join("tables/users.jsonl")).unwrap();
    assert!(!users.contains("password") && !users.contains("$argon2"));

    for action in [
        "tenant.export.requested",
        "tenant.export.ready",
        "tenant.export.downloaded",
    ] {
        assert_eq!(audited(&server, &a, action).await, 1, "{action}");
    }

    // Seven days on, the bundle is gone; the record stays.
    let expired = nova::exports::expire_due(server.db(), nova::storage::now_ms() + 8 * DAY_MS)
        .await
        .unwrap();
    assert_eq!(expired, 1);
    let (status, body) = server.get(&a_owner, &path).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("expired")));
    let (status, body) = download(&server, &a_owner, &format!("{path}/download")).await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (410, Some("EXPORT_EXPIRED"))
    );
    assert_eq!(audited(&server, &a, "tenant.export.expired").await, 1);
    let left: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT bundle FROM tenant_exports WHERE id = $1")
            .bind(id)
            .fetch_one(server.db().pool())
            .await
            .unwrap();
    assert!(left.is_none(), "the expired bundle's bytes are deleted");
}

async fn a_superadmin_exports_with_a_passphrase(backend: Backend) {
    let server = TestServer::start(backend).await;
    let _worker = server.spawn_worker("exports");
    let admin = server.superadmin().await;
    let (tenant, owner) = busy_tenant(&server, &admin, "Passphrase Bistro", "p").await;
    let (status, _) = server
        .send(
            Method::POST,
            &admin,
            "/v1/superadmin/tenants/no-such-tenant/exports",
            &json!({"passphrase": "a long passphrase"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, export) = server
        .send(
            Method::POST,
            &admin,
            &format!("/v1/superadmin/tenants/{tenant}/exports"),
            &json!({"passphrase": "a long passphrase"}),
        )
        .await;
    assert_eq!(status, 202, "{export}");
    let id = export["id"].as_str().unwrap();
    let path = format!("/v1/superadmin/tenants/{tenant}/exports/{id}");
    assert_eq!(finished(&server, &admin, &path).await["status"], "ready");
    // The passphrase is not kept once the bundle is built.
    let stored: String = sqlx::query_scalar("SELECT recipient FROM tenant_exports WHERE id = $1")
        .bind(id)
        .fetch_one(server.db().pool())
        .await
        .unwrap();
    assert_eq!(stored, "passphrase");
    // The tenant's own admin did not ask for this one, nor did another superadmin.
    let (status, _) = server
        .get(&owner, &format!("/v1/portal/me/exports/{id}"))
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .send(
            Method::POST,
            &admin,
            "/v1/superadmin/members",
            &json!({"email": "deputy@exports.test", "password": "deputy-password"}),
        )
        .await;
    assert_eq!(status, 201);
    let deputy = server.login("deputy@exports.test", "deputy-password").await;
    assert_eq!(server.get(&deputy, &path).await.0, 404);
    assert_eq!(
        download(&server, &deputy, &format!("{path}/download"))
            .await
            .0,
        404
    );

    let (status, sealed) = download(&server, &admin, &format!("{path}/download")).await;
    assert_eq!(status, 200);
    let wrong = Opener::Passphrase("not the passphrase".into());
    assert!(bundle::open(&sealed, &wrong, tempfile::tempdir().unwrap().path()).is_err());
    let out = tempfile::tempdir().unwrap();
    let right = Opener::Passphrase("a long passphrase".into());
    let manifest = bundle::open(&sealed, &right, out.path()).unwrap();
    assert_eq!(manifest["format"], "nova-tenant-export");
    let kv = std::fs::read_to_string(out.path().join("tables/module_kv.jsonl")).unwrap();
    assert!(kv.contains("\"module\":\"pos\"") && kv.contains("\"module\":\"support\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_holds_its_tenant_and_nothing_else_sqlite() {
    a_bundle_holds_its_tenant_and_nothing_else(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_holds_its_tenant_and_nothing_else_postgres() {
    a_bundle_holds_its_tenant_and_nothing_else(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_superadmin_exports_with_a_passphrase_sqlite() {
    a_superadmin_exports_with_a_passphrase(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_superadmin_exports_with_a_passphrase_postgres() {
    a_superadmin_exports_with_a_passphrase(Backend::Postgres).await;
}
