//! `nova module install`: into the database a server runs on (saying which, and refusing to
//! start a new one by accident), or through a running server's API.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::api_client::Api;
use crate::config::Config;
use crate::replicas::{Bus, Event, RECONCILE_EVERY};
use crate::runtime::Runtime;
use crate::runtime::engine::EngineConfig;

/// `nova module install FILE --name N`
#[derive(Debug, Args)]
pub(crate) struct InstallArgs {
    /// The `.wasm` component.
    file: PathBuf,
    /// The module's name (a-z, 0-9, '-').
    #[arg(long)]
    name: String,
    /// Install through this running server's API (`POST /v1/superadmin/modules`) instead of
    /// writing its database: the server takes the version at once.
    #[arg(long, requires = "token")]
    api_url: Option<String>,
    /// A superadmin's token, for `--api-url`.
    #[arg(long, env = "NOVA_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Start a new embedded database if the data directory has none (without it, a missing
    /// database is an error: the install would go where no server looks).
    #[arg(long)]
    create: bool,
}

/// Install the file, then say where it went and when servers run it.
pub(crate) async fn run(config: &Config, args: InstallArgs) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    if let (Some(url), Some(token)) = (&args.api_url, &args.token) {
        let api = Api::new(url, token)?;
        let path = format!(
            "/v1/superadmin/modules?name={}",
            percent_encoding::utf8_percent_encode(&args.name, percent_encoding::NON_ALPHANUMERIC)
        );
        let answer = api.upload(&path, bytes).await?;
        anyhow::ensure!(
            answer.status == 201,
            "installing through {url} failed: {}",
            answer.describe()
        );
        let v = &answer.body;
        println!(
            "installed {} version {} (sha256 {}) through {url}; it serves new calls now",
            v["name"].as_str().unwrap_or(&args.name),
            v["version"],
            v["contentHash"].as_str().unwrap_or("?"),
        );
        return Ok(());
    }
    let db_url = config.database_url();
    let where_ = describe(config, &db_url);
    if db_url.starts_with("sqlite:") && !args.create {
        let file = super::backup::sqlite_file(config);
        anyhow::ensure!(
            file.exists(),
            "there is no Nova database at {}: pass the server's --data-dir (or DATABASE_URL), \
             or --api-url and --token to install through a running server, or --create to \
             start a new database there",
            file.display()
        );
    }
    let db = config.connect().await?;
    db.migrate().await?;
    let engine = EngineConfig {
        cache_dir: Some(config.cache_dir()),
        ..EngineConfig::default()
    };
    let runtime = Runtime::new(db, engine)?;
    let installed = runtime.install(&args.name, bytes, Some("cli")).await?;
    // With Redis, servers sharing the database hear of it now; without, their periodic
    // reconciliation finds it.
    let announced = match &config.redis_url {
        Some(redis) if !redis.is_empty() => match Bus::connect(redis, &db_url).await {
            Ok(bus) => {
                bus.publish(Event::Modules).await;
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not announce the install over Redis");
                false
            }
        },
        _ => false,
    };
    let when = if announced {
        "running servers switch to it now (announced over Redis)".to_string()
    } else {
        format!(
            "running servers on this database switch to it within {} s",
            RECONCILE_EVERY.as_secs()
        )
    };
    println!(
        "installed {} version {} (sha256 {}, {} bytes) into {where_}; {when}",
        installed.name, installed.version, installed.content_hash, installed.size_bytes
    );
    Ok(())
}

/// The database, for people: the SQLite file, or the URL without its password.
fn describe(config: &Config, url: &str) -> String {
    if url.starts_with("sqlite:") {
        return format!(
            "the SQLite database {}",
            super::backup::sqlite_file(config).display()
        );
    }
    format!("the database {}", crate::storage::redact(url))
}
