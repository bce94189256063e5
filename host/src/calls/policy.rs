//! Which checks a module call passes: each caller states its own policy, by name.

/// Which version of a module a call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The version pinned for the tenant, else the active one.
    TenantPin,
    /// The active version, whatever the tenant's pin.
    Active,
}

/// Which limits a call runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitsFrom {
    /// The tenant's plan, within the host's limits.
    Plan,
    /// The host's limits: for the platform's own work, which no plan may starve.
    Host,
}

/// The checks a call passes before the module runs, in this order: installed (always),
/// the plan's call rate, enabled for the tenant, a concurrency slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Count the call against the plan's module calls per minute.
    pub(crate) rate_limited: bool,
    /// Refuse unless the module is enabled for the tenant (override, plan or preset).
    pub(crate) requires_enabled: bool,
    /// Wait for one of the tenant's concurrency slots, as long as the call may run.
    pub(crate) tenant_slot: bool,
    pub(crate) version: Version,
    pub(crate) limits: LimitsFrom,
}

impl Policy {
    /// A tenant user's request (`/v1/portal/{module}/…`): every check.
    pub(crate) const TENANT_REQUEST: Self = Self {
        rate_limited: true,
        requires_enabled: true,
        tenant_slot: true,
        version: Version::TenantPin,
        limits: LimitsFrom::Plan,
    };

    /// The platform acting in a tenant's module on the tenant's behalf: the support team
    /// and the SLA watcher, verified webhooks (payment settlements), and the test kit's
    /// `call_as`. The module must be on for the tenant, and the call takes one of its
    /// slots, but the plan's call rate is the tenant's own traffic, so it is not counted.
    pub const PLATFORM: Self = Self {
        rate_limited: false,
        requires_enabled: true,
        tenant_slot: true,
        version: Version::TenantPin,
        limits: LimitsFrom::Plan,
    };

    /// The billing worker applying a provider's event with the platform's billing module.
    /// Entitlements are the platform's decision, not a feature the tenant switches: the
    /// module runs whatever the tenant's toggles and plan (a tenant whose plan lapsed still
    /// gets its renewal applied), always in its active version so every tenant's events
    /// are decided by the same rules (pins do not apply), under the host's limits.
    pub(crate) const BILLING: Self = Self {
        rate_limited: false,
        requires_enabled: false,
        tenant_slot: false,
        version: Version::Active,
        limits: LimitsFrom::Host,
    };

    /// The module and nothing else, under the tenant's plan limits: fuzzing and the
    /// benchmarks that measure the invocation itself.
    pub const DIRECT: Self = Self {
        rate_limited: false,
        requires_enabled: false,
        tenant_slot: false,
        version: Version::Active,
        limits: LimitsFrom::Plan,
    };
}
