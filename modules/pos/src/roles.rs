//! Who may manage the restaurant. Staff serve: they open tickets, add lines, take payments
//! and close. Voids, refunds, menu and stock-threshold changes move money or change what
//! everyone sells, so only the restaurant's admin (or its service account) may make them.
//! The screens leave these actions out for staff; the routes refuse them anyway.

use nova_sdk::{Error, context};

/// Refuse the call unless the caller manages the restaurant. Called after the input is
/// validated, so a malformed request is still answered with the field at fault.
pub fn managers_only(action: &str) -> Result<(), Error> {
    if context::role().is_manager() {
        Ok(())
    } else {
        Err(Error::forbidden(format!(
            "only the restaurant's admin may {action}"
        )))
    }
}

/// True when the caller may make the changes [`managers_only`] guards: screens use it to
/// offer them.
pub fn is_manager() -> bool {
    context::role().is_manager()
}
