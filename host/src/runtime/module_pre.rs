//! A linked module version, whichever `nova:module` contract its component was built
//! against.

use wasmtime::Store;
use wasmtime::component::InstancePre;

use super::store::StoreData;
use crate::contract::{GuestRequest, GuestResponse, v0_1, v0_2};

/// A linked module version ready to instantiate, with the contract it was built against.
#[derive(Clone)]
pub enum ModulePre {
    V0_1(v0_1::ModulePre<StoreData>),
    V0_2(v0_2::ModulePre<StoreData>),
}

/// One instance of a module version, callable as many times as its store lives.
pub enum ModuleInstance {
    V0_1(v0_1::Module),
    V0_2(v0_2::Module),
}

impl ModulePre {
    /// Which contract `pre`'s component exports its handler for: the newest that fits.
    pub(crate) fn new(pre: InstancePre<StoreData>) -> wasmtime::Result<Self> {
        match v0_2::ModulePre::new(pre.clone()) {
            Ok(current) => Ok(Self::V0_2(current)),
            Err(current) => v0_1::ModulePre::new(pre)
                .map(Self::V0_1)
                .map_err(|_| current),
        }
    }

    /// A new instance in `store`.
    pub async fn instantiate(
        &self,
        store: &mut Store<StoreData>,
    ) -> wasmtime::Result<ModuleInstance> {
        Ok(match self {
            Self::V0_2(pre) => ModuleInstance::V0_2(pre.instantiate_async(store).await?),
            Self::V0_1(pre) => ModuleInstance::V0_1(pre.instantiate_async(store).await?),
        })
    }

    /// Instantiate in `store` and call the handler with `req`.
    pub async fn handle(
        &self,
        store: &mut Store<StoreData>,
        req: &GuestRequest,
    ) -> wasmtime::Result<GuestResponse> {
        self.instantiate(store).await?.handle(store, req).await
    }
}

impl ModuleInstance {
    /// Call the handler with `req`.
    pub async fn handle(
        &self,
        store: &mut Store<StoreData>,
        req: &GuestRequest,
    ) -> wasmtime::Result<GuestResponse> {
        match self {
            Self::V0_2(instance) => instance.nova_module_handler().call_handle(store, req).await,
            Self::V0_1(instance) => {
                use v0_1::exports::nova::module::handler as old;
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
