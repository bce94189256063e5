//! Building the module under test for `wasm32-wasip2`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Build the crate at `crate_dir` (pass `env!("CARGO_MANIFEST_DIR")`) as a component and
/// return its bytes. Uses a target directory of its own under the crate's `target/`, so it
/// never waits on the `cargo test` that runs it.
///
/// ```no_run
/// let wasm = nova_testkit::build_component(env!("CARGO_MANIFEST_DIR")).expect("the module builds");
/// assert!(wasm.starts_with(b"\0asm"));
/// ```
pub fn build_component(crate_dir: &str) -> anyhow::Result<Vec<u8>> {
    let dir = Path::new(crate_dir);
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)?;
    let name = package_name(&text)
        .ok_or_else(|| anyhow::anyhow!("no [package] name in {}", manifest.display()))?;
    let target_dir = std::env::var_os("NOVA_TESTKIT_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_target(dir).join("nova-testkit"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "--manifest-path",
    ])
    .arg(&manifest)
    .arg("--target-dir")
    .arg(&target_dir)
    // From the crate's directory, so cargo reads its .cargo/config.toml (the wasm stack size).
    .current_dir(dir);
    // Settings of the outer (native, test) build must not leak into the Wasm build.
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_") && key != "CARGO_HOME" || key == "RUSTFLAGS" {
            cmd.env_remove(key);
        }
    }
    let status = cmd.status()?;
    anyhow::ensure!(status.success(), "building {name} for wasm32-wasip2 failed");
    let wasm = target_dir
        .join("wasm32-wasip2")
        .join("release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    std::fs::read(&wasm).map_err(|e| anyhow::anyhow!("reading {}: {e}", wasm.display()))
}

/// The `target/` next to the nearest enclosing workspace's `Cargo.lock`, else the crate's.
fn workspace_target(dir: &Path) -> PathBuf {
    dir.ancestors()
        .find(|d| d.join("Cargo.lock").exists())
        .unwrap_or(dir)
        .join("target")
}

fn package_name(toml: &str) -> Option<String> {
    let mut in_package = false;
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package && let Some(rest) = line.strip_prefix("name") {
            let value = rest.trim_start().strip_prefix('=')?.trim();
            return Some(value.trim_matches('"').to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::package_name;

    #[test]
    fn reads_the_package_name() {
        let toml = "[workspace]\nname = \"no\"\n[package]\nname = \"nova-module-pos\"\n";
        assert_eq!(package_name(toml).as_deref(), Some("nova-module-pos"));
        assert_eq!(package_name("[dependencies]\nname = 1"), None);
    }
}
