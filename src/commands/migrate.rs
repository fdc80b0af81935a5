use anyhow::Context;
use tether_shared::{config::DatabaseConfig, db};

pub async fn run(config: &DatabaseConfig) -> anyhow::Result<()> {
    let pool = db::connect(config).await?;
    db::migrate(&pool).await.context("migration failed")?;
    println!("migrations applied to {}", db::redacted(config));
    Ok(())
}
