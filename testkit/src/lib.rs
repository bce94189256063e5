//! # nova-testkit: test a Nova module in plain `cargo test`
//!
//! [`TestHost`] is a real Nova host for your test: `nova test-host`, the same runtime,
//! limits, capability grants, kv transactions and audit trail as `nova serve`, on a
//! throw-away SQLite database, in a process of its own. Install your component, make
//! tenants, call routes, and look at what the module stored, audited and recorded. Outbound
//! HTTP is answered by stubs you register.
//!
//! The host runs out of process so your tests never compile it: the kit is a small HTTP
//! client, and a new module's first `cargo test` builds in about a minute instead of the
//! twenty a host with its Wasm compiler takes. It needs the `nova` binary: `NOVA_BIN`, else
//! `nova` on `PATH` (a crate made by `nova module new` sets `NOVA_BIN` to the binary that
//! made it, in `.cargo/config.toml`).
//!
//! ```no_run
//! use nova_testkit::{TestHost, build_component};
//! use serde_json::json;
//!
//! let wasm = build_component(env!("CARGO_MANIFEST_DIR")).unwrap();
//! let host = TestHost::new();
//! host.install("notes", &wasm);
//! let cafe = host.tenant("Cafe");
//! let reply = host.call(&cafe, "notes", "POST", "/notes", Some(json!({"text": "hi"})));
//! assert_eq!(reply.status, 201, "{}", reply.text());
//! assert_eq!(host.audit(&cafe)[0].action, "notes.created");
//! ```
#![deny(missing_docs)]

mod component;
mod host;
mod stubs;

pub use component::build_component;
pub use host::{AuditRecord, InvocationRecord, Reply, Tenant, TestHost};
pub use stubs::StubRequest;
