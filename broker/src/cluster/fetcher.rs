//! A follower's replica fetcher: one task per leader it follows, sending real Fetch
//! requests (v12, `replica_id` = this node's id, as Kafka's `ReplicaFetcherThread`) to
//! the leader's listener from each partition's log end offset, and appending the
//! returned batches at the leader's offsets. The leader learns the follower's progress
//! from the fetch offsets (ISR, high watermark); the follower learns the high
//! watermark from the responses.
//!
//! A partition that just started following (a new leader epoch, or a restart) is not
//! fetched until its log matches the leader's: the fetcher sends OffsetForLeaderEpoch
//! (v4, `replica_id` = this node) with the partition's latest cached epoch and
//! truncates where the leader says that epoch ended, asking again while the leader
//! names an epoch this replica does not have ([`crate::replication::truncation`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use kafkalab_sim::net::{self, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::controller::Controller;
use super::replica::Role;
use crate::broker::Broker;
use crate::config::BrokerKey;
use crate::faults::Node;
use crate::partition::Partition;
use crate::protocol::errors;
use crate::record_batch;
use crate::replication::truncation::{self, Truncation};
use crate::replication::BrokerId as NodeId;

const VERSION: i16 = 12;
const EPOCH_VERSION: i16 = 4;
/// How long an OffsetForLeaderEpoch answer may take.
const EPOCH_TIMEOUT: Duration = Duration::from_secs(10);
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
    let mut conn: Option<Stream> = None;
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
            None => match net::connect(&format!("{host}:{port}")).await {
                Ok(s) => s,
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
        let (truncating, parts): (Vec<_>, Vec<_>) = parts
            .into_iter()
            .partition(|p| p.replica.lock().needs_truncation());
        let asks = questions(&broker, &truncating);
        let mut stream = stream;
        if !asks.is_empty() {
            faults.pass(me, them).await;
            correlation = correlation.wrapping_add(1);
            let req = epoch_request(&broker, &asks);
            let sent = round_trip::<_, OffsetForLeaderEpochResponse>(
                &mut stream,
                ApiKey::OffsetForLeaderEpoch,
                EPOCH_VERSION,
                &req,
                correlation,
                broker.node_id(),
                EPOCH_TIMEOUT,
            )
            .await;
            match sent {
                Ok(resp) => {
                    faults.pass(them, me).await;
                    let progress = apply_epochs(&broker, leader, &asks, resp);
                    if parts.is_empty() {
                        conn = Some(stream);
                        if !progress {
                            tokio::time::sleep(RETRY).await;
                        }
                        continue;
                    }
                    // The partitions already in step are fetched on the same connection.
                }
                Err(e) => {
                    tracing::debug!(
                        node = broker.node_id(),
                        leader,
                        "OffsetForLeaderEpoch failed: {e}"
                    );
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            }
        } else if parts.is_empty() {
            // Only partitions that just truncated to their high watermark (they fetch
            // next round), or whose truncation failed (retried after a pause).
            conn = Some(stream);
            if truncating
                .iter()
                .any(|p| p.replica.lock().needs_truncation())
            {
                tokio::time::sleep(IDLE).await;
            }
            continue;
        }
        faults.pass(me, them).await;
        correlation = correlation.wrapping_add(1);
        let req = request(&broker, &parts);
        let wait = Duration::from_millis(
            broker.config.int(BrokerKey::ReplicaFetchWaitMaxMs).max(0) as u64,
        );
        let limit = wait + Duration::from_secs(10);
        let sent = round_trip::<_, FetchResponse>(
            &mut stream,
            ApiKey::Fetch,
            VERSION,
            &req,
            correlation,
            broker.node_id(),
            limit,
        )
        .await;
        match sent {
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
    let max_bytes = broker.config.int(BrokerKey::ReplicaFetchMaxBytes).max(1) as i32;
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
        .with_max_wait_ms(broker.config.int(BrokerKey::ReplicaFetchWaitMaxMs) as i32)
        .with_min_bytes(1)
        .with_max_bytes(10 * 1024 * 1024)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics)
}

/// One request to the leader and its response, within `limit`.
async fn round_trip<Req, Resp>(
    stream: &mut Stream,
    api: ApiKey,
    version: i16,
    req: &Req,
    correlation: i32,
    me: NodeId,
    limit: Duration,
) -> Result<Resp, FetchError>
where
    Req: Encodable + HeaderVersion,
    Resp: Decodable + HeaderVersion,
{
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation)
        .with_client_id(Some(StrBytes::from_string(format!("replica-fetcher-{me}"))));
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header
        .encode(&mut buf, Req::header_version(version))
        .map_err(|e| FetchError::Protocol(e.to_string()))?;
    req.encode(&mut buf, version)
        .map_err(|e| FetchError::Protocol(e.to_string()))?;
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    stream.write_all(&buf).await?;
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
    let rh = ResponseHeader::decode(&mut body, Resp::header_version(version))
        .map_err(|e| FetchError::Protocol(e.to_string()))?;
    if rh.correlation_id != correlation {
        return Err(FetchError::Protocol(format!(
            "correlation id {} for request {correlation}",
            rh.correlation_id
        )));
    }
    let resp = Resp::decode(&mut body, version).map_err(|e| FetchError::Protocol(e.to_string()))?;
    if body.has_remaining() {
        tracing::debug!(
            "{} trailing bytes after a {api:?} response",
            body.remaining()
        );
    }
    Ok(resp)
}

/// A partition waiting to match its log to the leader's: the leader epoch it follows
/// under and the epoch it asks about.
struct Ask {
    partition: Arc<Partition>,
    current_epoch: i32,
    asked: i32,
}

/// The OffsetForLeaderEpoch questions for `truncating` partitions. Those without any
/// cached epoch have nothing to ask: they truncate to their high watermark at once.
fn questions(broker: &Broker, truncating: &[Arc<Partition>]) -> Vec<Ask> {
    let mut asks = Vec::new();
    for p in truncating {
        let current_epoch = p.replica.lock().leader_epoch();
        match truncation::epoch_to_ask(&p.epochs()) {
            Some(asked) => asks.push(Ask {
                partition: p.clone(),
                current_epoch,
                asked,
            }),
            None => {
                let (_, end) = p.offsets();
                let t = truncation::fallback(end, p.high_watermark());
                truncate(broker, p, current_epoch, t, "no leader epoch cached");
            }
        }
    }
    asks
}

fn epoch_request(broker: &Broker, asks: &[Ask]) -> OffsetForLeaderEpochRequest {
    let mut topics: Vec<OffsetForLeaderTopic> = Vec::new();
    for a in asks {
        let p = &a.partition;
        let op = OffsetForLeaderPartition::default()
            .with_partition(p.index)
            .with_current_leader_epoch(a.current_epoch)
            .with_leader_epoch(a.asked);
        match topics.iter_mut().find(|t| t.topic.0.as_str() == &*p.topic) {
            Some(t) => t.partitions.push(op),
            None => topics.push(
                OffsetForLeaderTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(p.topic.to_string())))
                    .with_partitions(vec![op]),
            ),
        }
    }
    OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(broker.node_id()))
        .with_topics(topics)
}

/// Truncates where the leader's answers say; returns whether any partition moved on.
fn apply_epochs(
    broker: &Broker,
    leader: NodeId,
    asks: &[Ask],
    resp: OffsetForLeaderEpochResponse,
) -> bool {
    let mut progress = false;
    for t in resp.topics {
        for pd in t.partitions {
            let Some(a) = asks.iter().find(|a| {
                &*a.partition.topic == t.topic.0.as_str() && a.partition.index == pd.partition
            }) else {
                continue;
            };
            let p = &a.partition;
            // The role may have changed while the request was in flight.
            let still = matches!(p.replica.lock().role,
                Role::Follower { leader: l, epoch, .. } if l == leader && epoch == a.current_epoch);
            if !still {
                continue;
            }
            let (_, end) = p.offsets();
            let decision = match pd.error_code {
                0 => truncation::decide(
                    &p.epochs(),
                    end,
                    p.high_watermark(),
                    pd.leader_epoch,
                    pd.end_offset,
                ),
                errors::UNSUPPORTED_VERSION => truncation::fallback(end, p.high_watermark()),
                code => {
                    // Not (yet) the leader of this epoch, or an epoch it does not know
                    // yet: ask again shortly.
                    tracing::debug!(node = broker.node_id(), topic = %p.topic, partition = p.index, "OffsetForLeaderEpoch: leader answered {}", errors::name(code));
                    continue;
                }
            };
            tracing::debug!(node = broker.node_id(), topic = %p.topic, partition = p.index, asked = a.asked, leader_epoch = pd.leader_epoch, leader_end = pd.end_offset, ?decision, "leader epoch answer");
            truncate(broker, p, a.current_epoch, decision, "leader epoch");
            progress = true;
        }
    }
    progress
}

/// Applies a truncation decision; a finished one lets the partition fetch.
fn truncate(broker: &Broker, p: &Partition, current_epoch: i32, t: Truncation, why: &str) {
    let (_, end) = p.offsets();
    if t.offset < end {
        tracing::info!(node = broker.node_id(), topic = %p.topic, partition = p.index, from = end, to = t.offset, why, "follower truncates");
    }
    if let Err(e) = p.truncate_to(t.offset) {
        tracing::error!(node = broker.node_id(), topic = %p.topic, partition = p.index, "truncation failed: {e}");
        return;
    }
    if t.done {
        p.replica.lock().truncation_done(current_epoch);
    }
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
                        // Holds more than the leader: find out where the logs part.
                        p.replica.lock().truncate_again();
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
