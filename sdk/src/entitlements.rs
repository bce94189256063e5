//! What the calling tenant is entitled to: feature flags and enabled modules.

use crate::wit::nova::module::entitlements as raw;

/// True when `flag` is on for the calling tenant (plan, or a superadmin override).
///
/// ```no_run
/// if nova_sdk::entitlements::has_feature("pos.reports") {
///     // offer the reports screen
/// }
/// ```
pub fn has_feature(flag: &str) -> bool {
    raw::has_feature(flag)
}

/// The modules switched on for the calling tenant, sorted by name.
///
/// ```no_run
/// let billing_on = nova_sdk::entitlements::enabled_modules().iter().any(|m| m == "billing");
/// ```
pub fn enabled_modules() -> Vec<String> {
    raw::enabled_modules()
}
