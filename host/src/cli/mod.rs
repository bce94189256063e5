//! The `nova` command line. Every subcommand reads the same [`Config`].

mod serve;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::auth::{Role, password};
use crate::config::Config;
use crate::http::superadmin::check_email;
use crate::runtime::Runtime;
use crate::runtime::engine::EngineConfig;
use crate::runtime::limits::Limits;
use crate::storage::{self, users};

/// Nova: run restaurant software modules as sandboxed WebAssembly components, per tenant.
#[derive(Debug, Parser)]
#[command(name = "nova", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API (and, on the embedded default, everything else it needs).
    Serve(serve::ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage superadmins.
    Superadmin {
        #[command(subcommand)]
        command: SuperadminCommand,
    },
    /// Manage installed modules.
    Module {
        #[command(subcommand)]
        command: ModuleCommand,
    },
}

/// `nova superadmin …`
#[derive(Debug, Subcommand)]
pub enum SuperadminCommand {
    /// Create a superadmin who can log in with this email and password.
    Create {
        #[arg(long)]
        email: String,
        /// At least 8 characters. Prefer NOVA_SUPERADMIN_PASSWORD to keep it out of shell history.
        #[arg(long, env = "NOVA_SUPERADMIN_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

/// `nova module …`
#[derive(Debug, Subcommand)]
pub enum ModuleCommand {
    /// Install a component file as the next version of a module and make it active.
    Install {
        /// The `.wasm` component.
        file: PathBuf,
        /// The module's name (a-z, 0-9, '-').
        #[arg(long)]
        name: String,
    },
}

/// Parse the command line and run it.
pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    crate::telemetry::init_logging();
    match cli.command {
        Command::Serve(args) => serve::run(&cli.config, args).await,
        Command::Migrate => {
            let db = cli.config.connect().await?;
            db.migrate().await?;
            println!(
                "migrations applied to {}",
                storage::redact(&cli.config.database_url())
            );
            Ok(())
        }
        Command::Superadmin {
            command:
                SuperadminCommand::Create {
                    email,
                    password: pw,
                },
        } => {
            let email = email.trim().to_lowercase();
            check_email(&email).map_err(|e| anyhow::anyhow!(e.message))?;
            password::check_strength(&pw).map_err(anyhow::Error::msg)?;
            let db = cli.config.connect().await?;
            db.migrate().await?;
            let hash = password::hash(&pw)?;
            match users::create(&db, None, &email, &hash, Role::Superadmin.as_str()).await {
                Ok(user) => {
                    println!("superadmin {} created (id {})", user.email, user.id);
                    Ok(())
                }
                Err(e) if storage::is_unique_violation(&e) => {
                    anyhow::bail!("a user with email {email} already exists")
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Module {
            command: ModuleCommand::Install { file, name },
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let db = cli.config.connect().await?;
            db.migrate().await?;
            let engine = EngineConfig {
                cache_dir: Some(cli.config.cache_dir()),
                ..EngineConfig::default()
            };
            let runtime = Runtime::new(db, engine, Limits::default())?;
            let installed = runtime.install(&name, bytes, Some("cli")).await?;
            println!(
                "installed {} version {} (sha256 {}); running servers pick it up on restart",
                installed.name, installed.version, installed.content_hash
            );
            Ok(())
        }
    }
}
