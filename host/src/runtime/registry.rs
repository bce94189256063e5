//! The modules this host can run: for each name, the active version's `InstancePre`.
//!
//! Installing swaps the `Arc` for the name; calls already running keep the version they
//! started with, and every new call gets the new one.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::bindings::ModulePre;
use super::metrics::ModuleMetrics;
use super::store::StoreData;

/// A compiled, linked module version ready to instantiate.
pub struct LoadedModule {
    pub name: String,
    pub version: i64,
    pub version_id: String,
    pub content_hash: String,
    pub pre: ModulePre<StoreData>,
    pub metrics: ModuleMetrics,
}

/// Name → active version.
#[derive(Default)]
pub struct Registry {
    modules: RwLock<HashMap<String, Arc<LoadedModule>>>,
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
    pub fn activate(&self, module: LoadedModule) {
        let mut map = self.modules.write().unwrap_or_else(|p| p.into_inner());
        map.insert(module.name.clone(), Arc::new(module));
    }

    /// Names of every loaded module.
    pub fn names(&self) -> Vec<String> {
        let map = self.modules.read().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<String> = map.keys().cloned().collect();
        names.sort();
        names
    }
}
