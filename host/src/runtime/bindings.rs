//! Host-side bindings for every `nova:module` contract the host serves, and every
//! `bindgen!` with them: `0.2.0`, the current one, and `0.1.0`, frozen as it shipped (a
//! component built against it keeps running; `capabilities::v0_1` serves its imports with
//! the current capabilities).
//!
//! Imports are async (kv reads go to the database) and trappable: a host function returns
//! `Ok(Err(e))` for an error the guest sees, and `Err(trap)` to stop the guest.

use wasmtime::Store;
use wasmtime::component::InstancePre;

use super::store::StoreData;

/// `nova:module@0.1.0`, as shipped.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/module-0.1.0",
        world: "module",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// `nova:module@0.2.0`: adds the `denied` case to every refusable interface, and `clock`.
pub mod v0_2 {
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

/// A linked module version ready to instantiate, with the contract it was built against.
#[derive(Clone)]
pub enum ModulePre {
    V0_1(v0_1::ModulePre<StoreData>),
    V0_2(v0_2::ModulePre<StoreData>),
}

impl ModulePre {
    /// Which contract `pre`'s component exports its handler for: the newest that fits.
    pub fn new(pre: InstancePre<StoreData>) -> wasmtime::Result<Self> {
        match v0_2::ModulePre::new(pre.clone()) {
            Ok(current) => Ok(Self::V0_2(current)),
            Err(current) => v0_1::ModulePre::new(pre)
                .map(Self::V0_1)
                .map_err(|_| current),
        }
    }

    /// The contract's version, as in `nova:module@0.2.0`.
    pub fn contract(&self) -> &'static str {
        match self {
            Self::V0_1(_) => "0.1.0",
            Self::V0_2(_) => "0.2.0",
        }
    }

    /// Instantiate in `store` and call the handler with `req`.
    pub async fn handle(
        &self,
        store: &mut Store<StoreData>,
        req: &GuestRequest,
    ) -> wasmtime::Result<GuestResponse> {
        match self {
            Self::V0_2(pre) => {
                let instance = pre.instantiate_async(&mut *store).await?;
                instance.nova_module_handler().call_handle(store, req).await
            }
            Self::V0_1(pre) => {
                use v0_1::exports::nova::module::handler as old;
                let instance = pre.instantiate_async(&mut *store).await?;
                let req = old::Request {
                    method: req.method.clone(),
                    path: req.path.clone(),
                    query: req.query.clone(),
                    headers: req.headers.clone(),
                    body: req.body.clone(),
                };
                let resp = instance
                    .nova_module_handler()
                    .call_handle(store, &req)
                    .await?;
                Ok(GuestResponse {
                    status: resp.status,
                    headers: resp.headers,
                    body: resp.body,
                })
            }
        }
    }
}
