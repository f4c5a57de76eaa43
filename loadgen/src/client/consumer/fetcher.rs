//! The fetcher: Fetch requests to partition leaders (one request per broker carrying all
//! of its assigned partitions), record-batch decoding, positions, and offset resets
//! (`auto.offset.reset` via ListOffsets).
//!
//! Pre-fetching: each response is decoded on a background task, and a partition is
//! fetched again as soon as at most one undrained response is buffered for it, so one
//! request per broker stays in flight while the application processes what it got.
//! Responses that arrive for a partition whose position was reset (seek, reassignment)
//! in the meantime are recognised by a per-partition epoch and dropped.
//!
//! Records reference the fetched buffer (key and value are slices of the response
//! `Bytes`): no per-record copy for uncompressed batches. Compressed batches (gzip,
//! snappy, lz4, zstd) go through `kafka_protocol::records::RecordBatchDecoder`.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::AbortedTransaction;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::metrics::ConsumerMetrics;
use super::ConsumerRecord;
use crate::client::cluster::Cluster;
use crate::client::connection::Connection;
use crate::client::error::ClientError;

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

/// `auto.offset.reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetPolicy {
    Earliest,
    Latest,
    None,
}

impl ResetPolicy {
    pub fn parse(s: &str) -> Result<ResetPolicy, ClientError> {
        match s.trim() {
            "earliest" => Ok(ResetPolicy::Earliest),
            "latest" => Ok(ResetPolicy::Latest),
            "none" => Ok(ResetPolicy::None),
            other => Err(ClientError::Config(format!(
                "auto.offset.reset: expected earliest, latest or none, got '{other}'"
            ))),
        }
    }
}

/// A position moved by `auto.offset.reset` because the broker answered
/// OFFSET_OUT_OF_RANGE for it: the consumer was at `from` and continues at `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetReset {
    pub topic: String,
    pub partition: i32,
    pub from: i64,
    pub to: i64,
    pub policy: ResetPolicy,
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

#[derive(Debug)]
struct PartState {
    /// Offset of the next record to hand to the application (None: unknown yet).
    position: Option<i64>,
    /// Offset the next Fetch asks for (ahead of `position` while responses are buffered).
    fetch_offset: i64,
    /// Bumped whenever the position is set from outside the fetch stream.
    epoch: u64,
    in_flight: bool,
    buffered: usize,
    high_watermark: i64,
    /// The committed offset must be looked up (OffsetFetch) before fetching.
    need_committed: bool,
    /// The position must be reset with `auto.offset.reset`.
    needs_reset: bool,
    /// Why: the fetch offset was out of range (rather than no committed offset).
    out_of_range: bool,
    retry_at: Option<Instant>,
}

impl PartState {
    fn new(need_committed: bool) -> PartState {
        PartState {
            position: None,
            fetch_offset: -1,
            epoch: 0,
            in_flight: false,
            buffered: 0,
            high_watermark: -1,
            need_committed,
            needs_reset: !need_committed,
            out_of_range: false,
            retry_at: None,
        }
    }

    fn fetchable(&self, now: Instant) -> bool {
        self.position.is_some()
            && !self.needs_reset
            && !self.need_committed
            && !self.in_flight
            && self.buffered < PREFETCH_DEPTH
            && self.retry_at.is_none_or(|t| t <= now)
    }
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

    /// The assigned partitions, sorted.
    pub fn assignment(&self) -> Vec<(String, i32)> {
        let set: BTreeSet<(String, i32)> = self
            .parts
            .keys()
            .map(|(t, p)| (t.to_string(), *p))
            .collect();
        set.into_iter().collect()
    }

    pub fn assigned_topics(&self) -> Vec<String> {
        let set: BTreeSet<String> = self.parts.keys().map(|(t, _)| t.to_string()).collect();
        set.into_iter().collect()
    }

    /// Adds partitions whose position is unknown; `need_committed`: look up the group's
    /// committed offset first, else go straight to `auto.offset.reset`.
    pub fn add(&mut self, partitions: &[(String, i32)], need_committed: bool) {
        for (t, p) in partitions {
            let tp = self.tp(t, *p);
            self.parts
                .entry(tp)
                .or_insert_with(|| PartState::new(need_committed));
        }
        self.metrics.set_assigned(self.parts.len());
    }

    pub fn remove(&mut self, partitions: &[(String, i32)]) {
        for (t, p) in partitions {
            let tp = self.tp(t, *p);
            self.parts.remove(&tp);
        }
        let parts = &self.parts;
        self.completed.retain(|c| parts.contains_key(&c.tp));
        self.metrics.set_assigned(self.parts.len());
    }

    pub fn clear(&mut self) {
        self.parts.clear();
        self.completed.clear();
        self.metrics.set_assigned(0);
    }

    /// Consumed positions of the assigned partitions (what a commit stores).
    pub fn positions(&self) -> Vec<(String, i32, i64)> {
        let mut v: Vec<(String, i32, i64)> = self
            .parts
            .iter()
            .filter_map(|((t, p), s)| s.position.map(|o| (t.to_string(), *p, o)))
            .collect();
        v.sort();
        v
    }

    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        let t = self.topics.get(topic)?;
        self.parts.get(&(t.clone(), partition))?.position
    }

    /// Sets the position (a seek): buffered and in-flight data for it is discarded.
    pub fn seek(&mut self, topic: &str, partition: i32, offset: i64) {
        let tp = self.tp(topic, partition);
        if let Some(s) = self.parts.get_mut(&tp) {
            s.position = Some(offset);
            s.fetch_offset = offset;
            s.epoch += 1;
            s.buffered = 0;
            s.need_committed = false;
            s.needs_reset = false;
            s.out_of_range = false;
            s.retry_at = None;
            self.completed.retain(|c| c.tp != tp);
        }
    }

    pub fn has_need_committed(&self) -> bool {
        self.parts.values().any(|s| s.need_committed)
    }

    /// Partitions waiting for their committed offset.
    pub fn need_committed(&self) -> Vec<(String, i32)> {
        let mut v: Vec<(String, i32)> = self
            .parts
            .iter()
            .filter(|(_, s)| s.need_committed)
            .map(|((t, p), _)| (t.to_string(), *p))
            .collect();
        v.sort();
        v
    }

    /// Applies OffsetFetch results: a committed offset becomes the position, none (-1)
    /// leaves the partition to `auto.offset.reset`.
    pub fn set_committed(&mut self, committed: &[(String, i32, i64)]) {
        for (t, p, off) in committed {
            let tp = self.tp(t, *p);
            let Some(s) = self.parts.get_mut(&tp) else {
                continue;
            };
            if !s.need_committed {
                continue;
            }
            s.need_committed = false;
            if *off >= 0 {
                s.position = Some(*off);
                s.fetch_offset = *off;
                s.epoch += 1;
            } else {
                s.needs_reset = true;
            }
        }
    }

    pub fn take_error(&mut self) -> Option<ClientError> {
        self.pending_error.take()
    }

    /// The out-of-range resets since the last call, oldest first.
    pub fn take_resets(&mut self) -> Vec<OffsetReset> {
        std::mem::take(&mut self.resets)
    }

    /// Resets positions with `auto.offset.reset` (ListOffsets to each leader).
    pub async fn reset_positions(&mut self) -> Result<(), ClientError> {
        let now = Instant::now();
        let todo: Vec<Tp> = self
            .parts
            .iter()
            .filter(|(_, s)| s.needs_reset && s.retry_at.is_none_or(|t| t <= now))
            .map(|(tp, _)| tp.clone())
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        let timestamp = match self.cfg.reset {
            ResetPolicy::Earliest => -2,
            ResetPolicy::Latest => -1,
            ResetPolicy::None => {
                let tp = &todo[0];
                let oor = self.parts.get(tp).is_some_and(|s| s.out_of_range);
                return Err(if oor {
                    ClientError::kafka(
                        code::OFFSET_OUT_OF_RANGE,
                        Some(format!(
                            "fetch position out of range for {}-{} and auto.offset.reset=none",
                            tp.0, tp.1
                        )),
                    )
                } else {
                    ClientError::Other(format!(
                        "no committed offset for partition {}-{} and auto.offset.reset=none",
                        tp.0, tp.1
                    ))
                });
            }
        };
        let mut by_leader: HashMap<i32, Vec<Tp>> = HashMap::new();
        let mut unknown = false;
        for tp in todo {
            match self.cluster.leader(&tp.0, tp.1) {
                Some(l) => by_leader.entry(l).or_default().push(tp),
                None => {
                    unknown = true;
                    self.backoff(&tp);
                }
            }
        }
        if unknown {
            self.metadata_stale = true;
        }
        for (leader, tps) in by_leader {
            let mut topics: HashMap<Arc<str>, Vec<i32>> = HashMap::new();
            for (t, p) in &tps {
                topics.entry(t.clone()).or_default().push(*p);
            }
            let req = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_isolation_level(i8::from(self.cfg.read_committed))
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, ps)| {
                            ListOffsetsTopic::default()
                                .with_name(TopicName(StrBytes::from_string(t.to_string())))
                                .with_partitions(
                                    ps.into_iter()
                                        .map(|p| {
                                            ListOffsetsPartition::default()
                                                .with_partition_index(p)
                                                .with_current_leader_epoch(-1)
                                                .with_timestamp(timestamp)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            let resp = match self.cluster.broker(leader).await {
                Ok(conn) => tokio::time::timeout(self.cfg.request_timeout, conn.send(req))
                    .await
                    .unwrap_or(Err(ClientError::Timeout(self.cfg.request_timeout))),
                Err(e) => Err(e),
            };
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(leader, "ListOffsets failed: {e}");
                    self.metadata_stale = true;
                    for tp in &tps {
                        self.backoff(tp);
                    }
                    continue;
                }
            };
            for t in &resp.topics {
                for p in &t.partitions {
                    let tp = self.tp(t.name.0.as_str(), p.partition_index);
                    let Some(s) = self.parts.get_mut(&tp) else {
                        continue;
                    };
                    if !s.needs_reset {
                        continue;
                    }
                    if p.error_code != 0 || p.offset < 0 {
                        tracing::debug!(
                            topic = %tp.0,
                            partition = tp.1,
                            code = p.error_code,
                            "ListOffsets partition error"
                        );
                        self.metadata_stale = true;
                        self.backoff(&tp);
                        continue;
                    }
                    if s.out_of_range {
                        if let Some(from) = s.position {
                            self.resets.push(OffsetReset {
                                topic: tp.0.to_string(),
                                partition: tp.1,
                                from,
                                to: p.offset,
                                policy: self.cfg.reset,
                            });
                        }
                    }
                    s.needs_reset = false;
                    s.out_of_range = false;
                    s.position = Some(p.offset);
                    s.fetch_offset = p.offset;
                    s.epoch += 1;
                    s.buffered = 0;
                    s.retry_at = None;
                    self.completed.retain(|c| c.tp != tp);
                }
            }
        }
        Ok(())
    }

    fn backoff(&mut self, tp: &Tp) {
        let at = Instant::now() + self.cfg.retry_backoff;
        if let Some(s) = self.parts.get_mut(tp) {
            s.retry_at = Some(at);
        }
    }

    pub fn needs_positions(&self) -> bool {
        self.parts.values().any(|s| s.needs_reset)
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

/// Size of the v2 record batch header (up to and including the record count).
const BATCH_HEADER: usize = 61;

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// A zig-zag varint (Kafka's varint / varlong) at `*pos`.
fn varint(b: &[u8], pos: &mut usize) -> Option<i64> {
    let mut raw: u64 = 0;
    let mut shift = 0u32;
    loop {
        let byte = *b.get(*pos)?;
        *pos += 1;
        raw |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    Some(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

/// A nullable byte field (varint length, -1 = null) as a slice of `data`.
fn bytes_field(data: &Bytes, pos: &mut usize, end: usize) -> Option<Option<Bytes>> {
    let len = varint(data, pos)?;
    if len < 0 {
        return Some(None);
    }
    let len = usize::try_from(len).ok()?;
    let stop = pos.checked_add(len)?;
    if stop > end {
        return None;
    }
    let v = data.slice(*pos..stop);
    *pos = stop;
    Some(Some(v))
}

fn skip_headers(data: &[u8], pos: &mut usize, end: usize) -> Option<()> {
    let n = varint(data, pos)?;
    for _ in 0..n.max(0) {
        let klen = varint(data, pos)?;
        *pos = pos.checked_add(usize::try_from(klen.max(0)).ok()?)?;
        let vlen = varint(data, pos)?;
        if vlen > 0 {
            *pos = pos.checked_add(usize::try_from(vlen).ok()?)?;
        }
        if *pos > end {
            return None;
        }
    }
    Some(())
}

/// Decodes the record batches in `data` (a Fetch response's `records`) into `out`,
/// skipping records below `fetch_offset`, control records and (read_committed)
/// aborted transactions. Returns the offset to fetch next. A batch cut off at the end
/// (fetch size limits) is left for the next fetch.
pub(crate) fn decode_records(
    data: Bytes,
    topic: &Arc<str>,
    partition: i32,
    fetch_offset: i64,
    read_committed: bool,
    aborted: &[AbortedTransaction],
    out: &mut Vec<ConsumerRecord>,
) -> Result<i64, String> {
    let mut next = fetch_offset;
    let mut at = 0usize;
    let mut aborted: Vec<(i64, i64)> = aborted
        .iter()
        .map(|a| (a.first_offset, a.producer_id.0))
        .collect();
    aborted.sort_unstable();
    let mut aborted_next = 0usize;
    let mut aborting: HashSet<i64> = HashSet::new();
    let mut decoded_any = false;
    while data.len() - at >= 17 {
        let base_offset = be_i64(&data, at);
        let batch_len = be_i32(&data, at + 8);
        if batch_len < 0 {
            return Err(format!("negative batch length {batch_len}"));
        }
        let total = 12 + batch_len as usize;
        if data.len() - at < total {
            break;
        }
        let magic = data[at + 16] as i8;
        if magic != 2 {
            return Err(format!(
                "message format v{magic} at offset {base_offset} is not supported"
            ));
        }
        if total < BATCH_HEADER {
            return Err(format!("record batch of {total} bytes is too short"));
        }
        let batch = data.slice(at..at + total);
        at += total;
        decoded_any = true;
        let crc = be_u32(&batch, 17);
        if crc32c::crc32c(&batch[21..]) != crc {
            return Err(format!("CRC mismatch in batch at offset {base_offset}"));
        }
        let attributes = be_i16(&batch, 21);
        let last_offset = base_offset + i64::from(be_i32(&batch, 23));
        let max_timestamp = be_i64(&batch, 35);
        let producer_id = be_i64(&batch, 43);
        let count = be_i32(&batch, 57);
        let compression = attributes & 0x7;
        let log_append_time = attributes & 0x8 != 0;
        let transactional = attributes & 0x10 != 0;
        let control = attributes & 0x20 != 0;
        if last_offset < fetch_offset {
            continue;
        }
        next = next.max(last_offset + 1);
        if read_committed {
            while aborted_next < aborted.len() && aborted[aborted_next].0 <= last_offset {
                aborting.insert(aborted[aborted_next].1);
                aborted_next += 1;
            }
        }
        if control {
            if read_committed && compression == 0 && count > 0 {
                // The marker's key: version (i16), type (i16; 0 = abort, 1 = commit).
                let mut pos = BATCH_HEADER;
                let parsed = (|| {
                    let _len = varint(&batch, &mut pos)?;
                    pos += 1;
                    varint(&batch, &mut pos)?;
                    varint(&batch, &mut pos)?;
                    let key = bytes_field(&batch, &mut pos, batch.len())??;
                    (key.len() >= 4).then(|| be_i16(&key, 2))
                })();
                if parsed == Some(0) {
                    aborting.remove(&producer_id);
                }
            }
            continue;
        }
        if read_committed && transactional && aborting.contains(&producer_id) {
            continue;
        }
        let first_timestamp = be_i64(&batch, 27);
        if compression == 0 {
            let end = batch.len();
            let mut pos = BATCH_HEADER;
            out.reserve(count.max(0) as usize);
            for _ in 0..count.max(0) {
                let rec = (|| {
                    let len = usize::try_from(varint(&batch, &mut pos)?).ok()?;
                    let rec_end = pos.checked_add(len)?;
                    if rec_end > end {
                        return None;
                    }
                    pos += 1; // attributes
                    let ts_delta = varint(&batch, &mut pos)?;
                    let off_delta = varint(&batch, &mut pos)?;
                    let key = bytes_field(&batch, &mut pos, rec_end)?;
                    let value = bytes_field(&batch, &mut pos, rec_end)?;
                    skip_headers(&batch, &mut pos, rec_end)?;
                    pos = rec_end;
                    Some((
                        base_offset + off_delta,
                        first_timestamp + ts_delta,
                        key,
                        value,
                    ))
                })();
                let Some((offset, ts, key, value)) = rec else {
                    return Err(format!("malformed record in batch at offset {base_offset}"));
                };
                if offset < fetch_offset {
                    continue;
                }
                out.push(ConsumerRecord {
                    topic: topic.clone(),
                    partition,
                    offset,
                    timestamp_ms: if log_append_time { max_timestamp } else { ts },
                    key,
                    value,
                });
            }
        } else {
            let mut buf = batch.clone();
            let set = RecordBatchDecoder::decode(&mut buf)
                .map_err(|e| format!("batch at offset {base_offset}: {e}"))?;
            out.reserve(set.records.len());
            for r in set.records {
                if r.offset < fetch_offset || r.control {
                    continue;
                }
                out.push(ConsumerRecord {
                    topic: topic.clone(),
                    partition,
                    offset: r.offset,
                    timestamp_ms: if log_append_time {
                        max_timestamp
                    } else {
                        r.timestamp
                    },
                    key: r.key,
                    value: r.value,
                });
            }
        }
    }
    if !decoded_any && !data.is_empty() {
        // Not even one whole batch: a batch larger than the fetch size from a broker
        // without KIP-74, which the consumer could never get past.
        let need = if data.len() >= 12 {
            12 + be_i32(&data, 8).max(0) as usize
        } else {
            0
        };
        if need > data.len() && data.len() >= 17 {
            return Err(format!(
                "record batch at offset {fetch_offset} ({need} bytes) is larger than the fetch size ({} bytes); raise max.partition.fetch.bytes",
                data.len()
            ));
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    fn batch(base: i64, n: usize, compression: Compression) -> Bytes {
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: base + i as i64,
                sequence: i as i32,
                timestamp: 1_000 + i as i64,
                key: match i % 2 {
                    0 => Some(Bytes::from(format!("k{i}"))),
                    _ => None,
                },
                value: Some(Bytes::from(format!("value-{}", base + i as i64))),
                headers: [(
                    StrBytes::from_static_str("h"),
                    Some(Bytes::from_static(b"x")),
                )]
                .into_iter()
                .collect(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            records.iter(),
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .expect("encode");
        buf.freeze()
    }

    fn decode(data: Bytes, from: i64) -> (Vec<ConsumerRecord>, Result<i64, String>) {
        let mut out = Vec::new();
        let t: Arc<str> = Arc::from("t");
        let r = decode_records(data, &t, 0, from, false, &[], &mut out);
        (out, r)
    }

    #[test]
    fn decodes_all_codecs_and_skips_below_the_fetch_offset() {
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut data = BytesMut::new();
            data.extend_from_slice(&batch(0, 5, c));
            data.extend_from_slice(&batch(5, 5, c));
            let (recs, next) = decode(data.freeze(), 3);
            assert_eq!(next, Ok(10), "{c:?}");
            let offsets: Vec<i64> = recs.iter().map(|r| r.offset).collect();
            assert_eq!(offsets, (3..10).collect::<Vec<_>>(), "{c:?}");
            assert_eq!(recs[0].value.as_deref(), Some(&b"value-3"[..]));
            assert_eq!(recs[0].key, None);
            assert_eq!(recs[1].key.as_deref(), Some(&b"k4"[..]));
            assert_eq!(recs[0].timestamp_ms, 1_003);
        }
    }

    #[test]
    fn a_truncated_trailing_batch_is_left_for_the_next_fetch() {
        let mut data = BytesMut::new();
        data.extend_from_slice(&batch(0, 3, Compression::None));
        let second = batch(3, 3, Compression::None);
        data.extend_from_slice(&second[..second.len() - 5]);
        let (recs, next) = decode(data.freeze(), 0);
        assert_eq!(recs.len(), 3);
        assert_eq!(next, Ok(3));
        // Only a partial batch: too large for the fetch size.
        let (_, err) = decode(second.slice(..second.len() - 5), 3);
        assert!(err.is_err());
    }

    #[test]
    fn corrupt_batches_are_errors_not_panics() {
        let mut b = BytesMut::from(&batch(0, 3, Compression::None)[..]);
        let n = b.len();
        b[n - 3] ^= 0xff;
        assert!(decode(b.freeze(), 0).1.is_err());
        // Garbage of every length never panics.
        let good = batch(0, 3, Compression::None);
        for cut in 0..good.len() {
            let mut g = BytesMut::from(&good[..cut]);
            if g.len() > 30 {
                g[30] = 0xff;
            }
            let _ = decode(g.freeze(), 0);
        }
    }

    #[test]
    fn varints_round_trip() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            300,
            -300,
            i32::MAX as i64,
            i64::MIN,
            i64::MAX,
        ] {
            let mut buf = Vec::new();
            let mut z = ((v << 1) ^ (v >> 63)) as u64;
            loop {
                if z < 0x80 {
                    buf.push(z as u8);
                    break;
                }
                buf.push((z as u8 & 0x7f) | 0x80);
                z >>= 7;
            }
            let mut pos = 0;
            assert_eq!(varint(&buf, &mut pos), Some(v));
            assert_eq!(pos, buf.len());
        }
        let mut pos = 0;
        assert_eq!(varint(&[0x80; 11], &mut pos), None);
    }
}
