//! The SLA watcher: asks the support module of every tenant which tickets are about to
//! breach or breached their deadlines (the module records each once, with an audit row) and
//! mails the superadmins about them. The clock is a parameter, so tests move it.

use std::time::Duration;

use serde_json::{Value, json};

use super::{call, tenants_with_tickets};
use crate::app::AppState;
use crate::calls::CallerRole;
use crate::storage::{mail, now_ms, users};

/// Who the support module sees as the caller of a check.
pub(crate) const ACTOR: &str = "worker:support";
/// A deadline this close counts as about to breach.
pub(crate) const WARN_WITHIN_MS: i64 = 10 * 60 * 1000;
/// Checks of one tenant per sweep; what is left waits for the next sweep.
const MAX_CHECKS_PER_TENANT: usize = 20;
/// How often the watcher looks.
pub(crate) const EVERY: Duration = Duration::from_secs(60);

/// Check every tenant's tickets at `now`; the new alerts, each with its `tenantId`.
pub async fn sweep(state: &AppState, now: i64) -> anyhow::Result<Vec<Value>> {
    let mut alerts = Vec::new();
    // Deadlines belong to open tickets only.
    for tenant in tenants_with_tickets(state, "open").await? {
        // A check reports a bounded number of alerts and says when there are more.
        for _ in 0..MAX_CHECKS_PER_TENANT {
            let body = json!({"now": now, "warnWithinMs": WARN_WITHIN_MS});
            let answer = call(
                state,
                &tenant,
                ACTOR,
                CallerRole::System,
                "POST",
                "/sla/check",
                Some(&body),
            )
            .await;
            if answer.status != 200 {
                tracing::warn!(tenant_id = %tenant, status = answer.status, body = %answer.body, "SLA check failed");
                break;
            }
            for mut alert in answer.body["alerts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                alert["tenantId"] = json!(tenant);
                alerts.push(alert);
            }
            if answer.body["more"] != json!(true) {
                break;
            }
        }
    }
    if !alerts.is_empty() {
        let mut tx = state.db.begin().await?;
        let admins = users::emails_in(&mut tx, None, "superadmin").await?;
        for a in &alerts {
            let state_word = if a["state"] == "breached" {
                "breached"
            } else {
                "about to breach"
            };
            let subject = format!(
                "[{}] SLA {state_word}: {} ({})",
                a["severity"].as_str().unwrap_or("?"),
                a["subject"].as_str().unwrap_or(""),
                a["kind"].as_str().unwrap_or("")
            );
            let body = format!(
                "Ticket {} of tenant {}: the {} deadline ({}) is {state_word}.",
                a["ticketId"],
                a["tenantId"].as_str().unwrap_or(""),
                a["kind"].as_str().unwrap_or(""),
                crate::storage::rfc3339(a["dueAtMs"].as_i64().unwrap_or(0))
            );
            for to in &admins {
                mail::enqueue_in(&mut tx, to, &subject, &body).await?;
            }
            metrics::counter!("nova_support_sla_alerts_total", "state" => a["state"].as_str().unwrap_or("unknown").to_string()).increment(1);
        }
        crate::storage::commit_in_task(tx).await?;
        state.jobs_queued(mail::QUEUE).await;
    }
    Ok(alerts)
}

/// Sweep every [`EVERY`] until the process ends.
pub(crate) async fn watch(state: AppState) {
    loop {
        tokio::time::sleep(EVERY).await;
        if let Err(e) = sweep(&state, now_ms()).await {
            tracing::warn!(error = %e, "SLA sweep failed");
        }
    }
}
