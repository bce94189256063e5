//! Access lifecycle: a disabled user's token stops working on another replica, a retired
//! signing key's tokens stop verifying everywhere, and the platform keeps its last superadmin.

use std::time::{Duration, Instant};

use crate::common;

use common::process::{Nova, login, stop};
use common::{Backend, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

async fn status_of(http: &reqwest::Client, url: &str, token: &str) -> u16 {
    http.get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Ask until `url` answers `want` with `token` (another replica takes a change up when told
/// over Redis, or at its next reconciliation); how long it took.
async fn until(http: &reqwest::Client, url: &str, token: &str, want: u16) -> Duration {
    let started = Instant::now();
    loop {
        let got = status_of(http, url, token).await;
        if got == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{url} still answers {got}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Part `n` of a JWT (0 header, 1 claims), decoded.
fn jwt_part(token: &str, n: usize) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(n).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn kid(token: &str) -> String {
    jwt_part(token, 0)["kid"].as_str().unwrap().to_string()
}

fn claims(token: &str) -> Value {
    jwt_part(token, 1)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_users_and_retired_keys_are_refused_on_every_replica() {
    let mut nova = Nova::new(Backend::Postgres).await;
    nova.env.push(("REDIS_URL".into(), common::redis_url()));
    nova.run(&[
        "superadmin",
        "create",
        "--email",
        "ops@access.test",
        "--password",
        "ops-password-1",
    ]);
    let (replica_a, a) = nova.serve();
    let (replica_b, b) = nova.serve();
    let mut replicas = (
        common::process::KillOnDrop(Some(replica_a)),
        common::process::KillOnDrop(Some(replica_b)),
    );
    let http = reqwest::Client::new();
    let admin = login(&http, &a, "ops@access.test", "ops-password-1").await;
    let (tenant, _) = common::process::pos_tenant(
        &http,
        &a,
        &admin,
        "Locked Larder",
        "boss@larder.test",
        "larder-password",
    )
    .await;
    let boss = login(&http, &a, "boss@larder.test", "larder-password").await;
    let me = format!("{b}/v1/portal/me");
    assert_eq!(status_of(&http, &me, &boss).await, 200);
    let users: Value = http
        .get(format!("{a}/v1/superadmin/tenants/{tenant}/users"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let boss_id = users["users"][0]["id"].as_str().unwrap().to_string();

    // Disabled through replica A: B refuses the token the user already holds, and keeps
    // refusing it once the user is enabled again (tokens carry whole seconds: the disable
    // must fall in a later second than the token's, which is what this waits for).
    let issued = claims(&boss)["iat"].as_i64().unwrap();
    while now_secs() <= issued {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = http
        .put(format!("{a}/v1/superadmin/users/{boss_id}/status"))
        .bearer_auth(&admin)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let took = until(&http, &me, &boss, 401).await;
    println!("a disabled user's token was refused by the other replica after {took:?}");
    let r = http
        .post(format!("{b}/auth/login"))
        .json(&json!({"email": "boss@larder.test", "password": "larder-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a disabled user cannot sign in");
    // Enabled again: a new sign-in works; the old token stays dead.
    let r = http
        .put(format!("{b}/v1/superadmin/users/{boss_id}/status"))
        .bearer_auth(&admin)
        .json(&json!({"disabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let boss_again = loop {
        let r = http
            .post(format!("{a}/auth/login"))
            .json(&json!({"email": "boss@larder.test", "password": "larder-password"}))
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            break r.json::<Value>().await.unwrap()["token"]
                .as_str()
                .unwrap()
                .to_string();
        }
        // Replica A takes the enable up over Redis.
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    until(&http, &format!("{a}/v1/portal/me"), &boss_again, 200).await;
    until(&http, &format!("{b}/v1/portal/me"), &boss_again, 200).await;
    assert_eq!(
        status_of(&http, &me, &boss).await,
        401,
        "the old token stays dead"
    );
    let boss = boss_again;

    // Keys: rotate, wait until new tokens carry the new key, retire the old one.
    let old = kid(&boss);
    nova.run(&["keys", "rotate"]);
    let fresh = loop {
        let t = login(&http, &b, "boss@larder.test", "larder-password").await;
        if kid(&t) != old {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Both replicas have taken the new key up and accept the old token, so each now
    // remembers it as verified: the retirement must make them forget it.
    until(&http, &format!("{a}/v1/portal/me"), &fresh, 200).await;
    for base in [&a, &b] {
        assert_eq!(
            status_of(&http, &format!("{base}/v1/portal/me"), &boss).await,
            200
        );
    }
    let out = nova
        .command()
        .args(["keys", "retire", &old])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for base in [&a, &b] {
        let took = until(&http, &format!("{base}/v1/portal/me"), &boss, 401).await;
        println!("a retired key's token was refused by {base} after {took:?}");
        assert_eq!(
            status_of(&http, &format!("{base}/v1/portal/me"), &fresh).await,
            200
        );
    }
    let listed = nova.run(&["keys", "list"]);
    assert!(listed.contains(&format!("{old}  retired")), "{listed}");
    // The key that signs cannot go.
    let out = nova
        .command()
        .args(["keys", "retire", &kid(&fresh)])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("the last key that signs"));
    stop(replicas.1.take());
    stop(replicas.0.take());
}

async fn superadmins_come_and_go_but_the_last_stays(backend: Backend) {
    let server = TestServer::start(backend).await;
    let root = server.superadmin().await;
    // Add one; they sign in.
    let (s, added) = server
        .send(
            Method::POST,
            &root,
            "/v1/superadmin/members",
            &json!({"email": "Second@Nova.test", "password": "second-password"}),
        )
        .await;
    assert_eq!(s, 201, "{added}");
    assert_eq!(added["email"], "second@nova.test");
    let second = server.login("second@nova.test", "second-password").await;
    // No superadmin takes over another's account by adding its email.
    let (s, v) = server
        .send(
            Method::POST,
            &root,
            "/v1/superadmin/members",
            &json!({"email": "second@nova.test", "password": "hijacked-password"}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("CONFLICT")),
        "{v}"
    );
    server.login("second@nova.test", "second-password").await;
    let id = added["id"].as_str().unwrap().to_string();
    // Bad input and the wrong people write nothing.
    for bad in [
        json!({"email": "nobody", "password": "second-password"}),
        json!({"email": "x@nova.test", "password": "short"}),
        json!({"email": "x@nova.test"}),
    ] {
        let (s, v) = server
            .send(Method::POST, &root, "/v1/superadmin/members", &bad)
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (400, Some("VALIDATION")),
            "{bad}: {v}"
        );
    }
    let (tenant, staff) = server.tenant(&root, "Nosy Noodles").await;
    let _ = tenant;
    let (s, _) = server
        .send(
            Method::POST,
            &staff,
            "/v1/superadmin/members",
            &json!({"email": "evil@nova.test", "password": "evil-password"}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = server
        .send(
            Method::DELETE,
            &root,
            "/v1/superadmin/members/no-such-user",
            &json!({}),
        )
        .await;
    assert_eq!(s, 404);
    let listed = server.get(&root, "/v1/superadmin/members").await.1;
    assert_eq!(listed["members"].as_array().unwrap().len(), 2, "{listed}");

    // Remove the second: their token stops at once on this replica.
    let (s, v) = server
        .send(
            Method::DELETE,
            &root,
            &format!("/v1/superadmin/members/{id}"),
            &json!({}),
        )
        .await;
    assert_eq!((s, v["disabled"].as_bool()), (200, Some(true)), "{v}");
    let (s, _) = server.get(&second, "/v1/superadmin/members").await;
    assert_eq!(s, 401);
    // The last enabled superadmin cannot be removed or disabled, not even by themself.
    let root_id = server.get(&root, "/v1/superadmin/members").await.1["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["disabled"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, v) = server
        .send(
            Method::DELETE,
            &root,
            &format!("/v1/superadmin/members/{root_id}"),
            &json!({}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("CONFLICT")),
        "{v}"
    );
    let (s, _) = server
        .send(
            Method::PUT,
            &root,
            &format!("/v1/superadmin/users/{root_id}/status"),
            &json!({"disabled": true}),
        )
        .await;
    assert_eq!(s, 409);
    let (s, _) = server.get(&root, "/v1/superadmin/members").await;
    assert_eq!(s, 200, "the last superadmin still gets in");
    // Adding the removed one again enables them with the new password.
    let (s, again) = server
        .send(
            Method::POST,
            &root,
            "/v1/superadmin/members",
            &json!({"email": "second@nova.test", "password": "another-password"}),
        )
        .await;
    assert_eq!(
        (s, again["id"].as_str()),
        (201, Some(id.as_str())),
        "{again}"
    );
    server.login("second@nova.test", "another-password").await;
    // Every change is in the audit trail.
    let (_, audit) = server.get(&root, "/v1/superadmin/audit?limit=50").await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in ["superadmin.added", "superadmin.removed"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    assert_eq!(
        actions.iter().filter(|a| **a == "superadmin.added").count(),
        2
    );
}

/// Service tokens: an expiry given at creation, refused after it; the list shows when each
/// was last used, never its secret.
async fn service_tokens_expire_and_show_their_last_use(backend: Backend) {
    let server = TestServer::start(backend).await;
    let root = server.superadmin().await;
    let (tenant, _) = server.tenant(&root, "Synthetic Sushi").await;
    server.toggle(&root, &tenant, "pos", true).await;
    let tokens = format!("/v1/superadmin/tenants/{tenant}/service-tokens");
    for bad in [0, 3651] {
        let (s, v) = server
            .send(
                Method::POST,
                &root,
                &tokens,
                &json!({"name": "probe", "expiresInDays": bad}),
            )
            .await;
        assert_eq!(
            (s, v["error"]["field"].as_str()),
            (400, Some("expiresInDays")),
            "{v}"
        );
    }
    let (s, issued) = server
        .send(
            Method::POST,
            &root,
            &tokens,
            &json!({"name": "probe", "expiresInDays": 30}),
        )
        .await;
    assert_eq!(s, 201, "{issued}");
    assert!(issued["expiresAt"].is_string(), "{issued}");
    let secret = issued["token"].as_str().unwrap().to_string();
    let id = issued["id"].as_str().unwrap().to_string();
    let (s, _) = server.get(&secret, "/v1/portal/pos/tickets?limit=1").await;
    assert_eq!(s, 200);
    // The last use is written beside the call, once a minute at most: wait until it shows.
    let started = Instant::now();
    let listed = loop {
        let (_, list) = server.get(&root, &tokens).await;
        let token = list["tokens"][0].clone();
        if token["lastUsedAt"].is_string() {
            break token;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no last use: {list}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(listed["id"], id.as_str());
    assert_eq!(listed["expiresAt"], issued["expiresAt"]);
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is never listed"
    );
    // Once past its expiry, it is refused.
    sqlx::query("UPDATE service_tokens SET expires_at = $1 WHERE id = $2")
        .bind(nova::storage::now_ms() - 1)
        .bind(&id)
        .execute(server.db().pool())
        .await
        .unwrap();
    let (s, v) = server.get(&secret, "/v1/portal/pos/tickets?limit=1").await;
    assert_eq!(s, 401, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("expired"),
        "{v}"
    );
}

const MASTER: &str = "9f3c1a6b2d4e5f60718293a4b5c6d7e8f9011223344556677889aabbccddeeff";

/// The stored secrets of every signing key.
async fn stored_secrets(nova: &Nova) -> Vec<String> {
    let url = match &nova.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}/nova.db", nova.data_dir.path().display()),
    };
    let db = nova::storage::Db::connect(&url).await.unwrap();
    let rows: Vec<(String,)> = sqlx::query_as("SELECT secret FROM signing_keys")
        .fetch_all(db.pool())
        .await
        .unwrap();
    rows.into_iter().map(|(s,)| s).collect()
}

/// Signing keys sealed at rest: a database from before the master key is sealed by `nova keys
/// encrypt`; tokens keep working; the plain secret is gone from the table; a replica without
/// the key refuses to start and says why; keys added later are sealed as they are stored.
async fn signing_keys_are_sealed_with_the_master_key(backend: Backend) {
    let mut nova = Nova::new(backend).await;
    nova.run(&[
        "superadmin",
        "create",
        "--email",
        "ops@sealed.test",
        "--password",
        "ops-password-1",
    ]);
    let (child, base) = nova.serve();
    let http = reqwest::Client::new();
    let token = login(&http, &base, "ops@sealed.test", "ops-password-1").await;
    stop(child);
    let plain = stored_secrets(&nova).await;
    assert!(plain.iter().all(|s| !s.starts_with("enc:")), "{plain:?}");

    nova.env.push(("NOVA_MASTER_KEY".into(), MASTER.into()));
    let out = nova.run(&["keys", "encrypt"]);
    assert!(out.contains("sealed 1 signing key"), "{out}");
    let sealed = stored_secrets(&nova).await;
    assert!(
        sealed.iter().all(|s| s.starts_with("enc:v1:")),
        "{sealed:?}"
    );
    for secret in &plain {
        assert!(sealed.iter().all(|s| !s.contains(secret.as_str())));
    }
    // Running it again seals nothing twice.
    assert!(
        nova.run(&["keys", "encrypt"])
            .contains("sealed 0 signing key")
    );

    let (child, base) = nova.serve();
    let me = format!("{base}/v1/superadmin/members");
    assert_eq!(
        status_of(&http, &me, &token).await,
        200,
        "old tokens still verify"
    );
    nova.run(&["keys", "rotate"]);
    assert!(
        stored_secrets(&nova)
            .await
            .iter()
            .all(|s| s.starts_with("enc:v1:")),
        "a new key is sealed as it is stored"
    );
    stop(child);

    // Without the key (or with another) a replica does not start, and says why.
    nova.env.retain(|(k, _)| k != "NOVA_MASTER_KEY");
    let out = nova.command().args(["keys", "list"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NOVA_MASTER_KEY"),
        "{out:?}"
    );
    nova.env
        .push(("NOVA_MASTER_KEY".into(), MASTER.replace("9f", "00")));
    let out = nova.command().args(["keys", "list"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not open"),
        "{out:?}"
    );
}

/// The token in the newest reset mail sent to `email`.
async fn reset_token(server: &TestServer, email: &str) -> String {
    let body: String = sqlx::query_scalar(
        "SELECT body FROM mail_outbox WHERE to_addr = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(email)
    .fetch_one(server.db().pool())
    .await
    .unwrap();
    let link = body
        .split_whitespace()
        .find(|w| w.starts_with("http://nova.test/app/reset.html#token="))
        .unwrap_or_else(|| panic!("no reset link in {body}"));
    link.rsplit('=').next().unwrap().to_string()
}

/// The email of `tenant`'s one user and the route that mails them a reset link.
async fn staff_reset_route(server: &TestServer, tenant: &str) -> (String, String) {
    let (id, email): (String, String) =
        sqlx::query_as("SELECT id, email FROM users WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_one(server.db().pool())
            .await
            .unwrap();
    (email, format!("/v1/superadmin/users/{id}/password-reset"))
}

async fn reset(server: &TestServer, token: &str, password: &str) -> (u16, Value) {
    let resp = server
        .http
        .post(server.url("/auth/password-reset"))
        .json(&json!({"token": token, "password": password}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Password reset links: sent by a superadmin only, they work once, expire, and a reset
/// signs the user out everywhere.
async fn reset_links_work_once_and_expire(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, staff) = server.tenant(&admin, "Reset Diner").await;
    let (email, send) = staff_reset_route(&server, &tenant).await;
    let (status, _) = server.send(Method::POST, &staff, &send, &json!({})).await;
    assert_eq!(status, 403, "staff cannot send reset links");
    let (status, _) = server
        .send(
            Method::POST,
            &admin,
            "/v1/superadmin/users/nobody/password-reset",
            &json!({}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, sent) = server.send(Method::POST, &admin, &send, &json!({})).await;
    assert_eq!(
        (status, sent["email"].as_str()),
        (202, Some(email.as_str())),
        "{sent}"
    );
    let token = reset_token(&server, &email).await;
    // Operators see that the mail exists, never the link in it.
    let (_, outbox) = server.get(&admin, "/v1/superadmin/mail/outbox").await;
    let listed = outbox["mail"].as_array().unwrap();
    let mail = listed.iter().find(|m| m["to"] == email.as_str()).unwrap();
    assert!(!mail["body"].as_str().unwrap().contains(&token), "{mail}");

    // A weak password does not use the link up; a wrong token does nothing.
    let (status, body) = reset(&server, &token, "short").await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("password"))
    );
    let (status, body) = reset(&server, &"0".repeat(64), "a-new-password").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("RESET_LINK_INVALID"))
    );

    // Tokens carry whole seconds and a reset kills those of earlier seconds (a sign-in right
    // after it must work): the old token must be from an earlier second than the reset.
    let issued = claims(&staff)["iat"].as_i64().unwrap();
    while now_secs() <= issued {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, _) = reset(&server, &token, "a-new-password").await;
    assert_eq!(status, 204);
    let (status, _) = server.get(&staff, "/v1/portal/me").await;
    assert_eq!(status, 401, "the token from before the reset is dead");
    let resp = server
        .http
        .post(server.url("/auth/login"))
        .json(&json!({"email": email, "password": "staff-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "the old password is gone");
    let fresh = server.login(&email, "a-new-password").await;
    assert_eq!(server.get(&fresh, "/v1/portal/me").await.0, 200);
    let (status, body) = reset(&server, &token, "another-password").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("RESET_LINK_INVALID")),
        "a link works once"
    );

    // A link past its hour is refused.
    server.send(Method::POST, &admin, &send, &json!({})).await;
    let late = reset_token(&server, &email).await;
    sqlx::query("UPDATE password_resets SET expires_at = $1 WHERE used_at IS NULL")
        .bind(nova::storage::now_ms() - 1)
        .execute(server.db().pool())
        .await
        .unwrap();
    let (status, _) = reset(&server, &late, "another-password").await;
    assert_eq!(status, 400);
    server.login(&email, "a-new-password").await;

    let count = |action: &'static str| {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_events WHERE action = $1")
            .bind(action)
            .fetch_one(server.db().pool())
    };
    assert_eq!(count("user.password_reset_sent").await.unwrap(), 2);
    assert_eq!(count("user.password_reset").await.unwrap(), 1);
}

/// The page a reset mail links to, in a real browser: it sets the password and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reset_page_sets_a_new_password() {
    let server = TestServer::start(Backend::Sqlite).await;
    let admin = server.superadmin().await;
    let (tenant, _) = server.tenant(&admin, "Reset Page").await;
    let (email, send) = staff_reset_route(&server, &tenant).await;
    assert_eq!(
        server.send(Method::POST, &admin, &send, &json!({})).await.0,
        202
    );
    let token = reset_token(&server, &email).await;

    let b = common::browser::Browser::start("reset").await;
    b.goto(&server.url(&format!("/app/reset.html#token={token}")))
        .await;
    b.see("Choose a new password").await;
    // The token leaves the address bar at once.
    assert!(
        !b.client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains(&token)
    );
    b.fill("#f-password", "page-password-1").await;
    b.fill("#f-again", "page-password-2").await;
    b.click("form#reset button[type=submit]").await;
    b.see("The two passwords differ.").await;
    b.fill("#f-again", "page-password-1").await;
    b.shots("form", None).await;
    b.click("form#reset button[type=submit]").await;
    b.see("Your password is changed").await;
    b.shots("done", None).await;
    assert_eq!(b.page_errors().await, Vec::<String>::new());
    b.close().await;
    server.login(&email, "page-password-1").await;
}

both_backends!(
    superadmins_come_and_go_but_the_last_stays,
    service_tokens_expire_and_show_their_last_use,
    signing_keys_are_sealed_with_the_master_key,
    reset_links_work_once_and_expire
);
