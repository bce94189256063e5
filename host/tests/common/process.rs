//! Running the real `nova` binary: commands, and `nova serve` on a free loopback port.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use super::{Backend, fresh_postgres, shared_cache_dir};

pub struct Nova {
    /// Extra environment for every command (e.g. `REDIS_URL`).
    pub env: Vec<(String, String)>,
    pub data_dir: tempfile::TempDir,
    pub database_url: Option<String>,
}

impl Nova {
    pub async fn new(backend: Backend) -> Self {
        Self {
            env: Vec::new(),
            data_dir: tempfile::tempdir().unwrap(),
            database_url: match backend {
                Backend::Sqlite => None,
                Backend::Postgres => Some(fresh_postgres().await),
            },
        }
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nova"));
        cmd.env_clear()
            .env("NOVA_DATA_DIR", self.data_dir.path())
            .env("NOVA_CACHE_DIR", shared_cache_dir())
            .env("RUST_LOG", "warn")
            .env(
                "NOVA_CALL_DEADLINE_MS",
                super::TEST_CALL_DEADLINE_MS.to_string(),
            );
        if let Some(url) = &self.database_url {
            cmd.env("DATABASE_URL", url);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "nova {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Start `nova serve` on a free port; returns the child and its base URL once it listens.
    pub fn serve(&self) -> (Child, String) {
        let mut child = self
            .command()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("nova listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        (child, base)
    }
}

impl Nova {
    /// Start `nova serve` on a free port with its standard error read line by line (its JSON
    /// log lines); returns the child, its base URL and the lines as they come.
    pub fn serve_logged(&self) -> (Child, String, std::sync::mpsc::Receiver<String>) {
        let mut child = self
            .command()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("nova listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, base, rx)
    }
}

pub fn stop(mut child: Child) {
    // SIGTERM: the graceful path an orchestrator uses.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    assert!(status.success(), "nova serve exited with {status}");
}

/// Kills a child left running when a test panics before it could [`stop`] it.
pub struct KillOnDrop(pub Option<Child>);

impl KillOnDrop {
    /// The child, for a graceful [`stop`].
    pub fn take(&mut self) -> Child {
        self.0.take().expect("the child is still here")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sign in to a running `nova serve`; the token.
pub async fn login(http: &reqwest::Client, base: &str, email: &str, password: &str) -> String {
    let v: serde_json::Value = http
        .post(format!("{base}/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap_or(serde_json::Value::Null);
    v["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"))
        .to_string()
}

/// A tenant named `name` with POS on and an admin user `email` / `password`, made through
/// the API of a running `nova serve` as `superadmin`: (tenant id, the admin's token).
pub async fn pos_tenant(
    http: &reqwest::Client,
    base: &str,
    superadmin: &str,
    name: &str,
    email: &str,
    password: &str,
) -> (String, String) {
    let tenant: serde_json::Value = http
        .post(format!("{base}/v1/superadmin/tenants"))
        .bearer_auth(superadmin)
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = tenant["id"].as_str().unwrap().to_string();
    let user = http
        .post(format!("{base}/v1/superadmin/tenants/{id}/users"))
        .bearer_auth(superadmin)
        .json(&serde_json::json!({"email": email, "password": password, "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), 201);
    let on = http
        .put(format!("{base}/v1/superadmin/tenants/{id}/modules/pos"))
        .bearer_auth(superadmin)
        .json(&serde_json::json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(on.status(), 200);
    let token = login(http, base, email, password).await;
    (id, token)
}
