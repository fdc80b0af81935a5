//! `--metrics-listen`: a small HTTP listener beside the worker, for
//! Prometheus (`GET /metrics`) and container health checks (`GET /healthz`).
//! Bound at start, so a bad address fails the start, not the first scrape.

use std::{io, net::SocketAddr};

use axum::{Router, http::header, routing::get};
use tether_shared::telemetry::metrics::{PrometheusHandle, recorder};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub struct MetricsServer {
    listener: TcpListener,
    handle: PrometheusHandle,
}

impl MetricsServer {
    /// Binds `addr` and installs the process's recorder.
    pub async fn bind(addr: SocketAddr) -> io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(addr).await?,
            handle: recorder(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(addr = %self.local_addr(), "worker metrics listening");
        let handle = self.handle;
        let router = Router::new()
            .route(
                "/metrics",
                get(move || {
                    let text = handle.render();
                    async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text) }
                }),
            )
            .route("/healthz", get(|| async { "ok" }));
        let served = axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(error) = served {
            tracing::warn!(error = %error, "the worker metrics listener stopped");
        }
    }
}
