//! The billing worker as a real process: the failure drill (events pile up while no worker
//! runs, then drain), a worker SIGKILLed mid-batch, and `nova drill billing`.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::process::{Nova, stop};
use common::{
    BILLING_SECRET, Backend, SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD, TestServer, post_billing_to,
};
use serde_json::{Value, json};

/// Start `nova worker`; returns the child once its probes answer.
fn worker(nova: &Nova) -> (Child, String) {
    let mut child = nova
        .command()
        .args(["worker", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("nova worker probes on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (child, base)
}

async fn count_status(http: &reqwest::Client, base: &str, admin: &str, status: &str) -> usize {
    let v: Value = http
        .get(format!(
            "{base}/v1/superadmin/billing/webhooks?status={status}&limit=1000"
        ))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["events"].as_array().unwrap().len()
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        // Other processes do the work; their visible state is what is waited on.
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn failure_drill_and_a_worker_killed_mid_batch(backend: Backend) {
    const EVENTS: usize = 300;
    let mut nova = Nova::new(backend).await;
    nova.env.extend([
        ("BILLING_WEBHOOK_SECRET".into(), BILLING_SECRET.into()),
        ("NOVA_IN_PROCESS_WORKER".into(), "off".into()),
        ("NOVA_WORKER_LEASE_MS".into(), "1000".into()),
        ("NOVA_WORKER_RETRY_BASE_MS".into(), "50".into()),
    ]);
    nova.run(&[
        "superadmin",
        "create",
        "--email",
        SUPERADMIN_EMAIL,
        "--password",
        SUPERADMIN_PASSWORD,
    ]);
    let (api, base) = nova.serve();
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{base}/auth/login"))
        .json(&json!({"email": SUPERADMIN_EMAIL, "password": SUPERADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = login["token"].as_str().unwrap().to_string();
    let tenant: Value = http
        .post(format!("{base}/v1/superadmin/tenants"))
        .bearer_auth(&admin)
        .json(&json!({"name": "Kill Test Kitchen"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tenant = tenant["id"].as_str().unwrap().to_string();

    // Failure drill: no worker runs, so accepted events pile up and the gauges show it.
    for n in 0..EVENTS {
        let e = json!({"id": format!("evt_k{n}"), "type": "invoice.created",
            "data": {"tenantId": tenant, "invoiceId": format!("in_{n}"), "amountCents": 100 + n}});
        let (s, v) = post_billing_to(&http, &base, &e).await;
        assert_eq!(s, 202, "{v}");
    }
    assert_eq!(count_status(&http, &base, &admin, "pending").await, EVENTS);
    let metrics = http
        .get(format!("{base}/metrics"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "nova_queue_depth{{queue=\"billing:webhooks\"}} {EVENTS}"
        )),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "bull_queue_jobs_active{{queue=\"billing:webhooks\"}} {EVENTS}"
    )));
    // The binary's allocator reports the heap: live bytes, within what it keeps resident.
    let gauge = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics"))
    };
    let (allocated, resident) = (
        gauge("nova_heap_allocated_bytes"),
        gauge("nova_heap_resident_bytes"),
    );
    assert!(
        allocated > 1e6 && allocated <= resident,
        "heap: {allocated} bytes allocated, {resident} resident"
    );

    // A worker starts draining, and is SIGKILLed mid-batch.
    let (w1, probes) = worker(&nova);
    let ready = http.get(format!("{probes}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        http.get(format!("{probes}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    wait_until("the first worker processed some events", async || {
        count_status(&http, &base, &admin, "processed").await >= 10
    })
    .await;
    let mut w1 = w1;
    w1.kill().unwrap();
    w1.wait().unwrap();
    let at_kill = count_status(&http, &base, &admin, "processed").await;
    assert!(
        at_kill < EVENTS,
        "the worker finished before it could be killed; post more events"
    );

    // A new worker takes over, including the jobs whose leases the dead one held.
    let (mut w2, _) = worker(&nova);
    let started = Instant::now();
    wait_until("the backlog drained", async || {
        count_status(&http, &base, &admin, "pending,retrying").await == 0
    })
    .await;
    println!(
        "killed after {at_kill} of {EVENTS}; the rest drained in {:?}",
        started.elapsed()
    );
    assert_eq!(
        count_status(&http, &base, &admin, "processed").await,
        EVENTS,
        "none lost"
    );
    assert_eq!(count_status(&http, &base, &admin, "failed").await, 0);

    // None applied twice: exactly one audit row per event, and one invoice per event.
    let audit: Value = http
        .get(format!(
            "{base}/v1/superadmin/audit?tenantId={tenant}&module=billing&limit=1000"
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut ids: Vec<String> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["eventId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), EVENTS, "one audit row per event");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), EVENTS, "no event applied twice");
    let summary: Value = http
        .get(format!("{base}/v1/superadmin/billing/summary"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(summary["openInvoices"].as_array().unwrap().len(), EVENTS);

    let _ = w2.kill();
    let _ = w2.wait();
    stop(api);
}

both_backends!(failure_drill_and_a_worker_killed_mid_batch);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_billing_writes_a_passing_report_and_check_reads_its_age() {
    let server = TestServer::start(Backend::Sqlite).await;
    let _worker = server.spawn_worker("drill-worker");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("local.drill.env");
    std::fs::write(
        &env_file,
        format!(
            "DRILL_ENV=local\nAPI_URL={}\nSUPERADMIN_EMAIL={SUPERADMIN_EMAIL}\nSUPERADMIN_PASSWORD=\"{SUPERADMIN_PASSWORD}\"\nBILLING_WEBHOOK_SECRET={BILLING_SECRET}\nDRILL_TIMEOUT_SECS=30\n",
            server.base
        ),
    )
    .unwrap();
    let logs = dir.path().join("logs");
    let nova = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_nova"))
            .env_clear()
            .env("RUST_LOG", "warn")
            .args(args)
            .output()
            .unwrap()
    };
    let out = nova(&[
        "drill",
        "billing",
        "--env-file",
        env_file.to_str().unwrap(),
        "--logs-dir",
        logs.to_str().unwrap(),
        "--template",
        root.join("fixtures/drills/DRILL_REPORT_TEMPLATE.md")
            .to_str()
            .unwrap(),
    ]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("plan change") && said.contains("PASS"),
        "{said}"
    );
    let reports: Vec<_> = std::fs::read_dir(logs.join("local"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(reports.len(), 1);
    let report = std::fs::read_to_string(&reports[0]).unwrap();
    assert!(report.contains("**Result:** PASS"), "{report}");
    assert!(
        report.contains("billing.subscription.plan_changed"),
        "{report}"
    );
    assert!(!report.contains("{{"), "every placeholder filled: {report}");

    let fresh = nova(&[
        "drill",
        "check",
        "--env",
        "local",
        "--logs-dir",
        logs.to_str().unwrap(),
    ]);
    assert!(
        fresh.status.success(),
        "{}",
        String::from_utf8_lossy(&fresh.stderr)
    );
    std::fs::create_dir_all(logs.join("staging")).unwrap();
    std::fs::write(logs.join("staging/20200101-000000.md"), "old").unwrap();
    let stale = nova(&[
        "drill",
        "check",
        "--env",
        "staging",
        "--logs-dir",
        logs.to_str().unwrap(),
    ]);
    assert!(!stale.status.success());
    assert!(String::from_utf8_lossy(&stale.stderr).contains("days old"));
}
