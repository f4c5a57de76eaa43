//! The consumer group protocol of KIP-848 (`group.protocol=consumer`): one
//! `ConsumerGroupHeartbeat` request carries the membership, the subscription and the
//! partitions the member owns; the coordinator computes the assignment
//! (`group.remote.assignor`, "uniform" when unset) and hands out the member's target in
//! the heartbeat responses. There is no JoinGroup / SyncGroup and no group-wide stop:
//!
//! - joining is a heartbeat with member epoch 0; the response gives the member epoch
//!   and the heartbeat interval (the broker's `group.consumer.heartbeat.interval.ms`);
//! - reconciliation happens in `poll()`, as the Java client runs its rebalance
//!   listener there: the partitions the target no longer holds are committed (with
//!   auto-commit) and revoked, the new ones are added, and the next heartbeat, sent at
//!   once, acknowledges the new ownership; the coordinator then advances the member's
//!   epoch and gives the revoked partitions to their new owners;
//! - fields that did not change since the last heartbeat are sent as -1 / null
//!   ("unchanged"), as the Java and librdkafka clients do;
//! - UNKNOWN_MEMBER_ID or FENCED_MEMBER_EPOCH: the partitions are lost and the member
//!   rejoins with epoch 0 (same member id);
//! - `max.poll.interval.ms` without a poll: the member leaves (epoch -1) and the next
//!   poll rejoins; `close()` leaves with epoch -1 (-2 for a static member).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, GroupId, TopicName};
use kafka_protocol::protocol::StrBytes;
use parking_lot::Mutex;
use tokio::time::Instant;
use uuid::Uuid;

use super::assignor::TopicPartition;
use super::group::{self, code, GroupShared, Phase};
use super::{Consumer, ConsumerEvent};
use crate::client::error::ClientError;

/// KIP-848's error codes the member acts on.
mod kip848_code {
    pub const UNSUPPORTED_VERSION: i16 = 35;
    pub const INVALID_REQUEST: i16 = 42;
    pub const GROUP_MAX_SIZE_REACHED: i16 = 81;
    pub const FENCED_MEMBER_EPOCH: i16 = 110;
    pub const UNRELEASED_INSTANCE_ID: i16 = 111;
    pub const UNSUPPORTED_ASSIGNOR: i16 = 112;
}

/// Member epoch of a leaving member (-2: a static member's temporary leave).
const LEAVE_EPOCH: i32 = -1;
const STATIC_LEAVE_EPOCH: i32 = -2;

/// A partition by topic id, as the heartbeat carries it.
pub type TopicIdPartition = (Uuid, i32);

/// What one reconciliation does to the member's assignment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciliation {
    /// Owned partitions the target no longer holds: commit and revoke them first.
    pub revoke: Vec<TopicPartition>,
    /// Target partitions not owned yet: add them after the revocation.
    pub add: Vec<TopicPartition>,
    /// The member's ownership afterwards (the acknowledgement the next heartbeat sends).
    pub owned: Vec<TopicPartition>,
}

/// Compares the owned partitions with the coordinator's target. `None` while a topic
/// id of the target is not in the metadata yet (the caller refreshes and tries again);
/// partitions of topics the member does not subscribe to are left out.
pub fn reconcile(
    owned: &[TopicPartition],
    target: &BTreeSet<TopicIdPartition>,
    name_of: impl Fn(Uuid) -> Option<String>,
    subscribed: &[String],
) -> Option<Reconciliation> {
    let mut wanted = BTreeSet::new();
    for (id, p) in target {
        let name = name_of(*id)?;
        if subscribed.contains(&name) {
            wanted.insert((name, *p));
        }
    }
    let have: BTreeSet<TopicPartition> = owned.iter().cloned().collect();
    Some(Reconciliation {
        revoke: have.difference(&wanted).cloned().collect(),
        add: wanted.difference(&have).cloned().collect(),
        owned: wanted.into_iter().collect(),
    })
}

/// What the heartbeat task and `poll()` share, beyond the classic [`group::Membership`]
/// (whose `generation` holds the member epoch).
#[derive(Debug)]
pub(crate) struct Kip848State {
    /// The latest target the coordinator sent, not yet reconciled by `poll()`.
    pending: Option<BTreeSet<TopicIdPartition>>,
    /// The ownership `poll()` reconciled to, to acknowledge.
    owned: BTreeSet<TopicIdPartition>,
    /// The ownership the coordinator was last told (None: tell it).
    owned_sent: Option<BTreeSet<TopicIdPartition>>,
    /// The subscription, and the one the coordinator was last told.
    subscription: Vec<String>,
    subscription_sent: Option<Vec<String>>,
    /// The next heartbeat is a (re)join: send every field.
    joining: bool,
    join_started: Option<Instant>,
    /// The broker's heartbeat interval (the configured one until it answers).
    interval: Duration,
    /// Send the next heartbeat now (a reconciliation to acknowledge).
    ack_due: bool,
}

pub(crate) struct Kip848 {
    pub state: Mutex<Kip848State>,
    /// `group.remote.assignor` (None: the coordinator's default, "uniform").
    assignor: Option<String>,
}

impl Kip848 {
    pub fn new(assignor: Option<String>, interval: Duration) -> Kip848 {
        Kip848 {
            state: Mutex::new(Kip848State {
                pending: None,
                owned: BTreeSet::new(),
                owned_sent: None,
                subscription: Vec::new(),
                subscription_sent: None,
                joining: false,
                join_started: None,
                interval,
                ack_due: false,
            }),
            assignor,
        }
    }
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// One heartbeat's request, with what it told the coordinator (to record once sent).
fn heartbeat_request(
    g: &GroupShared,
    k: &Kip848,
    member_id: &str,
    epoch: i32,
) -> (
    ConsumerGroupHeartbeatRequest,
    Vec<String>,
    BTreeSet<TopicIdPartition>,
) {
    let st = k.state.lock();
    let mut req = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(&g.cfg.group_id)))
        .with_member_id(s(member_id))
        .with_member_epoch(epoch)
        .with_instance_id(g.cfg.instance_id.as_deref().map(s))
        .with_rebalance_timeout_ms(-1);
    if st.joining {
        req = req
            .with_rebalance_timeout_ms(g.cfg.rebalance_timeout_ms)
            .with_server_assignor(k.assignor.as_deref().map(s));
    }
    if st.joining || st.subscription_sent.as_ref() != Some(&st.subscription) {
        req = req.with_subscribed_topic_names(Some(
            st.subscription.iter().map(|t| TopicName(s(t))).collect(),
        ));
    }
    if st.joining || st.owned_sent.as_ref() != Some(&st.owned) {
        let mut by_topic: Vec<TopicPartitions> = Vec::new();
        for (id, p) in &st.owned {
            match by_topic.last_mut() {
                Some(last) if last.topic_id == *id => last.partitions.push(*p),
                _ => by_topic.push(
                    TopicPartitions::default()
                        .with_topic_id(*id)
                        .with_partitions(vec![*p]),
                ),
            }
        }
        req = req.with_topic_partitions(Some(by_topic));
    }
    (req, st.subscription.clone(), st.owned.clone())
}

/// The heartbeat task: joins, heartbeats at the coordinator's interval (at once when a
/// reconciliation is to be acknowledged) and enforces `max.poll.interval.ms`.
pub(crate) async fn heartbeat_loop(g: Arc<GroupShared>, k: Arc<Kip848>) {
    enum Act {
        Sleep(Option<Instant>),
        Heartbeat(String, i32),
        PollTimeout(String, i32),
    }
    let mut next_hb = Instant::now();
    loop {
        let now = Instant::now();
        let act = {
            let mut st = g.state.lock();
            if st.fatal.is_some() {
                return;
            }
            match st.frozen_until {
                Some(f) if f > now => Act::Sleep(Some(f)),
                _ => {
                    st.frozen_until = None;
                    let ks = k.state.lock();
                    let poll_deadline = st.last_poll + g.cfg.max_poll_interval;
                    let due = ks.ack_due || now >= next_hb;
                    match st.phase {
                        Phase::Unjoined => Act::Sleep(None),
                        Phase::Stable if now >= poll_deadline => {
                            let epoch = st.generation;
                            let member = st.member_id.clone();
                            // Leaves, keeping its member id for the next join.
                            st.reset(true);
                            Act::PollTimeout(member, epoch)
                        }
                        Phase::Joining if due => Act::Heartbeat(st.member_id.clone(), 0),
                        Phase::Stable if due => Act::Heartbeat(st.member_id.clone(), st.generation),
                        Phase::Joining => Act::Sleep(Some(next_hb)),
                        Phase::Stable => Act::Sleep(Some(next_hb.min(poll_deadline))),
                    }
                }
            }
        };
        match act {
            Act::Sleep(until) => match until {
                Some(t) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(t) => {}
                        _ = g.hb_wake.notified() => {}
                    }
                }
                None => g.hb_wake.notified().await,
            },
            Act::PollTimeout(member, epoch) => {
                tracing::warn!(
                    group = %g.cfg.group_id,
                    member = %member,
                    "consumer poll timeout has expired: the time between subsequent calls to poll() \
                     was longer than max.poll.interval.ms ({:?}); leaving the group",
                    g.cfg.max_poll_interval
                );
                g.emit(ConsumerEvent::LeftGroup {
                    reason: group::LEFT_POLL_TIMEOUT,
                    at: Instant::now(),
                });
                g.poll_wake.notify_one();
                if let Err(e) = leave(&g, &member, epoch).await {
                    tracing::debug!(group = %g.cfg.group_id, "leave heartbeat failed: {e}");
                }
            }
            Act::Heartbeat(member, epoch) => {
                let interval = k.state.lock().interval;
                next_hb = now + interval;
                heartbeat_once(&g, &k, &member, epoch, &mut next_hb).await;
            }
        }
    }
}

async fn heartbeat_once(
    g: &GroupShared,
    k: &Kip848,
    member: &str,
    epoch: i32,
    next_hb: &mut Instant,
) {
    let (req, subscription, owned) = heartbeat_request(g, k, member, epoch);
    k.state.lock().ack_due = false;
    let timeout = g.cfg.request_timeout;
    let result = g.send(req, timeout).await;
    let now = Instant::now();
    let mut st = g.state.lock();
    let mut ks = k.state.lock();
    let expected = if ks.joining {
        Phase::Joining
    } else {
        Phase::Stable
    };
    if st.phase != expected || st.member_id != member || (epoch == 0) != ks.joining {
        // Left, reset or closed meanwhile: this answer is about the past.
        return;
    }
    let resp = match result {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(group = %g.cfg.group_id, "heartbeat failed: {e}");
            g.coordinator_unknown();
            *next_hb = now + g.cfg.retry_backoff;
            return;
        }
    };
    g.metrics.heartbeat(now);
    match resp.error_code {
        0 => {
            if let Some(id) = resp.member_id.as_ref().filter(|m| !m.is_empty()) {
                st.member_id = id.to_string();
            }
            st.generation = resp.member_epoch;
            if st.phase == Phase::Joining {
                st.phase = Phase::Stable;
                ks.joining = false;
                if let Some(t) = ks.join_started.take() {
                    g.metrics.rebalance(t.elapsed());
                }
            }
            ks.subscription_sent = Some(subscription);
            ks.owned_sent = Some(owned);
            if resp.heartbeat_interval_ms > 0 {
                ks.interval = Duration::from_millis(resp.heartbeat_interval_ms as u64);
                *next_hb = now + ks.interval;
            }
            if let Some(a) = resp.assignment {
                let target = a
                    .topic_partitions
                    .iter()
                    .flat_map(|tp| tp.partitions.iter().map(move |p| (tp.topic_id, *p)))
                    .collect();
                ks.pending = Some(target);
                g.poll_wake.notify_one();
            }
        }
        code::UNKNOWN_MEMBER_ID | kip848_code::FENCED_MEMBER_EPOCH => {
            tracing::info!(
                group = %g.cfg.group_id,
                code = resp.error_code,
                "heartbeat: member fenced; partitions are lost, rejoining with epoch 0"
            );
            st.reset(true);
            ks.pending = None;
            if resp.error_code == code::UNKNOWN_MEMBER_ID {
                g.emit(ConsumerEvent::LeftGroup {
                    reason: group::LEFT_SESSION_TIMEOUT,
                    at: now,
                });
            }
            g.poll_wake.notify_one();
        }
        c @ (kip848_code::UNSUPPORTED_VERSION
        | kip848_code::INVALID_REQUEST
        | kip848_code::GROUP_MAX_SIZE_REACHED
        | kip848_code::UNRELEASED_INSTANCE_ID
        | kip848_code::UNSUPPORTED_ASSIGNOR
        | code::FENCED_INSTANCE_ID) => {
            let msg = resp.error_message.as_ref().map(|m| m.to_string());
            st.fatal = Some(ClientError::kafka(c, msg));
            st.phase = Phase::Unjoined;
            g.poll_wake.notify_one();
        }
        c if group::is_coordinator_error(c) => {
            g.coordinator_unknown();
            *next_hb = now + g.cfg.retry_backoff;
        }
        c => {
            tracing::warn!(group = %g.cfg.group_id, code = c, "unexpected heartbeat error");
            *next_hb = now + g.cfg.retry_backoff;
        }
    }
}

/// The leave heartbeat (epoch -1, or -2 for a static member).
pub(crate) async fn leave(g: &GroupShared, member: &str, epoch: i32) -> Result<(), ClientError> {
    if member.is_empty() || epoch <= 0 {
        return Ok(());
    }
    let leave_epoch = if g.is_static() {
        STATIC_LEAVE_EPOCH
    } else {
        LEAVE_EPOCH
    };
    let req = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(&g.cfg.group_id)))
        .with_member_id(s(member))
        .with_member_epoch(leave_epoch)
        .with_instance_id(g.cfg.instance_id.as_deref().map(s))
        .with_rebalance_timeout_ms(-1);
    let resp = g.send(req, g.cfg.request_timeout).await?;
    match resp.error_code {
        0 | code::UNKNOWN_MEMBER_ID | kip848_code::FENCED_MEMBER_EPOCH => Ok(()),
        c => Err(ClientError::kafka(c, None)),
    }
}

impl Consumer {
    /// The KIP-848 part of `poll()`: starts a (re)join, gives up lost partitions, and
    /// reconciles the coordinator's latest target (revoke, then add, then acknowledge).
    pub(super) async fn poll_consumer_protocol(
        &mut self,
        g: &Arc<GroupShared>,
        k: &Arc<Kip848>,
    ) -> Result<(), ClientError> {
        let (phase, lost) = {
            let mut st = g.state.lock();
            st.rejoin_needed = false;
            (st.phase, std::mem::take(&mut st.lost))
        };
        {
            let mut ks = k.state.lock();
            if ks.subscription != self.subscription {
                ks.subscription = self.subscription.clone();
                ks.ack_due = true;
                g.hb_wake.notify_one();
            }
        }
        if lost {
            let owned = self.fetcher.assignment();
            if !owned.is_empty() {
                self.fetcher.clear();
                self.emit(ConsumerEvent::Lost {
                    partitions: owned,
                    at: Instant::now(),
                });
            }
            let mut ks = k.state.lock();
            ks.owned.clear();
            ks.pending = None;
        }
        if phase == Phase::Unjoined {
            {
                let mut st = g.state.lock();
                st.phase = Phase::Joining;
                if st.member_id.is_empty() {
                    st.member_id = kafkalab_sim::random::uuid().to_string();
                }
                let mut ks = k.state.lock();
                ks.joining = true;
                ks.join_started = Some(Instant::now());
                ks.owned_sent = None;
                ks.subscription_sent = None;
                ks.ack_due = true;
            }
            if self.heartbeat_task.is_none() {
                self.heartbeat_task = Some(tokio::spawn(heartbeat_loop(g.clone(), k.clone())));
            }
            self.emit(ConsumerEvent::JoinStarted { at: Instant::now() });
            g.hb_wake.notify_one();
        }
        let Some(target) = k.state.lock().pending.take() else {
            return Ok(());
        };
        let owned = self.fetcher.assignment();
        let step = {
            let md = self.cluster.metadata();
            reconcile(&owned, &target, |id| md.topic_name(id), &self.subscription)
        };
        let step = match step {
            Some(step) => step,
            None => {
                // A topic id not in the metadata yet: refresh and look again.
                let md = self.cluster.refresh(&self.subscription).await;
                let found = md.ok().and_then(|md| {
                    reconcile(&owned, &target, |id| md.topic_name(id), &self.subscription)
                });
                match found {
                    Some(step) => step,
                    None => {
                        // Try again on the next poll, unless a newer target came.
                        k.state.lock().pending.get_or_insert(target);
                        return Ok(());
                    }
                }
            }
        };
        if !step.revoke.is_empty() {
            if self.auto_commit {
                if let Err(e) = self.commit_positions(Some(&step.revoke)).await {
                    tracing::warn!(group = %g.cfg.group_id, "auto-commit of revoked partitions failed: {e}");
                }
            }
            self.fetcher.remove(&step.revoke);
            self.emit(ConsumerEvent::Revoked {
                partitions: step.revoke.clone(),
                at: Instant::now(),
            });
        }
        let first = owned.is_empty() && step.revoke.is_empty();
        self.fetcher.add(&step.add, true);
        if !step.add.is_empty() || first {
            self.emit(ConsumerEvent::Assigned {
                partitions: step.add,
                at: Instant::now(),
            });
        }
        {
            let md = self.cluster.metadata();
            let id_of = |t: &str| md.topics.get(t).map(|i| i.id);
            let mut ks = k.state.lock();
            ks.owned = step
                .owned
                .iter()
                .filter_map(|(t, p)| id_of(t).map(|id| (id, *p)))
                .collect();
            ks.ack_due = true;
        }
        g.hb_wake.notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (Uuid, Uuid) {
        (Uuid::from_u128(1), Uuid::from_u128(2))
    }

    fn name_of(id: Uuid) -> Option<String> {
        let (a, b) = ids();
        if id == a {
            Some("a".into())
        } else if id == b {
            Some("b".into())
        } else {
            None
        }
    }

    fn tp(t: &str, p: i32) -> TopicPartition {
        (t.to_string(), p)
    }

    #[test]
    fn revokes_what_moved_and_adds_what_is_new() {
        let (a, _) = ids();
        let owned = vec![tp("a", 0), tp("a", 1), tp("a", 2)];
        let target: BTreeSet<TopicIdPartition> = [(a, 0), (a, 3)].into();
        let r = reconcile(&owned, &target, name_of, &["a".into()]).expect("resolved");
        assert_eq!(r.revoke, vec![tp("a", 1), tp("a", 2)]);
        assert_eq!(r.add, vec![tp("a", 3)]);
        assert_eq!(r.owned, vec![tp("a", 0), tp("a", 3)]);
    }

    #[test]
    fn an_unchanged_target_does_nothing() {
        let (a, b) = ids();
        let owned = vec![tp("a", 0), tp("b", 1)];
        let target: BTreeSet<TopicIdPartition> = [(a, 0), (b, 1)].into();
        let r = reconcile(&owned, &target, name_of, &["a".into(), "b".into()]).expect("ok");
        assert!(r.revoke.is_empty() && r.add.is_empty());
        assert_eq!(r.owned, owned);
    }

    #[test]
    fn an_unknown_topic_id_waits_for_metadata() {
        let target: BTreeSet<TopicIdPartition> = [(Uuid::from_u128(9), 0)].into();
        assert_eq!(reconcile(&[], &target, name_of, &["a".into()]), None);
    }

    #[test]
    fn unsubscribed_topics_are_revoked_and_not_taken() {
        let (a, b) = ids();
        let owned = vec![tp("a", 0), tp("b", 0)];
        let target: BTreeSet<TopicIdPartition> = [(a, 0), (b, 0), (b, 1)].into();
        let r = reconcile(&owned, &target, name_of, &["a".into()]).expect("ok");
        assert_eq!(r.revoke, vec![tp("b", 0)]);
        assert!(r.add.is_empty());
        assert_eq!(r.owned, vec![tp("a", 0)]);
    }

    #[test]
    fn an_empty_target_revokes_everything() {
        let owned = vec![tp("a", 0), tp("a", 1)];
        let r = reconcile(&owned, &BTreeSet::new(), name_of, &["a".into()]).expect("ok");
        assert_eq!(r.revoke, owned);
        assert!(r.owned.is_empty());
    }
}
