//! Metric labels stay bounded whatever clients send: a raw HTTP method used to be a label,
//! so 2,000 requests with invented methods grew `/metrics` from 425 KB to 4.6 MB. The metrics
//! recorder is shared by every server in this test process, so other tests add series of
//! their own while this one runs: what must never appear is a series carrying anything the
//! junk requests sent.

use crate::common;

use common::{Backend, TestServer};
use reqwest::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_requests_leave_metrics_the_same_size() {
    let server = TestServer::start(Backend::Sqlite).await;
    let send_junk = |seed: u64, n: u64| {
        let (http, base) = (server.http.clone(), server.base.clone());
        async move {
            let mut tasks = Vec::new();
            for worker in 0..16 {
                let (http, base) = (http.clone(), base.clone());
                tasks.push(tokio::spawn(async move {
                    for i in (worker..n).step_by(16) {
                        let k = seed * 1_000_000 + i;
                        let method = Method::from_bytes(format!("JUNK{k}").as_bytes()).unwrap();
                        let path = format!("/junk/{k}/x{}", k % 7);
                        let _ = http.request(method, format!("{base}{path}")).send().await;
                        let _ = http.get(format!("{base}/v1/superadmin/x{k}")).send().await;
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        }
    };
    let metrics = || async { server.metrics().await };
    send_junk(1, 50).await;
    // Twice: the first scrape adds its own route's series.
    metrics().await;
    let before = metrics().await;
    send_junk(2, 5_000).await;
    let after = metrics().await;
    let series = |text: &str| text.lines().filter(|l| !l.starts_with('#')).count();
    println!(
        "/metrics: {} bytes, {} series before 10,000 junk requests; {} bytes, {} series after",
        before.len(),
        series(&before),
        after.len(),
        series(&after)
    );
    let names = |text: &str| -> std::collections::BTreeSet<String> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' ').map(|(name, _)| name.to_string()))
            .collect()
    };
    let new: Vec<String> = names(&after).difference(&names(&before)).cloned().collect();
    println!("{} series appeared meanwhile (other tests' too)", new.len());
    let after_names = names(&after);
    let from_junk: Vec<&String> = after_names
        .iter()
        .filter(|n| n.contains("JUNK") || n.contains("/junk/") || n.contains("superadmin/x"))
        .collect();
    assert!(
        from_junk.is_empty(),
        "series from junk requests: {:?}",
        &from_junk[..from_junk.len().min(10)]
    );
    assert!(after.contains("method=\"OTHER\""));
}
