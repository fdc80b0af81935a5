//! `tether link-user`: a Supabase user's Stripe customer, found or created
//! exactly once, synced and linked.

use clap::Args;
use tether_shared::{
    config::{AppTables, DatabaseConfig, StripeApiConfig},
    db,
};

#[derive(Args)]
pub struct LinkUser {
    /// The Supabase user's id (auth.users.id).
    #[arg(long)]
    pub user_id: uuid::Uuid,

    /// Their email: an existing Stripe customer with it is linked.
    #[arg(long)]
    pub email: String,

    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub db: DatabaseConfig,

    #[command(flatten)]
    pub stripe: StripeApiConfig,

    #[command(flatten)]
    pub apps: AppTables,
}

pub async fn run(args: LinkUser) -> anyhow::Result<()> {
    let api = super::stripe_api::client(&args.stripe)?;
    let pool = db::connect(&args.db).await?;
    let linked =
        tether_ops::link_user::link_user(&pool, &api, args.user_id, &args.email, &args.apps)
            .await?;
    if args.json {
        println!("{}", serde_json::to_string(&linked)?);
    } else {
        println!(
            "user {} -> {} ({})",
            linked.user_id, linked.stripe_customer_id, linked.how
        );
    }
    Ok(())
}
