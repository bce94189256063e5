//! `nova:module/context`: read-only facts about the call, which the gate holds.

use wasmtime::component::{HasSelf, Linker};

use super::gate::Gate;
use crate::contract::context::{self as wit, Host, Info};
use crate::contract::v0_1::nova::module::context as wit_0_1;

/// Link `nova:module/context` (both contract versions) to the gate `get` finds in a store.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut Gate,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasSelf<Gate>>(linker, get)?;
    wit_0_1::add_to_linker::<T, HasSelf<Gate>>(linker, get)
}

impl Host for Gate {
    async fn get(&mut self) -> wasmtime::Result<Info> {
        self.enter(None)?.expect("context needs no grant");
        let c = &self.call;
        Ok(Info {
            tenant_id: c.tenant_id.clone(),
            actor: c.actor.clone(),
            request_id: c.request_id.clone(),
            module_name: c.module.clone(),
            module_version: c.version.clone(),
        })
    }

    async fn role(&mut self) -> wasmtime::Result<String> {
        self.enter(None)?.expect("context needs no grant");
        Ok(self.call.role.as_str().to_string())
    }
}
