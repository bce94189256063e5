//! The application state shared by every route, and how it is built from configuration.

use std::ops::Deref;
use std::sync::Arc;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::Keys;
use crate::capabilities::grants::Permissions;
use crate::capabilities::outbound_http::{Network, Outbound, Transport};
use crate::config::Config;
use crate::limits::Limits;
use crate::replicas::{self, Bus, Event};
use crate::runtime::Runtime;
use crate::runtime::engine::EngineConfig;
use crate::storage::toggles::Kind;
use crate::storage::{self, Db};
use crate::telemetry;
use crate::tenancy::Tenancy;
use crate::tenancy::changes::Delta;

/// Everything routes need. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The parts of [`AppState`].
pub struct Inner {
    pub db: Db,
    pub runtime: Runtime,
    pub tenancy: Tenancy,
    pub keys: Keys,
    pub(crate) metrics: PrometheusHandle,
    pub limits: Limits,
    /// The change channel to other replicas (`REDIS_URL`).
    pub(crate) bus: Option<Arc<Bus>>,
    /// The secret payment settlement webhooks are signed with; `None` refuses them all.
    pub(crate) payments_webhook_secret: Option<String>,
    /// The secret billing webhooks are signed with; `None` refuses them all.
    pub(crate) billing_webhook_secret: Option<String>,
    /// How workers take jobs.
    pub(crate) worker: crate::config::WorkerConfig,
    /// Woken when jobs are queued (here or, through Redis, on another replica).
    pub(crate) jobs_wake: Arc<tokio::sync::Notify>,
    /// Where mail goes (SMTP, or kept in the outbox).
    pub(crate) mailer: crate::mail::Mailer,
    /// Maintenance mode as this replica knows it (refreshed on change and reconciliation).
    pub(crate) maintenance: std::sync::RwLock<Option<storage::maintenance::On>>,
    /// Proxies whose `X-Forwarded-For` names the client (`--trusted-proxies`).
    pub(crate) trusted_proxies: crate::proxies::TrustedProxies,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Connect, migrate, start the runtime and load installed modules.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        Self::build_with_transport(config, Arc::new(Network::new())).await
    }

    /// [`AppState::build`] with modules' outbound requests sent over `transport` (the test kit
    /// answers them in-process).
    pub async fn build_with_transport(
        config: &Config,
        transport: Arc<dyn Transport>,
    ) -> anyhow::Result<Self> {
        let db = config.connect().await?;
        db.migrate().await?;
        let limits = config.call_limits;
        let engine = EngineConfig {
            cache_dir: Some(config.cache_dir()),
            ..EngineConfig::default()
        };
        let mut runtime = Runtime::new(db.clone(), engine)?;
        runtime.outbound = Some(Arc::new(Outbound::new(
            config.outbound_bindings()?,
            transport,
        )));
        runtime
            .load_installed()
            .await
            .context("loading installed modules")?;
        let keys = Keys::load(&db, config.jwt_secret.as_deref()).await?;
        let maintenance = storage::maintenance::current(&db).await?;
        let bus = match &config.redis_url {
            Some(url) if !url.is_empty() => {
                Some(Arc::new(Bus::connect(url, &config.database_url()).await?))
            }
            _ => None,
        };
        Ok(Self(Arc::new(Inner {
            tenancy: Tenancy::new(db.clone()),
            db,
            runtime,
            keys,
            metrics: telemetry::metrics_handle(),
            limits,
            bus,
            payments_webhook_secret: config.payments.secret()?,
            billing_webhook_secret: config
                .billing_webhook_secret
                .clone()
                .filter(|s| !s.is_empty()),
            worker: config.worker,
            jobs_wake: Arc::new(tokio::sync::Notify::new()),
            mailer: crate::mail::Mailer::new(config.smtp_url.as_deref(), &config.mail_from)?,
            maintenance: std::sync::RwLock::new(maintenance),
            trusted_proxies: crate::proxies::TrustedProxies::parse(&config.trusted_proxies)?,
        })))
    }

    /// Make a committed change to a tenant take effect everywhere: calls of modules now off
    /// are interrupted here and on the other replicas, which also drop their cached view.
    /// (The change itself already dropped this replica's cached view.)
    pub(crate) async fn changed(&self, tenant: &str, deltas: &[Delta]) {
        let off: Vec<String> = deltas
            .iter()
            .filter(|d| d.kind == Kind::Module && !d.current.unwrap_or(false))
            .map(|d| d.name.clone())
            .collect();
        self.interrupt(tenant, &off);
        if let Some(bus) = &self.bus {
            bus.publish(Event::Tenant {
                tenant: tenant.to_string(),
                off,
            })
            .await;
        }
    }

    /// Re-read maintenance mode from the database.
    pub(crate) async fn reload_maintenance(&self) {
        match storage::maintenance::current(&self.db).await {
            Ok(now) => *self.maintenance.write().unwrap_or_else(|p| p.into_inner()) = now,
            Err(e) => tracing::warn!(error = %e, "could not read maintenance mode"),
        }
    }

    /// Maintenance mode changed here: take it up and tell the other replicas.
    pub(crate) async fn maintenance_changed(&self) {
        self.reload_maintenance().await;
        if let Some(bus) = &self.bus {
            bus.publish(Event::Maintenance).await;
        }
    }

    /// Wake idle workers here and on the other replicas: jobs were queued on `queue`.
    pub(crate) async fn jobs_queued(&self, queue: &str) {
        self.jobs_wake.notify_waiters();
        if let Some(bus) = &self.bus {
            bus.publish(Event::Jobs {
                queue: queue.to_string(),
            })
            .await;
        }
    }

    /// Tell the other replicas that active or pinned module versions changed.
    pub(crate) async fn versions_changed(&self) {
        if let Some(bus) = &self.bus {
            bus.publish(Event::Modules).await;
        }
    }

    fn interrupt(&self, tenant: &str, modules: &[String]) {
        for module in modules {
            let stopped = self.runtime.running.interrupt(tenant, module);
            if stopped > 0 {
                tracing::info!(tenant_id = tenant, module = %module, calls = stopped, "interrupted running calls");
            }
        }
    }

    /// Apply another replica's change.
    async fn apply_remote(&self, event: Event) {
        match event {
            Event::Tenant { tenant, off } => {
                self.tenancy.invalidate(&tenant);
                self.interrupt(&tenant, &off);
            }
            Event::Modules => {
                if let Err(e) = self.runtime.reload_active().await {
                    tracing::warn!(error = %e, "could not reload module versions");
                }
            }
            Event::Jobs { .. } => self.jobs_wake.notify_waiters(),
            Event::Maintenance => self.reload_maintenance().await,
        }
    }

    /// Re-read what this replica caches: bounds the effect of a lost change message.
    pub async fn reconcile(&self) {
        self.tenancy.clear();
        self.reload_maintenance().await;
        if let Err(e) = self.keys.reload(&self.db).await {
            tracing::warn!(error = %e, "could not reload signing keys");
        }
        if let Err(e) = self.runtime.reload_active().await {
            tracing::warn!(error = %e, "could not reload module versions");
        }
    }

    /// Count one module call against the tenant's plan rate: shared by all replicas through
    /// Redis when configured, per process otherwise (and when Redis does not answer).
    pub(crate) async fn allow_call(&self, tenant: &str, per_minute: u64) -> bool {
        if let Some(bus) = &self.bus {
            match bus.allow(tenant, per_minute).await {
                Ok(allowed) => return allowed,
                Err(e) => tracing::warn!(error = %e, "rate limit falls back to this replica alone"),
            }
        }
        self.tenancy
            .rate
            .allow(tenant, per_minute, crate::storage::now_ms())
    }

    /// Start agreeing with other replicas: the Redis listener (if configured) and the
    /// periodic reconciliation.
    pub(crate) fn start_sync(&self) {
        if let Some(bus) = &self.bus {
            bus.clone().listen(self.clone());
        }
        replicas::reconcile_periodically(self.clone());
    }

    /// Install the modules that ship inside this binary, unless these exact bytes are
    /// already installed.
    pub async fn install_bundled(&self) -> anyhow::Result<()> {
        for (name, bytes) in nova_artifacts::BUNDLED_MODULES {
            let before = self.runtime.registry.get(name).map(|m| m.declared.clone());
            if let Some(v) = self.runtime.install_if_new(name, bytes).await? {
                tracing::info!(
                    module = name,
                    version = v.version,
                    "installed bundled module"
                );
            }
            let Some(module) = self.runtime.registry.get(name) else {
                continue;
            };
            // First-party modules ship with the binary the operator chose to run: they get what
            // their manifest declares, once, and what a new version declares beyond the last
            // one (a new capability is not a choice a superadmin has made yet). Their later
            // choices are never overridden.
            let grants = storage::grants::all(&self.db).await?;
            let granted = match (grants.get(*name), before) {
                (None, _) => module.declared.clone(),
                (Some(_), None) => continue,
                (Some(names), Some(before)) => {
                    let mut granted = Permissions::from_names(names);
                    let added = module.declared.difference(&before);
                    if added == Permissions::default() {
                        continue;
                    }
                    granted.capabilities.extend(added.capabilities);
                    granted.hosts.extend(added.hosts);
                    granted
                }
            };
            let mut tx = self.db.begin().await?;
            storage::grants::replace(&mut tx, name, &granted.to_names(), "nova").await?;
            tx.commit().await?;
            self.runtime.registry.set_grants(name, granted);
        }
        Ok(())
    }
}

impl replicas::Replica for AppState {
    async fn apply(&self, event: Event) {
        self.apply_remote(event).await
    }

    async fn reconcile(&self) {
        AppState::reconcile(self).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// An upgrade whose bundled POS declares a capability the running one did not: the new
    /// capability is granted, and what a superadmin withdrew stays withdrawn.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bundled_module_gets_what_its_new_version_newly_declares() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            jwt_secret: Some("app-test-secret-app-test-secret-app!".into()),
            ..Config::embedded(dir.path().to_path_buf())
        };
        let state = AppState::build(&config).await.unwrap();
        // The "old" POS: a component built against nova:module@0.1.0 that declares kv,
        // audit, entitlements and outbound-http (host payments), but not clock.
        let old = include_bytes!("../../fixtures/components/hostile-nova-module-0.1.0.wasm");
        state
            .runtime
            .install("pos", old.to_vec(), None)
            .await
            .unwrap();
        let chosen: BTreeSet<String> = ["kv", "audit", "outbound-http", "host:payments"]
            .map(String::from)
            .into();
        let mut tx = state.db.begin().await.unwrap();
        storage::grants::replace(&mut tx, "pos", &chosen, "ops")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        state.runtime.reload_grants().await.unwrap();

        state.install_bundled().await.unwrap();

        let granted = storage::grants::all(&state.db).await.unwrap()["pos"].clone();
        let expected: BTreeSet<String> = ["kv", "audit", "outbound-http", "host:payments", "clock"]
            .map(String::from)
            .into();
        assert_eq!(
            granted, expected,
            "entitlements stays withdrawn; clock is new"
        );
        assert_eq!(
            state.runtime.registry.granted("pos"),
            Permissions::from_names(&expected)
        );
        // Starting again with the same binary changes nothing.
        let mut tx = state.db.begin().await.unwrap();
        storage::grants::replace(&mut tx, "pos", &chosen, "ops")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        state.install_bundled().await.unwrap();
        assert_eq!(
            storage::grants::all(&state.db).await.unwrap()["pos"],
            chosen
        );
    }
}
