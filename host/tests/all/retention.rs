//! Retention with a moved clock, on both backends: rows past their period go, young ones
//! stay, and what a job still needs (queued mail, jobs not done) stays whatever its age.

use crate::common;

use std::time::Duration;

use common::{Backend, TestServer};
use nova::jobs::retention::{Retention, prune_once};
use nova::storage::now_ms;

use sqlx::Row;

const DAY_MS: i64 = 24 * 3600 * 1000;

async fn count(server: &TestServer, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(server.db().pool())
        .await
        .unwrap()
        .try_get::<i64, _>("n")
        .unwrap()
}

async fn insert(server: &TestServer, sql: &str) {
    sqlx::query(sql).execute(server.db().pool()).await.unwrap();
}

async fn old_rows_go_and_needed_rows_stay(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, staff) = server.tenant(&admin, "Pruned Bistro").await;
    server.toggle(&admin, &tenant, "pos", true).await;
    for _ in 0..3 {
        let (status, _) = server.get(&staff, "/v1/portal/pos/tickets").await;
        assert_eq!(status, 200);
    }
    let now = now_ms();
    insert(&server, &format!(
        "INSERT INTO outbox (id, queue, ref_id, status, next_attempt_at, created_at, updated_at) VALUES \
         ('job-done', 'mail', 'r1', 'done', {now}, {now}, {now}), \
         ('job-pending', 'mail', 'r2', 'pending', {now}, {now}, {now}), \
         ('job-failed', 'mail', 'r3', 'failed', {now}, {now}, {now})"
    ))
    .await;
    insert(&server, &format!(
        "INSERT INTO mail_outbox (id, to_addr, subject, body, status, created_at) VALUES \
         ('m-sent', 'a@b.test', 's', 'b', 'sent', {now}), ('m-queued', 'a@b.test', 's', 'b', 'queued', {now})"
    ))
    .await;
    insert(&server, &format!(
        "INSERT INTO webhook_deliveries (source, delivery_id, received_at) VALUES ('payments', 'd1', {now})"
    ))
    .await;
    // Enough old records that pruning takes several batches.
    for batch in 0..3 {
        let rows: Vec<String> = (0..400)
            .map(|i| {
                format!(
                    "('old-{batch}-{i}', '{tenant}', 'pos', '1', 'x', 'GET', '/tickets', 200, 'ok', 1, 1, 'r', NULL, {})",
                    now - 40 * DAY_MS + i
                )
            })
            .collect();
        insert(&server, &format!("INSERT INTO invocations (id, tenant_id, module, version, actor, method, path, status, outcome, duration_us, fuel, request_id, error, created_at) VALUES {}", rows.join(", "))).await;
    }
    let invocations = "SELECT COUNT(*) AS n FROM invocations";
    let audit = "SELECT COUNT(*) AS n FROM audit_events";
    let (calls, events) = (
        count(&server, invocations).await,
        count(&server, audit).await,
    );
    assert!(calls >= 3 && events >= 1, "{calls} {events}");
    let keep = Retention::default();

    // 29 days on: only the 40-day-old records go (in batches); the rest is young.
    let pruned = prune_once(server.db(), &keep, now + 29 * DAY_MS)
        .await
        .unwrap();
    assert_eq!(pruned["invocations"], 1200, "{pruned:?}");
    assert!(
        pruned.iter().all(|(t, n)| *t == "invocations" || *n == 0),
        "{pruned:?}"
    );
    let calls = calls - 1200;

    // 31 days on: a month's rows go; audit (400 days) and what jobs need stay.
    let pruned = prune_once(server.db(), &keep, now + 31 * DAY_MS)
        .await
        .unwrap();
    assert_eq!(pruned["invocations"], calls as u64, "{pruned:?}");
    assert_eq!(pruned["audit_events"], 0);
    assert_eq!(
        (
            pruned["outbox"],
            pruned["mail_outbox"],
            pruned["webhook_deliveries"]
        ),
        (1, 1, 1)
    );
    assert_eq!(count(&server, invocations).await, 0);
    assert_eq!(count(&server, audit).await, events);
    let left: Vec<String> = sqlx::query("SELECT id FROM outbox ORDER BY id")
        .fetch_all(server.db().pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get("id").unwrap())
        .collect();
    assert_eq!(left, ["job-failed", "job-pending"]);
    assert_eq!(
        count(
            &server,
            "SELECT COUNT(*) AS n FROM mail_outbox WHERE status = 'queued'"
        )
        .await,
        1
    );

    // 401 days on, with a short audit period: batches take everything old, in order.
    let short = Retention {
        audit: Duration::from_secs(3600),
        ..Retention::default()
    };
    let pruned = prune_once(server.db(), &short, now + 401 * DAY_MS)
        .await
        .unwrap();
    assert_eq!(pruned["audit_events"], events as u64);
    assert_eq!(count(&server, audit).await, 0);
    // The host still serves, and records again.
    let (status, _) = server.get(&staff, "/v1/portal/pos/tickets").await;
    assert_eq!(status, 200);
    assert_eq!(count(&server, invocations).await, 1);
}

/// `n` invocation records of `tenant` made at `at`.
async fn old_calls(server: &TestServer, tenant: &str, tag: &str, n: usize, at: i64) {
    let rows: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "('{tag}-{i}', '{tenant}', 'pos', '1', 'x', 'GET', '/t', 200, 'ok', 1, 1, 'r', NULL, {at})"
            )
        })
        .collect();
    insert(server, &format!("INSERT INTO invocations (id, tenant_id, module, version, actor, method, path, status, outcome, duration_us, fuel, request_id, error, created_at) VALUES {}", rows.join(", "))).await;
}

async fn plan_id(server: &TestServer, name: &str) -> String {
    sqlx::query_scalar::<_, String>("SELECT id FROM plans WHERE name = $1")
        .bind(name)
        .fetch_one(server.db().pool())
        .await
        .unwrap()
}

async fn calls_of(server: &TestServer, tenant: &str) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM invocations WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(server.db().pool())
        .await
        .unwrap()
}

/// A plan that keeps records longer keeps its tenants' (Enterprise: 90 days of invocation
/// records), by the tenant's current plan only; a tenant whose export is being built keeps
/// everything until the bundle holds it.
async fn plans_and_pending_exports_keep_rows_longer(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (plain, _) = server.tenant(&admin, "Plain Cafe").await;
    let (big, _) = server.tenant(&admin, "Big Chain").await;
    let (moved, _) = server.tenant(&admin, "Moved Diner").await;
    let (exporting, _) = server.tenant(&admin, "Exporting Deli").await;
    let now = now_ms();
    let (enterprise, core) = (
        plan_id(&server, "Enterprise").await,
        plan_id(&server, "Core").await,
    );
    // Big is on Enterprise; Moved was, and its newer subscription is Core.
    insert(&server, &format!(
        "INSERT INTO subscriptions (id, tenant_id, plan_id, status, created_at, updated_at) VALUES \
         ('s-big', '{big}', '{enterprise}', 'active', 1, 1), \
         ('s-moved-old', '{moved}', '{enterprise}', 'past_due', 1, 1), \
         ('s-moved-new', '{moved}', '{core}', 'active', 2, 2)"
    ))
    .await;
    for (tenant, tag) in [(&plain, "p"), (&big, "b"), (&moved, "m"), (&exporting, "e")] {
        old_calls(&server, tenant, tag, 3, now - 40 * DAY_MS).await;
    }
    insert(&server, &format!(
        "INSERT INTO tenant_exports (id, tenant_id, requested_by, recipient, status, created_at, expires_at) \
         VALUES ('x-1', '{exporting}', 'u', 'x25519', 'pending', {now}, {})",
        now + 7 * DAY_MS
    ))
    .await;

    let pruned = prune_once(server.db(), &Retention::default(), now)
        .await
        .unwrap();
    assert_eq!(pruned["invocations"], 6, "{pruned:?}");
    assert_eq!(
        (
            calls_of(&server, &plain).await,
            calls_of(&server, &big).await,
            calls_of(&server, &moved).await,
            calls_of(&server, &exporting).await
        ),
        (0, 3, 0, 3),
        "Enterprise keeps 90 days; a pending export keeps its tenant's rows"
    );

    // Past Enterprise's 90 days its rows go too; once the export is no longer pending, so do
    // the exporting tenant's.
    sqlx::query("UPDATE tenant_exports SET status = 'ready'")
        .execute(server.db().pool())
        .await
        .unwrap();
    let pruned = prune_once(server.db(), &Retention::default(), now + 51 * DAY_MS)
        .await
        .unwrap();
    assert_eq!(pruned["invocations"], 6, "{pruned:?}");
    assert_eq!(calls_of(&server, &big).await, 0);
}

both_backends!(
    old_rows_go_and_needed_rows_stay,
    plans_and_pending_exports_keep_rows_longer
);
