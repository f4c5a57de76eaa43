//! Metadata changes as data, and the one interface a node changes metadata through.
//!
//! A node reads the cluster metadata locally (its [`Controller`]'s copy) and sends every
//! change as a [`Command`] to a [`MetadataWriter`]. In one process the writer is the
//! shared [`Controller`] itself, which applies the command at once; across processes it
//! is [`crate::quorum::client::QuorumClient`], which sends it to the active controller
//! of the quorum and answers once a majority of the voters stored the result.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::controller::Controller;
use super::metadata::{MetadataError, TopicMeta};
use crate::config::TopicConfig;
use crate::group::offsets::Committed;
use crate::group::state::StoredGroup;
use crate::replication::BrokerId;

/// One metadata change a node asks the controller for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    /// A broker (re)registers at `host:port`; `incarnation` tells process starts apart.
    RegisterNode {
        id: BrokerId,
        host: String,
        port: u16,
        incarnation: u64,
    },
    /// A broker stopped heartbeating (`broker.session.timeout.ms`): its partitions get
    /// new leaders.
    FenceNode {
        id: BrokerId,
    },
    CreateTopic {
        name: String,
        partitions: i32,
        replication_factor: i16,
        assignment: Option<Vec<Vec<BrokerId>>>,
        config: TopicConfig,
        validate_only: bool,
    },
    DeleteTopic {
        name: String,
    },
    AddPartitions {
        name: String,
        count: i32,
        validate_only: bool,
    },
    SetTopicConfig {
        name: String,
        config: TopicConfig,
    },
    /// A leader's AlterPartition proposal.
    AlterIsr {
        topic: String,
        partition: i32,
        leader: BrokerId,
        leader_epoch: i32,
        isr: Vec<BrokerId>,
    },
    CommitOffsets {
        group: String,
        entries: Vec<(String, i32, Committed)>,
    },
    DeleteOffsets {
        group: String,
        partitions: Option<Vec<(String, i32)>>,
    },
    /// A group's coordinator stores its metadata (a generation completed, the group
    /// emptied) or drops it (`None`: deleted), for the next coordinator to load.
    StoreGroup {
        group: String,
        snapshot: Option<StoredGroup>,
    },
    AllocateProducerId,
}

impl Command {
    /// Whether the command never changes anything (answered without a commit).
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            Command::CreateTopic {
                validate_only: true,
                ..
            } | Command::AddPartitions {
                validate_only: true,
                ..
            }
        )
    }
}

/// What a command answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Reply {
    Done,
    Topic(Box<TopicMeta>),
    ProducerId(i64),
}

impl Reply {
    pub fn topic(self) -> Option<TopicMeta> {
        match self {
            Reply::Topic(t) => Some(*t),
            _ => None,
        }
    }

    pub fn producer_id(self) -> Option<i64> {
        match self {
            Reply::ProducerId(id) => Some(id),
            _ => None,
        }
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a node's metadata changes go.
pub trait MetadataWriter: Send + Sync {
    fn submit(&self, cmd: Command) -> BoxFuture<'_, Result<Reply, MetadataError>>;
}

/// An ISR this node, as a partition's leader at `leader_epoch`, wants recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedIsr {
    pub leader_epoch: i32,
    pub isr: Vec<BrokerId>,
}

/// The leader's ISR proposals still to be recorded by the controller, newest per
/// partition (a newer proposal replaces an older one, so a retry never undoes it).
#[derive(Default)]
pub struct IsrProposals {
    pub(crate) wanted: Mutex<BTreeMap<(String, i32), WantedIsr>>,
    pub(crate) wake: tokio::sync::Notify,
    /// Partitions whose leader waits for a shrink to be recorded before applying it.
    shrinking: Mutex<std::collections::BTreeSet<(String, i32)>>,
}

impl IsrProposals {
    pub fn propose(&self, topic: &str, partition: i32, leader_epoch: i32, isr: Vec<BrokerId>) {
        let mut isr = isr;
        isr.sort_unstable();
        self.wanted.lock().insert(
            (topic.to_string(), partition),
            WantedIsr { leader_epoch, isr },
        );
        self.wake.notify_one();
    }

    /// A shrink the leader applies only once recorded (see `manager::check_lag`).
    pub fn propose_shrink(
        &self,
        topic: &str,
        partition: i32,
        leader_epoch: i32,
        isr: Vec<BrokerId>,
    ) {
        self.shrinking.lock().insert((topic.to_string(), partition));
        self.propose(topic, partition, leader_epoch, isr);
    }

    pub fn shrink_done(&self, topic: &str, partition: i32) {
        let mut s = self.shrinking.lock();
        if !s.is_empty() {
            s.remove(&(topic.to_string(), partition));
        }
    }

    pub fn is_shrinking(&self, topic: &str, partition: i32) -> bool {
        self.shrinking
            .lock()
            .contains(&(topic.to_string(), partition))
    }
}

/// In one process: the shared controller applies the command at once.
impl MetadataWriter for Controller {
    fn submit(&self, cmd: Command) -> BoxFuture<'_, Result<Reply, MetadataError>> {
        Box::pin(std::future::ready(self.apply(cmd)))
    }
}

impl Controller {
    /// Applies one command to this controller's metadata (in one process, or on the
    /// active controller of a networked quorum).
    pub fn apply(&self, cmd: Command) -> Result<Reply, MetadataError> {
        match cmd {
            Command::RegisterNode {
                id,
                host,
                port,
                incarnation,
            } => {
                self.register(id, host, port, incarnation);
                Ok(Reply::Done)
            }
            Command::FenceNode { id } => {
                self.node_down(id);
                Ok(Reply::Done)
            }
            Command::CreateTopic {
                name,
                partitions,
                replication_factor,
                assignment,
                config,
                validate_only,
            } => self
                .create_topic(
                    &name,
                    partitions,
                    replication_factor,
                    assignment,
                    config,
                    validate_only,
                )
                .map(|t| Reply::Topic(Box::new(t))),
            Command::DeleteTopic { name } => self.delete_topic(&name).map(|_| Reply::Done),
            Command::AddPartitions {
                name,
                count,
                validate_only,
            } => self
                .add_partitions(&name, count, validate_only)
                .map(|()| Reply::Done),
            Command::SetTopicConfig { name, config } => {
                self.set_topic_config(&name, config).map(|()| Reply::Done)
            }
            Command::AlterIsr {
                topic,
                partition,
                leader,
                leader_epoch,
                isr,
            } => self
                .alter_isr(&topic, partition, leader, leader_epoch, &isr)
                .map(|()| Reply::Done),
            Command::CommitOffsets { group, entries } => {
                self.commit_offsets(&group, &entries);
                Ok(Reply::Done)
            }
            Command::DeleteOffsets { group, partitions } => {
                self.delete_offsets(&group, partitions.as_deref());
                Ok(Reply::Done)
            }
            Command::StoreGroup { group, snapshot } => {
                self.store_group(&group, snapshot);
                Ok(Reply::Done)
            }
            Command::AllocateProducerId => Ok(Reply::ProducerId(self.allocate_producer_id())),
        }
    }
}
