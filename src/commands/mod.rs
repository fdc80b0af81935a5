//! The subcommands of the one binary.

mod backfill;
mod dlq;
mod follow;
mod healthcheck;
mod link_user;
mod migrate;
mod prune;
mod reconcile;
mod rejected;
mod replay;
mod send_test_event;
mod serve;
mod setup;
mod status;
mod stripe_api;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tether_shared::config::{
    AppTables, DatabaseConfig, IngestConfig, LogConfig, StripeApiConfig, WorkerConfig,
};

#[derive(Parser)]
#[command(
    name = "tether",
    version,
    about = "Keeps your PostgreSQL in step with Stripe."
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogConfig,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Apply all migrations (idempotent; safe from many processes at once).
    Migrate {
        #[command(flatten)]
        db: DatabaseConfig,
        #[command(flatten)]
        apps: AppTables,
    },
    /// Run the webhook receiver.
    Ingest {
        #[command(flatten)]
        db: DatabaseConfig,
        #[command(flatten)]
        ingest: IngestConfig,
        /// STRIPE_SECRET_KEY's prefix sets the mode when TETHER_MODE does not.
        #[command(flatten)]
        stripe: StripeApiConfig,
    },
    /// Run one worker process.
    Worker {
        #[command(flatten)]
        db: DatabaseConfig,
        #[command(flatten)]
        worker: WorkerConfig,
        /// With STRIPE_SECRET_KEY, the worker also turns Supabase sign-ups into customers.
        #[command(flatten)]
        stripe: StripeApiConfig,
        #[command(flatten)]
        apps: AppTables,
    },
    /// Migrate, then run ingest and a worker in one process (laptop, demo).
    Up {
        #[command(flatten)]
        db: DatabaseConfig,
        #[command(flatten)]
        // Boxed: the biggest of the commands' arguments (clippy's variant size).
        ingest: Box<IngestConfig>,
        #[command(flatten)]
        worker: WorkerConfig,
        #[command(flatten)]
        stripe: StripeApiConfig,
        #[command(flatten)]
        apps: AppTables,
    },
    /// Sign a sample event and post it, like `stripe trigger`.
    SendTestEvent(send_test_event::SendTestEvent),
    /// Queue depth, retries, dead letters, live workers and throughput.
    Status(status::StatusArgs),
    /// Dead letters: list, show, replay, discard.
    Dlq(dlq::Dlq),
    /// Re-apply already processed events of a type (after an upgrade or a fix).
    Replay(replay::Replay),
    /// Remove processed events and logs older than the retention window.
    Prune(prune::Prune),
    /// Import the objects that already exist in Stripe (every kind the worker syncs).
    Backfill(backfill::Backfill),
    /// Store events from Stripe's event log that never arrived as webhooks.
    Reconcile(reconcile::Reconcile),
    /// Find or create the Stripe webhook endpoint and store its signing secret.
    Setup(setup::Setup),
    /// Keep reading Stripe's event log and store what is new (no public URL needed).
    Follow(follow::Follow),
    /// Find or create the Stripe customer of a Supabase user and link them.
    LinkUser(link_user::LinkUser),
    /// Verified deliveries that could not be stored, newest first.
    Rejected(rejected::Rejected),
    /// Load generator and end-to-end measurement against a running ingest.
    Bench(Box<tether_bench::Bench>),
    /// GET a URL; exit 0 on 2xx (a container health check without curl).
    Healthcheck(healthcheck::Healthcheck),
}

impl Command {
    /// Who the spans of this process come from (unless OTEL_SERVICE_NAME
    /// says): the names of the Prometheus scrape jobs, for the same processes.
    pub fn service_name(&self) -> &'static str {
        match self {
            Command::Ingest { .. } => "tether-ingest",
            Command::Worker { .. } => "tether-worker",
            _ => "tether",
        }
    }
}

pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        // The one command whose exit status is its answer (`--check`).
        Command::Status(args) => return status::run(args).await,
        Command::Dlq(args) => dlq::run(args).await,
        Command::Replay(args) => replay::run(args).await,
        Command::Prune(args) => prune::run(args).await,
        Command::Backfill(args) => backfill::run(args).await,
        Command::LinkUser(args) => link_user::run(args).await,
        Command::Reconcile(args) => reconcile::run(args).await,
        Command::Follow(args) => follow::run(args).await,
        Command::Setup(args) => setup::run(args).await,
        Command::Migrate { db, apps } => migrate::run(&db, &apps).await,
        Command::Ingest { db, ingest, stripe } => serve::ingest(&db, &ingest, &stripe).await,
        Command::Worker {
            db,
            worker,
            stripe,
            apps,
        } => serve::worker(&db, &worker, &stripe, &apps).await,
        Command::Up {
            db,
            ingest,
            worker,
            stripe,
            apps,
        } => serve::up(&db, *ingest, &worker, &stripe, &apps).await,
        Command::SendTestEvent(args) => send_test_event::run(args).await,
        Command::Rejected(args) => rejected::run(args).await,
        Command::Bench(args) => tether_bench::run(*args).await,
        Command::Healthcheck(args) => healthcheck::run(args).await,
    }
    .map(|()| ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Clap checks at runtime that flags and fields agree; run that check
    /// for every subcommand here instead of in a user's terminal.
    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
