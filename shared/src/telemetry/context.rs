//! Carrying a trace across the queue: a span's context as a W3C
//! `traceparent` string (stored in the job), and back. Every helper returns
//! at once when spans are not exported, so callers need not check.

use std::collections::HashMap;

use opentelemetry::{
    propagation::TextMapPropagator,
    trace::{SpanContext, TraceContextExt},
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::exporting;

const TRACEPARENT: &str = "traceparent";

/// `span`'s context as a `traceparent`, or `None` when nothing is exported
/// or the delivery running now is not traced.
pub fn traceparent(span: &Span) -> Option<String> {
    if !exporting() || !super::sampling::may_trace() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// Makes `span` a child of the span `traceparent` names. Call it before the
/// span is first entered.
pub fn set_parent(span: &Span, traceparent: &str) {
    if !exporting() {
        return;
    }
    let parent = extract(traceparent);
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// Links `span` to the span `traceparent` names: for a span that serves
/// many traces at once (a group commit, a merged claim).
pub fn add_link(span: &Span, traceparent: &str) {
    if !exporting() {
        return;
    }
    if let Some(linked) = span_context(traceparent) {
        span.add_link(linked);
    }
}

fn span_context(traceparent: &str) -> Option<SpanContext> {
    let context = extract(traceparent);
    let linked = context.span().span_context().clone();
    linked.is_valid().then_some(linked)
}

fn extract(traceparent: &str) -> opentelemetry::Context {
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    TraceContextPropagator::new().extract(&carrier)
}
