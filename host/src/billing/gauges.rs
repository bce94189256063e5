//! Gauges read from the database when metrics are scraped: queue depths and the billing
//! summary. Every replica reports the same numbers, so dashboards may read any of them.

use crate::storage::{Db, invoices, now_ms, outbox};

/// Refresh the queue-depth and billing gauges.
pub(crate) async fn refresh(db: &Db) -> Result<(), sqlx::Error> {
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
    Ok(())
}

fn set_depth(queue: &str, depth: i64) {
    metrics::gauge!("nova_queue_depth", "queue" => queue.to_string()).set(depth as f64);
    // The name the runbook's alerts were written against.
    metrics::gauge!("bull_queue_jobs_active", "queue" => queue.to_string()).set(depth as f64);
}
