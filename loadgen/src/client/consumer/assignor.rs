//! Partition assignors of the classic consumer protocol (`range`, `roundrobin`, `sticky`,
//! `cooperative-sticky`) and the encoding of the consumer protocol's JoinGroup metadata
//! (ConsumerProtocolSubscription) and SyncGroup payload (ConsumerProtocolAssignment).
//!
//! Pure: the group leader calls [`assign`] with every member's subscription and the
//! partition count of each subscribed topic, and gets member → partitions back.
//!
//! Cooperative rebalancing (KIP-429) is two-phase. A member keeps its partitions while
//! it rejoins and reports them as "owned" in its subscription. When the target
//! assignment moves a partition from one member to another, the assignor first gives it
//! to nobody: the old owner sees it missing, revokes it and rejoins, which starts a
//! second rebalance in which the partition (now unowned) goes to its new owner.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    consumer_protocol_assignment, consumer_protocol_subscription, ConsumerProtocolAssignment,
    ConsumerProtocolSubscription, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// (topic, partition).
pub type TopicPartition = (String, i32);

/// member id → assigned partitions (every member has an entry, possibly empty).
pub type Assignment = BTreeMap<String, Vec<TopicPartition>>;

/// Highest ConsumerProtocolSubscription / ConsumerProtocolAssignment version written.
pub const PROTOCOL_VERSION: i16 = 3;

/// How a member gives up partitions in a rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceProtocol {
    /// Revoke everything before rejoining ("stop the world").
    Eager,
    /// Keep owned partitions while rejoining; revoke only those that move (KIP-429).
    Cooperative,
}

/// A partition assignment strategy (`partition.assignment.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Range,
    RoundRobin,
    Sticky,
    CooperativeSticky,
}

impl Strategy {
    /// The protocol name sent in JoinGroup (the Java assignors' `name()`).
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Range => "range",
            Strategy::RoundRobin => "roundrobin",
            Strategy::Sticky => "sticky",
            Strategy::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// Accepts the protocol names and the Java class names
    /// (`org.apache.kafka.clients.consumer.RangeAssignor`, ...).
    pub fn parse(s: &str) -> Option<Strategy> {
        let s = s.trim();
        let short = s.rsplit('.').next().unwrap_or(s);
        match short {
            "range" | "RangeAssignor" => Some(Strategy::Range),
            "roundrobin" | "RoundRobinAssignor" => Some(Strategy::RoundRobin),
            "sticky" | "StickyAssignor" => Some(Strategy::Sticky),
            "cooperative-sticky" | "CooperativeStickyAssignor" => Some(Strategy::CooperativeSticky),
            _ => None,
        }
    }

    /// Parses a comma-separated `partition.assignment.strategy` list.
    pub fn parse_list(s: &str) -> Result<Vec<Strategy>, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let st = Strategy::parse(part).ok_or_else(|| {
                format!(
                    "partition.assignment.strategy: unknown assignor '{part}' \
                     (expected range, roundrobin, sticky or cooperative-sticky)"
                )
            })?;
            if !out.contains(&st) {
                out.push(st);
            }
        }
        if out.is_empty() {
            return Err("partition.assignment.strategy: empty list".into());
        }
        Ok(out)
    }

    fn supports_cooperative(self) -> bool {
        self == Strategy::CooperativeSticky
    }
}

/// The consumer's rebalance protocol: the most advanced one that every configured
/// assignor supports (as the Java ConsumerCoordinator decides). The default
/// `range,cooperative-sticky` is therefore eager.
pub fn rebalance_protocol(strategies: &[Strategy]) -> RebalanceProtocol {
    if !strategies.is_empty() && strategies.iter().all(|s| s.supports_cooperative()) {
        RebalanceProtocol::Cooperative
    } else {
        RebalanceProtocol::Eager
    }
}

/// A member's subscription (the JoinGroup protocol metadata of the "consumer" type).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    pub topics: Vec<String>,
    /// Partitions the member owns (v1+); only non-empty under cooperative rebalancing.
    pub owned: Vec<TopicPartition>,
    /// The generation in which `owned` was assigned (v2+), -1 if none.
    pub generation: i32,
    pub user_data: Option<Bytes>,
    pub rack_id: Option<String>,
    /// The version the member encoded with (decoding only).
    pub version: i16,
}

/// A group member as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub subscription: Subscription,
}

fn group_by_topic(parts: &[TopicPartition]) -> BTreeMap<&str, Vec<i32>> {
    let mut by: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in parts {
        by.entry(t.as_str()).or_default().push(*p);
    }
    for ps in by.values_mut() {
        ps.sort_unstable();
        ps.dedup();
    }
    by
}

fn tname(t: &str) -> TopicName {
    TopicName(StrBytes::from_string(t.to_string()))
}

/// Encodes a subscription: an i16 version, then the ConsumerProtocolSubscription body.
pub fn encode_subscription(s: &Subscription) -> Bytes {
    let msg = ConsumerProtocolSubscription::default()
        .with_topics(
            s.topics
                .iter()
                .map(|t| StrBytes::from_string(t.clone()))
                .collect(),
        )
        .with_user_data(s.user_data.clone())
        .with_owned_partitions(
            group_by_topic(&s.owned)
                .into_iter()
                .map(|(t, ps)| {
                    consumer_protocol_subscription::TopicPartition::default()
                        .with_topic(tname(t))
                        .with_partitions(ps)
                })
                .collect(),
        )
        .with_generation_id(s.generation)
        .with_rack_id(s.rack_id.clone().map(StrBytes::from_string));
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i16(PROTOCOL_VERSION);
    // Encoding a well-formed message at a supported version cannot fail; an empty
    // payload would only make the leader see no subscription.
    if msg.encode(&mut buf, PROTOCOL_VERSION).is_err() {
        buf.truncate(2);
    }
    buf.freeze()
}

/// Decodes a subscription written by any client (newer versions are read as the newest
/// this crate knows: fields are only ever appended).
pub fn decode_subscription(metadata: &Bytes) -> Result<Subscription, String> {
    let mut buf = metadata.clone();
    if buf.remaining() < 2 {
        return Err("subscription metadata shorter than its version".into());
    }
    let version = buf.get_i16();
    if version < 0 {
        return Err(format!("subscription version {version}"));
    }
    let read = version.min(PROTOCOL_VERSION);
    let m = ConsumerProtocolSubscription::decode(&mut buf, read).map_err(|e| e.to_string())?;
    Ok(Subscription {
        topics: m.topics.iter().map(|t| t.to_string()).collect(),
        owned: m
            .owned_partitions
            .iter()
            .flat_map(|tp| {
                let t = tp.topic.0.to_string();
                tp.partitions.iter().map(move |p| (t.clone(), *p))
            })
            .collect(),
        generation: if read >= 2 { m.generation_id } else { -1 },
        user_data: m.user_data,
        rack_id: m.rack_id.map(|r| r.to_string()),
        version,
    })
}

/// Encodes an assignment at `version` (the leader uses the lowest version its members
/// subscribed with, so that old clients can read it).
pub fn encode_assignment(parts: &[TopicPartition], version: i16) -> Bytes {
    let version = version.clamp(0, PROTOCOL_VERSION);
    let msg = ConsumerProtocolAssignment::default().with_assigned_partitions(
        group_by_topic(parts)
            .into_iter()
            .map(|(t, ps)| {
                consumer_protocol_assignment::TopicPartition::default()
                    .with_topic(tname(t))
                    .with_partitions(ps)
            })
            .collect(),
    );
    let mut buf = BytesMut::with_capacity(32);
    buf.put_i16(version);
    if msg.encode(&mut buf, version).is_err() {
        buf.truncate(2);
    }
    buf.freeze()
}

/// Decodes an assignment; an empty payload is an empty assignment (Kafka sends that to
/// members the leader left out).
pub fn decode_assignment(payload: &Bytes) -> Result<Vec<TopicPartition>, String> {
    let mut buf = payload.clone();
    if buf.remaining() == 0 {
        return Ok(Vec::new());
    }
    if buf.remaining() < 2 {
        return Err("assignment shorter than its version".into());
    }
    let version = buf.get_i16();
    if version < 0 {
        return Err(format!("assignment version {version}"));
    }
    let m = ConsumerProtocolAssignment::decode(&mut buf, version.min(PROTOCOL_VERSION))
        .map_err(|e| e.to_string())?;
    let mut out: Vec<TopicPartition> = m
        .assigned_partitions
        .iter()
        .flat_map(|tp| {
            let t = tp.topic.0.to_string();
            tp.partitions.iter().map(move |p| (t.clone(), *p))
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Computes the assignment with `strategy`. `partitions` holds the partition count of
/// each topic that exists; subscribed topics missing from it get no partitions.
pub fn assign(
    strategy: Strategy,
    members: &[Member],
    partitions: &BTreeMap<String, i32>,
) -> Assignment {
    let mut out = match strategy {
        Strategy::Range => range(members, partitions),
        Strategy::RoundRobin => round_robin(members, partitions),
        Strategy::Sticky => sticky(members, partitions, false),
        Strategy::CooperativeSticky => sticky(members, partitions, true),
    };
    for m in members {
        out.entry(m.member_id.clone()).or_default();
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// Sort key of members, as the Java assignors order them: static members by their
/// instance id (stable across restarts), then dynamic ones by member id.
fn member_order(m: &Member) -> (bool, &str, &str) {
    match &m.instance_id {
        Some(i) => (false, i.as_str(), m.member_id.as_str()),
        None => (true, m.member_id.as_str(), ""),
    }
}

fn sorted_members(members: &[Member]) -> Vec<&Member> {
    let mut v: Vec<&Member> = members.iter().collect();
    v.sort_by(|a, b| member_order(a).cmp(&member_order(b)));
    v
}

fn subscribes(m: &Member, topic: &str) -> bool {
    m.subscription.topics.iter().any(|t| t == topic)
}

/// Range: per topic, partitions split into contiguous ranges over the members
/// subscribed to it; the first `partitions % members` members get one more.
fn range(members: &[Member], partitions: &BTreeMap<String, i32>) -> Assignment {
    let ordered = sorted_members(members);
    let mut out = Assignment::new();
    for (topic, &count) in partitions {
        let subs: Vec<&&Member> = ordered.iter().filter(|m| subscribes(m, topic)).collect();
        if subs.is_empty() || count <= 0 {
            continue;
        }
        let n = subs.len() as i32;
        let per = count / n;
        let extra = count % n;
        for (i, m) in subs.iter().enumerate() {
            let i = i as i32;
            let start = per * i + i.min(extra);
            let len = per + i32::from(i < extra);
            let e = out.entry(m.member_id.clone()).or_default();
            e.extend((start..start + len).map(|p| (topic.clone(), p)));
        }
    }
    out
}

/// Round robin: all partitions of all subscribed topics, sorted, dealt to the members in
/// turn (skipping members not subscribed to a partition's topic).
fn round_robin(members: &[Member], partitions: &BTreeMap<String, i32>) -> Assignment {
    let ordered = sorted_members(members);
    let mut out = Assignment::new();
    if ordered.is_empty() {
        return out;
    }
    let mut next = 0usize;
    for (topic, &count) in partitions {
        if !ordered.iter().any(|m| subscribes(m, topic)) {
            continue;
        }
        for p in 0..count.max(0) {
            // Some member is subscribed, so this finds one within a full turn.
            for _ in 0..ordered.len() {
                let m = ordered[next % ordered.len()];
                next = (next + 1) % ordered.len();
                if subscribes(m, topic) {
                    out.entry(m.member_id.clone())
                        .or_default()
                        .push((topic.clone(), p));
                    break;
                }
            }
        }
    }
    out
}

/// Sticky: balanced (sizes differ by at most one among members that could take each
/// other's partitions) while moving as few owned partitions as possible. With
/// `cooperative`, partitions that change owner are withheld for one rebalance.
fn sticky(members: &[Member], partitions: &BTreeMap<String, i32>, cooperative: bool) -> Assignment {
    let ids: Vec<&str> = sorted_members(members)
        .iter()
        .map(|m| m.member_id.as_str())
        .collect();
    let by_id: BTreeMap<&str, &Member> =
        members.iter().map(|m| (m.member_id.as_str(), m)).collect();
    let exists = |tp: &TopicPartition| {
        partitions
            .get(&tp.0)
            .is_some_and(|&n| tp.1 >= 0 && tp.1 < n)
    };

    // Valid ownership claims; a partition claimed twice goes to the claimant with the
    // highest generation, or to nobody on a tie (a stale member still lists it).
    let mut claims: BTreeMap<TopicPartition, Vec<(i32, &str)>> = BTreeMap::new();
    for id in &ids {
        let m = by_id[id];
        for tp in &m.subscription.owned {
            if exists(tp) && subscribes(m, &tp.0) {
                claims
                    .entry(tp.clone())
                    .or_default()
                    .push((m.subscription.generation, id));
            }
        }
    }
    let mut owner: BTreeMap<TopicPartition, &str> = BTreeMap::new();
    for (tp, mut cs) in claims {
        cs.sort_by_key(|c| std::cmp::Reverse(c.0));
        cs.dedup_by(|a, b| a.1 == b.1);
        if cs.len() == 1 || cs[0].0 > cs[1].0 {
            owner.insert(tp, cs[0].1);
        }
    }
    let previous = owner.clone();

    // Every partition of a topic someone subscribes to, with who may take it.
    let mut eligible: BTreeMap<TopicPartition, Vec<&str>> = BTreeMap::new();
    for (topic, &count) in partitions {
        let subs: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| subscribes(by_id[id], topic))
            .collect();
        if subs.is_empty() {
            continue;
        }
        for p in 0..count.max(0) {
            eligible.insert((topic.clone(), p), subs.clone());
        }
    }

    let mut load: BTreeMap<&str, usize> = ids.iter().map(|id| (*id, 0)).collect();
    for id in owner.values() {
        *load.entry(id).or_default() += 1;
    }
    // Unowned partitions, most constrained first, each to the least loaded taker.
    let mut unowned: Vec<(&TopicPartition, &Vec<&str>)> = eligible
        .iter()
        .filter(|(tp, _)| !owner.contains_key(*tp))
        .collect();
    unowned.sort_by_key(|(tp, subs)| (subs.len(), (*tp).clone()));
    for (tp, subs) in unowned {
        let Some(best) = subs.iter().copied().min_by_key(|id| (load[id], *id)) else {
            continue;
        };
        owner.insert(tp.clone(), best);
        *load.entry(best).or_default() += 1;
    }

    // Balance: move from the most loaded member to a less loaded one that may take the
    // partition, while the difference exceeds one. Prefer moving partitions the member
    // did not own before (no revocation), then its highest ones. Each move lowers the
    // sum of squared loads, so this ends.
    loop {
        let mut best_move: Option<(TopicPartition, &str)> = None;
        let mut order: Vec<&str> = ids.clone();
        order.sort_by_key(|id| (std::cmp::Reverse(load[id]), *id));
        'outer: for from in order {
            let mut mine: Vec<&TopicPartition> = owner
                .iter()
                .filter(|(_, o)| **o == from)
                .map(|(tp, _)| tp)
                .collect();
            mine.sort_by_key(|tp| {
                (
                    previous.get(*tp) == Some(&from),
                    std::cmp::Reverse((*tp).clone()),
                )
            });
            for tp in mine {
                let to = eligible[tp]
                    .iter()
                    .copied()
                    .filter(|id| *id != from && load[id] + 1 < load[from])
                    .min_by_key(|id| (load[id], *id));
                if let Some(to) = to {
                    best_move = Some((tp.clone(), to));
                    break 'outer;
                }
            }
        }
        let Some((tp, to)) = best_move else { break };
        let from = owner[&tp];
        *load.entry(from).or_default() -= 1;
        *load.entry(to).or_default() += 1;
        owner.insert(tp, to);
    }

    let mut out = Assignment::new();
    for (tp, id) in owner {
        if cooperative && previous.get(&tp).is_some_and(|prev| *prev != id) {
            // Phase one: the old owner must revoke it first.
            continue;
        }
        out.entry(id.to_string()).or_default().push(tp);
    }
    out
}

/// Partitions in `a` and not in `b`.
pub fn difference(a: &[TopicPartition], b: &[TopicPartition]) -> Vec<TopicPartition> {
    let bs: BTreeSet<&TopicPartition> = b.iter().collect();
    a.iter().filter(|tp| !bs.contains(tp)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, topics: &[&str], owned: &[(&str, i32)]) -> Member {
        Member {
            member_id: id.into(),
            instance_id: None,
            subscription: Subscription {
                topics: topics.iter().map(|t| t.to_string()).collect(),
                owned: owned.iter().map(|(t, p)| (t.to_string(), *p)).collect(),
                generation: 1,
                ..Default::default()
            },
        }
    }

    fn counts(pairs: &[(&str, i32)]) -> BTreeMap<String, i32> {
        pairs.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    fn tps(pairs: &[(&str, i32)]) -> Vec<TopicPartition> {
        pairs.iter().map(|(t, p)| (t.to_string(), *p)).collect()
    }

    fn all_assigned(a: &Assignment) -> Vec<TopicPartition> {
        let mut v: Vec<TopicPartition> = a.values().flatten().cloned().collect();
        v.sort();
        v
    }

    fn assert_disjoint_and_complete(a: &Assignment, parts: &BTreeMap<String, i32>) {
        let got = all_assigned(a);
        let mut dedup = got.clone();
        dedup.dedup();
        assert_eq!(got, dedup, "a partition assigned twice: {a:?}");
        let want: Vec<TopicPartition> = parts
            .iter()
            .flat_map(|(t, n)| (0..*n).map(move |p| (t.clone(), p)))
            .collect();
        assert_eq!(got, want, "not every partition assigned: {a:?}");
    }

    fn sizes(a: &Assignment) -> Vec<usize> {
        a.values().map(Vec::len).collect()
    }

    #[test]
    fn range_gives_contiguous_ranges_extra_to_first() {
        let ms = vec![member("b", &["t"], &[]), member("a", &["t"], &[])];
        let parts = counts(&[("t", 5)]);
        let a = assign(Strategy::Range, &ms, &parts);
        assert_eq!(a["a"], tps(&[("t", 0), ("t", 1), ("t", 2)]));
        assert_eq!(a["b"], tps(&[("t", 3), ("t", 4)]));
        assert_disjoint_and_complete(&a, &parts);
    }

    #[test]
    fn range_is_per_topic_and_unbalanced_across_topics() {
        // The classic range skew: with two 3-partition topics, the first member gets 4.
        let ms = vec![member("a", &["x", "y"], &[]), member("b", &["x", "y"], &[])];
        let parts = counts(&[("x", 3), ("y", 3)]);
        let a = assign(Strategy::Range, &ms, &parts);
        assert_eq!(a["a"].len(), 4);
        assert_eq!(a["b"].len(), 2);
        assert_disjoint_and_complete(&a, &parts);
    }

    #[test]
    fn range_orders_static_members_by_instance_id() {
        let mut m1 = member("zzz", &["t"], &[]);
        m1.instance_id = Some("i-1".into());
        let mut m2 = member("aaa", &["t"], &[]);
        m2.instance_id = Some("i-2".into());
        let a = assign(Strategy::Range, &[m2, m1], &counts(&[("t", 2)]));
        assert_eq!(a["zzz"], tps(&[("t", 0)]));
        assert_eq!(a["aaa"], tps(&[("t", 1)]));
    }

    #[test]
    fn roundrobin_deals_across_topics() {
        let ms = vec![member("a", &["x", "y"], &[]), member("b", &["x", "y"], &[])];
        let parts = counts(&[("x", 3), ("y", 3)]);
        let a = assign(Strategy::RoundRobin, &ms, &parts);
        assert_eq!(a["a"], tps(&[("x", 0), ("x", 2), ("y", 1)]));
        assert_eq!(a["b"], tps(&[("x", 1), ("y", 0), ("y", 2)]));
        assert_disjoint_and_complete(&a, &parts);
    }

    #[test]
    fn roundrobin_skips_unsubscribed_members() {
        let ms = vec![member("a", &["x"], &[]), member("b", &["x", "y"], &[])];
        let parts = counts(&[("x", 2), ("y", 2)]);
        let a = assign(Strategy::RoundRobin, &ms, &parts);
        assert!(a["a"].iter().all(|(t, _)| t == "x"));
        assert_disjoint_and_complete(&a, &parts);
    }

    #[test]
    fn every_member_gets_an_entry_and_missing_topics_get_nothing() {
        let ms = vec![
            member("a", &["t"], &[]),
            member("b", &["t"], &[]),
            member("c", &["nope"], &[]),
        ];
        for s in [
            Strategy::Range,
            Strategy::RoundRobin,
            Strategy::Sticky,
            Strategy::CooperativeSticky,
        ] {
            let a = assign(s, &ms, &counts(&[("t", 1)]));
            assert_eq!(a.len(), 3, "{s:?}");
            assert!(a["c"].is_empty());
            assert_eq!(all_assigned(&a), tps(&[("t", 0)]));
        }
    }

    #[test]
    fn sticky_fresh_group_is_balanced() {
        let ms: Vec<Member> = ["a", "b", "c"]
            .iter()
            .map(|id| member(id, &["t"], &[]))
            .collect();
        let parts = counts(&[("t", 7)]);
        let a = assign(Strategy::Sticky, &ms, &parts);
        assert_disjoint_and_complete(&a, &parts);
        let s = sizes(&a);
        assert!(
            s.iter().max().unwrap_or(&0) - s.iter().min().unwrap_or(&0) <= 1,
            "{a:?}"
        );
    }

    #[test]
    fn sticky_keeps_owned_when_a_member_leaves() {
        let ms = vec![
            member("a", &["t"], &[("t", 0), ("t", 1)]),
            member("b", &["t"], &[("t", 2), ("t", 3)]),
        ];
        // c owned 4 and 5 and left.
        let parts = counts(&[("t", 6)]);
        let a = assign(Strategy::Sticky, &ms, &parts);
        assert_disjoint_and_complete(&a, &parts);
        assert!(a["a"].starts_with(&tps(&[("t", 0), ("t", 1)])));
        assert!(a["b"].starts_with(&tps(&[("t", 2), ("t", 3)])));
        assert_eq!(sizes(&a), vec![3, 3]);
    }

    #[test]
    fn cooperative_join_withholds_moved_partitions_then_assigns_them() {
        // Two members own three partitions each; a third joins.
        let ms = vec![
            member("a", &["t"], &[("t", 0), ("t", 1), ("t", 2)]),
            member("b", &["t"], &[("t", 3), ("t", 4), ("t", 5)]),
            member("c", &["t"], &[]),
        ];
        let parts = counts(&[("t", 6)]);
        let first = assign(Strategy::CooperativeSticky, &ms, &parts);
        // Phase one: a and b each lose exactly one partition, c gets nothing yet.
        assert_eq!(first["a"].len(), 2, "{first:?}");
        assert_eq!(first["b"].len(), 2, "{first:?}");
        assert!(first["c"].is_empty(), "{first:?}");
        let revoked_a = difference(&tps(&[("t", 0), ("t", 1), ("t", 2)]), &first["a"]);
        let revoked_b = difference(&tps(&[("t", 3), ("t", 4), ("t", 5)]), &first["b"]);
        assert_eq!(revoked_a.len() + revoked_b.len(), 2);

        // Phase two: a and b rejoin owning what they kept.
        let owned = |v: &Vec<TopicPartition>| -> Vec<(String, i32)> { v.clone() };
        let ms2 = vec![
            Member {
                subscription: Subscription {
                    owned: owned(&first["a"]),
                    generation: 2,
                    ..ms[0].subscription.clone()
                },
                ..ms[0].clone()
            },
            Member {
                subscription: Subscription {
                    owned: owned(&first["b"]),
                    generation: 2,
                    ..ms[1].subscription.clone()
                },
                ..ms[1].clone()
            },
            member("c", &["t"], &[]),
        ];
        let second = assign(Strategy::CooperativeSticky, &ms2, &parts);
        assert_disjoint_and_complete(&second, &parts);
        assert_eq!(second["a"], first["a"]);
        assert_eq!(second["b"], first["b"]);
        let mut moved = revoked_a.clone();
        moved.extend(revoked_b);
        moved.sort();
        assert_eq!(second["c"], moved);
    }

    #[test]
    fn cooperative_leave_assigns_orphans_at_once() {
        let ms = vec![
            member("a", &["t"], &[("t", 0), ("t", 1)]),
            member("b", &["t"], &[("t", 2), ("t", 3)]),
        ];
        let parts = counts(&[("t", 6)]);
        let a = assign(Strategy::CooperativeSticky, &ms, &parts);
        // Nothing owned moves, so nothing is withheld.
        assert_disjoint_and_complete(&a, &parts);
        assert_eq!(sizes(&a), vec![3, 3]);
    }

    #[test]
    fn conflicting_claims_go_to_the_newer_generation() {
        let mut stale = member("a", &["t"], &[("t", 0)]);
        stale.subscription.generation = 1;
        let mut fresh = member("b", &["t"], &[("t", 0)]);
        fresh.subscription.generation = 3;
        let a = assign(Strategy::Sticky, &[stale, fresh], &counts(&[("t", 2)]));
        assert_eq!(a["b"], tps(&[("t", 0)]));
        assert_eq!(a["a"], tps(&[("t", 1)]));
    }

    #[test]
    fn sticky_heterogeneous_subscriptions_balance_where_possible() {
        let ms = vec![
            member("a", &["x"], &[]),
            member("b", &["x", "y"], &[]),
            member("c", &["y"], &[]),
        ];
        let parts = counts(&[("x", 4), ("y", 2)]);
        let a = assign(Strategy::Sticky, &ms, &parts);
        assert_disjoint_and_complete(&a, &parts);
        assert!(a["a"].iter().all(|(t, _)| t == "x"));
        assert!(a["c"].iter().all(|(t, _)| t == "y"));
        assert_eq!(sizes(&a), vec![2, 2, 2]);
    }

    #[test]
    fn subscription_round_trip_with_owned_partitions() {
        let s = Subscription {
            topics: vec!["a".into(), "b".into()],
            owned: tps(&[("a", 1), ("a", 0), ("b", 4)]),
            generation: 7,
            user_data: None,
            rack_id: None,
            version: PROTOCOL_VERSION,
        };
        let bytes = encode_subscription(&s);
        assert_eq!(&bytes[..2], &PROTOCOL_VERSION.to_be_bytes());
        let d = decode_subscription(&bytes).expect("decode");
        assert_eq!(d.topics, s.topics);
        assert_eq!(d.owned, tps(&[("a", 0), ("a", 1), ("b", 4)]));
        assert_eq!(d.generation, 7);
        assert!(decode_subscription(&Bytes::from_static(&[0])).is_err());
    }

    #[test]
    fn subscription_v0_from_an_old_client() {
        let mut buf = BytesMut::new();
        buf.put_i16(0);
        ConsumerProtocolSubscription::default()
            .with_topics(vec![StrBytes::from_static_str("t")])
            .encode(&mut buf, 0)
            .expect("encode");
        let d = decode_subscription(&buf.freeze()).expect("decode");
        assert_eq!(d.topics, vec!["t".to_string()]);
        assert!(d.owned.is_empty());
        assert_eq!(d.generation, -1);
    }

    #[test]
    fn assignment_round_trip_and_empty() {
        let parts = tps(&[("b", 2), ("a", 1), ("a", 0)]);
        for v in 0..=PROTOCOL_VERSION {
            let bytes = encode_assignment(&parts, v);
            assert_eq!(
                decode_assignment(&bytes).expect("decode"),
                tps(&[("a", 0), ("a", 1), ("b", 2)])
            );
        }
        assert!(decode_assignment(&Bytes::new()).expect("empty").is_empty());
    }

    #[test]
    fn strategy_names_and_protocol() {
        let s = Strategy::parse_list("range, cooperative-sticky").expect("parse");
        assert_eq!(s, vec![Strategy::Range, Strategy::CooperativeSticky]);
        assert_eq!(rebalance_protocol(&s), RebalanceProtocol::Eager);
        let c = Strategy::parse_list("org.apache.kafka.clients.consumer.CooperativeStickyAssignor")
            .expect("parse");
        assert_eq!(rebalance_protocol(&c), RebalanceProtocol::Cooperative);
        assert!(Strategy::parse_list("rangee").is_err());
    }
}
