//! Billing webhooks: signatures, exactly-once processing, plan drills, retries and replay.

use crate::common;

use common::{BILLING_SECRET, Backend, TestServer};
use nova::billing;
use nova::storage::outbox;
use nova::webhooks::signature;
use serde_json::{Value, json};

const CORE: &str = "6a1f7c0e-3b1d-4c55-9a43-0c7e2f0b9d11";
const PRO: &str = "1ef168c5-66e9-4d11-8f51-32301dbce0d4";

fn event(id: &str, kind: &str, data: Value) -> Value {
    json!({"id": id, "type": kind, "data": data})
}

async fn rows(server: &TestServer, admin: &str, tenant: &str, what: &str, key: &str) -> Vec<Value> {
    let (s, v) = server
        .get(admin, &format!("/v1/superadmin/tenants/{tenant}/{what}"))
        .await;
    assert_eq!(s, 200, "{v}");
    v[key].as_array().unwrap().clone()
}

/// Names whose plan row is on.
fn from_plan(rows: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = rows
        .iter()
        .filter(|r| r["plan"] == json!(true))
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

async fn audit_actions(server: &TestServer, admin: &str, tenant: &str) -> Vec<String> {
    let (_, v) = server
        .get(
            admin,
            &format!("/v1/superadmin/audit?tenantId={tenant}&module=billing&limit=500"),
        )
        .await;
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

/// Post, expect 202, wait for the worker; the settled event.
async fn deliver(server: &TestServer, admin: &str, e: Value) -> Value {
    let (s, v) = server.post_billing(&e).await;
    assert_eq!(s, 202, "{v}");
    server.settled_event(admin, v["id"].as_str().unwrap()).await
}

async fn plan_change_and_cancellation_drills(backend: Backend) {
    let server = TestServer::start(backend).await;
    let _worker = server.spawn_worker("w1");
    let admin = server.superadmin().await;
    let (tenant, _) = server.tenant(&admin, "Drill Diner").await;
    // An override the plan changes must leave alone.
    let (s, _) = server
        .send(
            reqwest::Method::PUT,
            &admin,
            &format!("/v1/superadmin/tenants/{tenant}/feature-flags/kitchen.display"),
            &json!({"enabled": true}),
        )
        .await;
    assert_eq!(s, 200);

    let e = deliver(&server, &admin, event("evt_c1", "subscription.created",
        json!({"subscriptionId": "sub_1", "tenantId": tenant, "planId": CORE, "billingCycle": "monthly", "currentPeriodEnd": nova::storage::now_ms() + 86_400_000}))).await;
    assert_eq!(e["status"], "processed", "{e}");
    assert_eq!(
        from_plan(&rows(&server, &admin, &tenant, "modules", "modules").await),
        ["pos"]
    );

    let e = deliver(&server, &admin, event("evt_c2", "subscription.plan_changed",
        json!({"subscriptionId": "sub_1", "tenantId": tenant, "planId": PRO, "billingCycle": "monthly"}))).await;
    assert_eq!(e["status"], "processed", "{e}");
    assert_eq!(
        from_plan(&rows(&server, &admin, &tenant, "modules", "modules").await),
        ["billing", "pos", "support"]
    );
    let flags = rows(&server, &admin, &tenant, "feature-flags", "featureFlags").await;
    assert_eq!(from_plan(&flags), ["pos.reports", "support.priority"]);
    assert!(
        flags
            .iter()
            .any(|f| f["name"] == "kitchen.display" && f["override"] == json!(true))
    );
    let (_, me) = server.get(&admin, "/v1/superadmin/billing/summary").await;
    assert_eq!(
        (me["activeTenants"].as_i64(), me["mrrCents"].as_i64()),
        (Some(1), Some(14900)),
        "{me}"
    );
    assert_eq!(me["upcomingRenewals"].as_array().unwrap().len(), 1, "{me}");

    // Invoices move the subscription between active and past due.
    deliver(
        &server,
        &admin,
        event(
            "evt_i1",
            "invoice.created",
            json!({"tenantId": tenant, "invoiceId": "in_1", "amountCents": 14900}),
        ),
    )
    .await;
    deliver(
        &server,
        &admin,
        event(
            "evt_i2",
            "invoice.payment_failed",
            json!({"tenantId": tenant, "invoiceId": "in_1", "amountCents": 14900}),
        ),
    )
    .await;
    let (_, s1) = server.get(&admin, "/v1/superadmin/billing/summary").await;
    assert_eq!(
        (
            s1["pastDueTenants"].as_i64(),
            s1["openInvoices"][0]["status"].as_str()
        ),
        (Some(1), Some("past_due")),
        "{s1}"
    );
    deliver(
        &server,
        &admin,
        event(
            "evt_i3",
            "invoice.paid",
            json!({"tenantId": tenant, "invoiceId": "in_1", "amountCents": 14900}),
        ),
    )
    .await;
    let (_, s2) = server.get(&admin, "/v1/superadmin/billing/summary").await;
    assert_eq!(
        (
            s2["pastDueTenants"].as_i64(),
            s2["openInvoices"].as_array().unwrap().len()
        ),
        (Some(0), 0),
        "{s2}"
    );
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("nova_api_billing_mrr_cents 14900"),
        "{metrics}"
    );

    // Cancellation: plan rows go, the override stays.
    let e = deliver(
        &server,
        &admin,
        event(
            "evt_c3",
            "subscription.canceled",
            json!({"subscriptionId": "sub_1", "tenantId": tenant}),
        ),
    )
    .await;
    assert_eq!(e["status"], "processed", "{e}");
    assert!(from_plan(&rows(&server, &admin, &tenant, "modules", "modules").await).is_empty());
    let flags = rows(&server, &admin, &tenant, "feature-flags", "featureFlags").await;
    assert!(from_plan(&flags).is_empty());
    assert!(
        flags
            .iter()
            .any(|f| f["name"] == "kitchen.display" && f["enabled"] == json!(true))
    );

    // Late, out-of-order events cannot undo what happened: a plan change after the
    // cancellation fails instead of bringing the entitlements back, and a paid invoice stays
    // paid when an older event about it arrives.
    let late = deliver(
        &server,
        &admin,
        event(
            "evt_late1",
            "subscription.plan_changed",
            json!({"subscriptionId": "sub_1", "tenantId": tenant, "planId": PRO}),
        ),
    )
    .await;
    assert_eq!(late["status"], "failed", "{late}");
    assert!(
        late["lastError"]
            .as_str()
            .unwrap()
            .contains("no active subscription"),
        "{late}"
    );
    assert!(from_plan(&rows(&server, &admin, &tenant, "modules", "modules").await).is_empty());
    deliver(
        &server,
        &admin,
        event(
            "evt_late2",
            "invoice.payment_failed",
            json!({"tenantId": tenant, "invoiceId": "in_1", "amountCents": 14900}),
        ),
    )
    .await;
    let (_, s3) = server.get(&admin, "/v1/superadmin/billing/summary").await;
    assert_eq!(s3["openInvoices"], json!([]), "{s3}");

    let actions = audit_actions(&server, &admin, &tenant).await;
    for a in [
        "billing.subscription.created",
        "billing.subscription.plan_changed",
        "billing.invoice.paid",
        "billing.subscription.canceled",
    ] {
        assert_eq!(
            actions.iter().filter(|x| *x == a).count(),
            1,
            "{a} in {actions:?}"
        );
    }
    // The late payment failure was processed (and audited) without changing the paid invoice.
    let failures = actions
        .iter()
        .filter(|x| *x == "billing.invoice.payment_failed");
    assert_eq!(failures.count(), 2, "{actions:?}");
}

async fn one_event_delivered_five_times_is_applied_once(backend: Backend) {
    let server = std::sync::Arc::new(TestServer::start(backend).await);
    let _w1 = server.spawn_worker("w1");
    let _w2 = server.spawn_worker("w2");
    let admin = server.superadmin().await;
    let (tenant, _) = server.tenant(&admin, "Twice Grill").await;
    let e = event(
        "evt_dup",
        "subscription.created",
        json!({"tenantId": tenant, "planId": PRO}),
    );
    let posts = (0..5).map(|_| {
        let (server, e) = (server.clone(), e.clone());
        tokio::spawn(async move { server.post_billing(&e).await })
    });
    let answers: Vec<(u16, Value)> = futures_util::future::join_all(posts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let accepted: Vec<_> = answers.iter().filter(|(s, _)| *s == 202).collect();
    assert_eq!(accepted.len(), 1, "{answers:?}");
    assert_eq!(
        answers.iter().filter(|(s, _)| *s == 200).count(),
        4,
        "{answers:?}"
    );
    let id = accepted[0].1["id"].as_str().unwrap();
    assert!(
        answers.iter().all(|(_, v)| v["id"] == id),
        "every answer names the one event"
    );
    assert_eq!(
        server.settled_event(&admin, id).await["status"],
        "processed"
    );
    // Later deliveries of a processed event are still recognised.
    let (s, v) = server.post_billing(&e).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("processed")));
    assert_eq!(server.count("billing_webhook_events").await, 1);
    assert_eq!(server.count("outbox").await, 1);
    let actions = audit_actions(&server, &admin, &tenant).await;
    assert_eq!(actions, ["billing.subscription.created"]);
}

/// Deliver `n` signed `invoice.created` events for `tenant`; their stored ids, in order.
async fn invoices_created(server: &TestServer, tenant: &str, name: &str, n: i64) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let (s, v) = server
            .post_billing(&event(
                &format!("evt_{name}_{i}"),
                "invoice.created",
                json!({"tenantId": tenant, "invoiceId": format!("inv_{name}_{i}"), "amountCents": 100 + i}),
            ))
            .await;
        assert_eq!(s, 202, "{v}");
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    ids
}

/// How many `billing.invoice.created` audit rows `tenant` has.
async fn invoices_audited(server: &TestServer, admin: &str, tenant: &str) -> usize {
    let actions = audit_actions(server, admin, tenant).await;
    actions
        .iter()
        .filter(|a| *a == "billing.invoice.created")
        .count()
}

/// Workers claim billing jobs several at a time, oldest first, and each event's invocation
/// record commits in the transaction that applies its decision: one record per event, and
/// one for an event whose decision could not be applied too.
async fn batched_claims_record_every_call_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, _) = server.tenant(&admin, "Batch Bistro").await;
    let ids = invoices_created(&server, &tenant, "batch", 12).await;
    // The module decides a plan the host does not know: applying it fails for good.
    let (s, v) = server
        .post_billing(&event(
            "evt_batch_unknown_plan",
            "subscription.created",
            json!({"tenantId": tenant, "planId": "00000000-0000-4000-8000-00000000nope"}),
        ))
        .await;
    assert_eq!(s, 202, "{v}");
    let unknown = v["id"].as_str().unwrap().to_string();

    // Oldest first: due time, then id.
    let expected: Vec<String> = sqlx::query_scalar(
        "SELECT ref_id FROM outbox WHERE queue = $1 ORDER BY next_attempt_at, id",
    )
    .bind(billing::QUEUE)
    .fetch_all(server.db().pool())
    .await
    .unwrap();
    let state = server.state.clone();
    let first = outbox::claim_many(&state.db, billing::QUEUE, "manual", 30_000, 8)
        .await
        .unwrap();
    let second = outbox::claim_many(&state.db, billing::QUEUE, "manual", 30_000, 8)
        .await
        .unwrap();
    assert_eq!((first.len(), second.len()), (8, 5));
    let order: Vec<String> = first
        .iter()
        .chain(&second)
        .map(|j| j.ref_id.clone())
        .collect();
    assert_eq!(order, expected);
    let mut all: Vec<String> = ids.iter().cloned().chain([unknown.clone()]).collect();
    let mut claimed = order.clone();
    all.sort();
    claimed.sort();
    assert_eq!(claimed, all, "every job once");
    assert!(
        outbox::claim_many(&state.db, billing::QUEUE, "other", 30_000, 8)
            .await
            .unwrap()
            .is_empty(),
        "leased jobs are not claimed again"
    );
    for job in first.into_iter().chain(second) {
        nova::jobs::process(&state, "manual", job).await;
    }
    for id in &ids {
        assert_eq!(
            server.settled_event(&admin, id).await["status"],
            "processed"
        );
    }
    let failed = server.settled_event(&admin, &unknown).await;
    assert_eq!(failed["status"], "failed", "{failed}");

    let records: Vec<(String, i64)> = sqlx::query_as(
        "SELECT request_id, CAST(status AS BIGINT) FROM invocations WHERE module = 'billing' ORDER BY request_id",
    )
    .fetch_all(server.db().pool())
    .await
    .unwrap();
    assert_eq!(records.len(), 13, "{records:?}");
    for id in ids.iter().chain([&unknown]) {
        let wanted = format!("billing-{id}-1");
        assert_eq!(
            records.iter().filter(|(r, _)| *r == wanted).count(),
            1,
            "{wanted} in {records:?}"
        );
    }
    assert!(
        records.iter().all(|(_, status)| *status == 200),
        "{records:?}"
    );
    assert_eq!(invoices_audited(&server, &admin, &tenant).await, 12);
}

/// A batch whose lease is half gone renews each job before running it; a job another
/// worker has taken over meanwhile is left to that worker, which applies it once.
async fn a_batch_leaves_a_job_another_worker_took_over(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, _) = server.tenant(&admin, "Lease Bistro").await;
    let mut ids = invoices_created(&server, &tenant, "lease", 2).await;
    let state = server.state.clone();
    let lease = common::WORKER_LEASE_MS;
    let jobs = outbox::claim_many(&state.db, billing::QUEUE, "slow", lease, 8)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 2);
    let mut claimed: Vec<String> = jobs.iter().map(|j| j.ref_id.clone()).collect();
    claimed.sort();
    ids.sort();
    assert_eq!(claimed, ids);
    let (taken, kept) = (jobs[0].clone(), jobs[1].clone());
    // What a second worker does once the slow one's lease has run out: it holds the job now.
    sqlx::query("UPDATE outbox SET locked_by = 'fast', locked_until = $1 WHERE ref_id = $2")
        .bind(nova::storage::now_ms() + 60_000)
        .bind(&taken.ref_id)
        .execute(server.db().pool())
        .await
        .unwrap();
    // The slow worker's claim was made a whole lease ago (the server's worker lease, which
    // `run_claimed` measures against), so it renews each job before running it.
    let long_ago = std::time::Instant::now() - std::time::Duration::from_millis(lease as u64);
    nova::jobs::run_claimed(&state, "slow", jobs, long_ago).await;

    let records = |event: &str| {
        let wanted = format!("billing-{event}-1");
        let pool = server.db().pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM invocations WHERE module = 'billing' AND request_id = $1",
            )
            .bind(wanted)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let held: (String, String) =
        sqlx::query_as("SELECT status, locked_by FROM outbox WHERE ref_id = $1")
            .bind(&taken.ref_id)
            .fetch_one(server.db().pool())
            .await
            .unwrap();
    assert_eq!(held, ("pending".to_string(), "fast".to_string()));
    assert_eq!(
        records(&taken.ref_id).await,
        0,
        "the slow worker ran the taken job"
    );
    assert_eq!(
        server.settled_event(&admin, &kept.ref_id).await["status"],
        "processed"
    );
    assert_eq!(records(&kept.ref_id).await, 1);

    nova::jobs::process(&state, "fast", taken.clone()).await;
    assert_eq!(
        server.settled_event(&admin, &taken.ref_id).await["status"],
        "processed"
    );
    assert_eq!(records(&taken.ref_id).await, 1);
    assert_eq!(invoices_audited(&server, &admin, &tenant).await, 2);
}

both_backends!(
    plan_change_and_cancellation_drills,
    one_event_delivered_five_times_is_applied_once,
    batched_claims_record_every_call_once,
    a_batch_leaves_a_job_another_worker_took_over
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_are_checked_before_anything_is_stored() {
    let server = TestServer::start(Backend::Sqlite).await;
    let body = event("evt_sig", "invoice.created", json!({"tenantId": "t"})).to_string();
    let now = signature::unix_now();
    let cases: [(&str, Option<String>, &[u8], &str); 5] = [
        (
            "missing header",
            None,
            body.as_bytes(),
            "WEBHOOK_SIGNATURE_INVALID",
        ),
        (
            "wrong secret",
            Some(signature::sign("wrong", now, body.as_bytes())),
            body.as_bytes(),
            "WEBHOOK_SIGNATURE_INVALID",
        ),
        (
            "tampered body",
            Some(signature::sign(BILLING_SECRET, now, body.as_bytes())),
            b"{\"id\":\"evt_sig\",\"type\":\"invoice.paid\"}",
            "WEBHOOK_SIGNATURE_INVALID",
        ),
        (
            "old timestamp",
            Some(signature::sign(BILLING_SECRET, now - 600, body.as_bytes())),
            body.as_bytes(),
            "WEBHOOK_TIMESTAMP_OUT_OF_RANGE",
        ),
        (
            "runbook's bare secret",
            Some(BILLING_SECRET.to_string()),
            body.as_bytes(),
            "WEBHOOK_SIGNATURE_INVALID",
        ),
    ];
    for (what, sig, sent, code) in cases {
        let mut req = server
            .http
            .post(server.url("/billing/webhooks/sandbox"))
            .body(sent.to_vec());
        if let Some(sig) = sig {
            req = req.header("x-sandbox-signature", sig);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap();
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (401, Some(code)),
            "{what}: {v}"
        );
    }
    assert_eq!(server.count("billing_webhook_events").await, 0);
    assert_eq!(server.count("outbox").await, 0);

    // Signed but malformed: 400 naming the field, nothing stored.
    for (e, field) in [
        (json!({"type": "invoice.paid"}), "id"),
        (json!({"id": "e1"}), "type"),
        (json!([1]), "body"),
    ] {
        let (s, v) = server.post_billing(&e).await;
        assert_eq!(
            (s, v["error"]["field"].as_str()),
            (400, Some(field)),
            "{e}: {v}"
        );
    }
    assert_eq!(server.count("billing_webhook_events").await, 0);

    let (s, v) = server
        .post_billing(&serde_json::from_str(&body).unwrap())
        .await;
    assert_eq!((s, v["status"].as_str()), (202, Some("pending")), "{v}");
    assert_eq!(server.count("billing_webhook_events").await, 1);
    assert_eq!(server.count("outbox").await, 1);
}

/// Insert a tenant with a chosen id, as a registration approved later would.
async fn create_tenant_with_id(server: &TestServer, id: &str) {
    sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, 'Late Cafe', 0)")
        .bind(id)
        .execute(server.db().pool())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_back_off_give_up_and_replay() {
    // Test servers allow 3 attempts, 50 ms apart and doubling.
    let server = TestServer::start(Backend::Sqlite).await;
    let admin = server.superadmin().await;
    let late = "7d3c8d9e-0000-4000-8000-00000000late";

    // The tenant arrives between attempts: retried, then processed. The attempts are driven
    // one by one here, so nothing depends on timing.
    let (s, v) = server
        .post_billing(&event(
            "evt_r1",
            "subscription.created",
            json!({"tenantId": late, "planId": CORE}),
        ))
        .await;
    assert_eq!(s, 202);
    let first = v["id"].as_str().unwrap().to_string();
    let state = server.state.clone();
    let attempt = || async {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            // Claimable once its backoff has passed.
            if let Some(job) = outbox::claim(&state.db, billing::QUEUE, "manual", 5_000)
                .await
                .unwrap()
            {
                nova::jobs::process(&state, "manual", job).await;
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the job never became due"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    attempt().await;
    let (_, v) = server
        .get(&admin, &format!("/v1/superadmin/billing/webhooks/{first}"))
        .await;
    assert_eq!(
        (
            v["event"]["status"].as_str(),
            v["event"]["attempts"].as_i64()
        ),
        (Some("retrying"), Some(1)),
        "{v}"
    );
    assert!(
        v["event"]["lastError"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{v}"
    );
    assert_eq!(v["job"]["status"], "retrying");
    create_tenant_with_id(&server, late).await;
    attempt().await;
    let (_, v) = server
        .get(&admin, &format!("/v1/superadmin/billing/webhooks/{first}"))
        .await;
    assert_eq!(
        (
            v["event"]["status"].as_str(),
            v["event"]["attempts"].as_i64()
        ),
        (Some("processed"), Some(2)),
        "{v}"
    );
    assert_eq!(v["job"]["status"], "done");
    let _worker = server.spawn_worker("w1");

    // A tenant that never arrives: failed after the third attempt, with the reason.
    let ghost = "00000000-0000-4000-8000-0000000ghost";
    let (_, v) = server
        .post_billing(&event(
            "evt_r2",
            "subscription.created",
            json!({"tenantId": ghost, "planId": CORE}),
        ))
        .await;
    let failed_id = v["id"].as_str().unwrap().to_string();
    let e = server.settled_event(&admin, &failed_id).await;
    assert_eq!(
        (e["status"].as_str(), e["attempts"].as_i64()),
        (Some("failed"), Some(3)),
        "{e}"
    );
    assert!(
        e["lastError"]
            .as_str()
            .unwrap()
            .contains("gave up after 3 attempts"),
        "{e}"
    );
    let (_, listed) = server
        .get(
            &admin,
            "/v1/superadmin/billing/webhooks?status=failed,pending",
        )
        .await;
    assert_eq!(listed["events"].as_array().unwrap().len(), 1, "{listed}");
    let (s, _) = server
        .get(&admin, "/v1/superadmin/billing/webhooks?status=lost")
        .await;
    assert_eq!(s, 400);

    // Unknown types are stored and failed at once, with a clear error.
    let (_, v) = server
        .post_billing(&event(
            "evt_r3",
            "customer.deleted",
            json!({"tenantId": late}),
        ))
        .await;
    let e = server
        .settled_event(&admin, v["id"].as_str().unwrap())
        .await;
    assert_eq!(
        (e["status"].as_str(), e["attempts"].as_i64()),
        (Some("failed"), Some(1)),
        "{e}"
    );
    assert!(
        e["lastError"]
            .as_str()
            .unwrap()
            .contains("customer.deleted"),
        "{e}"
    );

    // Replay after the cause is fixed.
    create_tenant_with_id(&server, ghost).await;
    let (s, v) = server
        .send(
            reqwest::Method::POST,
            &admin,
            &format!("/v1/superadmin/billing/webhooks/{failed_id}/replay"),
            &json!({}),
        )
        .await;
    assert_eq!(
        (s, v["event"]["status"].as_str()),
        (200, Some("pending")),
        "{v}"
    );
    assert_eq!(
        server.settled_event(&admin, &failed_id).await["status"],
        "processed"
    );
    let (s, _) = server
        .send(
            reqwest::Method::POST,
            &admin,
            &format!("/v1/superadmin/billing/webhooks/{failed_id}/replay"),
            &json!({}),
        )
        .await;
    assert_eq!(s, 409, "a processed event is not replayed");
    let (s, _) = server
        .send(
            reqwest::Method::POST,
            &admin,
            "/v1/superadmin/billing/webhooks/nope/replay",
            &json!({}),
        )
        .await;
    assert_eq!(s, 404);
    let (_, audit) = server
        .get(
            &admin,
            "/v1/superadmin/audit?action=billing.webhook.replayed",
        )
        .await;
    assert_eq!(audit["events"].as_array().unwrap().len(), 1);

    // The generic job retry, and who may use these routes.
    let (_, v) = server
        .post_billing(&event(
            "evt_r4",
            "subscription.created",
            json!({"tenantId": "never", "planId": CORE}),
        ))
        .await;
    let id = v["id"].as_str().unwrap().to_string();
    server.settled_event(&admin, &id).await;
    let (_, v) = server
        .get(&admin, &format!("/v1/superadmin/billing/webhooks/{id}"))
        .await;
    let job = v["job"]["id"].as_str().unwrap().to_string();
    let (_, staff) = server.tenant(&admin, "Staff Place").await;
    let (s, _) = server
        .send(
            reqwest::Method::POST,
            &staff,
            &format!("/ops/outbox/{job}/retry"),
            &json!({}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = server.get(&staff, "/v1/superadmin/billing/summary").await;
    assert_eq!(s, 403);
    // The cause mended first, as an operator would: a retry before it could use up the
    // job's attempts before the tenant's row lands.
    create_tenant_with_id(&server, "never").await;
    let (s, v) = server
        .send(
            reqwest::Method::POST,
            &admin,
            &format!("/ops/outbox/{job}/retry"),
            &json!({}),
        )
        .await;
    assert_eq!(
        (s, v["job"]["status"].as_str()),
        (200, Some("pending")),
        "{v}"
    );
    assert_eq!(
        server.settled_event(&admin, &id).await["status"],
        "processed"
    );

    // Every metric the shipped alerts and dashboard query is exported.
    let metrics = server.metrics().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    for file in [
        "deploy/monitoring/alerts/billing-webhook-alerts.yaml",
        "deploy/monitoring/grafana/billing-webhook-dashboard.json",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let names = metric_names(&text);
        assert!(names.len() >= 3, "{file}: {names:?}");
        for name in names {
            assert!(
                metrics.lines().any(|l| l.starts_with(&name)),
                "{file} queries {name}, which /metrics does not export"
            );
        }
    }
    for status in ["received", "duplicate", "processed", "retrying", "failed"] {
        let line = format!("nova_api_billing_webhook_total{{status=\"{status}\"}}");
        if status != "duplicate" {
            assert!(metrics.contains(&line), "{line} missing");
        }
    }
}

/// Metric names in a PromQL-bearing file: words starting `nova_`, `bull_` or `http_request`.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| {
            w.starts_with("nova_") || w.starts_with("bull_") || w.starts_with("http_request")
        })
        .map(str::to_string)
        .collect()
}
