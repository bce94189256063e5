//! How a change made on one replica takes effect on all of them: interrupting calls of
//! modules switched off, dropping cached views, waking workers, and the periodic
//! reconciliation that bounds the effect of a lost message.

use super::AppState;
use crate::replicas::{self, Event};
use crate::storage;
use crate::storage::toggles::Kind;
use crate::tenancy::changes::Delta;

/// How long a starting replica waits for its Redis subscription before it goes on without.
const SUBSCRIBE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl AppState {
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

    /// Re-read platform settings from the database: the trace sampling ratio.
    pub(crate) async fn reload_settings(&self) {
        match storage::settings::get(&self.db, storage::settings::TRACE_SAMPLE_RATIO).await {
            Ok(ratio) => crate::traces::set_ratio(ratio.and_then(|r| r.parse().ok())),
            Err(e) => tracing::warn!(error = %e, "could not read platform settings"),
        }
    }

    /// Re-read which users' tokens are refused on this replica.
    pub(crate) async fn reload_revocations(&self) {
        match storage::users::revoked(&self.db).await {
            Ok(revoked) => {
                *self.revocations.write().unwrap_or_else(|p| p.into_inner()) = revoked;
            }
            Err(e) => tracing::warn!(error = %e, "could not read disabled users"),
        }
    }

    /// Users were disabled or enabled here: take it up and tell the other replicas.
    pub(crate) async fn users_changed(&self) {
        self.reload_revocations().await;
        if let Some(bus) = &self.bus {
            bus.publish(Event::Users).await;
        }
    }

    /// True when `user`'s token issued at `issued_at` (Unix seconds) may not be used: the
    /// user is disabled, or the token predates a disable or a password reset.
    pub(crate) fn token_revoked(&self, user: &str, issued_at: i64) -> bool {
        match self
            .revocations
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(user)
        {
            None => false,
            Some(None) => true,
            // Tokens carry whole seconds, so only those of an earlier second are refused: a
            // sign-in just after the reset must work, and a token from the same second before
            // it is the price of that.
            Some(Some(after_ms)) => issued_at < after_ms.div_euclid(1000),
        }
    }

    /// A platform setting changed here: take it up and tell the other replicas.
    pub(crate) async fn settings_changed(&self) {
        self.reload_settings().await;
        if let Some(bus) = &self.bus {
            bus.publish(Event::Settings).await;
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
            let stopped = self.runtime.switched_off(tenant, module);
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
            Event::Settings => self.reload_settings().await,
            Event::Keys => {
                if let Err(e) = self.keys.reload(&self.db).await {
                    tracing::warn!(error = %e, "could not reload signing keys");
                }
            }
            Event::Users => self.reload_revocations().await,
        }
    }

    /// Re-read what this replica caches: bounds the effect of a lost change message. The
    /// periodic run; it also forgets tenant views, parked instances and number blocks no
    /// call has used for a while.
    pub async fn reconcile(&self) {
        self.runtime.drop_idle_instances();
        // On its own: after a quiet night with many tenants it is many small writes, which
        // revocations, keys and maintenance must not wait behind.
        let sequences = self.runtime.sequences.clone();
        tokio::spawn(async move {
            sequences
                .release_idle(crate::storage::sequences::IDLE)
                .await
        });
        self.resync(true).await
    }

    async fn resync(&self, periodic: bool) {
        self.reload_maintenance().await;
        self.reload_settings().await;
        self.reload_revocations().await;
        if let Err(e) = self.keys.reload(&self.db).await {
            tracing::warn!(error = %e, "could not reload signing keys");
        }
        if let Err(e) = self.runtime.reload_active().await {
            tracing::warn!(error = %e, "could not reload module versions");
        }
        // Last: with many tenants this is the longest part, and revocations, keys and
        // maintenance must not wait behind it.
        if let Err(e) = self.tenancy.refresh(periodic).await {
            tracing::warn!(error = %e, "could not re-read tenants' views");
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
    /// periodic reconciliation. Returns once the listener has subscribed, so a replica that
    /// says it listens hears every toggle made after; if Redis has not answered within
    /// [`SUBSCRIBE_WAIT`], it goes on (reconciliation covers) and subscribes when it can.
    pub(crate) async fn start_sync(&self) {
        if let Some(bus) = &self.bus {
            let subscribed = bus.clone().listen(self.clone());
            if !matches!(
                tokio::time::timeout(SUBSCRIBE_WAIT, subscribed).await,
                Ok(Ok(()))
            ) {
                tracing::warn!(
                    "not subscribed to other replicas' changes yet; until then they arrive with reconciliation"
                );
            }
        }
        replicas::reconcile_periodically(self.clone());
    }
}

impl replicas::Replica for AppState {
    async fn apply(&self, event: Event) {
        self.apply_remote(event).await
    }

    async fn reconcile(&self) {
        AppState::reconcile(self).await
    }

    async fn catch_up(&self) {
        self.resync(false).await
    }
}
