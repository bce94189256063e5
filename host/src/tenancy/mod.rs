//! Who gets what: plans, overrides and presets resolved into one view per tenant, served
//! from memory on the hot path and dropped from the cache whenever it changes.

pub mod changes;
pub(crate) mod rate;
pub(crate) mod registration;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::limits::Limits;
use crate::storage::plans::{self, Plan};
use crate::storage::toggles::{self, Kind, Rows};
use crate::storage::{Db, subscriptions, tenants};

/// Everything the hot path needs to know about one tenant.
#[derive(Debug, Default)]
pub struct TenantView {
    pub(crate) modules: HashMap<String, Rows>,
    pub(crate) flags: HashMap<String, Rows>,
    /// The plan of the current subscription, if any.
    pub(crate) plan: Option<Plan>,
    /// The tenant's IANA timezone (`UTC` unless set).
    pub(crate) timezone: String,
}

impl TenantView {
    /// Is this module on (override, else plan, else off)?
    pub(crate) fn module_enabled(&self, module: &str) -> bool {
        self.modules
            .get(module)
            .copied()
            .unwrap_or_default()
            .effective()
    }

    /// Is this feature flag on?
    pub(crate) fn flag_enabled(&self, flag: &str) -> bool {
        self.flags
            .get(flag)
            .copied()
            .unwrap_or_default()
            .effective()
    }

    fn enabled(map: &HashMap<String, Rows>) -> Vec<String> {
        let mut names: Vec<String> = map
            .iter()
            .filter(|(_, r)| r.effective())
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }

    /// Names of the modules that are on, sorted.
    pub(crate) fn enabled_modules(&self) -> Vec<String> {
        Self::enabled(&self.modules)
    }

    /// Names of the flags that are on, sorted.
    pub(crate) fn enabled_flags(&self) -> Vec<String> {
        Self::enabled(&self.flags)
    }

    /// Per-call limits: the plan's, never above the host's.
    pub(crate) fn limits(&self, host: Limits) -> Limits {
        let Some(plan) = &self.plan else { return host };
        let l = plan.entitlements.limits;
        Limits {
            memory_bytes: host
                .memory_bytes
                .min((l.memory_mb as usize).saturating_mul(1 << 20)),
            deadline: host.deadline.min(Duration::from_millis(l.deadline_ms)),
            fuel: host.fuel.min(l.fuel),
            concurrent_calls: l.concurrent_calls.unwrap_or(host.concurrent_calls),
            ..host
        }
    }

    /// Calls per minute the plan allows (`None`: no plan, no limit).
    pub(crate) fn calls_per_minute(&self) -> Option<u64> {
        self.plan
            .as_ref()
            .map(|p| p.entitlements.limits.calls_per_minute)
    }
}

/// Reconciliations a cached view may go unused before it is dropped: a minute at the
/// default interval. Keeps memory to the tenants that are calling.
const IDLE_ROUNDS: u8 = 12;

/// Tenants whose views one reconciliation query re-reads together.
const REFRESH_BATCH: usize = 500;

/// A cached view and how many reconciliations have passed since a call last used it.
struct Cached {
    view: Arc<TenantView>,
    idle: AtomicU8,
}

impl Cached {
    fn new(view: Arc<TenantView>) -> Self {
        Self {
            view,
            idle: AtomicU8::new(0),
        }
    }
}

/// The in-memory view of every tenant's modules, flags and plan.
pub struct Tenancy {
    db: Db,
    cache: RwLock<HashMap<String, Cached>>,
    generation: AtomicU64,
    pub(crate) rate: rate::RateLimiter,
}

impl Tenancy {
    /// An empty cache over `db`.
    pub(crate) fn new(db: Db) -> Self {
        Self {
            db,
            cache: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            rate: rate::RateLimiter::default(),
        }
    }

    async fn load(&self, tenant: &str) -> Result<TenantView, sqlx::Error> {
        let mut conn = self.db.pool().acquire().await?;
        let modules = toggles::for_tenant_in(&mut conn, Kind::Module, tenant).await?;
        let flags = toggles::for_tenant_in(&mut conn, Kind::Flag, tenant).await?;
        let plan = match subscriptions::current(&mut conn, tenant).await? {
            Some(sub) => plans::find(&mut conn, &sub.plan_id).await?,
            None => None,
        };
        let timezone = tenants::timezone_in(&mut conn, tenant)
            .await?
            .unwrap_or_else(|| tenants::DEFAULT_TIMEZONE.into());
        Ok(TenantView {
            modules,
            flags,
            plan,
            timezone,
        })
    }

    /// The views of `tenants`, read together: five queries for the whole batch.
    async fn load_many(&self, tenants: &[String]) -> Result<Vec<TenantView>, sqlx::Error> {
        let mut conn = self.db.pool().acquire().await?;
        let mut modules = toggles::for_tenants_in(&mut conn, Kind::Module, tenants).await?;
        let mut flags = toggles::for_tenants_in(&mut conn, Kind::Flag, tenants).await?;
        let current = subscriptions::current_plans_in(&mut conn, tenants).await?;
        let plans = plans::by_id_in(&mut conn).await?;
        let mut zones = tenants::timezones_in(&mut conn, tenants).await?;
        Ok(tenants
            .iter()
            .map(|t| TenantView {
                modules: modules.remove(t).unwrap_or_default(),
                flags: flags.remove(t).unwrap_or_default(),
                plan: current.get(t).and_then(|id| plans.get(id).cloned()),
                timezone: zones
                    .remove(t)
                    .unwrap_or_else(|| tenants::DEFAULT_TIMEZONE.into()),
            })
            .collect())
    }

    /// The tenant's view; from memory after the first call. A load that raced with a change
    /// is used once but not cached.
    pub async fn view(&self, tenant: &str) -> Result<Arc<TenantView>, sqlx::Error> {
        if let Some(c) = self
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
        {
            // Only a view that reconciliation has aged is written to, so the hot path of a
            // busy tenant reads the entry without dirtying it.
            if c.idle.load(Ordering::Relaxed) != 0 {
                c.idle.store(0, Ordering::Relaxed);
            }
            return Ok(c.view.clone());
        }
        let generation = self.generation.load(Ordering::Acquire);
        let view = Arc::new(self.load(tenant).await?);
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) == generation {
            cache.insert(tenant.to_string(), Cached::new(view.clone()));
        }
        Ok(view)
    }

    /// Reconciliation: re-read every cached view from the database, a batch at a time, and
    /// drop the views no call has used for [`IDLE_ROUNDS`] rounds. Calls keep being served
    /// from memory meanwhile; emptying the cache instead sent every active tenant's next
    /// call to the database, thousands of loads a round with many tenants. When the
    /// database does not answer, what is left unread is dropped, so no view outlives a
    /// reconciliation unchecked.
    pub(crate) async fn refresh(&self) -> Result<(), sqlx::Error> {
        let tenants: Vec<String> = {
            let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
            cache.retain(|_, c| c.idle.fetch_add(1, Ordering::Relaxed) < IDLE_ROUNDS);
            cache.keys().cloned().collect()
        };
        for (i, batch) in tenants.chunks(REFRESH_BATCH).enumerate() {
            let generation = self.generation.load(Ordering::Acquire);
            let views = match self.load_many(batch).await {
                Ok(views) => views,
                Err(e) => {
                    let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
                    for t in &tenants[i * REFRESH_BATCH..] {
                        cache.remove(t);
                    }
                    return Err(e);
                }
            };
            let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
            // A change that landed while the batch was read may not be in it: those views
            // are dropped and load again on their tenant's next call.
            let unchanged = self.generation.load(Ordering::Acquire) == generation;
            for (tenant, view) in batch.iter().zip(views) {
                match cache.get_mut(tenant) {
                    Some(c) if unchanged => c.view = Arc::new(view),
                    Some(_) => {
                        cache.remove(tenant);
                    }
                    None => {}
                }
            }
        }
        Ok(())
    }

    /// Is the tenant's view in memory?
    pub fn is_cached(&self, tenant: &str) -> bool {
        self.cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(tenant)
    }

    /// Forget a tenant's view (after any change to it).
    pub fn invalidate(&self, tenant: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(tenant);
    }

    /// The database.
    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    /// Apply changes to one existing tenant in their own transaction, with their audit row,
    /// metrics and cache invalidation.
    pub async fn change(
        &self,
        tenant: &str,
        changes: &[changes::Change],
        actor: &str,
        request_id: &str,
        reason: &str,
    ) -> Result<Vec<changes::Delta>, ChangeError> {
        if tenants::get(&self.db, tenant).await?.is_none() {
            return Err(ChangeError::NoTenant(tenant.to_string()));
        }
        let mut tx = self.db.begin().await?;
        let deltas = changes::apply(&mut tx, tenant, changes, actor, request_id, reason).await?;
        tx.commit().await?;
        changes::record_metrics(&deltas);
        self.invalidate(tenant);
        Ok(deltas)
    }
}

/// Why a change failed.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("tenant {0} does not exist")]
    NoTenant(String),
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
}
