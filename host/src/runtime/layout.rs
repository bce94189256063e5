//! Where a component's data lies in its linear memory, against the part of each memory slot
//! the host keeps resident (`engine::KEEP_RESIDENT`). A module whose data lies past it
//! (Rust's default 1 MiB stack comes first) still runs, but every fresh instance faults its
//! pages in again; install says so in the log, with the fix.

use super::engine::KEEP_RESIDENT;

/// The end of the highest active data segment at a constant offset, over every core module
/// in the component, in bytes from the start of its memory (`None`: no such segment, or the
/// bytes do not parse).
pub(crate) fn data_end(component: &[u8]) -> Option<u64> {
    let mut end = None;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        let wasmparser::Payload::DataSection(reader) = payload.ok()? else {
            continue;
        };
        for data in reader {
            let data = data.ok()?;
            let wasmparser::DataKind::Active { offset_expr, .. } = data.kind else {
                continue;
            };
            let offset = match offset_expr.get_operators_reader().read().ok()? {
                wasmparser::Operator::I32Const { value } => u64::from(value as u32),
                wasmparser::Operator::I64Const { value } => value as u64,
                _ => continue,
            };
            let segment_end = offset + data.data.len() as u64;
            end = Some(end.map_or(segment_end, |e: u64| e.max(segment_end)));
        }
    }
    end
}

/// Log a warning when `name`'s data lies past what the host keeps resident.
pub(crate) fn warn_if_past_resident(name: &str, component: &[u8]) {
    if let Some(end) = data_end(component)
        && end > KEEP_RESIDENT as u64
    {
        tracing::warn!(
            module = name,
            data_end = end,
            keep_resident = KEEP_RESIDENT,
            "module's data lies past the memory kept resident between instances, so each fresh instance starts with page faults: link it with a smaller wasm stack (rustflags \"-C link-arg=-zstack-size=65536\" for wasm32-wasip2, docs/MODULE_AUTHORS.md)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module built here is linked with the small stack (`.cargo/config.toml` of
    /// `modules/` and `fixtures/guests/`), so its data and first heap pages lie in the memory
    /// kept resident: lose that line and this fails.
    #[test]
    fn built_modules_keep_their_data_in_resident_memory() {
        use nova_artifacts::guests::*;
        for (name, bytes) in [
            ("pos", POS),
            ("billing", BILLING),
            ("support", SUPPORT),
            ("hostile", HOSTILE),
            ("notes", NOTES),
            ("trivial", TRIVIAL),
            ("wasi_hello", WASI_HELLO),
        ] {
            let end = data_end(bytes).unwrap_or_else(|| panic!("{name} has data"));
            // Room for the first heap pages, past the stack and data.
            assert!(
                end <= KEEP_RESIDENT as u64 / 2,
                "{name}'s data ends at {end}, past half of {KEEP_RESIDENT}"
            );
        }
    }

    /// The same module linked with Rust's default stack (1 MiB, first) has its data there.
    #[test]
    fn reads_where_the_data_lies() {
        let wat = r#"(module (memory 17)
            (data (i32.const 1048576) "abcd")
            (data (i32.const 16) "xy"))"#;
        let module = wat::parse_str(wat).unwrap();
        assert_eq!(data_end(&module), Some(1_048_580));
        assert_eq!(data_end(&wat::parse_str("(module)").unwrap()), None);
        assert_eq!(data_end(b"not wasm"), None);
    }
}
