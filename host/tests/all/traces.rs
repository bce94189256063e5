//! Traces from the real binary to a real OTLP/HTTP receiver on loopback (this test decodes the
//! protobuf the exporter sends): the spans of a POS call and of a billing webhook, their parent
//! links and attributes, `traceparent` continued from the caller and passed to the payment
//! provider, the trace id in the access log and the invocation record, the sampling ratio a
//! superadmin sets at runtime, and requests that succeed with the collector down.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use common::process::{KillOnDrop, Nova, login, pos_tenant, stop};
use common::{BILLING_SECRET, Backend, post_billing_to};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use prost::Message;
use serde_json::{Value, json};

/// One received span, flattened.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    name: String,
    kind: i32,
    trace: String,
    id: String,
    parent: String,
    attrs: BTreeMap<String, String>,
}

impl Span {
    fn attr(&self, key: &str) -> &str {
        self.attrs.get(key).map_or("", String::as_str)
    }
}

/// What the receiver has seen: spans, and the `traceparent` headers the fake payment
/// provider was sent.
#[derive(Default)]
struct Seen {
    spans: Vec<Span>,
    traceparents: Vec<String>,
}

type Shared = Arc<(Mutex<Seen>, tokio::sync::Notify)>;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Any::StringValue(s)) => s.clone(),
        Some(Any::IntValue(i)) => i.to_string(),
        Some(Any::BoolValue(b)) => b.to_string(),
        Some(Any::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

async fn traces(State(seen): State<Shared>, body: Bytes) -> &'static str {
    let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
    let mut spans = Vec::new();
    for rs in request.resource_spans {
        let service = rs
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .map(|kv| text(&kv.value))
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for s in ss.spans {
                spans.push(Span {
                    service: service.clone(),
                    name: s.name,
                    kind: s.kind,
                    trace: hex(&s.trace_id),
                    id: hex(&s.span_id),
                    parent: hex(&s.parent_span_id),
                    attrs: s
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), text(&kv.value)))
                        .collect(),
                });
            }
        }
    }
    seen.0.lock().unwrap().spans.extend(spans);
    seen.1.notify_waiters();
    ""
}

/// The payment provider, as far as POS needs: a capture that succeeds.
async fn capture(State(seen): State<Shared>, headers: HeaderMap) -> axum::Json<Value> {
    if let Some(tp) = headers.get("traceparent") {
        seen.0
            .lock()
            .unwrap()
            .traceparents
            .push(tp.to_str().unwrap().to_string());
    }
    axum::Json(json!({"id": "pay_traced0001", "status": "captured"}))
}

async fn receiver() -> (SocketAddr, Shared) {
    let seen: Shared = Arc::default();
    let app = Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/captures", post(capture))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, seen)
}

/// Wait until `found` finds what it wants among the spans received (each batch wakes it).
async fn wait_for<T>(seen: &Shared, what: &str, found: impl Fn(&Seen) -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let woken = seen.1.notified();
        if let Some(t) = found(&seen.0.lock().unwrap()) {
            return t;
        }
        if tokio::time::timeout_at(deadline, woken).await.is_err() {
            let names: Vec<String> = seen
                .0
                .lock()
                .unwrap()
                .spans
                .iter()
                .map(|s| s.name.clone())
                .collect();
            panic!("no {what} within a minute; spans seen: {names:?}");
        }
    }
}

/// The spans of one trace under `root`, indented, with their main attributes (for the
/// report: `--nocapture` prints it).
fn tree(spans: &[Span], root: &Span, depth: usize, out: &mut String) {
    let keys = [
        "tenant_id",
        "module",
        "module.version",
        "outcome",
        "fuel",
        "writes",
        "http.response.status_code",
        "server.address",
    ];
    let attrs: Vec<String> = keys
        .iter()
        .filter(|k| !root.attr(k).is_empty())
        .map(|k| format!("{k}={}", root.attr(k)))
        .collect();
    out.push_str(&format!(
        "{}{} [{}]\n",
        "  ".repeat(depth),
        root.name,
        attrs.join(" ")
    ));
    for child in spans
        .iter()
        .filter(|s| s.parent == root.id && s.trace == root.trace)
    {
        tree(spans, child, depth + 1, out);
    }
}

fn tracing_env(nova: &mut Nova, endpoint: &str, provider: &str) {
    for (k, v) in [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.to_string()),
        ("OTEL_SERVICE_NAME", "nova-traces-test".to_string()),
        (
            "OTEL_TRACES_SAMPLER",
            "parentbased_traceidratio".to_string(),
        ),
        ("OTEL_TRACES_SAMPLER_ARG", "1".to_string()),
        // Export every 20 ms, so the test waits for spans, not for the schedule.
        ("OTEL_BSP_SCHEDULE_DELAY", "20".to_string()),
        ("NOVA_IN_PROCESS_WORKER", "on".to_string()),
        ("BILLING_WEBHOOK_SECRET", BILLING_SECRET.to_string()),
        ("PAYMENT_PROVIDER_MODE", "sandbox".to_string()),
        ("PAYMENT_PROVIDER_URL", provider.to_string()),
        ("RUST_LOG", "warn,nova::access=info".to_string()),
    ] {
        nova.env.push((k.into(), v));
    }
}

/// A superadmin, `nova serve` with its log lines, and a POS tenant's admin token.
struct Traced {
    child: KillOnDrop,
    base: String,
    log: std::sync::mpsc::Receiver<String>,
    http: reqwest::Client,
    admin: String,
    tenant: String,
    token: String,
}

async fn traced_server(nova: &Nova) -> Traced {
    nova.run(&[
        "superadmin",
        "create",
        "--email",
        "ops@traces.test",
        "--password",
        "ops-password-1",
    ]);
    let (child, base, log) = nova.serve_logged();
    let child = KillOnDrop(Some(child));
    let http = reqwest::Client::new();
    let admin = login(&http, &base, "ops@traces.test", "ops-password-1").await;
    let (tenant, token) = pos_tenant(
        &http,
        &base,
        &admin,
        "Traced Grill",
        "t@grill.test",
        "grill-password",
    )
    .await;
    Traced {
        child,
        base,
        log,
        http,
        admin,
        tenant,
        token,
    }
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

async fn a_pos_call_and_a_billing_webhook_are_traced(backend: Backend) {
    let (addr, seen) = receiver().await;
    let mut nova = Nova::new(backend).await;
    tracing_env(
        &mut nova,
        &format!("http://{addr}"),
        &format!("http://{addr}"),
    );
    let Traced {
        mut child,
        base,
        log,
        http,
        admin,
        tenant,
        token,
    } = traced_server(&nova).await;

    // A POS sale, continuing the caller's trace.
    let resp = http
        .post(format!("{base}/v1/portal/pos/tickets"))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{TRACE}-{CALLER_SPAN}-01"))
        .header("x-request-id", "traced-sale")
        .json(&json!({"table": "4", "items": [{"name": "Soup", "qty": 1, "priceCents": 650}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let ticket: Value = resp.json().await.unwrap();

    let server = wait_for(&seen, "server span of the sale", |s| {
        s.spans
            .iter()
            .find(|sp| sp.trace == TRACE && sp.parent == CALLER_SPAN)
            .cloned()
    })
    .await;
    assert_eq!(server.name, "POST /v1/portal/{module}/{*path}");
    assert_eq!(server.kind, 2, "SERVER");
    assert_eq!(server.service, "nova-traces-test");
    assert_eq!(server.attr("tenant_id"), tenant);
    assert_eq!(server.attr("request_id"), "traced-sale");
    assert_eq!(server.attr("http.response.status_code"), "201");
    let call = wait_for(&seen, "module call span", |s| {
        s.spans.iter().find(|sp| sp.parent == server.id).cloned()
    })
    .await;
    assert_eq!(call.name, "call pos");
    assert_eq!(call.trace, TRACE);
    assert_eq!(call.attr("tenant_id"), tenant);
    assert_eq!(call.attr("module"), "pos");
    assert!(!call.attr("module.version").is_empty());
    assert_eq!(call.attr("outcome"), "ok");
    assert!(call.attr("fuel").parse::<u64>().unwrap() > 0, "{call:?}");
    let children = wait_for(&seen, "kv and commit spans", |s| {
        let under: Vec<Span> = s
            .spans
            .iter()
            .filter(|sp| sp.parent == call.id)
            .cloned()
            .collect();
        (under.iter().any(|sp| sp.name == "commit")
            && under.iter().any(|sp| sp.name.starts_with("kv.")))
        .then_some(under)
    })
    .await;
    let commit = children.iter().find(|sp| sp.name == "commit").unwrap();
    let mut printed = String::new();
    tree(&seen.0.lock().unwrap().spans, &server, 0, &mut printed);
    println!("{backend:?}: the sale's trace {TRACE}:\n{printed}");
    assert!(
        commit.attr("writes").parse::<u64>().unwrap() > 0,
        "{commit:?}"
    );
    assert!(children.iter().all(|sp| sp.trace == TRACE));

    // The trace id is in the invocation record and in the access log line.
    let records: Value = http
        .get(format!(
            "{base}/v1/superadmin/invocations?requestId=traced-sale"
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(records["invocations"][0]["traceId"], TRACE, "{records}");
    loop {
        let line = log
            .recv_timeout(Duration::from_secs(30))
            .expect("an access line");
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if v["target"] == "nova::access" && v["request_id"] == "traced-sale" {
            assert_eq!(v["trace_id"], TRACE, "{v}");
            break;
        }
    }

    // A card payment: the provider gets a traceparent naming the outbound request's span.
    let id = ticket["id"]
        .as_u64()
        .map(|n| n.to_string())
        .unwrap_or_else(|| ticket["id"].as_str().unwrap().to_string());
    let resp = http
        .post(format!("{base}/v1/portal/pos/tickets/{id}/payments"))
        .bearer_auth(&token)
        .json(&json!({"amountCents": 650, "method": "card"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let traceparent = seen
        .0
        .lock()
        .unwrap()
        .traceparents
        .last()
        .cloned()
        .expect("traceparent sent to the provider");
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(
        (parts.len(), parts[0], parts[3]),
        (4, "00", "01"),
        "{traceparent}"
    );
    let (trace, parent) = (parts[1].to_string(), parts[2].to_string());
    let send = wait_for(&seen, "outbound request span", |s| {
        s.spans.iter().find(|sp| sp.id == parent).cloned()
    })
    .await;
    assert_eq!(
        (send.name.as_str(), send.kind, send.trace.as_str()),
        ("http.send", 3, trace.as_str())
    );
    assert_eq!(send.attr("server.address"), "127.0.0.1");
    assert_eq!(send.attr("http.response.status_code"), "200");
    let payment_call = wait_for(&seen, "the payment's module call", |s| {
        s.spans.iter().find(|sp| sp.id == send.parent).cloned()
    })
    .await;
    assert_eq!(payment_call.name, "call pos");

    // A billing webhook: the intake request, then the worker's job with the billing call.
    let event = json!({"id": "evt_traced_1", "type": "invoice.created",
        "data": {"tenantId": tenant, "invoiceId": "in_traced_1", "amountCents": 4900}});
    let (s, _) = post_billing_to(&http, &base, &event).await;
    assert_eq!(s, 202);
    let intake = wait_for(&seen, "webhook intake span", |s| {
        s.spans
            .iter()
            .find(|sp| sp.name == "POST /billing/webhooks/sandbox")
            .cloned()
    })
    .await;
    assert_eq!(intake.attr("http.response.status_code"), "202");
    let job = wait_for(&seen, "billing job span", |s| {
        s.spans
            .iter()
            .find(|sp| sp.name == "job billing:webhooks")
            .cloned()
    })
    .await;
    assert_eq!(job.kind, 5, "CONSUMER");
    assert_eq!(job.parent, "", "a job starts a trace of its own");
    let billing = wait_for(&seen, "billing module call", |s| {
        s.spans
            .iter()
            .find(|sp| sp.parent == job.id && sp.name == "call billing")
            .cloned()
    })
    .await;
    assert_eq!(
        (billing.attr("module"), billing.attr("outcome")),
        ("billing", "ok")
    );
    assert_eq!(billing.attr("tenant_id"), tenant);

    // Sampling: a superadmin keeps a quarter of new traces, at once and without a restart.
    let set: Value = http
        .put(format!("{base}/v1/superadmin/tracing"))
        .bearer_auth(&admin)
        .json(&json!({"sampleRatio": 0.25}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            set["sampleRatio"].as_f64(),
            set["source"].as_str(),
            set["exporting"].as_bool()
        ),
        (Some(0.25), Some("setting"), Some(true)),
        "{set}"
    );
    const N: usize = 400;
    for n in 0..N {
        let r = http
            .get(format!("{base}/health"))
            .header("x-request-id", format!("sample-{n}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // Back to all, and a last request: spans leave in the order they end, so once its span
    // is here every sampled one before it is too.
    let r = http
        .put(format!("{base}/v1/superadmin/tracing"))
        .bearer_auth(&admin)
        .json(&json!({"sampleRatio": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    http.get(format!("{base}/health"))
        .header("x-request-id", "sample-marker")
        .send()
        .await
        .unwrap();
    let kept = wait_for(&seen, "marker span", |s| {
        s.spans
            .iter()
            .any(|sp| sp.attr("request_id") == "sample-marker")
            .then(|| {
                s.spans
                    .iter()
                    .filter(|sp| {
                        sp.attr("request_id").starts_with("sample-")
                            && sp.attr("request_id") != "sample-marker"
                    })
                    .count()
            })
    })
    .await;
    let ratio = kept as f64 / N as f64;
    println!("{backend:?}: sampling 0.25 kept {kept} of {N} traces ({ratio:.3})");
    // Binomial: sd 0.022 around 0.25; this bound is 4.5 sd wide each way.
    assert!(
        (0.15..=0.35).contains(&ratio),
        "kept {ratio:.3} of new traces at 0.25"
    );
    stop(child.take());
}

async fn requests_succeed_with_the_collector_down(backend: Backend) {
    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (provider, _) = receiver().await;
    let mut nova = Nova::new(backend).await;
    tracing_env(
        &mut nova,
        &format!("http://{closed}"),
        &format!("http://{provider}"),
    );
    let Traced {
        mut child,
        base,
        http,
        admin,
        token,
        ..
    } = traced_server(&nova).await;
    for n in 0..200 {
        let r = http
            .post(format!("{base}/v1/portal/pos/tickets"))
            .bearer_auth(&token)
            .json(&json!({"table": "1", "items": [{"name": format!("Dish {n}"), "qty": 1, "priceCents": 100}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let sampling: Value = http
        .get(format!("{base}/v1/superadmin/tracing"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sampling["exporting"], true, "{sampling}");
    // Stops within the exporter's bound even with spans it cannot send.
    let started = std::time::Instant::now();
    stop(child.take());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "shutdown took {:?}",
        started.elapsed()
    );
}

both_backends!(
    a_pos_call_and_a_billing_webhook_are_traced,
    requests_succeed_with_the_collector_down
);
