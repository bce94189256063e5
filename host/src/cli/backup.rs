//! `nova backup --to DIR` and `nova restore --from FILE`.
//!
//! A backup is consistent while the server runs and takes writes. On SQLite it is
//! `VACUUM INTO` a new file: one read transaction's view, and the manifest's row counts are
//! read back from that file. On PostgreSQL a repeatable-read transaction exports its
//! snapshot, the row counts are read in it, and `pg_dump -Fc --snapshot` dumps exactly that
//! view (so `pg_dump` must be of the server's major version or newer). Beside each backup a
//! manifest (`nova.backup/1`) names the time, backend, schema version, the rows of every
//! table, the size and the SHA-256 of the file; restore checks all of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{Connection, Row};

use crate::config::Config;
use crate::storage::{self, Db};

/// `nova backup`
#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// The directory the backup and its manifest are written to (created if missing).
    #[arg(long)]
    to: PathBuf,
}

/// `nova restore`
#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// A backup's manifest (`nova-….json`), or the backup file beside it.
    #[arg(long)]
    pub(crate) from: PathBuf,
    /// Replace a database that already holds data (its rows are lost).
    #[arg(long)]
    pub(crate) force: bool,
}

/// What `nova backup` writes beside the backup file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Manifest {
    /// `nova.backup/1`.
    format: String,
    created_at: String,
    /// `sqlite` or `postgres`.
    backend: String,
    /// The newest migration applied when the backup was taken.
    schema_version: i64,
    /// Rows per table, as of the backup.
    tables: BTreeMap<String, i64>,
    /// The backup file's name, in the manifest's directory.
    file: String,
    bytes: u64,
    sha256: String,
    /// The `pg_dump` that wrote a PostgreSQL backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pg_dump: Option<String>,
}

const FORMAT: &str = "nova.backup/1";

/// Make a backup of the configured database into `args.to`.
pub(crate) async fn backup(config: &Config, args: BackupArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let (file, manifest_path, manifest) = make(config, &args.to).await?;
    let rows: i64 = manifest.tables.values().sum();
    println!(
        "backup {} ({} bytes, {rows} rows in {} tables, schema {}) in {:.1} s; manifest {}",
        file.display(),
        manifest.bytes,
        manifest.tables.len(),
        manifest.schema_version,
        started.elapsed().as_secs_f64(),
        manifest_path.display()
    );
    Ok(())
}

/// Write a backup and its manifest into `dir`: (the backup file, the manifest's path, the
/// manifest).
pub(crate) async fn make(
    config: &Config,
    dir: &Path,
) -> anyhow::Result<(PathBuf, PathBuf, Manifest)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let db = config.connect().await?;
    let stamp = jiff::Timestamp::now();
    let name = format!("nova-{}", stamp.strftime("%Y%m%dT%H%M%S%.3fZ"));
    let file = dir.join(match db.backend() {
        storage::Backend::Sqlite => format!("{name}.sqlite"),
        storage::Backend::Postgres => format!("{name}.dump"),
    });
    let taken = match db.backend() {
        storage::Backend::Sqlite => sqlite_backup(&db, &file).await.map(|(t, v)| (t, v, None)),
        storage::Backend::Postgres => postgres_backup(&db, &config.database_url(), &file)
            .await
            .map(|(t, v, tool)| (t, v, Some(tool))),
    };
    let (tables, schema_version, pg_dump) = match taken {
        Ok(t) => t,
        Err(e) => {
            // No manifest names a half-written file: nothing would ever prune it.
            let _ = std::fs::remove_file(&file);
            db.close().await;
            return Err(e);
        }
    };
    let (bytes, sha256) = digest(&file)?;
    let manifest = Manifest {
        format: FORMAT.into(),
        created_at: stamp.to_string(),
        backend: backend_name(&db).into(),
        schema_version,
        tables,
        file: file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string(),
        bytes,
        sha256,
        pg_dump,
    };
    let manifest_path = dir.join(format!("{name}.json"));
    std::fs::write(&manifest_path, serde_json::to_vec_pretty(&manifest)?)?;
    db.close().await;
    Ok((file, manifest_path, manifest))
}

/// The manifests in `dir`, oldest first (their names start with the time).
pub(crate) fn manifests(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("nova-"))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// A manifest's `file`: a name in the manifest's own directory, never a path elsewhere.
fn plain_name(file: &str) -> anyhow::Result<&str> {
    anyhow::ensure!(
        !file.is_empty() && Path::new(file).file_name().and_then(|n| n.to_str()) == Some(file),
        "the manifest names {file:?}, which is not a file name beside it"
    );
    Ok(file)
}

/// Delete all but the newest `keep` backups in `dir` (each manifest with its file).
pub(crate) fn prune(dir: &Path, keep: usize) -> anyhow::Result<usize> {
    let all = manifests(dir)?;
    let old = all.len().saturating_sub(keep);
    for manifest in &all[..old] {
        if let Ok(m) = serde_json::from_slice::<Manifest>(&std::fs::read(manifest)?)
            && let Ok(name) = plain_name(&m.file)
        {
            let file = dir.join(name);
            if file.exists() {
                std::fs::remove_file(&file)?;
            }
        }
        std::fs::remove_file(manifest)?;
    }
    Ok(old)
}

fn backend_name(db: &Db) -> &'static str {
    match db.backend() {
        storage::Backend::Sqlite => "sqlite",
        storage::Backend::Postgres => "postgres",
    }
}

/// `VACUUM INTO` the file, then read the counts back from it.
async fn sqlite_backup(db: &Db, file: &Path) -> anyhow::Result<(BTreeMap<String, i64>, i64)> {
    anyhow::ensure!(!file.exists(), "{} already exists", file.display());
    let target = file.to_str().context("the backup path is not UTF-8")?;
    sqlx::query(&format!("VACUUM INTO '{}'", target.replace('\'', "''")))
        .execute(db.pool())
        .await
        .context("VACUUM INTO")?;
    // A plain read-only connection: the file must stay exactly as VACUUM wrote it.
    let mut conn = sqlx::AnyConnection::connect(&format!("sqlite://{target}?mode=ro")).await?;
    let counted = counts(&mut conn, storage::Backend::Sqlite).await;
    conn.close().await?;
    counted
}

/// Counts in an exported snapshot, and `pg_dump` of the same snapshot.
async fn postgres_backup(
    db: &Db,
    url: &str,
    file: &Path,
) -> anyhow::Result<(BTreeMap<String, i64>, i64, String)> {
    let tool = tool_version("pg_dump")?;
    let mut conn = db.pool().acquire().await?;
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *conn)
        .await?;
    let snapshot: String = sqlx::query("SELECT pg_export_snapshot() AS id")
        .fetch_one(&mut *conn)
        .await?
        .try_get("id")?;
    let (tables, version) = counts(&mut conn, storage::Backend::Postgres).await?;
    let (url, password) = libpq_target(url)?;
    let mut dump = tokio::process::Command::new("pg_dump");
    if let Some(p) = password {
        dump.env("PGPASSWORD", p);
    }
    let status = dump
        .args([
            "--format=custom",
            "--no-owner",
            "--snapshot",
            &snapshot,
            "--file",
        ])
        .arg(file)
        .arg(url)
        .status()
        .await
        .context("running pg_dump")?;
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    anyhow::ensure!(status.success(), "pg_dump failed ({status})");
    Ok((tables, version, tool))
}

/// The URL for the PostgreSQL tools without its password, and the password for
/// `PGPASSWORD`: a password on a command line is readable by every local user (`ps`).
fn libpq_target(url: &str) -> anyhow::Result<(String, Option<String>)> {
    let mut u = reqwest::Url::parse(url).context("DATABASE_URL is not a URL")?;
    let password = u.password().map(|p| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .into_owned()
    });
    let _ = u.set_password(None);
    Ok((u.to_string(), password))
}

/// The SQLite file the configuration names: `DATABASE_URL=sqlite:…` or the data directory's.
pub(crate) fn sqlite_file(config: &Config) -> PathBuf {
    let url = config.database_url();
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(&url);
    PathBuf::from(rest.split('?').next().unwrap_or(rest))
}

/// `pg_dump --version` and friends, or an error saying the client is needed.
fn tool_version(tool: &str) -> anyhow::Result<String> {
    let out = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .with_context(|| {
            format!("{tool} is needed for PostgreSQL backups (the PostgreSQL client, of the server's major version or newer)")
        })?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Nova's tables (the migrations' bookkeeping aside).
async fn tables(
    conn: &mut sqlx::AnyConnection,
    backend: storage::Backend,
) -> anyhow::Result<Vec<String>> {
    let sql = match backend {
        storage::Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name <> '_sqlx_migrations' ORDER BY name"
        }
        storage::Backend::Postgres => {
            "SELECT CAST(tablename AS TEXT) AS name FROM pg_tables WHERE schemaname = 'public' \
             AND tablename <> '_sqlx_migrations' ORDER BY tablename"
        }
    };
    let rows = sqlx::query(sql).fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>("name").map_err(Into::into))
        .collect()
}

/// Rows per table and the schema version, as `conn` sees them.
async fn counts(
    conn: &mut sqlx::AnyConnection,
    backend: storage::Backend,
) -> anyhow::Result<(BTreeMap<String, i64>, i64)> {
    let rows = table_rows(conn, backend).await?;
    let version: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM _sqlx_migrations")
        .fetch_one(&mut *conn)
        .await?
        .try_get("v")?;
    Ok((rows, version))
}

/// Rows per table, as `conn` sees them.
async fn table_rows(
    conn: &mut sqlx::AnyConnection,
    backend: storage::Backend,
) -> anyhow::Result<BTreeMap<String, i64>> {
    let mut out = BTreeMap::new();
    for table in tables(conn, backend).await? {
        // Names come from the catalogue, not from input; quoted all the same.
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM \"{table}\""))
            .fetch_one(&mut *conn)
            .await?
            .try_get("n")?;
        out.insert(table, n);
    }
    Ok(out)
}

fn digest(file: &Path) -> anyhow::Result<(u64, String)> {
    let mut f = std::fs::File::open(file)?;
    let mut hash = Sha256::new();
    let bytes = std::io::copy(&mut f, &mut hash)?;
    Ok((bytes, hex::encode(hash.finalize())))
}

/// Restore a backup into the configured database, which must be empty unless `--force`.
pub(crate) async fn restore(config: &Config, args: RestoreArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let manifest_path = if args.from.extension().is_some_and(|e| e == "json") {
        args.from.clone()
    } else {
        args.from.with_extension("json")
    };
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(&manifest_path)
            .with_context(|| format!("reading the manifest {}", manifest_path.display()))?,
    )
    .with_context(|| format!("{} is not a backup manifest", manifest_path.display()))?;
    anyhow::ensure!(
        manifest.format == FORMAT,
        "{} is {:?}, not {FORMAT}",
        manifest_path.display(),
        manifest.format
    );
    let file = manifest_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(plain_name(&manifest.file)?);
    let (bytes, sha256) = digest(&file).with_context(|| format!("reading {}", file.display()))?;
    anyhow::ensure!(
        bytes == manifest.bytes && sha256 == manifest.sha256,
        "{} does not match its manifest (size or SHA-256 differ): it is damaged or another file",
        file.display()
    );
    let url = config.database_url();
    let target = if url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    anyhow::ensure!(
        target == manifest.backend,
        "the backup is of a {} database and the configured one is {target}",
        manifest.backend
    );
    if target == "sqlite" {
        restore_sqlite(config, &file, args.force).await?;
    } else {
        restore_postgres(config, &url, &file, args.force).await?;
    }
    // Counted before migrating: a newer migration may add rows of its own.
    let db = config.connect().await?;
    let mut conn = db.pool().acquire().await?;
    let (now, _) = counts(&mut conn, db.backend()).await?;
    drop(conn);
    db.migrate().await?;
    db.close().await;
    for (table, rows) in &manifest.tables {
        let restored = now.get(table).copied().unwrap_or(-1);
        anyhow::ensure!(
            restored == *rows,
            "table {table} has {restored} rows after the restore; the manifest says {rows}"
        );
    }
    println!(
        "restored {} ({} rows in {} tables, taken {}) in {:.1} s",
        file.display(),
        manifest.tables.values().sum::<i64>(),
        manifest.tables.len(),
        manifest.created_at,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Rows in the configured database (an absent or table-less database holds none).
async fn rows_now(db: &Db) -> anyhow::Result<i64> {
    let mut conn = db.pool().acquire().await?;
    Ok(table_rows(&mut conn, db.backend()).await?.values().sum())
}

fn refuse_if_data(rows: i64, force: bool) -> anyhow::Result<()> {
    anyhow::ensure!(
        rows == 0 || force,
        "the target database holds {rows} rows: restore into an empty database, or pass \
         --force to replace them"
    );
    Ok(())
}

async fn restore_sqlite(config: &Config, file: &Path, force: bool) -> anyhow::Result<()> {
    let target = sqlite_file(config);
    if target.exists() {
        let db = config.connect().await?;
        let rows = rows_now(&db).await;
        db.close().await;
        refuse_if_data(rows?, force)?;
    }
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Copied beside the target first: a failed copy leaves the old database in place.
    let incoming = PathBuf::from(format!("{}.restoring", target.display()));
    std::fs::copy(file, &incoming)
        .with_context(|| format!("copying into {}", incoming.display()))?;
    for suffix in ["-wal", "-shm"] {
        let f = PathBuf::from(format!("{}{suffix}", target.display()));
        if f.exists() {
            std::fs::remove_file(&f).with_context(|| format!("removing {}", f.display()))?;
        }
    }
    std::fs::rename(&incoming, &target)
        .with_context(|| format!("moving the restored file to {}", target.display()))?;
    Ok(())
}

async fn restore_postgres(
    config: &Config,
    url: &str,
    file: &Path,
    force: bool,
) -> anyhow::Result<()> {
    tool_version("pg_restore")?;
    // pg_restore must read this dump (one from a newer pg_dump it cannot) before anything
    // in the target is dropped.
    let listed = tokio::process::Command::new("pg_restore")
        .arg("--list")
        .arg(file)
        .output()
        .await
        .context("running pg_restore --list")?;
    anyhow::ensure!(
        listed.status.success(),
        "pg_restore cannot read {}: {}; nothing was changed",
        file.display(),
        String::from_utf8_lossy(&listed.stderr).trim()
    );
    let db = config.connect().await?;
    refuse_if_data(rows_now(&db).await?, force)?;
    // Whatever schema is there (empty tables, or the data --force replaces) goes first.
    sqlx::query("DROP SCHEMA public CASCADE")
        .execute(db.pool())
        .await?;
    sqlx::query("CREATE SCHEMA public")
        .execute(db.pool())
        .await?;
    db.close().await;
    let (url, password) = libpq_target(url)?;
    let mut restore = tokio::process::Command::new("pg_restore");
    if let Some(p) = password {
        restore.env("PGPASSWORD", p);
    }
    let status = restore
        .args([
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--dbname",
            &url,
        ])
        .arg(file)
        .status()
        .await
        .context("running pg_restore")?;
    anyhow::ensure!(status.success(), "pg_restore failed ({status})");
    Ok(())
}

/// Scheduled backups inside workers: `nova worker --backup-every 4h --backup-to DIR`.
#[derive(Debug, Args)]
pub(crate) struct ScheduleArgs {
    /// Take a backup this often (`4h`, `30m`). With several workers on one database, one of
    /// them takes each backup.
    #[arg(long, env = "NOVA_BACKUP_EVERY", value_parser = humantime::parse_duration, requires = "backup_to")]
    pub(crate) backup_every: Option<Duration>,
    /// Where scheduled backups go (a volume every worker that may take one can write).
    #[arg(long, env = "NOVA_BACKUP_DIR")]
    pub(crate) backup_to: Option<PathBuf>,
    /// How many scheduled backups to keep; older ones are deleted.
    #[arg(long, env = "NOVA_BACKUP_KEEP", default_value_t = 7)]
    pub(crate) backup_keep: usize,
}

/// The lease row: a worker takes a period's backup by moving its time forward, which only
/// one worker can do once the period has passed.
const LEASE: &str = "backup.scheduled";

/// True when this worker claimed the backup due now.
async fn claim(db: &Db, worker: &str, every: Duration) -> anyhow::Result<bool> {
    let now = storage::now_ms();
    let due_before = now - i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
    let claimed = sqlx::query(
        "INSERT INTO platform_flags (name, enabled, message, updated_by, updated_at) \
         VALUES ($1, 1, NULL, $2, $3) ON CONFLICT (name) DO UPDATE \
         SET updated_by = excluded.updated_by, updated_at = excluded.updated_at \
         WHERE platform_flags.updated_at <= $4",
    )
    .bind(LEASE)
    .bind(worker)
    .bind(now)
    .bind(due_before)
    .execute(db.pool())
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Take a backup every `every` (when this worker wins the period), keeping `keep`.
pub(crate) async fn scheduled(config: Config, db: Db, worker: String, args: ScheduleArgs) {
    let (Some(every), Some(dir)) = (args.backup_every, args.backup_to) else {
        return;
    };
    // Look a few times a period, so a worker that dies mid-period is covered by another
    // soon after the period ends.
    let mut tick = tokio::time::interval(
        (every / 4).clamp(Duration::from_millis(50), Duration::from_secs(60)),
    );
    loop {
        tick.tick().await;
        match claim(&db, &worker, every).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim the scheduled backup");
                continue;
            }
        }
        let started = Instant::now();
        match make(&config, &dir).await {
            Ok((file, _, manifest)) => {
                metrics::counter!("nova_backups_total", "result" => "ok").increment(1);
                metrics::gauge!("nova_backup_last_success_timestamp_seconds")
                    .set(storage::now_ms() as f64 / 1000.0);
                let removed = prune(&dir, args.backup_keep).unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "could not delete old backups");
                    0
                });
                tracing::info!(file = %file.display(), bytes = manifest.bytes, removed, seconds = started.elapsed().as_secs_f64(), "scheduled backup taken");
            }
            Err(e) => {
                metrics::counter!("nova_backups_total", "result" => "failed").increment(1);
                tracing::error!(error = %format!("{e:#}"), "scheduled backup failed; retrying at the next look");
                // Give the period back, so this or another worker tries again soon.
                let released = sqlx::query(
                    "UPDATE platform_flags SET updated_at = 0 WHERE name = $1 AND updated_by = $2",
                )
                .bind(LEASE)
                .bind(&worker)
                .execute(db.pool())
                .await;
                if let Err(e) = released {
                    tracing::warn!(error = %e, "could not release the backup period");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_backup(dir: &Path, name: &str) {
        let manifest = Manifest {
            format: FORMAT.into(),
            created_at: String::new(),
            backend: "sqlite".into(),
            schema_version: 1,
            tables: BTreeMap::new(),
            file: format!("{name}.sqlite"),
            bytes: 1,
            sha256: String::new(),
            pg_dump: None,
        };
        std::fs::write(dir.join(format!("{name}.sqlite")), b"x").unwrap();
        std::fs::write(
            dir.join(format!("{name}.json")),
            serde_json::to_vec(&manifest).unwrap(),
        )
        .unwrap();
    }

    #[test]
    fn pruning_keeps_the_newest_backups_and_their_files() {
        let dir = tempfile::tempdir().unwrap();
        for stamp in [
            "20261201T000000.000Z",
            "20261202T000000.000Z",
            "20261203T000000.000Z",
        ] {
            fake_backup(dir.path(), &format!("nova-{stamp}"));
        }
        std::fs::write(dir.path().join("notes.json"), b"{}").unwrap();
        assert_eq!(prune(dir.path(), 2).unwrap(), 1);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "notes.json",
                "nova-20261202T000000.000Z.json",
                "nova-20261202T000000.000Z.sqlite",
                "nova-20261203T000000.000Z.json",
                "nova-20261203T000000.000Z.sqlite"
            ]
        );
    }

    #[tokio::test]
    async fn one_worker_takes_each_period() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/n.db?mode=rwc", dir.path().display()))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let hour = Duration::from_secs(3600);
        assert!(claim(&db, "a", hour).await.unwrap());
        assert!(!claim(&db, "b", hour).await.unwrap(), "the period is taken");
        assert!(!claim(&db, "a", hour).await.unwrap());
        // A period of zero has always passed.
        assert!(claim(&db, "b", Duration::ZERO).await.unwrap());
    }
}
