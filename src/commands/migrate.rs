use anyhow::Context;
use tether_shared::{
    config::{AppTables, DatabaseConfig},
    db, install,
};

pub async fn run(config: &DatabaseConfig, apps: &AppTables) -> anyhow::Result<()> {
    let database = db::open(config).await?;
    install::check_schema(&database.pool, &config.schema).await?;
    db::migrate(&database.pool, database.sessions)
        .await
        .context("migration failed")?;
    install::link_app_tables(&database.pool, apps).await?;
    println!("migrations applied to {}", db::redacted(config));
    Ok(())
}
