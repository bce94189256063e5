//! Nova against its peers, from outside: `nova serve`, the native baseline (`nova
//! bench-baseline`: same binary, same token check, same rows, no module) and `wasmtime serve`
//! each run as their own process, and `wrk` drives them from another, in alternating rounds.
//! Prints one table of ratios for issue 17's targets 1–3 on SQLite, and on PostgreSQL when
//! `NOVA_BENCH_POSTGRES` names a server.
//!
//! `scripts/bench-peers` installs wrk and builds `wasmtime` (the newest command line of the
//! minor release Nova links) into a cache when they are missing, then runs `cargo bench -p
//! nova --bench peers`. Settings: `NOVA_BENCH_WASMTIME` (the `wasmtime` binary),
//! `NOVA_BENCH_SECONDS` (per round, default 6), `NOVA_BENCH_ROUNDS` (default 3),
//! `NOVA_BENCH_CONNECTIONS` (default 32).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

#[path = "shared/postgres.rs"]
mod postgres;
#[path = "shared/process.rs"]
mod process;

use process::{Nova, Running, TICKET, send};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wasmtime_binary() -> PathBuf {
    std::env::var_os("NOVA_BENCH_WASMTIME")
        .map(PathBuf::from)
        .expect("NOVA_BENCH_WASMTIME names `wasmtime`: run scripts/bench-peers, which builds it")
}

/// `wasmtime serve` with the pooling allocator on the plain `wasi:http` hello component.
async fn start_wasmtime(dir: &Path) -> (Running, String) {
    let component = dir.join("hello.wasm");
    std::fs::write(&component, nova_artifacts::guests::WASI_HELLO).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let binary = wasmtime_binary();
    let child = Running(
        Command::new(&binary)
            .args([
                "serve",
                "-S",
                "cli",
                "-O",
                "pooling-allocator",
                "--addr",
                &addr,
            ])
            .arg(&component)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; run scripts/bench-peers, which builds it",
                    binary.display()
                )
            }),
    );
    let base = format!("http://{addr}");
    // Started in the background: ask until it answers.
    for _ in 0..400 {
        if reqwest::get(format!("{base}/")).await.is_ok() {
            return (child, base);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("wasmtime serve did not answer on {addr}");
}

/// One wrk round's figures.
#[derive(Debug, Clone, Copy, Default)]
struct Round {
    /// Answers per second that were 2xx: refusals are not throughput.
    rps: f64,
    p99_ms: f64,
    non_2xx: u64,
}

fn millis(s: &str) -> f64 {
    let (n, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = n.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

fn parse_wrk(out: &str) -> Round {
    let mut round = Round::default();
    let mut total = 0u64;
    let mut errors = 0u64;
    for line in out.lines().map(str::trim) {
        if let Some((n, _)) = line.split_once(" requests in ") {
            total = n.trim().parse().unwrap_or(0);
        }
        if let Some(v) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 3"
            errors = v
                .split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum();
        }
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            round.rps = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = line.strip_prefix("99%") {
            round.p99_ms = millis(v.trim());
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            round.non_2xx = v.trim().parse().unwrap_or(0);
        }
    }
    if total > 0 {
        round.rps *= total.saturating_sub(round.non_2xx) as f64 / total as f64;
    }
    round.non_2xx += errors;
    round
}

/// What one target is: a URL, and the wrk script that sets its method, body and token.
struct Target {
    label: &'static str,
    url: String,
    script: PathBuf,
}

fn script(dir: &Path, name: &str, token: Option<&str>, post: Option<&str>) -> PathBuf {
    let mut lua = String::new();
    if let Some(token) = token {
        lua.push_str(&format!(
            "wrk.headers[\"authorization\"] = \"Bearer {token}\"\n"
        ));
    }
    if let Some(body) = post {
        lua.push_str("wrk.method = \"POST\"\n");
        lua.push_str("wrk.headers[\"content-type\"] = \"application/json\"\n");
        lua.push_str(&format!("wrk.body = [[{body}]]\n"));
    }
    let path = dir.join(format!("{name}.lua"));
    std::fs::write(&path, lua).unwrap();
    path
}

fn wrk(target: &Target, seconds: u64, connections: u64) -> Round {
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s")])
        .arg("--latency")
        .arg("-s")
        .arg(&target.script)
        .arg(&target.url)
        .output()
        .expect("wrk is installed (scripts/bench-peers installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    let round = parse_wrk(&text);
    assert!(round.rps > 0.0, "{}: {text}", target.label);
    if round.non_2xx > 0 {
        // wrk's own lines say whether they were answers (non-2xx) or socket errors (and
        // which: connect, read, write, timeout).
        for line in text.lines().map(str::trim) {
            if line.starts_with("Non-2xx") || line.starts_with("Socket errors") {
                eprintln!("{}: {line}", target.label);
            }
        }
    }
    round
}

/// One request like the round's, to show what the refusals were.
async fn explain_refusals(target: &Target, token: &str) {
    let http = reqwest::Client::new();
    let post = std::fs::read_to_string(&target.script).is_ok_and(|s| s.contains("POST"));
    let req = if post {
        http.post(&target.url)
            .header("content-type", "application/json")
            .body(TICKET)
    } else {
        http.get(&target.url)
    };
    let resp = req.bearer_auth(token).send().await.unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    eprintln!(
        "{}: non-2xx answers; one request now: {status} {body:.300}",
        target.label
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn resident_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

async fn run(name: &'static str, database_url: Option<String>) {
    let seconds: u64 = env_or("NOVA_BENCH_SECONDS", 6);
    let rounds: usize = env_or("NOVA_BENCH_ROUNDS", 3);
    let connections: u64 = env_or("NOVA_BENCH_CONNECTIONS", 32);
    let nova = Nova {
        data: tempfile::tempdir().unwrap(),
        database_url,
        env: Vec::new(),
        quiet: false,
    };
    let scratch = tempfile::tempdir().unwrap();
    nova.create_superadmin();
    let trivial = scratch.path().join("trivial.wasm");
    std::fs::write(&trivial, nova_artifacts::guests::TRIVIAL).unwrap();
    nova.run(&[
        "module",
        "install",
        trivial.to_str().unwrap(),
        "--name",
        "hello",
        "--create",
    ]);
    let (server, base) = nova.start(&["serve", "--listen", "127.0.0.1:0"], "nova listening on ");
    let (_baseline, native) = nova.start(
        &["bench-baseline", "--listen", "127.0.0.1:0"],
        "nova baseline listening on ",
    );
    let (_wasmtime, peer) = start_wasmtime(scratch.path()).await;
    let token = process::tenant(&base, &["pos", "hello"]).await;
    // One ticket, so both lists have a row to read.
    send(
        reqwest::Client::new()
            .post(format!("{base}/v1/portal/pos/tickets"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(TICKET),
    )
    .await;

    let dir = scratch.path();
    let anon = script(dir, "anon", None, None);
    let get = script(dir, "get", Some(&token), None);
    let post = script(dir, "post", Some(&token), Some(TICKET));
    let targets = [
        Target {
            label: "native hello (bench-baseline)",
            url: format!("{native}/hello"),
            script: anon.clone(),
        },
        Target {
            label: "wasmtime serve, wasi:http hello",
            url: format!("{peer}/"),
            script: anon,
        },
        Target {
            label: "Nova trivial module",
            url: format!("{base}/v1/portal/hello/ping"),
            script: get.clone(),
        },
        Target {
            label: "native GET tickets?limit=1",
            url: format!("{native}/v1/portal/pos/tickets?limit=1"),
            script: get.clone(),
        },
        Target {
            label: "Nova GET pos/tickets?limit=1",
            url: format!("{base}/v1/portal/pos/tickets?limit=1"),
            script: get,
        },
        Target {
            label: "native POST tickets",
            url: format!("{native}/v1/portal/pos/tickets"),
            script: post.clone(),
        },
        Target {
            label: "Nova POST pos/tickets",
            url: format!("{base}/v1/portal/pos/tickets"),
            script: post,
        },
    ];
    // A short warm-up of each (compile caches, connection pools, page cache).
    for t in &targets {
        wrk(t, 1, connections);
    }
    let mut figures = vec![Vec::new(); targets.len()];
    for _ in 0..rounds {
        for (i, t) in targets.iter().enumerate() {
            let round = wrk(t, seconds, connections);
            if round.non_2xx > 0 {
                explain_refusals(t, &token).await;
            }
            figures[i].push(round);
        }
    }
    let rss = resident_mib(server.0.id());
    let summary: Vec<Round> = figures
        .iter()
        .map(|f| Round {
            rps: median(f.iter().map(|r| r.rps).collect()),
            p99_ms: median(f.iter().map(|r| r.p99_ms).collect()),
            non_2xx: f.iter().map(|r| r.non_2xx).sum(),
        })
        .collect();
    println!(
        "\n{name}: wrk -t2 -c{connections}, {rounds} rounds of {seconds} s per target, alternating; medians"
    );
    println!("| target | 2xx req/s | p99 ms | non-2xx or socket errors |\n|---|---|---|---|");
    for (t, s) in targets.iter().zip(&summary) {
        println!(
            "| {} | {:.0} | {:.2} | {} |",
            t.label, s.rps, s.p99_ms, s.non_2xx
        );
    }
    let ratio = |a: usize, b: usize| summary[a].rps / summary[b].rps;
    let p99 = |a: usize, b: usize| summary[a].p99_ms / summary[b].p99_ms;
    let figures = [
        (
            "1. trivial module / wasmtime serve hello, req/s",
            format!("{:.2}", ratio(2, 1)),
            "≥ 1.2",
        ),
        (
            "1. trivial module / wasmtime serve hello, p99",
            format!("{:.2}", p99(2, 1)),
            "≤ 1.0",
        ),
        (
            "(trivial module / native hello, req/s)",
            format!("{:.3}", ratio(2, 0)),
            "",
        ),
        (
            "2. GET pos/tickets?limit=1 / native, req/s",
            format!("{:.2}", ratio(4, 3)),
            "≥ 0.5",
        ),
        (
            "3. POST pos/tickets / native, req/s",
            format!("{:.2}", ratio(6, 5)),
            "≥ 0.25",
        ),
        (
            "3. POST pos/tickets answered non-2xx",
            summary[6].non_2xx.to_string(),
            "0",
        ),
    ];
    println!("\n| target | figure | goal |\n|---|---|---|");
    for (label, figure, goal) in figures {
        println!("| {label} | {figure} | {goal} |");
    }
    println!("| nova serve resident memory after the run | {rss:.0} MiB | |");
}

fn main() {
    postgres::on_each_backend(run);
}
