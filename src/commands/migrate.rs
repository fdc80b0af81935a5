use anyhow::Context;
use tether_shared::{
    config::{AppTables, DatabaseConfig},
    db, install,
};

pub async fn run(config: &DatabaseConfig, apps: &AppTables) -> anyhow::Result<()> {
    let pool = db::connect(config).await?;
    db::migrate(&pool).await.context("migration failed")?;
    install::link_app_tables(&pool, apps).await?;
    println!("migrations applied to {}", db::redacted(config));
    Ok(())
}
