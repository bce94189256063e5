//! Guests that loop, hoard memory, recurse, trap or answer too much are stopped with the
//! right outcome, keep none of their writes, and leave the host serving everyone else.

use crate::common;

use std::time::{Duration, Instant};

use common::{Backend, TestServer, counter, guests};
use reqwest::Method;
use serde_json::{Value, json};

/// A test server with the hostile guest installed and enabled for one tenant. Its long call
/// deadline lets a limit, not a loaded machine's clock, stop what a test means to stop.
async fn hostile_server(backend: Backend) -> (TestServer, String, String, String) {
    hostile_server_on(TestServer::start(backend).await).await
}

/// [`hostile_server`] on a server started by the caller.
async fn hostile_server_on(server: TestServer) -> (TestServer, String, String, String) {
    let admin = server.superadmin().await;
    let resp = server.install(&admin, "hostile", guests::HOSTILE).await;
    assert_eq!(resp.status(), 201);
    let (tenant, staff) = server.tenant(&admin, "Target").await;
    server.toggle(&admin, &tenant, "hostile", true).await;
    server.toggle(&admin, &tenant, "pos", true).await;
    (server, admin, tenant, staff)
}

/// Call the hostile guest; returns (status, error code, the call's invocation record).
async fn call(
    server: &TestServer,
    admin: &str,
    staff: &str,
    method: Method,
    path: &str,
) -> (u16, Value, Value) {
    let resp = server
        .http
        .request(method, server.url(&format!("/v1/portal/hostile{path}")))
        .bearer_auth(staff)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let records = server.invocations_for(admin, &request_id).await;
    assert_eq!(
        records.len(),
        1,
        "exactly one record for {path}: {records:?}"
    );
    (status, body["error"]["code"].clone(), records[0].clone())
}

async fn misbehaviour_is_stopped_and_recorded(backend: Backend) {
    let (server, admin, _tenant, staff) = hostile_server(backend).await;
    // (path, status, code, outcome, text the record's error holds beside any other).
    let cases = [
        ("/grow", 502, "MODULE_LIMIT", "limit", ""),
        ("/recurse", 502, "MODULE_TRAPPED", "trap", ""),
        ("/big", 502, "MODULE_LIMIT", "limit", ""),
        ("/host-calls", 502, "MODULE_LIMIT", "limit", ""),
        // Reads past the memory's end, and at the last address a 32-bit guest can name,
        // which only a 4 GiB reservation holds: where the engine leaves out bounds checks
        // (`runtime/engine.rs`), these trap on the slot's unmapped pages; where it could not,
        // on its checks. Either way, an out-of-bounds trap, not a read.
        (
            "/peek?at=end",
            502,
            "MODULE_TRAPPED",
            "trap",
            "out of bounds memory access",
        ),
        (
            "/peek?at=4294967295",
            502,
            "MODULE_TRAPPED",
            "trap",
            "out of bounds memory access",
        ),
    ];
    for (path, status, code, outcome, error) in cases {
        let (got, got_code, record) = call(&server, &admin, &staff, Method::GET, path).await;
        assert_eq!(got, status, "{path}: {record}");
        assert_eq!(got_code, code, "{path}");
        assert_eq!(record["outcome"], outcome, "{path}: {record}");
        assert_eq!(record["status"], status, "{path}");
        assert!(
            record["error"]
                .as_str()
                .is_some_and(|e| !e.is_empty() && e.contains(error)),
            "{path}: {record}"
        );
    }
    // The host is still healthy and serving, and a read inside memory answers: the traps
    // above came from where they read.
    let (status, _, record) = call(&server, &admin, &staff, Method::GET, "/ping").await;
    assert_eq!(status, 200);
    assert_eq!(record["outcome"], "ok");
    let (status, _, record) = call(&server, &admin, &staff, Method::GET, "/peek?at=1024").await;
    assert_eq!(status, 200, "{record}");
}

async fn endless_loop_times_out_while_others_are_served(backend: Backend) {
    let server = TestServer::start_with_host_limits(backend).await;
    let (server, admin, _tenant, staff) = hostile_server_on(server).await;
    // The recorder is the process's: other tests' long calls may count too, never fewer.
    let long_calls = async || {
        counter(
            &server.metrics().await,
            "nova_module_low_priority_calls_total{reason=\"long\"}",
        )
    };
    let long_before = long_calls().await;
    let started = Instant::now();
    let looping = {
        let http = server.http.clone();
        let url = server.url("/v1/portal/hostile/loop");
        let staff = staff.clone();
        tokio::spawn(async move {
            let resp = http.get(url).bearer_auth(staff).send().await.unwrap();
            let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
            (resp.status().as_u16(), id, Instant::now())
        })
    };
    // While the loop runs, other calls complete (the guest yields at every epoch tick).
    let mut served = 0;
    while !looping.is_finished() {
        let (status, _) = server.get(&staff, "/v1/portal/hostile/ping").await;
        assert_eq!(status, 200);
        served += 1;
        if served > 10_000 {
            break;
        }
    }
    let (status, request_id, ended) = looping.await.unwrap();
    let elapsed = ended - started;
    assert_eq!(status, 504);
    assert!(
        served >= 3,
        "only {served} calls were served during the loop"
    );
    assert!(
        elapsed >= Duration::from_secs(1),
        "stopped before its deadline: {elapsed:?}"
    );
    // Loose: on a loaded machine the answer can trail the deadline by seconds; the 504 and
    // the record's outcome say the deadline ended it.
    assert!(
        elapsed < Duration::from_secs(15),
        "ran far past its 1 s deadline: {elapsed:?}"
    );
    let records = server.invocations_for(&admin, &request_id).await;
    assert_eq!(records[0]["outcome"], "timeout");
    assert!(
        long_calls().await > long_before,
        "the loop went on the long-call threads, counted"
    );
}

/// `--call-deadline-ms` sets the host's deadline: a loop is stopped at it, and its record
/// names it.
async fn the_host_deadline_is_configurable(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.call_deadline_ms = 300).await;
    let (server, admin, _tenant, staff) = hostile_server_on(server).await;
    let started = Instant::now();
    let (status, code, record) = call(&server, &admin, &staff, Method::GET, "/loop").await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!((status, code.as_str()), (504, Some("MODULE_TIMEOUT")));
    assert_eq!(record["outcome"], "timeout");
    assert!(
        record["error"].as_str().unwrap().contains("300ms"),
        "{record}"
    );
}

/// A loop on the long-call threads that cannot run again (held, as a host saturated by short
/// calls holds those lowest-priority threads) is answered by the host at its deadline; the
/// guest keeps its slot until it has really stopped, and what it wrote before it looped never
/// stands.
async fn a_starved_loop_is_answered_at_its_deadline(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.call_deadline_ms = 1000).await;
    let (server, admin, tenant, staff) = hostile_server_on(server).await;
    let held = server.state.runtime.hold_long_calls();
    let started = Instant::now();
    // Without the host's own answer none would come while the guest is held.
    let answered = tokio::time::timeout(
        Duration::from_secs(30),
        call(&server, &admin, &staff, Method::POST, "/write-then-loop"),
    );
    let (status, code, record) = answered.await.expect("no answer while the guest was held");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!((status, code.as_str()), (504, Some("MODULE_TIMEOUT")));
    assert_eq!(record["outcome"], "timeout");
    assert!(common::answered_without_the_guest(&record), "{record}");
    assert_eq!(held.waiting(), 1, "the guest has not run since");
    let running = server.state.runtime.tenants.running(&tenant);
    assert_eq!(running, 1, "its slot is still taken");
    // The console still shows it running, which switching the module off would stop.
    assert_eq!(
        common::in_flight(&server, &admin, &tenant, "hostile").await,
        1
    );
    common::end_held_calls(held, &server, &tenant).await;
    common::eventually(
        || "the stopped guest is still shown running".to_string(),
        async || common::in_flight(&server, &admin, &tenant, "hostile").await == 0,
    )
    .await;
    let (status, body) = server.get(&staff, "/v1/portal/hostile/keys/looped").await;
    assert_eq!((status, &body), (200, &Value::Null));
}

/// A capability use the host refused a call it then answered for (the guest held from
/// running) is still audited, once the guest has stopped.
async fn a_starved_loops_refused_capability_use_is_audited(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    // A name of its own: `/metrics` is shared by every server in this test process, and the
    // refusal counted there must be this call's.
    let module = format!("starved-{}", format!("{backend:?}").to_lowercase());
    let installed = server
        .install_ungranted(&admin, &module, guests::HOSTILE)
        .await;
    assert_eq!(installed.status(), 201);
    let (tenant, staff) = server.tenant(&admin, "Ungranted").await;
    server.toggle(&admin, &tenant, &module, true).await;
    let request = server
        .http
        .post(server.url(&format!("/v1/portal/{module}/write-then-loop")))
        .bearer_auth(&staff)
        .send();
    let client = tokio::spawn(request);
    // Held only once its write was refused: a guest held before it got that far (a slow
    // start can make a call long first) would stop without writing, with nothing to audit.
    let refused = format!("module=\"{module}\"");
    common::eventually(
        || "the guest's kv write was never refused".to_string(),
        async || {
            server.metrics().await.lines().any(|l| {
                l.starts_with("nova_capability_refusals_total{")
                    && l.contains(&refused)
                    && l.contains("capability=\"kv\"")
            })
        },
    )
    .await;
    let held = server.state.runtime.hold_long_calls();
    common::eventually(
        || "the looping guest was never held".to_string(),
        async || held.waiting() == 1,
    )
    .await;
    // Switched off while it cannot run: the host answers for it a grace later, long before
    // its own deadline, which it could not see anyway.
    server.toggle(&admin, &tenant, &module, false).await;
    let resp = tokio::time::timeout(Duration::from_secs(30), client)
        .await
        .expect("no answer while the guest was held")
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 503);
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let records = server.invocations_for(&admin, &request_id).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["outcome"], "interrupted");
    assert!(
        common::answered_without_the_guest(&records[0]),
        "{}",
        records[0]
    );
    assert_eq!(held.waiting(), 1, "the guest has not run since");
    drop(held);
    let path = format!("/v1/superadmin/audit?action=capability.denied&tenantId={tenant}");
    let tenants = &server.state.runtime.tenants;
    common::eventually(
        // Whether the guest is still running tells a guest that never ran again from an
        // audit that went missing.
        || {
            format!(
                "the refused kv write was never audited (the tenant's calls still running: {})",
                tenants.running(&tenant)
            )
        },
        async || {
            let (_, audit) = server.get(&admin, &path).await;
            audit["events"].as_array().is_some_and(|e| {
                e.len() == 1
                    && e[0]["payload"]["capability"] == "kv"
                    && e[0]["requestId"] == request_id.as_str()
            })
        },
    )
    .await;
}

/// A call whose client hangs up runs to its end and is recorded: here a loop, stopped at its
/// deadline with outcome `timeout` although nobody was left to answer.
async fn a_call_whose_client_hangs_up_is_still_recorded(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.call_deadline_ms = 1000).await;
    let (server, admin, tenant, staff) = hostile_server_on(server).await;
    let id = format!("hung-up-{backend:?}");
    let request = server
        .http
        .get(server.url("/v1/portal/hostile/loop"))
        .bearer_auth(&staff)
        .header("x-request-id", &id)
        .send();
    let client = tokio::spawn(request);
    // The call runs (it holds its tenant's slot); then the client hangs up.
    let tenants = &server.state.runtime.tenants;
    common::eventually(
        || "the call never started".to_string(),
        async || tenants.running(&tenant) == 1,
    )
    .await;
    client.abort();
    assert!(client.await.unwrap_err().is_cancelled());
    common::eventually(
        || format!("the call {id} was never recorded"),
        async || {
            let records = server.invocations_for(&admin, &id).await;
            records.len() == 1 && records[0]["outcome"] == "timeout"
        },
    )
    .await;
}

async fn failed_calls_keep_no_writes(backend: Backend) {
    let (server, admin, tenant, staff) = hostile_server(backend).await;
    let audit_before = server.count("audit_events").await;
    let (status, code, record) =
        call(&server, &admin, &staff, Method::POST, "/write-then-trap").await;
    assert_eq!((status, code.as_str()), (502, Some("MODULE_TRAPPED")));
    assert_eq!(record["outcome"], "trap");
    let (status, _, record) = call(&server, &admin, &staff, Method::POST, "/write-then-500").await;
    assert_eq!(status, 500, "a module's own 5xx reaches the client");
    assert_eq!(record["outcome"], "error");
    for key in ["trap-write", "fail500"] {
        let (status, value) = server
            .get(&staff, &format!("/v1/portal/hostile/keys/{key}"))
            .await;
        assert_eq!(status, 200);
        assert_eq!(value, Value::Null, "{key} must not persist");
    }
    assert_eq!(
        server.count("audit_events").await,
        audit_before,
        "no audit from failed calls"
    );
    let stored: i64 = {
        use sqlx::Row;
        sqlx::query("SELECT COUNT(*) AS n FROM module_kv WHERE tenant_id = $1")
            .bind(&tenant)
            .fetch_one(server.db().pool())
            .await
            .unwrap()
            .get("n")
    };
    assert_eq!(stored, 0);
}

async fn guests_get_no_environment_or_files(backend: Backend) {
    let (server, _admin, _tenant, staff) = hostile_server(backend).await;
    let (status, vars) = server.get(&staff, "/v1/portal/hostile/env").await;
    assert_eq!((status, vars), (200, json!(0)));
    let (status, can_read_root) = server.get(&staff, "/v1/portal/hostile/file").await;
    assert_eq!((status, can_read_root), (200, json!(false)));
    // The host, not the guest, names the tenant and actor.
    let (_, who) = server.get(&staff, "/v1/portal/hostile/whoami").await;
    assert_eq!(who["module"], "hostile");
    assert_eq!(who["tenant"].as_str().unwrap().len(), 36);
}

async fn invalid_components_are_refused_and_nothing_installed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let before = server.count("module_versions").await;
    let core_module = wat_core_module();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"definitely not wasm".to_vec()),
        ("core", core_module),
        ("wrong-world", wat_component_with_unknown_import()),
        ("no-export", b"\0asm\x0d\0\x01\0".to_vec()),
    ];
    for (name, bytes) in cases {
        let resp = server.install(&admin, name, &bytes).await;
        assert_eq!(resp.status(), 400, "{name}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "INVALID_COMPONENT", "{name}: {body}");
        // One line for people: no debug dump of the bytes the parser expected.
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            !message.contains('\n') && !message.contains("expected=") && !message.contains("0x"),
            "{name}: {message}"
        );
    }
    let resp = server.install(&admin, "Bad Name", guests::TRIVIAL).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(server.count("module_versions").await, before);
    let (_, audit) = server
        .get(
            &admin,
            "/v1/superadmin/audit?action=module.installed&limit=500",
        )
        .await;
    let installed: Vec<&Value> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == common::SUPERADMIN_EMAIL)
        .collect();
    assert_eq!(
        installed,
        Vec::<&Value>::new(),
        "refused installs are not audited"
    );

    // A good install is audited with what went in and who put it there.
    let resp = server.install(&admin, "audited", guests::TRIVIAL).await;
    assert_eq!(resp.status(), 201);
    let version: Value = resp.json().await.unwrap();
    let (_, audit) = server
        .get(
            &admin,
            "/v1/superadmin/audit?action=module.installed&limit=500",
        )
        .await;
    let event = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["payload"]["module"] == "audited")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(event["actor"], common::SUPERADMIN_EMAIL, "{audit}");
    assert_eq!(event["payload"]["version"], version["version"]);
    assert_eq!(event["payload"]["contentHash"], version["contentHash"]);
    assert_eq!(event["payload"]["sizeBytes"], guests::TRIVIAL.len());
    assert!(event["requestId"].is_string(), "{event}");
    let (_, modules) = server.get(&admin, "/v1/superadmin/modules").await;
    assert_eq!(
        modules["modules"].as_array().unwrap().len(),
        nova_artifacts::BUNDLED_MODULES.len() + 1,
        "the bundled modules and the one good install"
    );
}

fn wat_core_module() -> Vec<u8> {
    wat::parse_str("(module (func (export \"f\")))").unwrap()
}

fn wat_component_with_unknown_import() -> Vec<u8> {
    wat::parse_str(r#"(component (import "nova:other/thing@1.0.0" (instance)))"#).unwrap()
}

async fn new_version_switches_new_calls(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, staff) = server.tenant(&admin, "Upgrader").await;
    let first: Value = server
        .install(&admin, "probe", guests::TRIVIAL)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["version"], 1);
    server.toggle(&admin, &tenant, "probe", true).await;
    assert_eq!(
        server.get(&staff, "/v1/portal/probe/counter").await.0,
        404,
        "trivial has no /counter"
    );
    let second: Value = server
        .install(&admin, "probe", guests::HOSTILE)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["version"], 2);
    assert_ne!(first["contentHash"], second["contentHash"]);
    let resp = server
        .http
        .get(server.url("/v1/portal/probe/counter"))
        .bearer_auth(&staff)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the very next call runs version 2");
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(server.invocations_for(&admin, &id).await[0]["version"], "2");
    let (_, modules) = server.get(&admin, "/v1/superadmin/modules").await;
    let probe = modules["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "probe")
        .unwrap()
        .clone();
    assert_eq!(probe["activeVersion"], 2);
    assert_eq!(probe["versions"], 2);
}

both_backends!(
    misbehaviour_is_stopped_and_recorded,
    endless_loop_times_out_while_others_are_served,
    the_host_deadline_is_configurable,
    a_starved_loop_is_answered_at_its_deadline,
    a_starved_loops_refused_capability_use_is_audited,
    a_call_whose_client_hangs_up_is_still_recorded,
    failed_calls_keep_no_writes,
    guests_get_no_environment_or_files,
    invalid_components_are_refused_and_nothing_installed,
    new_version_switches_new_calls,
);
