//! `nova test-host`: the host `nova-testkit` drives from a module's `cargo test`, in a process
//! of its own so the module's tests never compile the host. It is `nova serve` on a
//! throw-away SQLite database, with control routes under `/_testkit` that do what a test
//! needs in one request (install granted, make a tenant with its token, read kv, audit and
//! invocation records, call as the host's own actors), and every outbound request of a module
//! sent to the test's stub server.
//!
//! It listens on loopback only and exits when its standard input closes, so a test process
//! that dies takes it along.

mod forward;
mod routes;

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use crate::app::AppState;
use crate::config::Config;

pub(crate) use forward::Forward;

/// `nova test-host`
#[derive(Debug, Args)]
pub struct TestHostArgs {
    /// Where modules' outbound requests go: `http://{name}/{path}` becomes
    /// `{stub-url}/{name}/{path}`. Without it, every outbound request fails.
    #[arg(long)]
    stub_url: Option<String>,
    /// The compile cache, shared between runs (default: `nova-testkit` in the user's cache
    /// directory, `$XDG_CACHE_HOME` or `~/.cache`; without either, one per run).
    #[arg(long)]
    compile_cache: Option<PathBuf>,
}

/// `nova-testkit` under the user's cache directory, created private to the user.
fn user_cache() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    let dir = base.join("nova-testkit");
    std::fs::create_dir_all(&dir).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).ok()?;
    }
    Some(dir)
}

/// Serve until standard input closes.
pub async fn run(args: TestHostArgs, call_deadline_ms: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // Compiled modules are loaded as native code: the cache must be the user's own, never a
    // directory in /tmp another user could have made first.
    let cache = args
        .compile_cache
        .or_else(user_cache)
        .unwrap_or_else(|| dir.path().join("cache"));
    let config = Config {
        jwt_secret: Some("nova-test-host-secret-nova-test-host-secret".into()),
        cache_dir: Some(cache),
        call_deadline_ms,
        ..Config::embedded(dir.path().to_path_buf())
    };
    let stub = match &args.stub_url {
        Some(url) => Some(reqwest::Url::parse(url)?),
        None => None,
    };
    let state = AppState::build_with_transport(&config, Arc::new(Forward::new(stub))).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    // The test kit reads this line to learn the port.
    println!(
        "nova test-host listening on http://{}",
        listener.local_addr()?
    );
    let app = routes::router(state.clone()).merge(crate::http::router(state.clone()));
    let stdin_closed = async {
        let mut sink = [0u8; 64];
        let mut stdin = tokio::io::stdin();
        while matches!(stdin.read(&mut sink).await, Ok(n) if n > 0) {}
    };
    crate::http::server::serve(
        listener,
        app,
        crate::http::server::ServerLimits::default(),
        stdin_closed,
    )
    .await?;
    state.close().await;
    Ok(())
}
