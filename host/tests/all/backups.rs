//! `nova backup` while the server takes writes, and `nova restore` into a fresh database,
//! through the real binary on both backends: every ticket acknowledged before the backup
//! started is in the restore, every ticket there has its invocation record, the row counts
//! are the manifest's, and a restore never overwrites data without `--force`.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use common::Backend;
use common::process::{KillOnDrop, Nova, login, pos_tenant, stop};
use serde_json::{Value, json};
use sqlx::Row;

/// The database a `Nova` uses, for counting rows behind the API.
async fn db_of(nova: &Nova) -> nova::storage::Db {
    let url = nova
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/nova.db", nova.data_dir.path().display()));
    nova::storage::Db::connect(&url).await.unwrap()
}

async fn one_count(db: &nova::storage::Db, sql: &str, tenant: &str) -> i64 {
    sqlx::query(sql)
        .bind(tenant)
        .fetch_one(db.pool())
        .await
        .unwrap()
        .try_get::<i64, _>("n")
        .unwrap()
}

async fn backup_under_writes_restores_what_was_acknowledged(backend: Backend) {
    let source = Nova::new(backend).await;
    source.run(&[
        "superadmin",
        "create",
        "--email",
        "ops@backup.test",
        "--password",
        "ops-password-1",
    ]);
    let (child, base) = source.serve();
    let mut child = KillOnDrop(Some(child));
    let http = reqwest::Client::new();
    let admin = login(&http, &base, "ops@backup.test", "ops-password-1").await;
    let (tenant, chef) = pos_tenant(
        &http,
        &base,
        &admin,
        "Backed Up Bistro",
        "chef@backup.test",
        "chef-password-1",
    )
    .await;

    // Two writers open tickets until told to stop; each acknowledged ticket is kept with
    // the moment its 201 arrived.
    let stop_writing = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (http, base, chef, stop_writing) = (
                http.clone(),
                base.clone(),
                chef.clone(),
                stop_writing.clone(),
            );
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut n = 0;
                while !stop_writing.load(Ordering::Relaxed) {
                    n += 1;
                    let resp = http
                        .post(format!("{base}/v1/portal/pos/tickets"))
                        .bearer_auth(&chef)
                        .json(&json!({"table": format!("w{w}-{n}")}))
                        .send()
                        .await
                        .unwrap();
                    if resp.status() == 201 {
                        let t: Value = resp.json().await.unwrap();
                        acked.push((t["id"].as_u64().unwrap(), Instant::now()));
                    }
                }
                acked
            })
        })
        .collect();
    // Let some writes land (a condition, looked at every 10 ms), then back up in the
    // middle of the rest.
    let source_db = db_of(&source).await;
    let count_tickets =
        "SELECT COUNT(*) AS n FROM module_kv WHERE tenant_id = $1 AND key LIKE 'ticket/%'";
    while writers.iter().all(|w| !w.is_finished())
        && one_count(&source_db, count_tickets, &tenant).await < 20
    {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    source_db.close().await;
    let out = tempfile::tempdir().unwrap();
    let backup_started = Instant::now();
    let said = {
        let to = out.path().to_str().unwrap().to_string();
        let cmd = source.command();
        tokio::task::spawn_blocking(move || {
            let mut cmd = cmd;
            cmd.args(["backup", "--to", &to]).output().unwrap()
        })
        .await
        .unwrap()
    };
    stop_writing.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    assert!(
        said.status.success(),
        "{}",
        String::from_utf8_lossy(&said.stderr)
    );
    stop(child.take());
    let before: Vec<u64> = acked
        .iter()
        .filter(|(_, at)| *at < backup_started)
        .map(|(id, _)| *id)
        .collect();
    // 20 tickets were committed before it; a few 201s may still have been on their way.
    assert!(
        before.len() >= 10,
        "writes before the backup: {}",
        before.len()
    );
    let manifest_path = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a manifest");
    let manifest: Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    println!(
        "{backend:?}: {} tickets acknowledged, {} before the backup; manifest {}",
        acked.len(),
        before.len(),
        manifest["tables"]
    );

    // Into a fresh database: the manifest's rows, the acknowledged tickets, their records.
    let target = Nova::new(backend).await;
    let restored = target.run(&["restore", "--from", manifest_path.to_str().unwrap()]);
    assert!(restored.contains("restored"), "{restored}");
    let db = db_of(&target).await;
    for (table, rows) in manifest["tables"].as_object().unwrap() {
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(db.pool())
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
        assert_eq!(Some(n), rows.as_i64(), "{table}");
    }
    let tickets = one_count(&db, count_tickets, &tenant).await;
    let records = one_count(
        &db,
        "SELECT COUNT(*) AS n FROM invocations WHERE tenant_id = $1 AND method = 'POST' \
         AND path = '/tickets' AND status = 201",
        &tenant,
    )
    .await;
    assert_eq!(
        tickets, records,
        "every ticket has its invocation record, and no more"
    );
    db.close().await;
    let (child, base) = target.serve();
    let mut child = KillOnDrop(Some(child));
    // Tokens signed before the backup still verify: the signing keys came along.
    for id in &before {
        let resp = http
            .get(format!("{base}/v1/portal/pos/tickets/{id}"))
            .bearer_auth(&chef)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            200,
            "ticket {id}, acknowledged before the backup"
        );
    }
    stop(child.take());

    // A second restore onto the restored data is refused and changes nothing.
    let again = target
        .command()
        .args(["restore", "--from", manifest_path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("--force"), "{err}");
}

/// `nova worker --backup-every` takes backups on its own and keeps the newest few.
async fn workers_take_scheduled_backups_and_keep_the_newest(backend: Backend) {
    let nova = Nova::new(backend).await;
    nova.run(&["migrate"]);
    let dir = tempfile::tempdir().unwrap();
    let mut worker = nova
        .command()
        .args([
            "worker",
            "--listen",
            "127.0.0.1:0",
            "--backup-every",
            "300ms",
            "--backup-keep",
            "2",
        ])
        .arg("--backup-to")
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = worker.stdout.take().unwrap();
    let mut worker = KillOnDrop(Some(worker));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    let probes = line
        .trim()
        .strip_prefix("nova worker probes on ")
        .unwrap()
        .to_string();
    // Until three backups were taken (the worker's own count), looked at every 50 ms.
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let metrics = reqwest::get(format!("{probes}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let taken = metrics
            .lines()
            .find(|l| l.starts_with("nova_backups_total{result=\"ok\"}"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or(0.0);
        if taken >= 3.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "three scheduled backups: {metrics}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    stop(worker.take());
    let manifests: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(manifests.len(), 2, "the newest two are kept: {manifests:?}");
    // Each kept backup restores.
    let target = Nova::new(backend).await;
    let said = target.run(&["restore", "--from", manifests[0].to_str().unwrap()]);
    assert!(said.contains("restored"), "{said}");
}

/// `nova drill restore` through the real binary: the newest backup goes into a scratch
/// database, the outbox it held is replayed, a POS sale settles on the restored data, and the
/// report says so (and `nova drill check` accepts it). A damaged backup fails the drill, and
/// `drill check` then refuses it as evidence.
async fn the_restore_drill_passes_on_a_good_backup_and_fails_on_a_damaged_one(backend: Backend) {
    let nova = Nova::new(backend).await;
    nova.run(&["migrate"]);
    nova.run(&[
        "superadmin",
        "create",
        "--email",
        "ops@drill.test",
        "--password",
        "ops-password-1",
    ]);
    // A mail waiting in the outbox when the backup is taken: the drill must send it.
    let db = db_of(&nova).await;
    let now = nova::storage::now_ms();
    for sql in [
        format!(
            "INSERT INTO mail_outbox (id, to_addr, subject, body, status, attempts, created_at) VALUES ('m-drill', 'ops@drill.test', 's', 'b', 'queued', 0, {now})"
        ),
        format!(
            "INSERT INTO outbox (id, queue, ref_id, status, attempts, next_attempt_at, created_at, updated_at) VALUES ('j-drill', 'mail:send', 'm-drill', 'pending', 0, {now}, {now}, {now})"
        ),
    ] {
        sqlx::query(&sql).execute(db.pool()).await.unwrap();
    }
    db.close().await;
    let backups = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    nova.run(&["backup", "--to", backups.path().to_str().unwrap()]);
    let drill = [
        "drill",
        "restore",
        "--backups",
        backups.path().to_str().unwrap(),
        "--logs-dir",
        logs.path().to_str().unwrap(),
        "--env",
        "test",
    ];
    let said = nova.run(&drill);
    assert!(said.contains("pos-sale smoke passed"), "{said}");
    let reports = |dir: &std::path::Path| -> Vec<std::path::PathBuf> {
        let mut found: Vec<_> = std::fs::read_dir(dir.join("test"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        found.sort();
        found
    };
    let first = reports(logs.path());
    assert_eq!(first.len(), 1);
    let report = std::fs::read_to_string(&first[0]).unwrap();
    assert!(
        first[0]
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("restore-")
    );
    for line in [
        "**Result:** PASS",
        "every table's rows match the manifest",
        "outbox replayed: 1 due jobs run",
        "POS sale smoke passed on the restored data",
    ] {
        assert!(report.contains(line), "{line} in {report}");
    }
    let check = [
        "drill",
        "check",
        "--env",
        "test",
        "--drill",
        "restore",
        "--logs-dir",
        logs.path().to_str().unwrap(),
    ];
    assert!(nova.run(&check).contains("fresh"));
    // The drill works on a copy: the source still holds its queued job and no drill tenant.
    let db = db_of(&nova).await;
    let (pending, drill_tenants): (i64, i64) = (
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
            .fetch_one(db.pool())
            .await
            .unwrap(),
        sqlx::query_scalar("SELECT COUNT(*) FROM tenants WHERE name LIKE 'Restore drill%'")
            .fetch_one(db.pool())
            .await
            .unwrap(),
    );
    assert_eq!((pending, drill_tenants), (1, 0));
    if backend == Backend::Postgres {
        let name = report
            .split("scratch database ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("the report names no scratch database: {report}"));
        let scratch: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM pg_database WHERE CAST(datname AS TEXT) = $1")
                .bind(name)
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert_eq!(scratch, 0, "the scratch database {name} is dropped");
    }
    db.close().await;

    // One byte changed in the backup: the drill fails, says why, and its report is no
    // evidence for `drill check`. Report names carry the second; a new one needs a new second.
    let file = std::fs::read_dir(backups.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e != "json"))
        .unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let started = std::time::SystemTime::now();
    while first[0].file_name().unwrap().to_str().unwrap()
        >= format!(
            "restore-{}.md",
            jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S")
        )
        .as_str()
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(started.elapsed().unwrap().as_secs() < 5);
    }
    let out = nova.command().args(drill).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not match its manifest"), "{err}");
    let second = reports(logs.path());
    assert_eq!(second.len(), 2);
    assert!(
        std::fs::read_to_string(&second[1])
            .unwrap()
            .contains("**Result:** FAIL")
    );
    let out = nova.command().args(check).output().unwrap();
    assert!(!out.status.success(), "a failed drill is not evidence");
}

both_backends!(
    backup_under_writes_restores_what_was_acknowledged,
    workers_take_scheduled_backups_and_keep_the_newest,
    the_restore_drill_passes_on_a_good_backup_and_fails_on_a_damaged_one
);
