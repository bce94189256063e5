//! The application state shared by every route, and how it is built from configuration.

use std::ops::Deref;
use std::sync::Arc;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::Keys;
use crate::config::Config;
use crate::runtime::Runtime;
use crate::runtime::engine::EngineConfig;
use crate::runtime::limits::Limits;
use crate::storage::Db;
use crate::storage::toggles::Kind;
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
    pub metrics: PrometheusHandle,
    pub limits: Limits,
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
        let db = config.connect().await?;
        db.migrate().await?;
        let limits = Limits::default();
        let engine = EngineConfig {
            cache_dir: Some(config.cache_dir()),
            ..EngineConfig::default()
        };
        let runtime = Runtime::new(db.clone(), engine, limits)?;
        runtime
            .load_installed()
            .await
            .context("loading installed modules")?;
        let keys = Keys::load(config.jwt_secret.as_deref(), &config.data_dir)?;
        Ok(Self(Arc::new(Inner {
            tenancy: Tenancy::new(db.clone()),
            db,
            runtime,
            keys,
            metrics: telemetry::metrics_handle(),
            limits,
        })))
    }

    /// Make a committed change take effect: calls of modules now off for the tenant are
    /// interrupted (the cache was already invalidated by the change itself).
    pub fn enforce(&self, tenant: &str, deltas: &[Delta]) {
        for d in deltas
            .iter()
            .filter(|d| d.kind == Kind::Module && !d.current.unwrap_or(false))
        {
            let stopped = self.runtime.running.interrupt(tenant, &d.name);
            if stopped > 0 {
                tracing::info!(tenant_id = tenant, module = %d.name, calls = stopped, "interrupted running calls");
            }
        }
    }

    /// Install the modules that ship inside this binary, unless these exact bytes are
    /// already installed.
    pub async fn install_bundled(&self) -> anyhow::Result<()> {
        for (name, bytes) in nova_artifacts::BUNDLED_MODULES {
            if let Some(v) = self.runtime.install_if_new(name, bytes).await? {
                tracing::info!(
                    module = name,
                    version = v.version,
                    "installed bundled module"
                );
            }
        }
        Ok(())
    }
}
