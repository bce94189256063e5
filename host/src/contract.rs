//! The `nova:module` contracts the host serves, as host-side types: `0.2.0`, the current
//! one, and `0.1.0`, frozen as it shipped (a component built against it keeps running;
//! `capabilities::v0_1` serves its imports with the current units).
//!
//! Imports are async (kv reads go to the database) and trappable: a host function returns
//! `Ok(Err(e))` for an error the guest sees, and `Err(trap)` to stop the guest.

/// `nova:module@0.1.0`, as shipped.
pub(crate) mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/module-0.1.0",
        world: "module",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// `nova:module@0.2.0`: adds the `denied` case to every refusable interface, and `clock`.
pub(crate) mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../wit/module-0.2.0",
        world: "module",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

pub use v0_2::exports::nova::module::handler::{
    Request as GuestRequest, Response as GuestResponse,
};
pub use v0_2::nova::module::{audit, clock, context, entitlements, kv, log, outbound_http};
