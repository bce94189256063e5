//! Read request input into a type: a JSON body, or a query string. A failure names the
//! field at fault by its path (`items[0].qty`, or the query parameter) and says what was
//! wrong in words a client can act on: no serde internals, no positions in place of names.
//!
//! The host's extractors and the SDK's `Request::json` / `Request::query_as` both use it, so
//! a module's 400 reads like the host's.

mod body;
mod query;

pub use body::json;
pub use query::query;

/// Why input could not be read as the type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The path of the value at fault (`items[0].qty`), the query parameter, or `body` /
    /// `query` when the input as a whole is wrong.
    pub field: String,
    /// What was wrong, for people.
    pub message: String,
}
