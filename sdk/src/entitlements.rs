//! What the calling tenant is entitled to: feature flags and enabled modules. Needs the
//! `entitlements` capability; without its grant each call is 403 `CAPABILITY_DENIED`.

use crate::Error;
use crate::wit::nova::module::entitlements as raw;

fn map(e: raw::Error) -> Error {
    match e {
        raw::Error::Denied(m) => Error::capability_denied(m),
    }
}

/// True when `flag` is on for the calling tenant (plan, or a superadmin override).
///
/// ```no_run
/// if nova_sdk::entitlements::has_feature("pos.reports")? {
///     // offer the reports screen
/// }
/// # Ok::<(), nova_sdk::Error>(())
/// ```
pub fn has_feature(flag: &str) -> Result<bool, Error> {
    raw::has_feature(flag).map_err(map)
}

/// The modules switched on for the calling tenant, sorted by name.
///
/// ```no_run
/// let billing_on = nova_sdk::entitlements::enabled_modules()?.iter().any(|m| m == "billing");
/// # Ok::<(), nova_sdk::Error>(())
/// ```
pub fn enabled_modules() -> Result<Vec<String>, Error> {
    raw::enabled_modules().map_err(map)
}
