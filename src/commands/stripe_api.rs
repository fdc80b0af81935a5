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
