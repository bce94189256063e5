//! Traces over OpenTelemetry (OTLP/HTTP, protobuf), through the `tracing` spans Nova already
//! makes: the HTTP request, the module call, its host calls and commit, each worker job.
//!
//! Configured by the standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) turns it on; `OTEL_SERVICE_NAME` names the service;
//! `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` choose the share of requests traced (10%
//! by default). A caller's `traceparent` names the trace a request joins, but not whether it
//! is kept: the ratio decides that too, so no client can have every request traced. A
//! superadmin changes the ratio at runtime (`PUT /v1/superadmin/tracing`), on every replica,
//! without a restart. Spans inside a request follow the request's decision.
//!
//! Spans leave through a bounded queue on a thread of their own: a collector that is slow or
//! down costs a request nothing but the span it drops.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http;
use bytes::Bytes;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Link, SpanKind, TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{HeaderExtractor, HeaderInjector, HttpClient, HttpError};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler, SamplingResult, SdkTracerProvider, ShouldSample,
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The share of new traces kept when nothing says otherwise (the runbook's 10%).
pub(crate) const DEFAULT_RATIO: f64 = 0.1;

/// The ratio of new traces kept, changeable while the process runs.
#[derive(Debug, Clone)]
struct RatioSampler;

/// The ratio in force, as `f64` bits.
static RATIO: AtomicU64 = AtomicU64::new(0x3FB9_9999_9999_999A); // 0.1
/// The ratio the environment asked for, which a reset returns to.
static CONFIGURED_RATIO: OnceLock<f64> = OnceLock::new();
/// The provider, when traces are on.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

impl ShouldSample for RatioSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        Sampler::TraceIdRatioBased(ratio()).should_sample(
            parent_context,
            trace_id,
            name,
            span_kind,
            attributes,
            links,
        )
    }
}

/// The share of new traces kept now.
pub(crate) fn ratio() -> f64 {
    f64::from_bits(RATIO.load(Ordering::Relaxed))
}

/// Keep `ratio` (0 to 1) of new traces from now on; `None` returns to the environment's.
pub(crate) fn set_ratio(ratio: Option<f64>) {
    let ratio = ratio.unwrap_or_else(configured_ratio).clamp(0.0, 1.0);
    RATIO.store(ratio.to_bits(), Ordering::Relaxed);
}

/// The ratio the environment sets (`OTEL_TRACES_SAMPLER[_ARG]`), or the default.
pub(crate) fn configured_ratio() -> f64 {
    *CONFIGURED_RATIO.get_or_init(|| {
        sampler_ratio(
            std::env::var("OTEL_TRACES_SAMPLER").ok().as_deref(),
            std::env::var("OTEL_TRACES_SAMPLER_ARG").ok().as_deref(),
        )
    })
}

/// The ratio the standard sampler variables describe. Nova applies it to every request,
/// with or without a caller's `traceparent`, so `traceidratio` and
/// `parentbased_traceidratio` mean the same.
fn sampler_ratio(sampler: Option<&str>, arg: Option<&str>) -> f64 {
    let arg = arg
        .and_then(|a| a.trim().parse::<f64>().ok())
        .filter(|r| (0.0..=1.0).contains(r));
    match sampler.map(str::trim) {
        Some("always_on" | "parentbased_always_on") => 1.0,
        Some("always_off" | "parentbased_always_off") => 0.0,
        _ => arg.unwrap_or(DEFAULT_RATIO),
    }
}

/// True when traces are exported.
pub(crate) fn enabled() -> bool {
    PROVIDER.get().is_some()
}

/// The endpoint the environment names, if any (empty means unset).
fn endpoint_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .any(|v| std::env::var(v).is_ok_and(|s| !s.trim().is_empty()))
}

/// The tracing layer that exports spans, when an endpoint is configured; `None` otherwise.
/// Must run inside the tokio runtime (the exporter sends through it).
pub(crate) fn layer<S>() -> Option<impl tracing_subscriber::Layer<S>>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    if !endpoint_configured() {
        return None;
    }
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    set_ratio(None);
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(Client {
            // One try, briefly: a collector that is down or never answers loses spans, never
            // holds the exporting thread (the exporter's own timeout covers only clients it
            // builds itself).
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .connect_timeout(Duration::from_secs(1))
                .build()
                .unwrap_or_default(),
            runtime,
        })
        .with_timeout(Duration::from_secs(2))
        .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled())
        .build();
    let exporter = match exporter {
        Ok(e) => e,
        Err(e) => {
            eprintln!("nova: traces are off: {e}");
            return None;
        }
    };
    let provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(exporter).build())
        // A caller's trace id is continued, but whether it is kept is the ratio's decision:
        // anyone can send `traceparent`, and must not be able to make every request traced.
        .with_sampler(
            Sampler::parent_based(RatioSampler)
                .with_remote_parent_sampled(RatioSampler)
                .with_remote_parent_not_sampled(RatioSampler),
        )
        .with_resource(opentelemetry_sdk::Resource::builder().build())
        .build();
    let tracer = provider.tracer("nova");
    let _ = PROVIDER.set(provider);
    Some(
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_threads(false)
            .with_tracked_inactivity(false),
    )
}

/// Send what is queued and stop exporting (at exit), waiting at most two seconds.
pub(crate) fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.shutdown_with_timeout(Duration::from_secs(2));
    }
}

/// The exporter's HTTP client: Nova's reqwest client, driven by Nova's runtime. The batch
/// processor's thread has no runtime of its own, so each export runs as a task there.
#[derive(Debug)]
struct Client {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

// The trait is declared with `async_trait`; this is its expansion, written out.
impl HttpClient for Client {
    fn send_bytes<'life0, 'async_trait>(
        &'life0 self,
        request: http::Request<Bytes>,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<http::Response<Bytes>, HttpError>>
                + Send
                + 'async_trait,
        >,
    >
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        let http = self.http.clone();
        let (parts, body) = request.into_parts();
        let sent = self.runtime.spawn(async move {
            let resp = http
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut answer = http::Response::builder().status(resp.status());
            for (name, value) in resp.headers() {
                answer = answer.header(name, value);
            }
            let body = resp.bytes().await?;
            Ok::<_, HttpError>(answer.body(body)?)
        });
        Box::pin(async move { sent.await? })
    }
}

/// The trace a span belongs to, as 32 hex digits; `None` when traces are off.
pub(crate) fn trace_id(span: &tracing::Span) -> Option<String> {
    if !enabled() {
        return None;
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// Make `span` continue the trace a caller's `traceparent` header names. Call before the
/// span is entered.
pub(crate) fn continue_from(span: &tracing::Span, headers: &http::HeaderMap) {
    if !enabled() || !headers.contains_key("traceparent") {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let _ = span.set_parent(parent);
}

/// Add the current span's `traceparent` to outgoing headers, so the receiver's spans join
/// this trace.
pub(crate) fn inject(headers: &mut http::HeaderMap) {
    if !enabled() {
        return;
    }
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_variables_set_the_ratio() {
        assert_eq!(sampler_ratio(None, None), DEFAULT_RATIO);
        assert_eq!(
            sampler_ratio(Some("parentbased_traceidratio"), Some("0.5")),
            0.5
        );
        assert_eq!(sampler_ratio(Some("traceidratio"), Some(" 0.25 ")), 0.25);
        assert_eq!(sampler_ratio(Some("always_on"), Some("0.5")), 1.0);
        assert_eq!(sampler_ratio(Some("parentbased_always_off"), None), 0.0);
        // Nonsense falls back to the default rather than to all or nothing.
        assert_eq!(sampler_ratio(None, Some("2")), DEFAULT_RATIO);
        assert_eq!(sampler_ratio(None, Some("half")), DEFAULT_RATIO);
    }

    #[test]
    fn the_default_ratio_bits_are_a_tenth() {
        assert_eq!(f64::from_bits(0x3FB9_9999_9999_999A), 0.1);
    }
}
