//! `nova export decrypt`: open a tenant export bundle without a server: decrypt it with the
//! age key or passphrase it was made for and unpack its manifest and tables.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::exports::bundle::{self, Opener};

/// `nova export …`
#[derive(Debug, Subcommand)]
pub(crate) enum ExportCommand {
    /// Decrypt a bundle into a directory: `manifest.json` and `tables/<name>.jsonl`.
    Decrypt(DecryptArgs),
}

/// Options of `nova export decrypt`.
#[derive(Debug, Args)]
pub(crate) struct DecryptArgs {
    /// The downloaded bundle (`nova-export-….tar.gz.age`).
    pub(crate) bundle: PathBuf,
    /// An age identity file (`AGE-SECRET-KEY-1…`), for bundles made for a public key.
    #[arg(long, conflicts_with = "passphrase_env")]
    pub(crate) identity: Option<PathBuf>,
    /// The environment variable holding the passphrase, for passphrase bundles (kept out of
    /// the command line, where other users of the machine could read it).
    #[arg(long)]
    pub(crate) passphrase_env: Option<String>,
    /// Where to unpack; must be empty or absent.
    #[arg(long)]
    pub(crate) out: PathBuf,
}

pub(crate) fn run(command: ExportCommand) -> anyhow::Result<()> {
    let ExportCommand::Decrypt(args) = command;
    let opener = match (&args.identity, &args.passphrase_env) {
        (Some(file), None) => Opener::Identity(
            std::fs::read_to_string(file)
                .with_context(|| format!("reading the identity file {}", file.display()))?,
        ),
        (None, Some(var)) => Opener::Passphrase(
            std::env::var(var)
                .with_context(|| format!("the environment variable {var} is not set"))?,
        ),
        _ => anyhow::bail!("give --identity FILE or --passphrase-env VAR"),
    };
    if args.out.exists() {
        anyhow::ensure!(
            std::fs::read_dir(&args.out)?.next().is_none(),
            "{} is not empty",
            args.out.display()
        );
    }
    let sealed = std::fs::read(&args.bundle)
        .with_context(|| format!("reading {}", args.bundle.display()))?;
    let manifest = bundle::open(&sealed, &opener, &args.out)?;
    println!(
        "export {} of tenant {} ({}), into {}:",
        manifest["exportId"].as_str().unwrap_or("?"),
        manifest["tenantId"].as_str().unwrap_or("?"),
        manifest["createdAt"].as_str().unwrap_or("?"),
        args.out.display()
    );
    for table in manifest["tables"].as_array().into_iter().flatten() {
        println!(
            "  {:<22} {:>9} rows  {}",
            table["name"].as_str().unwrap_or("?"),
            table["rows"],
            table["file"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}
