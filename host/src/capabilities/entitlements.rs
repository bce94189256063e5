//! `nova:module/entitlements`: the calling tenant's flags and modules, from the host's view.

use std::sync::Arc;

use wasmtime::component::Linker;

use super::{Unit, Using, grants::Capability};
use crate::contract::entitlements::{self as wit, Error, Host};
use crate::contract::v0_1::nova::module::entitlements as wit_0_1;
use crate::tenancy::TenantView;

/// Link `nova:module/entitlements` (both contract versions) to the tenant `get` finds in a
/// store.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> Unit<'_, Arc<TenantView>>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, Using<Arc<TenantView>>>(linker, get)?;
    wit_0_1::add_to_linker::<T, Using<Arc<TenantView>>>(linker, get)
}

impl Host for Unit<'_, Arc<TenantView>> {
    async fn has_feature(&mut self, flag: String) -> wasmtime::Result<Result<bool, Error>> {
        if let Err(denied) = self.gate.enter(Some(Capability::Entitlements))? {
            return Ok(Err(Error::Denied(denied)));
        }
        Ok(Ok(self.state.flag_enabled(&flag)))
    }

    async fn enabled_modules(&mut self) -> wasmtime::Result<Result<Vec<String>, Error>> {
        if let Err(denied) = self.gate.enter(Some(Capability::Entitlements))? {
            return Ok(Err(Error::Denied(denied)));
        }
        Ok(Ok(self.state.enabled_modules()))
    }
}
