//! `nova:module/entitlements`: the calling tenant's flags and modules, from the host's view.

use crate::runtime::bindings::entitlements::Host;
use crate::runtime::manifest::Capability;
use crate::runtime::store::StoreData;

impl Host for StoreData {
    async fn has_feature(&mut self, flag: String) -> wasmtime::Result<bool> {
        self.charge_host_call()?;
        // No error type here: an ungranted module is told "no feature" (and it is audited).
        Ok(self.allowed(Capability::Entitlements) && self.entitlements.flag_enabled(&flag))
    }

    async fn enabled_modules(&mut self) -> wasmtime::Result<Vec<String>> {
        self.charge_host_call()?;
        if !self.allowed(Capability::Entitlements) {
            return Ok(Vec::new());
        }
        Ok(self.entitlements.enabled_modules())
    }
}
