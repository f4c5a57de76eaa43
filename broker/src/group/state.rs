//! The classic consumer-group state machine (JoinGroup / SyncGroup / Heartbeat /
//! LeaveGroup), pure: every method takes `now_ms` and returns effects — responses to
//! deliver to parked requests and events to observe. No I/O, no clock, no tasks.
//!
//! States follow Kafka's: Empty → PreparingRebalance → CompletingRebalance → Stable,
//! and Dead once deleted. The coordinator never looks inside protocol metadata or
//! assignments, so eager and cooperative assignors both work unchanged.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::protocol::errors;

mod join;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
    pub const ALL: [GroupState; 5] = [
        GroupState::Empty,
        GroupState::PreparingRebalance,
        GroupState::CompletingRebalance,
        GroupState::Stable,
        GroupState::Dead,
    ];
}

/// Broker settings the state machine needs.
#[derive(Debug, Clone, Copy)]
pub struct GroupConfig {
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub initial_rebalance_delay_ms: i64,
    pub max_size: usize,
}

/// Identifies a parked request (the coordinator maps it to the client's connection).
pub type Waiter = u64;

#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub waiter: Waiter,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a new member first gets MEMBER_ID_REQUIRED with its id.
    pub require_known_member_id: bool,
    /// JoinGroup v9+: the client understands `skip_assignment` (KIP-814).
    pub supports_skip_assignment: bool,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JoinMemberInfo {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JoinResponse {
    pub error_code: i16,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Filled for the leader only.
    pub members: Vec<JoinMemberInfo>,
    /// A static leader that rejoined without a rebalance must not reassign (KIP-345).
    pub skip_assignment: bool,
}

impl JoinResponse {
    fn error(code: i16, member_id: &str) -> JoinResponse {
        JoinResponse {
            error_code: code,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyncResponse {
    pub error_code: i16,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

/// Why a member left the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeaveCause {
    /// No heartbeat within `session.timeout.ms`.
    SessionTimeout,
    /// Did not rejoin within the rebalance timeout (`max.poll.interval.ms`).
    RebalanceTimeout,
    /// Sent LeaveGroup.
    Leave,
    /// Replaced by a static member with the same `group.instance.id`, or the group was deleted.
    Removed,
}

impl LeaveCause {
    pub fn name(self) -> &'static str {
        match self {
            LeaveCause::SessionTimeout => "session_timeout",
            LeaveCause::RebalanceTimeout => "rebalance_timeout",
            LeaveCause::Leave => "leave",
            LeaveCause::Removed => "removed",
        }
    }
}

/// Something that happened, for metrics, logs and the live view.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupEvent {
    MemberJoined {
        member_id: String,
        client_id: String,
    },
    MemberLeft {
        member_id: String,
        cause: LeaveCause,
    },
    RebalanceStarted {
        reason: String,
    },
    /// A rebalance ended: generation `generation` is stable after `duration_ms` (from
    /// PreparingRebalance to Stable).
    Stable {
        generation: i32,
        duration_ms: i64,
        members: usize,
    },
    StateChanged {
        from: GroupState,
        to: GroupState,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Join {
        waiter: Waiter,
        response: JoinResponse,
    },
    Sync {
        waiter: Waiter,
        response: SyncResponse,
    },
    Event(GroupEvent),
}

#[derive(Debug, Clone)]
pub struct Member {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    last_heartbeat_ms: i64,
    join_waiter: Option<Waiter>,
    sync_waiter: Option<Waiter>,
}

impl Member {
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
}

/// A group's metadata as Kafka writes it to `__consumer_offsets` when a generation
/// completes and when the group becomes Empty: what a new coordinator loads so the
/// members carry on with their ids and generation instead of rebalancing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredGroup {
    pub protocol_type: Option<String>,
    pub generation_id: i32,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    pub members: Vec<StoredMember>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    /// The subscription (protocol metadata) for the group's protocol.
    pub subscription: Vec<u8>,
    pub assignment: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED and the time they were issued.
    pending: HashMap<String, i64>,
    static_members: HashMap<String, String>,
    /// When the current join phase ends at the latest.
    join_deadline_ms: Option<i64>,
    /// Initial-delay join phase: (current deadline, hard limit).
    initial_delay: Option<(i64, i64)>,
    rebalance_started_ms: Option<i64>,
    next_member: u64,
    incarnation: u32,
}

impl Group {
    /// `incarnation` makes member ids unique across broker restarts (the coordinator
    /// picks it once per start); tests pass a constant for reproducible ids.
    pub fn new(id: &str, incarnation: u32) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            pending: HashMap::new(),
            static_members: HashMap::new(),
            join_deadline_ms: None,
            initial_delay: None,
            rebalance_started_ms: None,
            next_member: 0,
            incarnation,
        }
    }

    /// What to store for this group: its metadata when Stable (a generation completed)
    /// or Empty; `None` while a rebalance is under way (Kafka keeps the last completed
    /// generation) or once Dead.
    pub fn stored(&self) -> Option<StoredGroup> {
        if !matches!(self.state, GroupState::Stable | GroupState::Empty) {
            return None;
        }
        let protocol = self.protocol_name.clone().unwrap_or_default();
        Some(StoredGroup {
            protocol_type: self.protocol_type.clone(),
            generation_id: self.generation_id,
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone(),
            members: self
                .members
                .values()
                .map(|m| StoredMember {
                    member_id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    subscription: m.metadata_for(&protocol).to_vec(),
                    assignment: m.assignment.to_vec(),
                })
                .collect(),
        })
    }

    /// A group loaded from its stored metadata by a new coordinator, as Kafka loads
    /// `__consumer_offsets`: Stable with the stored members, generation and assignments
    /// (each member's session starting at `now`, so one that stopped heartbeating is
    /// expired by the usual session timeout), or Empty without members.
    pub fn load(id: &str, stored: StoredGroup, incarnation: u32, now: i64) -> Group {
        let mut g = Group::new(id, incarnation);
        g.generation_id = stored.generation_id;
        g.protocol_type = stored.protocol_type;
        g.protocol_name = stored.protocol_name;
        let protocol = g.protocol_name.clone().unwrap_or_default();
        for m in stored.members {
            if let Some(instance) = &m.instance_id {
                g.static_members
                    .insert(instance.clone(), m.member_id.clone());
            }
            g.members.insert(
                m.member_id.clone(),
                Member {
                    member_id: m.member_id,
                    instance_id: m.instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocols: vec![(protocol.clone(), Bytes::from(m.subscription))],
                    assignment: Bytes::from(m.assignment),
                    last_heartbeat_ms: now,
                    join_waiter: None,
                    sync_waiter: None,
                },
            );
        }
        if g.members.is_empty() {
            g.leader = None;
        } else {
            g.leader = stored
                .leader
                .filter(|l| g.members.contains_key(l))
                .or_else(|| g.members.keys().next().cloned());
            g.state = GroupState::Stable;
        }
        g
    }

    fn transition(&mut self, to: GroupState, fx: &mut Vec<Effect>) {
        if self.state != to {
            fx.push(Effect::Event(GroupEvent::StateChanged {
                from: self.state,
                to,
            }));
            self.state = to;
        }
    }

    fn new_member_id(&mut self, client_id: &str) -> String {
        self.next_member += 1;
        // Kafka's form: client id, a dash, a unique suffix.
        format!("{client_id}-{:08x}-{}", self.incarnation, self.next_member)
    }

    fn sync_error(&self, code: i16) -> SyncResponse {
        SyncResponse {
            error_code: code,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }

    /// Checks member id, instance id and generation for Sync/Heartbeat/OffsetCommit.
    pub fn validate_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), i16> {
        if self.state == GroupState::Dead {
            return Err(errors::COORDINATOR_NOT_AVAILABLE);
        }
        if let Some(instance) = instance_id {
            match self.static_members.get(instance) {
                Some(id) if id != member_id => return Err(errors::FENCED_INSTANCE_ID),
                _ => {}
            }
        }
        if !self.members.contains_key(member_id) {
            return Err(errors::UNKNOWN_MEMBER_ID);
        }
        if generation != self.generation_id {
            return Err(errors::ILLEGAL_GENERATION);
        }
        Ok(())
    }

    pub fn sync(
        &mut self,
        waiter: Waiter,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
        now: i64,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        if let Err(code) = self.validate_member(member_id, instance_id, generation) {
            fx.push(Effect::Sync {
                waiter,
                response: self.sync_error(code),
            });
            return fx;
        }
        match self.state {
            GroupState::PreparingRebalance => {
                fx.push(Effect::Sync {
                    waiter,
                    response: self.sync_error(errors::REBALANCE_IN_PROGRESS),
                });
            }
            GroupState::Stable => {
                if let Some(m) = self.members.get_mut(member_id) {
                    m.last_heartbeat_ms = now;
                }
                let response = self.sync_ok(member_id);
                fx.push(Effect::Sync { waiter, response });
            }
            GroupState::CompletingRebalance => {
                if let Some(m) = self.members.get_mut(member_id) {
                    m.sync_waiter = Some(waiter);
                    m.last_heartbeat_ms = now;
                }
                if self.leader.as_deref() == Some(member_id) {
                    for m in self.members.values_mut() {
                        m.assignment = Bytes::new();
                    }
                    for (id, a) in assignments {
                        if let Some(m) = self.members.get_mut(&id) {
                            m.assignment = a;
                        }
                    }
                    self.transition(GroupState::Stable, &mut fx);
                    self.finish_rebalance(now, &mut fx);
                    let ids: Vec<String> = self.members.keys().cloned().collect();
                    for id in ids {
                        let response = self.sync_ok(&id);
                        if let Some(w) =
                            self.members.get_mut(&id).and_then(|m| m.sync_waiter.take())
                        {
                            fx.push(Effect::Sync {
                                waiter: w,
                                response,
                            });
                        }
                    }
                }
            }
            GroupState::Empty | GroupState::Dead => {
                fx.push(Effect::Sync {
                    waiter,
                    response: self.sync_error(errors::UNKNOWN_MEMBER_ID),
                });
            }
        }
        fx
    }

    fn sync_ok(&self, member_id: &str) -> SyncResponse {
        SyncResponse {
            error_code: 0,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment: self
                .members
                .get(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        }
    }

    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: i64,
    ) -> Result<(), i16> {
        if self.state == GroupState::Empty {
            return Err(errors::UNKNOWN_MEMBER_ID);
        }
        if let Some(instance) = instance_id {
            if self
                .static_members
                .get(instance)
                .is_some_and(|id| id != member_id)
            {
                return Err(errors::FENCED_INSTANCE_ID);
            }
        }
        let Some(m) = self.members.get_mut(member_id) else {
            return Err(errors::UNKNOWN_MEMBER_ID);
        };
        m.last_heartbeat_ms = now;
        if self.state == GroupState::PreparingRebalance {
            return Err(errors::REBALANCE_IN_PROGRESS);
        }
        if generation != self.generation_id {
            return Err(errors::ILLEGAL_GENERATION);
        }
        Ok(())
    }

    /// LeaveGroup for one member, by member id or (static) instance id.
    pub fn leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        now: i64,
        fx: &mut Vec<Effect>,
    ) -> i16 {
        let id = match instance_id {
            Some(instance) => match self.static_members.get(instance) {
                Some(id) if member_id.is_empty() || id == member_id => id.clone(),
                Some(_) => return errors::FENCED_INSTANCE_ID,
                None => return errors::UNKNOWN_MEMBER_ID,
            },
            None => member_id.to_string(),
        };
        if self.pending.remove(&id).is_some() {
            return 0;
        }
        if !self.members.contains_key(&id) {
            return errors::UNKNOWN_MEMBER_ID;
        }
        self.remove_member(&id, LeaveCause::Leave, now, fx);
        0
    }

    fn remove_member(&mut self, id: &str, cause: LeaveCause, now: i64, fx: &mut Vec<Effect>) {
        let Some(mut m) = self.members.remove(id) else {
            return;
        };
        if let Some(instance) = &m.instance_id {
            if self.static_members.get(instance).is_some_and(|x| x == id) {
                self.static_members.remove(instance);
            }
        }
        if let Some(w) = m.join_waiter.take() {
            fx.push(Effect::Join {
                waiter: w,
                response: JoinResponse::error(errors::UNKNOWN_MEMBER_ID, id),
            });
        }
        if let Some(w) = m.sync_waiter.take() {
            fx.push(Effect::Sync {
                waiter: w,
                response: self.sync_error(errors::UNKNOWN_MEMBER_ID),
            });
        }
        fx.push(Effect::Event(GroupEvent::MemberLeft {
            member_id: id.to_string(),
            cause,
        }));
        if self.leader.as_deref() == Some(id) {
            self.leader = self.members.keys().next().cloned();
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(format!("member {id} left ({})", cause.name()), now, fx);
                self.try_complete_join(now, fx);
            }
            GroupState::PreparingRebalance => self.try_complete_join(now, fx),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// Applies timers: session expiry, the rebalance timeout and the initial delay.
    pub fn tick(&mut self, now: i64) -> Vec<Effect> {
        let mut fx = Vec::new();
        self.pending.retain(|_, issued| now - *issued < 300_000);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                m.join_waiter.is_none() && now - m.last_heartbeat_ms > m.session_timeout_ms as i64
            })
            .map(|m| m.member_id.clone())
            .collect();
        for id in expired {
            self.remove_member(&id, LeaveCause::SessionTimeout, now, &mut fx);
        }
        if self.state == GroupState::PreparingRebalance {
            if let Some((deadline, _)) = self.initial_delay {
                if now >= deadline {
                    self.initial_delay = None;
                    self.join_deadline_ms = Some(now + self.max_rebalance_timeout());
                    self.try_complete_join(now, &mut fx);
                }
            } else if self.join_deadline_ms.is_some_and(|d| now >= d) {
                let late: Vec<String> = self
                    .members
                    .values()
                    .filter(|m| m.join_waiter.is_none())
                    .map(|m| m.member_id.clone())
                    .collect();
                for id in late {
                    if let Some(instance) = self.members.remove(&id).and_then(|m| m.instance_id) {
                        self.static_members.remove(&instance);
                    }
                    fx.push(Effect::Event(GroupEvent::MemberLeft {
                        member_id: id.clone(),
                        cause: LeaveCause::RebalanceTimeout,
                    }));
                    if self.leader.as_deref() == Some(id.as_str()) {
                        self.leader = None;
                    }
                }
                self.complete_join(now, &mut fx);
            }
        }
        fx
    }

    /// Deletes the group (DeleteGroups): only allowed when it has no members.
    pub fn delete(&mut self) -> Result<(), i16> {
        match self.state {
            GroupState::Empty => {
                self.state = GroupState::Dead;
                Ok(())
            }
            GroupState::Dead => Err(errors::GROUP_ID_NOT_FOUND),
            _ => Err(errors::NON_EMPTY_GROUP),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: GroupConfig = GroupConfig {
        min_session_timeout_ms: 6000,
        max_session_timeout_ms: 1_800_000,
        initial_rebalance_delay_ms: 3000,
        max_size: 3,
    };

    fn req(waiter: Waiter, member_id: &str, instance: Option<&str>) -> JoinRequest {
        JoinRequest {
            waiter,
            member_id: member_id.into(),
            instance_id: instance.map(String::from),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"meta"))],
            require_known_member_id: true,
            supports_skip_assignment: true,
            reason: None,
        }
    }

    fn joins(fx: &[Effect]) -> Vec<(Waiter, JoinResponse)> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Join { waiter, response } => Some((*waiter, response.clone())),
                _ => None,
            })
            .collect()
    }

    fn syncs(fx: &[Effect]) -> Vec<(Waiter, SyncResponse)> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Sync { waiter, response } => Some((*waiter, response.clone())),
                _ => None,
            })
            .collect()
    }

    fn events(fx: &[Effect]) -> Vec<GroupEvent> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Event(ev) => Some(ev.clone()),
                _ => None,
            })
            .collect()
    }

    /// Two-step join (MEMBER_ID_REQUIRED, then join with the id): returns the member id.
    fn join_new(g: &mut Group, waiter: Waiter, now: i64) -> (String, Vec<Effect>) {
        let fx = g.join(req(waiter, "", None), now, &CFG);
        let j = joins(&fx);
        assert_eq!(j[0].1.error_code, errors::MEMBER_ID_REQUIRED);
        let id = j[0].1.member_id.clone();
        assert!(!id.is_empty());
        (id.clone(), g.join(req(waiter + 100, &id, None), now, &CFG))
    }

    /// Builds a Stable group of `n` members at generation 1 (time 0..3000).
    fn stable_group(n: usize) -> (Group, Vec<String>) {
        let mut g = Group::new("g", 0);
        let mut ids = Vec::new();
        for i in 0..n {
            let (id, fx) = join_new(&mut g, i as u64 + 1, 0);
            assert!(joins(&fx).is_empty(), "parked during the initial delay");
            ids.push(id);
        }
        let fx = g.tick(3000);
        assert_eq!(joins(&fx).len(), n);
        assert_eq!(g.state, GroupState::CompletingRebalance);
        let leader = g.leader.clone().expect("leader");
        let assignments = ids
            .iter()
            .map(|id| (id.clone(), Bytes::from(format!("a-{id}"))))
            .collect();
        let fx = g.sync(50, &leader, None, 1, assignments, 3100);
        for id in ids.iter().filter(|i| **i != leader) {
            let fx2 = g.sync(60, id, None, 1, vec![], 3100);
            assert_eq!(syncs(&fx2)[0].1.assignment, Bytes::from(format!("a-{id}")));
        }
        assert_eq!(syncs(&fx)[0].1.error_code, 0);
        assert_eq!(g.state, GroupState::Stable);
        (g, ids)
    }

    #[test]
    fn members_join_after_initial_delay_and_get_their_assignments() {
        let mut g = Group::new("g", 0);
        let (a, _) = join_new(&mut g, 1, 0);
        let (b, _) = join_new(&mut g, 2, 1000);
        assert_eq!(g.state, GroupState::PreparingRebalance);
        // The delay was extended by b's join: nothing before 4000.
        assert!(joins(&g.tick(3500)).is_empty());
        let fx = g.tick(4000);
        let j = joins(&fx);
        assert_eq!(j.len(), 2);
        assert!(j
            .iter()
            .all(|(_, r)| r.generation_id == 1 && r.protocol_name.as_deref() == Some("range")));
        let leader = j
            .iter()
            .find(|(_, r)| r.leader == r.member_id)
            .expect("leader")
            .1
            .clone();
        assert_eq!(leader.members.len(), 2);
        let follower = if leader.member_id == a { &b } else { &a };
        // Follower syncs first and waits for the leader's assignment.
        assert!(syncs(&g.sync(10, follower, None, 1, vec![], 4100)).is_empty());
        let fx = g.sync(
            11,
            &leader.member_id,
            None,
            1,
            vec![(follower.clone(), Bytes::from_static(b"p0-2"))],
            4200,
        );
        let s = syncs(&fx);
        assert_eq!(s.len(), 2);
        assert!(s
            .iter()
            .any(|(w, r)| *w == 10 && r.assignment == Bytes::from_static(b"p0-2")));
        assert!(events(&fx).contains(&GroupEvent::Stable {
            generation: 1,
            duration_ms: 4200,
            members: 2
        }));
    }

    #[test]
    fn silent_member_is_expired_after_session_timeout_and_others_rebalance() {
        let (mut g, ids) = stable_group(3);
        for t in (4000..=13_000).step_by(3000) {
            assert_eq!(g.heartbeat(&ids[0], None, 1, t), Ok(()));
            assert_eq!(g.heartbeat(&ids[1], None, 1, t), Ok(()));
            assert!(events(&g.tick(t)).is_empty());
        }
        // ids[2] last heartbeat at 3100 (its sync): expires after 13_100.
        let fx = g.tick(13_101);
        assert!(events(&fx).contains(&GroupEvent::MemberLeft {
            member_id: ids[2].clone(),
            cause: LeaveCause::SessionTimeout
        }));
        assert_eq!(g.state, GroupState::PreparingRebalance);
        assert_eq!(
            g.heartbeat(&ids[0], None, 1, 13_200),
            Err(errors::REBALANCE_IN_PROGRESS)
        );
        assert!(joins(&g.join(req(7, &ids[0], None), 13_300, &CFG)).is_empty());
        let fx = g.join(req(8, &ids[1], None), 13_400, &CFG);
        let j = joins(&fx);
        assert_eq!(j.len(), 2);
        assert!(j.iter().all(|(_, r)| r.generation_id == 2));
    }

    #[test]
    fn member_that_does_not_rejoin_is_removed_at_the_rebalance_timeout() {
        let (mut g, ids) = stable_group(2);
        let _ = g.leave(&ids[0], None, 5000, &mut Vec::new());
        let mut fx = Vec::new();
        assert_eq!(
            g.leave("nobody", None, 5000, &mut fx),
            errors::UNKNOWN_MEMBER_ID
        );
        // ids[0] left; the group waits for ids[1] (heartbeating but not rejoining).
        assert_eq!(g.state, GroupState::PreparingRebalance);
        for t in (6000..35_000).step_by(3000) {
            let _ = g.heartbeat(&ids[1], None, 1, t);
            assert!(joins(&g.tick(t)).is_empty());
        }
        let fx = g.tick(35_001);
        assert!(events(&fx).contains(&GroupEvent::MemberLeft {
            member_id: ids[1].clone(),
            cause: LeaveCause::RebalanceTimeout
        }));
        assert_eq!(g.state, GroupState::Empty);
        assert_eq!(g.generation_id, 2);
    }

    #[test]
    fn error_codes_for_bad_requests() {
        let (mut g, ids) = stable_group(2);
        let mut r = req(1, "", None);
        r.session_timeout_ms = 1000;
        assert_eq!(
            joins(&g.join(r, 0, &CFG))[0].1.error_code,
            errors::INVALID_SESSION_TIMEOUT
        );
        let mut r = req(1, "", None);
        r.protocol_type = "connect".into();
        assert_eq!(
            joins(&g.join(r, 0, &CFG))[0].1.error_code,
            errors::INCONSISTENT_GROUP_PROTOCOL
        );
        assert_eq!(
            joins(&g.join(req(1, "ghost", None), 0, &CFG))[0]
                .1
                .error_code,
            errors::UNKNOWN_MEMBER_ID
        );
        assert_eq!(
            g.heartbeat(&ids[0], None, 0, 4000),
            Err(errors::ILLEGAL_GENERATION)
        );
        assert_eq!(
            g.heartbeat("ghost", None, 1, 4000),
            Err(errors::UNKNOWN_MEMBER_ID)
        );
        assert_eq!(
            syncs(&g.sync(1, &ids[0], None, 7, vec![], 4000))[0]
                .1
                .error_code,
            errors::ILLEGAL_GENERATION
        );
        let _ = join_new(&mut g, 9, 4000);
        assert_eq!(
            joins(&g.join(req(1, "", None), 4000, &CFG))[0].1.error_code,
            errors::GROUP_MAX_SIZE_REACHED
        );
        assert_eq!(g.delete(), Err(errors::NON_EMPTY_GROUP));
    }

    #[test]
    fn static_member_restart_keeps_assignment_without_rebalance() {
        let mut g = Group::new("g", 0);
        let fx = g.join(req(1, "", Some("i-1")), 0, &CFG);
        assert!(
            joins(&fx).is_empty(),
            "static members skip MEMBER_ID_REQUIRED"
        );
        let fx2 = g.join(req(2, "", Some("i-2")), 0, &CFG);
        assert!(joins(&fx2).is_empty());
        let j = joins(&g.tick(3000));
        let leader = j[0].1.leader.clone();
        let other = j
            .iter()
            .map(|(_, r)| r.member_id.clone())
            .find(|m| *m != leader)
            .expect("other");
        let other_instance = g.members[&other].instance_id.clone().expect("static");
        let _ = g.sync(
            3,
            &leader,
            None,
            1,
            vec![(other.clone(), Bytes::from_static(b"mine"))],
            3100,
        );
        assert_eq!(g.state, GroupState::Stable);
        // The non-leader restarts: new member id, same instance, within its session.
        let fx = g.join(req(4, "", Some(&other_instance)), 8000, &CFG);
        let j = joins(&fx);
        assert_eq!(j.len(), 1);
        assert_eq!(j[0].1.generation_id, 1, "no new generation");
        assert!(!events(&fx)
            .iter()
            .any(|e| matches!(e, GroupEvent::RebalanceStarted { .. })));
        assert_eq!(g.state, GroupState::Stable);
        let new_id = j[0].1.member_id.clone();
        assert_ne!(new_id, other);
        assert_eq!(
            syncs(&g.sync(5, &new_id, Some(&other_instance), 1, vec![], 8100))[0]
                .1
                .assignment,
            Bytes::from_static(b"mine")
        );
        // The old incarnation is fenced.
        assert_eq!(
            g.heartbeat(&other, Some(&other_instance), 1, 8200),
            Err(errors::FENCED_INSTANCE_ID)
        );
    }

    #[test]
    fn a_loaded_group_is_stable_with_its_members_generation_and_assignments() {
        let (g, ids) = stable_group(2);
        let stored = g.stored().expect("a stable group is stored");
        assert_eq!(stored.members.len(), 2);
        // Survives the JSON the networked quorum ships.
        let json = serde_json::to_string(&stored).expect("serialize");
        let back: StoredGroup = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, stored);

        // A new coordinator (another incarnation) loads it at its own time 50_000.
        let mut loaded = Group::load("g", back, 7, 50_000);
        assert_eq!(loaded.state, GroupState::Stable);
        assert_eq!(loaded.generation_id, 1);
        assert_eq!(loaded.leader, g.leader);
        assert_eq!(loaded.protocol_name.as_deref(), Some("range"));
        for id in &ids {
            // The members keep heartbeating and committing with the old generation.
            assert_eq!(loaded.validate_member(id, None, 1), Ok(()));
            assert_eq!(loaded.heartbeat(id, None, 1, 50_100), Ok(()));
            let fx = loaded.sync(90, id, None, 1, vec![], 50_200);
            assert_eq!(syncs(&fx)[0].1.assignment, Bytes::from(format!("a-{id}")));
        }
        assert_eq!(
            loaded.heartbeat(&ids[0], None, 0, 50_300),
            Err(errors::ILLEGAL_GENERATION)
        );
        // The leader's JoinGroup would list the stored subscriptions.
        assert!(loaded
            .members
            .values()
            .all(|m| m.metadata_for("range") == Bytes::from_static(b"meta")));
        // Nothing rebalances while they heartbeat.
        assert!(loaded.tick(59_000).is_empty());
        assert_eq!(loaded.state, GroupState::Stable);
    }

    #[test]
    fn a_loaded_member_that_never_heartbeats_is_expired_by_its_session_timeout() {
        let (g, ids) = stable_group(2);
        let stored = g.stored().expect("stored");
        let mut loaded = Group::load("g", stored, 7, 50_000);
        // The session (10 s) starts at load time, not at the old coordinator's times.
        assert!(loaded.tick(55_000).is_empty());
        assert_eq!(loaded.heartbeat(&ids[0], None, 1, 55_000), Ok(()));
        let fx = loaded.tick(60_001);
        assert!(events(&fx).contains(&GroupEvent::MemberLeft {
            member_id: ids[1].clone(),
            cause: LeaveCause::SessionTimeout
        }));
        assert_eq!(loaded.state, GroupState::PreparingRebalance);
        assert_eq!(
            loaded.heartbeat(&ids[0], None, 1, 60_050),
            Err(errors::REBALANCE_IN_PROGRESS)
        );
    }

    #[test]
    fn an_empty_group_loads_empty_and_a_rebalancing_one_is_not_stored() {
        let (mut g, ids) = stable_group(1);
        let mut fx = Vec::new();
        assert_eq!(g.leave(&ids[0], None, 4000, &mut fx), 0);
        // The last member left: the rebalance completes at once with no members.
        let _ = g.tick(4050);
        assert_eq!(g.state, GroupState::Empty);
        let stored = g.stored().expect("an empty group is stored");
        assert!(stored.members.is_empty());
        let loaded = Group::load("g", stored, 7, 9_000);
        assert_eq!(loaded.state, GroupState::Empty);
        assert!(loaded.members.is_empty() && loaded.leader.is_none());
        assert_eq!(
            loaded.validate_member(&ids[0], None, 1),
            Err(errors::UNKNOWN_MEMBER_ID)
        );

        let mut g = Group::new("g", 0);
        let _ = join_new(&mut g, 1, 0);
        assert_eq!(g.state, GroupState::PreparingRebalance);
        assert_eq!(g.stored(), None);
    }
}
