//! `kafkalab`: one binary, subcommands modelled on the Kafka CLI tools.

mod alloc;
mod broker_cmd;
mod lessons_cmd;
mod log_hold;
mod report_cmd;
mod run_cmd;
mod tools;

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
    /// The lessons: list the curriculum, or run one lesson by name.
    Lessons(lessons_cmd::LessonsArgs),
    /// Run just the broker, for your own clients.
    Broker(broker_cmd::BrokerArgs),
    /// List, describe, create, delete or alter topics (kafka-topics.sh).
    Topics(tools::topics::TopicsArgs),
    /// Send stdin lines as records (kafka-console-producer.sh).
    Produce(tools::produce::ProduceArgs),
    /// Print records (kafka-console-consumer.sh).
    Consume(tools::consume::ConsumeArgs),
    /// List, describe or delete consumer groups (kafka-consumer-groups.sh).
    Groups(tools::groups::GroupsArgs),
    /// Producer and consumer throughput tests (kafka-producer-perf-test.sh,
    /// kafka-consumer-perf-test.sh).
    Perf(tools::perf::PerfArgs),
    /// Work with finished runs: compare two side by side, redraw one's charts.
    Report(report_cmd::ReportArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A scenario run prints its own progress and events; broker and client logs stay
    // at warnings (RUST_LOG overrides).
    let default_filter = match cli.command {
        Command::Run(_) | Command::Lessons(_) => "warn,kafkalab_loadgen::client::consumer=error",
        Command::Broker(_) => "info",
        // The Kafka tools print their own output; client logs only for warnings.
        Command::Topics(_)
        | Command::Produce(_)
        | Command::Consume(_)
        | Command::Groups(_)
        | Command::Perf(_)
        | Command::Report(_) => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(log_hold::Writer)
        .init();
    let result = match cli.command {
        Command::Broker(args) => broker_cmd::main(args),
        Command::Run(args) => return ExitCode::from(run_cmd::main(args)),
        Command::Lessons(args) => return ExitCode::from(lessons_cmd::main(args)),
        Command::Topics(args) => return ExitCode::from(tools::topics::main(args)),
        Command::Produce(args) => return ExitCode::from(tools::produce::main(args)),
        Command::Consume(args) => return ExitCode::from(tools::consume::main(args)),
        Command::Groups(args) => return ExitCode::from(tools::groups::main(args)),
        Command::Perf(args) => return ExitCode::from(tools::perf::main(args)),
        Command::Report(args) => return ExitCode::from(report_cmd::main(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kafkalab: {e}");
            ExitCode::FAILURE
        }
    }
}
