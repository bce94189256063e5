//! The POS operator commands with the real binary: `nova seed sample-data`, `nova smoke
//! pos-sale`, and the module author's `nova module new`.

use crate::common;

use std::process::{Command, Output};

use common::sandbox::start;
use common::{Backend, TestServer};

fn nova(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nova"))
        .env_clear()
        .env("RUST_LOG", "warn")
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn count(server: &TestServer, token: &str, path: &str, key: &str) -> usize {
    let (status, body) = server.get(token, path).await;
    assert_eq!(status, 200, "{body}");
    body[key].as_array().unwrap().len()
}

/// The scaffold test runs a whole cargo build, which starves the module calls of the other
/// tests in this binary (long calls run at idle priority) until they pass their deadline;
/// so the tests here take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn sample_data_twice_then_smoke(backend: Backend) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (server, _sandbox) = start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, token) = server.tenant(&admin, "Sample Bistro").await;
    server.toggle(&admin, &tenant, "pos", true).await;
    let seed = [
        "seed",
        "sample-data",
        "--tenant-id",
        &tenant,
        "--api-url",
        &server.base,
        "--token",
        &admin,
    ];

    let first = nova(&seed);
    assert!(first.status.success(), "{}", text(&first));
    let items = count(&server, &token, "/v1/portal/pos/menu/items", "items").await;
    let tickets = count(
        &server,
        &token,
        "/v1/portal/pos/tickets?limit=100",
        "tickets",
    )
    .await;
    assert_eq!((items, tickets), (12, 12), "{}", text(&first));
    let (_, report) = server
        .get(
            &token,
            "/v1/portal/pos/reports/sales?from=2000-01-01&to=2000-01-02",
        )
        .await;
    assert_eq!(report["totals"]["tickets"], 0, "{report}");

    let second = nova(&seed);
    assert!(second.status.success(), "{}", text(&second));
    assert!(text(&second).contains("(0 new)"), "{}", text(&second));
    assert_eq!(
        count(&server, &token, "/v1/portal/pos/menu/items", "items").await,
        12
    );
    assert_eq!(
        count(
            &server,
            &token,
            "/v1/portal/pos/tickets?limit=100",
            "tickets"
        )
        .await,
        12
    );
    // The service tokens it made for itself were revoked.
    use sqlx::Row;
    let live: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM service_tokens WHERE revoked_at IS NULL")
            .fetch_one(server.db().pool())
            .await
            .unwrap()
            .get("n");
    assert_eq!(live, 0);
    assert_eq!(server.count("service_tokens").await, 2);

    let smoke = [
        "smoke",
        "pos-sale",
        "--api-url",
        &server.base,
        "--token",
        &token,
    ];
    let ok = nova(&smoke);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("pos-sale smoke passed"), "{}", text(&ok));

    // With POS switched off the smoke test stops at its first step and says why.
    server.toggle(&admin, &tenant, "pos", false).await;
    let failed = nova(&smoke);
    assert!(!failed.status.success());
    let said = text(&failed);
    assert!(
        said.contains("FAIL  open a ticket") && said.contains("MODULE_DISABLED"),
        "{said}"
    );
}

both_backends!(sample_data_twice_then_smoke);

#[test]
fn module_new_scaffolds_a_crate_whose_test_passes() {
    let _turn = ONE_AT_A_TIME.blocking_lock();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    // Its help is its own: no server settings.
    let help = text(&nova(&["module", "new", "--help"]));
    assert!(
        help.contains("--nova-repo") && !help.contains("--database-url"),
        "{help}"
    );
    let parent = tempfile::tempdir().unwrap();
    let out = nova(&[
        "module",
        "new",
        "tips",
        "--dir",
        parent.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let crate_dir = parent.path().join("tips");
    // The root lock file pins the same versions the root build compiled, so the scaffold's
    // test build reuses them from the root target directory.
    std::fs::copy(root.join("Cargo.lock"), crate_dir.join("Cargo.lock")).unwrap();
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_") && key != "CARGO_HOME" {
            cargo.env_remove(key);
        }
    }
    // From the crate's directory, as its author runs it: cargo reads the crate's
    // .cargo/config.toml (NOVA_BIN, the test host) from the working directory.
    let test = cargo
        .current_dir(&crate_dir)
        .args(["test", "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(root.join("target"))
        .env(
            "NOVA_TESTKIT_TARGET_DIR",
            root.join("target").join("nova-testkit"),
        )
        // The test host it starts is this debug build, beside the rest of the suite: it gets
        // the test servers' long call deadline (under load a view call met the host's 1 s).
        .env(
            "NOVA_CALL_DEADLINE_MS",
            common::TEST_CALL_DEADLINE_MS.to_string(),
        )
        .output()
        .unwrap();
    let said = text(&test);
    assert!(test.status.success(), "{said}");
    assert!(said.contains("test greets_and_remembers ... ok"), "{said}");
}
