//! The consumer: fetcher, group membership with a background heartbeat (KIP-62), offsets.
//!
//! Behaves like the Java `KafkaConsumer` with the classic group protocol:
//!
//! - `subscribe()` + `poll()` joins the group; joining is driven by `poll()`, so a
//!   member that stops polling does not take part in rebalances (the "stop the world"
//!   pause lasts until every member has polled and rejoined, or the rebalance timeout,
//!   `max.poll.interval.ms`, passes).
//! - A background task heartbeats every `heartbeat.interval.ms` whatever the
//!   application does; when the application has not called `poll()` within
//!   `max.poll.interval.ms` it sends LeaveGroup and the member drops out; the next
//!   `poll()` rejoins.
//! - Eager assignors (`range`, `roundrobin`, `sticky`) revoke every partition before
//!   rejoining; with only `cooperative-sticky` configured the member keeps its
//!   partitions and only revokes those that move (KIP-429).
//! - Offsets: OffsetFetch on assignment, `auto.offset.reset` when there is none,
//!   `enable.auto.commit` every `auto.commit.interval.ms` from `poll()`, before a
//!   revocation and on `close()`.
//!
//! [`Consumer::crash`] stops everything at once (no LeaveGroup, no commit): the group
//! only notices after `session.timeout.ms`.

pub mod assignor;
pub mod consumer_protocol;
mod decode;
pub mod fetcher;
pub mod group;
pub mod metrics;
mod offsets;
mod rebalance;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{broadcast, oneshot};
use tokio::task::{JoinError, JoinHandle, JoinSet};
use tokio::time::Instant;

use self::assignor::RebalanceProtocol;
use self::fetcher::{FetchConfig, Fetcher, ResetPolicy};
use self::group::{GroupConfig, GroupShared, JoinOutcome, Phase};
pub use self::metrics::{ConsumerMetricsSnapshot, MetricDoc, DOCS};
use super::cluster::Cluster;
use super::config::{ClientConfig, Role, CONSUMER_DEFAULTS};
use super::error::ClientError;

/// One record as `poll()` returns it. Key and value share the fetched buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

/// What happened to the consumer's group membership, with when it happened (the
/// rebalance listener's callbacks, as events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerEvent {
    /// A rejoin started (the member sends JoinGroup).
    JoinStarted { at: Instant },
    /// Partitions given up in a rebalance (`onPartitionsRevoked`): all of them before
    /// an eager rejoin, only the moved ones under cooperative rebalancing, all on close.
    Revoked {
        partitions: Vec<(String, i32)>,
        at: Instant,
    },
    /// Partitions received (`onPartitionsAssigned`): the whole assignment (eager) or
    /// the added ones (cooperative).
    Assigned {
        partitions: Vec<(String, i32)>,
        at: Instant,
    },
    /// Partitions lost without a chance to commit (`onPartitionsLost`): the session
    /// expired, the generation was fenced, or the member left on poll timeout.
    Lost {
        partitions: Vec<(String, i32)>,
        at: Instant,
    },
    /// The member left the group: `"max.poll.interval.ms exceeded"`, `"close"`, or
    /// `"session timed out"` (the coordinator had removed it: a heartbeat came back
    /// UNKNOWN_MEMBER_ID).
    LeftGroup { reason: &'static str, at: Instant },
    /// An OffsetCommit succeeded (auto-commit, `commit_sync`, `commit_async`):
    /// (topic, partition, next offset to consume).
    Committed {
        offsets: Vec<(String, i32, i64)>,
        at: Instant,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    None,
    Subscribed,
    Manual,
}

static INSTANCES: AtomicU64 = AtomicU64::new(0);

pub struct Consumer {
    cluster: Arc<Cluster>,
    client_id: String,
    group: Option<Arc<GroupShared>>,
    /// `group.protocol=consumer`: the KIP-848 member state (None: classic protocol).
    kip848: Option<Arc<consumer_protocol::Kip848>>,
    fetcher: Fetcher,
    mode: Mode,
    subscription: Vec<String>,
    protocol: RebalanceProtocol,
    max_poll_records: usize,
    auto_commit: bool,
    auto_commit_interval: Duration,
    next_auto_commit: Instant,
    metadata_max_age: Duration,
    next_metadata_check: Instant,
    request_timeout: Duration,
    retry_backoff: Duration,
    heartbeat_task: Option<JoinHandle<()>>,
    join_task: Option<JoinHandle<Result<JoinOutcome, ClientError>>>,
    /// Generation of the current assignment (sent with owned partitions).
    owned_generation: i32,
    leader_counts: Option<BTreeMap<String, i32>>,
    last_poll: Option<Instant>,
    events: broadcast::Sender<ConsumerEvent>,
    metrics: Arc<metrics::ConsumerMetrics>,
    /// Async commits in flight.
    background: JoinSet<()>,
    /// Completion of the last async commit: the next one waits for it, so that commits
    /// reach the coordinator in the order they were made, as the Java client's do (a
    /// later commit overtaken by an earlier one would move the offset backwards).
    async_chain: Option<oneshot::Receiver<()>>,
    offset_fetch_retry_at: Option<Instant>,
}

/// What woke a waiting poll.
enum Wake {
    Fetch(Option<fetcher::FetchResult>),
    Join(Result<Result<JoinOutcome, ClientError>, JoinError>),
    Other,
}

async fn join_wait(
    task: &mut Option<JoinHandle<Result<JoinOutcome, ClientError>>>,
) -> Result<Result<JoinOutcome, ClientError>, JoinError> {
    match task {
        Some(h) => h.await,
        None => std::future::pending().await,
    }
}

async fn group_wake(group: &Option<Arc<GroupShared>>) {
    match group {
        Some(g) => g.poll_wake.notified().await,
        None => std::future::pending().await,
    }
}

impl Consumer {
    /// Creates a consumer for `bootstrap` (`bootstrap.servers`); connects once to fail
    /// fast on a wrong address.
    pub async fn new(bootstrap: &str, config: ClientConfig) -> Result<Consumer, ClientError> {
        // Re-validate as a consumer config (a producer config would read wrong keys).
        let config = ClientConfig::new(Role::Consumer, &config.overrides())?;
        let default_client_id = CONSUMER_DEFAULTS
            .iter()
            .find(|(k, _)| *k == "client.id")
            .map_or("kafkalab-consumer", |(_, v)| *v);
        let n = INSTANCES.fetch_add(1, Ordering::Relaxed) + 1;
        let configured = config.get("client.id");
        // As the Java client numbers unnamed consumers, so that metrics stay apart.
        let client_id = if configured.is_empty() || configured == default_client_id {
            format!("{default_client_id}-{n}")
        } else {
            configured
        };
        let group_id = config.get("group.id");
        let group_id = (!group_id.trim().is_empty()).then(|| group_id.trim().to_string());
        let protocol_setting = config.get("group.protocol");
        let consumer_protocol = match protocol_setting.to_ascii_lowercase().as_str() {
            "classic" => false,
            "consumer" => true,
            other => {
                return Err(ClientError::Config(format!(
                    "group.protocol: expected classic or consumer, got '{other}'"
                )))
            }
        };
        let remote_assignor = config.get("group.remote.assignor");
        let remote_assignor =
            (!remote_assignor.trim().is_empty()).then(|| remote_assignor.trim().to_string());
        let strategies =
            assignor::Strategy::parse_list(&config.get("partition.assignment.strategy"))
                .map_err(ClientError::Config)?;
        let protocol = assignor::rebalance_protocol(&strategies);
        let reset = ResetPolicy::parse(&config.get("auto.offset.reset"))?;
        let isolation = config.get("isolation.level");
        let read_committed = match isolation.as_str() {
            "read_uncommitted" => false,
            "read_committed" => true,
            other => {
                return Err(ClientError::Config(format!(
                    "isolation.level: expected read_uncommitted or read_committed, got '{other}'"
                )))
            }
        };
        let session_timeout_ms = config.int("session.timeout.ms");
        let heartbeat_ms = config.int("heartbeat.interval.ms");
        if heartbeat_ms >= session_timeout_ms {
            return Err(ClientError::Config(format!(
                "heartbeat.interval.ms ({heartbeat_ms}) must be lower than session.timeout.ms ({session_timeout_ms})"
            )));
        }
        let max_poll_records = config.int("max.poll.records");
        if max_poll_records < 1 {
            return Err(ClientError::Config(format!(
                "max.poll.records must be at least 1, got {max_poll_records}"
            )));
        }
        let instance_id = config.get("group.instance.id");
        let instance_id = (!instance_id.trim().is_empty()).then(|| instance_id.trim().to_string());
        let request_timeout = config.ms("request.timeout.ms");
        let retry_backoff = config.ms("retry.backoff.ms").max(Duration::from_millis(1));
        let clamp_i32 = |v: i64| v.clamp(0, i32::MAX as i64) as i32;

        let cluster = Cluster::new(bootstrap, &client_id);
        cluster.any().await?;
        let metrics = Arc::new(metrics::ConsumerMetrics::new(
            &client_id,
            group_id.as_deref().unwrap_or(""),
        ));
        let (events, _) = broadcast::channel(1024);
        let group = group_id.map(|gid| {
            Arc::new(GroupShared::new(
                GroupConfig {
                    group_id: gid,
                    instance_id,
                    session_timeout_ms: clamp_i32(session_timeout_ms),
                    rebalance_timeout_ms: clamp_i32(config.int("max.poll.interval.ms")),
                    heartbeat_interval: config
                        .ms("heartbeat.interval.ms")
                        .max(Duration::from_millis(1)),
                    max_poll_interval: config.ms("max.poll.interval.ms"),
                    request_timeout,
                    retry_backoff,
                    strategies,
                },
                cluster.clone(),
                client_id.clone(),
                events.clone(),
                metrics.clone(),
            ))
        });
        let kip848 = (consumer_protocol && group.is_some()).then(|| {
            Arc::new(consumer_protocol::Kip848::new(
                remote_assignor,
                config.ms("heartbeat.interval.ms"),
            ))
        });
        let fetcher = Fetcher::new(
            cluster.clone(),
            client_id.clone(),
            FetchConfig {
                min_bytes: clamp_i32(config.int("fetch.min.bytes")),
                max_wait_ms: clamp_i32(config.int("fetch.max.wait.ms")),
                max_bytes: clamp_i32(config.int("fetch.max.bytes")),
                partition_max_bytes: clamp_i32(config.int("max.partition.fetch.bytes")),
                read_committed,
                request_timeout,
                retry_backoff,
                reset,
            },
            metrics.clone(),
        );
        let now = Instant::now();
        let auto_commit_interval = config.ms("auto.commit.interval.ms");
        Ok(Consumer {
            cluster,
            client_id,
            group,
            kip848,
            fetcher,
            mode: Mode::None,
            subscription: Vec::new(),
            protocol,
            max_poll_records: max_poll_records as usize,
            auto_commit: config.bool("enable.auto.commit"),
            auto_commit_interval,
            next_auto_commit: now + auto_commit_interval,
            metadata_max_age: config
                .ms("metadata.max.age.ms")
                .max(Duration::from_millis(100)),
            next_metadata_check: now,
            request_timeout,
            retry_backoff,
            heartbeat_task: None,
            join_task: None,
            owned_generation: -1,
            leader_counts: None,
            last_poll: None,
            events,
            metrics,
            background: JoinSet::new(),
            async_chain: None,
            offset_fetch_retry_at: None,
        })
    }

    /// The client id (also the `client_id` metric label).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Subscribes to `topics` (group management; needs `group.id`). The group is joined
    /// by the next `poll()`; a changed subscription triggers a rejoin.
    pub fn subscribe(&mut self, topics: &[String]) {
        let mut t: Vec<String> = topics.to_vec();
        t.sort();
        t.dedup();
        if self.mode == Mode::Manual {
            self.fetcher.clear();
        }
        let changed = t != self.subscription;
        self.subscription = t;
        self.mode = Mode::Subscribed;
        if let Some(g) = &self.group {
            let mut st = g.state.lock();
            if changed && st.phase != Phase::Unjoined {
                st.rejoin_needed = true;
            }
        }
    }

    /// Assigns partitions manually: no group membership, no rebalances. Positions come
    /// from the group's committed offsets when `group.id` is set, else from
    /// `auto.offset.reset`.
    pub async fn assign(&mut self, partitions: Vec<(String, i32)>) -> Result<(), ClientError> {
        if self.mode == Mode::Subscribed {
            return Err(ClientError::Other(
                "subscribe() and assign() are mutually exclusive on one consumer".into(),
            ));
        }
        self.mode = Mode::Manual;
        let want: BTreeSet<(String, i32)> = partitions.into_iter().collect();
        let have: BTreeSet<(String, i32)> = self.fetcher.assignment().into_iter().collect();
        let removed: Vec<(String, i32)> = have.difference(&want).cloned().collect();
        let added: Vec<(String, i32)> = want.difference(&have).cloned().collect();
        self.fetcher.remove(&removed);
        self.fetcher.add(&added, self.group.is_some());
        let topics: BTreeSet<String> = want.iter().map(|(t, _)| t.clone()).collect();
        if !topics.is_empty() {
            self.cluster
                .refresh(&topics.into_iter().collect::<Vec<_>>())
                .await?;
        }
        Ok(())
    }

    /// The partitions currently assigned, sorted.
    pub fn assignment(&self) -> Vec<(String, i32)> {
        self.fetcher.assignment()
    }

    /// The member id while in a group.
    pub fn member_id(&self) -> Option<String> {
        let g = self.group.as_ref()?;
        let st = g.state.lock();
        (!st.member_id.is_empty()).then(|| st.member_id.clone())
    }

    /// The current generation (-1 when not a member).
    pub fn generation(&self) -> i32 {
        self.group
            .as_ref()
            .map_or(-1, |g| g.state.lock().generation)
    }

    /// Membership events (revoked, assigned, lost, join started, left).
    pub fn events(&self) -> broadcast::Receiver<ConsumerEvent> {
        self.events.subscribe()
    }

    pub fn metrics(&self) -> ConsumerMetricsSnapshot {
        self.metrics.snapshot()
    }

    /// Registers this consumer's metrics (labelled with its client id and group).
    pub fn register(&self, registry: &prometheus::Registry) -> prometheus::Result<()> {
        metrics::register(&self.metrics, registry)
    }

    /// Stops heartbeating for `for_` (together with not polling: a process pause such
    /// as a long GC or SIGSTOP). Past `session.timeout.ms` the coordinator evicts the
    /// member; past `max.poll.interval.ms` the member leaves on its own when it wakes.
    pub fn freeze_heartbeats(&self, for_: Duration) {
        if let Some(g) = &self.group {
            g.state.lock().frozen_until = Some(Instant::now() + for_);
            g.hb_wake.notify_one();
        }
    }

    /// The next offset to be returned for a partition, if known.
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        self.fetcher.position(topic, partition)
    }

    /// The positions `auto.offset.reset` moved after OFFSET_OUT_OF_RANGE since the
    /// last call (the records between were deleted before this consumer read them, or,
    /// with `latest`, skipped).
    pub fn take_offset_resets(&mut self) -> Vec<fetcher::OffsetReset> {
        self.fetcher.take_resets()
    }

    /// Moves the position of an assigned partition.
    pub fn seek(&mut self, topic: &str, partition: i32, offset: i64) {
        self.fetcher.seek(topic, partition, offset);
    }

    /// Returns up to `max.poll.records` records, waiting up to `timeout` for some. Also
    /// joins / rejoins the group, commits automatically when due, and keeps the next
    /// fetches in flight while the application processes these records.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>, ClientError> {
        let start = Instant::now();
        if let Some(prev) = self.last_poll {
            self.metrics
                .time_between_poll(start.saturating_duration_since(prev));
        }
        self.last_poll = Some(start);
        if let Some(g) = &self.group {
            g.state.lock().last_poll = start;
        }
        match self.mode {
            Mode::None => {
                return Err(ClientError::Other(
                    "consumer is not subscribed to any topics or assigned any partitions".into(),
                ))
            }
            Mode::Subscribed if self.group.is_none() => {
                return Err(ClientError::Config(
                    "subscribe() needs group.id (or use assign())".into(),
                ))
            }
            _ => {}
        }
        let deadline = start + timeout;
        loop {
            while self.background.try_join_next().is_some() {}
            if let Some(g) = &self.group {
                if let Some(e) = g.state.lock().fatal.clone() {
                    return Err(e);
                }
            }
            if self.mode == Mode::Subscribed {
                self.poll_group().await?;
            }
            self.maybe_auto_commit();
            self.fetcher.refresh_metadata_if_needed().await;
            self.update_positions().await?;
            if let Some(e) = self.fetcher.take_error() {
                return Err(e);
            }
            self.fetcher.drain_responses();
            let records = self.fetcher.take(self.max_poll_records);
            self.fetcher.send_fetches();
            if !records.is_empty() {
                return Ok(records);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(records);
            }
            // Wake for the next backoff or auto-commit that is still ahead.
            let mut wake = deadline;
            let offset_fetch = self
                .offset_fetch_retry_at
                .filter(|_| self.fetcher.has_need_committed());
            let auto_commit =
                (self.auto_commit && self.group.is_some()).then_some(self.next_auto_commit);
            for t in [self.fetcher.next_retry(), offset_fetch, auto_commit]
                .into_iter()
                .flatten()
            {
                if t > now {
                    wake = wake.min(t);
                }
            }
            let w = tokio::select! {
                r = self.fetcher.recv() => Wake::Fetch(r),
                j = join_wait(&mut self.join_task) => Wake::Join(j),
                _ = group_wake(&self.group) => Wake::Other,
                _ = tokio::time::sleep_until(wake) => Wake::Other,
            };
            match w {
                Wake::Fetch(Some(r)) => self.fetcher.handle(r),
                Wake::Fetch(None) | Wake::Other => {}
                Wake::Join(j) => {
                    self.join_task = None;
                    self.on_join_complete(j).await?;
                }
            }
        }
    }

    fn emit(&self, e: ConsumerEvent) {
        let _ = self.events.send(e);
    }

    /// Leaves cleanly: commits (with auto-commit), revokes, sends LeaveGroup (unless
    /// static, `group.instance.id`), then stops.
    pub async fn close(mut self) -> Result<(), ClientError> {
        let mut result = Ok(());
        if let Some(h) = self.join_task.take() {
            h.abort();
            // Its JoinGroup may be parked on the coordinator connection, and brokers
            // answer one request at a time per connection: leave over a fresh one.
            if let Some(g) = &self.group {
                g.coordinator_unknown();
            }
        }
        if let Some(g) = self.group.clone() {
            let (phase, member, epoch) = {
                let st = g.state.lock();
                (st.phase, st.member_id.clone(), st.generation)
            };
            let active = self.mode == Mode::Manual || phase == Phase::Stable;
            if self.auto_commit && active && !self.fetcher.assignment().is_empty() {
                if let Err(e) = self.commit_positions(None).await {
                    tracing::warn!(group = %g.cfg.group_id, "commit on close failed: {e}");
                    result = Err(e);
                }
            }
            if self.mode == Mode::Subscribed {
                if let Some(h) = self.heartbeat_task.take() {
                    h.abort();
                }
                let owned = self.fetcher.assignment();
                if !owned.is_empty() {
                    self.fetcher.clear();
                    self.emit(ConsumerEvent::Revoked {
                        partitions: owned,
                        at: Instant::now(),
                    });
                }
                if self.kip848.is_some() {
                    if let Err(e) = consumer_protocol::leave(&g, &member, epoch).await {
                        tracing::debug!(group = %g.cfg.group_id, "leave heartbeat on close failed: {e}");
                    }
                } else if !g.is_static() && !member.is_empty() {
                    if let Err(e) =
                        group::leave_group(&g, &member, "the consumer is being closed").await
                    {
                        tracing::debug!(group = %g.cfg.group_id, "LeaveGroup on close failed: {e}");
                    }
                }
                {
                    let mut st = g.state.lock();
                    st.phase = Phase::Unjoined;
                    st.generation = -1;
                    st.member_id.clear();
                }
                self.emit(ConsumerEvent::LeftGroup {
                    reason: group::LEFT_CLOSE,
                    at: Instant::now(),
                });
            }
        }
        // Let async commits finish (bounded).
        self.flush_async_commits().await;
        self.stop();
        result
    }

    /// Stops everything at once, like `kill -9`: no LeaveGroup, no commit; connections
    /// drop. The group notices after `session.timeout.ms`.
    pub fn crash(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(h) = self.heartbeat_task.take() {
            h.abort();
        }
        if let Some(h) = self.join_task.take() {
            h.abort();
        }
        self.background.abort_all();
        self.fetcher.shutdown();
        if let Some(g) = &self.group {
            g.coordinator_unknown();
        }
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.stop();
    }
}
