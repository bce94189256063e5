//! Two real `nova serve` processes on one PostgreSQL and one Redis agree on who has which
//! module: a toggle made through one is enforced by the other, measured over 200 toggles.

use crate::common;

use std::time::{Duration, Instant};

use common::Backend;
use common::process::{Nova, stop};
use serde_json::{Value, json};

/// The `per`-th hundredth of `times` (50: the median).
fn percentile(times: &[Duration], per: usize) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() * per / 100]
}

async fn post(http: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toggle_on_one_replica_is_enforced_by_the_other() {
    let mut nova = Nova::new(Backend::Postgres).await;
    nova.env.push(("REDIS_URL".into(), common::redis_url()));
    nova.env.push((
        "NOVA_JWT_SECRET".into(),
        "replica-secret-replica-secret-replica!!".into(),
    ));
    nova.run(&[
        "superadmin",
        "create",
        "--email",
        "ops@example.com",
        "--password",
        "s3cret-pass",
    ]);
    let (replica_a, a) = nova.serve();
    let (replica_b, b) = nova.serve();
    let http = reqwest::Client::new();

    let login = json!({"email": "ops@example.com", "password": "s3cret-pass"});
    let admin = post(&http, format!("{a}/auth/login"), None, login).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let tenant = post(
        &http,
        format!("{a}/v1/superadmin/tenants"),
        Some(&admin),
        json!({"name": "Replicated"}),
    )
    .await;
    let tenant = tenant["id"].as_str().unwrap().to_string();
    let user =
        json!({"email": "staff@replicated.test", "password": "staff-password", "role": "staff"});
    post(
        &http,
        format!("{a}/v1/superadmin/tenants/{tenant}/users"),
        Some(&admin),
        user,
    )
    .await;
    // A token issued by A is accepted by B.
    let login = json!({"email": "staff@replicated.test", "password": "staff-password"});
    let staff = post(&http, format!("{a}/auth/login"), None, login).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let probe = format!("{b}/v1/portal/pos/tickets?limit=1");
    let status_on_b = || async {
        http.get(&probe)
            .bearer_auth(&staff)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(
        status_on_b().await,
        403,
        "off by default, and B has now cached that"
    );

    let mut propagation = Vec::new();
    for i in 0..200 {
        let enabled = i % 2 == 0;
        let resp = http
            .put(format!("{a}/v1/superadmin/tenants/{tenant}/modules/pos"))
            .bearer_auth(&admin)
            .json(&json!({"enabled": enabled}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let applied = Instant::now();
        let want = if enabled { 200 } else { 403 };
        loop {
            if status_on_b().await == want {
                break;
            }
            assert!(
                applied.elapsed() < Duration::from_secs(20),
                "toggle {i} not enforced by B"
            );
        }
        propagation.push(applied.elapsed());
        if i == 20 {
            // Fail early when Redis carries nothing (each toggle would wait for reconciliation).
            let p50 = percentile(&propagation, 50);
            assert!(p50 < Duration::from_secs(1), "first 21: {propagation:?}");
        }
    }
    let (p50, p99) = (percentile(&propagation, 50), percentile(&propagation, 99));
    println!(
        "cross-replica propagation over 200 toggles: p50 {p50:?}, p99 {p99:?}, max {:?}",
        propagation.iter().max().unwrap()
    );
    // Reconciliation alone (every 5 s) would put the median near 5 s (each toggle, made just
    // after the last was seen, waits for the next round); Redis puts it in
    // milliseconds. The median says which carried the toggles, and a few probes slowed by a
    // loaded machine cannot move it (the p99 is printed: 500 ms is the goal).
    assert!(p50 < Duration::from_secs(1), "p50 {p50:?}, p99 {p99:?}");

    stop(replica_a);
    stop(replica_b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_is_shared_through_redis() {
    use nova::replicas::Bus;
    // Two buses stand for two replicas of one database.
    let db = format!("postgres://shared/{}", uuid::Uuid::new_v4());
    let a = Bus::connect(&common::redis_url(), &db).await.unwrap();
    let b = Bus::connect(&common::redis_url(), &db).await.unwrap();
    let tenant = uuid::Uuid::new_v4().to_string();
    let mut allowed = 0;
    for i in 0..6 {
        let bus = if i % 2 == 0 { &a } else { &b };
        if bus.allow(&tenant, 4).await.unwrap() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 4, "four calls a minute across both replicas");
    let other = uuid::Uuid::new_v4().to_string();
    assert!(
        a.allow(&other, 4).await.unwrap(),
        "other tenants have their own bucket"
    );
}
