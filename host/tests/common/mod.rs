//! Test harness: a real Nova server on a loopback port over SQLite or PostgreSQL.
//!
//! PostgreSQL tests create a fresh database per server on `NOVA_TEST_DATABASE_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`) and fail, not skip, when it does
//! not answer.
#![allow(dead_code)]

pub mod browser;
pub mod process;
pub mod sandbox;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use nova::app::AppState;
use nova::auth::password;
use nova::config::{Config, PaymentsConfig, WorkerConfig};
use nova::storage::{Db, users};
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

#[allow(unused_imports)]
pub use nova_artifacts::guests;

/// Poll `ready` every 5 ms until it holds, for a condition another task or process brings
/// about with nothing to wait on; fail with `what` after 30 s.
pub async fn eventually(what: impl Fn() -> String, mut ready: impl AsyncFnMut() -> bool) {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !ready().await {
        assert!(std::time::Instant::now() < give_up, "{}", what());
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Whether an invocation record says the host answered for a guest that was held from
/// running (`Runtime::hold_long_calls`), rather than the guest stopping by itself.
pub fn answered_without_the_guest(record: &Value) -> bool {
    record["error"]
        .as_str()
        .is_some_and(|e| e.contains("still waiting for the CPU"))
}

/// Let the long calls `held` kept from running go on, and wait until `tenant`'s calls have
/// all stopped (their slots go back with their instances).
pub async fn end_held_calls<T>(held: T, server: &TestServer, tenant: &str) {
    drop(held);
    let tenants = &server.state.runtime.tenants;
    eventually(
        || "a held guest never stopped".to_string(),
        async || tenants.running(tenant) == 0,
    )
    .await;
}

/// `module`'s calls running now for `tenant`, as the console's module list shows them
/// (`inFlight`); null if the module is not in the list.
pub async fn in_flight(server: &TestServer, admin: &str, tenant: &str, module: &str) -> Value {
    let (_, listed) = server
        .get(admin, &format!("/v1/superadmin/tenants/{tenant}/modules"))
        .await;
    let modules = listed["modules"].as_array().cloned().unwrap_or_default();
    let found = modules.iter().find(|m| m["name"] == module);
    found.map_or(Value::Null, |m| m["inFlight"].clone())
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Send `req`, and send it again after the answer's Retry-After while the server says it is
/// too busy (503 with Retry-After), as a well-behaved client does. Every in-process test
/// server shares the process's one password-hashing gate, so on a loaded machine a login can
/// meet another test's hashes queued ahead of it; a test of that refusal sends its own requests.
pub async fn send_patiently(req: reqwest::RequestBuilder) -> reqwest::Response {
    for _ in 0..30 {
        let resp = req.try_clone().unwrap().send().await.unwrap();
        let after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match after {
            Some(secs) if resp.status() == 503 => {
                tokio::time::sleep(std::time::Duration::from_secs(secs)).await
            }
            _ => return resp,
        }
    }
    panic!("still too busy after 30 tries");
}

/// Generate one `#[tokio::test]` per backend for each named `async fn(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

pub const SUPERADMIN_EMAIL: &str = "root@nova.test";
pub const SUPERADMIN_PASSWORD: &str = "correct horse battery";
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret!!";
/// What the payment provider signs settlement webhooks with in tests.
pub const PAYMENTS_SECRET: &str = "test-payments-webhook-secret";
/// What the billing provider signs webhooks with in tests.
pub const BILLING_SECRET: &str = "test-billing-webhook-secret";
/// The token Prometheus would send to scrape `/metrics`.
pub const METRICS_TOKEN: &str = "test-metrics-scrape-token";
/// How long a test server's worker holds a claimed job.
pub const WORKER_LEASE_MS: i64 = 2_000;
/// The wall-clock deadline of a test server's module calls. The host's 1 s is for a release
/// build on a machine doing its own work; a debug build sharing two cores with a whole test
/// suite has run an ordinary POS call past it. Tests of the deadline itself start with
/// [`TestServer::start_with_host_limits`]. Servers run as processes get it too
/// (`NOVA_CALL_DEADLINE_MS`).
pub const TEST_CALL_DEADLINE_MS: u64 = 20_000;

/// The PostgreSQL server tests use.
pub fn postgres_url() -> String {
    std::env::var("NOVA_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The Redis server tests use.
pub fn redis_url() -> String {
    std::env::var("NOVA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn replace_db(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("database URL has a path");
    format!("{base}/{db}")
}

/// Create an empty PostgreSQL database for one test and return its URL.
pub async fn fresh_postgres() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let admin_url = postgres_url();
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} does not answer ({e}); start it or set NOVA_TEST_DATABASE_URL"));
    sweep_dead_databases(&mut admin).await;
    let name = format!(
        "nova_t_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand::random::<u16>()
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    replace_db(&admin_url, &name)
}

/// Drop databases left by test processes that no longer run.
async fn sweep_dead_databases(admin: &mut sqlx::PgConnection) {
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'nova_t_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for (name,) in names {
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| {
            p != std::process::id() && !std::path::Path::new(&format!("/proc/{p}")).exists()
        }) {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut *admin)
                .await;
        }
    }
}

/// Compiled modules are cached across tests so each test does not recompile them.
pub fn shared_cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compile-cache")
}

/// A running server and what a test needs to talk to it.
pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    pub state: AppState,
    pub config: Config,
    pub backend: Backend,
    data_dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    /// A server on a new, empty database with the bundled modules installed. Its calls may
    /// run for [`TEST_CALL_DEADLINE_MS`].
    pub async fn start(backend: Backend) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(backend, listener, "http://127.0.0.1:9").await
    }

    /// [`TestServer::start`] with the host's own call limits, the 1 s deadline included: for
    /// tests of what stops a call.
    pub async fn start_with_host_limits(backend: Backend) -> Self {
        Self::start_with(backend, |config| {
            config.call_deadline_ms =
                nova::config::Config::embedded(config.data_dir.clone()).call_deadline_ms
        })
        .await
    }

    /// [`TestServer::start`] with its configuration changed by `edit` first.
    pub async fn start_with(backend: Backend, edit: impl FnOnce(&mut Config)) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_edited(backend, listener, "http://127.0.0.1:9", None, edit).await
    }

    /// [`TestServer::start`] sending mail to the SMTP server at `smtp_url`.
    pub async fn start_with_smtp(backend: Backend, smtp_url: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_full(backend, listener, "http://127.0.0.1:9", Some(smtp_url)).await
    }

    /// [`TestServer::start`] on a listener bound by the caller, with the payment provider
    /// at `payments_url` (the default points at a closed port).
    pub async fn start_on(
        backend: Backend,
        listener: tokio::net::TcpListener,
        payments_url: &str,
    ) -> Self {
        Self::start_full(backend, listener, payments_url, None).await
    }

    async fn start_full(
        backend: Backend,
        listener: tokio::net::TcpListener,
        payments_url: &str,
        smtp_url: Option<&str>,
    ) -> Self {
        Self::start_edited(backend, listener, payments_url, smtp_url, |_| {}).await
    }

    async fn start_edited(
        backend: Backend,
        listener: tokio::net::TcpListener,
        payments_url: &str,
        smtp_url: Option<&str>,
        edit: impl FnOnce(&mut Config),
    ) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(fresh_postgres().await),
        };
        let mut config = Config {
            data_dir: data_dir.path().to_path_buf(),
            database_url,
            redis_url: None,
            jwt_secret: Some(JWT_SECRET.into()),
            cache_dir: Some(shared_cache_dir()),
            warm_instances: 32,
            warm_make_way_ms: nova::config::DEFAULT_WARM_MAKE_WAY_MS,
            payments: PaymentsConfig {
                mode: "sandbox".into(),
                url: payments_url.into(),
                webhook_secret: Some(PAYMENTS_SECRET.into()),
            },
            outbound_hosts: Vec::new(),
            trusted_proxies: Vec::new(),
            metrics_token: Some(METRICS_TOKEN.into()),
            master_key: None,
            public_url: "http://nova.test".into(),
            billing_webhook_secret: Some(BILLING_SECRET.into()),
            worker: WorkerConfig {
                lease_ms: WORKER_LEASE_MS,
                max_attempts: 3,
                retry_base_ms: 50,
            },
            retention: Default::default(),
            smtp_url: smtp_url.map(str::to_string),
            mail_from: "Nova <nova@nova.test>".into(),
            call_limits: Default::default(),
            call_deadline_ms: TEST_CALL_DEADLINE_MS,
        };
        edit(&mut config);
        let server = Self::launch(config, backend, data_dir, listener).await;
        server.state.runtime.install_bundled().await.unwrap();
        let db = server.state.db.clone();
        // The seeded plans' deadlines (500 ms to 2 s) are a release build's; tenants on them
        // get the test servers' long one too, for the reason [`TEST_CALL_DEADLINE_MS`] gives.
        // A test of a plan's deadline sets its own.
        let plans: Vec<String> = sqlx::query_scalar("SELECT name FROM plans")
            .fetch_all(db.pool())
            .await
            .unwrap();
        for plan in plans {
            server
                .edit_plan(&plan, |e| {
                    e["limits"]["deadlineMs"] = json!(TEST_CALL_DEADLINE_MS)
                })
                .await;
        }
        let hash = password::hash(SUPERADMIN_PASSWORD).unwrap();
        users::create(&db, None, SUPERADMIN_EMAIL, &hash, "superadmin")
            .await
            .unwrap();
        server
    }

    async fn launch(
        config: Config,
        backend: Backend,
        data_dir: tempfile::TempDir,
        listener: tokio::net::TcpListener,
    ) -> Self {
        let state = AppState::build(&config).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let app = nova::http::router(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Self {
            base,
            http: reqwest::Client::new(),
            state,
            config,
            backend,
            data_dir,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Stop the server and start a new one on the same database and data directory.
    pub async fn restart(mut self) -> Self {
        self.stop().await;
        let config = self.config.clone();
        let backend = self.backend;
        let data_dir = std::mem::replace(&mut self.data_dir, tempfile::tempdir().unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::launch(config, backend, data_dir, listener).await
    }

    async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
        self.state.close().await;
    }

    /// The database, for checks that look behind the API.
    pub fn db(&self) -> &Db {
        &self.state.db
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `/metrics` as Prometheus scrapes it (with the scrape token).
    pub async fn metrics(&self) -> String {
        let resp = self
            .http
            .get(self.url("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "scraping /metrics");
        resp.text().await.unwrap()
    }

    /// Log in and return the token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let resp = send_patiently(
            self.http
                .post(self.url("/auth/login"))
                .json(&json!({"email": email, "password": password})),
        )
        .await;
        assert_eq!(resp.status(), 200, "login of {email}");
        resp.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn superadmin(&self) -> String {
        self.login(SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD).await
    }

    /// Create a tenant with one staff user; returns (tenant id, the user's token).
    pub async fn tenant(&self, admin: &str, name: &str) -> (String, String) {
        let tenant: Value = self
            .http
            .post(self.url("/v1/superadmin/tenants"))
            .bearer_auth(admin)
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = tenant["id"].as_str().unwrap().to_string();
        let email = format!(
            "staff-{}@{}.test",
            rand::random::<u32>(),
            name.to_lowercase().replace(' ', "-")
        );
        let token = self
            .add_user(admin, &id, &email, "staff-password", "staff")
            .await;
        (id, token)
    }

    /// Change plan `name`'s entitlements in the database (no API edits plans).
    pub async fn edit_plan(&self, name: &str, edit: impl FnOnce(&mut Value)) {
        let raw: String = sqlx::query_scalar("SELECT entitlements FROM plans WHERE name = $1")
            .bind(name)
            .fetch_one(self.db().pool())
            .await
            .unwrap();
        let mut entitlements: Value = serde_json::from_str(&raw).unwrap();
        edit(&mut entitlements);
        sqlx::query("UPDATE plans SET entitlements = $1 WHERE name = $2")
            .bind(entitlements.to_string())
            .bind(name)
            .execute(self.db().pool())
            .await
            .unwrap();
    }

    /// A new user of `tenant` with `role` (`admin` or `staff`), signed in: its token.
    pub async fn tenant_user(&self, admin: &str, tenant: &str, role: &str) -> String {
        let email = format!("{role}-{}@{tenant}.test", rand::random::<u32>());
        self.add_user(admin, tenant, &email, "user-password", role)
            .await
    }

    /// Add a user to `tenant` and sign it in: its token.
    async fn add_user(
        &self,
        admin: &str,
        tenant: &str,
        email: &str,
        password: &str,
        role: &str,
    ) -> String {
        let resp = send_patiently(
            self.http
                .post(self.url(&format!("/v1/superadmin/tenants/{tenant}/users")))
                .bearer_auth(admin)
                .json(&json!({"email": email, "password": password, "role": role})),
        )
        .await;
        assert_eq!(resp.status(), 201);
        self.login(email, password).await
    }

    /// Switch a module on or off for a tenant.
    pub async fn toggle(&self, admin: &str, tenant: &str, module: &str, enabled: bool) {
        let resp = self
            .http
            .put(self.url(&format!("/v1/superadmin/tenants/{tenant}/modules/{module}")))
            .bearer_auth(admin)
            .json(&json!({"enabled": enabled}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "toggle {module} for {tenant}");
    }

    /// Install a component through the API and grant it every capability it declares.
    pub async fn install(&self, admin: &str, name: &str, bytes: &[u8]) -> reqwest::Response {
        let resp = self.install_ungranted(admin, name, bytes).await;
        if resp.status() == 201 {
            let grant = self
                .http
                .put(self.url(&format!("/v1/superadmin/modules/{name}/grants")))
                .bearer_auth(admin)
                .json(&json!({"capabilities": ["kv", "audit", "entitlements"]}))
                .send()
                .await
                .unwrap();
            assert_eq!(grant.status(), 200, "granting {name}");
        }
        resp
    }

    /// Install a component through the API; it is granted nothing.
    pub async fn install_ungranted(
        &self,
        admin: &str,
        name: &str,
        bytes: &[u8],
    ) -> reqwest::Response {
        self.http
            .post(self.url(&format!("/v1/superadmin/modules?name={name}")))
            .bearer_auth(admin)
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// GET a path with a token, returning (status, JSON body or null).
    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        assert_written_for_people(&body);
        (status, body)
    }

    /// Send a JSON body with a token, returning (status, JSON body or null).
    pub async fn send(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: &Value,
    ) -> (u16, Value) {
        let resp = self
            .http
            .request(method, self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        assert_written_for_people(&body);
        (status, body)
    }

    /// The invocation records with this request id.
    pub async fn invocations_for(&self, admin: &str, request_id: &str) -> Vec<Value> {
        self.invocations_where(admin, &format!("requestId={request_id}"))
            .await
    }

    /// The invocation records of a tenant (the newest 100).
    pub async fn tenant_invocations(&self, admin: &str, tenant: &str) -> Vec<Value> {
        self.invocations_where(admin, &format!("tenantId={tenant}&limit=100"))
            .await
    }

    /// The invocation records the superadmin API finds for `query`.
    async fn invocations_where(&self, admin: &str, query: &str) -> Vec<Value> {
        let path = format!("/v1/superadmin/invocations?{query}");
        let (status, body) = self.get(admin, &path).await;
        assert_eq!(status, 200, "{body}");
        body["invocations"].as_array().unwrap().clone()
    }

    /// Count rows of a table, straight from the database.
    pub async fn count(&self, table: &str) -> i64 {
        use sqlx::Row;
        sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(self.db().pool())
            .await
            .unwrap()
            .get::<i64, _>("n")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl TestServer {
    /// Run a billing worker in this process (as `nova serve` does on SQLite).
    pub fn spawn_worker(&self, id: &str) -> JoinHandle<()> {
        tokio::spawn(nova::jobs::run(
            self.state.clone(),
            id.to_string(),
            std::future::pending(),
        ))
    }

    /// Post a billing event signed with [`BILLING_SECRET`]; (status, body).
    pub async fn post_billing(&self, event: &Value) -> (u16, Value) {
        post_billing_to(&self.http, &self.base, event).await
    }

    /// Wait until a billing event is processed or failed; its view.
    pub async fn settled_event(&self, admin: &str, id: &str) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let (status, v) = self
                .get(admin, &format!("/v1/superadmin/billing/webhooks/{id}"))
                .await;
            assert_eq!(status, 200, "{v}");
            if matches!(v["event"]["status"].as_str(), Some("processed" | "failed")) {
                return v["event"].clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "event never settled: {v}"
            );
            // The worker is asynchronous by design; its result is the condition waited on.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// Post a signed billing event to any Nova at `base`.
pub async fn post_billing_to(http: &reqwest::Client, base: &str, event: &Value) -> (u16, Value) {
    let body = event.to_string();
    let sig = nova::webhooks::signature::sign(
        BILLING_SECRET,
        nova::webhooks::signature::unix_now(),
        body.as_bytes(),
    );
    let resp = http
        .post(format!("{base}/billing/webhooks/sandbox"))
        .header("x-sandbox-signature", sig)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Every error body the suites see through [`TestServer::get`] and [`TestServer::send`] is
/// worded for people: no Rust debug output, no serde internals, no parser positions.
pub fn assert_written_for_people(body: &Value) {
    let Some(message) = body["error"]["message"].as_str() else {
        return;
    };
    for fragment in [
        "Failed to deserialize",
        "expected=",
        " at line ",
        "Error {",
        "Some(",
        "\n",
    ] {
        assert!(
            !message.contains(fragment),
            "an error message carries {fragment:?}: {message}"
        );
    }
}

/// The value of `series` (its name and labels as the recorder writes them) in a `/metrics`
/// scrape; `None` while the series does not exist.
pub fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A counter's value in a `/metrics` scrape: 0 while the series does not exist yet.
pub fn counter(metrics: &str, series: &str) -> f64 {
    value(metrics, series).unwrap_or(0.0)
}
