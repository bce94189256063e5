//! Applying the billing module's decision: every effect, its audit rows, the event's status
//! and the job's completion in one transaction.

use serde::Deserialize;
use serde_json::Value;
use sqlx::AnyConnection;

use super::ACTOR;
use crate::storage::audit::{self, AuditEvent};
use crate::storage::{invoices, subscriptions};
use crate::tenancy::changes::Delta;
use crate::tenancy::registration::{self, PlanError};

/// What the billing module answers for an event.
#[derive(Debug, Deserialize)]
pub(crate) struct Decision {
    pub(crate) effects: Vec<Effect>,
    pub(crate) audit: Vec<AuditEntry>,
}

/// An audit action the module asks for.
#[derive(Debug, Deserialize)]
pub(crate) struct AuditEntry {
    pub(crate) action: String,
    pub(crate) payload: Value,
}

/// One change, as the module describes it.
#[derive(Debug, Deserialize)]
#[serde(tag = "op")]
pub(crate) enum Effect {
    #[serde(rename = "plan.set", rename_all = "camelCase")]
    PlanSet {
        tenant_id: String,
        plan_id: String,
        /// Start a subscription when the tenant has none (only `subscription.created`).
        #[serde(default)]
        create: bool,
        subscription_id: Option<String>,
        billing_cycle: Option<String>,
        current_period_end: Option<i64>,
    },
    #[serde(rename = "subscription.cancel", rename_all = "camelCase")]
    Cancel { tenant_id: String },
    #[serde(rename = "subscription.cancel_at_period_end", rename_all = "camelCase")]
    CancelAtPeriodEnd { tenant_id: String },
    #[serde(rename = "subscription.renew", rename_all = "camelCase")]
    Renew {
        tenant_id: String,
        current_period_end: i64,
    },
    #[serde(rename = "subscription.status", rename_all = "camelCase")]
    Status { tenant_id: String, status: String },
    #[serde(rename = "invoice.upsert", rename_all = "camelCase")]
    Invoice {
        tenant_id: String,
        invoice_id: String,
        subscription_id: Option<String>,
        status: String,
        amount_cents: i64,
        due_at: Option<i64>,
    },
}

/// Why a decision could not be applied.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApplyError {
    /// Retrying cannot help (an unknown plan, a status the host does not know).
    #[error("{0}")]
    Permanent(String),
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
}

impl From<PlanError> for ApplyError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Storage(e) => ApplyError::Storage(e),
            other => ApplyError::Permanent(other.to_string()),
        }
    }
}

/// Apply `decision` for `tenant` inside `conn`'s transaction; the toggle deltas, for metrics
/// and for telling the other replicas once committed.
pub(crate) async fn apply(
    conn: &mut AnyConnection,
    tenant: &str,
    decision: &Decision,
    request_id: &str,
) -> Result<Vec<Delta>, ApplyError> {
    let mut deltas = Vec::new();
    for effect in &decision.effects {
        // The module decides for the event's tenant only.
        let target = match effect {
            Effect::PlanSet { tenant_id, .. }
            | Effect::Cancel { tenant_id }
            | Effect::CancelAtPeriodEnd { tenant_id }
            | Effect::Renew { tenant_id, .. }
            | Effect::Status { tenant_id, .. }
            | Effect::Invoice { tenant_id, .. } => tenant_id,
        };
        if target != tenant {
            return Err(ApplyError::Permanent(format!(
                "the billing module named tenant {target} for an event of tenant {tenant}"
            )));
        }
        match effect {
            Effect::PlanSet {
                plan_id,
                create,
                subscription_id,
                billing_cycle,
                current_period_end,
                ..
            } => {
                deltas.extend(
                    registration::change_plan_in(conn, tenant, plan_id, ACTOR, request_id, *create)
                        .await?,
                );
                subscriptions::set_provider_facts(
                    conn,
                    tenant,
                    subscription_id.as_deref(),
                    billing_cycle.as_deref(),
                    *current_period_end,
                )
                .await?;
            }
            Effect::Cancel { .. } => {
                match registration::cancel_subscription_in(conn, tenant, ACTOR, request_id).await {
                    // Already canceled: the event has nothing left to do.
                    Err(PlanError::NoSubscription(_)) => {}
                    other => deltas.extend(other?),
                }
            }
            Effect::CancelAtPeriodEnd { .. } => {
                subscriptions::cancel_at_period_end(conn, tenant).await?;
            }
            Effect::Renew {
                current_period_end, ..
            } => {
                subscriptions::renew(conn, tenant, *current_period_end).await?;
            }
            Effect::Status { status, .. } => {
                if !matches!(status.as_str(), "active" | "past_due") {
                    return Err(ApplyError::Permanent(format!(
                        "unknown subscription status {status:?}"
                    )));
                }
                subscriptions::set_status(conn, tenant, status).await?;
            }
            Effect::Invoice {
                invoice_id,
                subscription_id,
                status,
                amount_cents,
                due_at,
                ..
            } => {
                if !matches!(status.as_str(), "open" | "paid" | "past_due") {
                    return Err(ApplyError::Permanent(format!(
                        "unknown invoice status {status:?}"
                    )));
                }
                invoices::upsert(
                    conn,
                    &invoices::InvoiceFacts {
                        id: invoice_id,
                        tenant_id: tenant,
                        subscription_id: subscription_id.as_deref(),
                        status,
                        amount_cents: *amount_cents,
                        due_at: *due_at,
                    },
                )
                .await?;
            }
        }
    }
    for entry in &decision.audit {
        if !entry.action.starts_with("billing.") {
            return Err(ApplyError::Permanent(format!(
                "billing audit actions start with 'billing.', not {:?}",
                entry.action
            )));
        }
        let event = AuditEvent::new(
            Some(tenant),
            "billing",
            &entry.action,
            Some(ACTOR),
            &entry.payload,
            Some(request_id),
        );
        audit::insert(conn, &event).await?;
    }
    Ok(deltas)
}
