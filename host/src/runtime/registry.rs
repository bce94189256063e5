//! The modules this host can run: for each name, the active version's `InstancePre`.
//!
//! Installing swaps the `Arc` for the name; calls already running keep the version they
//! started with, and every new call gets the new one.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::metrics::ModuleMetrics;
use super::module_pre::ModulePre;
use crate::capabilities::grants::Permissions;

/// A compiled, linked module version ready to instantiate.
pub struct LoadedModule {
    pub(crate) name: String,
    pub version: i64,
    pub(crate) version_id: String,
    pub(crate) pre: ModulePre,
    pub(crate) metrics: ModuleMetrics,
    /// The capabilities and hosts its manifest declares.
    pub declared: Permissions,
    /// Its manifest lets a tenant's calls run in a warm instance (`instances=reuse`).
    pub(crate) reuse_instances: bool,
}

/// Name → active version, and (tenant, name) → pinned version.
#[derive(Default)]
pub struct Registry {
    modules: RwLock<HashMap<String, Arc<LoadedModule>>>,
    pins: RwLock<HashMap<(String, String), Arc<LoadedModule>>>,
    grants: RwLock<HashMap<String, Permissions>>,
}

impl Registry {
    /// The active version of `name`, if installed.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedModule>> {
        self.modules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Make `module` the active version of its name.
    pub(crate) fn activate(&self, module: LoadedModule) {
        let mut map = self.modules.write().unwrap_or_else(|p| p.into_inner());
        map.insert(module.name.clone(), Arc::new(module));
    }

    /// The version `tenant` runs: its pin if it has one, else the active version.
    pub(crate) fn get_for(&self, tenant: &str, name: &str) -> Option<Arc<LoadedModule>> {
        let pins = self.pins.read().unwrap_or_else(|p| p.into_inner());
        if !pins.is_empty()
            && let Some(m) = pins.get(&(tenant.to_string(), name.to_string()))
        {
            return Some(m.clone());
        }
        drop(pins);
        self.get(name)
    }

    /// Pin `tenant` to `module` (or remove the pin with `None`).
    pub(crate) fn set_pin(&self, tenant: &str, name: &str, module: Option<LoadedModule>) {
        let mut pins = self.pins.write().unwrap_or_else(|p| p.into_inner());
        let key = (tenant.to_string(), name.to_string());
        match module {
            Some(m) => pins.insert(key, Arc::new(m)),
            None => pins.remove(&key),
        };
    }

    /// The version pinned for `tenant`, if any.
    pub(crate) fn pinned(&self, tenant: &str, name: &str) -> Option<Arc<LoadedModule>> {
        let pins = self.pins.read().unwrap_or_else(|p| p.into_inner());
        pins.get(&(tenant.to_string(), name.to_string())).cloned()
    }

    /// Keep only the pins for which `keep` says yes.
    pub(crate) fn retain_pins(&self, keep: impl Fn(&(String, String)) -> bool) {
        self.pins
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, _| keep(k));
    }

    /// What a superadmin granted to `name` (empty: nothing, the default).
    pub(crate) fn granted(&self, name: &str) -> Permissions {
        let grants = self.grants.read().unwrap_or_else(|p| p.into_inner());
        grants.get(name).cloned().unwrap_or_default()
    }

    /// Replace what `name` is granted.
    pub fn set_grants(&self, name: &str, caps: Permissions) {
        let mut grants = self.grants.write().unwrap_or_else(|p| p.into_inner());
        grants.insert(name.to_string(), caps);
    }

    /// Names of every loaded module.
    pub fn names(&self) -> Vec<String> {
        let map = self.modules.read().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<String> = map.keys().cloned().collect();
        names.sort();
        names
    }
}
