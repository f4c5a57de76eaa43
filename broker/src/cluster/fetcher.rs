//! A follower's replica fetcher: one task per leader it follows, sending real Fetch
//! requests (v12, `replica_id` = this node's id, as Kafka's `ReplicaFetcherThread`) to
//! the leader's listener from each partition's log end offset, and appending the
//! returned batches at the leader's offsets. The leader learns the follower's progress
//! from the fetch offsets (ISR, high watermark); the follower learns the high
//! watermark from the responses.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::controller::Controller;
use super::replica::Role;
use crate::broker::Broker;
use crate::faults::Node;
use crate::partition::Partition;
use crate::protocol::errors;
use crate::record_batch;
use crate::replication::BrokerId as NodeId;

const VERSION: i16 = 12;
const IDLE: Duration = Duration::from_millis(50);
const RETRY: Duration = Duration::from_millis(100);
/// Largest response accepted from a leader.
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("leader did not answer within {0:?}")]
    Timeout(Duration),
}

/// Fetches from `leader` for as long as the task lives (the replica manager aborts it
/// when this node no longer follows that leader).
pub async fn run(broker: Arc<Broker>, controller: Arc<Controller>, leader: NodeId) {
    let mut conn: Option<TcpStream> = None;
    let mut correlation = 0i32;
    loop {
        if broker.is_paused() {
            broker.wait_unpaused().await;
        }
        let parts = following(&broker, leader);
        if parts.is_empty() {
            tokio::time::sleep(IDLE).await;
            continue;
        }
        let Some((host, port)) = controller.address(leader) else {
            conn = None;
            tokio::time::sleep(RETRY).await;
            continue;
        };
        let stream = match conn.take() {
            Some(s) => s,
            None => match TcpStream::connect((host.as_str(), port)).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    s
                }
                Err(e) => {
                    tracing::debug!(
                        node = broker.node_id(),
                        leader,
                        "cannot reach the leader: {e}"
                    );
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            },
        };
        // Injected link faults: the request crosses follower → leader, the answer
        // leader → follower; a blocked link stalls the fetch (the connection stays).
        let faults = controller.faults.clone();
        let (me, them) = (Node::Broker(broker.node_id()), Node::Broker(leader));
        faults.pass(me, them).await;
        correlation = correlation.wrapping_add(1);
        let req = request(&broker, &parts);
        let wait =
            Duration::from_millis(broker.config.int("replica.fetch.wait.max.ms").max(0) as u64);
        let mut stream = stream;
        match round_trip(&mut stream, &req, correlation, broker.node_id(), wait).await {
            Ok(resp) => {
                conn = Some(stream);
                faults.pass(them, me).await;
                let (progress, batches) = apply(&broker, leader, &parts, resp);
                // A slowed disk (injected fault): each appended batch takes longer
                // (re-read per batch, so a fault that ends stops costing at once).
                for _ in 0..batches {
                    let slow = broker.disk_latency();
                    if slow.is_zero() {
                        break;
                    }
                    tokio::time::sleep(slow).await;
                }
                if !progress {
                    tokio::time::sleep(RETRY).await;
                }
            }
            Err(e) => {
                tracing::debug!(node = broker.node_id(), leader, "replica fetch failed: {e}");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// The partitions this node follows `leader` on.
fn following(broker: &Broker, leader: NodeId) -> Vec<Arc<Partition>> {
    let mut out = Vec::new();
    for t in broker.topics.all() {
        for p in t.partitions() {
            let follows =
                matches!(p.replica.lock().role, Role::Follower { leader: l, .. } if l == leader);
            if follows {
                out.push(p);
            }
        }
    }
    out
}

fn request(broker: &Broker, parts: &[Arc<Partition>]) -> FetchRequest {
    let max_bytes = broker.config.int("replica.fetch.max.bytes").max(1) as i32;
    let mut topics: Vec<FetchTopic> = Vec::new();
    for p in parts {
        let (start, end) = p.offsets();
        let epoch = p.replica.lock().leader_epoch();
        let fp = FetchPartition::default()
            .with_partition(p.index)
            .with_current_leader_epoch(epoch)
            .with_fetch_offset(end)
            .with_log_start_offset(start)
            .with_partition_max_bytes(max_bytes)
            .with_last_fetched_epoch(-1);
        match topics.iter_mut().find(|t| t.topic.0.as_str() == &*p.topic) {
            Some(t) => t.partitions.push(fp),
            None => topics.push(
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(p.topic.to_string())))
                    .with_partitions(vec![fp]),
            ),
        }
    }
    FetchRequest::default()
        .with_replica_id(BrokerId(broker.node_id()))
        .with_max_wait_ms(broker.config.int("replica.fetch.wait.max.ms") as i32)
        .with_min_bytes(1)
        .with_max_bytes(10 * 1024 * 1024)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics)
}

async fn round_trip(
    stream: &mut TcpStream,
    req: &FetchRequest,
    correlation: i32,
    me: NodeId,
    wait: Duration,
) -> Result<FetchResponse, FetchError> {
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Fetch as i16)
        .with_request_api_version(VERSION)
        .with_correlation_id(correlation)
        .with_client_id(Some(StrBytes::from_string(format!("replica-fetcher-{me}"))));
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header
        .encode(&mut buf, FetchRequest::header_version(VERSION))
        .map_err(|e| FetchError::Protocol(e.to_string()))?;
    req.encode(&mut buf, VERSION)
        .map_err(|e| FetchError::Protocol(e.to_string()))?;
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    stream.write_all(&buf).await?;
    let limit = wait + Duration::from_secs(10);
    let read = async {
        let size = stream.read_i32().await?;
        let size = usize::try_from(size)
            .ok()
            .filter(|&s| s <= MAX_RESPONSE)
            .ok_or_else(|| FetchError::Protocol(format!("bad response size {size}")))?;
        let mut body = vec![0u8; size];
        stream.read_exact(&mut body).await?;
        Ok::<Bytes, FetchError>(Bytes::from(body))
    };
    let mut body = tokio::time::timeout(limit, read)
        .await
        .map_err(|_| FetchError::Timeout(limit))??;
    let rh = ResponseHeader::decode(&mut body, FetchResponse::header_version(VERSION))
        .map_err(|e| FetchError::Protocol(e.to_string()))?;
    if rh.correlation_id != correlation {
        return Err(FetchError::Protocol(format!(
            "correlation id {} for request {correlation}",
            rh.correlation_id
        )));
    }
    let resp = FetchResponse::decode(&mut body, VERSION)
        .map_err(|e| FetchError::Protocol(e.to_string()))?;
    if body.has_remaining() {
        tracing::debug!("{} trailing bytes after a fetch response", body.remaining());
    }
    Ok(resp)
}

/// Appends what the leader returned. Returns whether anything made progress (if not,
/// the caller backs off instead of spinning on errors) and how many batches it appended.
fn apply(
    broker: &Broker,
    leader: NodeId,
    parts: &[Arc<Partition>],
    resp: FetchResponse,
) -> (bool, u32) {
    let now = broker.clock.now_ms();
    let mut progress = false;
    let mut batches = 0u32;
    for t in resp.responses {
        for pd in t.partitions {
            let Some(p) = parts
                .iter()
                .find(|p| &*p.topic == t.topic.0.as_str() && p.index == pd.partition_index)
            else {
                continue;
            };
            // The role may have changed while the fetch was in flight.
            let still =
                matches!(p.replica.lock().role, Role::Follower { leader: l, .. } if l == leader);
            if !still {
                continue;
            }
            match pd.error_code {
                0 => {}
                errors::OFFSET_OUT_OF_RANGE => {
                    let (_, end) = p.offsets();
                    if end > pd.high_watermark && pd.high_watermark >= 0 {
                        // Holds more than the leader: drop the difference.
                        let _ = p.truncate_to(pd.high_watermark.max(0));
                        progress = true;
                    } else {
                        tracing::warn!(node = broker.node_id(), topic = %p.topic, partition = p.index, end, leader_start = pd.log_start_offset, "follower is below the leader's log start");
                    }
                    continue;
                }
                code => {
                    tracing::debug!(node = broker.node_id(), topic = %p.topic, partition = p.index, "leader answered {}", errors::name(code));
                    continue;
                }
            }
            progress = true;
            if let Some(records) = &pd.records {
                for item in record_batch::batches(records) {
                    match item {
                        Ok((h, bytes)) => match p.append_replica(bytes, &h, now) {
                            Ok(_) => batches += 1,
                            Err(e) => {
                                tracing::error!(node = broker.node_id(), topic = %p.topic, partition = p.index, "replica append failed: {e}");
                                break;
                            }
                        },
                        Err(e) => {
                            // A truncated last batch at the size limit is normal.
                            tracing::debug!(node = broker.node_id(), topic = %p.topic, partition = p.index, "stopping at a partial batch: {e}");
                            break;
                        }
                    }
                }
            }
            p.replica.lock().on_leader_high_watermark(pd.high_watermark);
        }
    }
    (progress, batches)
}
