//! The long-running commands: `ingest`, `worker`, and `up` (both at once).

use std::{
    io::Write,
    net::{Ipv4Addr, SocketAddr},
};

use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use tether_ingest::IngestServer;
use tether_shared::{
    config::{AppTables, DatabaseConfig, IngestConfig, StripeApiConfig, WorkerConfig},
    db, dev_secret, install,
    shutdown::{self, BackgroundTasks},
};
use tether_stripe::secret::WebhookSecrets;
use tokio_util::sync::CancellationToken;

pub async fn ingest(
    db_config: &DatabaseConfig,
    config: &IngestConfig,
    stripe: &StripeApiConfig,
) -> anyhow::Result<()> {
    let mut config = config.clone();
    config.derive_mode(stripe)?;
    // Lazy: ingest starts (and answers 503) while the database is down, and
    // recovers by itself when it returns.
    let pool = db::open_lazy(db_config).await?.pool;
    if config.webhook_secrets.is_none() {
        config.webhook_secrets = setup_secret(&pool).await?;
    }
    let server = IngestServer::build(&config, pool).await?;
    server.run(shutdown::on_signal()).await
}

/// The endpoint secret `tether setup` stored, for a receiver started
/// without STRIPE_WEBHOOK_SECRET.
async fn setup_secret(pool: &sqlx::PgPool) -> anyhow::Result<Option<WebhookSecrets>> {
    let mut conn = pool.acquire().await.context(
        "STRIPE_WEBHOOK_SECRET is not set, and the database (where `tether setup` keeps \
         the endpoint's secret) cannot be reached",
    )?;
    tether_ops::setup::stored_secrets(&mut conn)
        .await
        .context("cannot read the endpoint secret `tether setup` stored")
}

pub async fn worker(
    db_config: &DatabaseConfig,
    config: &WorkerConfig,
    stripe: &StripeApiConfig,
    apps: &AppTables,
) -> anyhow::Result<()> {
    let database = db::open_lazy(db_config).await?;
    let listen = db::listen_pool(&database, db_config, config.listen_database_url.as_ref())?;
    let pool = database.pool;
    let shutdown = shutdown::on_signal();
    let side_tasks = start_side_tasks(&pool, config, stripe, apps, &shutdown)?;
    if let Some(addr) = config.metrics_listen {
        serve_worker_metrics(&side_tasks, addr, &shutdown).await?;
        sample_queue(&side_tasks, &pool, config, &shutdown);
    }
    let worked = tether_worker::run(pool, listen, config.clone(), shutdown).await;
    let side = side_tasks.finish().await;
    worked.and(side)
}

/// What runs beside a worker: retention (TETHER_RETENTION) and, with a
/// Stripe key, sign-ups becoming customers. Both stop with `shutdown`; one
/// that fails stops the process.
fn start_side_tasks(
    pool: &PgPool,
    config: &WorkerConfig,
    stripe: &StripeApiConfig,
    apps: &AppTables,
    shutdown: &CancellationToken,
) -> anyhow::Result<BackgroundTasks> {
    let tasks = BackgroundTasks::new(shutdown);
    if let Some(window) = config.retention {
        tasks.spawn(
            "retention",
            prune_every_hour(pool.clone(), window, shutdown.clone()),
        );
    }
    if stripe.secret_key.is_some() {
        let api = super::stripe_api::client(stripe)?;
        let name = format!(
            "tether-signups-{}-{:04x}",
            std::process::id(),
            fastrand::u16(..)
        );
        tasks.spawn(
            "sign-ups",
            tether_ops::signups::run(
                pool.clone(),
                api,
                apps.clone(),
                name,
                config.poll_interval(),
                shutdown.clone(),
            ),
        );
    }
    Ok(tasks)
}

/// `--metrics-listen`: bound now, so a bad address fails the start.
async fn serve_worker_metrics(
    tasks: &BackgroundTasks,
    addr: SocketAddr,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let server = tether_worker::metrics::MetricsServer::bind(addr)
        .await
        .with_context(|| format!("cannot listen on TETHER_METRICS_LISTEN={addr}"))?;
    tasks.spawn("metrics listener", server.run(shutdown.clone()));
    Ok(())
}

/// The queue gauges, every 5 s, for whichever `/metrics` this process serves.
fn sample_queue(
    tasks: &BackgroundTasks,
    pool: &PgPool,
    config: &WorkerConfig,
    shutdown: &CancellationToken,
) {
    tasks.spawn(
        "queue gauges",
        tether_worker::metrics::sample_queue(pool.clone(), config.orphan_after(), shutdown.clone()),
    );
}

/// TETHER_RETENTION: what `tether prune` does, in the background, hourly.
/// Several workers may run it at once; each batch skips rows another holds.
/// A database error is tried again in an hour; a window out of bounds
/// cannot improve, so it ends the task (and so the process).
async fn prune_every_hour(pool: PgPool, window: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! { _ = shutdown.cancelled() => return, _ = tick.tick() => {} }
        match tether_ops::prune::prune(&pool, window, false).await {
            Ok(pruned) => tracing::info!(
                events = pruned.events,
                logs = pruned.logs,
                "retention: pruned"
            ),
            Err(error @ tether_ops::OpsError::OutOfBounds(_)) => {
                tracing::error!(error = %error, "retention: cannot prune");
                return;
            }
            Err(error) => {
                tracing::warn!(error = %error, "retention: prune failed; trying again in an hour")
            }
        }
    }
}

/// How often `up` reads Stripe's event log when it follows it, and how
/// far back its first read reaches.
const FOLLOW_EVERY: Duration = Duration::from_secs(5);
const FOLLOW_FIRST_SINCE: Duration = Duration::from_secs(3600);

/// The Host names a development receiver answers to.
const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "localhost", "[::1]"];

pub async fn up(
    db_config: &DatabaseConfig,
    mut ingest_config: IngestConfig,
    worker_config: &WorkerConfig,
    stripe: &StripeApiConfig,
    apps: &AppTables,
) -> anyhow::Result<()> {
    ingest_config.derive_mode(stripe)?;
    if db::ensure_database(db_config).await? {
        println!("created database {}", db::redacted(db_config));
    }
    let database = db::open(db_config).await?;
    install::check_schema(&database.pool, &db_config.schema).await?;
    db::migrate(&database.pool, database.sessions)
        .await
        .context("migration failed")?;
    let listen = db::listen_pool(
        &database,
        db_config,
        worker_config.listen_database_url.as_ref(),
    )?;
    let pool = database.pool;
    install::link_app_tables(&pool, apps).await?;
    if ingest_config.webhook_secrets.is_none() {
        ingest_config.webhook_secrets = setup_secret(&pool).await?;
    }
    let dev_secret = ingest_config.webhook_secrets.is_none();
    if dev_secret {
        let secret = dev_secret::get_or_create(&pool).await?;
        ingest_config.webhook_secrets = Some(WebhookSecrets::one(&secret));
        ingest_config.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, ingest_config.listen.port()));
        // Loopback alone does not stop a page in the developer's browser
        // from posting here through DNS rebinding; its Host header does.
        ingest_config.allowed_hosts = Some(LOOPBACK_HOSTS.iter().map(|h| h.to_string()).collect());
    }
    let server = IngestServer::build(&ingest_config, pool.clone()).await?;
    let follows = dev_secret && stripe.secret_key.is_some();
    print_welcome(server.local_addr(), dev_secret, follows);
    let shutdown = shutdown::on_signal();
    let side_tasks = start_side_tasks(&pool, worker_config, stripe, apps, &shutdown)?;
    // A key and no endpoint secret: Stripe's webhooks cannot reach this
    // receiver, so the account comes in through the API instead.
    if follows {
        side_tasks.spawn(
            "stripe event log",
            tether_ops::follow::import_then_follow(
                pool.clone(),
                super::stripe_api::client(stripe)?,
                FOLLOW_EVERY,
                FOLLOW_FIRST_SINCE,
                shutdown.clone(),
            ),
        );
    }
    // One process, one recorder: ingest's `/metrics` shows the worker's
    // metrics too, and `--metrics-listen` serves the same text again.
    sample_queue(&side_tasks, &pool, worker_config, &shutdown);
    if let Some(addr) = worker_config.metrics_listen {
        serve_worker_metrics(&side_tasks, addr, &shutdown).await?;
    }
    let worker = tokio::spawn(tether_worker::run(
        pool,
        listen,
        worker_config.clone(),
        shutdown.clone(),
    ));
    let served = server.run(shutdown.clone()).await;
    shutdown.cancel();
    let worked = worker.await.context("worker task panicked")?;
    let side = side_tasks.finish().await;
    served.and(worked).and(side)
}

fn print_welcome(addr: SocketAddr, dev_secret: bool, follows: bool) {
    let url = format!("http://{addr}/webhooks/stripe");
    let mut text = format!(
        "tether is up.\n  webhook URL: {url}\n  \
         send a test event:  cargo run --release -- send-test-event customer.created --url {url}\n  \
         forward real Stripe test events:  stripe listen --forward-to {url}\n"
    );
    if dev_secret {
        text.push_str(
            "  STRIPE_WEBHOOK_SECRET is not set: using this database's development secret \
             (send-test-event finds it there) and answering loopback only. Set it to the \
             whsec_... that Stripe (or `stripe listen`) gives you.\n",
        );
    }
    if follows {
        text.push_str(
            "  STRIPE_SECRET_KEY is set: importing the account, then reading Stripe's event \
             log every 5s (no public URL needed).\n",
        );
    }
    text.push_str("  stop with Ctrl-C.\n");
    // A closed stdout (piped into `head`, a supervisor gone) must not stop the service.
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}
