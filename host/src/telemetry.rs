//! Logs (JSON lines with tenant and request ids) and the Prometheus recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Start logging, and traces when an OTLP endpoint is configured (`crate::traces`).
/// `RUST_LOG` filters the log lines (default `info`); `NOVA_LOG_FORMAT=text` is for humans.
/// Traces get every span of Nova's own, whatever `RUST_LOG` says; without an endpoint there
/// is no such layer, and the spans it would want cost nothing.
pub(crate) fn init_logging() {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let lines = if std::env::var("NOVA_LOG_FORMAT").as_deref() == Ok("text") {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed()
    };
    let spans = crate::traces::layer().map(|layer| {
        layer.with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            meta.is_span() && meta.target().starts_with("nova")
        }))
    });
    let _ = tracing_subscriber::registry()
        .with(lines)
        .with(spans)
        .try_init();
}

/// The process-wide Prometheus recorder (installed on first use).
pub(crate) fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            const LATENCY: &[f64] = &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
                5.0,
            ];
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY)
                .expect("static buckets are valid")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            // A histogram keeps every value recorded until an upkeep folds them into its
            // buckets, and `install_recorder` leaves the upkeep to its caller. Scrapes fold
            // them too, so a replica nobody scraped kept the samples of every request for
            // good: two per portal call, in blocks of 64, 20-35 bytes a call (35 measured in
            // `tenant_scale`), 300-500 MB a day at 10,000 calls a minute
            // (docs/PERFORMANCE.md, "Histogram samples kept until a scrape").
            let upkeep = handle.clone();
            let _ = UPKEEP.set(start_upkeep(UPKEEP_EVERY, move || {
                upkeep.run_upkeep();
                true
            }));
            handle
        })
        .clone()
}

/// How often the histograms' recorded values are folded into their buckets (the interval
/// the exporter's own upkeep task uses).
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
const UPKEEP_THREAD: &str = "nova-metrics";
/// The upkeep thread, which runs as long as the process.
static UPKEEP: OnceLock<std::thread::JoinHandle<()>> = OnceLock::new();

/// Run `upkeep` every `every` on a thread of its own, until it returns false (the
/// recorder's never does: it runs as long as the process).
fn start_upkeep(
    every: std::time::Duration,
    upkeep: impl Fn() -> bool + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(UPKEEP_THREAD.into())
        .spawn(move || {
            loop {
                std::thread::sleep(every);
                if !upkeep() {
                    return;
                }
            }
        })
        .expect("the metrics upkeep thread starts")
}

/// What the allocator says of the heap, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct HeapStats {
    /// Bytes the program holds in live allocations.
    pub allocated: u64,
    /// Bytes of physical memory the allocator has mapped and not given back: `allocated`
    /// plus its free lists, metadata and dirty pages not yet purged.
    pub resident: u64,
}

static HEAP_STATS: OnceLock<fn() -> Option<HeapStats>> = OnceLock::new();

/// Let `/metrics` report the heap (`nova_heap_allocated_bytes`, `nova_heap_resident_bytes`)
/// through `read`. The `nova` binary sets it for its global allocator; a process that does
/// not (the tests) reports no heap gauges rather than some other allocator's figures.
pub fn set_heap_stats(read: fn() -> Option<HeapStats>) {
    let _ = HEAP_STATS.set(read);
}

/// Set the heap gauges from the allocator, if it reports. Resident memory alone does not
/// tell what the host keeps (SQLite's page caches, memory slots kept resident and allocator
/// free lists are in it too); live allocations against the allocator's resident bytes do.
pub(crate) fn publish_heap_stats() {
    if let Some(stats) = HEAP_STATS.get().and_then(|read| read()) {
        metrics::gauge!("nova_heap_allocated_bytes").set(stats.allocated as f64);
        metrics::gauge!("nova_heap_resident_bytes").set(stats.resident as f64);
    }
}

tokio::task_local! {
    /// The current request's id, set by the request-id middleware for the whole request.
    pub(crate) static REQUEST_ID: String;
}

/// The current request id, or an empty string outside a request.
pub(crate) fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// The tenant a request acts for, once its token says so. The request's middleware puts an
/// empty one in the request; the token extractor fills it; the access log and the per-tenant
/// request counter read it when the answer is ready.
#[derive(Clone, Default)]
pub(crate) struct RequestTenant(std::sync::Arc<OnceLock<String>>);

impl RequestTenant {
    /// Record the tenant (the first one set stays) and name it on the request's log span.
    pub(crate) fn set(&self, tenant: &str) {
        if self.0.set(tenant.to_string()).is_ok() {
            tracing::Span::current().record("tenant_id", tenant);
        }
    }

    pub(crate) fn get(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

/// An answer's status class, the label of `nova_tenant_requests_total`: five values at most.
pub(crate) fn status_class(status: u16) -> &'static str {
    match status {
        ..200 => "1xx",
        200..300 => "2xx",
        300..400 => "3xx",
        400..500 => "4xx",
        _ => "5xx",
    }
}

/// What the access log says of a request.
pub(crate) struct Request<'a> {
    pub(crate) tenant: Option<&'a str>,
    pub(crate) request_id: &'a str,
    pub(crate) trace_id: Option<&'a str>,
    pub(crate) method: &'a str,
    pub(crate) route: &'a str,
    pub(crate) status: u16,
}

/// One access log line (target `nova::access`, JSON like every line) and the per-tenant
/// request count. Tenant ids come only from verified tokens, and the class has five values,
/// so the counter has at most five series per tenant that made requests since the process
/// started (in practice two or three); anonymous requests are counted only in
/// `http_request_duration_seconds`.
pub(crate) fn record_request(r: Request<'_>, took: std::time::Duration) {
    let class = status_class(r.status);
    if let Some(tenant) = r.tenant {
        metrics::counter!("nova_tenant_requests_total", "tenant" => tenant.to_string(), "class" => class)
            .increment(1);
    }
    tracing::info!(
        target: "nova::access",
        tenant_id = r.tenant.unwrap_or(""),
        request_id = r.request_id,
        trace_id = r.trace_id.unwrap_or(""),
        method = r.method,
        route = r.route,
        status = r.status,
        duration_ms = took.as_secs_f64() * 1e3,
        "request"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recorder's upkeep runs without a scrape, on a thread of its own.
    #[test]
    fn installing_the_recorder_starts_its_upkeep() {
        let _ = metrics_handle();
        let thread = UPKEEP.get().expect("the upkeep thread was started");
        assert_eq!(thread.thread().name(), Some(UPKEEP_THREAD));
        assert!(!thread.is_finished(), "the upkeep thread ended");
    }

    /// The upkeep runs again and again, not once.
    #[test]
    fn the_upkeep_repeats() {
        let (ran, runs) = std::sync::mpsc::channel();
        // Stops once the test is done listening.
        let thread = start_upkeep(std::time::Duration::from_millis(1), move || {
            ran.send(()).is_ok()
        });
        for _ in 0..3 {
            runs.recv_timeout(std::time::Duration::from_secs(30))
                .expect("the upkeep ran");
        }
        drop(runs);
        thread.join().unwrap();
    }
}
