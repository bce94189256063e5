//! `nova payments-sandbox` as a real process, with an in-process Nova it settles to.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use super::{Backend, PAYMENTS_SECRET, TestServer};

/// The sandbox process; killed on drop.
pub struct Sandbox {
    child: Child,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Nova in-process on a real port, and `nova payments-sandbox` settling to it.
pub async fn start(backend: Backend) -> (TestServer, Sandbox) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    let mut child = Command::new(env!("CARGO_BIN_EXE_nova"))
        .env_clear()
        .env("PAYMENT_PROVIDER_WEBHOOK_SECRET", PAYMENTS_SECRET)
        .env("RUST_LOG", "warn")
        .args([
            "payments-sandbox",
            "--listen",
            "127.0.0.1:0",
            "--api-url",
            &api,
        ])
        .args(["--settle-after-ms", "50"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .strip_prefix("payments sandbox listening on ")
        .and_then(|l| l.split(',').next())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let server = TestServer::start_on(backend, listener, &url).await;
    (server, Sandbox { child })
}
