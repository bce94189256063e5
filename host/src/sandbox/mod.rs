//! Stand-ins for outside providers, run as their own processes for development and tests.

pub(crate) mod payments;
