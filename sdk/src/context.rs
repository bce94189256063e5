//! Facts about the current call: tenant, actor, the caller's role, request id, module name
//! and version.

use crate::wit::nova::module::context as raw;

/// What the caller may do in the restaurant. Offer (and allow) an action by it: a screen
/// leaves out what the role may not do, and the route refuses it too, since anyone can send
/// the request by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The restaurant's administrator.
    Admin,
    /// A member of the restaurant's staff.
    Staff,
    /// The restaurant's service account (synthetic checks, tooling a superadmin set up).
    Service,
    /// Nova's support team, acting for the restaurant.
    Support,
    /// The host itself: a verified webhook or a worker.
    System,
    /// A role this SDK does not know (a newer host): trust it least.
    Other(String),
}

impl Role {
    /// The role as the host names it.
    pub fn parse(name: &str) -> Self {
        match name {
            "admin" => Role::Admin,
            "staff" => Role::Staff,
            "service" => Role::Service,
            "support" => Role::Support,
            "system" => Role::System,
            other => Role::Other(other.to_string()),
        }
    }

    /// True for the restaurant's administrator and its service account: the roles that may
    /// manage the restaurant (void, refund, change the menu) rather than only serve in it.
    pub fn is_manager(&self) -> bool {
        matches!(self, Role::Admin | Role::Service)
    }
}

/// Who is calling and where. Decided by the host; a module cannot change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The calling tenant.
    pub tenant_id: String,
    /// The authenticated user or service account.
    pub actor: String,
    /// What the actor may do.
    pub role: Role,
    /// The request id (also in the invocation record and the `x-request-id` header).
    pub request_id: String,
    /// This module's installed name.
    pub module_name: String,
    /// The running version of this module.
    pub module_version: String,
}

/// The current call's context.
///
/// ```no_run
/// let ctx = nova_sdk::context::get();
/// nova_sdk::log::info(&format!("called by {} ({:?})", ctx.actor, ctx.role));
/// ```
pub fn get() -> Context {
    let i = raw::get();
    Context {
        tenant_id: i.tenant_id,
        actor: i.actor,
        role: role(),
        request_id: i.request_id,
        module_name: i.module_name,
        module_version: i.module_version,
    }
}

/// The caller's role alone (one host call fewer than [`get`]).
///
/// ```no_run
/// use nova_sdk::{Error, Request, Response};
///
/// fn void(_req: &Request) -> Result<Response, Error> {
///     if !nova_sdk::context::role().is_manager() {
///         return Err(Error::forbidden("only the restaurant's admin may void a ticket"));
///     }
///     // …
/// #   Ok(Response::empty(204))
/// }
/// ```
pub fn role() -> Role {
    Role::parse(&raw::role())
}
