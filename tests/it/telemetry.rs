//! One event, one trace: a real `tether ingest` and `tether worker` export
//! their spans over OTLP/HTTP to a receiver in this test, and the worker's
//! spans for the event continue the trace its delivery began, through the
//! job on the queue.

use std::{
    net::SocketAddr,
    process::Command,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{AnyValue, KeyValue, any_value},
    trace::v1::Span,
};
use prost::Message;
use serde_json::json;

use crate::{
    helpers::TestApp,
    metrics::{post_to, spawn_ingest},
    worker_support::{KillOnDrop, eventually, fixture, spawn_worker, unprocessed},
};

/// A span as received, with the service that sent it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    span: Span,
}

type Spans = Arc<Mutex<Vec<Received>>>;

/// An OTLP/HTTP trace receiver on a loopback port.
async fn start_receiver() -> (SocketAddr, Spans) {
    let spans = Spans::default();
    let app = Router::new()
        .route("/v1/traces", post(receive))
        .with_state(spans.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, spans)
}

async fn receive(State(spans): State<Spans>, body: Bytes) -> StatusCode {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return StatusCode::BAD_REQUEST;
    };
    let mut spans = spans.lock().unwrap();
    for resource in request.resource_spans {
        let service = resource
            .resource
            .as_ref()
            .and_then(|r| string_attribute(&r.attributes, "service.name"))
            .unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                spans.push(Received {
                    service: service.clone(),
                    span,
                });
            }
        }
    }
    StatusCode::OK
}

fn string_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|AnyValue { value }| match value {
            Some(any_value::Value::StringValue(s)) => Some(s.clone()),
            Some(any_value::Value::IntValue(i)) => Some(i.to_string()),
            _ => None,
        })
}

fn attribute(span: &Received, key: &str) -> Option<String> {
    string_attribute(&span.span.attributes, key)
}

/// SIGTERM, then wait: the process flushes its spans on the way out.
async fn stop(process: KillOnDrop) {
    let pid = process.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut process = process;
    let status = tokio::task::spawn_blocking(move || process.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0), "exit 0 after SIGTERM");
}

/// A real ingest and worker exporting to a receiver in this test, with
/// `OTEL_TRACES_SAMPLER` set to `sampler` or left unset.
async fn start_exporting(
    app: &TestApp,
    sampler: Option<&str>,
) -> (Spans, KillOnDrop, SocketAddr, KillOnDrop) {
    let (receiver, spans) = start_receiver().await;
    let endpoint = format!("http://{receiver}");
    let mut export = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("RUST_LOG", "info"),
    ];
    export.extend(sampler.map(|s| ("OTEL_TRACES_SAMPLER", s)));
    let (ingest, addr) = spawn_ingest(app, &export).await;
    let worker = spawn_worker(app, &export);
    (spans, ingest, addr, worker)
}

#[tokio::test]
async fn one_event_is_one_trace_from_the_request_to_the_applied_row() {
    let app = TestApp::spawn().await;
    let (spans, ingest, addr, worker) = start_exporting(&app, Some("parentbased_always_on")).await;
    let event = fixture("customer.created");
    let event_id = event["id"].as_str().unwrap().to_owned();
    let object_id = event["data"]["object"]["id"].as_str().unwrap().to_owned();

    let body = serde_json::to_vec(&event).unwrap();
    assert_eq!(post_to(addr, &app.secret, &body).await, 200);
    eventually(Duration::from_secs(20), "the event is applied", || async {
        unprocessed(&app.pool).await == 0
    })
    .await;
    stop(worker).await;
    stop(ingest).await;

    let spans = spans.lock().unwrap().clone();
    let applied = spans
        .iter()
        .find(|s| s.span.name == "apply_event")
        .unwrap_or_else(|| panic!("no apply_event span among {:?}", names(&spans)));
    let trace_id = applied.span.trace_id.clone();
    let trace: Vec<&Received> = spans
        .iter()
        .filter(|s| s.span.trace_id == trace_id)
        .collect();
    let named = |name: &str| {
        trace
            .iter()
            .copied()
            .find(|s| s.span.name == name)
            .unwrap_or_else(|| panic!("no {name} span in the event's trace: {:?}", names(&spans)))
    };
    let receive = named("stripe_webhook");
    let verify = named("verify_signature");
    let commit = named("commit");

    // The ingest half: one request, its verification and its commit.
    assert_eq!(receive.service, "tether-ingest");
    assert_eq!(
        attribute(receive, "event_id").as_deref(),
        Some(event_id.as_str())
    );
    assert_eq!(
        attribute(receive, "event_type").as_deref(),
        Some("customer.created")
    );
    assert_eq!(
        attribute(receive, "object_id").as_deref(),
        Some(object_id.as_str())
    );
    assert_eq!(attribute(receive, "outcome").as_deref(), Some("accepted"));
    assert_eq!(verify.span.parent_span_id, receive.span.span_id);
    assert_eq!(commit.span.parent_span_id, receive.span.span_id);

    // The worker half, continued through the job's stored traceparent.
    assert_eq!(applied.service, "tether-worker");
    assert_eq!(
        applied.span.parent_span_id, commit.span.span_id,
        "apply_event is a child of the commit that queued the event"
    );
    assert_eq!(
        attribute(applied, "event_id").as_deref(),
        Some(event_id.as_str())
    );
    assert_eq!(
        attribute(applied, "object_id").as_deref(),
        Some(object_id.as_str())
    );
    assert_eq!(attribute(applied, "attempt").as_deref(), Some("1"));
    assert_eq!(attribute(applied, "outcome").as_deref(), Some("success"));

    // The spans that serve many events link this one's commit.
    let links_commit = |s: &&Received| {
        s.span
            .links
            .iter()
            .any(|l| l.trace_id == trace_id && l.span_id == commit.span.span_id)
    };
    let group_commit = spans
        .iter()
        .find(|s| s.span.name == "group_commit" && links_commit(s))
        .expect("the group commit links the request's commit span");
    assert_eq!(attribute(group_commit, "batch_size").as_deref(), Some("1"));
    assert!(
        spans
            .iter()
            .any(|s| s.span.name == "claim" && links_commit(&s)),
        "the worker's claim links the event's trace"
    );
}

#[tokio::test]
async fn by_default_a_tenth_of_events_are_traced_and_each_trace_is_whole() {
    let app = TestApp::spawn().await;
    let (spans, ingest, addr, worker) = start_exporting(&app, None).await;
    const EVENTS: usize = 200;
    for n in 0..EVENTS {
        let mut event = fixture("customer.created");
        event["id"] = json!(format!("evt_sampled{n:04}"));
        event["data"]["object"]["id"] = json!(format!("cus_sampled{n:04}"));
        let body = serde_json::to_vec(&event).unwrap();
        assert_eq!(post_to(addr, &app.secret, &body).await, 200);
    }
    eventually(
        Duration::from_secs(30),
        "every event is applied",
        || async { unprocessed(&app.pool).await == 0 },
    )
    .await;
    stop(worker).await;
    stop(ingest).await;

    let spans = spans.lock().unwrap().clone();
    let traced: Vec<&Received> = spans
        .iter()
        .filter(|s| s.span.name == "stripe_webhook")
        .collect();
    // Every tenth delivery is traced, not a random tenth.
    assert_eq!(traced.len(), EVENTS / 10, "deliveries traced");
    let traced_ids: Vec<&Vec<u8>> = traced.iter().map(|s| &s.span.trace_id).collect();
    for receive in traced {
        let event_id = attribute(receive, "event_id").expect("the span names its event");
        let applied = spans
            .iter()
            .find(|s| {
                s.span.name == "apply_event"
                    && s.span.trace_id == receive.span.trace_id
                    && attribute(s, "event_id").as_deref() == Some(event_id.as_str())
            })
            .unwrap_or_else(|| panic!("the trace of {event_id} stops at ingest"));
        assert_eq!(applied.service, "tether-worker");
    }
    let applied_spans = spans
        .iter()
        .filter(|s| s.span.name == "apply_event")
        .count();
    assert_eq!(
        applied_spans,
        traced_ids.len(),
        "a worker traces exactly the events whose delivery was traced"
    );
    // An untraced delivery makes no exported span at all: every span of a
    // request, and every group commit, belongs to or links a traced one.
    for span in spans.iter().filter(|s| s.service == "tether-ingest") {
        let in_traced = traced_ids.contains(&&span.span.trace_id);
        let links_traced = span
            .span
            .links
            .iter()
            .any(|l| traced_ids.contains(&&l.trace_id));
        assert!(
            in_traced || links_traced,
            "ingest exported {} outside every traced delivery",
            span.span.name
        );
    }
    assert_eq!(
        spans.iter().filter(|s| s.span.name == "commit").count(),
        traced_ids.len(),
        "one commit span per traced delivery"
    );
}

fn names(spans: &[Received]) -> Vec<&str> {
    spans.iter().map(|s| s.span.name.as_str()).collect()
}
