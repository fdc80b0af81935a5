//! Which Stripe accounts an operation covers: the platform's own, named
//! connected accounts (`--account acct_...`), or every one the platform
//! has (`--all-accounts`, listed from `/v1/accounts`).

use tether_stripe_api::{ApiError, StripeApi, Walk};

/// The accounts an operation was asked to cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accounts {
    /// The platform's own objects and events only (no `Stripe-Account`).
    Platform,
    /// These connected accounts, in this order.
    Named(Vec<String>),
    /// The platform's own, then every connected account.
    All,
}

impl Accounts {
    pub fn new(named: Vec<String>, all: bool) -> Self {
        match (named.is_empty(), all) {
            (_, true) => Self::All,
            (true, false) => Self::Platform,
            (false, false) => Self::Named(named),
        }
    }

    /// The client for each account covered, in order; `api.account()` tells
    /// which (`None`: the platform). They share one rate.
    pub async fn clients(&self, api: &StripeApi) -> Result<Vec<StripeApi>, ApiError> {
        let platform = api.in_account(None);
        Ok(match self {
            Self::Platform => vec![platform],
            Self::Named(ids) => ids.iter().map(|id| api.in_account(Some(id))).collect(),
            Self::All => {
                let mut clients = vec![api.in_account(None)];
                for id in connected_accounts(&platform).await? {
                    clients.push(api.in_account(Some(&id)));
                }
                clients
            }
        })
    }
}

/// Every connected account of the platform, in Stripe's list order.
pub async fn connected_accounts(platform: &StripeApi) -> Result<Vec<String>, ApiError> {
    let mut walk = Walk::new("/accounts", None);
    let mut ids = Vec::new();
    loop {
        let mut query: Vec<(&str, &str)> = vec![("limit", "100")];
        if let Some(after) = walk.after() {
            query.push(("starting_after", after));
        }
        let page = platform.list_page("/accounts", &query).await?;
        let more = walk.advance(&page)?;
        ids.extend(page.data.iter().filter_map(|raw| {
            serde_json::from_str::<serde_json::Value>(raw.get())
                .ok()?
                .get("id")?
                .as_str()
                .map(str::to_owned)
        }));
        if !more {
            return Ok(ids);
        }
    }
}
