//! Invocation cost: (a) bare wasmtime — instantiate the trivial guest from its `InstancePre`
//! in a fresh store (pooling allocator, same engine) and call it; (b) Nova's whole in-process
//! path — toggle check from memory, store set-up with limits, the call, and the durable
//! group commit of the invocation record on SQLite, every call in a fresh instance
//! (`--warm-instances 0`); (d) the same with warm instances, which the trivial guest opts in
//! to: a tenant's call runs in an instance its earlier call parked. All run in this one
//! process with the same number of calls in flight, so b/a is the price of Nova's
//! bookkeeping and d/a what a module that opts in to reuse pays.
//!
//! `cargo bench -p nova --bench invoke`

use std::future::Future;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nova::app::AppState;
use nova::calls::{self, Call, CallerRole, Policy};
use nova::capabilities::gate::CallInfo;
use nova::config::Config;
use nova::contract::GuestRequest;
use nova::runtime::module_pre::ModulePre;
use nova::runtime::store::StoreData;
use nova::storage::tenants;
use nova_artifacts::guests;
use wasmtime::{Store, UpdateDeadline};

/// The `nova` binary's allocator (see `src/main.rs`), so both sides pay what the server
/// pays for their allocations rather than glibc's.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Calls in flight at once.
const CONCURRENCY: usize = 128;
/// Calls each in-flight slot makes per iteration, so the steady state dominates.
const PER_SLOT: usize = 4;

fn request() -> GuestRequest {
    GuestRequest {
        method: "GET".into(),
        path: "/ping".into(),
        query: String::new(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

async fn bare_call(state: AppState, pre: ModulePre) {
    let limits = state.limits;
    let call = CallInfo {
        tenant_id: "t".into(),
        actor: "a".into(),
        role: CallerRole::Admin,
        request_id: "r".into(),
        module: "trivial".into(),
        version: "1".into(),
    };
    let view = state.tenancy.view("t").await.unwrap();
    let data = StoreData::new(state.db.clone(), call, limits, view);
    let mut store = Store::new(state.runtime.engine.engine(), data);
    store.limiter_async(|s| &mut s.limiter);
    store.set_fuel(limits.fuel).unwrap();
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
    let resp = pre.handle(&mut store, &request()).await.unwrap();
    assert_eq!(resp.status, 200);
}

async fn nova_call(state: AppState, tenant: String) {
    let call = Call {
        tenant_id: tenant,
        actor: "bench".into(),
        role: CallerRole::Admin,
        request_id: uuid::Uuid::now_v7().to_string(),
        module: "trivial".into(),
        request: request(),
    };
    // The invocation itself: the policy checks are measured by the HTTP benches.
    let outcome = calls::call(&state, call, Policy::DIRECT).await;
    assert_eq!(outcome.answer().map(|r| r.status), Some(200));
}

/// Run `CONCURRENCY` slots of `PER_SLOT` calls each and wait for all of them.
async fn load<F, Fut>(call: F)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                for _ in 0..PER_SLOT {
                    call().await;
                }
            })
        })
        .collect();
    for s in slots {
        s.await.unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (state, tenant, _fresh_dir) = rt.block_on(setup(0));
    let (warm_state, warm_tenant, _warm_dir) = rt.block_on(setup(CONCURRENCY as u32));
    let pre = state.runtime.engine.prepare(guests::TRIVIAL).unwrap();

    let mut group = c.benchmark_group("invoke");
    group.throughput(Throughput::Elements((CONCURRENCY * PER_SLOT) as u64));
    group
        .measurement_time(Duration::from_secs(10))
        .sample_size(20);
    group.bench_function("a_bare_wasmtime", |b| {
        b.to_async(&rt).iter(|| {
            let (state, pre) = (state.clone(), pre.clone());
            load(move || bare_call(state.clone(), pre.clone()))
        })
    });
    group.bench_function("b_nova_invocation", |b| {
        b.to_async(&rt).iter(|| {
            let (state, tenant) = (state.clone(), tenant.clone());
            load(move || nova_call(state.clone(), tenant.clone()))
        })
    });
    group.bench_function("d_nova_invocation_warm", |b| {
        b.to_async(&rt).iter(|| {
            let (state, tenant) = (warm_state.clone(), warm_tenant.clone());
            load(move || nova_call(state.clone(), tenant.clone()))
        })
    });
    group.bench_function("c_commit_only", |b| {
        b.to_async(&rt).iter(|| {
            let (state, tenant) = (state.clone(), tenant.clone());
            load(move || commit_only(state.clone(), tenant.clone()))
        })
    });
    group.finish();
}

/// A server on SQLite in a directory of its own, keeping up to `warm_instances` instances
/// warm, with a tenant that has the trivial guest on.
async fn setup(warm_instances: u32) -> (AppState, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        jwt_secret: Some("bench-secret-bench-secret-bench-secret".into()),
        warm_instances,
        ..Config::embedded(dir.path().to_path_buf())
    };
    let state = AppState::build(&config).await.unwrap();
    state
        .runtime
        .install("trivial", guests::TRIVIAL.to_vec(), None)
        .await
        .unwrap();
    let tenant = tenants::create(&state.db, "bench").await.unwrap();
    let on = nova::tenancy::changes::Change::module_override("trivial", true);
    state
        .tenancy
        .change(&tenant.id, &[on], "bench", "bench", "bench")
        .await
        .unwrap();
    (state, tenant.id, dir)
}

async fn commit_only(state: AppState, tenant: String) {
    use nova::storage::commit::Job;
    use nova::storage::invocations::{Invocation, Outcome};
    let inv = Invocation {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.clone(),
        module: "trivial".into(),
        version: Some("1".into()),
        actor: "bench".into(),
        method: "GET".into(),
        path: "/ping".into(),
        status: 200,
        outcome: Outcome::Ok,
        duration_us: 10,
        fuel: 10,
        request_id: uuid::Uuid::now_v7().to_string(),
        error: None,
        created_at: nova::storage::now_ms(),
        trace_id: None,
    };
    let job = Job {
        tenant_id: tenant,
        module: "trivial".into(),
        invocation: Some(inv),
        ..Job::default()
    };
    state.runtime.committer.commit(job).await.unwrap();
}

criterion_group!(benches, bench);
criterion_main!(benches);
