//! `kafkalab broker`: a single broker serving the Kafka protocol until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use kafkalab_broker::clock::SystemClock;
use kafkalab_broker::storage::Storage;
use kafkalab_broker::BrokerConfig;

#[derive(Args)]
pub struct BrokerArgs {
    /// A Kafka server.properties file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Set or override one setting, e.g. --override log.dirs=/tmp/k (repeatable).
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
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
    let (config, warnings) =
        BrokerConfig::load(args.config.as_deref(), &args.overrides).map_err(|e| e.to_string())?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    let threads = config.int("kafkalab.worker.threads").max(1) as usize;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?
        .block_on(run(config))
}

async fn run(config: BrokerConfig) -> Result<(), String> {
    let storage = open_storage(&config);
    let log_dir = config.log_dir.clone();
    let node = config.node_id;
    let running = kafkalab_broker::start(config, storage, Arc::new(SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    let metrics = running
        .metrics_addr
        .map_or_else(|| "off".to_string(), |a| format!("http://{a}/metrics"));
    println!(
        "kafkalab broker {node} ready: kafka={} metrics={metrics} log.dirs={}",
        running.kafka_addr,
        log_dir.display()
    );
    wait_for_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
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
