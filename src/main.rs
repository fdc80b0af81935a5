//! `tether`: keeps your PostgreSQL in step with Stripe.

mod commands;

use std::process::ExitCode;

use clap::Parser;

use crate::commands::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = tether_shared::telemetry::start(cli.log.format, cli.command.service_name());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    let code = match runtime.block_on(commands::run(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            // One line, with the cause chain: the INTERFACE's failure contract.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    };
    // The command returned, so the shutdown token fired (or the work was
    // done) and every span has ended: send the last ones.
    drop(runtime);
    telemetry.shutdown();
    code
}
