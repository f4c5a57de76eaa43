//! A replicated cluster of N broker nodes in one process (separate processes:
//! [`crate::quorum`]).
//!
//! Each node is a full broker ([`crate::server::start_node`]) with its own listener on
//! 127.0.0.1, its own log directory and its own replica manager ([`manager`]); the
//! nodes share one [`controller::Controller`] through an `Arc`. That shared controller
//! stands in for the KRaft metadata log: in Kafka the active controller appends
//! metadata records that every broker replays, here every node reads the controller's
//! [`metadata::ClusterMetadata`] and is woken on each change. The quorum rules still
//! apply (no majority of voters up: no controller, no elections, no ISR changes).
//!
//! Replication itself goes over the wire like Kafka's: followers send Fetch requests
//! with their replica id to the leader's listener ([`fetcher`]); the leader tracks
//! them in its [`crate::replication::isr::IsrState`] ([`replica`]).
//!
//! Divergent logs are resolved by leader epoch (KIP-101 / KIP-279): a leader stamps
//! its epoch into each batch it appends and records where its epoch starts; every
//! replica keeps that history in its leader epoch cache
//! ([`crate::replication::epoch_cache`], `leader-epoch-checkpoint` in the partition
//! directory). A replica that becomes a follower (a new leader epoch, or a restart)
//! does not fetch until its fetcher has asked the leader with OffsetForLeaderEpoch
//! where its latest epoch ends there and truncated at that offset
//! ([`crate::replication::truncation`]); the high watermark ([`checkpoint`]) is only
//! the fallback when it has no epoch cached.
//!
//! Failure detection is immediate: [`Cluster::crash`] tells the controller at once (as
//! a broker session timeout would, later), which elects new leaders for what the node
//! led. The node stays in the ISR of partitions it followed until their leader's lag
//! check removes it after `replica.lag.time.max.ms`, as Kafka's leaders do.
//!
//! Network and disk faults ([`crate::faults`], applied by [`Cluster::execute`]) are
//! watched by a supervisor task: the controller re-reads which nodes can talk (a
//! minority side loses the controller), and a node cut off from the active controller
//! for `broker.session.timeout.ms` is fenced (its partitions get new leaders, as KRaft
//! does with a broker whose heartbeats stop arriving); it registers again once the
//! network lets it reach the controller.

pub mod checkpoint;
pub mod command;
pub mod controller;
pub mod fetcher;
pub mod group_store;
pub mod manager;
pub mod metadata;
pub mod replica;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::broker::{Broker, BrokerError};
use crate::clock::Clock;
use crate::config::{BrokerConfig, BrokerKey};
use crate::faults::control::FaultCommand;
use crate::faults::{Faults, LinkError, Node as FaultNode};
use crate::replication::BrokerId;
use crate::server::{start_node, RunningBroker};
use crate::storage::file::FileStorage;
use crate::storage::Storage;
use controller::Controller;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("no node {0} in this cluster")]
    UnknownNode(BrokerId),
    #[error("node {0} is not running")]
    NotRunning(BrokerId),
    #[error("node {0} is already running")]
    AlreadyRunning(BrokerId),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    Inject(#[from] crate::faults::InjectError),
}

struct Node {
    id: BrokerId,
    config: BrokerConfig,
    storage: Arc<dyn Storage>,
    running: Option<RunningBroker>,
}

/// The nodes of an in-process cluster and its controller.
pub struct Cluster {
    pub controller: Arc<Controller>,
    clock: Arc<dyn Clock>,
    nodes: Vec<Node>,
    running: ClusterMetrics,
    supervisor: tokio::task::AbortHandle,
}

/// Scrape-time view of a cluster's metrics: the controller's and every running
/// node's (each labelled `node`), following crashes and restarts.
#[derive(Clone)]
pub struct ClusterMetrics {
    controller: Arc<Controller>,
    brokers: Arc<RwLock<BTreeMap<BrokerId, Arc<Broker>>>>,
}

impl ClusterMetrics {
    /// Refreshes the nodes' gauges and gathers every family.
    pub fn gather(&self) -> Vec<prometheus::proto::MetricFamily> {
        let brokers: Vec<Arc<Broker>> = self.brokers.read().values().cloned().collect();
        let mut out = self.controller.registry.gather();
        for b in brokers {
            b.refresh_gauges();
            out.extend(b.registry.gather());
        }
        crate::http::merge(out)
    }
}

impl Cluster {
    /// Starts `n` nodes (ids 0..n, as scenario targets number them; all controller voters) from `base`: each listens on
    /// 127.0.0.1 at a free port and keeps its logs in `<log_root>/node-<id>`. The
    /// per-node metrics listener is off (serve the nodes' registries together).
    pub async fn start(
        n: usize,
        base: &BrokerConfig,
        log_root: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<Cluster, ClusterError> {
        let ids: Vec<BrokerId> = (0..n as BrokerId).collect();
        let cluster_id = kafkalab_sim::random::uuid().simple().to_string()[..22].to_string();
        let controller = Controller::new(&ids, base.clone(), cluster_id)?;
        let mut nodes = Vec::with_capacity(n);
        for &id in &ids {
            let mut config = base.clone();
            config.node_id = id;
            config.listener = SocketAddr::from(([127, 0, 0, 1], 0));
            config.advertised = None;
            config.metrics_listener = None;
            config.log_dir = node_dir(log_root, id);
            let storage: Arc<dyn Storage> = Arc::new(FileStorage::new(config.log_dir.clone()));
            nodes.push(Node {
                id,
                config,
                storage,
                running: None,
            });
        }
        let running = ClusterMetrics {
            controller: controller.clone(),
            brokers: Arc::default(),
        };
        let supervisor = tokio::spawn(supervise(
            controller.clone(),
            running.brokers.clone(),
            std::time::Duration::from_millis(
                base.int(BrokerKey::BrokerSessionTimeoutMs).max(1) as u64
            ),
        ))
        .abort_handle();
        let mut cluster = Cluster {
            controller,
            clock,
            nodes,
            running,
            supervisor,
        };
        for id in ids {
            cluster.start_one(id).await?;
        }
        Ok(cluster)
    }

    async fn start_one(&mut self, id: BrokerId) -> Result<(), ClusterError> {
        let controller = self.controller.clone();
        let clock = self.clock.clone();
        let node = self.node_mut(id)?;
        if node.running.is_some() {
            return Err(ClusterError::AlreadyRunning(id));
        }
        let running = start_node(
            node.config.clone(),
            node.storage.clone(),
            clock,
            Some(controller.clone()),
        )
        .await?;
        // A restart binds the port it had, so clients keep their bootstrap list.
        node.config.listener = running.kafka_addr;
        let (host, port) = running.broker.advertised();
        let broker = running.broker.clone();
        node.running = Some(running);
        self.running.brokers.write().insert(id, broker);
        controller.node_up(id, host, port);
        Ok(())
    }

    fn node_mut(&mut self, id: BrokerId) -> Result<&mut Node, ClusterError> {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .ok_or(ClusterError::UnknownNode(id))
    }

    fn node(&self, id: BrokerId) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    pub fn node_ids(&self) -> Vec<BrokerId> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// The running broker of node `id`.
    pub fn broker(&self, id: BrokerId) -> Option<&Arc<Broker>> {
        self.node(id)?.running.as_ref().map(|r| &r.broker)
    }

    pub fn is_running(&self, id: BrokerId) -> bool {
        self.broker(id).is_some()
    }

    /// `host:port` of node `id` (kept across restarts).
    pub fn address(&self, id: BrokerId) -> Option<SocketAddr> {
        self.node(id).map(|n| n.config.listener)
    }

    /// Every node's address, comma-separated (`bootstrap.servers`).
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(|n| n.config.listener.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The current leader of a partition, if it has one.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<BrokerId> {
        self.controller
            .read(|m| m.partition(topic, partition).and_then(|p| p.leader))
    }

    /// The cluster's metrics, for a scrape endpoint.
    pub fn metrics(&self) -> ClusterMetrics {
        self.running.clone()
    }

    /// Crashes node `id`: it stops serving at once and the controller learns it is gone.
    pub async fn crash(&mut self, id: BrokerId) -> Result<(), ClusterError> {
        let running = self
            .node_mut(id)?
            .running
            .take()
            .ok_or(ClusterError::NotRunning(id))?;
        self.running.brokers.write().remove(&id);
        running.crash().await;
        self.controller.node_down(id);
        tracing::info!(node = id, "node crashed");
        Ok(())
    }

    /// Freezes node `id` for `duration` (a stop-the-world pause): it serves nothing,
    /// fetches nothing, and keeps its connections. Past `broker.session.timeout.ms`
    /// the controller fences it, as KRaft does with a broker that stopped heartbeating
    /// (its partitions get new leaders); when it thaws it registers again and catches
    /// up as a follower.
    pub fn pause(&self, id: BrokerId, duration: std::time::Duration) -> Result<(), ClusterError> {
        let broker = self.broker(id).ok_or(ClusterError::NotRunning(id))?.clone();
        let controller = self.controller.clone();
        let session = std::time::Duration::from_millis(
            broker.config.int(BrokerKey::BrokerSessionTimeoutMs).max(1) as u64,
        );
        broker.set_paused(true);
        tracing::info!(node = id, ?duration, "node paused");
        tokio::spawn(async move {
            let fenced = duration > session;
            tokio::time::sleep(duration.min(session)).await;
            if fenced && broker.is_paused() {
                tracing::info!(node = id, "paused node fenced (broker.session.timeout.ms)");
                controller.node_down(id);
                tokio::time::sleep(duration - session).await;
            }
            broker.set_paused(false);
            // Crashed meanwhile: a restart registers the node itself.
            if fenced && !broker.is_stopped() {
                let (host, port) = broker.advertised();
                controller.node_up(id, host, port);
            }
            tracing::info!(node = id, "node resumed");
        });
        Ok(())
    }

    /// Restarts a crashed node: it recovers its logs, registers again and catches up.
    pub async fn restart(&mut self, id: BrokerId) -> Result<(), ClusterError> {
        self.start_one(id).await?;
        tracing::info!(node = id, "node restarted");
        Ok(())
    }

    /// The cluster's injected faults.
    pub fn faults(&self) -> &Arc<Faults> {
        &self.controller.faults
    }

    /// Applies one fault command; `Ok` with what was done.
    pub async fn execute(&mut self, cmd: FaultCommand) -> Result<String, ClusterError> {
        let faults = self.controller.faults.clone();
        let known = |n: FaultNode| match n {
            FaultNode::Broker(id) if self.node(id).is_none() => Err(ClusterError::UnknownNode(id)),
            _ => Ok(()),
        };
        match &cmd {
            FaultCommand::Link { from, to, .. } | FaultCommand::ClearLink { from, to } => {
                known(*from)?;
                known(*to)?;
            }
            FaultCommand::Partition(groups) => {
                for n in groups.iter().flatten() {
                    known(*n)?;
                }
            }
            FaultCommand::SlowDisk { node, .. } => known(FaultNode::Broker(*node))?,
            FaultCommand::InjectError(rule) => {
                if let Some(node) = rule.node {
                    known(FaultNode::Broker(node))?;
                }
            }
            _ => {}
        }
        match cmd {
            FaultCommand::Link {
                from,
                to,
                latency,
                loss,
                blocked,
            } => faults.edit_links(|l| {
                if let Some(d) = latency {
                    l.set_latency(from, to, d);
                }
                if let Some(b) = blocked {
                    l.set_blocked(from, to, b);
                }
                match loss {
                    Some(p) => l.set_loss(from, to, p),
                    None => Ok(()),
                }
            })?,
            FaultCommand::ClearLink { from, to } => faults.edit_links(|l| l.clear(from, to)),
            FaultCommand::Partition(groups) => faults.edit_links(|l| l.partition(groups))?,
            FaultCommand::Heal => faults.clear(),
            FaultCommand::SlowDisk { node, latency } => faults.set_disk_latency(node, latency),
            FaultCommand::Crash { node } => self.crash(node).await?,
            FaultCommand::Restart { node } => self.restart(node).await?,
            FaultCommand::Pause { node, duration } => self.pause(node, duration)?,
            FaultCommand::InjectError(rule) => faults.inject_error(rule)?,
        }
        // The controller's view follows at once (the supervisor would within a tick).
        self.controller.refresh_links();
        Ok("done".to_string())
    }

    /// Stops every node cleanly (flushing logs and checkpoints).
    pub async fn shutdown(mut self) {
        self.supervisor.abort();
        for node in &mut self.nodes {
            if let Some(r) = node.running.take() {
                r.shutdown().await;
                self.controller.node_down(node.id);
            }
        }
    }
}

/// Watches the network faults: keeps the controller's view of which nodes can talk
/// current, fences a node cut off from the active controller for `session`, and
/// registers it again when it reaches the controller.
async fn supervise(
    controller: Arc<Controller>,
    brokers: Arc<RwLock<BTreeMap<BrokerId, Arc<Broker>>>>,
    session: std::time::Duration,
) {
    let mut changes = controller.faults.subscribe();
    let mut cut_off_since: BTreeMap<BrokerId, tokio::time::Instant> = BTreeMap::new();
    let mut fenced: std::collections::BTreeSet<BrokerId> = Default::default();
    loop {
        controller.refresh_links();
        let now = tokio::time::Instant::now();
        let running: Vec<(BrokerId, Arc<Broker>)> = brokers
            .read()
            .iter()
            .map(|(&id, b)| (id, b.clone()))
            .collect();
        cut_off_since.retain(|id, _| running.iter().any(|(r, _)| r == id));
        fenced.retain(|id| running.iter().any(|(r, _)| r == id));
        // Fencing is the controller's act: without one nothing changes.
        if controller.has_controller() {
            for (id, b) in &running {
                if b.is_paused() {
                    continue;
                }
                if controller.reaches_controller(*id) {
                    cut_off_since.remove(id);
                    if fenced.remove(id) {
                        let (host, port) = b.advertised();
                        tracing::info!(node = id, "node reaches the controller again");
                        controller.node_up(*id, host, port);
                    }
                } else {
                    let since = *cut_off_since.entry(*id).or_insert(now);
                    if now.duration_since(since) >= session && fenced.insert(*id) {
                        tracing::info!(
                            node = id,
                            "node cut off from the controller is fenced (broker.session.timeout.ms)"
                        );
                        controller.node_down(*id);
                    }
                }
            }
        }
        tokio::select! {
            r = changes.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
        }
    }
}

fn node_dir(root: &Path, id: BrokerId) -> PathBuf {
    root.join(format!("node-{id}"))
}
