//! `nova:module/entitlements`: the calling tenant's flags and modules, from the host's view.

use crate::runtime::bindings::entitlements::Host;
use crate::runtime::store::StoreData;

impl Host for StoreData {
    async fn has_feature(&mut self, flag: String) -> wasmtime::Result<bool> {
        self.charge_host_call()?;
        Ok(self.entitlements.flag_enabled(&flag))
    }

    async fn enabled_modules(&mut self) -> wasmtime::Result<Vec<String>> {
        self.charge_host_call()?;
        Ok(self.entitlements.enabled_modules())
    }
}
