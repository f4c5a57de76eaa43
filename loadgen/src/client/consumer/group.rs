//! Group membership with the classic protocol: FindCoordinator, JoinGroup (with the
//! MEMBER_ID_REQUIRED round trip), the leader's assignment, SyncGroup, and a background
//! heartbeat task that runs independently of poll (KIP-62); plus the group's offset
//! requests (OffsetCommit, OffsetFetch) and LeaveGroup.
//!
//! As in the Java client, joining is driven by `poll()` (a member that does not poll
//! does not rejoin), while the heartbeat task keeps the session alive and enforces
//! `max.poll.interval.ms`: when the application has not polled for that long it sends
//! LeaveGroup and drops out, and the next poll rejoins.
//!
//! The group traffic uses its own connection to the coordinator, apart from the fetch
//! connections: brokers answer one request at a time per connection, so a long-polling
//! Fetch must not hold up a heartbeat (Java does the same).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, GroupId, JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::{Request, StrBytes};
use parking_lot::Mutex;
use tokio::sync::{broadcast, Notify};
use tokio::time::Instant;

use super::assignor::{self, Member, Strategy, Subscription, TopicPartition};
use super::metrics::ConsumerMetrics;
use super::ConsumerEvent;
use crate::client::cluster::Cluster;
use crate::client::connection::Connection;
use crate::client::error::ClientError;

mod heartbeat;
mod offsets;

pub(crate) use self::heartbeat::heartbeat_loop;
pub(crate) use self::offsets::{commit_offsets, fetch_committed};

/// Kafka error codes the membership logic acts on.
pub(crate) mod code {
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    pub const NOT_COORDINATOR: i16 = 16;
    pub const ILLEGAL_GENERATION: i16 = 22;
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    pub const MEMBER_ID_REQUIRED: i16 = 79;
    pub const FENCED_INSTANCE_ID: i16 = 82;
    pub const UNSTABLE_OFFSET_COMMIT: i16 = 88;
}

pub(crate) fn is_coordinator_error(c: i16) -> bool {
    matches!(
        c,
        code::COORDINATOR_LOAD_IN_PROGRESS
            | code::COORDINATOR_NOT_AVAILABLE
            | code::NOT_COORDINATOR
    )
}

/// The reason a member left the group, as [`ConsumerEvent::LeftGroup`] reports it.
pub const LEFT_POLL_TIMEOUT: &str = "max.poll.interval.ms exceeded";
pub const LEFT_CLOSE: &str = "close";
/// The coordinator answered a heartbeat, a commit or a rejoin with UNKNOWN_MEMBER_ID
/// (once per removal): it removed the member
/// (no heartbeat within `session.timeout.ms`, or no rejoin within the rebalance
/// timeout) while the member was alive. Java logs "member id is not valid" and calls
/// `onPartitionsLost`.
pub const LEFT_SESSION_TIMEOUT: &str = "session timed out";

#[derive(Debug, Clone)]
pub(crate) struct GroupConfig {
    pub group_id: String,
    pub instance_id: Option<String>,
    pub session_timeout_ms: i32,
    /// `max.poll.interval.ms`, sent as the rebalance timeout.
    pub rebalance_timeout_ms: i32,
    pub heartbeat_interval: Duration,
    pub max_poll_interval: Duration,
    pub request_timeout: Duration,
    pub retry_backoff: Duration,
    pub strategies: Vec<Strategy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not a member (never joined, or the generation was lost / the member left).
    Unjoined,
    /// JoinGroup / SyncGroup in progress.
    Joining,
    /// Has a generation and an assignment; heartbeating.
    Stable,
}

#[derive(Debug)]
pub(crate) struct Membership {
    pub member_id: String,
    pub generation: i32,
    pub phase: Phase,
    /// The coordinator (or the consumer itself) asked for a rejoin.
    pub rejoin_needed: bool,
    /// The generation was lost since the last assignment (expired, fenced by a newer
    /// generation, or left on poll timeout): partitions are lost, not revoked.
    pub lost: bool,
    pub fatal: Option<ClientError>,
    pub last_poll: Instant,
    pub frozen_until: Option<Instant>,
}

impl Membership {
    pub(crate) fn reset(&mut self, keep_member_id: bool) {
        self.phase = Phase::Unjoined;
        self.generation = -1;
        if !keep_member_id {
            self.member_id.clear();
        }
        self.lost = true;
        self.rejoin_needed = true;
    }
}

/// State shared by the consumer and its heartbeat and join tasks.
pub(crate) struct GroupShared {
    pub cfg: GroupConfig,
    pub cluster: Arc<Cluster>,
    pub client_id: String,
    pub state: Mutex<Membership>,
    coordinator: Mutex<Option<Connection>>,
    lookup: tokio::sync::Mutex<()>,
    /// Wakes the heartbeat task (new generation, freeze).
    pub hb_wake: Notify,
    /// Wakes a waiting poll (rejoin needed, fatal error).
    pub poll_wake: Notify,
    pub events: broadcast::Sender<ConsumerEvent>,
    pub metrics: Arc<ConsumerMetrics>,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

impl GroupShared {
    pub fn new(
        cfg: GroupConfig,
        cluster: Arc<Cluster>,
        client_id: String,
        events: broadcast::Sender<ConsumerEvent>,
        metrics: Arc<ConsumerMetrics>,
    ) -> GroupShared {
        GroupShared {
            cfg,
            cluster,
            client_id,
            state: Mutex::new(Membership {
                member_id: String::new(),
                generation: -1,
                phase: Phase::Unjoined,
                rejoin_needed: false,
                lost: false,
                fatal: None,
                last_poll: Instant::now(),
                frozen_until: None,
            }),
            coordinator: Mutex::new(None),
            lookup: tokio::sync::Mutex::new(()),
            hb_wake: Notify::new(),
            poll_wake: Notify::new(),
            events,
            metrics,
        }
    }

    pub fn emit(&self, e: ConsumerEvent) {
        let _ = self.events.send(e);
    }

    /// The coordinator no longer knows this member (UNKNOWN_MEMBER_ID to a heartbeat,
    /// a commit or a rejoin): it was removed while alive.
    fn expired(&self) {
        self.emit(ConsumerEvent::LeftGroup {
            reason: LEFT_SESSION_TIMEOUT,
            at: Instant::now(),
        });
    }

    /// The dedicated connection to the group coordinator (FindCoordinator when unknown).
    pub async fn coordinator(&self) -> Result<Connection, ClientError> {
        if let Some(c) = self.coordinator.lock().clone().filter(|c| c.is_open()) {
            return Ok(c);
        }
        let _g = self.lookup.lock().await;
        if let Some(c) = self.coordinator.lock().clone().filter(|c| c.is_open()) {
            return Ok(c);
        }
        let found = self
            .cluster
            .coordinator(&self.cfg.group_id, self.cfg.request_timeout)
            .await?;
        let conn = Connection::connect(&found.addr, &self.client_id).await?;
        *self.coordinator.lock() = Some(conn.clone());
        Ok(conn)
    }

    pub fn coordinator_unknown(&self) {
        *self.coordinator.lock() = None;
    }

    /// Sends to the coordinator with a timeout; a lost connection forgets it.
    pub(crate) async fn send<R: Request>(
        &self,
        req: R,
        timeout: Duration,
    ) -> Result<R::Response, ClientError> {
        let conn = self.coordinator().await?;
        let r = tokio::time::timeout(timeout, conn.send(req))
            .await
            .unwrap_or(Err(ClientError::Timeout(timeout)));
        if matches!(
            r,
            Err(ClientError::Disconnected { .. }) | Err(ClientError::Timeout(_))
        ) {
            self.coordinator_unknown();
        }
        r
    }

    /// Whether the member is statically configured (`group.instance.id`).
    pub fn is_static(&self) -> bool {
        self.cfg.instance_id.is_some()
    }

    fn fatal(&self, e: ClientError) -> ClientError {
        self.state.lock().fatal = Some(e.clone());
        self.poll_wake.notify_one();
        e
    }
}

/// A completed join: the new generation and this member's assignment.
#[derive(Debug, Clone)]
pub(crate) struct JoinOutcome {
    pub generation: i32,
    pub member_id: String,
    pub assignment: Vec<TopicPartition>,
    /// The partition counts the leader assigned from (None on followers).
    pub leader_counts: Option<BTreeMap<String, i32>>,
}

/// Joins the group and syncs, retrying through coordinator moves and concurrent
/// rebalances; returns the assignment. `owned` / `owned_generation`: what the member
/// keeps while rejoining (cooperative) and since when.
pub(crate) async fn join_group(
    g: Arc<GroupShared>,
    topics: Vec<String>,
    owned: Vec<TopicPartition>,
    owned_generation: i32,
    reason: String,
) -> Result<JoinOutcome, ClientError> {
    let started = Instant::now();
    let cfg = &g.cfg;
    let metadata = assignor::encode_subscription(&Subscription {
        topics: topics.clone(),
        owned,
        generation: owned_generation,
        user_data: None,
        rack_id: None,
        version: assignor::PROTOCOL_VERSION,
    });
    let join_timeout = cfg.request_timeout.max(
        Duration::from_millis(cfg.rebalance_timeout_ms.max(0) as u64) + Duration::from_secs(5),
    );
    loop {
        let member_id = g.state.lock().member_id.clone();
        let conn = match g.coordinator().await {
            Ok(c) => c,
            Err(e) if e.is_retriable() => {
                tracing::debug!(group = %cfg.group_id, "coordinator lookup failed: {e}");
                tokio::time::sleep(cfg.retry_backoff).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let v = conn.version(ApiKey::JoinGroup).unwrap_or(0);
        let mut req = JoinGroupRequest::default()
            .with_group_id(GroupId(s(&cfg.group_id)))
            .with_session_timeout_ms(cfg.session_timeout_ms)
            .with_rebalance_timeout_ms(cfg.rebalance_timeout_ms)
            .with_member_id(s(&member_id))
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(
                cfg.strategies
                    .iter()
                    .map(|st| {
                        JoinGroupRequestProtocol::default()
                            .with_name(StrBytes::from_static_str(st.name()))
                            .with_metadata(metadata.clone())
                    })
                    .collect(),
            );
        if let Some(i) = &cfg.instance_id {
            if v < 5 {
                return Err(g.fatal(ClientError::Other(format!(
                    "group.instance.id needs JoinGroup v5+, the coordinator {} speaks v{v}",
                    conn.addr
                ))));
            }
            req = req.with_group_instance_id(Some(s(i)));
        }
        if v >= 8 {
            req = req.with_reason(Some(s(&reason)));
        }
        let resp = match g.send(req, join_timeout).await {
            Ok(r) => r,
            Err(e) if e.is_retriable() => {
                tracing::debug!(group = %cfg.group_id, "JoinGroup failed: {e}");
                tokio::time::sleep(cfg.retry_backoff).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        match resp.error_code {
            0 => {}
            code::MEMBER_ID_REQUIRED => {
                g.state.lock().member_id = resp.member_id.to_string();
                continue;
            }
            code::UNKNOWN_MEMBER_ID => {
                let forgotten = !std::mem::take(&mut g.state.lock().member_id).is_empty();
                if forgotten {
                    g.expired();
                }
                continue;
            }
            code::REBALANCE_IN_PROGRESS | code::ILLEGAL_GENERATION => {
                tokio::time::sleep(cfg.retry_backoff).await;
                continue;
            }
            c if is_coordinator_error(c) => {
                g.coordinator_unknown();
                tokio::time::sleep(cfg.retry_backoff).await;
                continue;
            }
            code::FENCED_INSTANCE_ID => {
                return Err(g.fatal(ClientError::kafka(
                    code::FENCED_INSTANCE_ID,
                    Some(format!(
                        "another consumer with group.instance.id {} joined the group",
                        cfg.instance_id.as_deref().unwrap_or_default()
                    )),
                )));
            }
            c => return Err(ClientError::kafka(c, None)),
        }
        let member_id = resp.member_id.to_string();
        let generation = resp.generation_id;
        let protocol = resp
            .protocol_name
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        {
            let mut st = g.state.lock();
            st.member_id = member_id.clone();
            st.generation = generation;
        }
        let mut leader_counts = None;
        let assignments = if resp.leader.as_str() == member_id && !resp.skip_assignment {
            match leader_assign(&g, &protocol, &resp.members).await {
                Ok((a, counts)) => {
                    leader_counts = Some(counts);
                    a
                }
                Err(e) if e.is_retriable() => {
                    tracing::debug!(group = %cfg.group_id, "leader assignment failed: {e}");
                    tokio::time::sleep(cfg.retry_backoff).await;
                    continue;
                }
                Err(e) => return Err(e),
            }
        } else {
            Vec::new()
        };
        let mut sync = SyncGroupRequest::default()
            .with_group_id(GroupId(s(&cfg.group_id)))
            .with_generation_id(generation)
            .with_member_id(s(&member_id))
            .with_assignments(assignments);
        let sv = conn.version(ApiKey::SyncGroup).unwrap_or(0);
        if sv >= 3 {
            sync = sync.with_group_instance_id(cfg.instance_id.as_deref().map(s));
        }
        if sv >= 5 {
            sync = sync
                .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
                .with_protocol_name(Some(s(&protocol)));
        }
        let resp = match g.send(sync, join_timeout).await {
            Ok(r) => r,
            Err(e) if e.is_retriable() => {
                tokio::time::sleep(cfg.retry_backoff).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        match resp.error_code {
            0 => {}
            code::REBALANCE_IN_PROGRESS | code::ILLEGAL_GENERATION => continue,
            code::UNKNOWN_MEMBER_ID => {
                g.state.lock().member_id.clear();
                continue;
            }
            c if is_coordinator_error(c) => {
                g.coordinator_unknown();
                tokio::time::sleep(cfg.retry_backoff).await;
                continue;
            }
            code::FENCED_INSTANCE_ID => {
                return Err(g.fatal(ClientError::kafka(code::FENCED_INSTANCE_ID, None)));
            }
            c => return Err(ClientError::kafka(c, None)),
        }
        let assignment = assignor::decode_assignment(&resp.assignment)
            .map_err(|e| ClientError::Protocol(format!("cannot decode the assignment: {e}")))?;
        {
            let mut st = g.state.lock();
            st.member_id = member_id.clone();
            st.generation = generation;
            st.phase = Phase::Stable;
        }
        g.metrics.rebalance(started.elapsed());
        g.hb_wake.notify_one();
        tracing::debug!(
            group = %cfg.group_id,
            member = %member_id,
            generation,
            partitions = assignment.len(),
            "joined"
        );
        return Ok(JoinOutcome {
            generation,
            member_id,
            assignment,
            leader_counts,
        });
    }
}

/// The leader's part: decode the members' subscriptions, look up partition counts and
/// run the selected assignor.
async fn leader_assign(
    g: &GroupShared,
    protocol: &str,
    members: &[JoinGroupResponseMember],
) -> Result<(Vec<SyncGroupRequestAssignment>, BTreeMap<String, i32>), ClientError> {
    let strategy = Strategy::parse(protocol).ok_or_else(|| {
        ClientError::Other(format!("the group selected unknown assignor '{protocol}'"))
    })?;
    let mut decoded = Vec::with_capacity(members.len());
    let mut version = assignor::PROTOCOL_VERSION;
    for m in members {
        let sub = match assignor::decode_subscription(&m.metadata) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(member = %m.member_id.as_str(), "unreadable subscription: {e}");
                Subscription::default()
            }
        };
        version = version.min(sub.version.max(0));
        decoded.push(Member {
            member_id: m.member_id.to_string(),
            instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
            subscription: sub,
        });
    }
    let mut topics: Vec<String> = decoded
        .iter()
        .flat_map(|m| m.subscription.topics.iter().cloned())
        .collect();
    topics.sort();
    topics.dedup();
    let mut counts = BTreeMap::new();
    if !topics.is_empty() {
        let md = g.cluster.refresh(&topics).await?;
        for t in &topics {
            if let Some(info) = md.topics.get(t) {
                if info.error_code == 0 && !info.partitions.is_empty() {
                    counts.insert(t.clone(), info.partitions.len() as i32);
                }
            }
        }
    }
    let assignment = assignor::assign(strategy, &decoded, &counts);
    let out = assignment
        .iter()
        .map(|(member, parts)| {
            SyncGroupRequestAssignment::default()
                .with_member_id(s(member))
                .with_assignment(assignor::encode_assignment(parts, version))
        })
        .collect();
    Ok((out, counts))
}

/// LeaveGroup for this member (dynamic members; static ones just stop heartbeating).
pub(crate) async fn leave_group(
    g: &GroupShared,
    member: &str,
    reason: &str,
) -> Result<(), ClientError> {
    if member.is_empty() {
        return Ok(());
    }
    let conn = g.coordinator().await?;
    let v = conn.version(ApiKey::LeaveGroup).unwrap_or(0);
    let req = if v >= 3 {
        let mut m = MemberIdentity::default()
            .with_member_id(s(member))
            .with_group_instance_id(g.cfg.instance_id.as_deref().map(s));
        if v >= 5 {
            m = m.with_reason(Some(s(reason)));
        }
        LeaveGroupRequest::default()
            .with_group_id(GroupId(s(&g.cfg.group_id)))
            .with_members(vec![m])
    } else {
        LeaveGroupRequest::default()
            .with_group_id(GroupId(s(&g.cfg.group_id)))
            .with_member_id(s(member))
    };
    let resp = g.send(req, g.cfg.request_timeout).await?;
    let code = resp
        .members
        .first()
        .map(|m| m.error_code)
        .filter(|c| *c != 0)
        .unwrap_or(resp.error_code);
    match code {
        0 | code::UNKNOWN_MEMBER_ID => Ok(()),
        c => Err(ClientError::kafka(c, None)),
    }
}
