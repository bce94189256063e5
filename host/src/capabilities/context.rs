//! `nova:module/context`: read-only facts about the call.

use crate::runtime::bindings::context::{Host, Info};
use crate::runtime::store::StoreData;

impl Host for StoreData {
    async fn get(&mut self) -> wasmtime::Result<Info> {
        self.enter(None)?.expect("context needs no grant");
        Ok(Info {
            tenant_id: self.call.tenant_id.clone(),
            actor: self.call.actor.clone(),
            request_id: self.call.request_id.clone(),
            module_name: self.call.module.clone(),
            module_version: self.call.version.clone(),
        })
    }
}
