//! Arbitrary bytes offered as a component: refused, or installed and run under limits.
#![no_main]

use std::sync::OnceLock;

static HOST: OnceLock<nova::fuzzing::InstallHost> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    HOST.get_or_init(nova::fuzzing::InstallHost::new)
        .install_and_run(data);
});
