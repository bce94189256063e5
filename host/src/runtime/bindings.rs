//! Host-side bindings for the `nova:module@0.1.0` world: every `bindgen!` lives here.
//!
//! Imports are async (kv reads go to the database) and trappable: a host function returns
//! `Ok(Err(e))` for an error the guest sees, and `Err(trap)` to stop the guest.

wasmtime::component::bindgen!({
    path: "../wit/module",
    world: "module",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use self::nova::module::{audit, context, entitlements, kv, log, outbound_http};
pub use exports::nova::module::handler::{Request as GuestRequest, Response as GuestResponse};
