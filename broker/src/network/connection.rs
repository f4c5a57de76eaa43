//! One client connection over any byte stream (TCP, or an in-memory pipe in tests).
//! Requests are handled one at a time in arrival order and responses written in the
//! same order, as Kafka guarantees per connection; clients may pipeline, and responses
//! are flushed once no complete request is waiting, so pipelined responses batch up.
//!
//! In a cluster with injected link faults ([`crate::faults`]), a client connection
//! waits out the clients → node link before handling each request and the node →
//! clients link before writing its response (a blocked link stalls it). Since requests
//! are handled one at a time, added latency also spaces out pipelined requests.
//! Replica fetchers' connections are left alone: the fetcher applies the links between
//! nodes itself.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};

use super::frame::{has_complete_frame, read_frame, FrameError};
use crate::broker::Broker;
use crate::faults::Node;
use crate::handlers::router::{self, RouteError};

const BUFFER: usize = 256 * 1024;

/// Serves one connection until the peer closes it or sends something malformed; an
/// error closes this connection only.
pub async fn serve<T>(broker: Arc<Broker>, io: T, peer: String)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    broker.metrics.connections.inc();
    broker.metrics.connections_total.inc();
    let (r, w) = tokio::io::split(io);
    let mut reader = BufReader::with_capacity(BUFFER, r);
    let mut writer = BufWriter::with_capacity(BUFFER, w);
    let max = broker.config.socket_request_max_bytes;
    let faults = broker.faults().cloned();
    let me = Node::Broker(broker.node_id());
    // Decided on the first request: whether this is a client (not a replica fetcher).
    let mut client: Option<bool> = None;
    loop {
        let frame = match read_frame(&mut reader, max).await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(FrameError::Io(e)) => {
                tracing::debug!(%peer, "connection error: {e}");
                break;
            }
            Err(e) => {
                reject(&broker, &peer, "malformed_frame", &e.to_string());
                break;
            }
        };
        // A paused (frozen) node answers nothing until it thaws.
        if broker.is_paused() {
            broker.wait_unpaused().await;
        }
        let faulty = match &faults {
            Some(f) if *client.get_or_insert_with(|| !is_replica_fetcher(&frame)) => Some(f),
            _ => None,
        };
        if let Some(f) = faulty {
            f.pass(Node::Clients, me).await;
        }
        match router::handle(&broker, frame, &peer).await {
            Ok(Some(response)) => {
                if let Some(f) = faulty {
                    f.pass(me, Node::Clients).await;
                }
                if let Err(e) = writer.write_all(&response).await {
                    tracing::debug!(%peer, "write failed: {e}");
                    break;
                }
            }
            Ok(None) => {}
            Err(e) => {
                let reason = match e {
                    RouteError::UnsupportedVersion { .. } => "unsupported_version",
                    RouteError::UnknownApi(_) => "unknown_api",
                    _ => "malformed_request",
                };
                reject(&broker, &peer, reason, &e.to_string());
                break;
            }
        }
        if !has_complete_frame(reader.buffer()) {
            if let Err(e) = writer.flush().await {
                tracing::debug!(%peer, "flush failed: {e}");
                break;
            }
        }
    }
    let _ = writer.flush().await;
    broker.metrics.connections.dec();
}

/// Whether a request frame comes from a replica fetcher (by its client id, which
/// starts at byte 8 of every request header from v1 on).
fn is_replica_fetcher(frame: &[u8]) -> bool {
    let Some(len) = frame.get(8..10).map(|b| i16::from_be_bytes([b[0], b[1]])) else {
        return false;
    };
    let Ok(len) = usize::try_from(len) else {
        return false;
    };
    frame
        .get(10..10 + len)
        .is_some_and(|id| id.starts_with(b"replica-fetcher-"))
}

fn reject(broker: &Broker, peer: &str, reason: &str, detail: &str) {
    tracing::warn!(%peer, "closing connection: {detail}");
    broker
        .metrics
        .connection_errors
        .with_label_values(&[reason])
        .inc();
}
