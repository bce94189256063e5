//! Builds the first-party modules (`modules/`) and the test guests (`fixtures/guests/`) for
//! `wasm32-wasip2` with a nested cargo, so a plain `cargo build` or `cargo test` at the
//! root is all anyone needs. The nested build has its own target directory so it never
//! waits on the outer build's lock.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (workspace dir, crate name as built, name exposed to Rust, bundled into `nova`?)
const GUESTS: &[(&str, &str, &str, bool)] = &[
    ("modules", "nova_module_pos", "pos", true),
    ("modules", "nova_module_billing", "billing", true),
    ("modules", "nova_module_support", "support", true),
    ("fixtures/guests", "nova_guest_hostile", "hostile", false),
    ("fixtures/guests", "nova_guest_notes", "notes", false),
    ("fixtures/guests", "nova_guest_trivial", "trivial", false),
    (
        "fixtures/guests",
        "nova_guest_wasi_hello",
        "wasi_hello",
        false,
    ),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().to_path_buf();
    let target_dir = std::env::var_os("NOVA_GUEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target").join("wasm-guests"));
    for dir in [
        "modules",
        "fixtures/guests",
        "sdk",
        "view",
        "capability-names",
        "wit",
        ".cargo/config.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=NOVA_GUEST_TARGET_DIR");

    for workspace in ["modules", "fixtures/guests"] {
        build_workspace(&root.join(workspace), &target_dir);
    }

    let out = target_dir.join("wasm32-wasip2").join("release");
    let mut code = String::from(
        "/// Modules bundled into `nova` and installed by `nova serve`: (name, component bytes).\n",
    );
    code.push_str("pub const BUNDLED_MODULES: &[(&str, &[u8])] = &[\n");
    for (_, krate, name, bundled) in GUESTS {
        if *bundled {
            code.push_str(&format!(
                "    ({name:?}, include_bytes!({:?})),\n",
                wasm(&out, krate)
            ));
        }
    }
    code.push_str("];\n\n/// Test-only guest components.\npub mod guests {\n");
    for (_, krate, name, _) in GUESTS {
        code.push_str(&format!(
            "    /// The `{name}` component.\n    pub const {}: &[u8] = include_bytes!({:?});\n",
            name.to_uppercase(),
            wasm(&out, krate)
        ));
    }
    code.push_str(
        "    /// Every component built here, by name.\n    pub const ALL: &[(&str, &[u8])] = &[\n",
    );
    for (_, _, name, _) in GUESTS {
        code.push_str(&format!("        ({name:?}, {}),\n", name.to_uppercase()));
    }
    code.push_str("    ];\n}\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("artifacts.rs");
    std::fs::write(dest, code).unwrap();
}

fn wasm(out: &Path, krate: &str) -> String {
    let path = out.join(format!("{krate}.wasm"));
    assert!(
        path.exists(),
        "expected {} after the guest build",
        path.display()
    );
    path.display().to_string()
}

fn build_workspace(dir: &Path, target_dir: &Path) {
    // Under a toolchain override (`cargo +nightly fuzz …`) the guests still build with the
    // pinned toolchain, which has the wasm32-wasip2 target: go through rustup's `cargo`
    // and let rust-toolchain.toml choose.
    let overridden = std::env::var_os("RUSTUP_TOOLCHAIN").is_some();
    let cargo = match std::env::var("CARGO") {
        Ok(cargo) if !overridden => cargo,
        _ => "cargo".into(),
    };
    let mut cmd = Command::new(cargo);
    if overridden {
        for var in ["RUSTUP_TOOLCHAIN", "RUSTC", "RUSTDOC"] {
            cmd.env_remove(var);
        }
    }
    cmd.current_dir(dir)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--workspace",
        ])
        .arg("--target-dir")
        .arg(target_dir);
    // The outer build's flags and wrappers (clippy, coverage) are for the host, not guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CLIPPY_ARGS",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("running cargo for {}: {e}", dir.display()));
    assert!(
        status.success(),
        "building the guests in {} failed",
        dir.display()
    );
}
