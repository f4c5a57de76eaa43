//! The fetcher: Fetch requests to partition leaders (one request per broker carrying all
//! of its assigned partitions), positions, and offset resets (`auto.offset.reset` via
//! ListOffsets). What a response's records become is [`super::decode`].
//!
//! Pre-fetching: each response is decoded on a background task, and a partition is
//! fetched again as soon as at most one undrained response is buffered for it, so one
//! request per broker stays in flight while the application processes what it got.
//! Responses that arrive for a partition whose position was reset (seek, reassignment)
//! in the meantime are recognised by a per-partition epoch and dropped.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::AbortedTransaction;
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::decode::decode_records;
use super::metrics::ConsumerMetrics;
use super::ConsumerRecord;
use crate::client::cluster::Cluster;
use crate::client::connection::Connection;
use crate::client::error::ClientError;

mod positions;
mod reset;

use self::positions::PartState;
pub use self::reset::{OffsetReset, ResetPolicy};

/// An interned topic name and a partition.
pub(crate) type Tp = (Arc<str>, i32);

/// Undrained responses a partition may have buffered before it is fetched again: one
/// being drained plus one fetched ahead.
const PREFETCH_DEPTH: usize = 2;

/// Kafka error codes the fetcher acts on.
mod code {
    pub const OFFSET_OUT_OF_RANGE: i16 = 1;
    pub const CORRUPT_MESSAGE: i16 = 2;
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const LEADER_NOT_AVAILABLE: i16 = 5;
    pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
    pub const REPLICA_NOT_AVAILABLE: i16 = 9;
    pub const KAFKA_STORAGE_ERROR: i16 = 56;
    pub const FENCED_LEADER_EPOCH: i16 = 74;
    pub const UNKNOWN_LEADER_EPOCH: i16 = 75;
    pub const OFFSET_NOT_AVAILABLE: i16 = 78;
    pub const UNKNOWN_TOPIC_ID: i16 = 100;
}

#[derive(Debug, Clone)]
pub(crate) struct FetchConfig {
    pub min_bytes: i32,
    pub max_wait_ms: i32,
    pub max_bytes: i32,
    pub partition_max_bytes: i32,
    pub read_committed: bool,
    pub request_timeout: Duration,
    pub retry_backoff: Duration,
    pub reset: ResetPolicy,
}

/// Decoded records of one partition from one response.
struct CompletedFetch {
    tp: Tp,
    epoch: u64,
    records: std::vec::IntoIter<ConsumerRecord>,
    next_fetch_offset: i64,
}

/// What one partition of a response held, decoded on the request's task.
struct PartResult {
    tp: Tp,
    epoch: u64,
    fetch_offset: i64,
    error: i16,
    records: Vec<ConsumerRecord>,
    next_fetch_offset: i64,
    high_watermark: i64,
    bytes: usize,
    decode_error: Option<String>,
}

pub(crate) struct FetchResult {
    broker: i32,
    conn: Option<Connection>,
    latency: Duration,
    requested: Vec<Tp>,
    outcome: Result<Vec<PartResult>, ClientError>,
}

pub(crate) struct Fetcher {
    cluster: Arc<Cluster>,
    client_id: String,
    cfg: FetchConfig,
    metrics: Arc<ConsumerMetrics>,
    topics: HashMap<String, Arc<str>>,
    parts: HashMap<Tp, PartState>,
    completed: VecDeque<CompletedFetch>,
    inflight_brokers: HashSet<i32>,
    conns: HashMap<i32, Connection>,
    broker_retry_at: HashMap<i32, Instant>,
    tx: mpsc::UnboundedSender<FetchResult>,
    rx: mpsc::UnboundedReceiver<FetchResult>,
    tasks: JoinSet<()>,
    metadata_stale: bool,
    /// No metadata refresh before this (retry.backoff.ms after the previous one).
    metadata_retry_at: Option<Instant>,
    rotation: usize,
    /// A fatal error to report from the next poll (e.g. out of range with reset=none).
    pending_error: Option<ClientError>,
    /// Out-of-range resets not yet taken ([`Fetcher::take_resets`]).
    resets: Vec<OffsetReset>,
}

impl Fetcher {
    pub fn new(
        cluster: Arc<Cluster>,
        client_id: String,
        cfg: FetchConfig,
        metrics: Arc<ConsumerMetrics>,
    ) -> Fetcher {
        let (tx, rx) = mpsc::unbounded_channel();
        Fetcher {
            cluster,
            client_id,
            cfg,
            metrics,
            topics: HashMap::new(),
            parts: HashMap::new(),
            completed: VecDeque::new(),
            inflight_brokers: HashSet::new(),
            conns: HashMap::new(),
            broker_retry_at: HashMap::new(),
            tx,
            rx,
            tasks: JoinSet::new(),
            metadata_stale: false,
            metadata_retry_at: None,
            rotation: 0,
            pending_error: None,
            resets: Vec::new(),
        }
    }

    pub fn tp(&mut self, topic: &str, partition: i32) -> Tp {
        let t = self
            .topics
            .entry(topic.to_string())
            .or_insert_with(|| Arc::from(topic))
            .clone();
        (t, partition)
    }

    pub fn take_error(&mut self) -> Option<ClientError> {
        self.pending_error.take()
    }

    /// Refreshes metadata when a leader is unknown or moved (at most once per
    /// `retry.backoff.ms`).
    pub async fn refresh_metadata_if_needed(&mut self) {
        let now = Instant::now();
        if !self.metadata_stale || self.metadata_retry_at.is_some_and(|t| t > now) {
            return;
        }
        self.metadata_stale = false;
        self.metadata_retry_at = Some(now + self.cfg.retry_backoff);
        let topics = self.assigned_topics();
        if topics.is_empty() {
            return;
        }
        if let Err(e) = self.cluster.refresh(&topics).await {
            tracing::debug!("metadata refresh failed: {e}");
            self.metadata_stale = true;
        }
    }

    /// When the fetcher next has something to do on its own (a backoff ending); only
    /// instants still ahead count: what is due already was tried in this round.
    pub fn next_retry(&self) -> Option<Instant> {
        let now = Instant::now();
        let parts = self.parts.values().filter_map(|s| s.retry_at);
        let brokers = self.broker_retry_at.values().copied();
        let metadata = self.metadata_retry_at.filter(|_| self.metadata_stale);
        parts
            .chain(brokers)
            .chain(metadata)
            .filter(|t| *t > now)
            .min()
    }

    /// Sends a Fetch to every broker that leads a fetchable partition and has none in
    /// flight.
    pub fn send_fetches(&mut self) {
        let now = Instant::now();
        self.broker_retry_at.retain(|_, t| *t > now);
        let mut by_broker: HashMap<i32, Vec<(Tp, i64, u64)>> = HashMap::new();
        for (tp, s) in &self.parts {
            if !s.fetchable(now) {
                continue;
            }
            let Some(leader) = self.cluster.leader(&tp.0, tp.1) else {
                self.metadata_stale = true;
                continue;
            };
            if self.inflight_brokers.contains(&leader) || self.broker_retry_at.contains_key(&leader)
            {
                continue;
            }
            by_broker
                .entry(leader)
                .or_default()
                .push((tp.clone(), s.fetch_offset, s.epoch));
        }
        for (broker, mut list) in by_broker {
            list.sort_by(|a, b| a.0.cmp(&b.0));
            // Rotate the starting partition so that fetch.max.bytes does not always
            // favour the same ones.
            self.rotation = self.rotation.wrapping_add(1);
            let n = list.len();
            list.rotate_left(self.rotation % n);
            self.spawn_fetch(broker, list);
        }
    }

    fn spawn_fetch(&mut self, broker: i32, list: Vec<(Tp, i64, u64)>) {
        let conn = self.conns.get(&broker).filter(|c| c.is_open()).cloned();
        let addr = if conn.is_none() {
            match self.cluster.metadata().brokers.get(&broker) {
                Some(a) => a.clone(),
                None => {
                    self.metadata_stale = true;
                    return;
                }
            }
        } else {
            String::new()
        };
        for (tp, _, _) in &list {
            if let Some(s) = self.parts.get_mut(tp) {
                s.in_flight = true;
            }
        }
        self.inflight_brokers.insert(broker);
        let mut topics: Vec<FetchTopic> = Vec::new();
        for (tp, offset, _) in &list {
            let part = FetchPartition::default()
                .with_partition(tp.1)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(*offset)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(self.cfg.partition_max_bytes);
            match topics.last_mut() {
                Some(t) if t.topic.0.as_str() == &*tp.0 => t.partitions.push(part),
                _ => topics.push(
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(tp.0.to_string())))
                        .with_partitions(vec![part]),
                ),
            }
        }
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(self.cfg.max_wait_ms)
            .with_min_bytes(self.cfg.min_bytes)
            .with_max_bytes(self.cfg.max_bytes)
            .with_isolation_level(i8::from(self.cfg.read_committed))
            // No incremental fetch session (KIP-227): every request is a full fetch.
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(topics);
        let tx = self.tx.clone();
        let client_id = self.client_id.clone();
        let timeout =
            self.cfg.request_timeout + Duration::from_millis(self.cfg.max_wait_ms.max(0) as u64);
        let read_committed = self.cfg.read_committed;
        self.tasks.spawn(async move {
            let start = Instant::now();
            let requested: Vec<Tp> = list.iter().map(|(tp, _, _)| tp.clone()).collect();
            let conn = match conn {
                Some(c) => Ok(c),
                None => Connection::connect(&addr, &client_id).await,
            };
            let (conn, outcome) = match conn {
                Err(e) => (None, Err(e)),
                Ok(conn) => {
                    let resp = tokio::time::timeout(timeout, conn.send(req))
                        .await
                        .unwrap_or(Err(ClientError::Timeout(timeout)));
                    match resp {
                        Ok(resp) => (Some(conn), Ok(decode_response(resp, &list, read_committed))),
                        Err(e) => (None, Err(e)),
                    }
                }
            };
            let _ = tx.send(FetchResult {
                broker,
                conn,
                latency: start.elapsed(),
                requested,
                outcome,
            });
        });
    }

    /// Waits for the next fetch response (pending forever when none is in flight).
    pub async fn recv(&mut self) -> Option<FetchResult> {
        if self.inflight_brokers.is_empty() {
            std::future::pending::<()>().await;
        }
        self.rx.recv().await
    }

    /// Handles every response that has already arrived.
    pub fn drain_responses(&mut self) {
        while let Ok(r) = self.rx.try_recv() {
            self.handle(r);
        }
    }

    /// Applies one fetch response: buffers records, advances fetch offsets, flags
    /// resets and metadata refreshes.
    pub fn handle(&mut self, r: FetchResult) {
        while self.tasks.try_join_next().is_some() {}
        self.inflight_brokers.remove(&r.broker);
        for tp in &r.requested {
            if let Some(s) = self.parts.get_mut(tp) {
                s.in_flight = false;
            }
        }
        self.metrics.fetch_latency(r.latency);
        let results = match r.outcome {
            Ok(results) => {
                if let Some(c) = r.conn {
                    self.conns.insert(r.broker, c);
                }
                results
            }
            Err(e) => {
                tracing::debug!(broker = r.broker, "fetch failed: {e}");
                self.conns.remove(&r.broker);
                self.metadata_stale = true;
                self.broker_retry_at
                    .insert(r.broker, Instant::now() + self.cfg.retry_backoff);
                return;
            }
        };
        let now = Instant::now();
        for pr in results {
            let Some(s) = self.parts.get_mut(&pr.tp) else {
                continue;
            };
            if s.epoch != pr.epoch || s.fetch_offset != pr.fetch_offset {
                continue;
            }
            if pr.high_watermark >= 0 {
                s.high_watermark = pr.high_watermark;
            }
            match pr.error {
                0 => {}
                code::OFFSET_OUT_OF_RANGE => {
                    // Only when nothing for it is buffered: the position is the offset
                    // that was out of range.
                    if s.buffered == 0 && s.position == Some(pr.fetch_offset) {
                        tracing::info!(
                            topic = %pr.tp.0,
                            partition = pr.tp.1,
                            offset = pr.fetch_offset,
                            "fetch offset out of range; resetting with auto.offset.reset"
                        );
                        s.needs_reset = true;
                        s.out_of_range = true;
                    }
                    continue;
                }
                code::UNKNOWN_TOPIC_OR_PARTITION
                | code::LEADER_NOT_AVAILABLE
                | code::NOT_LEADER_OR_FOLLOWER
                | code::REPLICA_NOT_AVAILABLE
                | code::KAFKA_STORAGE_ERROR
                | code::FENCED_LEADER_EPOCH
                | code::UNKNOWN_LEADER_EPOCH
                | code::OFFSET_NOT_AVAILABLE
                | code::UNKNOWN_TOPIC_ID => {
                    self.metadata_stale = true;
                    s.retry_at = Some(now + self.cfg.retry_backoff);
                    continue;
                }
                other => {
                    tracing::warn!(
                        topic = %pr.tp.0,
                        partition = pr.tp.1,
                        code = other,
                        "fetch error"
                    );
                    s.retry_at = Some(now + self.cfg.retry_backoff);
                    continue;
                }
            }
            if let Some(e) = pr.decode_error {
                tracing::warn!(topic = %pr.tp.0, partition = pr.tp.1, "cannot decode fetched records: {e}");
                self.pending_error = Some(ClientError::kafka(
                    code::CORRUPT_MESSAGE,
                    Some(format!(
                        "{}-{} at offset {}: {e}",
                        pr.tp.0, pr.tp.1, pr.fetch_offset
                    )),
                ));
                s.retry_at = Some(now + self.cfg.retry_backoff);
                continue;
            }
            if pr.records.is_empty() && pr.next_fetch_offset <= pr.fetch_offset {
                continue;
            }
            self.metrics.bytes_fetched(pr.bytes);
            s.fetch_offset = pr.next_fetch_offset;
            s.buffered += 1;
            self.completed.push_back(CompletedFetch {
                tp: pr.tp,
                epoch: pr.epoch,
                records: pr.records.into_iter(),
                next_fetch_offset: pr.next_fetch_offset,
            });
        }
    }

    /// Takes up to `max` buffered records, advancing positions.
    pub fn take(&mut self, max: usize) -> Vec<ConsumerRecord> {
        let available: usize = self.completed.iter().map(|c| c.records.len()).sum();
        let mut out: Vec<ConsumerRecord> = Vec::with_capacity(available.min(max));
        while out.len() < max {
            let Some(cf) = self.completed.front_mut() else {
                break;
            };
            let s = match self.parts.get_mut(&cf.tp) {
                Some(s) if s.epoch == cf.epoch => s,
                _ => {
                    // Revoked or repositioned since it was fetched.
                    self.completed.pop_front();
                    continue;
                }
            };
            let k = (max - out.len()).min(cf.records.len());
            let before = out.len();
            out.extend(cf.records.by_ref().take(k));
            if out.len() > before {
                if let Some(last) = out.last() {
                    s.position = Some(last.offset + 1);
                }
            }
            if cf.records.len() == 0 {
                // Also steps over control records and compacted gaps at the end.
                let end = cf.next_fetch_offset;
                if s.position.is_none_or(|p| p < end) {
                    s.position = Some(end);
                }
                s.buffered = s.buffered.saturating_sub(1);
                self.completed.pop_front();
            }
        }
        if !out.is_empty() {
            self.metrics.records_consumed(out.len());
            self.update_lag();
        }
        out
    }

    fn update_lag(&self) {
        let lag = self
            .parts
            .values()
            .filter_map(|s| match s.position {
                Some(p) if s.high_watermark >= 0 => Some((s.high_watermark - p).max(0)),
                _ => None,
            })
            .max()
            .unwrap_or(-1);
        self.metrics.set_lag_max(lag);
    }

    /// Stops background fetches (close / crash).
    pub fn shutdown(&mut self) {
        self.tasks.abort_all();
        self.conns.clear();
    }
}

fn decode_response(
    resp: kafka_protocol::messages::FetchResponse,
    requested: &[(Tp, i64, u64)],
    read_committed: bool,
) -> Vec<PartResult> {
    let mut out = Vec::with_capacity(requested.len());
    for t in resp.responses {
        for p in t.partitions {
            let Some((tp, offset, epoch)) = requested
                .iter()
                .find(|(tp, _, _)| tp.1 == p.partition_index && &*tp.0 == t.topic.0.as_str())
            else {
                continue;
            };
            let mut pr = PartResult {
                tp: tp.clone(),
                epoch: *epoch,
                fetch_offset: *offset,
                error: p.error_code,
                records: Vec::new(),
                next_fetch_offset: *offset,
                high_watermark: p.high_watermark,
                bytes: 0,
                decode_error: None,
            };
            if p.error_code == 0 {
                if let Some(data) = p.records {
                    pr.bytes = data.len();
                    let aborted: &[AbortedTransaction] = if read_committed {
                        p.aborted_transactions.as_deref().unwrap_or(&[])
                    } else {
                        &[]
                    };
                    match decode_records(
                        data,
                        &tp.0,
                        tp.1,
                        *offset,
                        read_committed,
                        aborted,
                        &mut pr.records,
                    ) {
                        Ok(next) => pr.next_fetch_offset = next,
                        Err(e) => pr.decode_error = Some(e),
                    }
                }
            }
            out.push(pr);
        }
    }
    out
}
