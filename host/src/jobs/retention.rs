//! Retention: workers prune what is older than its keeping period (invocation records,
//! audit events, webhook deliveries, sent mail, finished jobs), in small batches that each
//! commit on their own, so no prune holds a lock for long. What a job still needs is never
//! pruned: queued mail, and jobs not done (pending, retrying, or failed and waiting for an
//! operator to retry them), are kept whatever their age; so are the invocation records and
//! audit events of a tenant whose export is being built. Export bundles past their 7 days are
//! deleted here too.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Args;

use crate::app::AppState;
use crate::storage::plans::Plan;
use crate::storage::{Db, now_ms};

/// How long each kind of row is kept.
#[derive(Debug, Clone, Copy, Args)]
pub struct Retention {
    /// Invocation records.
    #[arg(long = "keep-invocations", env = "NOVA_KEEP_INVOCATIONS", default_value = "30days", value_parser = humantime::parse_duration, global = true)]
    pub invocations: Duration,
    /// Audit events.
    #[arg(long = "keep-audit", env = "NOVA_KEEP_AUDIT", default_value = "400days", value_parser = humantime::parse_duration, global = true)]
    pub audit: Duration,
    /// Signed webhook deliveries seen (their ids guard against replays; at least an hour).
    #[arg(long = "keep-deliveries", env = "NOVA_KEEP_DELIVERIES", default_value = "30days", value_parser = humantime::parse_duration, global = true)]
    pub deliveries: Duration,
    /// Mail sent, stored or failed (queued mail is kept until it goes).
    #[arg(long = "keep-mail", env = "NOVA_KEEP_MAIL", default_value = "30days", value_parser = humantime::parse_duration, global = true)]
    pub mail: Duration,
    /// Finished jobs (pending and retrying jobs are kept until they finish, failed ones
    /// until someone retries them).
    #[arg(long = "keep-jobs", env = "NOVA_KEEP_JOBS", default_value = "30days", value_parser = humantime::parse_duration, global = true)]
    pub jobs: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        const DAY: u64 = 24 * 3600;
        Self {
            invocations: Duration::from_secs(30 * DAY),
            audit: Duration::from_secs(400 * DAY),
            deliveries: Duration::from_secs(30 * DAY),
            mail: Duration::from_secs(30 * DAY),
            jobs: Duration::from_secs(30 * DAY),
        }
    }
}

/// Rows deleted per statement: each batch is its own short transaction.
const BATCH: i64 = 500;
/// How often a worker prunes.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// One kind of row: its table, key, age column and what else must hold to prune it.
struct Rule {
    table: &'static str,
    key: &'static str,
    age: &'static str,
    only: &'static str,
}

const RULES: [Rule; 5] = [
    Rule {
        table: "invocations",
        key: "id",
        age: "created_at",
        only: EXPORTING,
    },
    Rule {
        table: "audit_events",
        key: "id",
        age: "created_at",
        only: EXPORTING,
    },
    Rule {
        table: "webhook_deliveries",
        key: "source, delivery_id",
        age: "received_at",
        only: "",
    },
    Rule {
        table: "mail_outbox",
        key: "id",
        age: "created_at",
        only: "AND status <> 'queued'",
    },
    Rule {
        table: "outbox",
        key: "id",
        age: "updated_at",
        only: "AND status = 'done'",
    },
];

/// Rows of a tenant whose export is pending stay until the bundle holds them; an export stuck
/// pending for longer than the keeping period protects nothing (`$1` is the cut-off).
const EXPORTING: &str = "AND NOT EXISTS (SELECT 1 FROM tenant_exports e \
     WHERE e.status = 'pending' AND e.tenant_id = t.tenant_id AND e.created_at > $1)";

/// The shortest time a webhook delivery is kept: well past the signatures' tolerance, so a
/// delivery pruned too early can never be replayed into an accepted one.
const MIN_DELIVERIES: Duration = Duration::from_secs(3600);

impl Retention {
    fn period(&self, table: &str) -> Duration {
        match table {
            "invocations" => self.invocations,
            "audit_events" => self.audit,
            "webhook_deliveries" => self.deliveries.max(MIN_DELIVERIES),
            "mail_outbox" => self.mail,
            _ => self.jobs,
        }
    }
}

/// One pass of a rule: rows older than `before`, of the tenants on `plan`, or (`None`) of
/// those on no plan that keeps the rows longer.
struct Pass {
    before: i64,
    plan: Option<String>,
}

/// A tenant's plan: that of its newest subscription not canceled (as everywhere else).
const PLAN_OF: &str = "(SELECT s.plan_id FROM subscriptions s WHERE s.tenant_id = t.tenant_id \
     AND s.status <> 'canceled' ORDER BY s.created_at DESC, s.id DESC LIMIT 1)";

/// Tenants on no plan that keeps this kind of row longer (`$3…` are those plans).
fn not_on(plans: usize) -> String {
    if plans == 0 {
        return String::new();
    }
    let list: Vec<String> = (0..plans).map(|i| format!("${}", i + 3)).collect();
    format!("AND COALESCE({PLAN_OF}, '') NOT IN ({})", list.join(", "))
}

/// Tenants on plan `$3`.
fn on_plan() -> String {
    format!("AND {PLAN_OF} = $3")
}

/// Plans keeping `table`'s rows longer than `default`: (plan id, period).
fn longer(plans: &[Plan], table: &str, default: Duration) -> Vec<(String, Duration)> {
    plans
        .iter()
        .filter_map(|p| {
            let keep = p.entitlements.retention.as_ref()?;
            let days = match table {
                "invocations" => keep.invocations_days?,
                "audit_events" => keep.audit_days?,
                _ => return None,
            };
            let period = Duration::from_secs(u64::from(days) * 24 * 3600);
            (period > default).then(|| (p.id.clone(), period))
        })
        .collect()
}

fn cutoff(now_ms: i64, period: Duration) -> i64 {
    now_ms.saturating_sub(i64::try_from(period.as_millis()).unwrap_or(i64::MAX))
}

/// Prune every kind of row older than its period as of `now_ms` (a tenant's plan may keep
/// invocation records and audit events longer): rows deleted per table.
pub async fn prune_once(
    db: &Db,
    keep: &Retention,
    now_ms: i64,
) -> Result<BTreeMap<&'static str, u64>, sqlx::Error> {
    let plans = crate::storage::plans::list(db).await?;
    let mut pruned = BTreeMap::new();
    for rule in &RULES {
        let default = keep.period(rule.table);
        let longer = longer(&plans, rule.table, default);
        let others = not_on(longer.len());
        let mut passes = vec![Pass {
            before: cutoff(now_ms, default),
            plan: None,
        }];
        passes.extend(longer.iter().map(|(plan, period)| Pass {
            before: cutoff(now_ms, *period),
            plan: Some(plan.clone()),
        }));
        let mut total = 0;
        for pass in &passes {
            let tenants = match pass.plan {
                Some(_) => on_plan(),
                None => others.clone(),
            };
            // The oldest first, a batch at a time, through the age index.
            let sql = format!(
                "DELETE FROM {t} WHERE ({k}) IN (SELECT {k} FROM {t} AS t WHERE {a} < $1 {o} {tenants} ORDER BY {a} LIMIT $2)",
                t = rule.table,
                k = rule.key,
                a = rule.age,
                o = rule.only,
            );
            loop {
                let mut query = sqlx::query(&sql).bind(pass.before).bind(BATCH);
                match &pass.plan {
                    Some(plan) => query = query.bind(plan.clone()),
                    None => {
                        for (plan, _) in &longer {
                            query = query.bind(plan.clone());
                        }
                    }
                }
                let n = query.execute(db.pool()).await?.rows_affected();
                total += n;
                if n < BATCH as u64 {
                    break;
                }
                // Let the calls waiting on the database go first.
                tokio::task::yield_now().await;
            }
        }
        if total > 0 {
            metrics::counter!("nova_retention_pruned_rows_total", "table" => rule.table)
                .increment(total);
        }
        pruned.insert(rule.table, total);
    }
    pruned.insert(
        "tenant_exports",
        crate::exports::expire_due(db, now_ms).await?,
    );
    Ok(pruned)
}

/// Prune every [`PRUNE_EVERY`] for as long as the process runs.
pub(crate) async fn run(state: AppState) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tick.tick().await;
        match prune_once(&state.db, &state.retention, now_ms()).await {
            Ok(pruned) if pruned.values().any(|n| *n > 0) => {
                tracing::info!(?pruned, "retention pruned old rows")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention could not prune"),
        }
    }
}
