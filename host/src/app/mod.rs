//! The application state shared by every route, and how it is built from configuration:
//! wiring only. What the state does lives with the services it wires (and `sync`, how a
//! change reaches every replica).

mod sync;

use std::ops::Deref;
use std::sync::Arc;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::Keys;
use crate::capabilities::outbound_http::{Network, Outbound, Transport};
use crate::config::Config;
use crate::limits::Limits;
use crate::replicas::Bus;
use crate::runtime::Runtime;
use crate::runtime::engine::EngineConfig;
use crate::storage::{self, Db};
use crate::telemetry;
use crate::tenancy::Tenancy;

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
    /// How long old rows are kept.
    pub(crate) retention: crate::jobs::retention::Retention,
    /// Woken when jobs are queued (here or, through Redis, on another replica).
    pub(crate) jobs_wake: Arc<tokio::sync::Notify>,
    /// Where mail goes (SMTP, or kept in the outbox).
    pub(crate) mailer: crate::mail::Mailer,
    /// Maintenance mode as this replica knows it (refreshed on change and reconciliation).
    pub(crate) maintenance: std::sync::RwLock<Option<storage::maintenance::On>>,
    /// Proxies whose `X-Forwarded-For` names the client (`--trusted-proxies`).
    pub(crate) trusted_proxies: crate::proxies::TrustedProxies,
    /// Whose tokens are refused: user id → `None` (disabled, every token) or the moment
    /// before which their tokens are dead (reloaded on change and at each reconciliation).
    pub(crate) revocations: std::sync::RwLock<std::collections::HashMap<String, Option<i64>>>,
    /// The token scrapes of `/metrics` may present (`--metrics-token`).
    pub(crate) metrics_token: Option<crate::http::scrape::MetricsToken>,
    /// Where users reach this server, for links in mail (`--public-url`), without a
    /// trailing slash.
    pub(crate) public_url: String,
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
        let limits = Limits {
            deadline: std::time::Duration::from_millis(config.call_deadline_ms),
            ..config.call_limits
        };
        let engine = EngineConfig {
            cache_dir: Some(config.cache_dir()),
            warm_instances: config.warm_instances,
            warm_make_way_after: std::time::Duration::from_millis(config.warm_make_way_ms),
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
        let state = Self(Arc::new(Inner {
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
            retention: config.retention,
            public_url: config.public_url.trim_end_matches('/').to_string(),
            jobs_wake: Arc::new(tokio::sync::Notify::new()),
            mailer: crate::mail::Mailer::new(config.smtp_url.as_deref(), &config.mail_from)?,
            maintenance: std::sync::RwLock::new(maintenance),
            trusted_proxies: crate::proxies::TrustedProxies::parse(&config.trusted_proxies)?,
            revocations: Default::default(),
            metrics_token: config
                .metrics_token
                .as_deref()
                .map(crate::http::scrape::MetricsToken::new),
        }));
        // A trace sampling ratio a superadmin set outlives restarts.
        state.reload_settings().await;
        state.reload_revocations().await;
        Ok(state)
    }

    /// Close down once no request runs any more: let the calls whose clients went away end
    /// (at most a call's deadline), so their records and numbers are in; give back the numbers
    /// of unused blocks (so the next server's ticket numbers follow on from this one's without
    /// a jump; for at most a few seconds, as a database that does not answer must not hold up
    /// the stop); then close the database.
    pub async fn close(&self) {
        let calls_end = self.limits.deadline + std::time::Duration::from_secs(1);
        if !self.runtime.unattended.wait(calls_end).await {
            tracing::warn!(
                "stopping with module calls still running; they may end without their records"
            );
        }
        let give_back = self
            .runtime
            .sequences
            .release_idle(std::time::Duration::ZERO);
        if tokio::time::timeout(std::time::Duration::from_secs(5), give_back)
            .await
            .is_err()
        {
            tracing::warn!(
                "stopped before every unused ticket number was given back; the rest are skipped"
            );
        }
        self.db.close().await;
    }
}
