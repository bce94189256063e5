//! `nova module new NAME`: a module crate that builds for `wasm32-wasip2`, with one route, one
//! portal screen, and a test that runs both in an in-process Nova host.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Parser};

use crate::runtime::valid_module_name;

/// `nova module new` on its own (see `cli::run`): the same options, without the server's.
#[derive(Debug, Parser)]
#[command(
    name = "nova module new",
    about = "Start a new module: a crate with one route, one portal screen and a test"
)]
pub(crate) struct NewCommand {
    #[command(flatten)]
    pub(crate) args: NewArgs,
}

/// What `nova module new` takes.
#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// The module's name (a-z, 0-9, '-'); also the crate's directory.
    name: String,
    /// Where to create the crate's directory.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// A Nova checkout holding sdk/ and testkit/ (default: the one this binary was built
    /// from).
    #[arg(long)]
    nova_repo: Option<PathBuf>,
}

/// Create the crate and say what to do next.
pub(crate) fn run(args: NewArgs) -> anyhow::Result<()> {
    let created = create(&args.name, &args.dir, args.nova_repo.as_deref())?;
    println!(
        "created {}\n  run it:  nova dev {}   (a server with a demo restaurant; rebuilds on change)\n  test:    cargo test\n  build:   cargo build --release --target wasm32-wasip2\n  install: nova module install target/wasm32-wasip2/release/{}.wasm --name {} --api-url URL --token T",
        created.display(),
        created.display(),
        args.name.replace('-', "_"),
        args.name
    );
    Ok(())
}

/// Where this binary was built from: the default home of `nova-sdk` and `nova-testkit`.
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

const CARGO_TOML: &str = r#"[package]
name = "__NAME__"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
nova-sdk = { path = "__REPO__/sdk" }
serde = { version = "1", features = ["derive"] }
serde_json = "1"

[dev-dependencies]
nova-testkit = { path = "__REPO__/testkit" }

[profile.release]
# Speed, not size: at 3, POS's calls cost 11-13% less CPU than at "s", and its component
# grew a tenth, which costs at install, not per call.
opt-level = 3
lto = true
strip = true
panic = "abort"

# Full debug info only slows the build down.
[profile.dev]
debug = "line-tables-only"

# A module is its own workspace, wherever it lives.
[workspace]
"#;

const LIB_RS: &str = r#"//! The __NAME__ module.

use nova_sdk::view::{Field, Form, Kind, Screens, Table, View};
use nova_sdk::{Error, Module, Request, Response, Router, audit, kv};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Greeting {
    name: String,
}

/// `POST /greetings {"name"}`: remember a name and greet it.
fn greet(req: &Request) -> Result<Response, Error> {
    let g: Greeting = req.json()?;
    let name = g.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::validation("name", "name must be 1 to 100 characters"));
    }
    kv::set_json(&format!("greeting/{name}"), &g)?;
    audit::record("__NAME__.greeted", &serde_json::json!({ "name": name }))?;
    Response::json(201, &serde_json::json!({ "message": format!("hello, {name}") }))
}

/// `GET /_views`: the module's entry in the tenant portal (its title and first screen).
fn screens(_req: &Request) -> Result<Response, Error> {
    Response::screens(&Screens::new("__NAME__", "greetings"))
}

/// `GET /_views/greetings`: a portal screen listing the names, with a form to add one. The
/// portal draws it; a refusal naming `name` shows next to the field.
fn greetings(_req: &Request) -> Result<Response, Error> {
    let mut table = Table::new()
        .column("name", "Name", Kind::Text)
        .empty("Nobody greeted yet.");
    for (_, g) in kv::list_json::<Greeting>("greeting/", 50, None)?.entries {
        table = table.row([("name", g.name.into())]);
    }
    let form = Form::post("/greetings", "Greet").field(Field::text("name", "Name").required());
    Response::view(&View::new("Greetings").table(table).form(form))
}

struct App;

impl Module for App {
    fn router() -> Router {
        Router::new()
            .post("/greetings", greet)
            .get("/_views", screens)
            .get("/_views/greetings", greetings)
    }
}

nova_sdk::export!(App, capabilities = ["kv", "audit"]);
"#;

const TEST_RS: &str = r#"//! Runs the module in an in-process Nova host: `cargo test`.

use nova_sdk::view::{Block, Value};
use nova_testkit::{TestHost, build_component};
use serde_json::json;

#[test]
fn greets_and_remembers() {
    let wasm = build_component(env!("CARGO_MANIFEST_DIR")).expect("the module builds");
    let host = TestHost::new();
    host.install("__NAME__", &wasm);
    let tenant = host.tenant("Cafe");

    let reply = host.call(&tenant, "__NAME__", "POST", "/greetings", Some(json!({"name": "Ada"})));
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.json()["message"], "hello, Ada");
    assert!(host.kv(&tenant, "__NAME__").iter().any(|(k, _)| k == "greeting/Ada"));
    assert_eq!(host.audit(&tenant).last().unwrap().action, "__NAME__.greeted");

    let bad = host.call(&tenant, "__NAME__", "POST", "/greetings", Some(json!({"name": ""})));
    assert_eq!((bad.status, bad.error_field().as_deref()), (400, Some("name")));

    // The portal screen lists Ada; the host checked it against the view format.
    assert_eq!(host.screens(&tenant, "__NAME__").home, "greetings");
    let view = host.view(&tenant, "__NAME__", "greetings", "");
    let rows = view
        .blocks
        .iter()
        .find_map(|b| match b {
            Block::Table { rows, .. } => Some(rows),
            _ => None,
        })
        .expect("a table");
    assert_eq!(rows[0].cells["name"], Value::from("Ada"));
}
"#;

const GITIGNORE: &str = "/target\n";

/// Write the crate into `parent/NAME`; refuses to touch an existing directory.
/// The toolchain the module builds with, and the target a Nova module is built for, so
/// `cargo build` on a fresh machine fetches both without a separate `rustup target add`.
const TOOLCHAIN: &str = include_str!("../../../rust-toolchain.toml");

pub(crate) fn create(name: &str, parent: &Path, repo: Option<&Path>) -> anyhow::Result<PathBuf> {
    anyhow::ensure!(
        valid_module_name(name),
        "{name:?} is not a module name: use a-z, 0-9 and '-', starting with a letter"
    );
    let dir = parent.join(name);
    anyhow::ensure!(!dir.exists(), "{} already exists", dir.display());
    let repo = match repo {
        Some(r) => r.to_path_buf(),
        None => PathBuf::from(REPO),
    };
    let repo = repo
        .canonicalize()
        .with_context(|| format!("finding the Nova repository at {}", repo.display()))?;
    anyhow::ensure!(
        repo.join("sdk/Cargo.toml").exists() && repo.join("testkit/Cargo.toml").exists(),
        "{} has no sdk/ and testkit/: pass --nova-repo with a Nova checkout",
        repo.display()
    );
    let fill = |t: &str| {
        t.replace("__NAME__", name)
            .replace("__REPO__", &repo.display().to_string())
    };
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::create_dir_all(dir.join("tests"))?;
    std::fs::write(dir.join("Cargo.toml"), fill(CARGO_TOML))?;
    std::fs::write(dir.join("src/lib.rs"), fill(LIB_RS))?;
    std::fs::write(
        dir.join(format!("tests/{}.rs", name.replace('-', "_"))),
        fill(TEST_RS),
    )?;
    std::fs::write(dir.join(".gitignore"), GITIGNORE)?;
    std::fs::write(dir.join("rust-toolchain.toml"), TOOLCHAIN)?;
    // The test kit runs the module in `nova test-host`: the binary that made the crate.
    std::fs::create_dir_all(dir.join(".cargo"))?;
    let exe = std::env::current_exe().context("finding this nova binary")?;
    std::fs::write(
        dir.join(".cargo/config.toml"),
        format!(
            "# nova-testkit runs the module's tests in this nova binary (`nova test-host`).\n[env]\nNOVA_BIN = {:?}\n\n{STACK_SIZE}",
            exe.display().to_string()
        ),
    )?;
    Ok(dir)
}

/// The module's wasm stack: 64 KiB instead of Rust's 1 MiB, so its data and first heap pages
/// lie in the part of a memory slot the host keeps resident (`runtime::engine::KEEP_RESIDENT`)
/// and a fresh instance starts without page faults. The first-party modules build with the
/// same line (the repository's `.cargo/config.toml`).
const STACK_SIZE: &str = "# A 64 KiB wasm stack keeps the module's data where Nova's fresh instances start fast\n# (docs/MODULE_AUTHORS.md, \"Stack size\").\n[target.wasm32-wasip2]\nrustflags = [\"-C\", \"link-arg=-zstack-size=65536\"]\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_crate_and_refuses_to_overwrite() {
        let parent = tempfile::tempdir().unwrap();
        let dir = create("tips", parent.path(), None).unwrap();
        let toml = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(toml.contains("name = \"tips\""));
        assert!(toml.contains("/sdk\" }"));
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        assert!(lib.contains("\"tips.greeted\""));
        assert!(dir.join("tests/tips.rs").exists());
        let toolchain = std::fs::read_to_string(dir.join("rust-toolchain.toml")).unwrap();
        assert!(toolchain.contains("wasm32-wasip2"), "{toolchain}");
        let config = std::fs::read_to_string(dir.join(".cargo/config.toml")).unwrap();
        assert!(config.contains("NOVA_BIN = \""), "{config}");
        assert!(config.contains(STACK_SIZE), "{config}");
        assert!(create("tips", parent.path(), None).is_err());
        assert!(create("Bad_Name", parent.path(), None).is_err());
    }
}
