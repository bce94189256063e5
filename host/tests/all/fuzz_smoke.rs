//! A seeded, bounded run of the fuzz entry points (the coverage-guided targets live in
//! `fuzz/`): mutated components, webhook signatures and module routes. Nothing may panic,
//! and the host must keep answering.

use nova::fuzzing::{InstallHost, webhook_signature};
use nova_artifacts::guests;
use nova_sdk::{Request, Response, Router};

/// xorshift64: the same inputs every run, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max);
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Flip, overwrite, cut or splice: the mutations a fuzzer starts with.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        match rng.below(4) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = rng.next() as u8;
            }
            2 => out.truncate(rng.below(out.len() + 1)),
            _ => {
                let i = rng.below(out.len() + 1);
                let extra = rng.bytes(32);
                out.splice(i..i, extra);
            }
        }
    }
    out
}

#[test]
fn mutated_components_are_refused_or_run_under_limits() {
    let host = InstallHost::new();
    let mut rng = Rng(0x5eed_1234_abcd_9876);
    let mut accepted = 0;
    for i in 0..150 {
        let seed = if i % 2 == 0 {
            guests::TRIVIAL
        } else {
            guests::HOSTILE
        };
        let bytes = mutate(&mut rng, seed);
        let before = host
            .state()
            .runtime
            .registry
            .get("fuzzed")
            .map(|m| m.version);
        host.install_and_run(&bytes);
        if host
            .state()
            .runtime
            .registry
            .get("fuzzed")
            .map(|m| m.version)
            != before
        {
            accepted += 1;
        }
    }
    // Unmutated components still install and run: the host is healthy afterwards.
    host.install_and_run(guests::TRIVIAL);
    let live = host
        .state()
        .runtime
        .registry
        .get("fuzzed")
        .expect("the trivial guest installs");
    println!("150 mutated components: {accepted} accepted and run, the rest refused");
    assert!(live.version >= 1);
}

#[test]
fn webhook_signatures_never_panic() {
    let mut rng = Rng(42);
    let seeds: [&[u8]; 3] = [
        b"t=1800000000,v1=00ff\n{}",
        b"t=-1,v1=\n",
        b"v1=zz,t=9999999999999999999999\nbody",
    ];
    for i in 0..5_000 {
        let input = if i % 3 == 0 {
            rng.bytes(300)
        } else {
            mutate(&mut rng, seeds[i % 3])
        };
        webhook_signature(&input);
    }
}

#[test]
fn module_routing_never_panics() {
    let router = || {
        Router::new()
            .get("/tickets", |_r| Response::text(200, "list"))
            .get("/tickets/{id}", |r| {
                Response::text(200, r.param("id").unwrap_or(""))
            })
            .post("/tickets/{id}/lines", |_r| Response::text(201, "line"))
    };
    let mut rng = Rng(7);
    let seeds = [
        "/tickets/1/lines?x=%ZZ&y=+",
        "//tickets//",
        "/tickets/%2F..%2F/lines",
        "/",
    ];
    for i in 0..5_000 {
        let path = String::from_utf8_lossy(&mutate(&mut rng, seeds[i % seeds.len()].as_bytes()))
            .into_owned();
        let (path, query) = path.split_once('?').unwrap_or((&path, ""));
        let method = ["GET", "POST", "DELETE", "", "G\u{0}T"][rng.below(5)];
        let req = Request::new(method, path, query, &rng.bytes(64));
        let status = router().handle(&req).status;
        assert!((200..600).contains(&status), "{method} {path}: {status}");
        let _ = req.query("x");
    }
}
