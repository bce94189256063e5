//! Crash consistency: the real server, under a write load of POS tickets, kv counters and
//! billing webhooks, is SIGKILLed at pseudo-random moments 20 times and restarted. Then:
//! every request that got a 2xx has its writes and its invocation record; no write exists
//! without its invocation record; every webhook accepted with a 2xx is processed exactly once.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::process::Nova;
use common::{BILLING_SECRET, Backend, SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD, guests};
use nova::storage::Db;
use serde_json::{Value, json};
use sqlx::Row;
use tokio::sync::Mutex;

const CYCLES: usize = 20;
const CLIENTS: usize = 6;

/// What the clients were told.
#[derive(Default)]
struct Acked {
    /// (ticket id, table) of tickets answered 201.
    tickets: Vec<(u64, String)>,
    /// Request ids of counter increments answered 200.
    increments: Vec<String>,
    /// Our ids of webhooks answered 202.
    webhooks: Vec<String>,
    /// Told on every acknowledgement, so a cycle can wait for its first ones.
    progress: Arc<tokio::sync::Notify>,
}

impl Acked {
    fn counts(&self) -> [usize; 3] {
        [
            self.tickets.len(),
            self.increments.len(),
            self.webhooks.len(),
        ]
    }

    fn acked(&mut self, push: impl FnOnce(&mut Self)) {
        push(self);
        self.progress.notify_one();
    }
}

async fn post(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    body: &Value,
) -> Option<(u16, Value, String)> {
    let resp = http
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .ok()?;
    let status = resp.status().as_u16();
    let rid = resp
        .headers()
        .get("x-request-id")?
        .to_str()
        .ok()?
        .to_string();
    let body = resp.json().await.ok()?;
    Some((status, body, rid))
}

/// One client: writes until the server dies under it.
async fn client(
    base: String,
    token: String,
    tenant: String,
    cycle: usize,
    n: usize,
    acked: Arc<Mutex<Acked>>,
) {
    // A killed server's connections are closed by the kernel, so a client learns of the
    // crash at once; the timeout is only a backstop. A short one made a loaded machine's slow
    // answers look like the crash: every client stopped and the cycle saw nothing acknowledged.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    for i in 0.. {
        let table = format!("c{cycle}-{n}-{i}");
        let ticket =
            json!({"table": table, "items": [{"name": "Soup", "qty": 1, "priceCents": 450}]});
        match post(&http, &base, &token, "/v1/portal/pos/tickets", &ticket).await {
            Some((201, t, _)) => acked
                .lock()
                .await
                .acked(|a| a.tickets.push((t["id"].as_u64().unwrap(), table))),
            Some(_) => {}
            None => return,
        }
        match post(
            &http,
            &base,
            &token,
            "/v1/portal/hostile/counter",
            &json!({}),
        )
        .await
        {
            Some((200, _, rid)) => acked.lock().await.acked(|a| a.increments.push(rid)),
            Some(_) => {}
            None => return,
        }
        let event = json!({"id": format!("evt_{cycle}_{n}_{i}"), "type": "invoice.created",
            "data": {"tenantId": tenant, "invoiceId": format!("in_{cycle}_{n}_{i}"), "amountCents": 100}});
        let body = event.to_string();
        let sig = nova::webhooks::signature::sign(
            BILLING_SECRET,
            nova::webhooks::signature::unix_now(),
            body.as_bytes(),
        );
        let sent = http
            .post(format!("{base}/billing/webhooks/sandbox"))
            .header("x-sandbox-signature", sig)
            .body(body)
            .send()
            .await;
        let Ok(resp) = sent else { return };
        if resp.status() == 202 {
            let Ok(v) = resp.json::<Value>().await else {
                return;
            };
            let id = v["id"].as_str().unwrap().to_string();
            acked.lock().await.acked(|a| a.webhooks.push(id));
        }
    }
}

async fn crash_cycles_lose_nothing_acknowledged(backend: Backend) {
    let mut nova = Nova::new(backend).await;
    nova.env.extend([
        ("BILLING_WEBHOOK_SECRET".into(), BILLING_SECRET.into()),
        ("NOVA_IN_PROCESS_WORKER".into(), "on".into()),
        ("NOVA_WORKER_LEASE_MS".into(), "500".into()),
    ]);
    nova.run(&[
        "superadmin",
        "create",
        "--email",
        SUPERADMIN_EMAIL,
        "--password",
        SUPERADMIN_PASSWORD,
    ]);
    let http = reqwest::Client::new();

    // Set up once: a tenant with POS and a counter module, and a service token.
    let (mut child, base) = nova.serve();
    let login: Value = http
        .post(format!("{base}/auth/login"))
        .json(&json!({"email": SUPERADMIN_EMAIL, "password": SUPERADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let root = login["token"].as_str().unwrap().to_string();
    let tenant: Value = http
        .post(format!("{base}/v1/superadmin/tenants"))
        .bearer_auth(&root)
        .json(&json!({"name": "Crash Cafe"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tenant = tenant["id"].as_str().unwrap().to_string();
    let installed = http
        .post(format!("{base}/v1/superadmin/modules?name=hostile"))
        .bearer_auth(&root)
        .body(guests::HOSTILE.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(installed.status(), 201);
    let granted = http
        .put(format!("{base}/v1/superadmin/modules/hostile/grants"))
        .bearer_auth(&root)
        .json(&json!({"capabilities": ["kv"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 200);
    for m in ["pos", "hostile"] {
        let r = http
            .put(format!("{base}/v1/superadmin/tenants/{tenant}/modules/{m}"))
            .bearer_auth(&root)
            .json(&json!({"enabled": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let st: Value = http
        .post(format!(
            "{base}/v1/superadmin/tenants/{tenant}/service-tokens"
        ))
        .bearer_auth(&root)
        .json(&json!({"name": "load"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = st["token"].as_str().unwrap().to_string();

    let acked = Arc::new(Mutex::new(Acked::default()));
    // A fixed pseudo-random sequence of kill delays (xorshift), so a failure can be replayed.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for cycle in 0..CYCLES {
        let base = if cycle == 0 {
            base.clone()
        } else {
            let (c, b) = nova.serve();
            child = c;
            b
        };
        let clients: Vec<_> = (0..CLIENTS)
            .map(|n| {
                tokio::spawn(client(
                    base.clone(),
                    token.clone(),
                    tenant.clone(),
                    cycle,
                    n,
                    acked.clone(),
                ))
            })
            .collect();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let at_start = acked.lock().await.counts();
        tokio::time::sleep(Duration::from_millis(40 + seed % 260)).await;
        // Each cycle kills a server that has acknowledged some of each kind, however slow
        // the machine, so the run always tests something.
        let progress = acked.lock().await.progress.clone();
        let first_acks = async {
            loop {
                let now = acked.lock().await.counts();
                if now.iter().zip(at_start).all(|(n, s)| *n > s) {
                    break;
                }
                progress.notified().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), first_acks)
            .await
            .unwrap_or_else(|_| panic!("cycle {cycle}: nothing acknowledged in a minute"));
        child.kill().unwrap();
        child.wait().unwrap();
        for c in clients {
            c.await.unwrap();
        }
    }

    // One last start lets the worker finish the webhooks accepted before the crashes.
    let (last, base) = nova.serve();
    let acked = acked.lock().await;
    assert!(
        acked.counts().iter().all(|n| *n >= CYCLES),
        "the load was too light to test anything: {} {} {}",
        acked.tickets.len(),
        acked.increments.len(),
        acked.webhooks.len()
    );
    for (id, table) in &acked.tickets {
        let resp = http
            .get(format!("{base}/v1/portal/pos/tickets/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "acknowledged ticket {id} is lost");
        let t: Value = resp.json().await.unwrap();
        assert_eq!(t["table"].as_str(), Some(table.as_str()));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let v: Value = http
            .get(format!(
                "{base}/v1/superadmin/billing/webhooks?status=pending,retrying&limit=1"
            ))
            .bearer_auth(&root)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["events"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "webhooks never drained"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut last = last;
    last.kill().unwrap();
    last.wait().unwrap();

    // Look behind the API.
    let url = nova
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/nova.db", nova.data_dir.path().display()));
    let db = Db::connect(&url).await.unwrap();
    let count = |sql: String| {
        let db = db.clone();
        async move {
            sqlx::query(&sql)
                .fetch_one(db.pool())
                .await
                .unwrap()
                .get::<i64, _>("n")
        }
    };
    let ok = |module: &str, path: &str| {
        format!(
            "SELECT COUNT(*) AS n FROM invocations WHERE tenant_id = '{tenant}' AND module = '{module}' AND method = 'POST' AND path = '{path}' AND outcome = 'ok' AND status < 300"
        )
    };
    // Every acknowledged call has its invocation record.
    for rid in &acked.increments {
        let n = count(format!(
            "SELECT COUNT(*) AS n FROM invocations WHERE request_id = '{rid}' AND outcome = 'ok'"
        ))
        .await;
        assert_eq!(
            n, 1,
            "acknowledged increment {rid} has no invocation record"
        );
    }
    // No write without its record: the counter equals the successful increments on record,
    // and the tickets stored equal the successful creations on record.
    let counter = sqlx::query("SELECT value FROM module_kv WHERE tenant_id = $1 AND module = 'hostile' AND key = 'counter'")
        .bind(&tenant).fetch_one(db.pool()).await.unwrap().get::<Vec<u8>, _>("value");
    let counter: i64 = serde_json::from_slice(&counter).unwrap();
    assert_eq!(counter, count(ok("hostile", "/counter")).await);
    assert!(counter >= acked.increments.len() as i64);
    let stored_tickets = count(format!("SELECT COUNT(*) AS n FROM module_kv WHERE tenant_id = '{tenant}' AND module = 'pos' AND key LIKE 'ticket/%'")).await;
    assert_eq!(stored_tickets, count(ok("pos", "/tickets")).await);
    assert!(stored_tickets >= acked.tickets.len() as i64);
    // Every accepted webhook was processed, exactly once.
    for id in &acked.webhooks {
        let status: String = sqlx::query("SELECT status FROM billing_webhook_events WHERE id = $1")
            .bind(id)
            .fetch_one(db.pool())
            .await
            .unwrap()
            .get("status");
        assert_eq!(status, "processed", "webhook {id}");
    }
    let processed =
        count("SELECT COUNT(*) AS n FROM billing_webhook_events WHERE status = 'processed'".into())
            .await;
    let applied = count(format!(
        "SELECT COUNT(*) AS n FROM audit_events WHERE module = 'billing' AND tenant_id = '{tenant}'"
    ))
    .await;
    let invoices = count(format!(
        "SELECT COUNT(*) AS n FROM invoices WHERE tenant_id = '{tenant}'"
    ))
    .await;
    assert_eq!(
        (applied, invoices),
        (processed, processed),
        "each processed webhook applied once"
    );
    println!(
        "{CYCLES} crash cycles: {} tickets, {} increments, {} webhooks acknowledged; none lost, none doubled",
        acked.tickets.len(),
        acked.increments.len(),
        acked.webhooks.len()
    );
    db.close().await;
}

both_backends!(crash_cycles_lose_nothing_acknowledged);
