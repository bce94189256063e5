//! Warm instances (issue 17): a module that opts in to reuse (the trivial guest) keeps its
//! statics between calls of one tenant and module version, and nowhere else. Its `/count`
//! answers `[calls this instance served, the tenant it first served, this call's tenant,
//! this call's request id]`; the hostile guest's `/count` answers its count alone and does
//! not opt in.

use crate::common;

use common::{Backend, TestServer, counter, guests};

/// One `/count` call: (calls the instance served, its first tenant, this call's tenant,
/// this call's request id).
async fn call_count(
    server: &TestServer,
    token: &str,
    module: &str,
) -> (u64, String, String, String) {
    let (status, body) = server
        .get(token, &format!("/v1/portal/{module}/count"))
        .await;
    assert_eq!(status, 200, "{body}");
    if let Some(calls) = body.as_u64() {
        // The hostile guest answers its count alone.
        return (calls, String::new(), String::new(), String::new());
    }
    let text = |i: usize| body[i].as_str().unwrap().to_string();
    (body[0].as_u64().unwrap(), text(1), text(2), text(3))
}

/// [`call_count`] without the request id.
async fn count(server: &TestServer, token: &str, module: &str) -> (u64, String, String) {
    let (calls, first, tenant, _) = call_count(server, token, module).await;
    (calls, first, tenant)
}

/// The `calls` of `n` sequential `/count` calls; each call saw its own request id, even in
/// an instance that served the one before.
async fn counts(server: &TestServer, token: &str, module: &str, n: usize) -> Vec<u64> {
    let mut out = Vec::new();
    let mut request_ids = std::collections::HashSet::new();
    for _ in 0..n {
        let (calls, _, _, request_id) = call_count(server, token, module).await;
        assert!(
            request_id.is_empty() || request_ids.insert(request_id.clone()),
            "request id {request_id} seen twice"
        );
        out.push(calls);
    }
    out
}

/// Two tenants with `warm` (opts in) and `cold` (does not) switched on.
async fn two_tenants(server: &TestServer, admin: &str) -> [(String, String); 2] {
    two_tenants_with(server, admin, "warm").await
}

/// [`two_tenants`], with the trivial guest installed as `warm`.
async fn two_tenants_with(server: &TestServer, admin: &str, warm: &str) -> [(String, String); 2] {
    for (name, bytes) in [(warm, guests::TRIVIAL), ("cold", guests::HOSTILE)] {
        assert_eq!(server.install(admin, name, bytes).await.status(), 201);
    }
    let a = server.tenant(admin, "Alpha").await;
    let b = server.tenant(admin, "Bravo").await;
    for (tenant, _) in [&a, &b] {
        server.toggle(admin, tenant, warm, true).await;
        server.toggle(admin, tenant, "cold", true).await;
    }
    [a, b]
}

async fn a_warm_instance_serves_one_tenant_and_version_only(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    // A name of its own: the metrics are the whole test binary's.
    let name = format!("warm-{backend:?}").to_lowercase();
    let [(a, staff_a), (b, staff_b)] = two_tenants_with(&server, &admin, &name).await;

    // One caller at a time: each call finds the instance the last one parked.
    assert_eq!(counts(&server, &staff_a, &name, 3).await, [1, 2, 3]);
    let (calls, first, tenant) = count(&server, &staff_b, &name).await;
    assert_eq!(
        (calls, first.as_str(), tenant.as_str()),
        (1, b.as_str(), b.as_str()),
        "another tenant never runs in an instance that served the first"
    );
    let (calls, first, tenant) = count(&server, &staff_a, &name).await;
    assert_eq!(
        (calls, first.as_str(), tenant.as_str()),
        (4, a.as_str(), a.as_str())
    );
    assert_eq!(
        counts(&server, &staff_a, "cold", 3).await,
        [1, 1, 1],
        "a module that does not opt in gets a fresh instance every call"
    );

    // Whatever stopped a call or failed it, the next call starts afresh.
    for (path, status) in [("panic", 502), ("fail", 500), ("hold?mib=100", 502)] {
        let before = counts(&server, &staff_a, &name, 2).await;
        assert_eq!(before[1], before[0] + 1, "{path}: {before:?}");
        let path = format!("/v1/portal/{name}/{path}");
        assert_eq!(server.get(&staff_a, &path).await.0, status, "{path}");
        assert_eq!(
            counts(&server, &staff_a, &name, 1).await,
            [1],
            "after {path} the instance is gone"
        );
    }
    // A new version never inherits the old one's instances.
    assert_eq!(
        server
            .install(&admin, &name, guests::TRIVIAL)
            .await
            .status(),
        201
    );
    assert_eq!(counts(&server, &staff_a, &name, 2).await, [1, 2]);

    // Every call was recorded, reused or not: 3+1+1+3 counts, then 3 × (2+1+1), then 2.
    let a_calls = server.tenant_invocations(&admin, &a).await.len();
    assert_eq!(a_calls, 3 + 1 + 3 + 3 * 4 + 2);

    let metrics = server.metrics().await;
    let reused = |module: &str| -> f64 {
        counter(
            &metrics,
            &format!("nova_module_warm_calls_total{{module=\"{module}\"}}"),
        )
    };
    // 2 + 1 reuses of the first instance; in each failure round, the two counts and the
    // failing call; 1 on the new version.
    assert_eq!(reused(&name), 3.0 + 3.0 * 3.0 + 1.0);
    assert_eq!(reused("cold"), 0.0);
}

/// Many concurrent calls of two tenants: every answer comes from an instance that has only
/// ever served the caller's tenant, and each tenant's calls are all accounted for.
async fn concurrent_calls_never_share_an_instance_across_tenants(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let [(a, staff_a), (b, staff_b)] = two_tenants(&server, &admin).await;
    let server = &server;
    let calls = (0..120).map(|i| {
        let (tenant, token) = if i % 2 == 0 {
            (&a, &staff_a)
        } else {
            (&b, &staff_b)
        };
        async move { (tenant.clone(), count(server, token, "warm").await) }
    });
    // 12 at once: 6 per tenant, inside the plan's 8 concurrent calls, so none waits for a
    // slot (and none gets 429 on a slow machine).
    use futures_util::StreamExt;
    let answers: Vec<_> = futures_util::stream::iter(calls)
        .buffer_unordered(12)
        .collect()
        .await;
    let mut reused = 0;
    for (tenant, (calls, first, this)) in &answers {
        assert_eq!(this, tenant, "the call ran as its caller");
        assert_eq!(
            first, tenant,
            "an instance that served {first} answered {tenant}"
        );
        if *calls > 1 {
            reused += 1;
        }
    }
    println!(
        "{reused} of {} concurrent calls ran in a warm instance",
        answers.len()
    );
}

async fn no_reuse_when_the_operator_turns_it_off(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.warm_instances = 0).await;
    let admin = server.superadmin().await;
    let [(_, staff_a), _] = two_tenants(&server, &admin).await;
    assert_eq!(counts(&server, &staff_a, "warm", 3).await, [1, 1, 1]);
}

/// Switching a module off for a tenant drops its parked instances: switched back on, the
/// next call starts afresh. The other tenant's instance stays.
async fn switching_a_module_off_drops_its_warm_instances(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let [(a, staff_a), (_, staff_b)] = two_tenants(&server, &admin).await;
    assert_eq!(counts(&server, &staff_a, "warm", 2).await, [1, 2]);
    assert_eq!(counts(&server, &staff_b, "warm", 2).await, [1, 2]);
    server.toggle(&admin, &a, "warm", false).await;
    assert_eq!(server.get(&staff_a, "/v1/portal/warm/count").await.0, 403);
    server.toggle(&admin, &a, "warm", true).await;
    assert_eq!(counts(&server, &staff_a, "warm", 2).await, [1, 2]);
    assert_eq!(counts(&server, &staff_b, "warm", 1).await, [3]);
}

/// A server whose warm pool holds one instance, made way for after `make_way_ms`, and
/// two tenants' staff tokens.
async fn pool_of_one(backend: Backend, make_way_ms: u64) -> (TestServer, String, String) {
    let server = TestServer::start_with(backend, |c| {
        c.warm_instances = 1;
        c.warm_make_way_ms = make_way_ms;
    })
    .await;
    let admin = server.superadmin().await;
    let [(_, staff_a), (_, staff_b)] = two_tenants(&server, &admin).await;
    (server, staff_a, staff_b)
}

/// With room for one parked instance, a second tenant's instance takes the place of the
/// first's, which starts afresh on its next call.
async fn the_oldest_instance_makes_way_when_the_pool_is_full(backend: Backend) {
    let (server, staff_a, staff_b) = pool_of_one(backend, 0).await;
    assert_eq!(counts(&server, &staff_a, "warm", 2).await, [1, 2]);
    assert_eq!(counts(&server, &staff_b, "warm", 2).await, [1, 2]);
    assert_eq!(counts(&server, &staff_a, "warm", 2).await, [1, 2]);
}

/// A full pool whose instance parked moments ago keeps it: another tenant's calls start
/// fresh and are not parked (each serves its first call), and the first tenant's calls go
/// on in the instance they had. (A minute: longer than the 30 s after which a parked
/// instance idles out, so only that, never a pause of a loaded machine, could let it go.)
async fn a_full_pool_keeps_an_instance_parked_moments_ago(backend: Backend) {
    let (server, staff_a, staff_b) = pool_of_one(backend, 60_000).await;
    assert_eq!(counts(&server, &staff_a, "warm", 2).await, [1, 2]);
    assert_eq!(counts(&server, &staff_b, "warm", 2).await, [1, 1]);
    assert_eq!(counts(&server, &staff_a, "warm", 2).await, [3, 4]);
}

/// The SDK builds a module's routes on an instance's first call only: a reused instance
/// answers its later calls with the router it built then (the trivial guest's `/routers`
/// counts its builds), and a fresh instance builds its own.
async fn a_reused_instance_builds_its_routes_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let [(_, staff_a), _] = two_tenants(&server, &admin).await;
    // The instance is reused (its call count goes up) ...
    assert_eq!(counts(&server, &staff_a, "warm", 3).await, [1, 2, 3]);
    // ... and built its routes once for all of those calls and this one, which ran in the
    // same instance (it served the three before).
    let (status, routers) = server.get(&staff_a, "/v1/portal/warm/routers").await;
    assert_eq!(status, 200, "{routers}");
    assert_eq!(routers, serde_json::json!([1, 3]));

    let cold = TestServer::start_with(backend, |c| c.warm_instances = 0).await;
    let admin = cold.superadmin().await;
    let [(_, staff_a), _] = two_tenants(&cold, &admin).await;
    for _ in 0..3 {
        let (status, routers) = cold.get(&staff_a, "/v1/portal/warm/routers").await;
        assert_eq!(status, 200, "{routers}");
        assert_eq!(
            routers,
            serde_json::json!([1, 0]),
            "a fresh instance builds its own"
        );
    }
}

both_backends!(
    a_full_pool_keeps_an_instance_parked_moments_ago,
    a_reused_instance_builds_its_routes_once,
    a_warm_instance_serves_one_tenant_and_version_only,
    concurrent_calls_never_share_an_instance_across_tenants,
    no_reuse_when_the_operator_turns_it_off,
    switching_a_module_off_drops_its_warm_instances,
    the_oldest_instance_makes_way_when_the_pool_is_full,
);
