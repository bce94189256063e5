//! Nova: a multi-tenant host that runs restaurant software modules as sandboxed
//! WebAssembly components, switched on and off per tenant at runtime, every call audited.
//!
//! The public API is what embeds the host: the `nova` binary (`cli`), the test kit
//! (`app`, `calls`, `capabilities`, `contract`), the fuzz targets (`fuzzing`) and the
//! integration tests and benches. Everything else is `pub(crate)`, and `unreachable_pub`
//! keeps it that way.

#![warn(unreachable_pub)]

pub mod app;
pub mod auth;
pub mod billing;
pub mod calls;
pub mod capabilities;
pub mod cli;
pub mod config;
pub mod contract;
pub(crate) mod error_code;
pub mod exports;
pub mod fuzzing;
pub mod http;
pub mod jobs;
pub(crate) mod limits;
pub(crate) mod mail;
pub(crate) mod proxies;
pub mod replicas;
pub mod runtime;
pub mod sandbox;
pub mod storage;
pub mod support;
pub(crate) mod telemetry;
pub mod tenancy;
pub mod testing;
pub(crate) mod traces;
pub mod webhooks;

pub use telemetry::{HeapStats, set_heap_stats};
