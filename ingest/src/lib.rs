//! The webhook receiver: verify, store raw with its job in one transaction,
//! then answer. Nothing is answered 2xx before its commit.

mod admin;
mod body;
pub mod committer;
mod console;
pub mod error;
mod listener;
mod metrics;
mod refusals;
pub mod routes;
mod state;
mod supabase;

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use tether_shared::{config::IngestConfig, dev_secret::RETIRED_DEV_SECRET};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use tether_stripe::signature::SignatureVerifier;

use crate::{body::BodyLimits, committer::Committer, routes::AppState};

/// Two committers: one gathers the next batch while the other flushes.
const COMMITTER_TASKS: usize = 2;

/// A bound, ready-to-run receiver. Binding is separate from running so that
/// callers (and tests, with port 0) learn the real address first.
pub struct IngestServer {
    listener: TcpListener,
    router: axum::Router,
    limits: listener::Limits,
    committers: TaskTracker,
}

impl IngestServer {
    pub async fn build(config: &IngestConfig, pool: PgPool) -> anyhow::Result<Self> {
        let secrets = config.webhook_secrets.as_ref().context(
            "STRIPE_WEBHOOK_SECRET is not set; ingest refuses to start without it \
             (Stripe Dashboard > Developers > Webhooks > Signing secret, or `stripe listen`)",
        )?;
        if secrets
            .iter()
            .any(|s| s.expose_secret() == RETIRED_DEV_SECRET)
        {
            anyhow::bail!(
                "STRIPE_WEBHOOK_SECRET holds the development secret that earlier versions of \
                 tether published; use your endpoint's own secret (`tether up` makes a private \
                 one when STRIPE_WEBHOOK_SECRET is unset)"
            );
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on TETHER_LISTEN={}", config.listen))?;
        let committers = TaskTracker::new();
        let max_body = usize::try_from(config.max_body_bytes).unwrap_or(usize::MAX);
        let state = Arc::new(AppState {
            verifier: SignatureVerifier::new(secrets, config.tolerance_secs),
            committer: Committer::start(
                pool.clone(),
                COMMITTER_TASKS,
                config.commit_timeout(),
                &committers,
            ),
            pool,
            body_limits: BodyLimits::new(
                max_body,
                config.limits.body_timeout(),
                usize::try_from(config.limits.max_buffered_bytes).unwrap_or(usize::MAX),
            ),
            allowed_hosts: config.allowed_hosts.clone(),
            admin_token: admin::token(config.admin_token.as_ref()),
            mode: config.mode,
            accounts: (!config.accounts.is_empty())
                .then(|| config.accounts.iter().cloned().collect()),
            supabase_token: admin::token(config.supabase_token.as_ref()),
            metrics: tether_shared::telemetry::metrics::recorder(),
        });
        Ok(Self {
            listener,
            router: routes::router(state, max_body),
            limits: listener::Limits {
                max_connections: config.limits.max_connections as usize,
                header_timeout: config.limits.header_timeout(),
            },
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
        listener::serve(self.listener, self.router, self.limits, shutdown).await;
        // The router (and with it every committer handle) is gone now, so
        // the committers drain what is left and stop.
        self.committers.close();
        self.committers.wait().await;
        tracing::info!("ingest stopped");
        Ok(())
    }
}
