//! The load generator the in-process benchmarks share: client tasks calling one route for a
//! while, with req/s and p99 out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One round: `connections` clients for `seconds`, each request for the next of `tokens`;
/// requests per second and p99 in ms.
pub async fn round(base: &str, tokens: &[String], seconds: u64, connections: usize) -> (f64, f64) {
    let http = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let tokens = Arc::new(tokens.to_vec());
    let url = format!("{base}/v1/portal/pos/tickets?limit=1");
    let clients: Vec<_> = (0..connections)
        .map(|_| {
            let (http, stop, next, tokens, url) = (
                http.clone(),
                stop.clone(),
                next.clone(),
                tokens.clone(),
                url.clone(),
            );
            tokio::spawn(async move {
                let mut took = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let token = &tokens[next.fetch_add(1, Ordering::Relaxed) % tokens.len()];
                    let t = Instant::now();
                    let resp = http.get(&url).bearer_auth(token).send().await.unwrap();
                    let ok = resp.status() == 200;
                    resp.bytes().await.unwrap();
                    took.push((t.elapsed(), ok));
                }
                took
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for c in clients {
        all.extend(c.await.unwrap());
    }
    let failed = all.iter().filter(|(_, ok)| !ok).count();
    if failed > 0 {
        println!("  {failed} of {} answers were not 200", all.len());
    }
    let mut times: Vec<Duration> = all.into_iter().map(|(t, _)| t).collect();
    times.sort();
    let p99 = times[times.len() * 99 / 100].as_secs_f64() * 1000.0;
    (times.len() as f64 / seconds as f64, p99)
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
