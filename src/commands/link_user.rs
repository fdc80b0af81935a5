//! `tether link-user`: a Supabase user's Stripe customer, found or created
//! exactly once, synced and linked.

use clap::Args;
use tether_ops::link_user::{Matching, link_user};
use tether_shared::{
    config::{AppTables, DatabaseConfig, StripeApiConfig},
    db,
};

#[derive(Args)]
pub struct LinkUser {
    /// The Supabase user's id (auth.users.id).
    #[arg(long)]
    pub user_id: uuid::Uuid,

    /// Their email: an existing Stripe customer with it is linked, unless
    /// another user is already linked to that customer.
    #[arg(long)]
    pub email: String,

    /// Link the customer with this email even if another user is linked to it.
    #[arg(long)]
    pub force: bool,

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
    let matching = Matching::Operator { force: args.force };
    let linked = link_user(&pool, &api, args.user_id, &args.email, matching, &args.apps).await?;
    if args.json {
        println!("{}", serde_json::to_string(&linked)?);
    } else {
        println!(
            "user {} -> {} ({})",
            linked.user_id, linked.stripe_customer_id, linked.how
        );
        if let Some(reason) = &linked.reason {
            println!("  {reason}");
        }
    }
    Ok(())
}
