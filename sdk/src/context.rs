//! Facts about the current call: tenant, actor, request id, module name and version.

use crate::wit::nova::module::context as raw;

/// Who is calling and where. Decided by the host; a module cannot change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The calling tenant.
    pub tenant_id: String,
    /// The authenticated user or service account.
    pub actor: String,
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
/// nova_sdk::log::info(&format!("called by {}", ctx.actor));
/// ```
pub fn get() -> Context {
    let i = raw::get();
    Context {
        tenant_id: i.tenant_id,
        actor: i.actor,
        request_id: i.request_id,
        module_name: i.module_name,
        module_version: i.module_version,
    }
}
