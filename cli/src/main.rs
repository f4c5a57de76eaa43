//! `kafkalab`: one binary, subcommands modelled on the Kafka CLI tools.

mod alloc;
mod broker_cmd;

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
    /// Run just the broker, for your own clients.
    Broker(broker_cmd::BrokerArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Broker(args) => broker_cmd::main(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kafkalab: {e}");
            ExitCode::FAILURE
        }
    }
}
