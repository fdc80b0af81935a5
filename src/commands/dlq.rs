//! `tether dlq`: find, inspect, replay and discard dead letters.

use std::time::Duration;

use clap::{Args, Subcommand};
use tether_ops::dlq::{self, DeadLetter, Filter};
use tether_shared::{
    bounds::{parse_id, parse_limit},
    config::DatabaseConfig,
    db,
    duration::parse_duration,
};

#[derive(Args)]
pub struct Dlq {
    #[command(subcommand)]
    pub action: Action,

    #[command(flatten)]
    pub db: DatabaseConfig,
}

#[derive(Subcommand)]
pub enum Action {
    /// Dead letters, newest first.
    List {
        /// Only events of this type.
        #[arg(long = "type", value_name = "TYPE", value_parser = parse_id)]
        event_type: Option<String>,
        /// Only events of this connected account (acct_...).
        #[arg(long, value_parser = tether_shared::bounds::parse_account)]
        account: Option<String>,
        /// Only those that died within this long (90s, 30m, 24h, 7d).
        #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
        since: Option<Duration>,
        /// How many, at most (1 to 10000).
        #[arg(long, default_value = "50", value_parser = parse_limit)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// One dead letter: its event, every attempt with its error, the payload.
    Show {
        /// The event id (or the job id).
        #[arg(value_parser = parse_id)]
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Put dead letters back on the queue, attempts reset.
    Replay(Selection),
    /// Remove dead letters for good (logged `discarded` in webhook_logs).
    Discard(Selection),
}

#[derive(Args)]
#[group(id = "which", required = true, args = ["ids", "all"])]
pub struct Selection {
    /// Event ids (or job ids) of the dead letters.
    #[arg(value_parser = parse_id)]
    ids: Vec<String>,
    /// Every dead letter (narrowed by --type and --since).
    #[arg(long)]
    all: bool,
    #[arg(long = "type", value_name = "TYPE", requires = "all", value_parser = parse_id)]
    event_type: Option<String>,
    #[arg(long, value_parser = parse_duration, value_name = "DURATION", requires = "all")]
    since: Option<Duration>,
    /// Only events of this connected account (acct_...).
    #[arg(long, requires = "all", value_parser = tether_shared::bounds::parse_account)]
    account: Option<String>,
    /// Say how many, change nothing.
    #[arg(long)]
    dry_run: bool,
    #[arg(long)]
    json: bool,
}

impl Selection {
    fn filter(&self) -> Filter {
        Filter {
            ids: self.ids.clone(),
            event_type: self.event_type.clone(),
            account: self.account.clone(),
            since: self.since,
            limit: None,
            ..Filter::default()
        }
    }
}

pub async fn run(args: Dlq) -> anyhow::Result<()> {
    let pool = db::connect(&args.db).await?;
    match args.action {
        Action::List {
            event_type,
            account,
            since,
            limit,
            json,
        } => {
            let filter = Filter {
                event_type,
                account,
                since,
                limit: Some(limit),
                ..Filter::default()
            };
            let letters = dlq::list(&pool, &filter).await?;
            if json {
                println!("{}", serde_json::to_string(&letters)?);
            } else {
                print_table(&letters);
            }
        }
        Action::Show { id, json } => {
            let detail = dlq::show(&pool, &id).await?;
            if json {
                println!("{}", serde_json::to_string(&detail)?);
            } else {
                print_detail(&detail);
            }
        }
        Action::Replay(selection) => {
            let replayed = dlq::replay(&pool, &selection.filter(), selection.dry_run).await?;
            if selection.json {
                println!("{}", serde_json::to_string(&replayed)?);
            } else {
                report("replayed", "replay", replayed.replayed, &selection);
            }
        }
        Action::Discard(selection) => {
            let discarded = dlq::discard(&pool, &selection.filter(), selection.dry_run).await?;
            if selection.json {
                println!("{}", serde_json::to_string(&discarded)?);
            } else {
                report("discarded", "discard", discarded.discarded, &selection);
            }
        }
    }
    Ok(())
}

fn report(done: &str, would: &str, n: usize, selection: &Selection) {
    if selection.dry_run {
        println!("would {would} {n} dead letter(s); nothing changed (--dry-run)");
    } else {
        println!("{done} {n} dead letter(s)");
    }
}

fn print_table(letters: &[DeadLetter]) {
    if letters.is_empty() {
        println!("no dead letters");
        return;
    }
    println!(
        "{:<32}  {:<34}  {:<24}  {:<21}  {:>8}  {:<19}  LAST ERROR",
        "EVENT", "TYPE", "OBJECT", "ACCOUNT", "ATTEMPTS", "DIED"
    );
    for l in letters {
        println!(
            "{:<32}  {:<34}  {:<24}  {:<21}  {:>8}  {:<19}  {}",
            l.id,
            l.event_type.as_deref().unwrap_or("-"),
            l.object_id.as_deref().unwrap_or("-"),
            l.account.as_deref().unwrap_or("-"),
            l.attempts,
            l.died_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
            one_line(l.last_error.as_deref().unwrap_or("")),
        );
    }
}

fn print_detail(detail: &dlq::Detail) {
    let l = &detail.letter;
    println!("event     {}", l.id);
    println!("type      {}", l.event_type.as_deref().unwrap_or("-"));
    println!("object    {}", l.object_id.as_deref().unwrap_or("-"));
    if let Some(account) = &l.account {
        println!("account   {account}");
    }
    println!("job       {} ({} attempts)", l.job_id, l.attempts);
    println!("last error {}", l.last_error.as_deref().unwrap_or("-"));
    println!("history:");
    for a in &detail.history {
        println!(
            "  {}  attempt {:<3} {:<9} {}",
            a.at.format("%Y-%m-%d %H:%M:%S%.3f"),
            a.attempt
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            a.status,
            a.error.as_deref().map(one_line).unwrap_or_default()
        );
    }
    if let Some(payload) = &detail.payload {
        println!(
            "payload:\n{}",
            serde_json::to_string_pretty(payload).unwrap_or_default()
        );
    }
    if let Some(body) = &detail.body {
        println!("body as stored (PostgreSQL's jsonb cannot read it):\n{body}");
    }
}

fn one_line(text: &str) -> String {
    text.replace('\n', " ")
}
