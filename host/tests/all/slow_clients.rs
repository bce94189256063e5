//! Slow and greedy clients against the real server: clients that trickle headers, clients
//! that connect and say nothing, and oversized heads cannot starve other clients.

use crate::common;

use std::time::{Duration, Instant};

use common::Backend;
use common::process::{Nova, stop};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// True once the server has closed `s` (EOF or reset), waiting at most `within`.
async fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    match tokio::time::timeout(within, s.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        // A 408 or similar answer counts as well: the server ended the exchange.
        Ok(Ok(_)) => true,
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_and_silent_clients_do_not_starve_others() {
    let mut nova = Nova::new(Backend::Sqlite).await;
    nova.env.extend([
        ("NOVA_HEADER_TIMEOUT_MS".into(), "500".into()),
        ("NOVA_MAX_CONNECTIONS".into(), "32".into()),
    ]);
    let (child, base) = nova.serve();
    let addr = base.strip_prefix("http://").unwrap().to_string();

    // Every connection slot taken: half trickle header lines forever, half never speak.
    let mut slow = Vec::new();
    for i in 0..32 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        if i % 2 == 0 {
            s.write_all(b"GET /health HTTP/1.1\r\nHost: nova\r\n")
                .await
                .unwrap();
        }
        slow.push(s);
    }
    let trickle = async {
        for round in 0..10 {
            for s in slow.iter_mut().step_by(2) {
                let _ = s
                    .write_all(format!("X-Slow-{round}: 1\r\n").as_bytes())
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    // A normal client still gets answers: the slow ones are cut off at the header timeout
    // and their slots freed.
    let normal = async {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let started = Instant::now();
        for _ in 0..5 {
            let r = http.get(format!("{base}/health")).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
        started.elapsed()
    };
    let (_, took) = tokio::join!(trickle, normal);
    println!("5 requests answered in {took:?} with 32 slow clients holding every slot");
    for (i, s) in slow.iter_mut().enumerate() {
        assert!(
            closed_by_server(s, Duration::from_secs(5)).await,
            "slow client {i} was never cut off"
        );
    }

    // An oversized head is refused, not buffered without end.
    let mut big = TcpStream::connect(&addr).await.unwrap();
    let header = format!(
        "GET /health HTTP/1.1\r\nHost: nova\r\nX-Big: {}\r\n\r\n",
        "a".repeat(200_000)
    );
    let _ = big.write_all(header.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), big.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 431"),
        "{text}"
    );
    stop(child);
}
