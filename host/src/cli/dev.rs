//! `nova dev [DIR]`: a module author's loop in one command. Builds the module in DIR for
//! `wasm32-wasip2`, runs a throwaway server on its own data directory (kept between runs,
//! under the crate's target directory), installs the module granted what it declares, makes
//! a demo restaurant with the module on and prints a ready token and a curl line; then
//! rebuilds and reinstalls on every source change, keeping the data.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use clap::Args;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::app::AppState;
use crate::auth::{Role, password};
use crate::config::Config;
use crate::runtime::engine::WasmEngine;
use crate::runtime::valid_module_name;
use crate::storage::{tenants, users};
use crate::tenancy::changes::Change;

/// `nova dev [DIR]`
#[derive(Debug, Args)]
pub(crate) struct DevArgs {
    /// The module's crate (where its Cargo.toml is).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Address the throwaway server listens on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// The name to install the module as (default: the crate's name, `_` as `-`).
    #[arg(long)]
    name: Option<String>,
}

/// What `cargo metadata` says about the crate.
struct Crate {
    /// The package name, as the `.wasm` file is named (`-` as `_`).
    package: String,
    target_dir: PathBuf,
}

/// The demo restaurant of a data directory, kept in `dev.json` so a second run reuses it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Demo {
    tenant_id: String,
    email: String,
    password: String,
}

/// How often the sources are looked at. Polling, not file events: it sees edits on every
/// filesystem (bind mounts and network shares included) and costs a few `stat` calls.
const LOOK_EVERY: Duration = Duration::from_millis(300);

pub(crate) async fn run(args: DevArgs, call_deadline_ms: u64) -> anyhow::Result<()> {
    let dir = args
        .dir
        .canonicalize()
        .with_context(|| format!("no module crate at {}", args.dir.display()))?;
    let krate = metadata(&dir)?;
    let module = args.name.unwrap_or_else(|| krate.package.replace('_', "-"));
    anyhow::ensure!(
        valid_module_name(&module),
        "{module:?} is not a module name (a-z, 0-9, '-'): pass --name"
    );
    let data_dir = krate.target_dir.join("nova-dev");
    let config = Config {
        call_deadline_ms,
        ..Config::embedded(data_dir.clone())
    };
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {} (pass --listen)", args.listen))?;
    let base = format!("http://{}", listener.local_addr()?);

    let started = Instant::now();
    let wasm = build(&dir, &krate).await?;
    let state = AppState::build(&config).await?;
    let mut last = None;
    let version = install(&state, &module, &wasm, &mut last).await?;
    let demo = demo(&state, &module, &data_dir).await?;
    let user = users::credentials(&state.db, &demo.email)
        .await?
        .context("the demo user is gone: delete the nova-dev directory to start afresh")?
        .user;
    let token = state
        .keys
        .issue(&user.id, &demo.email, Role::Admin, Some(&demo.tenant_id))?;
    let shutdown = super::serve::shutdown_signal();
    println!(
        "nova dev: {module} version {version} is running ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    println!(
        "  server  {base}  (data in {}, kept between runs)",
        data_dir.display()
    );
    println!("  tenant  Demo Restaurant, with {module} switched on");
    println!(
        "  portal  {base}/app/  (sign in as {} / {})",
        demo.email, demo.password
    );
    println!("  token   {token}");
    println!(
        "  try     curl -H \"authorization: Bearer {token}\" {base}/v1/portal/{module}/_views"
    );
    println!(
        "watching {} for changes; Ctrl-C stops",
        dir.join("src").display()
    );

    let app = crate::http::router(state.clone());
    let server = crate::http::server::serve(
        listener,
        app,
        crate::http::server::ServerLimits::default(),
        shutdown,
    );
    tokio::select! {
        served = server => served?,
        watched = watch(&state, &dir, &krate, &module, last) => watched?,
    }
    state.close().await;
    Ok(())
}

/// The crate's package name and target directory, from cargo itself (so a workspace or
/// `CARGO_TARGET_DIR` is honoured).
fn metadata(dir: &Path) -> anyhow::Result<Crate> {
    let out = std::process::Command::new("cargo")
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(dir)
        .output()
        .context("running cargo (is it on PATH?)")?;
    anyhow::ensure!(
        out.status.success(),
        "{} is not a cargo crate: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let manifest = dir.join("Cargo.toml");
    let package = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["manifest_path"].as_str().map(Path::new) == Some(manifest.as_path()))
        .or_else(|| meta["packages"].get(0))
        .and_then(|p| p["name"].as_str())
        .context("cargo metadata names no package")?;
    let target_dir = meta["target_directory"]
        .as_str()
        .context("cargo metadata names no target directory")?;
    Ok(Crate {
        package: package.to_string(),
        target_dir: PathBuf::from(target_dir),
    })
}

/// Build the component (the dev profile: it compiles fastest) and read it.
async fn build(dir: &Path, krate: &Crate) -> anyhow::Result<Vec<u8>> {
    let status = tokio::process::Command::new("cargo")
        .args(["build", "--target", "wasm32-wasip2"])
        .current_dir(dir)
        .status()
        .await
        .context("running cargo build")?;
    anyhow::ensure!(status.success(), "the module did not build");
    let file = krate
        .target_dir
        .join("wasm32-wasip2/debug")
        .join(format!("{}.wasm", krate.package.replace('-', "_")));
    std::fs::read(&file).with_context(|| format!("reading {}", file.display()))
}

/// Install `wasm` as the next version unless it is the one this run installed last (a
/// rebuild after an edit to a comment), and grant what it declares. Answers the active
/// version. A revert installs again rather than reactivating an old version: the newest
/// version is always what the sources say.
async fn install(
    state: &AppState,
    module: &str,
    wasm: &[u8],
    last: &mut Option<String>,
) -> anyhow::Result<i64> {
    let hash = WasmEngine::content_hash(wasm);
    if last.as_deref() != Some(hash.as_str()) {
        state
            .runtime
            .install(module, wasm.to_vec(), Some("nova-dev"))
            .await?;
        *last = Some(hash);
    }
    state.runtime.grant_declared(module, "nova-dev").await
}

/// The demo restaurant with `module` on, and its admin; made once per data directory.
async fn demo(state: &AppState, module: &str, data_dir: &Path) -> anyhow::Result<Demo> {
    let file = data_dir.join("dev.json");
    let kept: Option<Demo> = std::fs::read(&file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let demo = match kept {
        Some(d) if tenants::get(&state.db, &d.tenant_id).await?.is_some() => d,
        _ => {
            let tenant = tenants::create(&state.db, "Demo Restaurant").await?;
            let password: String = {
                use rand::Rng;
                rand::thread_rng()
                    .sample_iter(&rand::distributions::Alphanumeric)
                    .take(16)
                    .map(char::from)
                    .collect()
            };
            let email = format!("dev@{}.test", &tenant.id[..8]);
            let hash = password::hash(&password)?;
            users::create(
                &state.db,
                Some(&tenant.id),
                &email,
                &hash,
                Role::Admin.as_str(),
            )
            .await?;
            let demo = Demo {
                tenant_id: tenant.id,
                email,
                password,
            };
            std::fs::write(&file, serde_json::to_vec_pretty(&demo)?)?;
            demo
        }
    };
    state
        .tenancy
        .change(
            &demo.tenant_id,
            &[Change::module_override(module, true)],
            "nova-dev",
            "",
            "nova dev",
        )
        .await
        .map_err(|e| anyhow::anyhow!("switching {module} on: {e:?}"))?;
    Ok(demo)
}

/// Rebuild and reinstall whenever the sources change; a failed build keeps the running
/// version.
async fn watch(
    state: &AppState,
    dir: &Path,
    krate: &Crate,
    module: &str,
    mut last: Option<String>,
) -> anyhow::Result<()> {
    let mut seen = fingerprint(dir);
    loop {
        tokio::time::sleep(LOOK_EVERY).await;
        let now = fingerprint(dir);
        if now == seen {
            continue;
        }
        seen = now;
        let started = Instant::now();
        println!("change seen: rebuilding {module}");
        match build(dir, krate).await {
            Ok(wasm) => match install(state, module, &wasm, &mut last).await {
                Ok(version) => println!(
                    "{module} version {version} is running ({:.1} s)",
                    started.elapsed().as_secs_f64()
                ),
                Err(e) => {
                    println!("{module} was not installed: {e:#}; the last version keeps running")
                }
            },
            Err(e) => println!("{e:#}; the last version keeps running"),
        }
    }
}

/// What the build reads: every file under `src/` and `wit/`, and `Cargo.toml`, by path, size
/// and modification time.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join("src"), dir.join("wit"), dir.join("Cargo.toml")];
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        } else {
            out.push((path, meta.len(), meta.modified().ok()));
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    #[test]
    fn a_change_under_src_changes_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/nested")).unwrap();
        std::fs::write(dir.path().join("src/lib.rs"), "a").unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[package]").unwrap();
        let before = fingerprint(dir.path());
        assert_eq!(before.len(), 2);
        assert_eq!(before, fingerprint(dir.path()), "nothing changed");
        std::fs::write(dir.path().join("src/nested/more.rs"), "b").unwrap();
        assert_ne!(before, fingerprint(dir.path()), "a new file");
        let with_new = fingerprint(dir.path());
        std::fs::write(dir.path().join("src/lib.rs"), "ab").unwrap();
        assert_ne!(with_new, fingerprint(dir.path()), "an edit");
        // The build's own output is not a source.
        let edited = fingerprint(dir.path());
        std::fs::create_dir_all(dir.path().join("target")).unwrap();
        std::fs::write(dir.path().join("target/x.wasm"), "c").unwrap();
        assert_eq!(edited, fingerprint(dir.path()));
    }
}
