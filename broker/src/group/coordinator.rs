//! The group coordinator: owns every group's state machine, parks JoinGroup / SyncGroup
//! requests until their group answers them, drives the timers, stores committed offsets,
//! and turns group events into metrics and a broadcast stream (for the live view).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;

use super::consumer_group::{self as cg, ConsumerGroup, ConsumerGroupConfig};
use super::metrics::GroupMetrics;
use super::offsets::{Committed, OffsetStore};
use super::state::{
    Effect, Group, GroupConfig, GroupEvent, GroupState, JoinRequest, JoinResponse, StoredGroup,
    SyncResponse, Waiter,
};
use crate::clock::Clock;
use crate::protocol::errors;
use crate::storage::{Storage, StorageError};

/// A group event with its group id and time, as published to subscribers.
#[derive(Debug, Clone)]
pub struct GroupEventRecord {
    pub group: String,
    pub at_ms: i64,
    pub event: GroupEvent,
}

enum Parked {
    Join(oneshot::Sender<JoinResponse>),
    Sync(oneshot::Sender<SyncResponse>),
}

#[derive(Default)]
struct Inner {
    groups: HashMap<String, Group>,
    /// Groups on the new protocol (KIP-848), by id; a group id lives in one map only.
    consumer_groups: HashMap<String, ConsumerGroup>,
    parked: HashMap<Waiter, Parked>,
    next_waiter: Waiter,
}

/// A point-in-time view of one group (DescribeGroups, metrics, live view).
#[derive(Debug, Clone)]
pub struct GroupSnapshot {
    pub id: String,
    pub state: GroupState,
    /// Kafka's state name: classic states, or Empty/Assigning/Reconciling/Stable for
    /// consumer-protocol groups.
    pub state_name: &'static str,
    /// "classic" or "consumer" (KIP-848).
    pub group_type: &'static str,
    pub generation_id: i32,
    pub protocol_type: String,
    pub protocol_name: String,
    pub leader: String,
    pub members: Vec<MemberSnapshot>,
}

#[derive(Debug, Clone)]
pub struct MemberSnapshot {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: bytes::Bytes,
    pub assignment: bytes::Bytes,
}

/// Where a cluster node's coordinator finds the groups' stored metadata (the cluster
/// metadata, standing in for `__consumer_offsets`).
pub trait GroupStore: Send + Sync {
    /// The group's last stored metadata, if any.
    fn load(&self, group: &str) -> Option<StoredGroup>;
    /// Whether this node coordinates the group (only the coordinator writes it).
    fn owns(&self, group: &str) -> bool;
}

/// A group's metadata to write (`None`: the group is gone).
pub type StoreGroup = (String, Option<StoredGroup>);

pub struct GroupCoordinator {
    inner: Mutex<Inner>,
    config: GroupConfig,
    consumer_config: ConsumerGroupConfig,
    offsets_retention_ms: i64,
    pub offsets: OffsetStore,
    pub metrics: GroupMetrics,
    clock: Arc<dyn Clock>,
    started: Instant,
    incarnation: u32,
    events: broadcast::Sender<GroupEventRecord>,
    /// Cluster nodes only: stored group metadata, and where changes to it go.
    store: OnceLock<(Arc<dyn GroupStore>, mpsc::UnboundedSender<StoreGroup>)>,
}

impl GroupCoordinator {
    pub fn open(
        storage: &dyn Storage,
        config: GroupConfig,
        consumer_config: ConsumerGroupConfig,
        offsets_retention_ms: i64,
        clock: Arc<dyn Clock>,
    ) -> Result<GroupCoordinator, StorageError> {
        Ok(GroupCoordinator {
            inner: Mutex::new(Inner::default()),
            config,
            consumer_config,
            offsets_retention_ms,
            offsets: OffsetStore::open(storage)?,
            metrics: GroupMetrics::new(),
            clock,
            started: Instant::now(),
            incarnation: kafkalab_sim::random::u64() as u32,
            events: broadcast::channel(4096).0,
            store: OnceLock::new(),
        })
    }

    /// Makes this coordinator load groups it does not hold from `store` and hand the
    /// metadata to write (a generation completed, the group emptied or was deleted) to
    /// the returned receiver, in order. Set once, before requests are served.
    pub fn attach_store(&self, store: Arc<dyn GroupStore>) -> mpsc::UnboundedReceiver<StoreGroup> {
        let (tx, rx) = mpsc::unbounded_channel();
        if self.store.set((store, tx)).is_err() {
            tracing::warn!("the group coordinator's store was already attached");
        }
        rx
    }

    /// Loads a group this node does not hold from the stored metadata (the group moved
    /// here from a coordinator that died).
    fn ensure_loaded(&self, inner: &mut Inner, group_id: &str) {
        if inner.groups.contains_key(group_id) || inner.consumer_groups.contains_key(group_id) {
            return;
        }
        let Some((store, _)) = self.store.get() else {
            return;
        };
        let Some(stored) = store.load(group_id) else {
            return;
        };
        let g = Group::load(group_id, stored, self.incarnation, self.now());
        tracing::info!(
            group = group_id,
            generation = g.generation_id,
            members = g.members.len(),
            state = g.state.name(),
            "loaded group metadata"
        );
        let fx = if g.state == GroupState::Empty {
            Vec::new()
        } else {
            vec![Effect::Event(GroupEvent::StateChanged {
                from: GroupState::Empty,
                to: g.state,
            })]
        };
        inner.groups.insert(group_id.to_string(), g);
        // Observed (metrics, live view) but not written back: nothing changed.
        self.publish(group_id, fx);
    }

    /// Hands a group's metadata to the writer when this node coordinates it.
    fn persist(&self, group_id: &str, stored: Option<StoredGroup>) {
        if let Some((store, tx)) = self.store.get() {
            if store.owns(group_id) && tx.send((group_id.to_string(), stored)).is_err() {
                tracing::warn!(group = group_id, "group metadata writer is gone");
            }
        }
    }

    /// Monotonic milliseconds for group timers (tokio time, so tests can pause it).
    fn now(&self) -> i64 {
        self.started.elapsed().as_millis() as i64
    }

    pub fn subscribe(&self) -> broadcast::Receiver<GroupEventRecord> {
        self.events.subscribe()
    }

    fn apply(&self, inner: &mut Inner, group: &str, effects: Vec<Effect>) {
        let changed = effects.iter().any(|e| matches!(e, Effect::Event(_)));
        self.deliver(inner, group, effects);
        // Kafka writes the group when a generation completes and when it empties; a
        // group mid-rebalance keeps its last stored generation.
        if changed {
            match inner.groups.get(group) {
                Some(g) if g.state == GroupState::Dead => self.persist(group, None),
                Some(g) => {
                    if let Some(stored) = g.stored() {
                        self.persist(group, Some(stored));
                    }
                }
                None => {}
            }
        }
    }

    /// Publishes events without delivering responses (no request is parked for them).
    fn publish(&self, group: &str, effects: Vec<Effect>) {
        for e in effects {
            if let Effect::Event(event) = e {
                self.observe(group, event);
            }
        }
    }

    fn observe(&self, group: &str, event: GroupEvent) {
        self.metrics.observe(group, &event);
        log_event(group, &event);
        let _ = self.events.send(GroupEventRecord {
            group: group.to_string(),
            at_ms: self.clock.now_ms(),
            event,
        });
    }

    fn deliver(&self, inner: &mut Inner, group: &str, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Join { waiter, response } => {
                    if let Some(Parked::Join(tx)) = inner.parked.remove(&waiter) {
                        let _ = tx.send(response);
                    }
                }
                Effect::Sync { waiter, response } => {
                    if let Some(Parked::Sync(tx)) = inner.parked.remove(&waiter) {
                        let _ = tx.send(response);
                    }
                }
                Effect::Event(event) => self.observe(group, event),
            }
        }
    }

    pub async fn join(&self, group_id: &str, mut req: JoinRequest) -> JoinResponse {
        let (tx, rx) = oneshot::channel();
        {
            let mut inner = self.inner.lock();
            inner.next_waiter += 1;
            req.waiter = inner.next_waiter;
            inner.parked.insert(req.waiter, Parked::Join(tx));
            let now = self.now();
            if inner
                .consumer_groups
                .get(group_id)
                .is_some_and(|g| !g.members.is_empty())
            {
                inner.parked.remove(&req.waiter);
                return error_join(errors::INCONSISTENT_GROUP_PROTOCOL);
            }
            self.ensure_loaded(&mut inner, group_id);
            let group = inner
                .groups
                .entry(group_id.to_string())
                .or_insert_with(|| Group::new(group_id, self.incarnation));
            if group.state == GroupState::Dead {
                *group = Group::new(group_id, self.incarnation);
            }
            let fx = group.join(req, now, &self.config);
            self.apply(&mut inner, group_id, fx);
        }
        rx.await
            .unwrap_or_else(|_| error_join(errors::COORDINATOR_NOT_AVAILABLE))
    }

    pub async fn sync(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        assignments: Vec<(String, bytes::Bytes)>,
    ) -> SyncResponse {
        let (tx, rx) = oneshot::channel();
        {
            let mut inner = self.inner.lock();
            inner.next_waiter += 1;
            let waiter = inner.next_waiter;
            inner.parked.insert(waiter, Parked::Sync(tx));
            self.ensure_loaded(&mut inner, group_id);
            let now = self.now();
            let fx = match inner.groups.get_mut(group_id) {
                Some(g) => g.sync(waiter, member_id, instance_id, generation, assignments, now),
                None => vec![Effect::Sync {
                    waiter,
                    response: error_sync(errors::UNKNOWN_MEMBER_ID),
                }],
            };
            self.apply(&mut inner, group_id, fx);
        }
        rx.await
            .unwrap_or_else(|_| error_sync(errors::COORDINATOR_NOT_AVAILABLE))
    }

    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> i16 {
        self.metrics.heartbeats.inc();
        let mut inner = self.inner.lock();
        self.ensure_loaded(&mut inner, group_id);
        let now = self.now();
        match inner.groups.get_mut(group_id) {
            None => errors::UNKNOWN_MEMBER_ID,
            Some(g) => match g.heartbeat(member_id, instance_id, generation, now) {
                Ok(()) => 0,
                Err(code) => code,
            },
        }
    }

    /// LeaveGroup for several members: one error code per member.
    pub fn leave(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Result<Vec<i16>, i16> {
        let mut inner = self.inner.lock();
        self.ensure_loaded(&mut inner, group_id);
        let now = self.now();
        let Some(g) = inner.groups.get_mut(group_id) else {
            return Err(errors::UNKNOWN_MEMBER_ID);
        };
        let mut fx = Vec::new();
        let codes = members
            .iter()
            .map(|(m, i)| g.leave(m, i.as_deref(), now, &mut fx))
            .collect();
        self.apply(&mut inner, group_id, fx);
        Ok(codes)
    }

    /// Runs the timers of every group; called periodically.
    pub fn tick(&self) {
        let now = self.now();
        let mut inner = self.inner.lock();
        let ids: Vec<String> = inner.groups.keys().cloned().collect();
        for id in ids {
            let fx = match inner.groups.get_mut(&id) {
                Some(g) => g.tick(now),
                None => continue,
            };
            self.apply(&mut inner, &id, fx);
        }
        let ids: Vec<String> = inner.consumer_groups.keys().cloned().collect();
        for id in ids {
            let events = match inner.consumer_groups.get_mut(&id) {
                Some(g) => g.tick(now, &self.consumer_config),
                None => continue,
            };
            self.apply(
                &mut inner,
                &id,
                events.into_iter().map(Effect::Event).collect(),
            );
        }
    }

    /// ConsumerGroupHeartbeat (KIP-848): joins, heartbeats, reconciles and leaves.
    pub fn consumer_heartbeat(
        &self,
        group_id: &str,
        req: cg::HeartbeatRequest,
        topics: cg::TopicLookup<'_>,
    ) -> cg::HeartbeatResponse {
        self.metrics.heartbeats.inc();
        let now = self.now();
        let mut inner = self.inner.lock();
        if inner
            .groups
            .get(group_id)
            .is_some_and(|g| !g.members.is_empty())
        {
            return cg::HeartbeatResponse {
                error_code: errors::GROUP_ID_NOT_FOUND,
                error_message: Some(format!("group {group_id} is a classic group with members")),
                member_id: req.member_id,
                member_epoch: -1,
                heartbeat_interval_ms: 0,
                assignment: None,
            };
        }
        let incarnation = self.incarnation;
        let counter = inner.next_waiter + 1;
        inner.next_waiter = counter;
        let group = inner
            .consumer_groups
            .entry(group_id.to_string())
            .or_insert_with(|| ConsumerGroup::new(group_id));
        let (resp, events) = group.heartbeat(req, now, &self.consumer_config, topics, || {
            uuid::Uuid::from_u64_pair(u64::from(incarnation), counter).to_string()
        });
        self.apply(
            &mut inner,
            group_id,
            events.into_iter().map(Effect::Event).collect(),
        );
        resp
    }

    /// Expires offsets of empty groups (offsets.retention.minutes) and compacts the log.
    pub fn expire_offsets(&self) {
        let now = self.clock.now_ms();
        let empty = |g: &str| {
            self.inner
                .lock()
                .groups
                .get(g)
                .is_none_or(|x| matches!(x.state, GroupState::Empty | GroupState::Dead))
        };
        match self.offsets.expire(now, self.offsets_retention_ms, empty) {
            Ok(n) if n > 0 => tracing::info!(removed = n, "expired committed offsets"),
            Ok(_) => {}
            Err(e) => tracing::warn!("offset expiry failed: {e}"),
        }
        if let Err(e) = self.offsets.cleanup(now) {
            tracing::warn!("offsets log compaction failed: {e}");
        }
    }

    /// Checks that a commit comes from the current generation (or from a non-member when
    /// the group has no members, e.g. `assign()` users or admin tools).
    pub fn validate_commit(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> i16 {
        let mut inner = self.inner.lock();
        self.ensure_loaded(&mut inner, group_id);
        if let Some(cgroup) = inner
            .consumer_groups
            .get(group_id)
            .filter(|g| !g.members.is_empty())
        {
            return match cgroup.members.get(member_id) {
                None if generation < 0 && member_id.is_empty() => errors::ILLEGAL_GENERATION,
                None => errors::UNKNOWN_MEMBER_ID,
                Some(m) if generation != m.epoch => errors::STALE_MEMBER_EPOCH,
                Some(_) => 0,
            };
        }
        let Some(g) = inner.groups.get(group_id) else {
            return if generation < 0 {
                0
            } else {
                errors::ILLEGAL_GENERATION
            };
        };
        if generation < 0 && member_id.is_empty() {
            return if g.members.is_empty() {
                0
            } else {
                errors::ILLEGAL_GENERATION
            };
        }
        if let Err(code) = g.validate_member(member_id, instance_id, generation) {
            return code;
        }
        match g.state {
            // As Kafka: a member of the current generation may still commit while the
            // group prepares a rebalance (the commit before revoking), not once the
            // new generation's assignment is being completed.
            GroupState::CompletingRebalance => errors::REBALANCE_IN_PROGRESS,
            _ => 0,
        }
    }

    pub fn commit(
        &self,
        group_id: &str,
        entries: Vec<(String, i32, Committed)>,
    ) -> Result<(), StorageError> {
        let n = entries.len() as u64;
        self.offsets
            .commit(group_id, entries, self.clock.now_ms())?;
        self.metrics.commits.inc_by(n);
        Ok(())
    }

    pub fn now_wall_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn snapshot(&self, group_id: &str) -> Option<GroupSnapshot> {
        let mut inner = self.inner.lock();
        self.ensure_loaded(&mut inner, group_id);
        match inner.consumer_groups.get(group_id) {
            Some(g) if !g.members.is_empty() || !inner.groups.contains_key(group_id) => {
                Some(consumer_snapshot(g))
            }
            _ => inner.groups.get(group_id).map(snapshot),
        }
    }

    /// All groups: live ones and those that only have committed offsets (as Empty).
    pub fn list(&self) -> Vec<GroupSnapshot> {
        let mut out: Vec<GroupSnapshot> = {
            let inner = self.inner.lock();
            inner
                .groups
                .values()
                .filter(|g| g.state != GroupState::Dead)
                .map(snapshot)
                .chain(inner.consumer_groups.values().map(consumer_snapshot))
                .collect()
        };
        for id in self.offsets.groups() {
            if !out.iter().any(|g| g.id == id) {
                out.push(snapshot(&Group::new(&id, self.incarnation)));
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// DeleteGroups for one group: only when it has no members.
    pub fn delete_group(&self, group_id: &str) -> i16 {
        {
            let mut inner = self.inner.lock();
            self.ensure_loaded(&mut inner, group_id);
            if let Some(g) = inner.groups.get_mut(group_id) {
                if let Err(code) = g.delete() {
                    return code;
                }
                inner.groups.remove(group_id);
            } else if !self.offsets.has_offsets(group_id) {
                return errors::GROUP_ID_NOT_FOUND;
            }
        }
        self.persist(group_id, None);
        match self.offsets.delete(group_id, None, self.clock.now_ms()) {
            Ok(_) => 0,
            Err(e) => {
                tracing::error!("deleting offsets of {group_id} failed: {e}");
                errors::UNKNOWN_SERVER_ERROR
            }
        }
    }

    /// Whether any current member of the group is subscribed to `topic` (OffsetDelete
    /// refuses those with GROUP_SUBSCRIBED_TO_TOPIC). Consumer-protocol metadata v0+
    /// starts with the topic list.
    pub fn subscribed(&self, group_id: &str, topic: &str) -> bool {
        let mut inner = self.inner.lock();
        self.ensure_loaded(&mut inner, group_id);
        let Some(g) = inner.groups.get(group_id) else {
            return false;
        };
        if g.protocol_type.as_deref() != Some("consumer") {
            return false;
        }
        let protocol = g.protocol_name.clone().unwrap_or_default();
        g.members.values().any(|m| {
            m.protocols
                .iter()
                .find(|(n, _)| *n == protocol)
                .is_some_and(|(_, meta)| {
                    super::consumer_protocol::subscription_topics(meta)
                        .iter()
                        .any(|t| t == topic)
                })
        })
    }

    /// Fills the group gauges (called at scrape time).
    pub fn refresh_gauges(&self, log_end_offset: impl Fn(&str, i32) -> Option<i64>) {
        let groups = self.list();
        self.metrics
            .refresh(&groups, |g| self.offsets.group(g), log_end_offset);
    }
}

fn consumer_snapshot(g: &ConsumerGroup) -> GroupSnapshot {
    let state_name = g.state_name();
    GroupSnapshot {
        id: g.id.clone(),
        state: match state_name {
            "Empty" => GroupState::Empty,
            "Stable" => GroupState::Stable,
            _ => GroupState::PreparingRebalance,
        },
        state_name,
        group_type: "consumer",
        generation_id: g.epoch,
        protocol_type: "consumer".into(),
        protocol_name: String::new(),
        leader: String::new(),
        members: g
            .members
            .values()
            .map(|m| MemberSnapshot {
                member_id: m.member_id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: bytes::Bytes::new(),
                assignment: bytes::Bytes::new(),
            })
            .collect(),
    }
}

fn snapshot(g: &Group) -> GroupSnapshot {
    let protocol = g.protocol_name.clone().unwrap_or_default();
    GroupSnapshot {
        id: g.id.clone(),
        state: g.state,
        state_name: g.state.name(),
        group_type: "classic",
        generation_id: g.generation_id,
        protocol_type: g.protocol_type.clone().unwrap_or_default(),
        protocol_name: protocol.clone(),
        leader: g.leader.clone().unwrap_or_default(),
        members: g
            .members
            .values()
            .map(|m| MemberSnapshot {
                member_id: m.member_id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: m
                    .protocols
                    .iter()
                    .find(|(n, _)| *n == protocol)
                    .map(|(_, b)| b.clone())
                    .unwrap_or_default(),
                assignment: m.assignment.clone(),
            })
            .collect(),
    }
}

fn error_join(code: i16) -> JoinResponse {
    JoinResponse {
        error_code: code,
        generation_id: -1,
        protocol_type: None,
        protocol_name: None,
        leader: String::new(),
        member_id: String::new(),
        members: Vec::new(),
        skip_assignment: false,
    }
}

fn error_sync(code: i16) -> SyncResponse {
    SyncResponse {
        error_code: code,
        protocol_type: None,
        protocol_name: None,
        assignment: bytes::Bytes::new(),
    }
}

fn log_event(group: &str, event: &GroupEvent) {
    match event {
        GroupEvent::MemberJoined {
            member_id,
            client_id,
        } => tracing::info!(group, member_id, client_id, "member joined"),
        GroupEvent::MemberLeft { member_id, cause } => {
            tracing::info!(group, member_id, cause = cause.name(), "member left")
        }
        GroupEvent::RebalanceStarted { reason } => {
            tracing::info!(group, reason, "rebalance started")
        }
        GroupEvent::Stable {
            generation,
            duration_ms,
            members,
        } => {
            tracing::info!(
                group,
                generation,
                duration_ms,
                members,
                "generation {generation} stable after {duration_ms} ms"
            )
        }
        GroupEvent::StateChanged { from, to } => {
            tracing::debug!(group, from = from.name(), to = to.name(), "state")
        }
    }
}
