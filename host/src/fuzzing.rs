//! Entry points for fuzzing what parses untrusted bytes, shared by the `cargo fuzz` targets in
//! `fuzz/` and the seeded smoke test that runs with every test run. Each panics only when a
//! property the host relies on is broken.

use std::sync::Arc;

use crate::app::AppState;
use crate::calls::{self, Call, CallerRole, Policy};
use crate::config::Config;
use crate::contract::GuestRequest;
use crate::storage::tenants;
use crate::tenancy::changes::Change;
use crate::webhooks::signature;

const NOW: i64 = 1_800_000_000;

/// Bytes as a webhook: the part before the first `\n` is the signature header, the rest the
/// body. Verifying must not panic, and whatever the body, a signature made for it verifies
/// while the same signature over any other body does not.
pub fn webhook_signature(data: &[u8]) {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let header = String::from_utf8_lossy(&data[..split]);
    let body = data.get(split + 1..).unwrap_or_default();
    let _ = signature::verify("fuzz-secret", Some(&header), body, NOW);
    let good = signature::sign("fuzz-secret", NOW, body);
    assert_eq!(
        signature::verify("fuzz-secret", Some(&good), body, NOW),
        Ok(NOW)
    );
    let mut other = body.to_vec();
    other.push(b'x');
    assert!(signature::verify("fuzz-secret", Some(&good), &other, NOW).is_err());
}

/// A host to install fuzzed components into: each is refused, or installed and run under the
/// usual limits; either way the host keeps answering.
pub struct InstallHost {
    rt: tokio::runtime::Runtime,
    state: AppState,
    tenant: String,
    _dir: tempfile::TempDir,
}

impl Default for InstallHost {
    fn default() -> Self {
        Self::new()
    }
}

impl InstallHost {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let (state, tenant) = rt.block_on(async {
            let config = Config {
                jwt_secret: Some("fuzz-secret-fuzz-secret-fuzz-secret!".into()),
                ..Config::embedded(dir.path().to_path_buf())
            };
            let state = AppState::build(&config).await.expect("the host starts");
            let tenant = tenants::create(&state.db, "fuzz")
                .await
                .expect("a tenant")
                .id;
            (state, tenant)
        });
        Self {
            rt,
            state,
            tenant,
            _dir: dir,
        }
    }

    /// Offer `bytes` as a component; when accepted, switch it on and call it.
    pub fn install_and_run(&self, bytes: &[u8]) {
        self.rt.block_on(async {
            let Ok(installed) = self
                .state
                .runtime
                .install("fuzzed", bytes.to_vec(), None)
                .await
            else {
                return;
            };
            let on = Change::module_override(&installed.name, true);
            self.state
                .tenancy
                .change(&self.tenant, &[on], "fuzz", "fuzz", "fuzz")
                .await
                .expect("the toggle applies");
            let call = Call {
                tenant_id: self.tenant.clone(),
                actor: "fuzz".into(),
                role: CallerRole::Admin,
                request_id: "fuzz".into(),
                module: installed.name.clone(),
                request: GuestRequest {
                    method: "GET".into(),
                    path: "/ping".into(),
                    query: String::new(),
                    headers: Vec::new(),
                    body: Vec::new(),
                },
            };
            // Any outcome is fine (ok, trap, limit, timeout); returning at all is the point.
            let _ = calls::call(&self.state, call, Policy::DIRECT).await;
        });
    }

    /// The host's state, for checks after a run.
    pub fn state(&self) -> &AppState {
        &self.state
    }
}

/// Keep the type `Send + Sync` so fuzzers may hold it in a static.
const _: fn() = || {
    fn check<T: Send + Sync>() {}
    check::<Arc<InstallHost>>();
};
