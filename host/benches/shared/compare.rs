//! Alternating rounds over several targets, printed as one table of ratios to the first:
//! the benchmarks that ask how cost grows (with tenants, with stored rows) share it.

use super::load::{Traffic, median, round};
use super::threads;

/// One target of a comparison: its label in the table, the server, the tokens its calls
/// spread over, and what they ask for.
pub struct Target<'a> {
    pub label: String,
    pub base: &'a str,
    pub tokens: &'a [String],
    pub traffic: Traffic,
    /// The server's process, whose CPU per request each round prints by thread.
    pub pid: u32,
    /// The server's scrape token, if it has one: each round then also prints the share of
    /// module calls that ran in a warm instance.
    pub scrape: Option<&'a str>,
}

/// The server's `/metrics` page, read with its scrape token.
pub async fn metrics_text(base: &str, token: &str) -> String {
    reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The sum of every series of the metric `name` on a `/metrics` page (one series for a
/// metric without labels); `None` if the page has none.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// Module calls so far, and those of them that ran in a reused instance, from `/metrics`.
async fn calls(base: &str, token: &str) -> (f64, f64) {
    let text = metrics_text(base, token).await;
    let sum = |name| metric(&text, name).unwrap_or(0.0);
    (
        sum("nova_module_invocations_total"),
        sum("nova_module_warm_calls_total"),
    )
}

/// Run `rounds` rounds of `seconds` over each target in turn (32 connections of its
/// traffic), printing every round (with the server's CPU per
/// request by thread), then a table of medians whose first column is headed `what`, each as
/// a ratio to the first target's. Returns each target's medians: req/s and p99 in ms.
pub async fn compare(
    what: &str,
    targets: &[Target<'_>],
    rounds: usize,
    seconds: u64,
) -> Vec<(f64, f64)> {
    let mut results: Vec<Vec<(f64, f64)>> = vec![Vec::new(); targets.len()];
    for r in 0..rounds {
        // Each round starts one target further on, so no target always follows the same one.
        for k in 0..targets.len() {
            let i = (r + k) % targets.len();
            let t = &targets[i];
            // The scrape token with the calls counted before the round, if it has one.
            let calls_before = match t.scrape {
                Some(token) => Some((token, calls(t.base, token).await)),
                None => None,
            };
            let before = threads::snapshot(t.pid);
            let got = round(t.traffic, t.base, t.tokens, seconds, 32).await;
            let cpu =
                threads::per_request(&before, &threads::snapshot(t.pid), got.0 * seconds as f64);
            let warm = match calls_before {
                Some((token, (all, warm))) => {
                    let (all_after, warm_after) = calls(t.base, token).await;
                    format!(
                        "; {:.0}% of calls warm",
                        100.0 * (warm_after - warm) / (all_after - all).max(1.0)
                    )
                }
                None => String::new(),
            };
            println!(
                "round {r}: {:>18} {:>8.0} req/s p99 {:>6.2} ms; {cpu}{warm}",
                t.label, got.0, got.1
            );
            results[i].push(got);
        }
    }
    let base_rps = median(results[0].iter().map(|r| r.0).collect());
    let base_p99 = median(results[0].iter().map(|r| r.1).collect());
    println!(
        "\n| {what} | req/s | p99 ms | req/s vs first row | p99 vs first row |\n|---|---|---|---|---|"
    );
    let mut medians = Vec::with_capacity(targets.len());
    for (t, rows) in targets.iter().zip(&results) {
        let rps = median(rows.iter().map(|r| r.0).collect());
        let p99 = median(rows.iter().map(|r| r.1).collect());
        println!(
            "| {} | {rps:.0} | {p99:.2} | {:.2} | {:.2} |",
            t.label,
            rps / base_rps,
            p99 / base_p99
        );
        medians.push((rps, p99));
    }
    medians
}
