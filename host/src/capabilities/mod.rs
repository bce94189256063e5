//! Host capabilities, one module per WIT interface. Each keeps its per-call state in the
//! store and is tested without Wasm.

pub mod audit;
pub mod context;
pub mod entitlements;
pub mod kv;
pub mod log;
pub mod outbound_http;
