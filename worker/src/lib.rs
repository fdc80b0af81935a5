//! Placeholder until the worker lands.
use sqlx::PgPool;
use tether_shared::config::WorkerConfig;
use tokio_util::sync::CancellationToken;

pub async fn run(_pool: PgPool, _config: WorkerConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    shutdown.cancelled().await;
    Ok(())
}
