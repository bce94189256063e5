//! `nova` as its own process, for the benchmarks that measure it from outside.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

/// The ticket the benchmarks open with `POST /v1/portal/pos/tickets`: one line priced by the
/// client, so a tenant with an empty menu can open it.
pub const TICKET: &str = r#"{"table":"1","items":[{"name":"Soup","qty":1,"priceCents":450}]}"#;

/// A child process killed when the benchmark ends, however it ends.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One `nova` command's environment: the data directory and database of this run.
pub struct Nova {
    pub data: tempfile::TempDir,
    pub database_url: Option<String>,
    /// Extra environment for every command.
    pub env: Vec<(String, String)>,
    /// Send servers' standard error (their log lines) nowhere.
    pub quiet: bool,
}

impl Nova {
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nova"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::var_os("HOME").unwrap_or_default())
            .env("NOVA_DATA_DIR", self.data.path())
            .env("RUST_LOG", "warn");
        if let Some(url) = &self.database_url {
            cmd.env("DATABASE_URL", url);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) {
        let out = self.command().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "nova {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Create the benchmark superadmin (`ops@bench.test` / `bench-password-1`), migrating
    /// the database on the way.
    pub fn create_superadmin(&self) {
        self.run(&[
            "superadmin",
            "create",
            "--email",
            "ops@bench.test",
            "--password",
            "bench-password-1",
        ]);
    }

    /// Start a `nova` server subcommand; returns it and the base URL it prints.
    pub fn start(&self, args: &[&str], prefix: &str) -> (Running, String) {
        let mut child = self
            .command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(if self.quiet {
                Stdio::null()
            } else {
                Stdio::inherit()
            })
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        (Running(child), base)
    }
}

/// A call that must succeed; its JSON body.
pub async fn send(req: reqwest::RequestBuilder) -> Value {
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// The benchmark superadmin's token (`ops@bench.test` / `bench-password-1`).
pub async fn superadmin_token(base: &str) -> String {
    send(
        reqwest::Client::new()
            .post(format!("{base}/auth/login"))
            .json(&json!({
                "email": "ops@bench.test", "password": "bench-password-1"
            })),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Create a tenant without a plan, with `modules` switched on, as the superadmin `admin`;
/// its id.
pub async fn create_tenant(
    http: &reqwest::Client,
    base: &str,
    admin: &str,
    modules: &[&str],
) -> String {
    let id = send(
        http.post(format!("{base}/v1/superadmin/tenants"))
            .bearer_auth(admin)
            .json(&json!({"name": "Bench Bistro"})),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for module in modules {
        send(
            http.put(format!(
                "{base}/v1/superadmin/tenants/{id}/modules/{module}"
            ))
            .bearer_auth(admin)
            .json(&json!({"enabled": true})),
        )
        .await;
    }
    id
}

/// A tenant without a plan, with `modules` switched on, and its admin's token (the server's
/// superadmin is `ops@bench.test` / `bench-password-1`).
pub async fn tenant(base: &str, modules: &[&str]) -> String {
    let http = reqwest::Client::new();
    let admin = superadmin_token(base).await;
    let id = create_tenant(&http, base, &admin, modules).await;
    send(
        http.post(format!("{base}/v1/superadmin/tenants/{id}/users"))
            .bearer_auth(&admin)
            .json(
                &json!({"email": "a@bench.test", "password": "bench-password-2", "role": "admin"}),
            ),
    )
    .await;
    send(http.post(format!("{base}/auth/login")).json(&json!({
        "email": "a@bench.test", "password": "bench-password-2"
    })))
    .await["token"]
        .as_str()
        .unwrap()
        .to_string()
}
