//! The worker's half of an event's trace: one `apply_event` span per traced
//! event, a child of the span its delivery stored with the job
//! (`traceparent`), so the trace that began at ingest ends where the event
//! was applied. An event whose delivery was not traced stored no
//! `traceparent` and gets no span of its own (its claim's `apply` span
//! covers it): a claim of hundreds of events would otherwise pay for spans
//! nobody reads.

use tether_shared::telemetry::{self, SPANS, context};
use tracing::Span;

use crate::logs::LogRow;

#[derive(Default)]
pub(crate) struct EventSpans(Vec<(String, Span)>);

/// What a span says about one event before it is applied.
pub(crate) struct EventFacts<'a> {
    pub id: &'a str,
    pub event_type: &'a str,
    pub object_id: Option<&'a str>,
    pub traceparent: Option<&'a str>,
}

impl EventSpans {
    /// Opens a span per traced event, linked back to the `apply` span they
    /// run in.
    pub fn open<'a>(events: impl Iterator<Item = EventFacts<'a>>, attempt: i32) -> Self {
        if !telemetry::exporting() {
            return Self::default();
        }
        let mut traced = events
            .filter_map(|event| Some((event.traceparent?, event)))
            .peekable();
        if traced.peek().is_none() {
            return Self::default();
        }
        let apply = context::traceparent(&Span::current());
        let spans = traced
            .map(|(parent, event)| {
                let span = tracing::info_span!(target: SPANS, parent: None, "apply_event",
                    event_id = event.id, event_type = event.event_type,
                    object_id = event.object_id, attempt,
                    outcome = tracing::field::Empty, error = tracing::field::Empty,
                    otel.status_code = tracing::field::Empty);
                context::set_parent(&span, parent);
                if let Some(apply) = &apply {
                    context::add_link(&span, apply);
                }
                (event.id.to_owned(), span)
            })
            .collect();
        Self(spans)
    }

    /// Each event's logged outcome (`success`, `stale`, ...), once committed.
    pub fn committed(&self, logs: &[LogRow]) {
        for row in logs {
            if let Some((_, span)) = self.0.iter().find(|(id, _)| *id == row.event_id) {
                span.record("outcome", row.status.as_str());
            }
        }
    }

    /// The transaction failed: no outcome of it stands.
    pub fn failed(&self, error: &dyn std::fmt::Display) {
        let error = error.to_string();
        for (_, span) in &self.0 {
            span.record("outcome", "failed");
            span.record("error", error.as_str());
            span.record("otel.status_code", "ERROR");
        }
    }
}
