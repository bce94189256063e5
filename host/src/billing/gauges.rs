//! Gauges read when metrics are scraped: queue depths, the billing summary and module
//! adoption from the database (every replica reports the same numbers, so dashboards may read
//! any of them), and this process's database pool.

use crate::storage::{Db, invoices, now_ms, outbox, toggles};

/// Refresh the pool, queue-depth, billing and adoption gauges. The pool's come first and
/// need no connection, so they are current even when the pool is exhausted (the case their
/// alert is for); the rest wait for a connection at most [`DB_GAUGES_WAIT`].
pub(crate) async fn refresh(db: &Db) -> Result<(), sqlx::Error> {
    pool_gauges(db);
    match tokio::time::timeout(DB_GAUGES_WAIT, from_database(db)).await {
        Ok(done) => done,
        Err(_) => Err(sqlx::Error::PoolTimedOut),
    }
}

/// How long a scrape waits for the database's gauges.
const DB_GAUGES_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

async fn from_database(db: &Db) -> Result<(), sqlx::Error> {
    let mut seen_billing = false;
    for (queue, depth) in outbox::depths(db).await? {
        seen_billing |= queue == super::QUEUE;
        set_depth(&queue, depth);
    }
    if !seen_billing {
        set_depth(super::QUEUE, 0);
    }
    let s = invoices::summary(db, now_ms()).await?;
    metrics::gauge!("nova_api_billing_active_tenants").set(s.active_tenants as f64);
    metrics::gauge!("nova_api_billing_mrr_cents").set(s.mrr_cents as f64);
    metrics::gauge!("nova_api_billing_past_due_tenants").set(s.past_due_tenants as f64);
    metrics::gauge!("nova_api_billing_upcoming_renewals").set(s.upcoming_renewals.len() as f64);
    metrics::gauge!("nova_api_billing_cancel_at_period_end").set(s.cancel_at_period_end as f64);
    metrics::gauge!("nova_api_billing_open_invoices").set(s.open_invoices.len() as f64);
    // A (module, state) pair no tenant has any more is absent from the query: it goes to 0
    // rather than keeping its last count.
    static SEEN: std::sync::Mutex<Vec<(String, &'static str)>> = std::sync::Mutex::new(Vec::new());
    let counts = toggles::adoption(db).await?;
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    for (module, enabled) in seen.iter() {
        metrics::gauge!("nova_module_tenants", "module" => module.clone(), "enabled" => *enabled)
            .set(0.0);
    }
    for (module, enabled, tenants) in counts {
        let enabled = if enabled { "true" } else { "false" };
        metrics::gauge!("nova_module_tenants", "module" => module.clone(), "enabled" => enabled)
            .set(tenants as f64);
        if !seen.iter().any(|(m, e)| *m == module && *e == enabled) {
            seen.push((module, enabled));
        }
    }
    Ok(())
}

/// Connections of this process's pool: in use, open and the most it may open. The pool is
/// shared by every tenant, so it has one label, `pool`, rather than the runbook's `tenant`.
/// On PostgreSQL, the connections lent for module kv reads (`storage::direct`) are the pool
/// `direct`.
fn pool_gauges(db: &Db) {
    let pool = db.pool();
    let open = pool.size() as usize;
    let max = pool.options().get_max_connections() as usize;
    connection_gauges("main", open - pool.num_idle().min(open), open, max);
    if let Some(direct) = db.direct() {
        let (lent, open) = direct.sizes();
        connection_gauges("direct", lent, open, crate::storage::Direct::MAX_OPEN);
    }
}

fn connection_gauges(pool: &'static str, active: usize, open: usize, max: usize) {
    metrics::gauge!("db_connections_active", "pool" => pool).set(active as f64);
    metrics::gauge!("db_connections_open", "pool" => pool).set(open as f64);
    metrics::gauge!("db_connections_max", "pool" => pool).set(max as f64);
}

fn set_depth(queue: &str, depth: i64) {
    metrics::gauge!("nova_queue_depth", "queue" => queue.to_string()).set(depth as f64);
    // The name the runbook's alerts were written against.
    metrics::gauge!("bull_queue_jobs_active", "queue" => queue.to_string()).set(depth as f64);
}
