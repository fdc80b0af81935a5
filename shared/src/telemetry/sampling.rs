//! Which deliveries are traced, decided when a request arrives and before
//! any of its spans exist.
//!
//! Leaving the choice to the OpenTelemetry sampler was not enough: the
//! tracing bridge builds and starts every span before the sampler drops
//! it, so an untraced delivery cost ingest nearly what a traced one did
//! (BENCHMARKS.md, "Trace export"). Now ingest draws a delivery's fate
//! first ([`delivery_traced`]) and runs the request inside it
//! ([`delivery`]). An untraced delivery's root span has a target the
//! export layer refuses ([`UNTRACED`]), and its trace-only spans are never
//! made ([`trace_span`]): it costs what it costs with export off.
//!
//! The rest follows from that draw: a span that continues a trace follows
//! its parent, a delivery's root span is always kept (it was drawn
//! already), and a span serving many events (a group commit, a claim) is
//! kept when it links a traced one. Other roots are drawn by ratio.

use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::{
    KeyValue,
    trace::{Link, SpanKind, TraceId},
};
use opentelemetry_sdk::trace::{Sampler, SamplingResult, ShouldSample};
use tracing::Span;

/// The name of a delivery's root span in ingest.
pub const DELIVERY: &str = "stripe_webhook";

/// The target of an untraced delivery's root span, which the export layer
/// refuses by target (so no layer is asked about it each time). It sits
/// under `tether_ingest`, so `RUST_LOG` directives for ingest still give
/// the delivery's log lines their context.
pub const UNTRACED: &str = "tether_ingest::untraced";

const SAMPLER_VAR: &str = "OTEL_TRACES_SAMPLER";
const SAMPLER_ARG_VAR: &str = "OTEL_TRACES_SAMPLER_ARG";

/// The share of new traces sampled when `OTEL_TRACES_SAMPLER` is unset.
/// Exporting every span cost ingest about 40% more CPU per event; a tenth
/// of them keeps a steady stream of whole traces for far less
/// (BENCHMARKS.md, "Trace export").
pub const DEFAULT_RATIO: f64 = 0.1;

/// The share of traces started, as `OTEL_TRACES_SAMPLER` (with `_ARG`)
/// asks. Every sampler is parent-based here, whatever its name: a trace is
/// whole or absent, never cut where it crosses the queue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio(f64);

impl Ratio {
    pub fn from_env() -> Result<Self, String> {
        Self::parse(
            std::env::var(SAMPLER_VAR).ok().as_deref(),
            std::env::var(SAMPLER_ARG_VAR).ok().as_deref(),
        )
    }

    pub fn parse(sampler: Option<&str>, arg: Option<&str>) -> Result<Self, String> {
        let name = sampler.map(str::trim).unwrap_or_default();
        let ratio = match name.strip_prefix("parentbased_").unwrap_or(name) {
            "" => DEFAULT_RATIO,
            "always_on" => 1.0,
            "always_off" => 0.0,
            "traceidratio" => match arg.map(str::trim).filter(|a| !a.is_empty()) {
                None => 1.0,
                Some(arg) => arg
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| {
                        format!("{SAMPLER_ARG_VAR}={arg:?} is not a ratio from 0 to 1")
                    })?,
            },
            _ => {
                return Err(format!(
                    "{SAMPLER_VAR}={name:?} is not one of always_on, always_off, \
                     traceidratio (each may start with parentbased_)"
                ));
            }
        };
        Ok(Self(ratio))
    }

    /// The process's sampler for the OpenTelemetry SDK.
    pub(super) fn sampler(self) -> Sampler {
        Sampler::ParentBased(Box::new(Roots(self)))
    }
}

/// The bits of the process's ratio; set once when export starts.
static RATIO: AtomicU64 = AtomicU64::new(0);
/// Deliveries seen so far, for [`delivery_traced`].
static DELIVERIES: AtomicU64 = AtomicU64::new(0);

pub(super) fn set_ratio(ratio: Ratio) {
    RATIO.store(ratio.0.to_bits(), Ordering::Relaxed);
}

/// Whether the delivery arriving now is traced. Evenly spaced rather than
/// random (one in ten is every tenth), so a trickle of deliveries still
/// yields traces at the promised rate. Always false when nothing is
/// exported.
pub fn delivery_traced() -> bool {
    if !super::exporting() {
        return false;
    }
    let ratio = f64::from_bits(RATIO.load(Ordering::Relaxed));
    drawn(DELIVERIES.fetch_add(1, Ordering::Relaxed), ratio)
}

/// Whether the `n`th delivery (from 0) is traced at `ratio`: when the
/// running count of traces due, `n * ratio`, passes a whole number.
fn drawn(n: u64, ratio: f64) -> bool {
    let n = n as f64;
    ((n + 1.0) * ratio).floor() > (n * ratio).floor()
}

tokio::task_local! {
    static TRACED: bool;
}

/// Runs one delivery's request with its draw in force: the spans and
/// events it makes are exported only when `traced`.
pub async fn delivery<F: Future>(traced: bool, request: F) -> F::Output {
    TRACED.scope(traced, request).await
}

/// Whether the code running now may make exported spans: false only inside
/// an untraced delivery (and, with export off, trace-only spans are refused
/// by every layer anyway).
pub fn may_trace() -> bool {
    TRACED.try_with(|traced| *traced).unwrap_or(true)
}

/// A span that exists for traces only, made only when the code running
/// now may be traced. A filter cannot do this as cheaply: when every layer
/// refuses a span it is asked about each time, tracing-subscriber's
/// registry still makes the span, and enters, exits and closes it on every
/// poll.
pub fn trace_span(make: impl FnOnce() -> Span) -> Span {
    if may_trace() { make() } else { Span::none() }
}

/// How a trace's first span is sampled (a continued one follows its
/// parent: see [`Ratio::sampler`]).
#[derive(Debug, Clone)]
struct Roots(Ratio);

impl ShouldSample for Roots {
    fn should_sample(
        &self,
        parent_context: Option<&opentelemetry::Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        // A delivery's span exists only because its delivery was drawn.
        let drawn = name == DELIVERY;
        let serves_a_traced_event = links.iter().any(|l| l.span_context.is_sampled());
        let sampler = if drawn || serves_a_traced_event {
            Sampler::AlwaysOn
        } else {
            Sampler::TraceIdRatioBased(self.0.0)
        };
        sampler.should_sample(parent_context, trace_id, name, span_kind, attributes, links)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sampler_variable_reads_as_a_share_of_traces() {
        let ratio = |sampler, arg| Ratio::parse(sampler, arg).map(|r| r.0);
        assert_eq!(ratio(None, None), Ok(DEFAULT_RATIO));
        assert_eq!(ratio(Some("always_on"), None), Ok(1.0));
        assert_eq!(ratio(Some("parentbased_always_off"), None), Ok(0.0));
        assert_eq!(ratio(Some("traceidratio"), Some("0.25")), Ok(0.25));
        assert_eq!(ratio(Some("parentbased_traceidratio"), None), Ok(1.0));
        assert!(ratio(Some("traceidratio"), Some("2")).is_err());
        assert!(ratio(Some("jaeger_remote"), None).is_err());
    }

    #[test]
    fn deliveries_are_traced_evenly_at_the_ratio() {
        let traced = |ratio| (0..1000).filter(|&n| drawn(n, ratio)).collect::<Vec<_>>();
        assert_eq!(traced(0.1).len(), 100);
        assert_eq!(traced(0.1)[..3], [9, 19, 29]);
        assert_eq!(traced(0.25).len(), 250);
        assert_eq!(traced(1.0).len(), 1000);
        assert!(traced(0.0).is_empty());
    }
}
