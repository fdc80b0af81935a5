//! `tether backfill`: import what already exists in Stripe.

use std::{
    io::IsTerminal,
    time::{Duration, Instant},
};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tether_ops::backfill::{self, KindProgress};
use tether_shared::{
    config::{DatabaseConfig, StripeApiConfig},
    db,
};

#[derive(Args)]
pub struct Backfill {
    /// What to import: customers, payment-intents, subscriptions, products,
    /// prices, checkout-sessions, invoices, charges, refunds, disputes (every
    /// kind the worker syncs), or all.
    #[arg(default_value = "all", value_parser = kind_names())]
    pub kinds: Vec<String>,

    /// Start over instead of resuming where the last run stopped.
    #[arg(long)]
    pub restart: bool,

    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub accounts: super::stripe_api::AccountArgs,

    #[command(flatten)]
    pub db: DatabaseConfig,

    #[command(flatten)]
    pub stripe: StripeApiConfig,
}

fn kind_names() -> clap::builder::PossibleValuesParser {
    let mut names: Vec<&'static str> = backfill::kinds()
        .iter()
        .filter_map(|k| k.list())
        .map(|l| l.name)
        .collect();
    names.push("all");
    clap::builder::PossibleValuesParser::new(names)
}

pub async fn run(args: Backfill) -> anyhow::Result<()> {
    let api = super::stripe_api::client(&args.stripe)?;
    let pool = db::connect(&args.db).await?;
    let kinds: Vec<_> = if args.kinds.iter().any(|k| k == "all") {
        backfill::kinds()
    } else {
        backfill::kinds()
            .into_iter()
            .filter(|k| {
                k.list()
                    .is_some_and(|l| args.kinds.iter().any(|n| n == l.name))
            })
            .collect()
    };
    let mut reports = Vec::new();
    for api in args.accounts.chosen().clients(&api).await? {
        for &kind in kinds
            .iter()
            .filter(|k| backfill::lists_in(**k, api.account()))
        {
            let mut progress = Progress::new(kind.list().map_or("?", |l| l.name), api.account());
            let report =
                backfill::backfill(&pool, &api, kind, args.restart, |p| progress.update(p)).await?;
            progress.finish(&report);
            reports.push(report);
        }
    }
    if args.json {
        println!("{}", serde_json::to_string(&reports)?);
    } else {
        for r in &reports {
            let note = if r.pages == 0 {
                " (already complete; --restart starts over)"
            } else if r.resumed {
                " (resumed)"
            } else {
                ""
            };
            println!(
                "{}{:<16} {} objects, {} rows written, {} skipped, {:.0} objects/s{note}",
                in_account(r.account.as_deref()),
                r.kind,
                r.objects,
                r.written,
                r.refused,
                r.objects_per_sec
            );
        }
    }
    Ok(())
}

/// `acct_1 ` before a connected account's lines; nothing for the platform.
fn in_account(account: Option<&str>) -> String {
    account.map(|a| format!("{a} ")).unwrap_or_default()
}

/// A live line on a terminal; otherwise a plain line every few seconds.
struct Progress {
    bar: Option<ProgressBar>,
    kind: String,
    last_line: Instant,
}

impl Progress {
    fn new(kind: &'static str, account: Option<&str>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self {
            bar,
            kind: format!("{}{kind}", in_account(account)),
            last_line: Instant::now(),
        }
    }

    fn line(p: &KindProgress) -> String {
        format!(
            "{}{}: {} objects, {} written, {:.0}/s",
            in_account(p.account.as_deref()),
            p.kind,
            p.objects,
            p.written,
            p.objects_per_sec
        )
    }

    fn update(&mut self, p: &KindProgress) {
        match &self.bar {
            Some(bar) => bar.set_message(Self::line(p)),
            None if self.last_line.elapsed() >= Duration::from_secs(2) => {
                eprintln!("backfill {}", Self::line(p));
                self.last_line = Instant::now();
            }
            None => {}
        }
    }

    fn finish(self, report: &KindProgress) {
        match self.bar {
            Some(bar) => bar.finish_and_clear(),
            None => eprintln!("backfill {} done: {}", self.kind, Self::line(report)),
        }
    }
}
