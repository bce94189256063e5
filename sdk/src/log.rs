//! Log lines into the host's log, tagged with tenant, module and request id.

use crate::wit::nova::module::log::{self as raw, Level};

/// Debug detail.
///
/// ```no_run
/// nova_sdk::log::debug("cache miss");
/// ```
pub fn debug(message: &str) {
    raw::log(Level::Debug, message);
}

/// Normal operation.
///
/// ```no_run
/// nova_sdk::log::info("ticket opened");
/// ```
pub fn info(message: &str) {
    raw::log(Level::Info, message);
}

/// Something unexpected the module handled.
///
/// ```no_run
/// nova_sdk::log::warn("stock is low");
/// ```
pub fn warn(message: &str) {
    raw::log(Level::Warn, message);
}

/// Something failed.
///
/// ```no_run
/// nova_sdk::log::error("payment provider refused");
/// ```
pub fn error(message: &str) {
    raw::log(Level::Error, message);
}
