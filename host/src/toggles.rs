//! Which modules each tenant has, served from memory on the hot path.
//!
//! A tenant's rows are loaded on first use and dropped from the cache whenever they change.
//! A generation counter stops a load that raced with a change from caching stale rows.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::storage::audit::{self, AuditEvent};
use crate::storage::toggles::{self, Rows};
use crate::storage::{Db, tenants};

type TenantRows = Arc<HashMap<String, Rows>>;

/// The in-memory view of `tenant_modules`.
pub struct Toggles {
    db: Db,
    cache: RwLock<HashMap<String, TenantRows>>,
    generation: AtomicU64,
}

/// The result of a toggle, as the API returns it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToggleState {
    pub tenant_id: String,
    pub module: String,
    pub enabled: bool,
    pub source: &'static str,
    pub previous: Option<bool>,
}

/// Why a toggle failed.
#[derive(Debug, thiserror::Error)]
pub enum ToggleError {
    #[error("tenant {0} does not exist")]
    NoTenant(String),
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
}

impl Toggles {
    /// An empty cache over `db`.
    pub fn new(db: Db) -> Self {
        Self {
            db,
            cache: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    async fn rows(&self, tenant: &str) -> Result<TenantRows, sqlx::Error> {
        if let Some(rows) = self
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
        {
            return Ok(rows.clone());
        }
        let generation = self.generation.load(Ordering::Acquire);
        let rows = Arc::new(toggles::for_tenant(&self.db, tenant).await?);
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) == generation {
            cache.insert(tenant.to_string(), rows.clone());
        }
        Ok(rows)
    }

    /// Is `module` on for `tenant`? Served from memory after the first call per tenant.
    pub async fn is_enabled(&self, tenant: &str, module: &str) -> Result<bool, sqlx::Error> {
        Ok(self
            .rows(tenant)
            .await?
            .get(module)
            .copied()
            .unwrap_or_default()
            .effective())
    }

    /// Forget a tenant's rows (after any change to them).
    pub fn invalidate(&self, tenant: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(tenant);
    }

    /// Set the override for (tenant, module), with its audit row, in one transaction.
    pub async fn set_override(
        &self,
        tenant: &str,
        module: &str,
        enabled: bool,
        actor: &str,
        request_id: &str,
    ) -> Result<ToggleState, ToggleError> {
        if tenants::get(&self.db, tenant).await?.is_none() {
            return Err(ToggleError::NoTenant(tenant.to_string()));
        }
        let mut tx = self.db.pool().begin().await?;
        let before = toggles::rows_in(&mut tx, tenant, module).await?;
        toggles::set_override(&mut tx, tenant, module, enabled, actor).await?;
        let payload = serde_json::json!({
            "delta": {"toggles": {module: {"previous": before.decided(), "current": enabled}}},
            "actor": actor,
            "source": "override",
        });
        let event = AuditEvent::new(
            Some(tenant),
            "superadmin",
            "registration.module_toggled",
            Some(actor),
            &payload,
            Some(request_id),
        );
        audit::insert(&mut tx, &event).await?;
        tx.commit().await?;
        self.invalidate(tenant);
        metrics::counter!(
            "nova_api_superadmin_module_toggle_total",
            "module" => module.to_string(),
            "enabled" => if enabled { "true" } else { "false" }
        )
        .increment(1);
        Ok(ToggleState {
            tenant_id: tenant.to_string(),
            module: module.to_string(),
            enabled,
            source: "override",
            previous: before.decided(),
        })
    }
}
