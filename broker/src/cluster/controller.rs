//! The controller: owns the [`ClusterMetadata`] behind one lock, applies node loss and
//! return (quorum + leader elections), topic changes and leaders' ISR proposals, counts
//! what it did, and tells every node that the metadata changed (a `watch` channel
//! standing in for the replicated KRaft metadata log the nodes would read).
//!
//! Across separate processes each node holds a `Controller` too, as its local copy of
//! the committed metadata: [`crate::quorum`] installs every committed image into it
//! ([`Controller::install`]) and its [`Controller::writer`] sends changes to the
//! quorum's active controller, which applies them to a `Controller` of its own.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::command::{IsrProposals, MetadataWriter};
use super::metadata::{ClusterMetadata, LeaderChange, MetadataError, NewTopic, TopicMeta};
use crate::config::{BrokerConfig, BrokerKey, TopicConfig, TopicKey};
use crate::faults::Faults;
use crate::group::offsets::Committed;
use crate::group::state::StoredGroup;
use crate::metrics::help;
use crate::replication::election::Election;
use crate::replication::quorum::majority;
use crate::replication::BrokerId;

/// Controller metrics (Kafka reports them on the active controller).
#[derive(Clone)]
pub struct ControllerMetrics {
    pub leader_elections: IntCounterVec,
    pub offline_partitions: IntGauge,
    pub active_controller: IntGauge,
    pub quorum_voters: IntGauge,
    pub quorum_majority_up: IntGauge,
    pub live_brokers: IntGauge,
}

impl ControllerMetrics {
    pub fn new() -> Result<ControllerMetrics, prometheus::Error> {
        let gauge = |n: &str| IntGauge::with_opts(Opts::new(n, help(n)));
        Ok(ControllerMetrics {
            leader_elections: IntCounterVec::new(
                Opts::new(
                    "kafkalab_controller_leader_elections_total",
                    help("kafkalab_controller_leader_elections_total"),
                ),
                &["election"],
            )?,
            offline_partitions: gauge("kafkalab_controller_offline_partitions")?,
            active_controller: gauge("kafkalab_controller_active_controller_id")?,
            quorum_voters: gauge("kafkalab_controller_quorum_voters")?,
            quorum_majority_up: gauge("kafkalab_controller_quorum_majority_up")?,
            live_brokers: gauge("kafkalab_controller_live_brokers")?,
        })
    }

    pub fn register(&self, r: &Registry) -> Result<(), prometheus::Error> {
        r.register(Box::new(self.leader_elections.clone()))?;
        r.register(Box::new(self.offline_partitions.clone()))?;
        r.register(Box::new(self.active_controller.clone()))?;
        r.register(Box::new(self.quorum_voters.clone()))?;
        r.register(Box::new(self.quorum_majority_up.clone()))?;
        r.register(Box::new(self.live_brokers.clone()))?;
        Ok(())
    }
}

/// One group's committed offsets by (topic, partition).
pub type GroupOffsets = BTreeMap<(String, i32), Committed>;

pub struct Controller {
    meta: RwLock<ClusterMetadata>,
    changed: watch::Sender<u64>,
    pub metrics: ControllerMetrics,
    pub registry: Registry,
    /// Broker-level defaults (topic `unclean.leader.election.enable` falls back to it).
    base_config: BrokerConfig,
    pub cluster_id: String,
    next_producer_id: AtomicI64,
    last_rebalance_ms: AtomicI64,
    /// Committed offsets of every group, shared by the nodes. Stands in for the
    /// replicated `__consumer_offsets` topic: a group keeps its positions when its
    /// coordinator node changes (each node still keeps its own durable copy).
    offsets: parking_lot::Mutex<HashMap<String, GroupOffsets>>,
    /// Every classic group's stored metadata (members, generation, assignments), also
    /// standing in for `__consumer_offsets`: a group's new coordinator loads it.
    groups: parking_lot::Mutex<HashMap<String, StoredGroup>>,
    /// Injected network and disk faults, shared by every node.
    pub faults: Arc<Faults>,
    /// Set in a node of separate processes: this controller is then the node's local
    /// copy of the committed metadata (installed by [`crate::quorum`]), and changes go
    /// to the active controller through this writer.
    remote: OnceLock<Arc<dyn MetadataWriter>>,
    /// Separate processes: whether this node's voter is in touch with an active
    /// controller (it is the leader with a majority, or heard from one lately).
    contact: AtomicBool,
    /// Separate processes: the ISR changes this node's leaders proposed, until the
    /// controller recorded them ([`crate::quorum::client::run_isr_sync`]).
    pub isr_proposals: Arc<IsrProposals>,
    /// Separate processes: the version of the installed committed image.
    installed_version: AtomicU64,
    /// Separate processes: this process's incarnation (see [`super::metadata::NodeInfo::incarnation`]).
    incarnation: AtomicU64,
}

/// Everything the controller owns, as the networked quorum ships and stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetadataImage {
    pub meta: ClusterMetadata,
    /// group → (topic, partition, committed)
    pub offsets: BTreeMap<String, Vec<(String, i32, Committed)>>,
    /// group → its stored metadata (absent in images from before groups were stored).
    #[serde(default)]
    pub groups: BTreeMap<String, StoredGroup>,
    pub next_producer_id: i64,
}

impl Controller {
    pub fn new(
        voters: &[BrokerId],
        base_config: BrokerConfig,
        cluster_id: String,
    ) -> Result<Arc<Controller>, prometheus::Error> {
        let metrics = ControllerMetrics::new()?;
        let registry = Registry::new();
        metrics.register(&registry)?;
        Ok(Self::with_metrics(
            voters,
            base_config,
            cluster_id,
            metrics,
            registry,
        ))
    }

    /// A controller counting into `metrics` (registered in `registry`): the quorum's
    /// active controller counts its elections into its node's metrics.
    pub fn with_metrics(
        voters: &[BrokerId],
        base_config: BrokerConfig,
        cluster_id: String,
        metrics: ControllerMetrics,
        registry: Registry,
    ) -> Arc<Controller> {
        metrics.quorum_voters.set(voters.len() as i64);
        metrics.active_controller.set(-1);
        Arc::new(Controller {
            meta: RwLock::new(ClusterMetadata::new(voters)),
            changed: watch::channel(0).0,
            metrics,
            registry,
            base_config,
            cluster_id,
            next_producer_id: AtomicI64::new(0),
            last_rebalance_ms: AtomicI64::new(i64::MIN),
            offsets: parking_lot::Mutex::default(),
            groups: parking_lot::Mutex::default(),
            faults: Arc::new(Faults::new(0)),
            remote: OnceLock::new(),
            contact: AtomicBool::new(false),
            incarnation: AtomicU64::new(0),
            installed_version: AtomicU64::new(0),
            isr_proposals: Arc::default(),
        })
    }

    /// Makes this controller a node's local copy of a networked quorum's metadata:
    /// changes go to `writer`; `incarnation` identifies this process start.
    pub fn set_remote(&self, writer: Arc<dyn MetadataWriter>, incarnation: u64) {
        self.incarnation.store(incarnation, Ordering::Relaxed);
        if self.remote.set(writer).is_err() {
            tracing::warn!("the controller's remote writer was already set");
        }
    }

    pub fn is_remote(&self) -> bool {
        self.remote.get().is_some()
    }

    /// Where this node's metadata changes go: the controller itself in one process,
    /// the quorum's active controller across processes.
    pub fn writer(&self) -> &dyn MetadataWriter {
        match self.remote.get() {
            Some(w) => w.as_ref(),
            None => self,
        }
    }

    /// Separate processes: the local voter's contact with an active controller.
    pub fn set_contact(&self, contact: bool) {
        self.contact.store(contact, Ordering::Relaxed);
    }

    /// Whether node `id` may act on the metadata: always in one process; across
    /// processes once the committed metadata names this incarnation of it alive (so a
    /// restarted process neither drops its logs for a still-empty copy nor leads on a
    /// stale one before the controller fenced its previous start).
    pub fn ready(&self, id: BrokerId) -> bool {
        if !self.is_remote() {
            return true;
        }
        let me = self.incarnation.load(Ordering::Relaxed);
        self.read(|m| {
            m.nodes
                .get(&id)
                .is_some_and(|n| n.alive && n.incarnation == me)
        })
    }

    /// Returns once [`Controller::ready`] holds.
    pub async fn wait_ready(&self, id: BrokerId) {
        let mut rx = self.subscribe();
        while !self.ready(id) {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Replaces everything with a committed image (a node of separate processes), or
    /// loads the stored image (the quorum's active controller).
    pub fn install(&self, image: MetadataImage) {
        self.install_at(image, 0);
    }

    /// The version of the last committed image installed (separate processes).
    pub fn installed_version(&self) -> u64 {
        self.installed_version.load(Ordering::Relaxed)
    }

    /// [`Controller::install`] of the committed image with this version.
    pub fn install_at(&self, image: MetadataImage, version: u64) {
        self.installed_version.store(version, Ordering::Relaxed);
        {
            let mut all = self.offsets.lock();
            all.clear();
            for (group, entries) in image.offsets {
                let g = all.entry(group).or_default();
                for (t, p, c) in entries {
                    g.insert((t, p), c);
                }
            }
        }
        *self.groups.lock() = image.groups.into_iter().collect();
        self.next_producer_id
            .store(image.next_producer_id, Ordering::Relaxed);
        let mut meta = self.meta.write();
        *meta = image.meta;
        let version = meta.version;
        self.refresh_gauges(&meta);
        drop(meta);
        self.changed.send_replace(version);
    }

    /// Everything this controller holds, as an image.
    pub fn export(&self) -> MetadataImage {
        let offsets = self
            .offsets
            .lock()
            .iter()
            .map(|(g, entries)| {
                let list = entries
                    .iter()
                    .map(|((t, p), c)| (t.clone(), *p, c.clone()))
                    .collect();
                (g.clone(), list)
            })
            .collect();
        let groups = self
            .groups
            .lock()
            .iter()
            .map(|(g, s)| (g.clone(), s.clone()))
            .collect();
        MetadataImage {
            meta: self.read(|m| m.clone()),
            offsets,
            groups,
            next_producer_id: self.next_producer_id.load(Ordering::Relaxed),
        }
    }

    /// The networked quorum elected `id` in `term`: recorded in the metadata, and
    /// partitions whose leader is gone get one.
    pub fn set_elected(&self, id: BrokerId, term: u64) -> Vec<LeaderChange> {
        let unclean = self.unclean_fn();
        let changes = self.write(|m| {
            m.quorum
                .set_elected(id, u32::try_from(term).unwrap_or(u32::MAX));
            m.version += 1;
            m.elect_where_needed(&unclean)
        });
        self.count(&changes);
        changes
    }

    /// Reads the metadata under the lock.
    pub fn read<R>(&self, f: impl FnOnce(&ClusterMetadata) -> R) -> R {
        f(&self.meta.read())
    }

    /// Notified on every metadata change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn write<R>(&self, f: impl FnOnce(&mut ClusterMetadata) -> R) -> R {
        let mut meta = self.meta.write();
        let before = meta.version;
        let out = f(&mut meta);
        let version = meta.version;
        self.refresh_gauges(&meta);
        drop(meta);
        if version != before {
            self.changed.send_replace(version);
        }
        out
    }

    fn refresh_gauges(&self, meta: &ClusterMetadata) {
        let m = &self.metrics;
        m.offline_partitions.set(meta.offline_partitions() as i64);
        m.active_controller
            .set(meta.quorum.controller.map_or(-1, i64::from));
        let up = meta
            .quorum
            .voters()
            .iter()
            .filter(|&&v| meta.is_alive(v))
            .count();
        m.quorum_majority_up
            .set(i64::from(up >= majority(meta.quorum.voters().len())));
        m.live_brokers.set(meta.live_nodes().len() as i64);
    }

    fn unclean_fn(&self) -> impl Fn(&TopicMeta) -> bool + '_ {
        move |t: &TopicMeta| {
            t.config
                .get(&self.base_config, TopicKey::UncleanLeaderElectionEnable)
                .trim()
                .eq_ignore_ascii_case("true")
        }
    }

    fn count(&self, changes: &[LeaderChange]) {
        for c in changes {
            let kind = match c.election {
                _ if c.preferred => "preferred",
                Election::Clean(_) => "clean",
                Election::Unclean(_) => "unclean",
                Election::Offline => "offline",
            };
            self.metrics
                .leader_elections
                .with_label_values(&[kind])
                .inc();
            tracing::info!(
                topic = %c.topic,
                partition = c.partition,
                leader = ?c.election.leader(),
                epoch = c.leader_epoch,
                "leader election ({kind})"
            );
        }
    }

    /// A node starts (or restarts) serving at `host:port`.
    pub fn node_up(&self, id: BrokerId, host: String, port: u16) -> Vec<LeaderChange> {
        self.register(id, host, port, 0)
    }

    /// [`Controller::node_up`] for one incarnation of a node's process.
    pub fn register(
        &self,
        id: BrokerId,
        host: String,
        port: u16,
        incarnation: u64,
    ) -> Vec<LeaderChange> {
        let unclean = self.unclean_fn();
        let changes = self.write(|m| {
            let changes = m.set_node(id, Some((host, port)), true, &unclean);
            if let Some(n) = m.nodes.get_mut(&id) {
                n.incarnation = incarnation;
            }
            changes
        });
        self.count(&changes);
        changes
    }

    /// A node is lost (crash or stop): its partitions get new leaders.
    pub fn node_down(&self, id: BrokerId) -> Vec<LeaderChange> {
        let unclean = self.unclean_fn();
        let changes = self.write(|m| m.set_node(id, None, false, &unclean));
        self.count(&changes);
        changes
    }

    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        assignment: Option<Vec<Vec<BrokerId>>>,
        config: TopicConfig,
        validate_only: bool,
    ) -> Result<TopicMeta, MetadataError> {
        let partitions = if partitions == -1 {
            self.base_config.num_partitions
        } else {
            partitions
        };
        let rf = if replication_factor == -1 {
            self.base_config.default_replication_factor
        } else {
            replication_factor
        };
        let new = NewTopic {
            name: name.to_string(),
            id: kafkalab_sim::random::uuid(),
            partitions,
            replication_factor: rf,
            assignment,
            config,
        };
        self.write(|m| m.create_topic(new, validate_only))
    }

    pub fn delete_topic(&self, name: &str) -> Result<TopicMeta, MetadataError> {
        self.write(|m| m.delete_topic(name))
    }

    pub fn add_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), MetadataError> {
        self.write(|m| m.add_partitions(name, count, validate_only))
    }

    pub fn set_topic_config(&self, name: &str, config: TopicConfig) -> Result<(), MetadataError> {
        self.write(|m| m.set_topic_config(name, config))
    }

    /// A leader's AlterPartition proposal.
    pub fn alter_isr(
        &self,
        topic: &str,
        partition: i32,
        leader: BrokerId,
        leader_epoch: i32,
        isr: &[BrokerId],
    ) -> Result<(), MetadataError> {
        self.write(|m| m.alter_isr(topic, partition, leader, leader_epoch, isr))
    }

    /// Runs the preferred-leader rebalance when `auto.leader.rebalance.enable` is on
    /// and `leader.imbalance.check.interval.seconds` has passed since the last check.
    /// Called by every node's replica manager; only the active controller acts.
    pub fn maybe_rebalance(&self, node: BrokerId, now_ms: i64) -> Vec<LeaderChange> {
        let cfg = &self.base_config;
        // A node's copy of a networked quorum's metadata: the active controller runs it.
        if self.is_remote()
            || !cfg.bool(BrokerKey::AutoLeaderRebalanceEnable)
            || self.read(|m| m.quorum.controller) != Some(node)
        {
            return Vec::new();
        }
        let interval = cfg.int(BrokerKey::LeaderImbalanceCheckIntervalSeconds) * 1000;
        let last = self.last_rebalance_ms.load(Ordering::Relaxed);
        if last == i64::MIN {
            // The first check comes one interval after the controller starts.
            self.last_rebalance_ms.store(now_ms, Ordering::Relaxed);
            return Vec::new();
        }
        if now_ms - last < interval {
            return Vec::new();
        }
        self.last_rebalance_ms.store(now_ms, Ordering::Relaxed);
        let pct = cfg.int(BrokerKey::LeaderImbalancePerBrokerPercentage) as f64;
        let changes = self.write(|m| m.rebalance_preferred(pct));
        self.count(&changes);
        changes
    }

    /// The network changed: re-reads which node pairs can talk from the link rules.
    /// Returns whether the controller's view changed.
    pub fn refresh_links(&self) -> bool {
        let ids: Vec<BrokerId> = self.read(|m| m.quorum.voters().to_vec());
        let links = self.faults.links();
        let mut cut = std::collections::BTreeSet::new();
        for (i, &a) in ids.iter().enumerate() {
            for &b in &ids[i + 1..] {
                if !links.reachable(a, b) {
                    cut.insert((a.min(b), a.max(b)));
                }
            }
        }
        if self.read(|m| m.cut == cut) {
            return false;
        }
        let unclean = self.unclean_fn();
        let changes = self.write(|m| m.set_cut(cut, &unclean));
        self.count(&changes);
        true
    }

    /// Whether node `id` reaches the active controller: only then does it see metadata
    /// changes and may it change an ISR.
    pub fn reaches_controller(&self, id: BrokerId) -> bool {
        if self.is_remote() {
            return self.contact.load(Ordering::Relaxed);
        }
        self.read(|m| m.reaches_controller(id))
    }

    pub fn has_controller(&self) -> bool {
        if self.is_remote() {
            return self.contact.load(Ordering::Relaxed);
        }
        self.read(|m| m.quorum.has_controller())
    }

    /// Producer ids are unique across the cluster (Kafka's controller hands out blocks).
    pub fn allocate_producer_id(&self) -> i64 {
        self.next_producer_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The group coordinator for `key`: a node picked by a hash of the key over all
    /// nodes (stable while they live), else the next live one. It serves the group
    /// from memory; the group's stored metadata and committed offsets, kept in this
    /// metadata, let the next coordinator take over.
    pub fn coordinator_for(&self, key: &str) -> Option<(BrokerId, String, u16)> {
        // FNV-1a: stable across runs, unlike the std hasher.
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        self.read(|m| {
            let nodes: Vec<_> = m.nodes.values().collect();
            let n = nodes.len();
            (0..n)
                .map(|i| nodes[(hash as usize + i) % n])
                .find(|node| node.alive)
                .map(|node| (node.id, node.host.clone(), node.port))
        })
    }

    /// Records a group's commits (see the `offsets` field).
    pub fn commit_offsets(&self, group: &str, entries: &[(String, i32, Committed)]) {
        let mut all = self.offsets.lock();
        let g = all.entry(group.to_string()).or_default();
        for (t, p, c) in entries {
            g.insert((t.clone(), *p), c.clone());
        }
    }

    /// A group's committed offsets.
    pub fn committed_offsets(&self, group: &str) -> GroupOffsets {
        self.offsets.lock().get(group).cloned().unwrap_or_default()
    }

    /// Drops a group's offsets: the listed partitions, or all of them.
    pub fn delete_offsets(&self, group: &str, partitions: Option<&[(String, i32)]>) {
        let mut all = self.offsets.lock();
        match partitions {
            None => {
                all.remove(group);
            }
            Some(list) => {
                if let Some(g) = all.get_mut(group) {
                    for tp in list {
                        g.remove(tp);
                    }
                }
            }
        }
    }

    /// Records a group's metadata, or forgets it (`None`: the group was deleted).
    pub fn store_group(&self, group: &str, snapshot: Option<StoredGroup>) {
        let mut all = self.groups.lock();
        match snapshot {
            Some(s) => {
                all.insert(group.to_string(), s);
            }
            None => {
                all.remove(group);
            }
        }
    }

    /// A group's stored metadata.
    pub fn stored_group(&self, group: &str) -> Option<StoredGroup> {
        self.groups.lock().get(group).cloned()
    }

    /// The address of a live node.
    pub fn address(&self, id: BrokerId) -> Option<(String, u16)> {
        self.read(|m| {
            m.nodes
                .get(&id)
                .filter(|n| n.alive)
                .map(|n| (n.host.clone(), n.port))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_groups_go_through_commands_and_the_shipped_image() {
        use crate::cluster::command::Command;
        use crate::group::state::StoredMember;
        let cfg = BrokerConfig::from_pairs(&[]).expect("config");
        let c = Controller::new(&[1, 2, 3], cfg.clone(), "test".into()).expect("controller");
        let stored = StoredGroup {
            protocol_type: Some("consumer".into()),
            generation_id: 4,
            protocol_name: Some("range".into()),
            leader: Some("m-1".into()),
            members: vec![StoredMember {
                member_id: "m-1".into(),
                instance_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                session_timeout_ms: 10_000,
                rebalance_timeout_ms: 30_000,
                subscription: vec![0, 1],
                assignment: vec![2, 3],
            }],
        };
        c.apply(Command::StoreGroup {
            group: "g".into(),
            snapshot: Some(stored.clone()),
        })
        .expect("stored");
        // The networked quorum ships the image as JSON to every node's copy.
        let json = serde_json::to_string(&c.export()).expect("serialize");
        let image: MetadataImage = serde_json::from_str(&json).expect("deserialize");
        let copy = Controller::new(&[1, 2, 3], cfg, "test".into()).expect("controller");
        copy.install(image);
        assert_eq!(copy.stored_group("g"), Some(stored));
        c.apply(Command::StoreGroup {
            group: "g".into(),
            snapshot: None,
        })
        .expect("deleted");
        assert_eq!(c.stored_group("g"), None);
    }

    fn committed(offset: i64) -> Committed {
        Committed {
            offset,
            leader_epoch: -1,
            metadata: None,
            commit_ms: 0,
        }
    }

    #[test]
    fn committed_offsets_are_shared_and_deleted_per_partition_or_group() {
        let cfg = BrokerConfig::from_pairs(&[]).expect("config");
        let c = Controller::new(&[1, 2, 3], cfg, "test".into()).expect("controller");
        c.commit_offsets(
            "g",
            &[("t".into(), 0, committed(5)), ("t".into(), 1, committed(7))],
        );
        c.commit_offsets("g", &[("t".into(), 0, committed(9))]);
        let all = c.committed_offsets("g");
        assert_eq!(all.get(&("t".into(), 0)).map(|c| c.offset), Some(9));
        c.delete_offsets("g", Some(&[("t".into(), 0)]));
        assert_eq!(c.committed_offsets("g").len(), 1);
        c.delete_offsets("g", None);
        assert!(c.committed_offsets("g").is_empty());
    }

    #[test]
    fn a_group_keeps_its_coordinator_while_it_lives() {
        let cfg = BrokerConfig::from_pairs(&[]).expect("config");
        let c = Controller::new(&[1, 2, 3], cfg, "test".into()).expect("controller");
        for id in 1..=3 {
            c.node_up(id, "127.0.0.1".into(), 9000 + id as u16);
        }
        let (first, _, _) = c.coordinator_for("billing").expect("coordinator");
        assert_eq!(c.coordinator_for("billing").map(|x| x.0), Some(first));
        c.node_down(first);
        let (next, _, _) = c.coordinator_for("billing").expect("another");
        assert_ne!(next, first);
        assert!(c.metrics.active_controller.get() > 0);
    }
}
