//! Nova's WebAssembly artifacts, built for `wasm32-wasip2` by this crate's build script.
//!
//! `BUNDLED_MODULES` ship inside the `nova` binary; the `guests` are test-only components
//! (hostile and trivial guests) used by the host's tests and benchmarks.

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
