//! Configuration shared by every subcommand: flags, each with the same name in the environment.

use std::path::PathBuf;

use clap::Args;

use crate::storage::Db;

/// Where Nova listens and keeps its data. Every subcommand reads the same settings, so
/// `nova superadmin create` and `nova serve` act on the same database.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address the API listens on.
    #[arg(
        long,
        env = "NOVA_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: String,

    /// Directory for the embedded database, the signing key and the compile cache.
    #[arg(
        long,
        env = "NOVA_DATA_DIR",
        default_value = "./nova-data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// `postgres://…` for production; unset means SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// `redis://…`: lets several replicas agree quickly (cache invalidation, wake-ups).
    #[arg(long, env = "REDIS_URL", global = true)]
    pub redis_url: Option<String>,

    /// Secret for signing tokens (at least 32 bytes); unset means one generated and kept in
    /// the data directory.
    #[arg(long, env = "NOVA_JWT_SECRET", global = true, hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Directory for compiled modules; defaults to `<data-dir>/cache`.
    #[arg(long, env = "NOVA_CACHE_DIR", global = true)]
    pub cache_dir: Option<PathBuf>,
}

impl Config {
    /// The database URL in force.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.is_empty() => url.clone(),
            _ => format!("sqlite://{}/nova.db?mode=rwc", self.data_dir.display()),
        }
    }

    /// Where compiled modules are cached.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("cache"))
    }

    /// Connect to the configured database, creating the data directory for SQLite.
    pub async fn connect(&self) -> anyhow::Result<Db> {
        let url = self.database_url();
        if url.starts_with("sqlite:") {
            std::fs::create_dir_all(&self.data_dir)?;
        }
        Db::connect(&url).await
    }
}
