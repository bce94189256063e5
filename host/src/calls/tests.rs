//! The call service's policy table: each way a call can end, under each caller's policy,
//! through a real host (SQLite in a temporary directory) and real guest components.

use std::time::Duration;

use nova_artifacts::guests;

use super::{Call, CallOutcome, CallerRole, Failure, Policy, call};
use crate::app::AppState;
use crate::config::Config;
use crate::contract::GuestRequest;
use crate::error_code::ErrorCode;
use crate::runtime::versions::Actor;
use crate::storage::invocations::{self, InvocationFilter};
use crate::storage::tenants;
use crate::tenancy::changes::Change;

/// Every caller's policy, with its name for failure messages.
const POLICIES: [(&str, Policy); 4] = [
    ("tenant request", Policy::TENANT_REQUEST),
    ("platform", Policy::PLATFORM),
    ("billing", Policy::BILLING),
    ("direct", Policy::DIRECT),
];

struct Host {
    state: AppState,
    _dir: tempfile::TempDir,
}

impl Host {
    /// A host with `trivial` and `hostile` installed; compiled components are cached
    /// across tests.
    async fn start() -> Self {
        Self::start_with_deadline(Duration::from_millis(crate::limits::DEFAULT_DEADLINE_MS)).await
    }

    /// [`Host::start`] with another deadline per call.
    async fn start_with_deadline(deadline: Duration) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            jwt_secret: Some("calls-test-secret-calls-test-secret!".into()),
            cache_dir: Some(std::env::temp_dir().join("nova-calls-tests-cache")),
            call_deadline_ms: deadline.as_millis() as u64,
            ..Config::embedded(dir.path().to_path_buf())
        };
        let state = AppState::build(&config).await.unwrap();
        for (name, bytes) in [("trivial", guests::TRIVIAL), ("hostile", guests::HOSTILE)] {
            state
                .runtime
                .install(name, bytes.to_vec(), None)
                .await
                .unwrap();
        }
        Self { state, _dir: dir }
    }

    /// A tenant with `on` switched on for it.
    async fn tenant(&self, on: &[&str]) -> String {
        let id = tenants::create(&self.state.db, "calls").await.unwrap().id;
        let changes: Vec<_> = on
            .iter()
            .map(|m| Change::module_override(m, true))
            .collect();
        self.state
            .tenancy
            .change(&id, &changes, "test", "test", "test")
            .await
            .unwrap();
        id
    }

    async fn call(&self, tenant: &str, module: &str, path: &str, policy: Policy) -> CallOutcome {
        let call_ = Call {
            tenant_id: tenant.to_string(),
            actor: "test".into(),
            role: CallerRole::Admin,
            request_id: uuid::Uuid::now_v7().to_string(),
            module: module.to_string(),
            request: get(path),
        };
        call(&self.state, call_, policy).await
    }

    /// Outcomes and statuses of the tenant's calls into `module`, sorted.
    async fn recorded(&self, tenant: &str, module: &str) -> Vec<(String, i64)> {
        let filter = InvocationFilter {
            tenant_id: Some(tenant.to_string()),
            module: Some(module.to_string()),
            limit: 1000,
            ..Default::default()
        };
        let mut rows: Vec<_> = invocations::page(&self.state.db, &filter)
            .await
            .unwrap()
            .0
            .into_iter()
            .map(|r| (r.outcome, r.status))
            .collect();
        rows.sort();
        rows
    }
}

fn get(path: &str) -> GuestRequest {
    GuestRequest {
        method: "GET".into(),
        path: path.into(),
        query: String::new(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

fn status(outcome: &CallOutcome) -> Option<u16> {
    outcome.answer().map(|r| r.status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_policy_answers_when_every_check_passes() {
    let host = Host::start().await;
    let tenant = host.tenant(&["trivial"]).await;
    for (name, policy) in POLICIES {
        let outcome = host.call(&tenant, "trivial", "/ping", policy).await;
        assert_eq!(status(&outcome), Some(200), "{name}: {outcome:?}");
    }
    // Each answered call is recorded.
    assert_eq!(
        host.recorded(&tenant, "trivial").await.len(),
        POLICIES.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_not_installed_is_not_found_under_every_policy() {
    let host = Host::start().await;
    let tenant = host.tenant(&[]).await;
    for (name, policy) in POLICIES {
        let outcome = host.call(&tenant, "absent", "/ping", policy).await;
        assert!(
            matches!(&outcome, CallOutcome::NotInstalled { module } if module == "absent"),
            "{name}: {outcome:?}"
        );
        let refusal = outcome.into_answer().unwrap_err();
        assert_eq!(
            (refusal.status, refusal.code),
            (404, ErrorCode::MODULE_NOT_FOUND)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_switched_off_is_refused_unless_the_policy_ignores_toggles() {
    let host = Host::start().await;
    let tenant = host.tenant(&[]).await;
    for (name, policy) in POLICIES {
        let outcome = host.call(&tenant, "trivial", "/ping", policy).await;
        if policy.requires_enabled {
            assert!(
                matches!(outcome, CallOutcome::Disabled { .. }),
                "{name}: {outcome:?}"
            );
        } else {
            assert_eq!(status(&outcome), Some(200), "{name}: {outcome:?}");
        }
    }
    // Refusals are recorded as denied with 403, answered calls as ok.
    let recorded = host.recorded(&tenant, "trivial").await;
    let denied = ("denied".to_string(), 403);
    let ok = ("ok".to_string(), 200);
    assert_eq!(recorded, vec![denied.clone(), denied, ok.clone(), ok]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_tenant_requests_count_against_the_plans_call_rate() {
    let host = Host::start().await;
    let tenant = host.tenant(&["trivial"]).await;
    let mut conn = host.state.db.pool().acquire().await.unwrap();
    let core = crate::storage::plans::find(&mut conn, "Core")
        .await
        .unwrap()
        .unwrap();
    crate::storage::subscriptions::create(&mut conn, &tenant, &core.id, "monthly")
        .await
        .unwrap();
    drop(conn);
    host.state.tenancy.invalidate(&tenant);
    let view = host.state.tenancy.view(&tenant).await.unwrap();
    let per_minute = view.calls_per_minute().expect("Core limits the call rate");
    // Spend the minute's calls.
    while host.state.allow_call(&tenant, per_minute).await {}
    for (name, policy) in POLICIES {
        let outcome = host.call(&tenant, "trivial", "/ping", policy).await;
        if policy.rate_limited {
            assert!(
                matches!(outcome, CallOutcome::RateLimited { per_minute: p } if p == per_minute),
                "{name}: {outcome:?}"
            );
            let refusal = outcome.into_answer().unwrap_err();
            assert_eq!(
                (refusal.status, refusal.code, refusal.retry_after),
                (429, ErrorCode::RATE_LIMITED, Some(1))
            );
        } else {
            assert_eq!(status(&outcome), Some(200), "{name}: {outcome:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_policies_that_take_a_slot_wait_for_one() {
    let host = Host::start().await;
    let tenant = host.tenant(&["trivial"]).await;
    let limit = host.state.limits.concurrent_calls;
    // Every slot taken, as by calls that run on.
    let mut held = Vec::new();
    for _ in 0..limit {
        let slot = host
            .state
            .runtime
            .tenants
            .admit(&tenant, limit, Duration::ZERO)
            .await
            .unwrap();
        held.push(slot);
    }
    for (name, policy) in POLICIES {
        let outcome = host.call(&tenant, "trivial", "/ping", policy).await;
        if policy.tenant_slot {
            assert!(
                matches!(outcome, CallOutcome::Busy { limit: l } if l == limit),
                "{name}: {outcome:?}"
            );
            let refusal = outcome.into_answer().unwrap_err();
            assert_eq!(
                (refusal.status, refusal.code),
                (429, ErrorCode::TOO_MANY_CONCURRENT_CALLS)
            );
        } else {
            assert_eq!(status(&outcome), Some(200), "{name}: {outcome:?}");
        }
    }
    drop(held);
    let outcome = host
        .call(&tenant, "trivial", "/ping", Policy::TENANT_REQUEST)
        .await;
    assert_eq!(
        status(&outcome),
        Some(200),
        "a freed slot is taken: {outcome:?}"
    );
}

/// Poll `call` until it has taken its tenant's slot: the step before it waits for a place in
/// the instance pool.
async fn until_admitted<F: Future<Output = CallOutcome>>(
    host: &Host,
    tenant: &str,
    call: &mut std::pin::Pin<Box<F>>,
) {
    let admitted = async {
        while host.state.runtime.tenants.running(tenant) == 0 {
            tokio::task::yield_now().await;
        }
    };
    tokio::select! {
        outcome = call => panic!("answered without a pool place: {outcome:?}"),
        () = admitted => {}
        () = tokio::time::sleep(Duration::from_secs(30)) => panic!("the call never took its slot"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_waiting_for_a_pool_place_runs_nothing_if_given_up_and_counts_its_wait() {
    let host = Host::start().await;
    let tenant = host.tenant(&["trivial"]).await;
    let runtime = &host.state.runtime;
    // Every place in the instance pool taken, as by calls that run on.
    let places = runtime.permits.available_permits() as u32;
    let taken = runtime.permits.clone().acquire_many_owned(places).await;
    let mut waiting = Box::pin(host.call(&tenant, "trivial", "/ping", Policy::TENANT_REQUEST));
    until_admitted(&host, &tenant, &mut waiting).await;
    // Its caller goes away, and then the places come free.
    drop(waiting);
    drop(taken);
    assert!(runtime.unattended.wait(Duration::from_secs(30)).await);
    assert_eq!(runtime.tenants.running(&tenant), 0, "its slot is back");
    let recorded = host.recorded(&tenant, "trivial").await;
    assert!(recorded.is_empty(), "nothing ran: {recorded:?}");

    // A call that waits for its place, and gets it, counts the wait in its record's duration.
    let taken = runtime.permits.clone().acquire_many_owned(places).await;
    let mut waiting = Box::pin(host.call(&tenant, "trivial", "/ping", Policy::TENANT_REQUEST));
    until_admitted(&host, &tenant, &mut waiting).await;
    // The wait to be counted, not a stand-in for an event: the call is queued for a place.
    let wait = Duration::from_millis(200);
    tokio::time::sleep(wait).await;
    drop(taken);
    let outcome = waiting.await;
    assert_eq!(status(&outcome), Some(200), "{outcome:?}");
    let filter = InvocationFilter {
        tenant_id: Some(tenant.clone()),
        limit: 10,
        ..Default::default()
    };
    let (records, _) = invocations::page(&host.state.db, &filter).await.unwrap();
    assert_eq!(records.len(), 1, "one call ran");
    assert!(
        records[0].duration_ms >= wait.as_secs_f64() * 1000.0,
        "{} ms",
        records[0].duration_ms
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_calls_run_the_pinned_version_and_billing_the_active_one() {
    let host = Host::start().await;
    // Version 2 of `trivial` is the hostile guest, which has `/whoami`; version 1 has not.
    host.state
        .runtime
        .install("trivial", guests::HOSTILE.to_vec(), None)
        .await
        .unwrap();
    let tenant = host.tenant(&["trivial"]).await;
    let actor = Actor {
        email: "test",
        request_id: "test",
    };
    host.state
        .runtime
        .pin_version(&tenant, "trivial", 1, actor)
        .await
        .unwrap();
    for (name, policy) in POLICIES {
        let outcome = host.call(&tenant, "trivial", "/whoami", policy).await;
        let expected = match policy.version {
            super::Version::TenantPin => 404,
            super::Version::Active => 200,
        };
        assert_eq!(status(&outcome), Some(expected), "{name}: {outcome:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_module_fails_the_same_way_under_every_policy() {
    // A deadline far away, so on a busy machine (other tests compiling beside these) no call
    // meets it before the failure it is here for; the deadline has its own test below.
    let host = Host::start_with_deadline(Duration::from_secs(30)).await;
    type Is = fn(&Failure) -> bool;
    let cases: [(&str, Is, u16, ErrorCode); 4] = [
        (
            "/recurse",
            |f| *f == Failure::Trapped,
            502,
            ErrorCode::MODULE_TRAPPED,
        ),
        (
            "/grow",
            |f| matches!(f, Failure::Limit(_)),
            502,
            ErrorCode::MODULE_LIMIT,
        ),
        (
            "/big",
            |f| matches!(f, Failure::Limit(_)),
            502,
            ErrorCode::MODULE_LIMIT,
        ),
        (
            "/host-calls",
            |f| matches!(f, Failure::Limit(_)),
            502,
            ErrorCode::MODULE_LIMIT,
        ),
    ];
    let mut called = Vec::new();
    for (path, is, code_status, code) in cases {
        for (name, policy) in POLICIES {
            // A tenant of its own each time, so no call waits on budgets (CPU share, memory
            // growth) that the one before spent.
            let tenant = host.tenant(&["hostile"]).await;
            let outcome = host.call(&tenant, "hostile", path, policy).await;
            called.push(tenant);
            let CallOutcome::Failed { failure, error } = &outcome else {
                panic!("{path} under {name}: {outcome:?}");
            };
            assert!(is(failure), "{path} under {name}: {failure:?}");
            assert!(!error.is_empty(), "{path} under {name}: the cause is kept");
            let refusal = outcome.into_answer().unwrap_err();
            assert_eq!(
                (refusal.status, refusal.code),
                (code_status, code),
                "{path}"
            );
        }
    }
    // Every failed call left its record, with the status the client got.
    for tenant in &called {
        let recorded = host.recorded(tenant, "hostile").await;
        assert_eq!(recorded.len(), 1, "{recorded:?}");
        assert!(
            recorded[0].0 != "ok" && recorded[0].1 >= 502,
            "{recorded:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_past_its_deadline_times_out_under_every_policy() {
    let host = Host::start().await;
    for (name, policy) in POLICIES {
        let tenant = host.tenant(&["hostile"]).await;
        let outcome = host.call(&tenant, "hostile", "/loop", policy).await;
        assert!(
            matches!(
                &outcome,
                CallOutcome::Failed {
                    failure: Failure::TimedOut,
                    ..
                }
            ),
            "{name}: {outcome:?}"
        );
        let refusal = outcome.into_answer().unwrap_err();
        assert_eq!(
            (refusal.status, refusal.code),
            (504, ErrorCode::MODULE_TIMEOUT)
        );
        assert_eq!(
            host.recorded(&tenant, "hostile").await,
            [("timeout".to_string(), 504)]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_switched_off_mid_call_is_interrupted() {
    let host = Host::start().await;
    let tenant = host.tenant(&["hostile"]).await;
    for (name, policy) in POLICIES {
        let running = host.call(&tenant, "hostile", "/loop", policy);
        let stop = async {
            // Interrupt as soon as the call is registered as running.
            while host.state.runtime.tenants.in_flight(&tenant, "hostile") == 0 {
                tokio::task::yield_now().await;
            }
            host.state.runtime.tenants.interrupt(&tenant, "hostile")
        };
        let (outcome, stopped) = tokio::join!(running, stop);
        assert_eq!(stopped, 1, "{name}");
        assert!(
            matches!(
                &outcome,
                CallOutcome::Failed {
                    failure: Failure::Interrupted,
                    ..
                }
            ),
            "{name}: {outcome:?}"
        );
        let refusal = outcome.into_answer().unwrap_err();
        assert_eq!(
            (refusal.status, refusal.code),
            (503, ErrorCode::MODULE_INTERRUPTED)
        );
        // A guest the host answered for while it waited for the CPU (a loaded machine) stays
        // registered until it stops, at its next tick: the next policy's call must not be
        // taken for it.
        let stopped = async {
            // Not a busy loop: the guest may be waiting for the very CPU it would take.
            while host.state.runtime.tenants.in_flight(&tenant, "hostile") != 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), stopped)
            .await
            .unwrap_or_else(|_| panic!("{name}: the interrupted guest never stopped"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_down_before_the_call_is_unavailable_and_runs_nothing() {
    let host = Host::start().await;
    let tenant = host.tenant(&["trivial"]).await;
    host.state.tenancy.view(&tenant).await.unwrap();
    host.state.db.pool().close().await;
    // A reconciliation that cannot read the database drops the views it could not check.
    assert!(host.state.tenancy.refresh(true).await.is_err());
    assert!(!host.state.tenancy.is_cached(&tenant));
    for (name, policy) in POLICIES {
        let outcome = host.call(&tenant, "trivial", "/ping", policy).await;
        assert!(
            matches!(outcome, CallOutcome::Storage(_)),
            "{name}: {outcome:?}"
        );
        let refusal = outcome.into_answer().unwrap_err();
        assert_eq!(
            (refusal.status, refusal.code),
            (503, ErrorCode::UNAVAILABLE)
        );
    }
}
