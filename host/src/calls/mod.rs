//! The one way to call a module for a tenant. Every caller (a tenant's HTTP request, the
//! support team and the SLA watcher, the payment webhook, the billing worker, the test kit,
//! fuzzing, the benchmarks) comes here with a [`Policy`] that names the checks it passes,
//! and gets a [`CallOutcome`] to map to its own world (an HTTP response, a job retry).

pub(crate) mod outcome;
pub(crate) mod policy;
pub(crate) mod unattended;

pub(crate) use outcome::{CallOutcome, Failure, Refusal};
pub use policy::{LimitsFrom, Policy, Version};

use crate::app::AppState;
use crate::auth::token::Role;
use crate::contract::GuestRequest;
use crate::runtime::invoke::Caller;
use crate::storage::commit::Job;

/// Who is behind a call, as the module sees it (`nova:module/context.role`): modules offer
/// and allow actions by it, such as POS refusing a void from staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerRole {
    /// The restaurant's administrator.
    Admin,
    /// A member of the restaurant's staff.
    Staff,
    /// The restaurant's service account.
    Service,
    /// Nova's support team, acting for the restaurant through the support routes.
    Support,
    /// The host itself: a verified webhook, a worker.
    System,
}

impl CallerRole {
    /// The name the module reads.
    pub fn as_str(self) -> &'static str {
        match self {
            CallerRole::Admin => "admin",
            CallerRole::Staff => "staff",
            CallerRole::Service => "service",
            CallerRole::Support => "support",
            CallerRole::System => "system",
        }
    }
}

impl From<Role> for CallerRole {
    /// A signed-in user's role. Superadmins reach a tenant's modules only as its support.
    fn from(role: Role) -> Self {
        match role {
            Role::Admin => CallerRole::Admin,
            Role::Staff => CallerRole::Staff,
            Role::Service => CallerRole::Service,
            Role::Superadmin => CallerRole::Support,
        }
    }
}

/// One call: who, into which module, with what.
#[derive(Debug, Clone)]
pub struct Call {
    pub tenant_id: String,
    /// Who the invocation record names: a user id, `support:<email>`, `webhook:payments`, …
    pub actor: String,
    /// What the actor may do, as the module reads it.
    pub role: CallerRole,
    /// The id the invocation record, the logs and the answer share.
    pub request_id: String,
    pub module: String,
    pub request: GuestRequest,
}

/// Run `call` under `policy`: installed, then (as the policy says) the plan's call rate,
/// enabled for the tenant, a concurrency slot; then the module, its writes and its
/// invocation record committed together.
pub async fn call(state: &AppState, call: Call, policy: Policy) -> CallOutcome {
    run(state, call, policy, false).await.0
}

/// [`call`], except that an answer (status below 500) which wrote nothing comes back with
/// its invocation record (and audits) uncommitted, for the caller to commit in the
/// transaction that acts on the answer: one commit instead of two. Every other ending is
/// recorded as usual. The caller must commit the record, through
/// [`crate::storage::commit::write_in`] or, if its transaction does not commit,
/// [`crate::runtime::Runtime::commit_record`].
pub(crate) async fn call_record_by_caller(
    state: &AppState,
    call: Call,
    policy: Policy,
) -> (CallOutcome, Option<Job>) {
    run(state, call, policy, true).await
}

async fn run(
    state: &AppState,
    call: Call,
    policy: Policy,
    record_by_caller: bool,
) -> (CallOutcome, Option<Job>) {
    let Call {
        tenant_id,
        actor,
        role,
        request_id,
        module: name,
        request,
    } = call;
    let registry = &state.runtime.registry;
    let found = match policy.version {
        Version::TenantPin => registry.get_for(&tenant_id, &name),
        Version::Active => registry.get(&name),
    };
    let Some(module) = found else {
        return (CallOutcome::NotInstalled { module: name }, None);
    };
    let view = match state.tenancy.view(&tenant_id).await {
        Ok(v) => v,
        Err(e) => return (CallOutcome::Storage(e), None),
    };
    let limits = match policy.limits {
        LimitsFrom::Plan => view.limits(state.limits),
        LimitsFrom::Host => state.limits,
    };
    // The plan's rate counts every call, including those refused below: a tenant must not
    // be able to write denied records (or spend the host's time) beyond its rate.
    if policy.rate_limited
        && let Some(per_minute) = view.calls_per_minute()
        && !state.allow_call(&tenant_id, per_minute).await
    {
        return (CallOutcome::RateLimited { per_minute }, None);
    }
    let caller = Caller {
        tenant_id,
        actor,
        role,
        request_id,
        limits,
        view: view.clone(),
        record_by_caller,
    };
    if policy.requires_enabled && !view.module_enabled(&name) {
        state
            .runtime
            .record_denied(
                &module,
                &caller,
                &request,
                403,
                "module disabled for tenant",
            )
            .await;
        return (CallOutcome::Disabled { module: name }, None);
    }
    let slot = if policy.tenant_slot {
        // Wait for a slot at most as long as the call itself may run.
        let admitted = state
            .runtime
            .tenants
            .admit(&caller.tenant_id, limits.concurrent_calls, limits.deadline)
            .await;
        match admitted {
            Ok(slot) => Some(slot),
            Err(refused) => {
                // No tenant label on the metric (one series per tenant is too many); the
                // log names the tenant.
                metrics::counter!("nova_tenant_calls_refused_total", "reason" => "concurrency")
                    .increment(1);
                tracing::info!(
                    tenant = %caller.tenant_id,
                    module = %name,
                    limit = refused.limit(),
                    "call refused: concurrency limit"
                );
                return (
                    CallOutcome::Busy {
                        limit: refused.limit(),
                    },
                    None,
                );
            }
        }
    } else {
        None
    };
    // Waited for here, not in the call below: a caller that goes away while its call waits
    // for a place in the instance pool has run nothing, and nothing runs for it.
    let hold = state.runtime.hold(slot).await;
    // From here the module runs: finished, and recorded, even if our caller goes away.
    let unattended = state.runtime.unattended.clone();
    let (state, unheard_by) = (state.clone(), state.clone());
    let nobody_heard = move |(_, record): (CallOutcome, Option<Job>)| async move {
        // The record a caller would have committed with what it did about the answer.
        if let Some(record) = record {
            unheard_by.runtime.commit_record(record).await;
        }
    };
    let invoked = async move {
        let mut invoked = state.runtime.invoke(module, &caller, request, hold).await;
        let record = invoked.record.take();
        let failure = match (invoked.failure(), invoked.response) {
            (None, Some(resp)) if (100..1000).contains(&resp.status) => {
                return (CallOutcome::Answered(resp), record);
            }
            (None, Some(resp)) => Failure::BadStatus(resp.status),
            (failure, _) => failure.unwrap_or(Failure::Trapped),
        };
        if let Some(record) = record {
            // Not an answer the caller acts on: the record is written here.
            state.runtime.commit_record(record).await;
        }
        (
            CallOutcome::Failed {
                failure,
                error: invoked.error.unwrap_or_default(),
            },
            None,
        )
    };
    unattended::to_the_end(&unattended, invoked, nobody_heard).await
}

#[cfg(test)]
mod tests;
