//! Who is calling: password hashing and signed tokens. (The extractors routes use to turn
//! a request's token into a caller are in `http::extract`.)

pub mod password;
pub mod token;

pub use token::{Claims, Keys, Role};
