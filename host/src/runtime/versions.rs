//! Module versions: activate one, roll back to the previous one, pin one tenant to a
//! version (a canary). Each change is audited and takes effect on the next call.

use serde_json::json;

use super::{InstallError, Runtime};
use crate::storage::audit::{self, AuditEvent};
use crate::storage::modules;

/// Why a version change was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum VersionError {
    #[error("no module named {0:?} is installed")]
    NoModule(String),
    #[error("module {0:?} has no version {1}")]
    NoVersion(String, i64),
    #[error("module {0:?} has no version before the active one")]
    NothingToRollBack(String),
    #[error("no pin for this tenant and module")]
    NoPin,
    #[error(transparent)]
    Load(#[from] InstallError),
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
}

/// Who asked, for the audit row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Actor<'a> {
    pub(crate) email: &'a str,
    pub(crate) request_id: &'a str,
}

impl Runtime {
    /// Bring the registry in line with the database: active versions and pins changed by
    /// another replica (or by `nova module install`) are loaded, removed pins dropped.
    pub(crate) async fn reload_active(&self) -> Result<(), VersionError> {
        self.reload_grants().await?;
        for v in modules::active_versions(&self.db).await? {
            if self
                .registry
                .get(&v.module)
                .is_some_and(|m| m.version_id == v.id)
            {
                continue;
            }
            let loaded = self.load(v).await?;
            self.registry.activate(loaded);
        }
        let pins = modules::pins(&self.db).await?;
        let wanted: Vec<(String, String)> = pins
            .iter()
            .map(|(t, v)| (t.clone(), v.module.clone()))
            .collect();
        self.registry.retain_pins(|key| wanted.contains(key));
        for (tenant, v) in pins {
            if self
                .registry
                .pinned(&tenant, &v.module)
                .is_some_and(|m| m.version_id == v.id)
            {
                continue;
            }
            let module = v.module.clone();
            let loaded = self.load(v).await?;
            self.registry.set_pin(&tenant, &module, Some(loaded));
        }
        Ok(())
    }

    /// Make `version` of `module` the active one for every tenant not pinned elsewhere.
    pub(crate) async fn activate_version(
        &self,
        module: &str,
        version: i64,
        actor: Actor<'_>,
    ) -> Result<i64, VersionError> {
        let previous = self
            .registry
            .get(module)
            .ok_or_else(|| VersionError::NoModule(module.to_string()))?
            .version;
        self.switch(module, version, previous, "module.version_activated", actor)
            .await
    }

    /// Go back to the highest version below the active one.
    pub(crate) async fn rollback(
        &self,
        module: &str,
        actor: Actor<'_>,
    ) -> Result<i64, VersionError> {
        let active = self
            .registry
            .get(module)
            .ok_or_else(|| VersionError::NoModule(module.to_string()))?
            .version;
        let target = modules::versions(&self.db, module)
            .await?
            .into_iter()
            .map(|v| v.version)
            .filter(|v| *v < active)
            .max()
            .ok_or_else(|| VersionError::NothingToRollBack(module.to_string()))?;
        self.switch(module, target, active, "module.version_rolled_back", actor)
            .await
    }

    async fn switch(
        &self,
        module: &str,
        version: i64,
        previous: i64,
        action: &str,
        actor: Actor<'_>,
    ) -> Result<i64, VersionError> {
        let stored = modules::version(&self.db, module, version)
            .await?
            .ok_or_else(|| VersionError::NoVersion(module.to_string(), version))?;
        let version_id = stored.id.clone();
        let loaded = self.load(stored).await?;
        let mut tx = self.db.begin().await?;
        modules::set_active(&mut tx, module, &version_id).await?;
        let payload = json!({"module": module, "previous": previous, "current": version});
        audit::insert(&mut tx, &event(None, action, actor, &payload)).await?;
        crate::storage::commit_in_task(tx).await?;
        self.registry.activate(loaded);
        Ok(version)
    }

    /// Run `version` of `module` for `tenant` only.
    pub(crate) async fn pin_version(
        &self,
        tenant: &str,
        module: &str,
        version: i64,
        actor: Actor<'_>,
    ) -> Result<(), VersionError> {
        if self.registry.get(module).is_none() {
            return Err(VersionError::NoModule(module.to_string()));
        }
        let stored = modules::version(&self.db, module, version)
            .await?
            .ok_or_else(|| VersionError::NoVersion(module.to_string(), version))?;
        let version_id = stored.id.clone();
        let loaded = self.load(stored).await?;
        let mut tx = self.db.begin().await?;
        modules::pin(&mut tx, tenant, module, &version_id, actor.email).await?;
        let payload = json!({"module": module, "version": version});
        audit::insert(
            &mut tx,
            &event(Some(tenant), "module.version_pinned", actor, &payload),
        )
        .await?;
        crate::storage::commit_in_task(tx).await?;
        self.registry.set_pin(tenant, module, Some(loaded));
        Ok(())
    }

    /// Put `tenant` back on the active version of `module`.
    pub(crate) async fn unpin_version(
        &self,
        tenant: &str,
        module: &str,
        actor: Actor<'_>,
    ) -> Result<(), VersionError> {
        let mut tx = self.db.begin().await?;
        if !modules::unpin(&mut tx, tenant, module).await? {
            return Err(VersionError::NoPin);
        }
        let payload = json!({"module": module});
        audit::insert(
            &mut tx,
            &event(Some(tenant), "module.version_unpinned", actor, &payload),
        )
        .await?;
        crate::storage::commit_in_task(tx).await?;
        self.registry.set_pin(tenant, module, None);
        Ok(())
    }
}

fn event(
    tenant: Option<&str>,
    action: &str,
    actor: Actor<'_>,
    payload: &serde_json::Value,
) -> AuditEvent {
    AuditEvent::new(
        tenant,
        "superadmin",
        action,
        Some(actor.email),
        payload,
        Some(actor.request_id),
    )
}
