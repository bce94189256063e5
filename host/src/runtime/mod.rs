//! The Wasm runtime: engine, installed modules, and the invocation path.

pub(crate) mod admission;
pub(crate) mod bucket;
mod bundled;
pub(crate) mod cpu;
pub(crate) mod engine;
pub(crate) mod executors;
pub(crate) mod growth;
pub(crate) mod idle;
pub(crate) mod invoke;
mod layout;
pub(crate) mod manifest;
pub(crate) mod memory;
pub(crate) mod metrics;
pub mod module_pre;
mod overdue;
pub(crate) mod registry;
pub(crate) mod running;
pub mod store;
pub(crate) mod tenants;
pub(crate) mod versions;
pub(crate) mod warm;

use std::sync::Arc;

use anyhow::Context;

use crate::capabilities::grants::Permissions;
use crate::storage::{self, Db, commit::Committer};
use engine::{CompileError, EngineConfig, WasmEngine};
use registry::{LoadedModule, Registry};

/// Module names: lower-case letters, digits and `-`, starting with a letter, at most 64 bytes;
/// `me` is taken by `/v1/portal/me`.
pub(crate) fn valid_module_name(name: &str) -> bool {
    name != "me"
        && !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_lowercase()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Why an install was refused.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error("module names use a-z, 0-9 and '-', start with a letter, at most 64 bytes; got {0:?}")]
    BadName(String),
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
    #[error("internal: {0}")]
    Internal(String),
}

/// What an install produced.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Installed {
    pub(crate) name: String,
    pub(crate) version: i64,
    pub(crate) version_id: String,
    pub(crate) content_hash: String,
    pub(crate) size_bytes: usize,
}

/// The engine, the registry of active versions, and what calls need to run and commit.
pub struct Runtime {
    pub engine: Arc<WasmEngine>,
    pub registry: Registry,
    pub(crate) db: Db,
    pub committer: Committer,
    /// Bounds concurrent instances below the pool's size, so excess calls queue, not fail.
    pub(crate) permits: Arc<tokio::sync::Semaphore>,
    /// Instances parked between calls, for modules that opt in to reuse.
    pub(crate) warm: warm::WarmPool,
    /// Each tenant's concurrency slots, share of the guest threads, budgets and calls in
    /// flight (for the kill switch), in one entry per tenant.
    pub tenants: tenants::Tenants,
    /// The executors guests run on, apart from the request threads.
    pub(crate) guests: executors::GuestExecutors,
    /// Striped locks that serialise retries of calls that lost a write race.
    pub(crate) retry_locks: Vec<Arc<tokio::sync::Mutex<()>>>,
    /// Where `outbound-http` requests go; `None` sends nothing.
    pub(crate) outbound: Option<Arc<crate::capabilities::outbound_http::Outbound>>,
    /// Named number sequences modules take from (`kv.next-number`), by the block.
    pub(crate) sequences: Arc<crate::storage::sequences::Sequences>,
    /// Calls finishing on their own after their caller went away.
    pub(crate) unattended: Arc<crate::calls::unattended::Unattended>,
}

impl Runtime {
    /// Keep every long call from running until every guard is dropped, as a host saturated by
    /// short calls does: for tests of what the host does meanwhile (deadlines, the kill
    /// switch).
    #[doc(hidden)]
    pub fn hold_long_calls(&self) -> executors::LongCallsHeld {
        self.guests.hold_long_calls()
    }

    /// Build the runtime. Call [`Runtime::load_installed`] to load the active versions.
    pub(crate) fn new(db: Db, engine_config: EngineConfig) -> anyhow::Result<Self> {
        let permits = Arc::new(tokio::sync::Semaphore::new(
            engine_config.max_instances as usize,
        ));
        let guests = executors::GuestExecutors::start()?;
        let sequences = Arc::new(crate::storage::sequences::Sequences::new(db.clone()));
        let warm = warm::WarmPool::new(
            engine_config.warm_instances as usize,
            engine_config.warm_make_way_after,
            permits.clone(),
        );
        let engine = Arc::new(WasmEngine::new(engine_config).context("starting the Wasm engine")?);
        Ok(Self {
            engine,
            registry: Registry::default(),
            committer: Committer::start(&db).context("starting the committer")?,
            db,
            permits,
            warm,
            retry_locks: (0..64).map(|_| Arc::default()).collect(),
            tenants: tenants::Tenants::for_threads(guests.long_threads()),
            outbound: None,
            sequences,
            unattended: Arc::default(),
            guests,
        })
    }

    async fn prepare(&self, bytes: Vec<u8>) -> Result<module_pre::ModulePre, InstallError> {
        let engine = self.engine.clone();
        // Compiling is seconds of CPU: keep it off the request threads.
        tokio::task::spawn_blocking(move || engine.prepare(&bytes))
            .await
            .map_err(|e| InstallError::Internal(e.to_string()))?
            .map_err(InstallError::from)
    }

    /// Load the active version of every installed module (from the compile cache when warm).
    pub(crate) async fn load_installed(&self) -> anyhow::Result<()> {
        for v in storage::modules::active_versions(&self.db).await? {
            let label = format!("loading module {} version {}", v.module, v.version);
            self.registry.activate(self.load(v).await.context(label)?);
        }
        self.reload_grants().await?;
        for (tenant, v) in storage::modules::pins(&self.db).await? {
            let label = format!(
                "loading module {} version {} pinned for {tenant}",
                v.module, v.version
            );
            let module = self.load(v).await.context(label)?;
            self.registry
                .set_pin(&tenant, &module.name.clone(), Some(module));
        }
        Ok(())
    }

    /// Compile (or fetch from the cache) and link a stored version.
    pub(crate) async fn load(
        &self,
        v: storage::modules::StoredVersion,
    ) -> Result<LoadedModule, InstallError> {
        let checked = self.check(&v.component).await?;
        Ok(assemble(v, checked))
    }

    /// The checks every version passes before it runs: its manifest reads, and it compiles
    /// and links against the world.
    async fn check(&self, bytes: &[u8]) -> Result<Checked, InstallError> {
        if !engine::is_component_binary(bytes) {
            return Err(CompileError::Invalid(engine::NOT_A_COMPONENT.into()).into());
        }
        let declared = manifest::declared(bytes).map_err(CompileError::Invalid)?;
        let pre = self.prepare(bytes.to_vec()).await?;
        Ok((declared, pre))
    }

    /// Check a component against the world, store it as the next version of `name`, and
    /// switch new calls to it. Nothing is stored when the check fails.
    pub async fn install(
        &self,
        name: &str,
        bytes: Vec<u8>,
        actor: Option<&str>,
    ) -> Result<Installed, InstallError> {
        if !valid_module_name(name) {
            return Err(InstallError::BadName(name.to_string()));
        }
        let hash = WasmEngine::content_hash(&bytes);
        let size = bytes.len();
        let checked = self.check(&bytes).await?;
        let stored = storage::modules::install(&self.db, name, &hash, &bytes, actor).await?;
        let installed = Installed {
            name: stored.module.clone(),
            version: stored.version,
            version_id: stored.id.clone(),
            content_hash: stored.content_hash.clone(),
            size_bytes: size,
        };
        self.registry.activate(assemble(stored, checked));
        tracing::info!(module = name, version = installed.version, hash = %installed.content_hash, "module installed");
        layout::warn_if_past_resident(name, &bytes);
        Ok(installed)
    }

    /// Install `bytes` as `name` unless a version with the same bytes already exists.
    pub(crate) async fn install_if_new(
        &self,
        name: &str,
        bytes: &[u8],
    ) -> Result<Option<Installed>, InstallError> {
        if storage::modules::has_hash(&self.db, name, &WasmEngine::content_hash(bytes)).await? {
            return Ok(None);
        }
        self.install(name, bytes.to_vec(), Some("nova"))
            .await
            .map(Some)
    }
}

impl Runtime {
    /// Store and apply what `module` is granted (no audit row: callers acting for a
    /// superadmin write their own).
    pub(crate) async fn grant(
        &self,
        module: &str,
        granted: Permissions,
        actor: &str,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin().await?;
        storage::grants::replace(&mut tx, module, &granted.to_names(), actor).await?;
        crate::storage::commit_in_task(tx).await?;
        self.registry.set_grants(module, granted);
        Ok(())
    }

    /// Grant `module` everything its active version declares; the version granted.
    pub(crate) async fn grant_declared(&self, module: &str, actor: &str) -> anyhow::Result<i64> {
        let loaded = self
            .registry
            .get(module)
            .with_context(|| format!("{module} is not installed"))?;
        self.grant(module, loaded.declared.clone(), actor).await?;
        Ok(loaded.version)
    }

    /// The capabilities `module` may use: what it declares and a superadmin granted.
    pub(crate) fn effective_grants(&self, module: &LoadedModule) -> Permissions {
        module
            .declared
            .intersection(&self.registry.granted(&module.name))
    }

    /// Re-read every module's grants from the database.
    pub(crate) async fn reload_grants(&self) -> Result<(), sqlx::Error> {
        for (module, names) in storage::grants::all(&self.db).await? {
            self.registry
                .set_grants(&module, Permissions::from_names(&names));
        }
        Ok(())
    }
}

/// What [`Runtime::check`] produces: the declared capabilities and the linked module.
type Checked = (manifest::Manifest, module_pre::ModulePre);

fn assemble(v: storage::modules::StoredVersion, (manifest, pre): Checked) -> LoadedModule {
    LoadedModule {
        declared: manifest.permissions,
        reuse_instances: manifest.reuse_instances,
        metrics: metrics::ModuleMetrics::new(&v.module),
        name: v.module,
        version: v.version,
        version_id: v.id,
        pre,
    }
}

#[cfg(test)]
mod tests {
    use super::valid_module_name;

    #[test]
    fn module_names() {
        for ok in ["pos", "billing", "support-2", "a"] {
            assert!(valid_module_name(ok), "{ok}");
        }
        for bad in [
            "",
            "me",
            "Pos",
            "2pos",
            "pos_x",
            "pos/../x",
            &"a".repeat(65),
        ] {
            assert!(!valid_module_name(bad), "{bad}");
        }
    }
}
