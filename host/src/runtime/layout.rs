//! Where a component's statics end in its linear memory, against the part of each memory
//! slot the host keeps resident (`engine::KEEP_RESIDENT`). A module whose statics end past it
//! (Rust's default 1 MiB stack comes first) still runs, but on a kernel without PAGEMAP_SCAN,
//! where the host keeps the slot's first pages rather than its written ones (and on one with
//! it, once lower written pages fill the budget), every fresh instance faults its pages in
//! again; install says so in the log, with the fix.

use super::engine::KEEP_RESIDENT;

/// The largest initial size of a memory the component's core modules define, in bytes
/// (`None`: none defined, or the bytes do not parse). The linker sizes it to hold the stack,
/// the data and the zero-initialised statics, so the heap starts there.
pub(crate) fn initial_memory(component: &[u8]) -> Option<u64> {
    let mut largest = None;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        let wasmparser::Payload::MemorySection(reader) = payload.ok()? else {
            continue;
        };
        for memory in reader {
            let memory = memory.ok()?;
            let page = 1u64 << memory.page_size_log2.unwrap_or(16);
            let bytes = memory.initial.saturating_mul(page);
            largest = Some(largest.map_or(bytes, |l: u64| l.max(bytes)));
        }
    }
    largest
}

/// Log a warning when `name`'s statics end past what the host keeps resident.
pub(crate) fn warn_if_past_resident(name: &str, component: &[u8]) {
    if let Some(initial) = initial_memory(component)
        && initial > KEEP_RESIDENT as u64
    {
        tracing::warn!(
            module = name,
            initial_memory = initial,
            keep_resident = KEEP_RESIDENT,
            "module's stack and statics end past the memory kept resident between instances, so on a host without PAGEMAP_SCAN each fresh instance starts with page faults: link it with a smaller wasm stack (rustflags \"-C link-arg=-zstack-size=65536\" for wasm32-wasip2) or fewer large statics (docs/MODULE_AUTHORS.md, \"Stack size\")"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module built here is linked with the small stack (the repository's
    /// `.cargo/config.toml`), so its stack and statics end with room for a heap page inside
    /// the memory kept resident: lose that line and this fails.
    #[test]
    fn built_modules_start_inside_resident_memory() {
        for (name, bytes) in nova_artifacts::guests::ALL {
            let initial = initial_memory(bytes).unwrap_or_else(|| panic!("{name} has a memory"));
            assert!(
                initial + (64 << 10) <= KEEP_RESIDENT as u64,
                "{name}'s memory starts at {initial} bytes, leaving no heap page in {KEEP_RESIDENT}"
            );
        }
    }

    /// Rust's default stack (1 MiB, first) makes 17 pages; an imported memory is not counted.
    #[test]
    fn reads_the_initial_memory() {
        let defined = wat::parse_str("(module (memory 17) (data (i32.const 1048576) \"abcd\"))");
        assert_eq!(initial_memory(&defined.unwrap()), Some(17 << 16));
        let imported = wat::parse_str(r#"(module (import "env" "memory" (memory 40)))"#);
        assert_eq!(initial_memory(&imported.unwrap()), None);
        assert_eq!(initial_memory(b"not wasm"), None);
    }
}
