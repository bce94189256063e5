//! The load generator the in-process benchmarks share: client tasks calling the server for a
//! while, with req/s and p99 out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::process::TICKET;

/// What a round's clients ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traffic {
    /// `GET /v1/portal/pos/tickets?limit=1`, every request.
    List,
    /// A restaurant's mix, spread evenly over the tenants: each tenant in turn gets its
    /// tickets listed (`GET pos/tickets?limit=1`), its menu read (`GET pos/menu/items`) and a
    /// ticket opened (`POST pos/tickets`): two reads to one write, the write with its audit
    /// record.
    Mixed,
}

impl Traffic {
    /// The kinds of request it cycles through.
    fn kinds(self) -> usize {
        match self {
            Traffic::List => 1,
            Traffic::Mixed => 3,
        }
    }

    /// `NOVA_BENCH_TRAFFIC` (`list` or `mixed`), or `default`.
    pub fn from_env(default: Traffic) -> Traffic {
        match std::env::var("NOVA_BENCH_TRAFFIC").as_deref() {
            Ok("list") => Traffic::List,
            Ok("mixed") => Traffic::Mixed,
            Ok(other) => panic!("NOVA_BENCH_TRAFFIC: `list` or `mixed`, not {other:?}"),
            Err(_) => default,
        }
    }
}

/// One round: `connections` clients for `seconds`, each request for the next of `tokens`
/// (with [`Traffic::Mixed`], the next kind of request for the next tenant); requests per
/// second and p99 in ms.
pub async fn round(
    traffic: Traffic,
    base: &str,
    tokens: &[String],
    seconds: u64,
    connections: usize,
) -> (f64, f64) {
    let http = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let tokens = Arc::new(tokens.to_vec());
    let list = format!("{base}/v1/portal/pos/tickets?limit=1");
    let menu = format!("{base}/v1/portal/pos/menu/items");
    let open = format!("{base}/v1/portal/pos/tickets");
    let clients: Vec<_> = (0..connections)
        .map(|_| {
            let (http, stop, next, tokens) =
                (http.clone(), stop.clone(), next.clone(), tokens.clone());
            let (list, menu, open) = (list.clone(), menu.clone(), open.clone());
            tokio::spawn(async move {
                let mut took = Vec::new();
                let kinds = traffic.kinds();
                while !stop.load(Ordering::Relaxed) {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let token = &tokens[(n / kinds) % tokens.len()];
                    let request = match n % kinds {
                        0 => http.get(&list),
                        1 => http.get(&menu),
                        _ => http
                            .post(&open)
                            .header("content-type", "application/json")
                            .body(TICKET),
                    };
                    let t = Instant::now();
                    let resp = request.bearer_auth(token).send().await.unwrap();
                    let ok = resp.status().is_success();
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
        println!("  {failed} of {} answers were not 2xx", all.len());
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
