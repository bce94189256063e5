//! The `nova` command line. Every subcommand reads the same [`Config`].

mod api_client;
mod backup;
mod baseline;
mod dev;
mod drill;
mod export;
mod install;
mod restore_drill;
mod sample_data;
mod sandbox;
mod scaffold;
mod serve;
mod smoke;
mod worker;

use clap::{Parser, Subcommand};

use crate::auth::{Role, password};
use crate::config::Config;
use crate::http::superadmin::check_email;
use crate::storage::{self, users};

/// Nova: run restaurant software modules as sandboxed WebAssembly components, per tenant.
#[derive(Debug, Parser)]
#[command(name = "nova", version, about)]
pub(crate) struct Cli {
    /// Every command takes these; under their own heading, so a command's own options lead.
    #[command(flatten, next_help_heading = "Server options (every command)")]
    pub(crate) config: Config,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the API (and, on the embedded default, everything else it needs).
    Serve(serve::ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Back up the database while the server runs: a file and its manifest in `--to`.
    Backup(backup::BackupArgs),
    /// Restore a backup into an empty database (`--force` replaces one), then migrate.
    Restore(backup::RestoreArgs),
    /// Read a tenant export bundle without a server.
    Export {
        #[command(subcommand)]
        command: export::ExportCommand,
    },
    /// Manage superadmins.
    Superadmin {
        #[command(subcommand)]
        command: SuperadminCommand,
    },
    /// Run a module while you write it: build it, serve it for a demo restaurant on a
    /// throwaway server, and rebuild and reinstall it on every change.
    Dev(dev::DevArgs),
    /// Manage installed modules.
    Module {
        #[command(subcommand)]
        command: ModuleCommand,
    },
    /// Manage token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Create data through the normal flows.
    Seed {
        #[command(subcommand)]
        command: SeedCommand,
    },
    /// Take jobs from the queue (billing events), with probes on their own port.
    Worker(worker::WorkerArgs),
    /// Switch maintenance mode: writes on tenant routes are refused with 503 MAINTENANCE.
    Maintenance {
        #[command(subcommand)]
        command: MaintenanceCommand,
    },
    /// Billing operations.
    Billing {
        #[command(subcommand)]
        command: BillingCommand,
    },
    /// Run the runbook's drills against a running API.
    Drill {
        #[command(subcommand)]
        command: drill::DrillCommand,
    },
    /// Run the payment provider sandbox: captures, refunds and signed settlement webhooks.
    PaymentsSandbox(sandbox::SandboxArgs),
    /// The host `nova-testkit` runs a module's tests against: a throw-away server with
    /// control routes, on loopback, until its standard input closes.
    TestHost(crate::testing::TestHostArgs),
    /// Native handlers for the peer benchmark to measure module paths against.
    #[command(hide = true)]
    BenchBaseline(baseline::BaselineArgs),
    /// Check a deployment end to end.
    Smoke {
        #[command(subcommand)]
        command: smoke::SmokeCommand,
    },
}

/// `nova maintenance …`
#[derive(Debug, Subcommand)]
pub(crate) enum MaintenanceCommand {
    /// Start maintenance (or change its message).
    On {
        /// What tenants are told, e.g. "Upgrading the database; back at 22:00 UTC".
        #[arg(long)]
        message: String,
    },
    /// End maintenance; tenants get the follow-up announcement.
    Off,
}

/// `nova billing …`
#[derive(Debug, Subcommand)]
pub(crate) enum BillingCommand {
    /// Put a failed billing event back in the queue (status pending, error cleared); audited.
    Replay {
        /// The event's id (ours, as listed by `GET /v1/superadmin/billing/webhooks`).
        id: String,
    },
}

/// `nova keys …`
#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Add a new signing key. New tokens are signed with it (every replica picks it up within
    /// seconds); tokens signed by older keys stay valid until they expire.
    Rotate,
    /// Stop a key from verifying: tokens it signed get 401 on every replica within 5 s (at
    /// once with Redis). The last key that signs cannot be retired; rotate first.
    Retire {
        /// The key's id (`nova keys list`, or a token header's `kid`).
        kid: String,
    },
    /// Every signing key: id, and whether it signs, verifies or is retired.
    List,
    /// Seal the keys stored in plain text with `NOVA_MASTER_KEY` (once, after setting it;
    /// keys added later are sealed as they are stored). Then every replica needs the key.
    Encrypt,
}

/// `nova keys …`: signing keys, straight in the database every replica reads.
async fn keys_command(config: &crate::config::Config, command: KeysCommand) -> anyhow::Result<()> {
    let db = config.connect().await?;
    db.migrate().await?;
    match command {
        KeysCommand::Rotate => {
            let kid = crate::auth::token::rotate(&db).await?;
            tell_replicas(config).await?;
            println!("new signing key {kid}; older keys keep verifying the tokens they signed");
        }
        KeysCommand::Retire { kid } => {
            crate::storage::keys::retire(&db, &kid, "cli").await?;
            tell_replicas(config).await?;
            println!(
                "signing key {kid} retired: tokens it signed are refused on every replica within 5 s"
            );
        }
        KeysCommand::Encrypt => {
            let sealed = crate::storage::keys::seal_all(&db).await?;
            // Prove the result opens before saying so.
            let keys = crate::storage::keys::list(&db).await?;
            println!(
                "sealed {sealed} signing key(s) with NOVA_MASTER_KEY; all {} open with it",
                keys.len()
            );
        }
        KeysCommand::List => {
            for (i, key) in crate::storage::keys::list(&db).await?.iter().enumerate() {
                let state = match (key.retired, i) {
                    (true, _) => "retired",
                    (false, 0) => "signs and verifies",
                    (false, _) => "verifies",
                };
                println!("{}  {state}", key.kid);
            }
        }
    }
    Ok(())
}

/// With Redis, running replicas reload their keys at once instead of at their next
/// reconciliation.
async fn tell_replicas(config: &crate::config::Config) -> anyhow::Result<()> {
    if let Some(url) = &config.redis_url {
        let bus = crate::replicas::Bus::connect(url, &config.database_url()).await?;
        bus.publish(crate::replicas::Event::Keys).await;
    }
    Ok(())
}

/// `nova seed …`
#[derive(Debug, Subcommand)]
pub(crate) enum SeedCommand {
    /// Register a restaurant and approve it at once, as a superadmin would: a tenant, its
    /// admin user and a subscription on the plan, with the plan's modules and flags.
    Tenant {
        /// The restaurant's name.
        #[arg(long)]
        name: String,
        /// The admin user's email.
        #[arg(long)]
        email: String,
        /// Core, Pro, Enterprise or a plan id.
        #[arg(long, default_value = "Core")]
        plan: String,
        /// The admin user's password (at least 8 characters).
        #[arg(long, env = "NOVA_SEED_PASSWORD", hide_env_values = true)]
        password: String,
        /// A module preset to apply on approval.
        #[arg(long)]
        preset: Option<String>,
    },
    /// Fill a tenant with a starter menu, stock and a few days of sales, through the API.
    /// Running it again adds nothing twice.
    SampleData(sample_data::SampleDataArgs),
}

/// `nova superadmin …`
#[derive(Debug, Subcommand)]
pub(crate) enum SuperadminCommand {
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
pub(crate) enum ModuleCommand {
    /// Install a component file as the next version of a module and make it active.
    Install(install::InstallArgs),
    /// Start a new module: a crate with one route, one portal screen and a test.
    New(scaffold::NewArgs),
}

/// Parse the command line and run it.
pub async fn run() -> anyhow::Result<()> {
    // `nova module new` touches no server or database: parsed on its own, its --help lists
    // only its own options instead of every server setting.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "module") && args.get(2).is_some_and(|a| a == "new") {
        let new = scaffold::NewCommand::parse_from(
            std::iter::once("nova module new".into()).chain(args[3..].iter().cloned()),
        );
        return scaffold::run(new.args);
    }
    let cli = Cli::parse();
    crate::telemetry::init_logging();
    let result = run_command(cli).await;
    // Spans still queued leave before the process does (at most two seconds).
    let _ = tokio::task::spawn_blocking(crate::traces::shutdown).await;
    result
}

async fn run_command(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(&cli.config, args).await,
        Command::PaymentsSandbox(args) => sandbox::run(&cli.config, args).await,
        Command::Worker(args) => worker::run(&cli.config, args).await,
        Command::Maintenance { command } => {
            let state = crate::app::AppState::build(&cli.config).await?;
            let (on, message) = match &command {
                MaintenanceCommand::On { message } => {
                    let m = message.trim();
                    anyhow::ensure!(
                        !m.is_empty() && m.chars().count() <= 500,
                        "--message must be 1 to 500 characters"
                    );
                    (true, Some(m))
                }
                MaintenanceCommand::Off => (false, None),
            };
            let ended =
                crate::http::support::switch_maintenance(&state, on, message, None, "cli").await?;
            match ended {
                _ if on => println!(
                    "maintenance is on; running servers refuse tenant writes within seconds"
                ),
                Some(p) => println!(
                    "maintenance is off after refusing {} writes; tenants were told",
                    p.refused_writes
                ),
                None => println!("maintenance was not on"),
            }
            state.db.close().await;
            Ok(())
        }
        Command::Drill { command } => drill::run(&cli.config, command).await,
        Command::Export { command } => export::run(command),
        Command::Billing {
            command: BillingCommand::Replay { id },
        } => {
            let db = cli.config.connect().await?;
            db.migrate().await?;
            let event = crate::billing::replay::replay(&db, &id, "cli", "").await?;
            // A worker polls within seconds; a replica on Redis would be woken at once, but
            // this command has no running state to publish from.
            println!(
                "billing event {} ({}) is pending again; a worker picks it up within seconds",
                event.id, event.provider_event_id
            );
            Ok(())
        }
        Command::Smoke { command } => smoke::run(command).await,
        Command::TestHost(args) => crate::testing::run(args, cli.config.call_deadline_ms).await,
        Command::BenchBaseline(args) => baseline::run(&cli.config, args).await,
        Command::Seed {
            command: SeedCommand::SampleData(args),
        } => sample_data::run(args).await,
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
        Command::Keys { command } => keys_command(&cli.config, command).await,
        Command::Seed {
            command:
                SeedCommand::Tenant {
                    name,
                    email,
                    plan,
                    password: pw,
                    preset,
                },
        } => seed_tenant(&cli.config, &name, &email, &plan, &pw, preset.as_deref()).await,
        Command::Module {
            command: ModuleCommand::New(args),
        } => scaffold::run(args),
        Command::Module {
            command: ModuleCommand::Install(args),
        } => install::run(&cli.config, args).await,
        Command::Dev(args) => dev::run(args, cli.config.call_deadline_ms).await,
        Command::Backup(args) => backup::backup(&cli.config, args).await,
        Command::Restore(args) => backup::restore(&cli.config, args).await,
    }
}

async fn seed_tenant(
    config: &Config,
    name: &str,
    email: &str,
    plan: &str,
    pw: &str,
    preset: Option<&str>,
) -> anyhow::Result<()> {
    let email = email.trim().to_lowercase();
    check_email(&email).map_err(|e| anyhow::anyhow!(e.message))?;
    password::check_strength(pw).map_err(anyhow::Error::msg)?;
    let db = config.connect().await?;
    db.migrate().await?;
    let plan_row = {
        let mut conn = db.pool().acquire().await?;
        storage::plans::find(&mut conn, plan).await?
    }
    .ok_or_else(|| anyhow::anyhow!("no plan named {plan:?} (Core, Pro, Enterprise)"))?;
    let hash = password::hash(pw)?;
    let reg = storage::registrations::create(&db, name, &email, &hash, &plan_row.id).await?;
    let tenancy = crate::tenancy::Tenancy::new(db);
    let request_id = uuid::Uuid::now_v7().to_string();
    let approved =
        crate::tenancy::registration::approve(&tenancy, &reg.id, preset, "cli", &request_id)
            .await?;
    println!(
        "tenant {} created on plan {} (subscription {}, admin {email})",
        approved.tenant_id, approved.plan, approved.subscription_id
    );
    Ok(())
}
