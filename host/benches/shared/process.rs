//! `nova` as its own process, for the benchmarks that measure it from outside.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

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
