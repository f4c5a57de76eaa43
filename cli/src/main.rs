//! `kafkalab`: one binary, subcommands modelled on the Kafka CLI tools.

mod alloc;
mod broker_cmd;
mod run_cmd;

#[global_allocator]
static GLOBAL: alloc::ReserveLarge = alloc::ReserveLarge;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "kafkalab",
    version,
    about = "A lab for Kafka configuration experiments"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario: embedded broker (or --bootstrap-server), load, checks, report.
    Run(run_cmd::RunArgs),
    /// Run just the broker, for your own clients.
    Broker(broker_cmd::BrokerArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A scenario run prints its own progress and events; broker and client logs stay
    // at warnings (RUST_LOG overrides).
    let default_filter = match cli.command {
        Command::Run(_) => "warn,kafkalab_loadgen::client::consumer=error",
        Command::Broker(_) => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Broker(args) => broker_cmd::main(args),
        Command::Run(args) => return ExitCode::from(run_cmd::main(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kafkalab: {e}");
            ExitCode::FAILURE
        }
    }
}
