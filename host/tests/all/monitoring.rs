//! What operators watch: per-tenant request counts, module adoption, the database pool, the
//! metrics every shipped alert and dashboard queries, who may scrape, and the access log.

use crate::common;

use common::process::{KillOnDrop, Nova, login, pos_tenant, stop};
use common::{Backend, TestServer, value};
use reqwest::Method;
use serde_json::{Value, json};

/// Metric names in a PromQL-bearing file.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| {
            ["nova_", "bull_", "http_request", "db_connections"]
                .iter()
                .any(|p| w.starts_with(p))
        })
        .map(str::to_string)
        .collect()
}

async fn tenants_modules_and_pool_are_measured(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, staff) = server.tenant(&admin, "Metered Bistro").await;
    let module = format!("/v1/superadmin/tenants/{tenant}/modules/pos");
    let (s, _) = server
        .send(Method::PUT, &admin, &module, &json!({"enabled": true}))
        .await;
    assert_eq!(s, 200);

    let before = server.metrics().await;
    let ok = format!("nova_tenant_requests_total{{tenant=\"{tenant}\",class=\"2xx\"}}");
    let refused = format!("nova_tenant_requests_total{{tenant=\"{tenant}\",class=\"4xx\"}}");
    assert_eq!(value(&before, &ok), None, "no requests from {tenant} yet");
    for _ in 0..3 {
        let (s, _) = server.get(&staff, "/v1/portal/pos/tickets?limit=1").await;
        assert_eq!(s, 200);
    }
    let (s, _) = server
        .send(
            Method::POST,
            &staff,
            "/v1/portal/pos/tickets",
            &json!({"table": 7}),
        )
        .await;
    assert_eq!(s, 400);
    // An anonymous request is not counted against any tenant.
    let (s, _) = server.get("", "/v1/portal/pos/tickets").await;
    assert_eq!(s, 401);

    let after = server.metrics().await;
    assert_eq!(value(&after, &ok), Some(3.0), "{ok}");
    assert_eq!(value(&after, &refused), Some(1.0), "{refused}");
    // Adoption: this server's one tenant has POS on.
    assert_eq!(
        value(
            &after,
            "nova_module_tenants{module=\"pos\",enabled=\"true\"}"
        ),
        Some(1.0)
    );
    // The pool: its size as configured, and no more in use than open.
    let max = value(&after, "db_connections_max{pool=\"main\"}").unwrap();
    let open = value(&after, "db_connections_open{pool=\"main\"}").unwrap();
    let active = value(&after, "db_connections_active{pool=\"main\"}").unwrap();
    assert_eq!(
        max,
        f64::from(server.db().pool().options().get_max_connections())
    );
    assert!(
        active >= 0.0 && active <= open && open <= max,
        "{active} {open} {max}"
    );
    // On PostgreSQL, module kv reads (POS's list above) go through connections of their own.
    // (The recorder is the test process's, shared by every server in it, so another
    // server's figures may show here: only their presence and bounds are checked, and only
    // on PostgreSQL.)
    if matches!(backend, Backend::Postgres) {
        let direct = ["max", "open", "active"]
            .map(|g| value(&after, &format!("db_connections_{g}{{pool=\"direct\"}}")));
        let [Some(max), Some(open), Some(active)] = direct else {
            panic!("no gauges for the direct connections: {direct:?}")
        };
        assert!(
            max == 8.0 && active >= 0.0 && active <= open && open <= max,
            "{active} {open} {max}"
        );
    }

    // Switching POS off moves the tenant between the adoption gauges and counts a disable.
    let disables = "nova_api_superadmin_module_toggle_total{module=\"pos\",enabled=\"false\"}";
    let disabled_before = value(&after, disables).unwrap_or(0.0);
    let (s, _) = server
        .send(Method::PUT, &admin, &module, &json!({"enabled": false}))
        .await;
    assert_eq!(s, 200);
    let last = server.metrics().await;
    assert_eq!(
        value(
            &last,
            "nova_module_tenants{module=\"pos\",enabled=\"false\"}"
        ),
        Some(1.0)
    );
    assert!(value(&last, disables).unwrap() >= disabled_before + 1.0);

    // Every metric the platform alerts and the module dashboard query is exported now.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    for file in [
        "deploy/monitoring/alerts/platform-alerts.yaml",
        "deploy/monitoring/grafana/module-toggles-dashboard.json",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let names = metric_names(&text);
        assert!(names.len() >= 2, "{file}: {names:?}");
        for name in names {
            assert!(
                last.lines().any(|l| l.starts_with(&name)),
                "{file} queries {name}, which /metrics does not export"
            );
        }
    }
}

async fn only_the_scrape_token_or_a_superadmin_reads_metrics(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (_, staff) = server.tenant(&admin, "Curious Cafe").await;
    let get = |token: Option<String>| {
        let mut req = server.http.get(server.url("/metrics"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap();
            (status, body)
        }
    };
    let (s, body) = get(None).await;
    assert_eq!(s, 401);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "UNAUTHORIZED", "{v}");
    assert!(!body.contains("nova_api_billing_mrr_cents"));
    assert_eq!(get(Some("wrong-scrape-token".into())).await.0, 401);
    assert_eq!(get(Some(staff)).await.0, 403);
    let (s, body) = get(Some(admin)).await;
    assert_eq!(s, 200);
    assert!(body.contains("nova_api_billing_mrr_cents"));
    let (s, body) = get(Some(common::METRICS_TOKEN.into())).await;
    assert_eq!(s, 200);
    assert!(body.contains("http_request_duration_seconds"));
}

/// Each request ends with one JSON access line naming its tenant, request id, route, status
/// and duration, read from the real binary's standard error.
async fn every_request_leaves_an_access_line(backend: Backend) {
    let mut nova = Nova::new(backend).await;
    nova.run(&[
        "superadmin",
        "create",
        "--email",
        "ops@access.test",
        "--password",
        "ops-password-1",
    ]);
    nova.env
        .push(("RUST_LOG".into(), "warn,nova::access=info".into()));
    let (child, base, lines_rx) = nova.serve_logged();
    let mut child = KillOnDrop(Some(child));

    let http = reqwest::Client::new();
    let admin = login(&http, &base, "ops@access.test", "ops-password-1").await;
    let (tenant, token) = pos_tenant(
        &http,
        &base,
        &admin,
        "Logged Diner",
        "a@diner.test",
        "diner-password",
    )
    .await;
    let resp = http
        .get(format!("{base}/v1/portal/pos/tickets?limit=1"))
        .bearer_auth(&token)
        .header("x-request-id", "access-line-check")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let anonymous = http.get(format!("{base}/health")).send().await.unwrap();
    let anonymous_id = anonymous.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();

    // Lines arrive as the server writes them; wait for the two this test is after.
    let mut found = (None, None);
    while found.0.is_none() || found.1.is_none() {
        let line = lines_rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the access lines were written");
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            panic!("a log line that is not JSON: {line}");
        };
        if v["target"] != "nova::access" {
            continue;
        }
        if v["request_id"] == "access-line-check" {
            found.0 = Some(v);
        } else if v["request_id"] == anonymous_id.as_str() {
            found.1 = Some(v);
        }
    }
    let (tenant_line, anonymous_line) = (found.0.unwrap(), found.1.unwrap());
    assert_eq!(tenant_line["tenant_id"], tenant.as_str(), "{tenant_line}");
    assert_eq!(tenant_line["route"], "/v1/portal/{module}/{*path}");
    assert_eq!(tenant_line["method"], "GET");
    assert_eq!(tenant_line["status"], 200);
    assert!(tenant_line["duration_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(anonymous_line["tenant_id"], "");
    assert_eq!(anonymous_line["route"], "/health");
    stop(child.take());
}

both_backends!(
    tenants_modules_and_pool_are_measured,
    only_the_scrape_token_or_a_superadmin_reads_metrics,
    every_request_leaves_an_access_line,
    trace_sampling_is_for_superadmins_and_validated
);

/// How many `tracing.sampling_changed` audit rows there are.
async fn audited(server: &TestServer, admin: &str) -> usize {
    let (_, v) = server
        .get(
            admin,
            "/v1/superadmin/audit?action=tracing.sampling_changed",
        )
        .await;
    v["events"].as_array().map_or(0, Vec::len)
}

/// The sampling route refuses what is not a ratio and anyone but a superadmin, writing
/// nothing; a good change is stored (it outlives restarts) and audited. (The ratio itself is
/// one per process, shared by the servers of this test binary, so this checks what is
/// stored; `traces.rs` checks what a real server keeps.)
async fn trace_sampling_is_for_superadmins_and_validated(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (_, staff) = server.tenant(&admin, "Sampled Saloon").await;
    for bad in [
        json!({"sampleRatio": 1.5}),
        json!({"sampleRatio": -0.1}),
        json!({"sampleRatio": "half"}),
        json!({}),
    ] {
        let (s, v) = server
            .send(Method::PUT, &admin, "/v1/superadmin/tracing", &bad)
            .await;
        assert_eq!(s, 400, "{bad}: {v}");
        assert_eq!(v["error"]["code"], "VALIDATION", "{v}");
    }
    let (s, _) = server
        .send(
            Method::PUT,
            &staff,
            "/v1/superadmin/tracing",
            &json!({"sampleRatio": 0.5}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, v) = server.get(&admin, "/v1/superadmin/tracing").await;
    assert_eq!((s, v["source"].as_str()), (200, Some("environment")), "{v}");
    assert_eq!(v["exporting"], false, "no endpoint in tests");
    assert_eq!(audited(&server, &admin).await, 0, "refusals write nothing");

    let (s, v) = server
        .send(
            Method::PUT,
            &admin,
            "/v1/superadmin/tracing",
            &json!({"sampleRatio": 0.5}),
        )
        .await;
    assert_eq!((s, v["source"].as_str()), (200, Some("setting")), "{v}");
    let (_, v) = server
        .get(
            &admin,
            "/v1/superadmin/audit?action=tracing.sampling_changed",
        )
        .await;
    assert_eq!(v["events"][0]["payload"]["current"], 0.5, "{v}");
    let (s, v) = server
        .send(Method::DELETE, &admin, "/v1/superadmin/tracing", &json!({}))
        .await;
    assert_eq!((s, v["source"].as_str()), (200, Some("environment")), "{v}");
    assert_eq!(audited(&server, &admin).await, 2);
}
