//! The Kafka listener: accepts connections and serves each on its own task.

use std::sync::Arc;

use kafkalab_sim::net::Listener;
use tokio::sync::watch;

use super::connection;
use crate::broker::Broker;

/// Connections are owned by this task: aborting it (a crash) drops them all; a clean
/// shutdown stops accepting and lets open connections finish.
pub async fn accept_loop(
    broker: Arc<Broker>,
    mut listener: Listener,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let broker = broker.clone();
                    while connections.try_join_next().is_some() {}
                    connections.spawn(connection::serve(broker, stream, peer.to_string()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
    connections.detach_all();
}
