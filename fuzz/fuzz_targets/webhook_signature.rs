//! Signature headers and bodies from the network: verifying must never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nova::fuzzing::webhook_signature(data);
});
