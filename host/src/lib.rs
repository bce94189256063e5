//! Nova: a multi-tenant host that runs restaurant software modules as sandboxed
//! WebAssembly components, switched on and off per tenant at runtime, every call audited.

pub mod app;
pub mod auth;
pub mod billing;
pub mod calls;
pub mod capabilities;
pub mod cli;
pub mod config;
pub mod contract;
pub mod error_code;
pub mod fuzzing;
pub mod http;
pub mod jobs;
pub mod limits;
pub mod mail;
pub mod proxies;
pub mod replicas;
pub mod runtime;
pub mod sandbox;
pub mod storage;
pub mod support;
pub mod telemetry;
pub mod tenancy;
pub mod webhooks;
