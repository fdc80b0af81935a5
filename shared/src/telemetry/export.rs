//! Span export over OTLP/HTTP with protobuf bodies (no gRPC: its transport
//! costs more to build than it would earn here). The OpenTelemetry SDK
//! reads the standard variables itself: `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (spans go to `<endpoint>/v1/traces`), `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`, the `OTEL_BSP_*`
//! batch settings. `OTEL_TRACES_SAMPLER` (with `_ARG`) is read by
//! [`super::sampling`], which decides which deliveries are traced before
//! their spans exist; without it one delivery in ten is.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    trace::{SdkTracer, SdkTracerProvider},
};
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::registry::LookupSpan;

use super::sampling::Ratio;

pub const ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const SERVICE_NAME_VAR: &str = "OTEL_SERVICE_NAME";

#[derive(Debug, thiserror::Error)]
#[error("cannot export traces to OTEL_EXPORTER_OTLP_ENDPOINT: {0}")]
pub struct ExportError(String);

impl From<String> for ExportError {
    fn from(reason: String) -> Self {
        Self(reason)
    }
}

pub(super) struct Exporter {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    pub endpoint: String,
    pub ratio: Ratio,
}

/// The exporter `OTEL_EXPORTER_OTLP_ENDPOINT` asks for, or `None` when it
/// is unset or empty.
pub(super) fn from_env(service: &str) -> Result<Option<Exporter>, ExportError> {
    let Some(endpoint) = std::env::var(ENDPOINT_VAR)
        .ok()
        .filter(|e| !e.trim().is_empty())
    else {
        return Ok(None);
    };
    let ratio = Ratio::from_env()?;
    let spans = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
        .map_err(|e| ExportError(e.to_string()))?;
    let mut resource = Resource::builder();
    if std::env::var_os(SERVICE_NAME_VAR).is_none() {
        resource = resource.with_service_name(service.to_owned());
    }
    // A batch processor exports from a thread of its own: a request never
    // waits for the collector, and a full buffer drops spans, not requests.
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(spans)
        .with_resource(resource.build())
        .with_sampler(ratio.sampler())
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    Ok(Some(Exporter {
        tracer: provider.tracer("tether"),
        provider,
        endpoint,
        ratio,
    }))
}

impl Exporter {
    pub fn layer<S>(&self) -> OpenTelemetryLayer<S, SdkTracer>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        // Each span is made on the request path: leave out what no one
        // reads (source location, thread, busy/idle time) rather than
        // build and send it thousands of times a second.
        tracing_opentelemetry::layer()
            .with_tracer(self.tracer.clone())
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            // Nothing here reads OpenTelemetry's current context (parents
            // come from the span tree): activating it on every poll of a
            // traced span cost more than the span itself.
            .with_context_activation(false)
    }

    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            // Stderr, not tracing: the subscriber may be what is going away.
            eprintln!("warning: could not send the last spans: {error}");
        }
    }
}
