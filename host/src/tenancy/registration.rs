//! Registration → approval: a pending registration becomes a tenant, its admin user, a
//! subscription on the chosen plan with the plan's rows, and the preset's overrides — all
//! in one transaction, once.

use crate::storage::plans::{self, Plan};
use crate::storage::presets::{self, Preset};
use crate::storage::toggles::{Kind, Source};
use crate::storage::{self, registrations, subscriptions, tenants, users};

use super::Tenancy;
use super::changes::{self, Change, Op};

/// What an approval created.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Approved {
    pub(crate) registration_id: String,
    pub(crate) tenant_id: String,
    pub(crate) subscription_id: String,
    pub(crate) user_id: String,
    pub(crate) plan: String,
}

/// Why a decision was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecisionError {
    #[error("registration {0} does not exist")]
    NotFound(String),
    #[error("registration is already {0}")]
    AlreadyDecided(String),
    #[error("no preset named {0:?}")]
    UnknownPreset(String),
    #[error("plan {0} no longer exists")]
    UnknownPlan(String),
    #[error("a user with email {0} already exists")]
    EmailTaken(String),
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
}

/// The plan rows a plan gives: every entitled module and flag on.
pub(crate) fn plan_changes(plan: &Plan) -> Vec<Change> {
    let modules = plan.entitlements.modules.iter().map(|m| (Kind::Module, m));
    let flags = plan
        .entitlements
        .feature_flags
        .iter()
        .map(|f| (Kind::Flag, f));
    modules
        .chain(flags)
        .map(|(kind, name)| Change {
            kind,
            name: name.clone(),
            op: Op::Set(Source::Plan, true),
        })
        .collect()
}

/// The overrides a preset sets.
pub(crate) fn preset_changes(preset: &Preset) -> Vec<Change> {
    let modules = preset.modules.iter().map(|(m, on)| (Kind::Module, m, *on));
    let flags = preset
        .feature_flags
        .iter()
        .map(|(f, on)| (Kind::Flag, f, *on));
    modules
        .chain(flags)
        .map(|(kind, name, on)| Change {
            kind,
            name: name.clone(),
            op: Op::Set(Source::Override, on),
        })
        .collect()
}

/// Approve a pending registration.
pub(crate) async fn approve(
    tenancy: &Tenancy,
    id: &str,
    preset: Option<&str>,
    actor: &str,
    request_id: &str,
) -> Result<Approved, DecisionError> {
    let db = tenancy.db();
    let mut tx = db.begin().await?;
    if !registrations::claim(&mut tx, id, "approved", None, actor).await? {
        return Err(undecidable(&mut tx, id).await);
    }
    let pending = registrations::get(&mut tx, id)
        .await?
        .ok_or_else(|| DecisionError::NotFound(id.to_string()))?;
    let reg = &pending.registration;
    let preset = match preset {
        Some(name) => Some(
            presets::get(&mut tx, name)
                .await?
                .ok_or_else(|| DecisionError::UnknownPreset(name.to_string()))?,
        ),
        None => None,
    };
    let plan = plans::find(&mut tx, &reg.plan_id)
        .await?
        .ok_or_else(|| DecisionError::UnknownPlan(reg.plan_id.clone()))?;
    let tenant = tenants::create_in(&mut tx, &reg.restaurant_name).await?;
    let user = match users::create_in(
        &mut tx,
        Some(&tenant.id),
        &reg.email,
        &pending.password_hash,
        "admin",
    )
    .await
    {
        Ok(u) => u,
        Err(e) if storage::is_unique_violation(&e) => {
            return Err(DecisionError::EmailTaken(reg.email.clone()));
        }
        Err(e) => return Err(e.into()),
    };
    let sub = subscriptions::create(&mut tx, &tenant.id, &plan.id, "monthly").await?;
    registrations::link(&mut tx, id, &tenant.id, &sub.id).await?;
    let mut all = plan_changes(&plan);
    if let Some(p) = &preset {
        all.extend(preset_changes(p));
    }
    let reason = match &preset {
        Some(p) => format!("approval: plan {}, preset {}", plan.name, p.name),
        None => format!("approval: plan {}", plan.name),
    };
    let deltas = changes::apply(&mut tx, &tenant.id, &all, actor, request_id, &reason).await?;
    crate::storage::commit_in_task(tx).await?;
    changes::record_metrics(&deltas);
    tenancy.invalidate(&tenant.id);
    Ok(Approved {
        registration_id: id.to_string(),
        tenant_id: tenant.id,
        subscription_id: sub.id,
        user_id: user.id,
        plan: plan.name,
    })
}

/// Reject a pending registration.
pub(crate) async fn reject(
    tenancy: &Tenancy,
    id: &str,
    reason: &str,
    actor: &str,
) -> Result<(), DecisionError> {
    let mut tx = tenancy.db().begin().await?;
    if !registrations::claim(&mut tx, id, "rejected", Some(reason), actor).await? {
        return Err(undecidable(&mut tx, id).await);
    }
    crate::storage::commit_in_task(tx).await?;
    Ok(())
}

/// Why a registration could not be claimed: missing, or decided already.
async fn undecidable(conn: &mut sqlx::AnyConnection, id: &str) -> DecisionError {
    match registrations::get(conn, id).await {
        Ok(Some(p)) => DecisionError::AlreadyDecided(p.registration.status),
        Ok(None) => DecisionError::NotFound(id.to_string()),
        Err(e) => e.into(),
    }
}

/// Apply a preset's overrides to an existing tenant.
pub(crate) async fn apply_preset(
    tenancy: &Tenancy,
    tenant: &str,
    preset: &str,
    actor: &str,
    request_id: &str,
) -> Result<Vec<changes::Delta>, DecisionError> {
    let mut tx = tenancy.db().begin().await?;
    let preset = presets::get(&mut tx, preset)
        .await?
        .ok_or_else(|| DecisionError::UnknownPreset(preset.to_string()))?;
    let deltas = changes::apply(
        &mut tx,
        tenant,
        &preset_changes(&preset),
        actor,
        request_id,
        &format!("preset {}", preset.name),
    )
    .await?;
    crate::storage::commit_in_task(tx).await?;
    changes::record_metrics(&deltas);
    tenancy.invalidate(tenant);
    Ok(deltas)
}

/// The changes that take a tenant from its current plan rows to `plan`'s (or to none):
/// plan rows not in the new plan are removed, the new plan's are written, overrides are
/// never touched.
async fn plan_row_changes(
    conn: &mut sqlx::AnyConnection,
    tenant: &str,
    plan: Option<&Plan>,
) -> Result<Vec<Change>, sqlx::Error> {
    let mut out = Vec::new();
    for kind in [Kind::Module, Kind::Flag] {
        let wanted: Vec<&String> = match (plan, kind) {
            (Some(p), Kind::Module) => p.entitlements.modules.iter().collect(),
            (Some(p), Kind::Flag) => p.entitlements.feature_flags.iter().collect(),
            (None, _) => Vec::new(),
        };
        let rows = crate::storage::toggles::for_tenant_in(conn, kind, tenant).await?;
        for (name, r) in &rows {
            if r.plan.is_some() && !wanted.contains(&name) {
                out.push(Change {
                    kind,
                    name: name.clone(),
                    op: Op::Drop(Source::Plan),
                });
            }
        }
        for name in wanted
            .into_iter()
            .filter(|n| rows.get(*n).and_then(|r| r.plan) != Some(true))
        {
            out.push(Change {
                kind,
                name: name.clone(),
                op: Op::Set(Source::Plan, true),
            });
        }
    }
    Ok(out)
}

/// Why a subscription change was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PlanError {
    #[error("no plan named {0:?}")]
    UnknownPlan(String),
    #[error("tenant {0} has no active subscription")]
    NoSubscription(String),
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
}

/// Move a tenant to another plan: its plan rows are replaced by the new plan's, overrides
/// stay. One audit row.
pub(crate) async fn change_plan(
    tenancy: &Tenancy,
    tenant: &str,
    plan: &str,
    actor: &str,
    request_id: &str,
) -> Result<Vec<changes::Delta>, PlanError> {
    let mut tx = tenancy.db().begin().await?;
    let deltas = change_plan_in(&mut tx, tenant, plan, actor, request_id, false).await?;
    crate::storage::commit_in_task(tx).await?;
    changes::record_metrics(&deltas);
    tenancy.invalidate(tenant);
    Ok(deltas)
}

/// [`change_plan`] inside the caller's transaction (the billing worker applies a provider
/// event and marks it processed in one). With `create`, a tenant without a subscription
/// gets one on the plan. The caller commits, then records metrics and drops cached views.
pub(crate) async fn change_plan_in(
    conn: &mut sqlx::AnyConnection,
    tenant: &str,
    plan: &str,
    actor: &str,
    request_id: &str,
    create: bool,
) -> Result<Vec<changes::Delta>, PlanError> {
    let plan = plans::find(conn, plan)
        .await?
        .ok_or_else(|| PlanError::UnknownPlan(plan.to_string()))?;
    if !subscriptions::change_plan(conn, tenant, &plan.id).await? {
        if !create {
            return Err(PlanError::NoSubscription(tenant.to_string()));
        }
        subscriptions::create(conn, tenant, &plan.id, "monthly").await?;
    }
    let all = plan_row_changes(conn, tenant, Some(&plan)).await?;
    let reason = format!("plan changed to {}", plan.name);
    Ok(changes::apply(conn, tenant, &all, actor, request_id, &reason).await?)
}

/// [`cancel_subscription`] inside the caller's transaction.
pub(crate) async fn cancel_subscription_in(
    conn: &mut sqlx::AnyConnection,
    tenant: &str,
    actor: &str,
    request_id: &str,
) -> Result<Vec<changes::Delta>, PlanError> {
    if !subscriptions::cancel(conn, tenant).await? {
        return Err(PlanError::NoSubscription(tenant.to_string()));
    }
    let all = plan_row_changes(conn, tenant, None).await?;
    Ok(changes::apply(
        conn,
        tenant,
        &all,
        actor,
        request_id,
        "subscription canceled",
    )
    .await?)
}

/// Cancel a tenant's subscription: plan rows are removed, overrides stay. One audit row.
pub(crate) async fn cancel_subscription(
    tenancy: &Tenancy,
    tenant: &str,
    actor: &str,
    request_id: &str,
) -> Result<Vec<changes::Delta>, PlanError> {
    let mut tx = tenancy.db().begin().await?;
    let deltas = cancel_subscription_in(&mut tx, tenant, actor, request_id).await?;
    crate::storage::commit_in_task(tx).await?;
    changes::record_metrics(&deltas);
    tenancy.invalidate(tenant);
    Ok(deltas)
}
