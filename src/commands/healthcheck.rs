//! `tether healthcheck URL`: a container health check for images that ship
//! no curl or wget (the distroless runtime image has neither): GET the URL,
//! exit 0 on 2xx, 1 with the reason otherwise.

use std::time::Duration;

use anyhow::Context;
use clap::Args;

#[derive(Args)]
pub struct Healthcheck {
    /// The route to GET, e.g. http://127.0.0.1:8080/readyz.
    pub url: String,

    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(1..=tether_shared::bounds::MAX_DURATION_MS))]
    pub timeout_ms: u64,
}

pub async fn run(args: Healthcheck) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        // The check is about this container; a proxy from the environment
        // must not answer for it.
        .no_proxy()
        .timeout(Duration::from_millis(args.timeout_ms))
        .build()
        .context("cannot build the HTTP client")?;
    let response = client
        .get(&args.url)
        .send()
        .await
        .with_context(|| format!("{} did not answer", args.url))?;
    let status = response.status();
    anyhow::ensure!(status.is_success(), "{} answered {status}", args.url);
    Ok(())
}
