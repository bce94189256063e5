//! Host capabilities, one unit per WIT interface: each keeps its per-call state in the store,
//! implements its interface's `Host` trait starting with [`StoreData::enter`] (the host-call
//! budget and the grant, checked in one place; a refusal is the interface's `denied` case),
//! and is tested without Wasm. `v0_1` serves the frozen `nova:module@0.1.0` imports with
//! the same units.
//!
//! [`StoreData::enter`]: crate::runtime::store::StoreData::enter

pub mod audit;
pub mod clock;
pub mod context;
pub mod entitlements;
pub mod kv;
pub mod log;
pub mod outbound_http;
pub mod v0_1;
