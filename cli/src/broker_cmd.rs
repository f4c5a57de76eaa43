//! `kafkalab broker`: a broker serving the Kafka protocol until SIGINT/SIGTERM: a single
//! one, or with `controller.quorum.voters` one process of a cluster of separate
//! processes (broker + controller voter).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use kafkalab_broker::clock::SystemClock;
use kafkalab_broker::ready::ReadyLine;
use kafkalab_broker::storage::Storage;
use kafkalab_broker::{BrokerConfig, BrokerKey};

#[derive(Args)]
pub struct BrokerArgs {
    /// A Kafka server.properties file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Set or override one setting, e.g. --override log.dirs=/tmp/k (repeatable).
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// This node's id (shorthand for --override node.id=N).
    #[arg(long)]
    node_id: Option<i32>,
    /// The controller quorum, id@host:port,... (shorthand for --override
    /// controller.quorum.voters=...): this process is a broker and one of the voters.
    #[arg(long, value_name = "ID@HOST:PORT,...")]
    controller_quorum_voters: Option<String>,
}

/// The file-system log under `log.dirs`, as Kafka lays it out.
pub fn open_storage(config: &BrokerConfig) -> Arc<dyn Storage> {
    Arc::new(kafkalab_broker::storage::file::FileStorage::new(
        config.log_dir.clone(),
    ))
}

/// Loads the config, then runs the broker on a runtime sized by
/// `kafkalab.worker.threads`.
pub fn main(args: BrokerArgs) -> Result<(), String> {
    let mut overrides = args.overrides;
    // The flags are shorthands: they win over the file and come before --override.
    if let Some(id) = args.node_id {
        overrides.insert(0, format!("node.id={id}"));
    }
    if let Some(v) = args.controller_quorum_voters {
        overrides.insert(0, format!("controller.quorum.voters={v}"));
    }
    let (config, warnings) =
        BrokerConfig::load(args.config.as_deref(), &overrides).map_err(|e| e.to_string())?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    let threads = config.int(BrokerKey::KafkalabWorkerThreads).max(1) as usize;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?
        .block_on(run(config))
}

async fn run(config: BrokerConfig) -> Result<(), String> {
    if !config
        .get(BrokerKey::ControllerQuorumVoters)
        .trim()
        .is_empty()
    {
        return run_combined(config).await;
    }
    let storage = open_storage(&config);
    let log_dir = config.log_dir.clone();
    let node = config.node_id;
    let running = kafkalab_broker::start(config, storage, Arc::new(SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    let ready = ReadyLine {
        node,
        kafka: running.kafka_addr.to_string(),
        metrics: running.metrics_addr.map(|a| a.to_string()),
        log_dirs: log_dir.display().to_string(),
        controller: None,
    };
    println!("{ready}");
    wait_for_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

/// One process of a cluster of separate processes: broker and controller voter.
async fn run_combined(config: BrokerConfig) -> Result<(), String> {
    let storage = open_storage(&config);
    let log_dir = config.log_dir.clone();
    let node = config.node_id;
    // Tells this start of the process from earlier ones (the CLI reads the wall clock).
    let incarnation = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let combined = kafkalab_broker::quorum::combined::start(
        config,
        storage,
        Arc::new(SystemClock),
        incarnation,
    )
    .await
    .map_err(|e| e.to_string())?;
    let ready = ReadyLine {
        node,
        kafka: combined.running.kafka_addr.to_string(),
        metrics: combined.metrics_addr.map(|a| a.to_string()),
        log_dirs: log_dir.display().to_string(),
        controller: Some(combined.controller_addr.to_string()),
    };
    println!("{ready}");
    wait_for_signal().await;
    tracing::info!("shutting down");
    combined.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
