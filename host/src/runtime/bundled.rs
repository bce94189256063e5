//! The modules that ship inside the binary, and the grants they start with.

use super::Runtime;
use crate::capabilities::grants::Permissions;
use crate::storage;

impl Runtime {
    /// Install the modules that ship inside this binary, unless these exact bytes are
    /// already installed.
    pub async fn install_bundled(&self) -> anyhow::Result<()> {
        for (name, bytes) in nova_artifacts::BUNDLED_MODULES {
            let before = self.registry.get(name).map(|m| m.declared.clone());
            if let Some(v) = self.install_if_new(name, bytes).await? {
                tracing::info!(
                    module = name,
                    version = v.version,
                    "installed bundled module"
                );
            }
            let Some(module) = self.registry.get(name) else {
                continue;
            };
            // First-party modules ship with the binary the operator chose to run: they get what
            // their manifest declares, once, and what a new version declares beyond the last
            // one (a new capability is not a choice a superadmin has made yet). Their later
            // choices are never overridden.
            let grants = storage::grants::all(&self.db).await?;
            let granted = match (grants.get(*name), before) {
                (None, _) => module.declared.clone(),
                (Some(_), None) => continue,
                (Some(names), Some(before)) => {
                    let mut granted = Permissions::from_names(names);
                    let added = module.declared.difference(&before);
                    if added == Permissions::default() {
                        continue;
                    }
                    granted.capabilities.extend(added.capabilities);
                    granted.hosts.extend(added.hosts);
                    granted
                }
            };
            self.grant(name, granted, "nova").await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::app::AppState;
    use crate::config::Config;

    /// An upgrade whose bundled POS declares a capability the running one did not: the new
    /// capability is granted, and what a superadmin withdrew stays withdrawn.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bundled_module_gets_what_its_new_version_newly_declares() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            jwt_secret: Some("app-test-secret-app-test-secret-app!".into()),
            ..Config::embedded(dir.path().to_path_buf())
        };
        let state = AppState::build(&config).await.unwrap();
        // The "old" POS: a component built against nova:module@0.1.0 that declares kv,
        // audit, entitlements and outbound-http (host payments), but not clock.
        let old = include_bytes!("../../../fixtures/components/hostile-nova-module-0.1.0.wasm");
        state
            .runtime
            .install("pos", old.to_vec(), None)
            .await
            .unwrap();
        let chosen: BTreeSet<String> = ["kv", "audit", "outbound-http", "host:payments"]
            .map(String::from)
            .into();
        let mut tx = state.db.begin().await.unwrap();
        storage::grants::replace(&mut tx, "pos", &chosen, "ops")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        state.runtime.reload_grants().await.unwrap();

        state.runtime.install_bundled().await.unwrap();

        let granted = storage::grants::all(&state.db).await.unwrap()["pos"].clone();
        let expected: BTreeSet<String> = ["kv", "audit", "outbound-http", "host:payments", "clock"]
            .map(String::from)
            .into();
        assert_eq!(
            granted, expected,
            "entitlements stays withdrawn; clock is new"
        );
        assert_eq!(
            state.runtime.registry.granted("pos"),
            Permissions::from_names(&expected)
        );
        // Starting again with the same binary changes nothing.
        let mut tx = state.db.begin().await.unwrap();
        storage::grants::replace(&mut tx, "pos", &chosen, "ops")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        state.runtime.install_bundled().await.unwrap();
        assert_eq!(
            storage::grants::all(&state.db).await.unwrap()["pos"],
            chosen
        );
    }
}
