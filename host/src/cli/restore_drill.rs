//! `nova drill restore`: the monthly restore drill, end to end. The newest backup in a
//! directory is restored into a scratch database (a temporary SQLite file, or a new
//! PostgreSQL database dropped afterwards), its row counts are checked against the manifest,
//! a server and a worker start on the restored data and replay the outbox, and a POS sale runs
//! through it with the payments sandbox settling it. A report goes beside the billing drills'.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::api_client::Api;
use super::backup::{self, RestoreArgs};
use crate::app::AppState;
use crate::config::{Config, PaymentsConfig};
use crate::storage::{self, Db};

/// Options of `nova drill restore`.
#[derive(Debug, Args)]
pub(crate) struct RestoreDrillArgs {
    /// Where the backups are (`nova backup --to`, or the workers' `--backup-dir`).
    #[arg(long)]
    pub(crate) backups: PathBuf,
    /// The environment the backups come from (names the report's directory).
    #[arg(long, default_value = "local")]
    pub(crate) env: String,
    /// Where reports go: `<dir>/<env>/restore-YYYYMMDD-HHMMSS.md`.
    #[arg(long, default_value = "tests/drills/logs")]
    pub(crate) logs_dir: PathBuf,
    /// PostgreSQL backups: the server to create the scratch database on (any database URL
    /// there; the configured DATABASE_URL's server when absent). The scratch database is
    /// named `nova_drill_<time>` and dropped after the drill.
    #[arg(long)]
    pub(crate) scratch_url: Option<String>,
    /// How long the outbox replay and the sale's settlement may take, in seconds.
    #[arg(long, default_value_t = 60)]
    pub(crate) timeout_secs: u64,
}

/// What the drill found, step by step, for the report.
#[derive(Default)]
struct Findings {
    log: Vec<String>,
}

impl Findings {
    fn say(&mut self, line: String) {
        println!("{line}");
        self.log.push(line);
    }
}

/// `database` on the server of the PostgreSQL `url`.
fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .context("a PostgreSQL URL is scheme://host/database")?;
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let host = path.split('/').next().unwrap_or(path);
    let mut out = format!("{scheme}://{host}/{database}");
    // Options naming another database or host would send the restore elsewhere.
    let kept: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let key = p.split('=').next().unwrap_or("");
            !matches!(key, "dbname" | "host" | "hostaddr" | "port")
        })
        .collect();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    Ok(out)
}

/// The scratch database the drill restores into, removed when dropped (SQLite) or by
/// [`Scratch::remove`] (PostgreSQL).
struct Scratch {
    config: Config,
    _dir: tempfile::TempDir,
    /// (server URL, database) of a PostgreSQL scratch database.
    postgres: Option<(String, String)>,
}

impl Scratch {
    async fn new(config: &Config, backend: &str, args: &RestoreDrillArgs) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut scratch = config.clone();
        scratch.data_dir = dir.path().to_path_buf();
        // Nothing leaves the drill: no replica is told, no mail is sent (replayed mail stays
        // `stored` in the scratch outbox), no module reaches another host.
        scratch.redis_url = None;
        scratch.smtp_url = None;
        scratch.outbound_hosts = Vec::new();
        let postgres = if backend == "postgres" {
            let server = args
                .scratch_url
                .clone()
                .unwrap_or_else(|| config.database_url());
            anyhow::ensure!(
                server.starts_with("postgres"),
                "a PostgreSQL backup needs a PostgreSQL server for its scratch database: pass \
                 --scratch-url postgres://…"
            );
            let name = format!(
                "nova_drill_{}",
                jiff::Timestamp::now().strftime("%Y%m%d%H%M%S%3f")
            );
            let admin = Db::connect(&server).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(admin.pool())
                .await
                .with_context(|| format!("creating the scratch database {name}"))?;
            admin.close().await;
            let url = with_database(&server, &name)?;
            // The restore replaces what it is pointed at: be sure that is the scratch database.
            let scratch_db = Db::connect(&url).await?;
            let current: String = sqlx::query_scalar("SELECT CAST(current_database() AS TEXT)")
                .fetch_one(scratch_db.pool())
                .await?;
            scratch_db.close().await;
            anyhow::ensure!(
                current == name,
                "the scratch URL reaches database {current}, not {name}: refusing to restore there"
            );
            scratch.database_url = Some(url);
            Some((server, name))
        } else {
            scratch.database_url = None;
            None
        };
        Ok(Self {
            config: scratch,
            _dir: dir,
            postgres,
        })
    }

    async fn remove(&self) {
        let Some((server, name)) = &self.postgres else {
            return;
        };
        let dropped = async {
            let admin = Db::connect(server).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(admin.pool())
                .await?;
            admin.close().await;
            Ok::<_, anyhow::Error>(())
        };
        if let Err(e) = dropped.await {
            eprintln!("could not drop the scratch database {name}: {e:#}");
        }
    }
}

/// Run the drill and write its report; an error when any step failed.
pub(crate) async fn run(config: &Config, args: RestoreDrillArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let newest = backup::manifests(&args.backups)?
        .pop()
        .with_context(|| format!("no backup manifests in {}", args.backups.display()))?;
    let manifest: Value = serde_json::from_slice(&std::fs::read(&newest)?)
        .with_context(|| format!("reading {}", newest.display()))?;
    let backend = manifest["backend"].as_str().unwrap_or("").to_string();
    let mut found = Findings::default();
    found.say(format!(
        "backup {} taken {} ({backend}, schema {})",
        newest.display(),
        manifest["createdAt"].as_str().unwrap_or("?"),
        manifest["schemaVersion"]
    ));
    let scratch = Scratch::new(config, &backend, &args).await?;
    if let Some((_, name)) = &scratch.postgres {
        found.say(format!("scratch database {name} (dropped afterwards)"));
    }
    let outcome = drill(&scratch.config, &args, &newest, &mut found).await;
    scratch.remove().await;
    let result = match &outcome {
        Ok(()) => "PASS".to_string(),
        Err(e) => {
            found.say(format!("FAILED: {e:#}"));
            "FAIL".to_string()
        }
    };
    let report = format!(
        "# Restore drill: {env}\n\n\
         - Date: {date}\n- **Result:** {result}\n- Backup: `{backup}`\n- Taken: {taken}\n\
         - Backend: {backend}\n- Rows in the manifest: {rows}\n- Took: {took:.1} s\n\n\
         ## Steps\n\n{steps}",
        env = args.env,
        date = jiff::Timestamp::now(),
        backup = newest.display(),
        taken = manifest["createdAt"].as_str().unwrap_or("?"),
        rows = manifest["tables"]
            .as_object()
            .map(|t| t.values().filter_map(Value::as_i64).sum::<i64>())
            .unwrap_or(0),
        took = started.elapsed().as_secs_f64(),
        steps = found
            .log
            .iter()
            .map(|l| format!("- {l}\n"))
            .collect::<String>(),
    );
    let dir = args.logs_dir.join(&args.env);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!(
        "restore-{}.md",
        jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S")
    ));
    std::fs::write(&path, report)?;
    println!("report: {}", path.display());
    outcome.with_context(|| format!("the restore drill failed; see {}", path.display()))
}

/// Restore, replay, smoke: everything between creating the scratch database and removing it.
async fn drill(
    scratch: &Config,
    args: &RestoreDrillArgs,
    manifest: &std::path::Path,
    found: &mut Findings,
) -> anyhow::Result<()> {
    let t = Instant::now();
    backup::restore(
        scratch,
        RestoreArgs {
            from: manifest.to_path_buf(),
            force: false,
        },
    )
    .await?;
    found.say(format!(
        "restored and migrated in {:.1} s; every table's rows match the manifest",
        t.elapsed().as_secs_f64()
    ));

    // The server and worker on the restored data, with the payments sandbox settling sales.
    let api_listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", api_listener.local_addr()?);
    let sandbox_listener = TcpListener::bind("127.0.0.1:0").await?;
    let secret = hex::encode(rand::random::<[u8; 16]>());
    let mut config = scratch.clone();
    config.payments = PaymentsConfig {
        mode: "sandbox".into(),
        url: format!("http://{}", sandbox_listener.local_addr()?),
        webhook_secret: Some(secret.clone()),
    };
    let sandbox = crate::sandbox::payments::router(crate::sandbox::payments::SandboxConfig {
        api_url: base.clone(),
        webhook_secret: secret,
        settle_after: Duration::from_millis(100),
    });
    let sandbox = tokio::spawn(async move { axum::serve(sandbox_listener, sandbox).await });
    let state = AppState::build(&config).await?;
    state.runtime.install_bundled().await?;
    let app = crate::http::router(state.clone());
    let server = tokio::spawn(async move {
        axum::serve(
            api_listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    // Counted before the worker starts, which may run them at once.
    let due = due_jobs(&state.db).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(crate::jobs::run(
        state.clone(),
        "restore-drill".into(),
        async {
            let _ = stopped.await;
        },
    ));
    let checked = async {
        replay(&state.db, due, args, found).await?;
        smoke(&state.db, &base, args, found).await
    }
    .await;
    if checked.is_err() {
        // A sale that never settled is told apart by what the provider got back from Nova.
        let deliveries = async {
            reqwest::get(format!("{}/v1/deliveries", config.payments.url))
                .await?
                .text()
                .await
        };
        if let Ok(said) = deliveries.await {
            found.say(format!("the payments sandbox's webhook deliveries: {said}"));
        }
    }
    let _ = stop.send(());
    let _ = worker.await;
    server.abort();
    sandbox.abort();
    state.close().await;
    checked
}

/// Jobs due in the outbox now: pending, or retrying with their time come (one retrying
/// minutes from now is not the replay's to wait for).
async fn due_jobs(db: &Db) -> anyhow::Result<i64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'retrying') AND next_attempt_at <= $1",
    )
    .bind(storage::now_ms())
    .fetch_one(db.pool())
    .await?;
    Ok(n)
}

/// Wait for the worker to work through what the outbox held when the backup was taken.
async fn replay(
    db: &Db,
    before: i64,
    args: &RestoreDrillArgs,
    found: &mut Findings,
) -> anyhow::Result<()> {
    let t = Instant::now();
    let deadline = t + Duration::from_secs(args.timeout_secs);
    loop {
        let left = due_jobs(db).await?;
        if left == 0 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{left} of {before} outbox jobs still due after {} s",
            args.timeout_secs
        );
        // The worker runs on its own task: its visible result is what there is to wait on.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status = 'failed'")
        .fetch_one(db.pool())
        .await?;
    found.say(format!(
        "outbox replayed: {before} due jobs run in {:.1} s; {failed} jobs stand failed (as in the backup or from the replay)",
        t.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// A drill superadmin and tenant on the restored data, and the POS sale smoke through them.
async fn smoke(
    db: &Db,
    base: &str,
    args: &RestoreDrillArgs,
    found: &mut Findings,
) -> anyhow::Result<()> {
    let stamp = uuid::Uuid::new_v4().simple().to_string();
    let (email, password) = (
        format!("drill-{stamp}@restore.drill"),
        format!("pw-{stamp}"),
    );
    let hash = crate::auth::password::hash(&password)?;
    storage::users::create(db, None, &email, &hash, "superadmin").await?;
    let login = |email: String, password: String| async move {
        let session: Value = reqwest::Client::new()
            .post(format!("{base}/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        session["token"]
            .as_str()
            .map(str::to_string)
            .context("the login answer has no token")
    };
    let admin = Api::new(base, &login(email, password.clone()).await?)?;
    let tenants = admin
        .expect(
            "listing tenants",
            "GET",
            "/v1/superadmin/tenants?limit=1",
            None,
            &[200],
        )
        .await?;
    found.say(format!(
        "the server on the restored data answers; tenant list reads ({} on the first page)",
        tenants["tenants"].as_array().map_or(0, Vec::len)
    ));
    let tenant = admin
        .expect(
            "creating the drill tenant",
            "POST",
            "/v1/superadmin/tenants",
            Some(&json!({"name": format!("Restore drill {stamp}")})),
            &[201],
        )
        .await?;
    let tenant = tenant["id"].as_str().context("no tenant id")?.to_string();
    admin
        .expect(
            "switching POS on",
            "PUT",
            &format!("/v1/superadmin/tenants/{tenant}/modules/pos"),
            Some(&json!({"enabled": true})),
            &[200],
        )
        .await?;
    let owner = format!("owner-{stamp}@restore.drill");
    admin
        .expect(
            "adding the drill tenant's admin",
            "POST",
            &format!("/v1/superadmin/tenants/{tenant}/users"),
            Some(&json!({"email": owner, "password": password, "role": "admin"})),
            &[201],
        )
        .await?;
    let token = login(owner, password).await?;
    let t = Instant::now();
    super::smoke::run(super::smoke::SmokeCommand::PosSale(
        super::smoke::SmokeArgs {
            api_url: base.to_string(),
            token,
            settle_timeout_secs: args.timeout_secs,
        },
    ))
    .await?;
    found.say(format!(
        "POS sale smoke passed on the restored data in {:.1} s (ticket, lines, card capture, close, settlement)",
        t.elapsed().as_secs_f64()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn scratch_urls_keep_the_server_and_options() {
        assert_eq!(
            with_database("postgres://u@h:5432/prod?sslmode=require", "nova_drill_1").unwrap(),
            "postgres://u@h:5432/nova_drill_1?sslmode=require"
        );
        assert_eq!(
            with_database("postgres://h/", "d").unwrap(),
            "postgres://h/d"
        );
        assert_eq!(
            with_database("postgres://h/x?dbname=prod&sslmode=require&host=other", "d").unwrap(),
            "postgres://h/d?sslmode=require"
        );
    }
}
