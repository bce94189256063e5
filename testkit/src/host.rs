//! The in-process host and what tests see of it.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use nova::app::AppState;
use nova::auth::Role;
use nova::calls::{self, Call, CallerRole, Policy};
use nova::capabilities::grants::{Capability, Permissions};
use nova::config::Config;
use nova::contract::GuestRequest;
use nova::storage::{self, audit::AuditFilter};

/// One invocation record, as the host wrote it (see [`TestHost::invocations`]).
pub use nova::storage::invocations::InvocationView as InvocationRecord;
use nova::tenancy::changes::Change;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tower::ServiceExt;

use crate::stubs::{StubRequest, StubTransport, Stubs};

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
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// For an error in the standard shape: its `code`.
    pub fn error_code(&self) -> Option<String> {
        self.json()["error"]["code"].as_str().map(str::to_string)
    }

    /// For a validation error: the `field` it names.
    pub fn error_field(&self) -> Option<String> {
        self.json()["error"]["field"].as_str().map(str::to_string)
    }
}

/// One audit record a module (or the host, for refusals) wrote.
#[derive(Debug, Clone)]
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

/// A Nova host in the test process.
pub struct TestHost {
    rt: tokio::runtime::Runtime,
    state: AppState,
    stubs: Arc<Stubs>,
    _dir: tempfile::TempDir,
}

impl Default for TestHost {
    fn default() -> Self {
        Self::new()
    }
}

impl TestHost {
    /// A fresh host on an empty SQLite database. Nothing is installed.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        // No names are bound: a module's `http://payments/...` reaches the stub `payments`.
        let config = Config {
            jwt_secret: Some("nova-testkit-secret-nova-testkit-secret".into()),
            ..Config::embedded(dir.path().to_path_buf())
        };
        let stubs = Arc::new(Stubs::default());
        let transport = Arc::new(StubTransport(stubs.clone()));
        let state = rt
            .block_on(AppState::build_with_transport(&config, transport))
            .expect("the test host starts");
        Self {
            rt,
            state,
            stubs,
            _dir: dir,
        }
    }

    /// Install `component` as module `name`, granted everything its manifest declares.
    pub fn install(&self, name: &str, component: &[u8]) -> &Self {
        self.install_ungranted(name, component);
        let declared = self
            .state
            .runtime
            .registry
            .get(name)
            .expect("just installed")
            .declared
            .clone();
        self.set_grants(name, declared);
        self
    }

    /// Install `component` as module `name` with nothing granted (how a superadmin finds a
    /// newly uploaded module).
    pub fn install_ungranted(&self, name: &str, component: &[u8]) -> &Self {
        self.rt
            .block_on(
                self.state
                    .runtime
                    .install(name, component.to_vec(), Some("testkit")),
            )
            .unwrap_or_else(|e| panic!("installing {name}: {e}"));
        self
    }

    /// Replace what `module` is granted: capability names (`"kv"`, `"outbound-http"`, …) and
    /// outbound host names.
    pub fn grant(&self, module: &str, capabilities: &[&str], hosts: &[&str]) -> &Self {
        let mut p = Permissions::default();
        for c in capabilities {
            p.capabilities
                .insert(Capability::parse(c).unwrap_or_else(|| panic!("unknown capability {c:?}")));
        }
        p.hosts = hosts.iter().map(|h| h.to_string()).collect();
        self.set_grants(module, p);
        self
    }

    fn set_grants(&self, module: &str, p: Permissions) {
        self.rt.block_on(async {
            let mut tx = self.state.db.begin().await.expect("begin");
            storage::grants::replace(&mut tx, module, &p.to_names(), "testkit")
                .await
                .expect("grants stored");
            tx.commit().await.expect("commit");
        });
        self.state.runtime.registry.set_grants(module, p);
    }

    /// A new tenant with every installed module switched on, and its admin's token.
    pub fn tenant(&self, name: &str) -> Tenant {
        let tenant = self
            .rt
            .block_on(storage::tenants::create(&self.state.db, name))
            .expect("tenant created");
        let changes: Vec<Change> = self
            .state
            .runtime
            .registry
            .names()
            .iter()
            .map(|m| Change::module_override(m, true))
            .collect();
        self.change(&tenant.id, &changes);
        self.user_of(&tenant.id, Role::Admin)
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
        self.user_of(&tenant.id, Role::Staff)
    }

    fn user_of(&self, tenant: &str, role: Role) -> Tenant {
        let name = format!("{}-of-{tenant}", role.as_str());
        let token = self
            .state
            .keys
            .issue(&name, &format!("{name}@testkit.test"), role, Some(tenant))
            .expect("token issued");
        Tenant {
            id: tenant.to_string(),
            token,
        }
    }

    /// Switch a module on or off for a tenant.
    pub fn set_module(&self, tenant: &Tenant, module: &str, on: bool) -> &Self {
        self.change(&tenant.id, &[Change::module_override(module, on)]);
        self
    }

    /// Switch a feature flag on or off for a tenant (what `entitlements::has_feature` sees).
    pub fn set_feature(&self, tenant: &Tenant, flag: &str, on: bool) -> &Self {
        self.change(&tenant.id, &[Change::flag_override(flag, on)]);
        self
    }

    /// Set a tenant's IANA timezone (what `clock::now` reads; UTC until set), as a
    /// superadmin does with `PUT /v1/superadmin/tenants/{id}/timezone`.
    pub fn set_timezone(&self, tenant: &Tenant, timezone: &str) -> &Self {
        assert!(
            nova::capabilities::clock::known_timezone(timezone),
            "unknown timezone {timezone:?}"
        );
        self.rt.block_on(async {
            let mut conn = self.state.db.pool().acquire().await.expect("a connection");
            storage::tenants::set_timezone_in(&mut conn, &tenant.id, timezone)
                .await
                .expect("timezone stored");
        });
        self.state.tenancy.invalidate(&tenant.id);
        self
    }

    fn change(&self, tenant: &str, changes: &[Change]) {
        self.rt
            .block_on(
                self.state
                    .tenancy
                    .change(tenant, changes, "testkit", "", "testkit"),
            )
            .expect("tenant change applied");
    }

    /// Answer outbound requests to `host` (the name the module uses, such as `payments`)
    /// with `f`'s status and JSON body.
    pub fn stub_http(
        &self,
        host: &str,
        f: impl Fn(&StubRequest) -> (u16, Value) + Send + Sync + 'static,
    ) -> &Self {
        self.stubs.set(host, Arc::new(f));
        self
    }

    /// Every outbound request modules sent to `host`, oldest first.
    pub fn http_requests(&self, host: &str) -> Vec<StubRequest> {
        self.stubs
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(h, _)| h == host)
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// Call `method path` of `module` as the tenant's admin, through the full HTTP stack
    /// (`/v1/portal/{module}{path}`): authentication, the module switch, limits, commit.
    pub fn call(
        &self,
        tenant: &Tenant,
        module: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let req = Request::builder()
            .method(method)
            .uri(format!("/v1/portal/{module}{path}"))
            .header("authorization", format!("Bearer {}", tenant.token))
            .header("content-type", "application/json")
            .body(match body {
                Some(b) => Body::from(b.to_string()),
                None => Body::empty(),
            })
            .expect("a valid request");
        self.rt.block_on(async {
            let resp = nova::http::router(self.state.clone())
                .oneshot(req)
                .await
                .expect("the router answers");
            let status = resp.status().as_u16();
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("a readable body");
            Reply {
                status,
                body: body.to_vec(),
            }
        })
    }

    /// The module's portal entry (`GET /_views`), as the portal gets it: through the host's
    /// checks, so a document that breaks `nova.view/1` fails here with the host's reason.
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
    pub fn call_as(
        &self,
        tenant: &Tenant,
        actor: &str,
        module: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let req = GuestRequest {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        };
        let request_id = format!("testkit-{}", uuid_like());
        let call = Call {
            tenant_id: tenant.id.clone(),
            actor: actor.to_string(),
            role: CallerRole::System,
            request_id: request_id.clone(),
            module: module.to_string(),
            request: req,
        };
        let outcome = self
            .rt
            .block_on(calls::call(&self.state, call, Policy::PLATFORM));
        match outcome.into_answer() {
            Ok(resp) => Reply {
                status: resp.status,
                body: resp.body,
            },
            Err(refusal) => Reply {
                status: refusal.status,
                body: refusal.body(request_id).to_string().into_bytes(),
            },
        }
    }

    /// Every kv entry `module` stored for the tenant, in key order.
    pub fn kv(&self, tenant: &Tenant, module: &str) -> Vec<(String, Vec<u8>)> {
        self.rt
            .block_on(storage::kv::list(
                &self.state.db,
                &tenant.id,
                module,
                "",
                None,
                i64::MAX,
            ))
            .expect("kv readable")
            .into_iter()
            .map(|(k, v)| (k, v.value))
            .collect()
    }

    /// One kv entry as JSON.
    pub fn kv_json<T: DeserializeOwned>(
        &self,
        tenant: &Tenant,
        module: &str,
        key: &str,
    ) -> Option<T> {
        self.rt
            .block_on(storage::kv::get(&self.state.db, &tenant.id, module, key))
            .expect("kv readable")
            .map(|s| serde_json::from_slice(&s.value).expect("the value is JSON"))
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
        self.rt
            .block_on(storage::invocations::all_for_tenant(
                &self.state.db,
                &tenant.id,
            ))
            .expect("invocations readable")
    }

    /// The tenant's audit records, oldest first.
    pub fn audit(&self, tenant: &Tenant) -> Vec<AuditRecord> {
        let mut filter = AuditFilter::default();
        filter.tenant_id = Some(tenant.id.clone());
        filter.limit = 10_000;
        let mut rows: Vec<AuditRecord> = self
            .rt
            .block_on(storage::audit::query(&self.state.db, &filter))
            .expect("audit readable")
            .into_iter()
            .map(|v| AuditRecord {
                action: v.action,
                module: v.module,
                actor: v.actor,
                payload: v.payload,
            })
            .collect();
        rows.reverse();
        rows
    }

    /// The host's state, for what this kit does not wrap.
    pub fn state(&self) -> &AppState {
        &self.state
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
