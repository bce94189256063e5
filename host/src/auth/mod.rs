//! Who is calling: password hashing, signed tokens, and the extractors routes use.

pub mod extract;
pub mod password;
pub mod token;

pub use extract::{Caller, SuperAdmin, TenantUser};
pub use token::{Claims, Keys, Role};
