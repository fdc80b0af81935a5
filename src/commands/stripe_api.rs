//! The Stripe API client the commands share, from its configuration.

use anyhow::Context;
use tether_shared::config::StripeApiConfig;
use tether_stripe_api::{ApiConfig, StripeApi};

pub fn client(config: &StripeApiConfig) -> anyhow::Result<StripeApi> {
    config.mode()?;
    let secret_key = config
        .secret_key
        .clone()
        .context("STRIPE_SECRET_KEY is not set (Stripe Dashboard > Developers > API keys)")?;
    Ok(StripeApi::new(ApiConfig {
        secret_key,
        api_base: config.api_base.clone(),
        rate: config.rate,
    })?)
}

/// Which Stripe accounts a command covers (Stripe Connect).
#[derive(clap::Args, Debug, Clone)]
pub struct AccountArgs {
    /// A connected account to cover (`acct_...`), instead of the
    /// platform's own objects; repeat for several.
    #[arg(long = "account", value_name = "ACCOUNT", value_parser = tether_shared::bounds::parse_account)]
    pub accounts: Vec<String>,

    /// The platform's own objects, then every connected account it has
    /// (listed from Stripe).
    #[arg(long, conflicts_with = "accounts")]
    pub all_accounts: bool,
}

impl AccountArgs {
    pub fn chosen(&self) -> tether_ops::accounts::Accounts {
        tether_ops::accounts::Accounts::new(self.accounts.clone(), self.all_accounts)
    }
}
