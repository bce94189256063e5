//! Concurrent read-modify-write calls on one key never lose an update: every call either
//! lands (after re-running on fresh data if it raced) or gets 409 and changes nothing (or,
//! past the tenant's concurrency limit and queue, 429 before it runs).

use crate::common;

use common::{Backend, TestServer, guests};
use serde_json::Value;

async fn counter_increments_are_never_lost(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    assert_eq!(
        server
            .install(&admin, "hostile", guests::HOSTILE)
            .await
            .status(),
        201
    );
    let (tenant, staff) = server.tenant(&admin, "Busy").await;
    server.toggle(&admin, &tenant, "hostile", true).await;

    const CALLS: usize = 64;
    let mut tasks = Vec::new();
    for _ in 0..CALLS {
        let http = server.http.clone();
        let url = server.url("/v1/portal/hostile/counter");
        let staff = staff.clone();
        tasks.push(tokio::spawn(async move {
            let resp = http.post(url).bearer_auth(staff).send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap();
            (status, body)
        }));
    }
    let mut ok = 0;
    let mut conflicts = 0;
    let mut refused = 0;
    let mut seen = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            200 => {
                ok += 1;
                seen.push(body.as_u64().unwrap());
            }
            409 => {
                assert_eq!(body["error"]["code"], "CONFLICT");
                conflicts += 1;
            }
            // Beyond the tenant's concurrency limit and its queue: refused before running.
            429 => {
                assert_eq!(body["error"]["code"], "TOO_MANY_CONCURRENT_CALLS");
                refused += 1;
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    assert_eq!(ok + conflicts + refused, CALLS);
    // The tenant's limit (8) and queue (32) admit most of the burst: the race is exercised.
    assert!(ok >= 8, "only {ok} calls ran");
    let (_, total) = server.get(&staff, "/v1/portal/hostile/counter").await;
    assert_eq!(total.as_u64().unwrap(), ok as u64, "{conflicts} conflicts");
    // Each successful call saw a distinct value: no two increments read the same number.
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), ok);
    println!("{backend:?}: {ok} increments landed, {conflicts} answered 409, {refused} 429");
}

/// Superadmin writes that read before they write (a toggle reads the tenant's rows, then
/// writes its override and audit row) all land when they race: on SQLite such a transaction
/// used to fail with "database is locked" (500) when another writer committed between its
/// read and its write.
async fn racing_toggles_all_land(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, _) = server.tenant(&admin, "Racing").await;
    const WRITES: usize = 48;
    let mut tasks = Vec::new();
    for i in 0..WRITES {
        let (http, admin) = (server.http.clone(), admin.clone());
        let url = server.url(&format!(
            "/v1/superadmin/tenants/{tenant}/feature-flags/race.flag-{}",
            i % 6
        ));
        tasks.push(tokio::spawn(async move {
            let resp = http
                .put(url)
                .bearer_auth(admin)
                .json(&serde_json::json!({"enabled": i % 2 == 0}))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap_or_default())
        }));
    }
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    // Every change was audited.
    let (_, audit) = server
        .get(
            &admin,
            &format!("/v1/superadmin/audit?tenantId={tenant}&limit=1000"),
        )
        .await;
    let toggles = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().is_some_and(|a| a.contains("flag")))
        .count();
    assert!(toggles > 0, "{audit}");
}

/// POS's key of ticket `n` (newest first: numbers count down from `u64::MAX`).
fn ticket_key(n: u64) -> String {
    format!("ticket/{:020}", u64::MAX - n)
}

/// Store `value` under POS's `key` for `tenant` straight in the database, as an earlier POS
/// would have.
async fn put_pos_key(server: &TestServer, tenant: &str, key: &str, value: &str) {
    sqlx::query(
        "INSERT INTO module_kv (tenant_id, module, key, value, version, updated_at) \
         VALUES ($1, 'pos', $2, $3, 1, 0)",
    )
    .bind(tenant)
    .bind(key)
    .bind(value.as_bytes().to_vec())
    .execute(server.db().pool())
    .await
    .unwrap();
}

/// POS numbers tickets from the host's `ticket` sequence (`kv.next-number`): a burst of
/// creations for one tenant all land with numbers of their own and none answers 409,
/// numbering carries on above the kv counter earlier POS versions kept, and a number an
/// earlier POS took is skipped, not written over (the creation that drew it runs again).
async fn ticket_bursts_never_conflict(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, staff) = server.tenant(&admin, "Burst").await;
    server.toggle(&admin, &tenant, "pos", true).await;
    // A counter an earlier POS left at 41, and ticket 42, which an earlier POS still
    // numbering from that counter took during an upgrade.
    let taken = ticket_key(42);
    for (key, value) in [("seq/ticket", "41"), (taken.as_str(), "taken")] {
        put_pos_key(&server, &tenant, key, value).await;
    }

    const CREATES: usize = 64;
    let mut tasks = Vec::new();
    for i in 0..CREATES {
        let (http, staff) = (server.http.clone(), staff.clone());
        let url = server.url("/v1/portal/pos/tickets");
        tasks.push(tokio::spawn(async move {
            let resp = http
                .post(url)
                .bearer_auth(staff)
                .json(&serde_json::json!({"table": format!("T{i}")}))
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }));
    }
    let mut ids = Vec::new();
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            (201, body) => ids.push(body["id"].as_u64().unwrap()),
            // Past the tenant's concurrency limit and queue: refused before running.
            (429, body) => {
                assert_eq!(body["error"]["code"], "TOO_MANY_CONCURRENT_CALLS");
                refused += 1;
            }
            (status, body) => panic!("{status}: {body}"),
        }
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len() + refused, CREATES);
    assert!(ids.len() >= 8, "only {} creations ran", ids.len());
    assert!(
        ids[0] >= 43,
        "numbers carry on above the old counter and skip the taken one: {ids:?}"
    );
    // The old counter is only read, never rewritten, and the taken ticket is not written
    // over: the creation that drew its number ran again with the next one.
    for (key, value) in [("seq/ticket", "41"), (taken.as_str(), "taken")] {
        let (stored,): (Vec<u8>,) = sqlx::query_as(
            "SELECT value FROM module_kv WHERE tenant_id = $1 AND module = 'pos' AND key = $2",
        )
        .bind(&tenant)
        .bind(key)
        .fetch_one(server.db().pool())
        .await
        .unwrap();
        assert_eq!(stored, value.as_bytes(), "{key}");
    }
    // Another restaurant without an old counter numbers from 1: the floor POS keeps in its
    // warm instances is the first tenant's alone.
    let (other, other_staff) = server.tenant(&admin, "Elsewhere").await;
    server.toggle(&admin, &other, "pos", true).await;
    let resp = server
        .http
        .post(server.url("/v1/portal/pos/tickets"))
        .bearer_auth(&other_staff)
        .json(&serde_json::json!({"table": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.json::<Value>().await.unwrap()["id"], 1);
    println!(
        "{backend:?}: {} tickets, {refused} refused with 429",
        ids.len()
    );
}

/// A tenant called `name` with the hostile guest (`POST /counter` writes kv) and the
/// trivial one as `hello` (`GET /ping` writes nothing) switched on: the superadmin's token,
/// the tenant and its admin's token.
async fn writer_and_reader(server: &TestServer, name: &str) -> (String, String, String) {
    let admin = server.superadmin().await;
    for (module, bytes) in [("hostile", guests::HOSTILE), ("hello", guests::TRIVIAL)] {
        assert_eq!(server.install(&admin, module, bytes).await.status(), 201);
    }
    let (tenant, staff) = server.tenant(&admin, name).await;
    server.toggle(&admin, &tenant, "hostile", true).await;
    server.toggle(&admin, &tenant, "hello", true).await;
    (admin, tenant, staff)
}

/// Calls that write kv and calls that write only their record, at once, share the
/// committer's batches: every call has its record, and no increment is lost or doubled.
async fn kv_and_record_only_commits_interleave(backend: Backend) {
    use futures_util::StreamExt;
    let server = TestServer::start(backend).await;
    let (admin, tenant, staff) = writer_and_reader(&server, "Mixed").await;

    const EACH: usize = 40;
    let server = &server;
    let staff = &staff;
    let calls = (0..2 * EACH).map(|i| async move {
        let writes = i % 2 == 0;
        let resp = if writes {
            let url = server.url("/v1/portal/hostile/counter");
            server.http.post(url).bearer_auth(staff).send().await
        } else {
            let url = server.url("/v1/portal/hello/ping");
            server.http.get(url).bearer_auth(staff).send().await
        };
        (writes, resp.unwrap().status().as_u16())
    });
    // 8 at once: the plan's concurrent calls, so none is refused before it runs.
    let answers: Vec<(bool, u16)> = futures_util::stream::iter(calls)
        .buffer_unordered(8)
        .collect()
        .await;
    let landed = answers.iter().filter(|&&(w, s)| w && s == 200).count();
    for &(writes, status) in &answers {
        assert!(
            status == 200 || (writes && status == 409),
            "{writes}: {status}"
        );
    }
    let (_, total) = server.get(staff, "/v1/portal/hostile/counter").await;
    assert_eq!(total.as_u64(), Some(landed as u64));
    // Every call of the burst and the final read: a 409 is recorded too.
    let recorded = server.tenant_invocations(&admin, &tenant).await.len();
    assert_eq!(recorded, 2 * EACH + 1);
    println!("{backend:?}: {landed} of {EACH} increments landed beside {EACH} reads");
}

/// Each number an earlier POS took costs a creation one attempt (`kv.create` finds the key
/// taken at commit and the call runs again with the next number): five in a row are
/// skipped within one call; six end it with 409 and nothing written, and the next creation
/// carries on past them.
async fn a_run_of_taken_ticket_numbers_costs_an_attempt_each(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, staff) = server.tenant(&admin, "Upgrading").await;
    server.toggle(&admin, &tenant, "pos", true).await;
    put_pos_key(&server, &tenant, "seq/ticket", "41").await;
    let create = async || {
        let ticket = serde_json::json!({"table": "1"});
        server
            .send(
                reqwest::Method::POST,
                &staff,
                "/v1/portal/pos/tickets",
                &ticket,
            )
            .await
    };
    // 42 to 46 taken: the sixth attempt's number, 47, is free.
    for n in 42..=46 {
        put_pos_key(&server, &tenant, &ticket_key(n), "taken").await;
    }
    let (status, body) = create().await;
    assert_eq!((status, body["id"].as_u64()), (201, Some(47)), "{body}");
    // 48 to 53 taken: every attempt finds its number taken.
    for n in 48..=53 {
        put_pos_key(&server, &tenant, &ticket_key(n), "taken").await;
    }
    let (status, body) = create().await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "CONFLICT");
    let (status, body) = create().await;
    assert_eq!((status, body["id"].as_u64()), (201, Some(54)), "{body}");
    // Nothing taken was written over, and the refused creation wrote nothing: the counter,
    // eleven taken tickets, and tickets 47 and 54.
    assert_eq!(server.count("module_kv").await, 14);
    let taken: (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM module_kv WHERE tenant_id = $1 AND value = $2")
            .bind(&tenant)
            .bind(b"taken".to_vec())
            .fetch_one(server.db().pool())
            .await
            .unwrap();
    assert_eq!(taken.0, 11);
}

/// `kv.create` writes a key without reading it first. A key taken by the time the call
/// commits makes the call run again, and one taken on every attempt is answered 409 with
/// nothing of the call written; a call that has read the key taken is told so at once.
async fn a_create_of_a_taken_key_conflicts_and_writes_nothing(backend: Backend) {
    use reqwest::Method;
    use serde_json::json;
    let server = TestServer::start(backend).await;
    let (admin, tenant, staff) = writer_and_reader(&server, "Creating").await;
    let path = "/v1/portal/hostile/keys/table-4";
    let (status, body) = server
        .send(Method::POST, &staff, path, &json!({"guests": 2}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = server
        .send(Method::POST, &staff, path, &json!({"guests": 9}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "CONFLICT");
    let read_first = format!("{path}?read=1");
    let answer = server
        .send(Method::POST, &staff, &read_first, &json!({"guests": 9}))
        .await;
    assert_eq!(answer, (200, json!(false)));
    let (_, stored) = server.get(&staff, path).await;
    assert_eq!(stored, json!(r#"{"guests":2}"#));
    assert_eq!(server.count("module_kv").await, 1);
    // The refused creation ran every attempt before it was answered 409.
    let records = server.tenant_invocations(&admin, &tenant).await;
    let refused: Vec<&Value> = records.iter().filter(|r| r["status"] == 409).collect();
    assert_eq!(refused.len(), 1, "{records:?}");
    let error = refused[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("write conflict on key \"table-4\" after 6 attempts"),
        "{error}"
    );
}

both_backends!(
    a_create_of_a_taken_key_conflicts_and_writes_nothing,
    a_run_of_taken_ticket_numbers_costs_an_attempt_each,
    kv_and_record_only_commits_interleave,
    counter_increments_are_never_lost,
    racing_toggles_all_land,
    ticket_bursts_never_conflict
);

/// A call that wrote nothing gives its tenant slot back as soon as its module answered,
/// while its record's commit still waits; a call with writes keeps the slot until they
/// stand. Neither is answered before its record is durable. (PostgreSQL only: there a
/// test can see the committer's INSERT wait on a table lock.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_wrote_nothing_frees_its_slot_before_its_record_commits() {
    let server = TestServer::start(Backend::Postgres).await;
    let (_, tenant, staff) = writer_and_reader(&server, "Waiting").await;
    let db = server.state.db.pool();

    for (writes, method, path) in [
        (false, reqwest::Method::GET, "/v1/portal/hello/ping"),
        (true, reqwest::Method::POST, "/v1/portal/hostile/counter"),
    ] {
        // Hold the invocation table: the call's record cannot be written until the lock goes.
        let mut lock = db.begin().await.unwrap();
        sqlx::query("LOCK TABLE invocations IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *lock)
            .await
            .unwrap();
        let request = server
            .http
            .request(method, server.url(path))
            .bearer_auth(&staff)
            .send();
        let call = tokio::spawn(request);
        // Until the committer's INSERT waits for the lock, the module has answered. (A
        // creation's record goes in the same statement as its key, which starts `WITH`.)
        common::eventually(
            || format!("{path}: the record's INSERT never waited on the lock"),
            async || {
                let (n,): (i64,) = sqlx::query_as(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                     AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO invocations%'",
                )
                .fetch_one(db)
                .await
                .unwrap();
                n > 0
            },
        )
        .await;
        // (A slot freed by a cleanup task may take a moment; one held stays held.)
        let expected = u32::from(writes);
        let running = || server.state.runtime.tenants.running(&tenant);
        common::eventually(
            || {
                format!(
                    "{path}: {} slots held while the record waits, not {expected}",
                    running()
                )
            },
            async || running() == expected,
        )
        .await;
        assert!(!call.is_finished(), "{path}: answered before its record");
        lock.rollback().await.unwrap();
        let resp = call.await.unwrap().unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    let records = nova::storage::invocations::all_for_tenant(&server.state.db, &tenant)
        .await
        .unwrap();
    assert_eq!(records.len(), 2, "both calls have their record");
}
