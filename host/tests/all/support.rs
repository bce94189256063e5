//! Support: SLA deadlines and breach alerts on a moved clock, superadmin triage across
//! tenants, maintenance mode, announcements and mail (through a real SMTP conversation).

use crate::common;

use std::sync::{Arc, Mutex};

use common::{Backend, TestServer};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const MIN: i64 = 60_000;

async fn support_tenant(server: &TestServer, admin: &str, name: &str) -> (String, String) {
    let (tenant, token) = server.tenant(admin, name).await;
    server.toggle(admin, &tenant, "support", true).await;
    (tenant, token)
}

async fn open(server: &TestServer, token: &str, subject: &str, severity: &str) -> Value {
    let (s, t) = server
        .send(
            Method::POST,
            token,
            "/v1/portal/support/tickets",
            &json!({"subject": subject, "body": "help", "severity": severity}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    t
}

async fn sla_deadlines_triage_and_breaches(backend: Backend) {
    let server = TestServer::start(backend).await;
    let _worker = server.spawn_worker("w1");
    let admin = server.superadmin().await;
    let (a, ta) = support_tenant(&server, &admin, "Alpha Bistro").await;
    let (_b, tb) = support_tenant(&server, &admin, "Beta Cafe").await;

    let mut tickets = Vec::new();
    for (sev, response, resolve) in [
        ("S1", Some(15), Some(120)),
        ("S2", Some(60), None),
        ("S3", Some(240), None),
        ("S4", None, None),
    ] {
        let t = open(&server, &ta, &format!("{sev} problem"), sev).await;
        let created = t["createdAtMs"].as_i64().unwrap();
        let after = |k: &str| t[k].as_i64().map(|d| (d - created) / MIN);
        assert_eq!(
            (after("responseDueAtMs"), after("resolveDueAtMs")),
            (response, resolve),
            "{sev}: {t}"
        );
        assert_eq!(t["responseDueAt"].is_null(), response.is_none());
        tickets.push(t);
    }
    let b_ticket = open(&server, &tb, "Beta's own", "S2").await;

    // Tenants see only their own tickets.
    let (_, mine) = server.get(&tb, "/v1/portal/support/tickets").await;
    let subjects: Vec<&str> = mine["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["Beta's own"]);
    let (s, other) = server
        .get(
            &tb,
            &format!("/v1/portal/support/tickets/{}", tickets[3]["id"]),
        )
        .await;
    assert!(
        s == 404 || other["subject"] != "S4 problem",
        "B reads A's ticket: {other}"
    );

    // Triage across tenants: least time left first, filters apply.
    let (s, all) = server.get(&admin, "/v1/superadmin/support/tickets").await;
    assert_eq!(s, 200, "{all}");
    let order: Vec<&str> = all["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["subject"].as_str().unwrap())
        .collect();
    assert_eq!(order[0], "S1 problem", "{order:?}");
    assert_eq!(order.len(), 5);
    assert_eq!(
        *order.last().unwrap(),
        "S4 problem",
        "no deadline sorts last"
    );
    let (_, s2) = server
        .get(&admin, "/v1/superadmin/support/tickets?severity=S2")
        .await;
    assert_eq!(s2["tickets"].as_array().unwrap().len(), 2);
    let (_, none) = server
        .get(&admin, "/v1/superadmin/support/tickets?breaching=true")
        .await;
    assert_eq!(none["tickets"], json!([]));
    let (s, _) = server
        .get(&admin, "/v1/superadmin/support/tickets?severity=S9")
        .await;
    assert_eq!(s, 400);
    let (s, _) = server.get(&ta, "/v1/superadmin/support/tickets").await;
    assert_eq!(s, 403);

    // The support team responds to the S1 ticket; the response is audited with its timing.
    let s1 = tickets[0]["id"].as_u64().unwrap();
    let (s, r) = server
        .send(
            Method::POST,
            &admin,
            &format!("/v1/superadmin/support/tickets/{a}/{s1}/replies"),
            &json!({"body": "On it"}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let (_, audit) = server
        .get(
            &admin,
            &format!("/v1/superadmin/audit?tenantId={a}&action=support.ticket.responded"),
        )
        .await;
    let row = &audit["events"][0];
    assert_eq!(
        (
            row["payload"]["severity"].as_str(),
            row["payload"]["firstResponse"].as_bool()
        ),
        (Some("S1"), Some(true)),
        "{audit}"
    );
    assert!(row["payload"]["timeToRespondMs"].as_i64().unwrap() >= 0);
    // Severity changes are for the support team, and audited.
    let (s, _) = server
        .send(
            Method::PUT,
            &admin,
            &format!(
                "/v1/superadmin/support/tickets/{a}/{}/severity",
                tickets[2]["id"]
            ),
            &json!({"severity": "S2"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = server
        .send(
            Method::PUT,
            &ta,
            &format!("/v1/portal/support/tickets/{}/severity", tickets[3]["id"]),
            &json!({"severity": "S1"}),
        )
        .await;
    assert_eq!(s, 403, "tenants do not triage");

    // The clock moves 61 minutes: the two S2 response deadlines (A's and B's, and A's S3 now
    // S2) are breached; S1 was answered and its resolution is not due yet.
    let t0 = tickets
        .iter()
        .chain([&b_ticket])
        .map(|t| t["createdAtMs"].as_i64().unwrap())
        .max()
        .unwrap();
    let alerts = nova::support::sla::sweep(&server.state, t0 + 61 * MIN)
        .await
        .unwrap();
    let mut seen: Vec<(String, String, String)> = alerts
        .iter()
        .map(|a| {
            (
                a["subject"].as_str().unwrap().into(),
                a["kind"].as_str().unwrap().into(),
                a["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("Beta's own".into(), "response".into(), "breached".into()),
            ("S2 problem".into(), "response".into(), "breached".into()),
            ("S3 problem".into(), "response".into(), "breached".into()),
        ],
        "{alerts:?}"
    );
    assert!(
        nova::support::sla::sweep(&server.state, t0 + 62 * MIN)
            .await
            .unwrap()
            .is_empty(),
        "each alert once"
    );
    let later = nova::support::sla::sweep(&server.state, t0 + 115 * MIN)
        .await
        .unwrap();
    assert_eq!(later.len(), 1, "{later:?}");
    assert_eq!(
        (later[0]["kind"].as_str(), later[0]["state"].as_str()),
        (Some("resolve"), Some("at_risk"))
    );
    let (_, audit) = server
        .get(
            &admin,
            "/v1/superadmin/audit?action=support.sla.breached&limit=100",
        )
        .await;
    assert_eq!(audit["events"].as_array().unwrap().len(), 3);
    let (_, outbox) = server.get(&admin, "/v1/superadmin/mail/outbox").await;
    let to_root = outbox["mail"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["subject"].as_str().unwrap().contains("SLA"))
        .count();
    assert_eq!(
        to_root, 4,
        "one mail per alert to the one superadmin: {outbox}"
    );
}

async fn maintenance_refuses_writes_before_anything_runs(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, token) = support_tenant(&server, &admin, "Maint Diner").await;
    server.toggle(&admin, &tenant, "pos", true).await;
    open(&server, &token, "before", "S3").await;

    let (s, v) = server
        .send(
            Method::PUT,
            &admin,
            "/v1/superadmin/maintenance",
            &json!({"enabled": true}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (400, Some("message")),
        "{v}"
    );
    let (s, v) = server
        .send(
            Method::PUT,
            &admin,
            "/v1/superadmin/maintenance",
            &json!({"enabled": true, "message": "Database upgrade until 22:00 UTC"}),
        )
        .await;
    assert_eq!((s, v["enabled"].as_bool()), (200, Some(true)), "{v}");

    let (invocations, kv) = (
        server.count("invocations").await,
        server.count("module_kv").await,
    );
    for (path, body) in [
        (
            "/v1/portal/support/tickets",
            json!({"subject": "during", "body": "x", "severity": "S2"}),
        ),
        (
            "/v1/portal/pos/tickets",
            json!({"table": "1", "items": [{"name": "Tea", "qty": 1, "priceCents": 100}]}),
        ),
    ] {
        let (s, v) = server.send(Method::POST, &token, path, &body).await;
        assert_eq!(
            (
                s,
                v["error"]["code"].as_str(),
                v["error"]["message"].as_str()
            ),
            (
                503,
                Some("MAINTENANCE"),
                Some("Database upgrade until 22:00 UTC")
            ),
            "{path}: {v}"
        );
    }
    // The refusal carries what every answer does (the request id, in the header and the
    // body) and tells the client when to try again.
    let resp = server
        .http
        .post(server.url("/v1/portal/pos/tickets"))
        .bearer_auth(&token)
        .header("x-request-id", "maint-probe-1")
        .json(&json!({"table": "1", "items": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    assert_eq!(
        (header("retry-after"), header("x-request-id")),
        (Some("300".into()), Some("maint-probe-1".into()))
    );
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["requestId"], "maint-probe-1", "{v}");
    // Input no backend can store is refused first, as a 400, maintenance or not.
    let (s, v) = server
        .send(
            Method::POST,
            &token,
            "/v1/portal/pos/tickets%00",
            &json!({}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("BAD_REQUEST")),
        "{v}"
    );
    assert_eq!(
        server.count("invocations").await,
        invocations,
        "no module ran"
    );
    assert_eq!(server.count("module_kv").await, kv, "nothing was written");
    let (s, list) = server.get(&token, "/v1/portal/support/tickets").await;
    assert_eq!(
        (s, list["tickets"].as_array().map(Vec::len)),
        (200, Some(1)),
        "reads work: {list}"
    );
    let (s, _) = server
        .send(
            Method::PUT,
            &admin,
            &format!("/v1/superadmin/tenants/{tenant}/feature-flags/pos.reports"),
            &json!({"enabled": true}),
        )
        .await;
    assert_eq!(s, 200, "superadmin writes work");
    let (_, me) = server.get(&token, "/v1/portal/me").await;
    assert_eq!(
        me["maintenance"], "Database upgrade until 22:00 UTC",
        "the portal can show the banner: {me}"
    );

    let (s, v) = server
        .send(
            Method::PUT,
            &admin,
            "/v1/superadmin/maintenance",
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!((s, v["enabled"].as_bool()), (200, Some(false)), "{v}");
    open(&server, &token, "after", "S3").await;
    let (_, me) = server.get(&token, "/v1/portal/me").await;
    assert_eq!(me["maintenance"], Value::Null, "{me}");
    let (_, log) = server.get(&admin, "/v1/superadmin/maintenance/log").await;
    let period = &log["periods"][0];
    assert_eq!(
        (
            period["refusedWrites"].as_i64(),
            period["endedAt"].is_null()
        ),
        // Two writes and the header probe; the bad-input 400 is not a maintenance refusal.
        (Some(3), false),
        "{log}"
    );
    assert_eq!(period["message"], "Database upgrade until 22:00 UTC");
    let (_, news) = server.get(&token, "/v1/portal/support/announcements").await;
    assert_eq!(
        news["announcements"][0]["title"], "Maintenance complete",
        "{news}"
    );
}

/// Triage asks only tenants that have tickets in the status listed, and a tenant whose
/// support cannot answer is named in `unreadable` while the others' tickets are listed.
async fn triage_asks_tenants_with_tickets_and_names_the_unreadable(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (a, ta) = support_tenant(&server, &admin, "Alpha Diner").await;
    let (b, tb) = support_tenant(&server, &admin, "Beta Diner").await;
    let (quiet, _) = support_tenant(&server, &admin, "Quiet Diner").await;
    open(&server, &ta, "Alpha's", "S2").await;
    open(&server, &tb, "Beta's", "S2").await;

    // Beta runs a support version that cannot list tickets (a canary gone wrong).
    let (_, versions) = server
        .get(&admin, "/v1/superadmin/modules/support/versions")
        .await;
    let good = versions["versions"][0]["version"].as_i64().unwrap();
    let installed: Value = server
        .install_ungranted(&admin, "support", common::guests::TRIVIAL)
        .await
        .json()
        .await
        .unwrap();
    let (s, _) = server
        .send(
            Method::POST,
            &admin,
            "/v1/superadmin/modules/support/activate",
            &json!({"version": good}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = server
        .send(
            Method::PUT,
            &admin,
            &format!("/v1/superadmin/tenants/{b}/modules/support/pin"),
            &json!({"version": installed["version"]}),
        )
        .await;
    assert_eq!(s, 200);

    let resp = server
        .http
        .get(server.url("/v1/superadmin/support/tickets"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let triage: Value = resp.json().await.unwrap();
    let subjects: Vec<&str> = triage["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["Alpha's"], "{triage}");
    let unreadable = triage["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1, "{triage}");
    assert_eq!(unreadable[0]["tenantId"], b.as_str());
    assert!(!unreadable[0]["code"].as_str().unwrap().is_empty());

    // The quiet tenant, with support on but no ticket, was not called at all.
    let mut called: Vec<String> = server
        .invocations_for(&admin, &request_id)
        .await
        .iter()
        .map(|r| r["tenantId"].as_str().unwrap().to_string())
        .collect();
    called.sort();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(called, expected, "quiet tenant {quiet} must not be called");
}

both_backends!(
    sla_deadlines_triage_and_breaches,
    maintenance_refuses_writes_before_anything_runs,
    triage_asks_tenants_with_tickets_and_names_the_unreadable
);

/// A minimal SMTP server that accepts every message: (smtp URL, messages received).
async fn smtp_sink() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let inbox = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let inbox = inbox.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(d) = data.as_mut() {
                        if line == "." {
                            inbox.lock().unwrap().push(data.take().unwrap());
                            w.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            d.push_str(&line);
                            d.push('\n');
                        }
                        continue;
                    }
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            w.write_all(b"221 bye\r\n").await.unwrap();
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    w.write_all(answer).await.unwrap();
                }
            });
        }
    });
    (url, got)
}

async fn admin_user(server: &TestServer, admin: &str, tenant: &str, email: &str) {
    let (s, v) = server
        .send(
            Method::POST,
            admin,
            &format!("/v1/superadmin/tenants/{tenant}/users"),
            &json!({"email": email, "password": "admin-password", "role": "admin"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_reach_their_tenants_and_their_admins_by_smtp() {
    let (smtp, inbox) = smtp_sink().await;
    let server = TestServer::start_with_smtp(Backend::Sqlite, &smtp).await;
    let _worker = server.spawn_worker("mailer");
    let admin = server.superadmin().await;
    let (a, ta) = server.tenant(&admin, "Alpha").await;
    let (b, tb) = server.tenant(&admin, "Beta").await;
    admin_user(&server, &admin, &a, "boss@alpha.test").await;
    admin_user(&server, &admin, &b, "boss@beta.test").await;

    let (s, one) = server
        .send(
            Method::POST,
            &admin,
            "/support/announcements",
            &json!({"title": "New card reader", "body": "Update your terminal", "tenantIds": [a]}),
        )
        .await;
    assert_eq!(s, 201, "{one}");
    let (s, _) = server
        .send(Method::POST, &admin, "/support/announcements",
            &json!({"title": "Planned maintenance", "body": "Short downtime", "maintenanceWindow": {"start": 1_900_000_000_000i64, "end": 1_900_000_360_000i64}}))
        .await;
    assert_eq!(s, 201);
    let titles = |v: &Value| -> Vec<String> {
        v["announcements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["title"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, seen_a) = server.get(&ta, "/v1/portal/support/announcements").await;
    let (_, seen_b) = server.get(&tb, "/v1/portal/support/announcements").await;
    assert_eq!(titles(&seen_a), ["Planned maintenance", "New card reader"]);
    assert_eq!(
        titles(&seen_b),
        ["Planned maintenance"],
        "B never sees A's announcement"
    );
    assert!(
        seen_a["announcements"][1].get("tenantIds").is_none(),
        "targets are not shown to tenants"
    );

    // Three mails went out through SMTP: A's admin twice, B's admin once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while inbox.lock().unwrap().len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "mail never arrived: {:?}",
            inbox.lock().unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let got = inbox.lock().unwrap().clone();
    assert_eq!(got.len(), 3);
    assert_eq!(
        got.iter().filter(|m| m.contains("boss@beta.test")).count(),
        1
    );
    assert!(got.iter().any(|m| m.contains("Subject: [Nova] New card reader") && m.contains("boss@alpha.test")));
    assert!(
        !got.iter()
            .any(|m| m.contains("New card reader") && m.contains("boss@beta.test"))
    );
    // The worker marks a mail sent after the SMTP server took it: the last mark may trail
    // the last delivery by a moment.
    loop {
        let (_, outbox) = server.get(&admin, "/v1/superadmin/mail/outbox").await;
        let mail = outbox["mail"].as_array().unwrap();
        assert_eq!(mail.len(), 3, "{outbox}");
        if mail.iter().all(|m| m["status"] == "sent") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{outbox}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Bad input and permissions.
    for (body, field) in [
        (json!({"title": "", "body": "x"}), "title"),
        (
            json!({"title": "t", "body": "x", "tenantIds": []}),
            "tenantIds",
        ),
        (
            json!({"title": "t", "body": "x", "tenantIds": ["nope"]}),
            "tenantIds",
        ),
        (
            json!({"title": "t", "body": "x", "maintenanceWindow": {"start": 10, "end": 5}}),
            "maintenanceWindow",
        ),
    ] {
        let (s, v) = server
            .send(Method::POST, &admin, "/support/announcements", &body)
            .await;
        assert_eq!(
            (s, v["error"]["field"].as_str()),
            (400, Some(field)),
            "{body}: {v}"
        );
    }
    let (s, _) = server
        .send(
            Method::POST,
            &ta,
            "/support/announcements",
            &json!({"title": "t", "body": "x"}),
        )
        .await;
    assert_eq!(s, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_mail_is_kept_in_the_outbox() {
    let server = TestServer::start(Backend::Sqlite).await;
    let _worker = server.spawn_worker("mailer");
    let admin = server.superadmin().await;
    let (a, _) = server.tenant(&admin, "Alpha").await;
    admin_user(&server, &admin, &a, "boss@alpha.test").await;
    let (s, _) = server
        .send(
            Method::POST,
            &admin,
            "/support/announcements",
            &json!({"title": "Hello", "body": "World"}),
        )
        .await;
    assert_eq!(s, 201);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, v) = server.get(&admin, "/v1/superadmin/mail/outbox").await;
        let mail = &v["mail"][0];
        if mail["status"] == "stored" {
            assert_eq!(
                (
                    mail["to"].as_str(),
                    mail["subject"].as_str(),
                    v["smtp"].as_bool()
                ),
                (Some("boss@alpha.test"), Some("[Nova] Hello"), Some(false))
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{v}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_from_the_command_line() {
    use common::process::{Nova, stop};
    let nova = Nova::new(Backend::Sqlite).await;
    let on = nova.run(&["maintenance", "on", "--message", "Moving racks"]);
    assert!(on.contains("maintenance is on"), "{on}");
    let (child, base) = nova.serve();
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{base}/v1/registrations"))
        .json(
            &json!({"restaurantName": "Late", "email": "late@x.test", "password": "late-password"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        (v["error"]["code"].as_str(), v["error"]["message"].as_str()),
        (Some("MAINTENANCE"), Some("Moving racks"))
    );
    stop(child);
    let off = nova.run(&["maintenance", "off"]);
    assert!(off.contains("after refusing 1 writes"), "{off}");
}
