//! The test host (`nova test-host`, a process of its own) and what tests see of it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::stubs::{StubRequest, StubServer, Stubs};

/// A tenant made by [`TestHost::tenant`], with an admin's token.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// The tenant id.
    pub id: String,
    /// A bearer token of one of the tenant's users: its admin, or a member of staff for a
    /// tenant from [`TestHost::staff`].
    pub token: String,
}

/// A response from a route.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON; panics (failing the test) when it is not.
    ///
    /// ```
    /// let r = nova_testkit::Reply { status: 400, body: br#"{"error":{"code":"VALIDATION","message":"name is required","field":"name"}}"#.to_vec() };
    /// assert_eq!(r.json()["error"]["message"], "name is required");
    /// ```
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                self.text()
            )
        })
    }

    /// The body as text.
    ///
    /// ```
    /// let r = nova_testkit::Reply { status: 200, body: b"hello".to_vec() };
    /// assert_eq!(r.text(), "hello");
    /// ```
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// For an error in the standard shape: its `code`.
    ///
    /// ```
    /// let r = nova_testkit::Reply { status: 400, body: br#"{"error":{"code":"VALIDATION","message":"name is required","field":"name"}}"#.to_vec() };
    /// assert_eq!(r.error_code().as_deref(), Some("VALIDATION"));
    /// ```
    pub fn error_code(&self) -> Option<String> {
        self.json()["error"]["code"].as_str().map(str::to_string)
    }

    /// For a validation error: the `field` it names.
    ///
    /// ```
    /// let r = nova_testkit::Reply { status: 400, body: br#"{"error":{"code":"VALIDATION","message":"name is required","field":"name"}}"#.to_vec() };
    /// assert_eq!(r.error_field().as_deref(), Some("name"));
    /// ```
    pub fn error_field(&self) -> Option<String> {
        self.json()["error"]["field"].as_str().map(str::to_string)
    }
}

/// One audit record a module (or the host, for refusals) wrote.
#[derive(Debug, Clone, Deserialize)]
pub struct AuditRecord {
    /// Such as `pos.ticket.closed` or `capability.denied`.
    pub action: String,
    /// The module that wrote it.
    pub module: String,
    /// Who made the request.
    pub actor: Option<String>,
    /// The JSON payload.
    pub payload: Value,
}

/// One invocation record: how a module call ended, as the host recorded it (see
/// [`TestHost::invocations`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationRecord {
    /// The record's id.
    pub id: String,
    /// The tenant of the call.
    pub tenant_id: String,
    /// The module called.
    pub module: String,
    /// The module version that ran (none when the call was refused before it ran).
    pub version: Option<String>,
    /// Who made the request.
    pub actor: Option<String>,
    /// The request's method.
    pub method: String,
    /// The path inside the module (`/tickets/7`).
    pub path: String,
    /// The status the client got.
    pub status: i64,
    /// `ok`, `error`, `denied`, `trap`, `timeout`, `limit` or `interrupted` (docs/API.md
    /// defines them).
    pub outcome: String,
    /// How long the call took.
    pub duration_ms: f64,
    /// The fuel the module used.
    pub fuel: i64,
    /// The request id the answer carried.
    pub request_id: String,
    /// What went wrong, for outcomes other than `ok`.
    pub error: Option<String>,
    /// When, RFC 3339.
    pub created_at: String,
}

/// A Nova host for one test: `nova test-host` in a process of its own, on a throw-away
/// SQLite database, with outbound HTTP answered by the stubs you register. Dropping it
/// stops the process.
///
/// The kit finds `nova` through `NOVA_BIN`, else on `PATH`. Your module's tests then never
/// compile the host: only this small client.
pub struct TestHost {
    base: String,
    agent: ureq::Agent,
    stubs: Arc<Stubs>,
    _stub_server: StubServer,
    child: Child,
    /// Closing it tells the host to stop (and clean up its database), even if this process
    /// dies without dropping us.
    stdin: Option<ChildStdin>,
}

impl Default for TestHost {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        // Closing stdin lets the host stop on its own and delete its temporary database;
        // it is killed only if it has not gone within a few seconds.
        drop(self.stdin.take());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `nova` binary: `NOVA_BIN`, else the first `nova` on `PATH`.
fn nova_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("NOVA_BIN") {
        return PathBuf::from(bin);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("nova"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "nova-testkit runs your module in the `nova` binary: put it on PATH or set \
                 NOVA_BIN (in a Nova checkout: cargo build -p nova, then target/debug/nova)"
            )
        })
}

impl TestHost {
    /// A fresh host on an empty database. Nothing is installed.
    ///
    /// ```no_run
    /// let host = nova_testkit::TestHost::new();
    /// ```
    pub fn new() -> Self {
        let stubs = Arc::new(Stubs::default());
        let stub_server = StubServer::start(stubs.clone());
        let bin = nova_bin();
        let mut child = Command::new(&bin)
            .args(["test-host", "--stub-url", &stub_server.url])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {} test-host: {e}", bin.display()));
        let stdin = child.stdin.take().expect("piped stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("the test host says where it listens");
        let base = line
            .trim()
            .strip_prefix("nova test-host listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "{} test-host did not start (is it a nova with the test host?): {line:?}",
                    bin.display()
                )
            })
            .to_string();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            base,
            agent,
            stubs,
            _stub_server: stub_server,
            child,
            stdin: Some(stdin),
        }
    }

    /// Send one request to the host; any status comes back.
    fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> Reply {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", content_type);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req.body(body.unwrap_or_default()).expect("a valid request");
        let mut resp = self
            .agent
            .run(req)
            .unwrap_or_else(|e| panic!("{method} {path}: the test host did not answer: {e}"));
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .expect("a readable body");
        Reply { status, body }
    }

    /// A control request that must succeed; its JSON answer.
    fn control(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let reply = self.send(
            method,
            path,
            None,
            body.map(|b| b.to_string().into_bytes()),
            "application/json",
        );
        assert!(
            (200..300).contains(&reply.status),
            "{method} {path}: {}",
            reply.text()
        );
        if reply.body.is_empty() {
            Value::Null
        } else {
            reply.json()
        }
    }

    /// Install `component` as module `name`, granted everything its manifest declares.
    ///
    /// ```no_run
    /// # let host = nova_testkit::TestHost::new();
    /// let wasm = nova_testkit::build_component(env!("CARGO_MANIFEST_DIR")).unwrap();
    /// host.install("tips", &wasm);
    /// ```
    pub fn install(&self, name: &str, component: &[u8]) -> &Self {
        self.upload(name, component, false)
    }

    /// Install `component` as module `name` with nothing granted (how a superadmin finds a
    /// newly uploaded module).
    ///
    /// ```no_run
    /// # let host = nova_testkit::TestHost::new();
    /// # let wasm = vec![];
    /// host.install_ungranted("tips", &wasm);
    /// let cafe = host.tenant("Cafe");
    /// let r = host.call(&cafe, "tips", "POST", "/greetings", Some(serde_json::json!({"name": "Ada"})));
    /// assert_eq!(r.error_code().as_deref(), Some("CAPABILITY_DENIED"));
    /// ```
    pub fn install_ungranted(&self, name: &str, component: &[u8]) -> &Self {
        self.upload(name, component, true)
    }

    fn upload(&self, name: &str, component: &[u8], ungranted: bool) -> &Self {
        let reply = self.send(
            "POST",
            &format!("/_testkit/modules/{name}?ungranted={ungranted}"),
            None,
            Some(component.to_vec()),
            "application/octet-stream",
        );
        assert_eq!(reply.status, 200, "installing {name}: {}", reply.text());
        self
    }

    /// Replace what `module` is granted: capability names (`"kv"`, `"outbound-http"`, …) and
    /// outbound host names.
    ///
    /// ```no_run
    /// # let host = nova_testkit::TestHost::new();
    /// host.grant("pos", &["kv", "audit", "outbound-http"], &["payments"]);
    /// ```
    pub fn grant(&self, module: &str, capabilities: &[&str], hosts: &[&str]) -> &Self {
        self.control(
            "PUT",
            &format!("/_testkit/modules/{module}/grants"),
            Some(json!({"capabilities": capabilities, "hosts": hosts})),
        );
        self
    }

    /// A new tenant with every installed module switched on, and its admin's token.
    ///
    /// ```no_run
    /// # let host = nova_testkit::TestHost::new();
    /// let cafe = host.tenant("Cafe");
    /// assert!(!cafe.id.is_empty());
    /// ```
    pub fn tenant(&self, name: &str) -> Tenant {
        let t = self.control("POST", "/_testkit/tenants", Some(json!({"name": name})));
        Tenant {
            id: t["id"].as_str().expect("an id").to_string(),
            token: t["token"].as_str().expect("a token").to_string(),
        }
    }

    /// The same tenant as one of its staff: calls made with it reach modules with the role
    /// `staff` (what `nova_sdk::context::get().role` reads), to test what staff may not do.
    ///
    /// ```no_run
    /// # let host = nova_testkit::TestHost::new();
    /// let cafe = host.tenant("Cafe");
    /// let waiter = host.staff(&cafe);
    /// assert_eq!(host.call(&waiter, "pos", "POST", "/tickets/1/void", None).status, 403);
    /// ```
    pub fn staff(&self, tenant: &Tenant) -> Tenant {
        let t = self.control(
            "POST",
            &format!("/_testkit/tenants/{}/tokens", tenant.id),
            Some(json!({"role": "staff"})),
        );
        Tenant {
            id: tenant.id.clone(),
            token: t["token"].as_str().expect("a token").to_string(),
        }
    }

    /// Switch a module on or off for a tenant.
    ///
    /// ```no_run
    /// # let host = nova_testkit::TestHost::new();
    /// # let cafe = host.tenant("Cafe");
    /// host.set_module(&cafe, "tips", false);
    /// let r = host.call(&cafe, "tips", "GET", "/greetings", None);
    /// assert_eq!(r.error_code().as_deref(), Some("MODULE_DISABLED"));
    /// ```
    pub fn set_module(&self, tenant: &Tenant, module: &str, on: bool) -> &Self {
        self.control(
            "PUT",
            &format!("/_testkit/tenants/{}/modules/{module}", tenant.id),
            Some(json!({"enabled": on})),
        );
        self
    }

    /// Switch a feature flag on or off for a tenant (what `entitlements::has_feature` sees).
    ///
    /// ```no_run
    /// # let host = nova_testkit::TestHost::new();
    /// # let cafe = host.tenant("Cafe");
    /// host.set_feature(&cafe, "tips.export", true);
    /// ```
    pub fn set_feature(&self, tenant: &Tenant, flag: &str, on: bool) -> &Self {
        self.control(
            "PUT",
            &format!("/_testkit/tenants/{}/flags/{flag}", tenant.id),
            Some(json!({"enabled": on})),
        );
        self
    }

    /// Set a tenant's IANA timezone (what `clock::now` reads; UTC until set), as a
    /// superadmin does with `PUT /v1/superadmin/tenants/{id}/timezone`.
    ///
    /// ```no_run
    /// # let host = nova_testkit::TestHost::new();
    /// # let cafe = host.tenant("Cafe");
    /// host.set_timezone(&cafe, "Pacific/Auckland");
    /// ```
    pub fn set_timezone(&self, tenant: &Tenant, timezone: &str) -> &Self {
        self.control(
            "PUT",
            &format!("/_testkit/tenants/{}/timezone", tenant.id),
            Some(json!({"timezone": timezone})),
        );
        self
    }

    /// Answer outbound requests to `host` (the name the module uses, such as `payments`)
    /// with `f`'s status and JSON body. A host with no stub fails the module's request, as
    /// an unreachable host does.
    ///
    /// ```no_run
    /// # let host = nova_testkit::TestHost::new();
    /// host.stub_http("payments", |req| match req.json["source"].as_str() {
    ///     Some("tok_declined") => (402, serde_json::json!({"status": "failed"})),
    ///     _ => (201, serde_json::json!({"id": "pay_1", "status": "captured"})),
    /// });
    /// ```
    pub fn stub_http(
        &self,
        host: &str,
        f: impl Fn(&StubRequest) -> (u16, Value) + Send + Sync + 'static,
    ) -> &Self {
        self.stubs.set(host, Arc::new(f));
        self
    }

    /// Every outbound request modules sent to `host`, oldest first.
    ///
    /// ```no_run
    /// # let host = nova_testkit::TestHost::new();
    /// let sent = host.http_requests("payments");
    /// assert_eq!(sent[0].path, "/v1/captures");
    /// assert!(sent[0].header("idempotency-key").is_some());
    /// ```
    pub fn http_requests(&self, host: &str) -> Vec<StubRequest> {
        self.stubs.seen_by(host)
    }

    /// Call `method path` of `module` as the tenant's user, through the full HTTP stack
    /// (`/v1/portal/{module}{path}`): authentication, the module switch, limits, commit.
    ///
    /// ```no_run
    /// # let host = nova_testkit::TestHost::new();
    /// # let cafe = host.tenant("Cafe");
    /// let r = host.call(&cafe, "tips", "POST", "/greetings", Some(serde_json::json!({"name": ""})));
    /// assert_eq!((r.status, r.error_field().as_deref()), (400, Some("name")));
    /// ```
    pub fn call(
        &self,
        tenant: &Tenant,
        module: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        self.send(
            method,
            &format!("/v1/portal/{module}{path}"),
            Some(&tenant.token),
            body.map(|b| b.to_string().into_bytes()),
            "application/json",
        )
    }

    /// The module's portal entry (`GET /_views`), as the portal gets it: through the host's
    /// checks, so a document that breaks `nova.view/1` fails here with the host's reason.
    ///
    /// ```no_run
    /// # let host = nova_testkit::TestHost::new();
    /// # let cafe = host.tenant("Cafe");
    /// let screens = host.screens(&cafe, "tips");
    /// assert_eq!(screens.home, "greetings");
    /// ```
    pub fn screens(&self, tenant: &Tenant, module: &str) -> nova_view::Screens {
        let reply = self.call(tenant, module, "GET", "/_views", None);
        assert_eq!(
            reply.status,
            200,
            "GET /_views of {module}: {}",
            reply.text()
        );
        nova_view::check::parse_screens(&reply.body)
            .unwrap_or_else(|p| panic!("{module}'s screens break nova.view/1: {p}"))
    }

    /// A portal screen of the module (`GET /_views/{name}?{query}`), checked like
    /// [`TestHost::screens`]. Find blocks with `view.blocks` and match on
    /// [`nova_view::Block`].
    ///
    /// ```no_run
    /// # let host = nova_testkit::TestHost::new();
    /// # let cafe = host.tenant("Cafe");
    /// let view = host.view(&cafe, "notes", "notes", "");
    /// assert_eq!(view.title, "Shift notes");
    /// ```
    pub fn view(&self, tenant: &Tenant, module: &str, name: &str, query: &str) -> nova_view::View {
        let path = match query {
            "" => format!("/_views/{name}"),
            q => format!("/_views/{name}?{q}"),
        };
        let reply = self.call(tenant, module, "GET", &path, None);
        assert_eq!(
            reply.status,
            200,
            "GET {path} of {module}: {}",
            reply.text()
        );
        nova_view::check::parse_view(&reply.body)
            .unwrap_or_else(|p| panic!("{module}'s view {name} breaks nova.view/1: {p}"))
    }

    /// Call the module for a tenant as `actor` (such as `webhook:payments`), the way the
    /// host calls it for verified webhooks: the module reads the role `system`.
    ///
    /// ```no_run
    /// # let host = nova_testkit::TestHost::new();
    /// # let cafe = host.tenant("Cafe");
    /// let event = serde_json::json!({"id": "evt_1", "paymentId": "pay_1", "status": "settled"});
    /// let r = host.call_as(&cafe, "webhook:payments", "pos", "POST", "/payments/pay_1/status", Some(event));
    /// assert_eq!(r.status, 200);
    /// ```
    pub fn call_as(
        &self,
        tenant: &Tenant,
        actor: &str,
        module: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let request =
            json!({"actor": actor, "module": module, "method": method, "path": path, "body": body});
        self.send(
            "POST",
            &format!("/_testkit/tenants/{}/call-as", tenant.id),
            None,
            Some(request.to_string().into_bytes()),
            "application/json",
        )
    }

    /// Every kv entry `module` stored for the tenant, in key order.
    ///
    /// ```no_run
    /// # let host = nova_testkit::TestHost::new();
    /// # let cafe = host.tenant("Cafe");
    /// assert!(host.kv(&cafe, "tips").iter().any(|(key, _)| key == "greeting/Ada"));
    /// ```
    pub fn kv(&self, tenant: &Tenant, module: &str) -> Vec<(String, Vec<u8>)> {
        #[derive(Deserialize)]
        struct Entry {
            key: String,
            value: Vec<u8>,
        }
        let entries: Vec<Entry> = serde_json::from_value(self.control(
            "GET",
            &format!("/_testkit/tenants/{}/kv/{module}", tenant.id),
            None,
        ))
        .expect("kv entries");
        entries.into_iter().map(|e| (e.key, e.value)).collect()
    }

    /// One kv entry as JSON.
    ///
    /// ```no_run
    /// # let host = nova_testkit::TestHost::new();
    /// # let cafe = host.tenant("Cafe");
    /// let g: Option<serde_json::Value> = host.kv_json(&cafe, "tips", "greeting/Ada");
    /// assert_eq!(g.unwrap()["name"], "Ada");
    /// ```
    pub fn kv_json<T: DeserializeOwned>(
        &self,
        tenant: &Tenant,
        module: &str,
        key: &str,
    ) -> Option<T> {
        self.kv(tenant, module)
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| serde_json::from_slice(&v).expect("the value is JSON"))
    }

    /// The tenant's invocation records, oldest first: one per module call that ran or was
    /// refused, with its `status`, `outcome` (`ok`, `error`, `denied`, `trap`, `timeout`,
    /// `limit`, `interrupted`; docs/API.md defines them), `path`, `actor` and `error`.
    ///
    /// ```no_run
    /// # let host = nova_testkit::TestHost::new();
    /// # let cafe = host.tenant("Cafe");
    /// host.call(&cafe, "tips", "GET", "/greetings", None);
    /// let last = host.invocations(&cafe).pop().unwrap();
    /// assert_eq!((last.path.as_str(), last.outcome.as_str()), ("/greetings", "ok"));
    /// ```
    pub fn invocations(&self, tenant: &Tenant) -> Vec<InvocationRecord> {
        serde_json::from_value(self.control(
            "GET",
            &format!("/_testkit/tenants/{}/invocations", tenant.id),
            None,
        ))
        .expect("invocation records")
    }

    /// The tenant's audit records, oldest first.
    ///
    /// ```no_run
    /// # let host = nova_testkit::TestHost::new();
    /// # let cafe = host.tenant("Cafe");
    /// assert_eq!(host.audit(&cafe).last().unwrap().action, "tips.greeted");
    /// ```
    pub fn audit(&self, tenant: &Tenant) -> Vec<AuditRecord> {
        serde_json::from_value(self.control(
            "GET",
            &format!("/_testkit/tenants/{}/audit", tenant.id),
            None,
        ))
        .expect("audit records")
    }
}
