//! A module author's first loop through the real binary: `nova module new`, then `nova dev`
//! on the new crate; the curl line it prints is answered, and an edit to the source is
//! served without a restart.
//!
//! A test binary of its own: its cargo builds take both cores for a while, and the `all`
//! suite has tests that measure CPU deadlines.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// Long enough for a cold build of the SDK's dependencies for `wasm32-wasip2`.
const BUILD_PATIENCE: Duration = Duration::from_secs(600);

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What `nova dev` printed: its own lines, and cargo's (kept for a failure message).
struct Output {
    lines: mpsc::Receiver<String>,
    cargo: Arc<Mutex<Vec<String>>>,
}

impl Output {
    /// Wait for a line that starts with `prefix`.
    fn line_starting(&self, prefix: &str) -> String {
        loop {
            match self.lines.recv_timeout(BUILD_PATIENCE) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => continue,
                Err(e) => panic!(
                    "no line starting {prefix:?} ({e}); cargo said: {:?}",
                    self.cargo.lock().unwrap()
                ),
            }
        }
    }
}

/// Forward each line of `from` to `send` until either side closes.
fn forward(
    from: impl std::io::Read + Send + 'static,
    send: impl Fn(String) -> bool + Send + 'static,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if !send(line) {
                break;
            }
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_module_runs_under_nova_dev_and_an_edit_is_served() {
    let nova = env!("CARGO_BIN_EXE_nova");
    let parent = tempfile::tempdir().unwrap();
    let out = Command::new(nova)
        .args(["module", "new", "tips", "--dir"])
        .arg(parent.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created = String::from_utf8_lossy(&out.stdout);
    assert!(
        created.contains("nova dev"),
        "the scaffold says how to run it: {created}"
    );
    let dir = parent.path().join("tips");

    // Reruns reuse the SDK's compiled dependencies; the data under it is nova dev's own.
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/dev-loop");
    let mut child = Command::new(nova)
        .arg("dev")
        .arg(&dir)
        .args(["--listen", "127.0.0.1:0"])
        .env("CARGO_TARGET_DIR", &target)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    forward(child.stdout.take().unwrap(), move |l| tx.send(l).is_ok());
    let cargo = Arc::new(Mutex::new(Vec::new()));
    let kept = cargo.clone();
    forward(child.stderr.take().unwrap(), move |l| {
        kept.lock().unwrap().push(l);
        true
    });
    let running = Running(child);
    let out = Output { lines, cargo };

    let first = out.line_starting("nova dev: tips version ");
    let version: i64 = first
        .trim_start_matches("nova dev: tips version ")
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no version in {first:?}"));
    let try_line = out.line_starting("  try");
    let token = try_line
        .split_once("Bearer ")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(t, _)| t.to_string())
        .unwrap_or_else(|| panic!("no token in {try_line:?}"));
    let url = try_line.split_whitespace().last().unwrap().to_string();

    // The printed curl line, as a person would run it.
    let http = reqwest::Client::new();
    let fetch = || async {
        let resp = http.get(&url).bearer_auth(&token).send().await.unwrap();
        resp.json::<serde_json::Value>().await.unwrap()
    };
    let screens = fetch().await;
    assert_eq!(screens["title"], "tips", "{screens}");

    // An edit is rebuilt, reinstalled and served by the same server.
    let lib = dir.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    let edited = source.replace(
        r#"Screens::new("tips", "greetings")"#,
        r#"Screens::new("Tips, edited", "greetings")"#,
    );
    assert_ne!(source, edited, "the scaffold's screens line moved");
    std::fs::write(&lib, edited).unwrap();
    out.line_starting(&format!("tips version {} is running", version + 1));
    let screens = fetch().await;
    assert_eq!(screens["title"], "Tips, edited", "{screens}");
    drop(running);
}
