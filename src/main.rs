//! `tether`: keeps your PostgreSQL in step with Stripe.

mod commands;

use std::process::ExitCode;

use clap::Parser;

use crate::commands::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tether_shared::telemetry::init(cli.log.format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    match runtime.block_on(commands::run(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            // One line, with the cause chain: the INTERFACE's failure contract.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
