//! The new consumer group protocol (KIP-848, `ConsumerGroupHeartbeat`), pure: the
//! broker computes the target assignment and hands it out incrementally — a partition
//! is given to its new owner only after the previous owner reported it revoked — so
//! there is no group-wide stop-the-world pause. Time is passed in.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::state::{GroupEvent, LeaveCause};
use crate::protocol::errors;

/// (topic id, partition).
pub type TopicPartition = (Uuid, i32);

/// What the coordinator knows of a subscribed topic: its id and partition count.
pub type TopicLookup<'a> = &'a dyn Fn(&str) -> Option<(Uuid, i32)>;

#[derive(Debug, Clone, Copy)]
pub struct ConsumerGroupConfig {
    pub session_timeout_ms: i64,
    pub heartbeat_interval_ms: i32,
    pub max_size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignor {
    /// Balanced and sticky: keeps partitions where they are when it can.
    Uniform,
    /// Per topic, contiguous ranges.
    Range,
}

impl Assignor {
    pub fn parse(name: Option<&str>) -> Option<Assignor> {
        match name {
            None | Some("uniform") => Some(Assignor::Uniform),
            Some("range") => Some(Assignor::Range),
            Some(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConsumerMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub epoch: i32,
    pub subscribed: Vec<String>,
    pub owned: BTreeSet<TopicPartition>,
    pub rebalance_timeout_ms: i32,
    last_heartbeat_ms: i64,
    /// Assignment last sent, so unchanged assignments are not resent.
    sent: Option<BTreeSet<TopicPartition>>,
    /// Since when the member has been asked to revoke partitions.
    revoking_since: Option<i64>,
}

impl ConsumerMember {
    /// Partitions the member may be consuming: what it reported owning plus what it was
    /// last told to own (a partition is not handed to anyone else until both drop it).
    fn held(&self) -> BTreeSet<TopicPartition> {
        let mut h = self.owned.clone();
        if let Some(sent) = &self.sent {
            h.extend(sent.iter().copied());
        }
        h
    }
}

#[derive(Debug, Clone, Default)]
pub struct HeartbeatRequest {
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub subscribed: Option<Vec<String>>,
    pub assignor: Option<String>,
    pub owned: Option<Vec<TopicPartition>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatResponse {
    pub error_code: i16,
    pub error_message: Option<String>,
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// The partitions the member should own now; `None` = unchanged.
    pub assignment: Option<BTreeSet<TopicPartition>>,
}

#[derive(Debug, Clone)]
pub struct ConsumerGroup {
    pub id: String,
    /// Bumped whenever membership, subscriptions or subscribed topics change.
    pub epoch: i32,
    assignment_epoch: i32,
    assignor: Assignor,
    pub members: BTreeMap<String, ConsumerMember>,
    target: BTreeMap<String, BTreeSet<TopicPartition>>,
    /// Partition counts of the subscribed topics when the target was computed.
    topics_seen: BTreeMap<String, (Uuid, i32)>,
    rebalance_started_ms: Option<i64>,
}

impl ConsumerGroup {
    pub fn new(id: &str) -> Self {
        ConsumerGroup {
            id: id.to_string(),
            epoch: 0,
            assignment_epoch: 0,
            assignor: Assignor::Uniform,
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            topics_seen: BTreeMap::new(),
            rebalance_started_ms: None,
        }
    }

    /// Kafka's consumer-group states: Empty, Assigning, Reconciling, Stable.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.assignment_epoch < self.epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .any(|m| m.epoch != self.assignment_epoch || m.owned != self.target_of(&m.member_id))
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    fn target_of(&self, member: &str) -> BTreeSet<TopicPartition> {
        self.target.get(member).cloned().unwrap_or_default()
    }

    /// The member's target assignment (for describing the group).
    pub fn assignment_of(&self, member: &str) -> BTreeSet<TopicPartition> {
        self.target_of(member)
    }

    fn bump(&mut self, reason: String, now: i64, events: &mut Vec<GroupEvent>) {
        self.epoch += 1;
        if self.rebalance_started_ms.is_none() {
            self.rebalance_started_ms = Some(now);
            events.push(GroupEvent::RebalanceStarted { reason });
        }
    }

    fn error(code: i16, message: &str, req: &HeartbeatRequest) -> HeartbeatResponse {
        HeartbeatResponse {
            error_code: code,
            error_message: Some(message.to_string()),
            member_id: req.member_id.clone(),
            member_epoch: -1,
            heartbeat_interval_ms: 0,
            assignment: None,
        }
    }

    pub fn heartbeat(
        &mut self,
        req: HeartbeatRequest,
        now: i64,
        cfg: &ConsumerGroupConfig,
        topics: TopicLookup<'_>,
        new_member_id: impl FnOnce() -> String,
    ) -> (HeartbeatResponse, Vec<GroupEvent>) {
        let mut events = Vec::new();
        if req.member_epoch == -1 || req.member_epoch == -2 {
            // -1 leaves; -2 is a static member's temporary leave (treated as leaving).
            if self.members.contains_key(&req.member_id) {
                self.remove(&req.member_id.clone(), LeaveCause::Leave, now, &mut events);
            }
            let resp = HeartbeatResponse {
                error_code: 0,
                error_message: None,
                member_id: req.member_id.clone(),
                member_epoch: req.member_epoch,
                heartbeat_interval_ms: 0,
                assignment: None,
            };
            return (resp, events);
        }
        // KIP-848: a field left at -1 / null means "unchanged since the last heartbeat".
        let assignor = match req.assignor.as_deref() {
            None => None,
            Some(name) => match Assignor::parse(Some(name)) {
                Some(a) => Some(a),
                None => {
                    return (
                        Self::error(
                            errors::UNSUPPORTED_ASSIGNOR,
                            "supported assignors: uniform, range",
                            &req,
                        ),
                        events,
                    )
                }
            },
        };
        if req.member_epoch == 0 && req.rebalance_timeout_ms < 0 {
            return (
                Self::error(
                    errors::INVALID_REQUEST,
                    "RebalanceTimeoutMs must be provided in first request.",
                    &req,
                ),
                events,
            );
        }
        let member_id = if req.member_epoch == 0 {
            let id = if req.member_id.is_empty() {
                new_member_id()
            } else {
                req.member_id.clone()
            };
            if let Some(instance) = &req.instance_id {
                // A static member coming back replaces its previous incarnation.
                if let Some(old) = self
                    .members
                    .values()
                    .find(|m| m.instance_id.as_ref() == Some(instance) && m.member_id != id)
                    .map(|m| m.member_id.clone())
                {
                    if let Some(mut m) = self.members.remove(&old) {
                        if let Some(t) = self.target.remove(&old) {
                            self.target.insert(id.clone(), t);
                        }
                        m.member_id = id.clone();
                        m.sent = None;
                        m.owned.clear();
                        self.members.insert(id.clone(), m);
                    }
                }
            }
            if !self.members.contains_key(&id) {
                if self.members.len() >= cfg.max_size {
                    return (
                        Self::error(errors::GROUP_MAX_SIZE_REACHED, "group is full", &req),
                        events,
                    );
                }
                let subscribed = req.subscribed.clone().unwrap_or_default();
                if subscribed.is_empty() {
                    return (
                        Self::error(
                            errors::INVALID_REQUEST,
                            "a joining member must subscribe to topics",
                            &req,
                        ),
                        events,
                    );
                }
                self.members.insert(
                    id.clone(),
                    ConsumerMember {
                        member_id: id.clone(),
                        instance_id: req.instance_id.clone(),
                        client_id: req.client_id.clone(),
                        client_host: req.client_host.clone(),
                        epoch: 0,
                        subscribed,
                        owned: BTreeSet::new(),
                        rebalance_timeout_ms: req.rebalance_timeout_ms,
                        last_heartbeat_ms: now,
                        sent: None,
                        revoking_since: None,
                    },
                );
                events.push(GroupEvent::MemberJoined {
                    member_id: id.clone(),
                    client_id: req.client_id.clone(),
                });
                self.bump(format!("member {id} joined"), now, &mut events);
            } else if let Some(m) = self.members.get_mut(&id) {
                m.sent = None;
            }
            id
        } else {
            let Some(m) = self.members.get(&req.member_id) else {
                return (
                    Self::error(errors::UNKNOWN_MEMBER_ID, "unknown member", &req),
                    events,
                );
            };
            if req.member_epoch > m.epoch || req.member_epoch < m.epoch - 1 {
                return (
                    Self::error(errors::FENCED_MEMBER_EPOCH, "member epoch is fenced", &req),
                    events,
                );
            }
            req.member_id.clone()
        };
        if let Some(a) = assignor {
            self.assignor = a;
        }
        let mut changed_subscription = false;
        if let Some(m) = self.members.get_mut(&member_id) {
            m.last_heartbeat_ms = now;
            if req.rebalance_timeout_ms >= 0 {
                m.rebalance_timeout_ms = req.rebalance_timeout_ms;
            }
            if let Some(owned) = &req.owned {
                m.owned = owned.iter().copied().collect();
            }
            if let Some(sub) = &req.subscribed {
                if *sub != m.subscribed && !sub.is_empty() {
                    m.subscribed = sub.clone();
                    changed_subscription = true;
                }
            }
        }
        if changed_subscription {
            self.bump(
                format!("member {member_id} changed its subscription"),
                now,
                &mut events,
            );
        }
        // Subscribed topics created or grown since the last assignment.
        let now_topics = self.subscribed_topics(topics);
        if now_topics != self.topics_seen && self.assignment_epoch == self.epoch && self.epoch > 0 {
            self.bump("subscribed topic metadata changed".into(), now, &mut events);
        }
        if self.assignment_epoch < self.epoch {
            self.target = assign(self.assignor, &self.members, &now_topics, &self.target);
            self.topics_seen = now_topics;
            self.assignment_epoch = self.epoch;
        }
        let assignment = self.reconcile(&member_id, now);
        self.maybe_stable(now, &mut events);
        let m = &self.members[&member_id];
        let resp = HeartbeatResponse {
            error_code: 0,
            error_message: None,
            member_id,
            member_epoch: m.epoch,
            heartbeat_interval_ms: cfg.heartbeat_interval_ms,
            assignment,
        };
        (resp, events)
    }

    fn subscribed_topics(&self, topics: TopicLookup<'_>) -> BTreeMap<String, (Uuid, i32)> {
        let mut out = BTreeMap::new();
        for m in self.members.values() {
            for t in &m.subscribed {
                if !out.contains_key(t) {
                    if let Some(info) = topics(t) {
                        out.insert(t.clone(), info);
                    }
                }
            }
        }
        out
    }

    /// Moves one member toward its target: first revoke what it must give up, then take
    /// what is free. Returns the assignment to send, if it changed.
    fn reconcile(&mut self, member_id: &str, now: i64) -> Option<BTreeSet<TopicPartition>> {
        let target = self.target_of(member_id);
        let owned_by_others: BTreeSet<TopicPartition> = self
            .members
            .values()
            .filter(|m| m.member_id != member_id)
            .flat_map(|m| m.held())
            .collect();
        let assignment_epoch = self.assignment_epoch;
        let m = self.members.get_mut(member_id)?;
        let held = m.held();
        let keep: BTreeSet<TopicPartition> = held.intersection(&target).copied().collect();
        let desired = if keep.len() < held.len() {
            // Still owns partitions that moved: ask for them back, keep the epoch.
            m.revoking_since.get_or_insert(now);
            keep
        } else {
            m.revoking_since = None;
            m.epoch = assignment_epoch;
            target
                .difference(&owned_by_others)
                .copied()
                .chain(keep)
                .collect()
        };
        if m.sent.as_ref() == Some(&desired) {
            None
        } else {
            m.sent = Some(desired.clone());
            Some(desired)
        }
    }

    fn maybe_stable(&mut self, now: i64, events: &mut Vec<GroupEvent>) {
        if self.rebalance_started_ms.is_some() && self.state_name() == "Stable" {
            let started = self.rebalance_started_ms.take().unwrap_or(now);
            events.push(GroupEvent::Stable {
                generation: self.epoch,
                duration_ms: now - started,
                members: self.members.len(),
            });
        }
    }

    fn remove(
        &mut self,
        member_id: &str,
        cause: LeaveCause,
        now: i64,
        events: &mut Vec<GroupEvent>,
    ) {
        if self.members.remove(member_id).is_some() {
            self.target.remove(member_id);
            events.push(GroupEvent::MemberLeft {
                member_id: member_id.to_string(),
                cause,
            });
            if self.members.is_empty() {
                self.epoch += 1;
                self.assignment_epoch = self.epoch;
                self.rebalance_started_ms = None;
            } else {
                self.bump(
                    format!("member {member_id} left ({})", cause.name()),
                    now,
                    events,
                );
            }
        }
    }

    /// Session expiry, and members that do not revoke within their rebalance timeout.
    pub fn tick(&mut self, now: i64, cfg: &ConsumerGroupConfig) -> Vec<GroupEvent> {
        let mut events = Vec::new();
        let expired: Vec<(String, LeaveCause)> = self
            .members
            .values()
            .filter_map(|m| {
                if now - m.last_heartbeat_ms > cfg.session_timeout_ms {
                    Some((m.member_id.clone(), LeaveCause::SessionTimeout))
                } else if m
                    .revoking_since
                    .is_some_and(|t| now - t > m.rebalance_timeout_ms as i64)
                {
                    Some((m.member_id.clone(), LeaveCause::RebalanceTimeout))
                } else {
                    None
                }
            })
            .collect();
        for (id, cause) in expired {
            self.remove(&id, cause, now, &mut events);
        }
        events
    }
}

/// Computes the target assignment of every member.
fn assign(
    assignor: Assignor,
    members: &BTreeMap<String, ConsumerMember>,
    topics: &BTreeMap<String, (Uuid, i32)>,
    previous: &BTreeMap<String, BTreeSet<TopicPartition>>,
) -> BTreeMap<String, BTreeSet<TopicPartition>> {
    let mut out: BTreeMap<String, BTreeSet<TopicPartition>> = members
        .keys()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    match assignor {
        Assignor::Range => {
            for (name, (id, count)) in topics {
                let subs: Vec<&String> = members
                    .values()
                    .filter(|m| m.subscribed.contains(name))
                    .map(|m| &m.member_id)
                    .collect();
                if subs.is_empty() {
                    continue;
                }
                let n = subs.len() as i32;
                let (per, extra) = (count / n, count % n);
                let mut next = 0;
                for (i, m) in subs.iter().enumerate() {
                    let take = per + i32::from((i as i32) < extra);
                    for p in next..next + take {
                        out.entry((*m).clone()).or_default().insert((*id, p));
                    }
                    next += take;
                }
            }
        }
        Assignor::Uniform => {
            let subscribes = |m: &str, tp: &TopicPartition| {
                topics.iter().any(|(name, (id, count))| {
                    *id == tp.0 && tp.1 < *count && members[m].subscribed.contains(name)
                })
            };
            let all: Vec<TopicPartition> = topics
                .values()
                .flat_map(|(id, count)| (0..*count).map(move |p| (*id, p)))
                .collect();
            // Keep previous placements that are still valid.
            let mut taken = BTreeSet::new();
            for (m, tps) in previous {
                if !members.contains_key(m) {
                    continue;
                }
                for tp in tps {
                    if subscribes(m, tp) && taken.insert(*tp) {
                        out.entry(m.clone()).or_default().insert(*tp);
                    }
                }
            }
            // Trim members above their fair share, then hand out free partitions to the
            // least-loaded subscribed member.
            let n = members.len().max(1);
            let quota = all.len().div_ceil(n);
            for tps in out.values_mut() {
                while tps.len() > quota {
                    if let Some(last) = tps.iter().next_back().copied() {
                        tps.remove(&last);
                        taken.remove(&last);
                    }
                }
            }
            for tp in all.iter().filter(|tp| !taken.contains(*tp)) {
                let best = out
                    .iter()
                    .filter(|(m, _)| subscribes(m, tp))
                    .min_by_key(|(m, tps)| (tps.len(), (*m).clone()))
                    .map(|(m, _)| m.clone());
                if let Some(m) = best {
                    out.entry(m).or_default().insert(*tp);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: ConsumerGroupConfig = ConsumerGroupConfig {
        session_timeout_ms: 45_000,
        heartbeat_interval_ms: 5000,
        max_size: 100,
    };

    fn topic_id() -> Uuid {
        Uuid::from_u128(7)
    }

    fn lookup(name: &str) -> Option<(Uuid, i32)> {
        (name == "t").then_some((topic_id(), 6))
    }

    fn join(g: &mut ConsumerGroup, id: &str, now: i64) -> HeartbeatResponse {
        let req = HeartbeatRequest {
            member_id: id.into(),
            member_epoch: 0,
            rebalance_timeout_ms: 30_000,
            subscribed: Some(vec!["t".into()]),
            owned: Some(vec![]),
            ..Default::default()
        };
        g.heartbeat(req, now, &CFG, &lookup, || unreachable!()).0
    }

    fn beat(
        g: &mut ConsumerGroup,
        id: &str,
        epoch: i32,
        owned: &BTreeSet<TopicPartition>,
        now: i64,
    ) -> HeartbeatResponse {
        let req = HeartbeatRequest {
            member_id: id.into(),
            member_epoch: epoch,
            rebalance_timeout_ms: 30_000,
            owned: Some(owned.iter().copied().collect()),
            ..Default::default()
        };
        g.heartbeat(req, now, &CFG, &lookup, || unreachable!()).0
    }

    #[test]
    fn second_member_gets_partitions_only_after_the_first_revokes_them() {
        let mut g = ConsumerGroup::new("g");
        let a = join(&mut g, "a", 0);
        let a_owned = a.assignment.clone().expect("assignment");
        assert_eq!(a_owned.len(), 6);
        assert_eq!(a.member_epoch, 1);
        let b = join(&mut g, "b", 10);
        // b's three partitions are still owned by a: b gets nothing yet.
        assert_eq!(b.assignment, Some(BTreeSet::new()));
        assert_eq!(g.state_name(), "Reconciling");
        // a is asked to give up three and keeps three (no stop-the-world).
        let a2 = beat(&mut g, "a", 1, &a_owned, 20);
        let keep = a2.assignment.expect("revocation");
        assert_eq!(keep.len(), 3);
        assert_eq!(a2.member_epoch, 1, "epoch advances only after revoking");
        let a3 = beat(&mut g, "a", 1, &keep, 30);
        assert_eq!(a3.member_epoch, 2);
        let b2 = beat(&mut g, "b", b.member_epoch, &BTreeSet::new(), 40);
        let b_owned = b2.assignment.expect("now free");
        assert_eq!(b_owned.len(), 3);
        assert!(b_owned.is_disjoint(&keep));
        let _ = beat(&mut g, "b", 2, &b_owned, 50);
        assert_eq!(g.state_name(), "Stable");
    }

    /// Issue 15: librdkafka sends RebalanceTimeoutMs and ServerAssignor only when
    /// joining; -1 / null afterwards means "unchanged", not a zero timeout.
    #[test]
    fn omitted_fields_keep_their_values_and_a_slow_revoker_stays() {
        let mut g = ConsumerGroup::new("g");
        let req = HeartbeatRequest {
            member_id: "a".into(),
            member_epoch: 0,
            rebalance_timeout_ms: 300_000,
            subscribed: Some(vec!["t".into()]),
            assignor: Some("range".into()),
            owned: Some(vec![]),
            ..Default::default()
        };
        let a = g.heartbeat(req, 0, &CFG, &lookup, || unreachable!()).0;
        let a_owned = a.assignment.expect("a");
        let omitted = |epoch: i32, owned: &BTreeSet<TopicPartition>| HeartbeatRequest {
            member_id: "a".into(),
            member_epoch: epoch,
            rebalance_timeout_ms: -1,
            owned: Some(owned.iter().copied().collect()),
            ..Default::default()
        };
        let _ = g.heartbeat(omitted(1, &a_owned), 1, &CFG, &lookup, || unreachable!());
        assert_eq!(g.members["a"].rebalance_timeout_ms, 300_000);
        assert_eq!(
            g.assignor,
            Assignor::Range,
            "null ServerAssignor keeps range"
        );
        let _ = join(&mut g, "b", 10);
        let keep = g
            .heartbeat(omitted(1, &a_owned), 20, &CFG, &lookup, || unreachable!())
            .0
            .assignment
            .expect("revocation");
        assert_eq!(keep.len(), 3);
        // The member takes 5 s to revoke: far within its 300 s rebalance timeout.
        assert!(g.tick(5_020, &CFG).is_empty());
        assert!(g.members.contains_key("a"));
        let a3 = g
            .heartbeat(omitted(1, &keep), 5_030, &CFG, &lookup, || unreachable!())
            .0;
        assert_eq!((a3.error_code, a3.member_epoch), (0, 2));
        // Past the rebalance timeout a member that does not revoke is removed.
        let _ = beat(&mut g, "b", 2, &BTreeSet::new(), 5_040);
        let mut h = ConsumerGroup::new("h");
        let _ = join(&mut h, "a", 0);
        let a_all = h.members["a"].sent.clone().expect("sent");
        let _ = join(&mut h, "b", 10);
        let _ = beat(&mut h, "a", 1, &a_all, 20);
        assert!(h.tick(30_019, &CFG).is_empty());
        let ev = h.tick(30_021, &CFG);
        assert!(ev.iter().any(|e| matches!(
            e,
            GroupEvent::MemberLeft {
                cause: LeaveCause::RebalanceTimeout,
                ..
            }
        )));
        // The first heartbeat must carry the rebalance timeout.
        let bad = HeartbeatRequest {
            member_id: "c".into(),
            member_epoch: 0,
            rebalance_timeout_ms: -1,
            subscribed: Some(vec!["t".into()]),
            ..Default::default()
        };
        assert_eq!(
            g.heartbeat(bad, 6_000, &CFG, &lookup, || unreachable!())
                .0
                .error_code,
            errors::INVALID_REQUEST
        );
    }

    #[test]
    fn expired_member_partitions_move_and_errors() {
        let mut g = ConsumerGroup::new("g");
        let a = join(&mut g, "a", 0).assignment.expect("a");
        let _ = beat(&mut g, "a", 1, &a, 1);
        assert_eq!(
            beat(&mut g, "ghost", 1, &BTreeSet::new(), 2).error_code,
            errors::UNKNOWN_MEMBER_ID
        );
        assert_eq!(
            beat(&mut g, "a", 9, &a, 2).error_code,
            errors::FENCED_MEMBER_EPOCH
        );
        let ev = g.tick(45_002, &CFG);
        assert!(ev.iter().any(|e| matches!(
            e,
            GroupEvent::MemberLeft {
                cause: LeaveCause::SessionTimeout,
                ..
            }
        )));
        assert!(g.members.is_empty());
        assert_eq!(g.state_name(), "Empty");
    }
}
