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
    /// The plan of the current subscription, if any: shared by the views of its tenants.
    pub(crate) plan: Option<Arc<Plan>>,
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

/// Periodic reconciliations a cached view may go unused before it is dropped: a minute at
/// the default interval. Memory follows the tenants that are calling.
const IDLE_ROUNDS: u8 = 12;

/// Tenants whose views one reconciliation query re-reads together.
const REFRESH_BATCH: usize = 500;

/// A cached view and how many periodic reconciliations have passed since a call used it.
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
    /// Held by the reconciliation re-reading the views: runs can overlap (a Redis reconnect
    /// starts one too), and one re-read at a time is enough.
    refreshing: tokio::sync::Mutex<()>,
    pub(crate) rate: rate::RateLimiter,
}

impl Tenancy {
    /// An empty cache over `db`.
    pub(crate) fn new(db: Db) -> Self {
        Self {
            db,
            cache: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            refreshing: tokio::sync::Mutex::new(()),
            rate: rate::RateLimiter::default(),
        }
    }

    async fn load(&self, tenant: &str) -> Result<TenantView, sqlx::Error> {
        let mut conn = self.db.pool().acquire().await?;
        let modules = toggles::for_tenant_in(&mut conn, Kind::Module, tenant).await?;
        let flags = toggles::for_tenant_in(&mut conn, Kind::Flag, tenant).await?;
        let plan = match subscriptions::current(&mut conn, tenant).await? {
            Some(sub) => plans::find(&mut conn, &sub.plan_id).await?.map(Arc::new),
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

    /// The views of `tenants`, read together on `conn`: four queries for the batch. `None`
    /// for a tenant whose plan is not among `plans` (it did not decode): its view is left to
    /// [`Self::load`], which reports the error to the call that needs it.
    async fn load_many(
        conn: &mut sqlx::AnyConnection,
        tenants: &[String],
        plans: &HashMap<String, Arc<Plan>>,
    ) -> Result<Vec<Option<TenantView>>, sqlx::Error> {
        let mut modules = toggles::for_tenants_in(conn, Kind::Module, tenants).await?;
        let mut flags = toggles::for_tenants_in(conn, Kind::Flag, tenants).await?;
        let current = subscriptions::current_plans_in(conn, tenants).await?;
        let mut zones = tenants::timezones_in(conn, tenants).await?;
        Ok(tenants
            .iter()
            .map(|t| {
                let plan = match current.get(t) {
                    Some(id) => Some(plans.get(id)?.clone()),
                    None => None,
                };
                Some(TenantView {
                    modules: modules.remove(t).unwrap_or_default(),
                    flags: flags.remove(t).unwrap_or_default(),
                    plan,
                    timezone: zones
                        .remove(t)
                        .unwrap_or_else(|| tenants::DEFAULT_TIMEZONE.into()),
                })
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
            // Only a view that reconciliation has aged is written to, so the calls of a busy
            // tenant read the entry without dirtying it.
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

    /// Reconciliation: re-read every cached view from the database, a batch at a time; when
    /// `periodic`, count a round and drop the views no call has used for [`IDLE_ROUNDS`]
    /// (a reconciliation after a lost Redis connection re-reads but does not age). Calls
    /// keep being served from memory meanwhile; emptying the cache instead sent every
    /// active tenant's next call to the database, thousands of loads a round with many
    /// tenants. A view is replaced only if its entry still holds what was there when the
    /// re-read began: a change drops the entry, so a re-read that raced with one never
    /// overwrites it. When the database does not answer, the views not yet re-read are
    /// dropped, so none outlives a reconciliation unchecked.
    pub(crate) async fn refresh(&self, periodic: bool) -> Result<(), sqlx::Error> {
        let Ok(_only) = self.refreshing.try_lock() else {
            return Ok(());
        };
        let snapshot: Vec<(String, Arc<TenantView>)> = {
            let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
            if periodic {
                cache.retain(|_, c| c.idle.fetch_add(1, Ordering::Relaxed) < IDLE_ROUNDS);
            }
            cache
                .iter()
                .map(|(t, c)| (t.clone(), c.view.clone()))
                .collect()
        };
        if snapshot.is_empty() {
            return Ok(());
        }
        let reread = self.reread(&snapshot).await;
        if reread.is_err() {
            let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
            for (tenant, old) in &snapshot {
                if cache.get(tenant).is_some_and(|c| Arc::ptr_eq(&c.view, old)) {
                    cache.remove(tenant);
                }
            }
        }
        reread
    }

    /// Re-read the views in `snapshot`, replacing each whose entry has not changed since.
    async fn reread(&self, snapshot: &[(String, Arc<TenantView>)]) -> Result<(), sqlx::Error> {
        let mut conn = self.db.pool().acquire().await?;
        let plans = plans::by_id_in(&mut conn).await?;
        for batch in snapshot.chunks(REFRESH_BATCH) {
            let tenants: Vec<String> = batch.iter().map(|(t, _)| t.clone()).collect();
            let views = Self::load_many(&mut conn, &tenants, &plans).await?;
            let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
            for ((tenant, old), view) in batch.iter().zip(views) {
                let Some(c) = cache.get_mut(tenant) else {
                    continue;
                };
                if !Arc::ptr_eq(&c.view, old) {
                    continue;
                }
                match view {
                    Some(view) => c.view = Arc::new(view),
                    None => {
                        cache.remove(tenant);
                    }
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
        crate::storage::commit_in_task(tx).await?;
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
