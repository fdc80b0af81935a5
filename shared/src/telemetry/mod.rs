//! Logs, traces and metrics: the one home of their set-up.
//!
//! - Logs: `RUST_LOG` filters (default `info`), `TETHER_LOG_FORMAT` picks
//!   the shape.
//! - Traces ([`export`], [`context`], [`sampling`]): with
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans go to that collector over
//!   OTLP/HTTP (protobuf), for the deliveries drawn to be traced. Without
//!   it no OpenTelemetry layer is installed and the trace-context helpers
//!   return at once, so the hot path pays nothing for them.
//! - Metrics ([`metrics`]): one Prometheus recorder per process, rendered
//!   by the `/metrics` routes.

pub mod context;
mod export;
pub mod metrics;
pub mod sampling;

use std::sync::atomic::{AtomicBool, Ordering};

use tracing::{Level, Subscriber, level_filters::LevelFilter};
use tracing_subscriber::{
    EnvFilter, Layer, filter::Targets, fmt, layer::SubscriberExt, registry::LookupSpan,
};

use crate::config::LogFormat;

pub use export::ExportError;

/// The target of the spans that exist for traces only (a request's
/// verification and commit, group commits, claims, applies). Logs leave
/// them out, so without export nothing at all is made for them: a span
/// every layer refuses costs nothing, while one the log layer takes is
/// formatted on creation, on every request.
pub const SPANS: &str = "tether_trace";

/// Whether spans are exported, so trace contexts are worth making.
static EXPORTING: AtomicBool = AtomicBool::new(false);

pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Logs only, no export: what tests that run servers in-process use.
pub fn init(format: LogFormat) {
    // A second init (tests start many servers in one process) is harmless.
    let _ = tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(log_layer(format)),
    );
}

/// A process's telemetry: logs, and trace export when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set. `service` names the process in
/// the traces unless `OTEL_SERVICE_NAME` does. Call [`Telemetry::shutdown`]
/// once the work is done, so the last spans are sent.
pub fn start(format: LogFormat, service: &str) -> Telemetry {
    let exporter = match export::from_env(service) {
        Ok(exporter) => exporter,
        Err(error) => {
            // Logs first, so the reason is seen; telemetry never stops tether.
            init(format);
            tracing::error!(error = %error, "trace export is off");
            return Telemetry { exporter: None };
        }
    };
    // Spans are exported whatever RUST_LOG says: it filters the logs.
    let otel = exporter.as_ref().map(|e| {
        e.layer().with_filter(
            Targets::new()
                .with_target("tether", Level::INFO)
                .with_target(sampling::UNTRACED, LevelFilter::OFF),
        )
    });
    let installed = tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(log_layer(format))
            .with(otel),
    )
    .is_ok();
    EXPORTING.store(installed && exporter.is_some(), Ordering::Relaxed);
    if let Some(exporter) = &exporter {
        sampling::set_ratio(exporter.ratio);
        tracing::info!(endpoint = %exporter.endpoint, "exporting traces over OTLP/HTTP");
    }
    Telemetry { exporter }
}

/// Logs to stderr, filtered by `RUST_LOG`.
fn log_layer<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn"))
        .add_directive(
            format!("{SPANS}=off")
                .parse()
                .expect("a target directive parses"),
        );
    let layer = fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Json => layer.json().flatten_event(true).with_filter(filter).boxed(),
        LogFormat::Pretty => layer.compact().with_filter(filter).boxed(),
    }
}

/// Held for the life of the process; see [`start`].
pub struct Telemetry {
    exporter: Option<export::Exporter>,
}

impl Telemetry {
    /// Sends the spans still buffered and stops the exporter. Called after
    /// the shutdown token fired and every task finished (see
    /// `shutdown.rs`), outside the async runtime: the export client blocks.
    pub fn shutdown(self) {
        if let Some(exporter) = self.exporter {
            exporter.shutdown();
        }
    }
}
