//! The cluster's metadata as the active controller owns it: the nodes (address and
//! liveness), every topic with its partitions' replicas, leader, leader epoch and ISR,
//! and the controller quorum. Pure: each change is a method that validates, applies and
//! returns what happened; locking, notification and metrics are the
//! [`super::controller::Controller`]'s.
//!
//! Rules (Kafka's KRaft controller):
//! - nothing changes without an active controller (a majority of the voters);
//! - a partition whose leader is lost gets a new leader from the live ISR members in
//!   assignment order ([`crate::replication::election`]), with a bumped leader epoch,
//!   and the lost leader leaves the ISR; with no live ISR member it goes offline (its
//!   ISR kept, so the last leader is elected back cleanly when it returns) unless
//!   `unclean.leader.election.enable` lets any live replica lead;
//! - followers leave and rejoin the ISR only through their leader's AlterPartition
//!   proposals, fenced by the leader epoch;
//! - a returning node leads nothing until an election picks it (offline partitions).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::TopicConfig;
use crate::protocol::errors;
use crate::replication::election::{self, Election};
use crate::replication::placement::{self, PlacementError};
use crate::replication::quorum::QuorumState;
use crate::replication::BrokerId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub id: BrokerId,
    pub host: String,
    pub port: u16,
    pub alive: bool,
    /// Which start of the node's process registered (separate processes only; 0 in
    /// one process): a restarted process is a new incarnation, so the controller
    /// fences the old one before it registers the new.
    #[serde(default)]
    pub incarnation: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionMeta {
    /// Assignment order: the first replica is the preferred leader.
    pub replicas: Vec<BrokerId>,
    pub leader: Option<BrokerId>,
    /// Raised on every leader change; fences stale leaders and their proposals.
    pub leader_epoch: i32,
    pub isr: Vec<BrokerId>,
    /// Raised on every change of this partition (leader or ISR).
    pub partition_epoch: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicMeta {
    pub name: Arc<str>,
    pub id: Uuid,
    pub config: TopicConfig,
    pub partitions: Vec<PartitionMeta>,
}

impl TopicMeta {
    pub fn replication_factor(&self) -> usize {
        self.partitions.first().map_or(0, |p| p.replicas.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum MetadataError {
    #[error("no active controller: a majority of the controller quorum is unreachable")]
    NoController,
    #[error("Topic '{0}' already exists.")]
    TopicExists(String),
    #[error("This server does not host this topic-partition.")]
    UnknownTopicOrPartition,
    #[error("Replication factor: {factor} larger than available brokers: {brokers}.")]
    TooFewBrokers { factor: usize, brokers: usize },
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidAssignment(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("leader {leader} at epoch {epoch} is not the partition's current leader")]
    FencedLeader { leader: BrokerId, epoch: i32 },
    #[error("proposed ISR {0:?} is invalid")]
    InvalidIsr(Vec<BrokerId>),
}

impl MetadataError {
    /// The Kafka error code a client gets for it.
    pub fn code(&self) -> i16 {
        match self {
            MetadataError::NoController => errors::NOT_CONTROLLER,
            MetadataError::TopicExists(_) => errors::TOPIC_ALREADY_EXISTS,
            MetadataError::UnknownTopicOrPartition => errors::UNKNOWN_TOPIC_OR_PARTITION,
            MetadataError::TooFewBrokers { .. } | MetadataError::InvalidReplicationFactor(_) => {
                errors::INVALID_REPLICATION_FACTOR
            }
            MetadataError::InvalidAssignment(_) => errors::INVALID_REPLICA_ASSIGNMENT,
            MetadataError::InvalidPartitions(_) => errors::INVALID_PARTITIONS,
            MetadataError::FencedLeader { .. } => errors::FENCED_LEADER_EPOCH,
            MetadataError::InvalidIsr(_) => errors::INVALID_REQUEST,
        }
    }
}

/// What CreateTopics asks for.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    pub replication_factor: i16,
    /// Explicit replicas per partition instead of placement.
    pub assignment: Option<Vec<Vec<BrokerId>>>,
    pub config: TopicConfig,
}

/// A leader change the controller made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderChange {
    pub topic: Arc<str>,
    pub partition: i32,
    pub election: Election,
    pub leader_epoch: i32,
    /// A preferred-leader rebalance, not a lost leader.
    pub preferred: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterMetadata {
    pub nodes: BTreeMap<BrokerId, NodeInfo>,
    pub topics: BTreeMap<Arc<str>, TopicMeta>,
    pub quorum: QuorumState,
    /// Raised on every change (nodes watch it).
    pub version: u64,
    /// Placement's start index and shift for the next topic (from the run's seed).
    pub placement_seed: (usize, usize),
    /// Node pairs (lower id first) that cannot talk: a network fault the quorum sees.
    pub cut: BTreeSet<(BrokerId, BrokerId)>,
}

impl ClusterMetadata {
    /// Metadata for a cluster whose voters are `voters` (every node votes in the
    /// combined broker+controller mode kafkalab runs).
    pub fn new(voters: &[BrokerId]) -> ClusterMetadata {
        ClusterMetadata {
            nodes: BTreeMap::new(),
            topics: BTreeMap::new(),
            quorum: QuorumState::new(voters),
            version: 0,
            placement_seed: (0, 0),
            cut: BTreeSet::new(),
        }
    }

    pub fn is_alive(&self, id: BrokerId) -> bool {
        self.nodes.get(&id).is_some_and(|n| n.alive)
    }

    pub fn live_nodes(&self) -> Vec<&NodeInfo> {
        self.nodes.values().filter(|n| n.alive).collect()
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionMeta> {
        let i = usize::try_from(partition).ok()?;
        self.topics.get(topic)?.partitions.get(i)
    }

    fn require_controller(&self) -> Result<(), MetadataError> {
        if self.quorum.has_controller() {
            Ok(())
        } else {
            Err(MetadataError::NoController)
        }
    }

    /// A node registers (start or restart) or is lost (crash). Re-evaluates the quorum
    /// and, when there is a controller, elects leaders where needed. `unclean(topic)` is
    /// the topic's `unclean.leader.election.enable`.
    pub fn set_node(
        &mut self,
        id: BrokerId,
        address: Option<(String, u16)>,
        alive: bool,
        unclean: &dyn Fn(&TopicMeta) -> bool,
    ) -> Vec<LeaderChange> {
        let node = self.nodes.entry(id).or_insert_with(|| NodeInfo {
            id,
            host: String::new(),
            port: 0,
            alive,
            incarnation: 0,
        });
        node.alive = alive;
        if let Some((host, port)) = address {
            node.host = host;
            node.port = port;
        }
        self.version += 1;
        self.update_quorum();
        self.elect_where_needed(unclean)
    }

    /// Whether `a` and `b` can talk (no network fault between them).
    pub fn linked(&self, a: BrokerId, b: BrokerId) -> bool {
        !self.cut.contains(&(a.min(b), a.max(b)))
    }

    fn update_quorum(&mut self) -> bool {
        let nodes = &self.nodes;
        let cut = &self.cut;
        self.quorum.update(
            |b| nodes.get(&b).is_some_and(|n| n.alive),
            |a, b| !cut.contains(&(a.min(b), a.max(b))),
        )
    }

    /// The network changed: `cut` lists the pairs that cannot talk. Re-evaluates the
    /// quorum (a minority side loses the controller) and elects where needed.
    pub fn set_cut(
        &mut self,
        cut: BTreeSet<(BrokerId, BrokerId)>,
        unclean: &dyn Fn(&TopicMeta) -> bool,
    ) -> Vec<LeaderChange> {
        if cut == self.cut {
            return Vec::new();
        }
        self.cut = cut;
        self.version += 1;
        self.update_quorum();
        self.elect_where_needed(unclean)
    }

    /// Whether node `id` reaches the active controller (it is the controller, or
    /// linked to it).
    pub fn reaches_controller(&self, id: BrokerId) -> bool {
        self.quorum
            .controller
            .is_some_and(|c| c == id || self.linked(c, id))
    }

    /// Elects a leader for every partition whose leader is missing or dead.
    pub fn elect_where_needed(
        &mut self,
        unclean: &dyn Fn(&TopicMeta) -> bool,
    ) -> Vec<LeaderChange> {
        if !self.quorum.has_controller() {
            return Vec::new();
        }
        let nodes = &self.nodes;
        let alive = |b: BrokerId| nodes.get(&b).is_some_and(|n| n.alive);
        let mut changes = Vec::new();
        for topic in self.topics.values_mut() {
            let allow_unclean = unclean(topic);
            for (i, p) in topic.partitions.iter_mut().enumerate() {
                if p.leader.is_some_and(alive) {
                    continue;
                }
                let result = election::elect(&p.replicas, &p.isr, alive, allow_unclean);
                match result {
                    Election::Clean(b) => {
                        p.isr.retain(|&r| alive(r) || r == b);
                    }
                    Election::Unclean(b) => p.isr = vec![b],
                    // Already offline: nothing new to record.
                    Election::Offline if p.leader.is_none() => continue,
                    // Keep the ISR: its members are the only clean candidates later.
                    Election::Offline => {}
                }
                p.leader = result.leader();
                p.leader_epoch += 1;
                p.partition_epoch += 1;
                changes.push(LeaderChange {
                    topic: topic.name.clone(),
                    partition: i as i32,
                    election: result,
                    leader_epoch: p.leader_epoch,
                    preferred: false,
                });
            }
        }
        if !changes.is_empty() {
            self.version += 1;
        }
        changes
    }

    /// The preferred-leader rebalance (`auto.leader.rebalance.enable`): for every node
    /// whose share of preferred partitions it does not lead exceeds `threshold_pct`
    /// (`leader.imbalance.per.broker.percentage`), leadership of those partitions goes
    /// back to it where it is alive and in the ISR.
    pub fn rebalance_preferred(&mut self, threshold_pct: f64) -> Vec<LeaderChange> {
        if !self.quorum.has_controller() {
            return Vec::new();
        }
        let nodes = &self.nodes;
        let alive = |b: BrokerId| nodes.get(&b).is_some_and(|n| n.alive);
        let imbalanced: Vec<BrokerId> = nodes
            .keys()
            .copied()
            .filter(|&b| {
                let parts = self
                    .topics
                    .values()
                    .flat_map(|t| &t.partitions)
                    .map(|p| (p.replicas.as_slice(), p.leader));
                election::imbalance_percent(b, parts) > threshold_pct
            })
            .collect();
        let mut changes = Vec::new();
        for topic in self.topics.values_mut() {
            for (i, p) in topic.partitions.iter_mut().enumerate() {
                let Some(b) = election::preferred_leader(&p.replicas, &p.isr, p.leader, alive)
                else {
                    continue;
                };
                if !imbalanced.contains(&b) {
                    continue;
                }
                p.leader = Some(b);
                p.leader_epoch += 1;
                p.partition_epoch += 1;
                changes.push(LeaderChange {
                    topic: topic.name.clone(),
                    partition: i as i32,
                    election: Election::Clean(b),
                    leader_epoch: p.leader_epoch,
                    preferred: true,
                });
            }
        }
        if !changes.is_empty() {
            self.version += 1;
        }
        changes
    }

    /// Creates a topic: replicas by rack-unaware placement over the live nodes, or the
    /// given assignment; every first replica leads at epoch 0 with the full ISR.
    pub fn create_topic(
        &mut self,
        new: NewTopic,
        validate_only: bool,
    ) -> Result<TopicMeta, MetadataError> {
        let NewTopic {
            name,
            id,
            partitions,
            replication_factor,
            assignment,
            config,
        } = new;
        let name = name.as_str();
        self.require_controller()?;
        if self.topics.contains_key(name) {
            return Err(MetadataError::TopicExists(name.to_string()));
        }
        let replicas = match assignment {
            Some(a) => {
                self.check_assignment(&a)?;
                a
            }
            None => self.place(partitions, replication_factor, 0)?,
        };
        let topic = TopicMeta {
            name: name.into(),
            id,
            config,
            partitions: replicas.into_iter().map(new_partition).collect(),
        };
        if !validate_only {
            self.placement_seed.0 += 1;
            self.version += 1;
            self.topics.insert(topic.name.clone(), topic.clone());
        }
        Ok(topic)
    }

    /// Replica lists for `partitions` new partitions numbered from `first`.
    fn place(
        &self,
        partitions: i32,
        factor: i16,
        first: u32,
    ) -> Result<Vec<Vec<BrokerId>>, MetadataError> {
        if partitions <= 0 {
            return Err(MetadataError::InvalidPartitions(format!(
                "Number of partitions must be larger than 0, got {partitions}."
            )));
        }
        if factor <= 0 {
            return Err(MetadataError::InvalidReplicationFactor(
                "Replication factor must be larger than 0.".into(),
            ));
        }
        let live: Vec<BrokerId> = self.live_nodes().iter().map(|n| n.id).collect();
        let (start, shift) = self.placement_seed;
        placement::assign(
            &live,
            partitions as u32,
            factor as usize,
            first,
            start,
            shift,
        )
        .map_err(|e| match e {
            PlacementError::TooFewBrokers { factor, brokers } => {
                MetadataError::TooFewBrokers { factor, brokers }
            }
            PlacementError::ZeroFactor => MetadataError::InvalidReplicationFactor(
                "Replication factor must be larger than 0.".into(),
            ),
        })
    }

    fn check_assignment(&self, a: &[Vec<BrokerId>]) -> Result<(), MetadataError> {
        let rf = a.first().map_or(0, Vec::len);
        for replicas in a {
            let mut distinct = replicas.clone();
            distinct.sort_unstable();
            distinct.dedup();
            if replicas.is_empty() || replicas.len() != rf || distinct.len() != rf {
                return Err(MetadataError::InvalidAssignment(format!(
                    "Inconsistent or duplicate replicas in assignment {replicas:?}."
                )));
            }
            if let Some(b) = replicas.iter().find(|b| !self.nodes.contains_key(b)) {
                return Err(MetadataError::InvalidAssignment(format!(
                    "Unknown broker {b} in replica assignment."
                )));
            }
        }
        Ok(())
    }

    pub fn delete_topic(&mut self, name: &str) -> Result<TopicMeta, MetadataError> {
        self.require_controller()?;
        let t = self
            .topics
            .remove(name)
            .ok_or(MetadataError::UnknownTopicOrPartition)?;
        self.version += 1;
        Ok(t)
    }

    /// Grows a topic to `count` partitions, placing the new ones.
    pub fn add_partitions(
        &mut self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), MetadataError> {
        self.require_controller()?;
        let topic = self
            .topics
            .get(name)
            .ok_or(MetadataError::UnknownTopicOrPartition)?;
        let current = topic.partitions.len() as i32;
        if count <= current {
            return Err(MetadataError::InvalidPartitions(if count == current {
                format!("Topic already has {current} partitions.")
            } else {
                format!("Topic currently has {current} partitions, which is higher than the requested {count}.")
            }));
        }
        let rf = topic.replication_factor() as i16;
        let more = self.place(count - current, rf, current as u32)?;
        if validate_only {
            return Ok(());
        }
        if let Some(topic) = self.topics.get_mut(name) {
            topic.partitions.extend(more.into_iter().map(new_partition));
        }
        self.version += 1;
        Ok(())
    }

    pub fn set_topic_config(
        &mut self,
        name: &str,
        config: TopicConfig,
    ) -> Result<(), MetadataError> {
        self.require_controller()?;
        let t = self
            .topics
            .get_mut(name)
            .ok_or(MetadataError::UnknownTopicOrPartition)?;
        t.config = config;
        self.version += 1;
        Ok(())
    }

    /// A leader's ISR change (Kafka's AlterPartition): accepted only from the current
    /// leader at the current leader epoch, with an ISR of its replicas that contains it.
    pub fn alter_isr(
        &mut self,
        topic: &str,
        partition: i32,
        leader: BrokerId,
        leader_epoch: i32,
        isr: &[BrokerId],
    ) -> Result<(), MetadataError> {
        self.require_controller()?;
        let p = usize::try_from(partition)
            .ok()
            .and_then(|i| self.topics.get_mut(topic)?.partitions.get_mut(i))
            .ok_or(MetadataError::UnknownTopicOrPartition)?;
        if p.leader != Some(leader) || p.leader_epoch != leader_epoch {
            return Err(MetadataError::FencedLeader {
                leader,
                epoch: leader_epoch,
            });
        }
        if !isr.contains(&leader) || isr.iter().any(|r| !p.replicas.contains(r)) {
            return Err(MetadataError::InvalidIsr(isr.to_vec()));
        }
        let mut isr = isr.to_vec();
        isr.sort_unstable();
        isr.dedup();
        if isr != p.isr {
            p.isr = isr;
            p.partition_epoch += 1;
            self.version += 1;
        }
        Ok(())
    }

    /// Partitions without a leader.
    pub fn offline_partitions(&self) -> usize {
        self.topics
            .values()
            .flat_map(|t| &t.partitions)
            .filter(|p| p.leader.is_none())
            .count()
    }
}

fn new_partition(replicas: Vec<BrokerId>) -> PartitionMeta {
    let mut isr = replicas.clone();
    isr.sort_unstable();
    PartitionMeta {
        leader: replicas.first().copied(),
        replicas,
        leader_epoch: 0,
        isr,
        partition_epoch: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never(_: &TopicMeta) -> bool {
        false
    }

    fn cluster(n: i32) -> ClusterMetadata {
        let ids: Vec<BrokerId> = (1..=n).collect();
        let mut m = ClusterMetadata::new(&ids);
        for id in ids {
            m.set_node(
                id,
                Some(("127.0.0.1".into(), 9000 + id as u16)),
                true,
                &never,
            );
        }
        m
    }

    fn new(name: &str, partitions: i32, replication_factor: i16) -> NewTopic {
        NewTopic {
            name: name.into(),
            id: kafkalab_sim::random::uuid(),
            partitions,
            replication_factor,
            assignment: None,
            config: TopicConfig::default(),
        }
    }

    fn create(m: &mut ClusterMetadata, name: &str, partitions: i32, rf: i16) {
        m.create_topic(new(name, partitions, rf), false)
            .expect("create");
    }

    #[test]
    fn topics_are_placed_over_live_nodes_with_the_full_isr() {
        let mut m = cluster(3);
        create(&mut m, "t", 3, 3);
        let t = &m.topics["t"];
        let leaders: Vec<_> = t.partitions.iter().map(|p| p.leader).collect();
        assert_eq!(leaders, vec![Some(1), Some(2), Some(3)]);
        assert!(t.partitions.iter().all(|p| p.isr == vec![1, 2, 3]));
        let err = m
            .create_topic(new("u", 1, 4), false)
            .map(|_| ())
            .expect_err("rf 4 on 3 brokers");
        assert_eq!(err.code(), errors::INVALID_REPLICATION_FACTOR);
        assert_eq!(
            err.to_string(),
            "Replication factor: 4 larger than available brokers: 3."
        );
        // validate_only stores nothing.
        m.create_topic(new("v", 1, 1), true).expect("valid");
        assert!(!m.topics.contains_key("v"));
    }

    #[test]
    fn losing_a_leader_elects_the_next_in_sync_replica_with_a_new_epoch() {
        let mut m = cluster(3);
        create(&mut m, "t", 1, 3);
        let changes = m.set_node(1, None, false, &never);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].election, Election::Clean(2));
        let p = m.partition("t", 0).expect("partition");
        assert_eq!(
            (p.leader, p.leader_epoch, p.isr.clone()),
            (Some(2), 1, vec![2, 3])
        );
        // Node 1 returns: it does not lead until elected; the leader is unchanged.
        assert!(m.set_node(1, None, true, &never).is_empty());
        assert_eq!(m.partition("t", 0).map(|p| p.leader), Some(Some(2)));
    }

    #[test]
    fn without_a_live_isr_member_the_partition_is_offline_until_one_returns() {
        let mut m = cluster(3);
        create(&mut m, "t", 1, 3);
        // The leader shrinks the ISR to itself, then dies.
        m.alter_isr("t", 0, 1, 0, &[1]).expect("alter");
        let c = m.set_node(1, None, false, &never);
        assert_eq!(c[0].election, Election::Offline);
        assert_eq!(m.offline_partitions(), 1);
        let p = m.partition("t", 0).expect("p");
        assert_eq!((p.leader, p.isr.clone()), (None, vec![1]));
        // An out-of-sync replica coming back does not help a clean election...
        assert!(m.set_node(2, None, true, &never).is_empty());
        // ...the last ISR member does.
        let c = m.set_node(1, None, true, &never);
        assert_eq!(c[0].election, Election::Clean(1));
        assert_eq!(m.partition("t", 0).map(|p| p.leader_epoch), Some(2));
    }

    #[test]
    fn unclean_election_picks_any_live_replica() {
        let mut m = cluster(3);
        create(&mut m, "t", 1, 3);
        m.alter_isr("t", 0, 1, 0, &[1]).expect("alter");
        let c = m.set_node(1, None, false, &|_| true);
        assert_eq!(c[0].election, Election::Unclean(2));
        assert_eq!(m.partition("t", 0).map(|p| p.isr.clone()), Some(vec![2]));
    }

    #[test]
    fn isr_changes_are_fenced_by_the_leader_epoch() {
        let mut m = cluster(3);
        create(&mut m, "t", 1, 3);
        m.set_node(1, None, false, &never);
        let stale = m.alter_isr("t", 0, 1, 0, &[1, 2]).expect_err("old leader");
        assert_eq!(stale.code(), errors::FENCED_LEADER_EPOCH);
        assert!(
            m.alter_isr("t", 0, 2, 1, &[3]).is_err(),
            "must contain the leader"
        );
        m.alter_isr("t", 0, 2, 1, &[2]).expect("shrink");
        m.alter_isr("t", 0, 2, 1, &[3, 2]).expect("expand");
        assert_eq!(m.partition("t", 0).map(|p| p.isr.clone()), Some(vec![2, 3]));
    }

    #[test]
    fn without_a_majority_nothing_changes_and_elections_wait() {
        let mut m = cluster(3);
        create(&mut m, "t", 1, 3);
        m.set_node(3, None, false, &never);
        // Two of three down: no controller; the dead leader stays recorded.
        assert!(m.set_node(1, None, false, &never).is_empty());
        assert!(!m.quorum.has_controller());
        assert_eq!(m.partition("t", 0).map(|p| p.leader), Some(Some(1)));
        assert_eq!(
            m.alter_isr("t", 0, 1, 0, &[1]).map_err(|e| e.code()),
            Err(errors::NOT_CONTROLLER)
        );
        // A majority returns: the election happens then.
        let c = m.set_node(3, None, true, &never);
        assert_eq!(c[0].election, Election::Clean(2));
    }

    #[test]
    fn leadership_returns_to_the_preferred_replica_once_it_is_in_sync() {
        let mut m = cluster(3);
        create(&mut m, "t", 3, 3);
        m.set_node(1, None, false, &never);
        m.set_node(1, None, true, &never);
        assert_eq!(m.partition("t", 0).map(|p| p.leader), Some(Some(2)));
        // Node 1 is not in the ISR yet: nothing moves.
        m.alter_isr("t", 0, 2, 1, &[2, 3]).expect("shrink");
        assert!(m.rebalance_preferred(10.0).is_empty());
        m.alter_isr("t", 0, 2, 1, &[1, 2, 3]).expect("expand");
        let c = m.rebalance_preferred(10.0);
        assert_eq!(c.len(), 1);
        assert!(c[0].preferred);
        let p = m.partition("t", 0).expect("p");
        assert_eq!((p.leader, p.leader_epoch), (Some(1), 2));
        assert!(m.rebalance_preferred(10.0).is_empty(), "balanced now");
    }

    #[test]
    fn partitions_grow_with_placement() {
        let mut m = cluster(3);
        create(&mut m, "t", 1, 2);
        m.add_partitions("t", 4, false).expect("grow");
        let t = &m.topics["t"];
        assert_eq!(t.partitions.len(), 4);
        assert!(t.partitions.iter().all(|p| p.replicas.len() == 2));
        assert_eq!(
            m.add_partitions("t", 2, false).map_err(|e| e.code()),
            Err(errors::INVALID_PARTITIONS)
        );
    }
}
