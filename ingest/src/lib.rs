//! The webhook receiver: verify, store raw with its job in one transaction,
//! then answer. Nothing is answered 2xx before its commit.

pub mod committer;
pub mod error;
pub mod routes;

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use sqlx::PgPool;
use secrecy::ExposeSecret;
use tether_shared::config::{DEV_WEBHOOK_SECRET, IngestConfig};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use tether_stripe::signature::SignatureVerifier;

use crate::{committer::Committer, routes::AppState};

/// Two committers: one gathers the next batch while the other flushes.
const COMMITTER_TASKS: usize = 2;

/// A bound, ready-to-run receiver. Binding is separate from running so that
/// callers (and tests, with port 0) learn the real address first.
pub struct IngestServer {
    listener: TcpListener,
    router: axum::Router,
    committers: TaskTracker,
}

impl IngestServer {
    pub async fn build(config: &IngestConfig, pool: PgPool) -> anyhow::Result<Self> {
        let secrets = config.webhook_secrets.as_ref().context(
            "STRIPE_WEBHOOK_SECRET is not set; ingest refuses to start without it \
             (Stripe Dashboard > Developers > Webhooks > Signing secret, or `stripe listen`)",
        )?;
        if !config.listen.ip().is_loopback()
            && secrets.iter().any(|s| s.expose_secret() == DEV_WEBHOOK_SECRET)
        {
            anyhow::bail!(
                "STRIPE_WEBHOOK_SECRET holds tether's published development secret; it is \
                 accepted on a loopback address only (TETHER_LISTEN={})",
                config.listen
            );
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on TETHER_LISTEN={}", config.listen))?;
        let committers = TaskTracker::new();
        let state = Arc::new(AppState {
            verifier: SignatureVerifier::new(secrets, config.tolerance_secs),
            committer: Committer::start(
                pool.clone(),
                COMMITTER_TASKS,
                config.commit_timeout(),
                &committers,
            ),
            pool,
        });
        let max_body = usize::try_from(config.max_body_bytes).unwrap_or(usize::MAX);
        Ok(Self {
            listener,
            router: routes::router(state, max_body),
            committers,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` fires, then stops accepting, lets requests in
    /// flight finish, and waits until every submitted event is answered.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr(), "ingest listening");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .context("HTTP server failed")?;
        // The router (and with it every committer handle) is gone now, so
        // the committers drain what is left and stop.
        self.committers.close();
        self.committers.wait().await;
        tracing::info!("ingest stopped");
        Ok(())
    }
}
