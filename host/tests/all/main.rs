//! Nova's integration tests, in one binary so the suite links the host once (as wasmtime's
//! `tests/all` does). Each module is one area; `common` is the shared harness.
//!
//! Three tests keep a binary of their own because they must not share the machine with the
//! rest: `tests/noisy_neighbour.rs` and `tests/registration_flood.rs` measure latency, and
//! `tests/dev_loop.rs` runs cargo builds.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod access;
mod activity;
mod audit_docs;
mod authz;
mod backups;
mod bad_input;
mod billing;
mod billing_worker;
mod cli_e2e;
mod clock;
mod concurrency;
mod console;
mod console_access;
mod console_changes;
mod contract_0_1;
mod crash;
mod deploy_manifests;
mod exports;
mod fresh_instances;
mod fuzz_smoke;
mod grants;
mod hostile;
mod kill_switch;
mod metric_labels;
mod monitoring;
mod openapi;
mod payments;
mod pool;
mod portal;
mod pos_cli;
mod probing;
mod replicas;
mod retention;
mod slow_clients;
mod support;
mod tenancy;
mod tenant_list;
mod tenant_portal;
mod traces;
mod versions;
mod views;
mod warm_instances;
