//! `nova:module/entitlements`: the calling tenant's flags and modules, from the host's view.

use crate::runtime::bindings::entitlements::{Error, Host};
use crate::runtime::manifest::Capability;
use crate::runtime::store::StoreData;

impl Host for StoreData {
    async fn has_feature(&mut self, flag: String) -> wasmtime::Result<Result<bool, Error>> {
        if let Err(denied) = self.enter(Some(Capability::Entitlements))? {
            return Ok(Err(Error::Denied(denied)));
        }
        Ok(Ok(self.entitlements.flag_enabled(&flag)))
    }

    async fn enabled_modules(&mut self) -> wasmtime::Result<Result<Vec<String>, Error>> {
        if let Err(denied) = self.enter(Some(Capability::Entitlements))? {
            return Ok(Err(Error::Denied(denied)));
        }
        Ok(Ok(self.entitlements.enabled_modules()))
    }
}
