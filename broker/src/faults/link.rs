//! The link rule table: what happens to traffic from one node to another.
//!
//! A node is a broker id or [`Node::Clients`] (every client connection of a broker,
//! taken together). A rule gives a link added one-way latency, a loss probability and
//! whether it is blocked. A network partition puts nodes into groups: nodes in
//! different groups cannot talk (clients not named in any group reach everyone).
//!
//! Loss is modelled as TCP would show it: nothing is dropped on a TCP connection, a
//! lost segment is retransmitted after the retransmission timeout, so with probability
//! `loss` a message is delayed by a further [`RETRANSMIT`] (Linux's minimum RTO). A
//! blocked link passes nothing: the sender's messages stall until the link heals
//! (connections are kept, as during a real partition, so peers see timeouts, not
//! resets).
//!
//! Pure: randomness comes in as a sample, time as durations.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use crate::replication::BrokerId;

/// What a lost TCP segment costs: the retransmission timeout (Linux `TCP_RTO_MIN`).
pub const RETRANSMIT: Duration = Duration::from_millis(200);

/// One end of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Node {
    Broker(BrokerId),
    /// The clients of a broker (producers, consumers, admin), all together.
    Clients,
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Broker(id) => write!(f, "{id}"),
            Node::Clients => f.write_str("clients"),
        }
    }
}

impl Serialize for Node {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinkError {
    #[error("'{0}' is not a node: expected a broker id (0, 1, ...) or 'clients'")]
    BadNode(String),
    #[error("loss must be between 0 and 1, found {0}")]
    BadLoss(f64),
    #[error("'{0}' is not a partition: expected groups like 0|1,2 (or [[0],[1,2]])")]
    BadGroups(String),
    #[error("node {0} is in two groups")]
    TwiceInGroups(Node),
}

impl FromStr for Node {
    type Err = LinkError;
    fn from_str(s: &str) -> Result<Node, LinkError> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("clients") {
            return Ok(Node::Clients);
        }
        t.parse::<BrokerId>()
            .ok()
            .filter(|id| *id >= 0)
            .map(Node::Broker)
            .ok_or_else(|| LinkError::BadNode(s.to_string()))
    }
}

/// What is set on one directed link.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct LinkRule {
    /// Added one-way latency.
    #[serde(serialize_with = "ser_ms", rename = "latency_ms")]
    pub latency: Duration,
    /// Probability that a message needs a retransmission ([`RETRANSMIT`]).
    pub loss: f64,
    /// Nothing passes.
    pub blocked: bool,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

impl LinkRule {
    pub fn is_clear(&self) -> bool {
        *self == LinkRule::default()
    }
}

/// What a message sent now over a link meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transit {
    /// It arrives after this extra delay (zero on a clear link).
    After(Duration),
    /// It does not arrive until the link heals.
    Blocked,
}

/// Every link rule and the current partition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkRules {
    rules: BTreeMap<(Node, Node), LinkRule>,
    /// Groups of a partition (empty: none).
    groups: Vec<BTreeSet<Node>>,
}

impl LinkRules {
    /// The rule on `from → to`, the partition included.
    pub fn rule(&self, from: Node, to: Node) -> LinkRule {
        let mut r = self.rules.get(&(from, to)).copied().unwrap_or_default();
        r.blocked |= self.separated(from, to);
        r
    }

    /// Whether the partition puts `a` and `b` on different sides.
    fn separated(&self, a: Node, b: Node) -> bool {
        let side = |n: Node| self.groups.iter().position(|g| g.contains(&n));
        match (side(a), side(b)) {
            (Some(x), Some(y)) => x != y,
            // A broker named in no group is cut off from every group; clients named in
            // no group reach everyone.
            (None, Some(_)) => a != Node::Clients,
            (Some(_), None) => b != Node::Clients,
            (None, None) => false,
        }
    }

    /// Sets the latency of `from → to`, keeping its loss.
    pub fn set_latency(&mut self, from: Node, to: Node, latency: Duration) {
        self.edit(from, to, |r| r.latency = latency);
    }

    /// Sets the loss probability of `from → to`, keeping its latency.
    pub fn set_loss(&mut self, from: Node, to: Node, loss: f64) -> Result<(), LinkError> {
        if !(0.0..=1.0).contains(&loss) || loss.is_nan() {
            return Err(LinkError::BadLoss(loss));
        }
        self.edit(from, to, |r| r.loss = loss);
        Ok(())
    }

    /// Blocks (or unblocks) `from → to` on its own (a one-way cut).
    pub fn set_blocked(&mut self, from: Node, to: Node, blocked: bool) {
        self.edit(from, to, |r| r.blocked = blocked);
    }

    /// Clears every rule on `from → to`.
    pub fn clear(&mut self, from: Node, to: Node) {
        self.rules.remove(&(from, to));
    }

    fn edit(&mut self, from: Node, to: Node, f: impl FnOnce(&mut LinkRule)) {
        let r = self.rules.entry((from, to)).or_default();
        f(r);
        if r.is_clear() {
            self.rules.remove(&(from, to));
        }
    }

    /// Splits the network into `groups`: traffic passes only within a group.
    pub fn partition(&mut self, groups: Vec<BTreeSet<Node>>) -> Result<(), LinkError> {
        let mut seen = BTreeSet::new();
        for n in groups.iter().flatten() {
            if !seen.insert(*n) {
                return Err(LinkError::TwiceInGroups(*n));
            }
        }
        self.groups = groups.into_iter().filter(|g| !g.is_empty()).collect();
        Ok(())
    }

    /// Ends the partition and clears every link rule.
    pub fn heal(&mut self) {
        *self = LinkRules::default();
    }

    pub fn groups(&self) -> &[BTreeSet<Node>] {
        &self.groups
    }

    /// The links that have a rule of their own.
    pub fn rules(&self) -> impl Iterator<Item = (Node, Node, LinkRule)> + '_ {
        self.rules.iter().map(|(&(a, b), &r)| (a, b, r))
    }

    /// Whether `a` and `b` can talk (both directions pass): the controller's view.
    pub fn reachable(&self, a: BrokerId, b: BrokerId) -> bool {
        a == b
            || (!self.rule(Node::Broker(a), Node::Broker(b)).blocked
                && !self.rule(Node::Broker(b), Node::Broker(a)).blocked)
    }

    /// What a message sent over `from → to` meets; `sample` is uniform in [0, 1).
    pub fn transit(&self, from: Node, to: Node, sample: f64) -> Transit {
        let r = self.rule(from, to);
        if r.blocked {
            return Transit::Blocked;
        }
        let lost = r.loss > 0.0 && sample < r.loss;
        Transit::After(r.latency + if lost { RETRANSMIT } else { Duration::ZERO })
    }
}

/// Parses partition groups: `0|1,2` or `[[0],[1,2]]` (`clients` may be named).
pub fn parse_groups(text: &str) -> Result<Vec<BTreeSet<Node>>, LinkError> {
    let bad = || LinkError::BadGroups(text.to_string());
    let t = text.trim();
    let groups: Vec<&str> =
        if let Some(inner) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            inner
                .split(']')
                .map(|g| {
                    g.trim()
                        .trim_start_matches(',')
                        .trim()
                        .trim_start_matches('[')
                })
                .filter(|g| !g.trim().is_empty())
                .collect()
        } else {
            t.split('|').collect()
        };
    if groups.len() < 2 {
        return Err(bad());
    }
    let mut out = Vec::new();
    for g in groups {
        let mut set = BTreeSet::new();
        for n in g.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            set.insert(n.parse::<Node>().map_err(|_| bad())?);
        }
        if set.is_empty() {
            return Err(bad());
        }
        out.push(set);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const B0: Node = Node::Broker(0);
    const B1: Node = Node::Broker(1);
    const B2: Node = Node::Broker(2);

    fn set(nodes: &[Node]) -> BTreeSet<Node> {
        nodes.iter().copied().collect()
    }

    #[test]
    fn a_clear_table_passes_everything_at_once() {
        let r = LinkRules::default();
        assert_eq!(r.transit(B0, B1, 0.0), Transit::After(Duration::ZERO));
        assert!(r.reachable(0, 1));
    }

    #[test]
    fn latency_is_one_way_and_loss_costs_a_retransmission() {
        let mut r = LinkRules::default();
        r.set_latency(B1, B0, Duration::from_millis(200));
        assert_eq!(
            r.transit(B1, B0, 0.9),
            Transit::After(Duration::from_millis(200))
        );
        assert_eq!(r.transit(B0, B1, 0.9), Transit::After(Duration::ZERO));
        r.set_loss(B1, B0, 0.25).expect("valid loss");
        assert_eq!(
            r.transit(B1, B0, 0.1),
            Transit::After(Duration::from_millis(200) + RETRANSMIT)
        );
        assert_eq!(
            r.transit(B1, B0, 0.5),
            Transit::After(Duration::from_millis(200))
        );
        assert_eq!(r.set_loss(B1, B0, 1.5), Err(LinkError::BadLoss(1.5)));
        // Loss alone never blocks: TCP delivers, late.
        assert!(r.reachable(0, 1));
        r.set_latency(B1, B0, Duration::ZERO);
        r.set_loss(B1, B0, 0.0).expect("valid loss");
        assert_eq!(r, LinkRules::default(), "cleared rules leave no entry");
    }

    #[test]
    fn a_partition_blocks_between_groups_only_and_heals() {
        let mut r = LinkRules::default();
        r.partition(vec![set(&[B0]), set(&[B1, B2])])
            .expect("groups");
        assert_eq!(r.transit(B0, B1, 0.0), Transit::Blocked);
        assert_eq!(r.transit(B2, B0, 0.0), Transit::Blocked);
        assert_eq!(r.transit(B1, B2, 0.0), Transit::After(Duration::ZERO));
        assert!(!r.reachable(0, 2) && r.reachable(1, 2));
        // Clients not named reach every side.
        assert!(!r.rule(Node::Clients, B0).blocked);
        // Named clients stay on their side.
        r.partition(vec![set(&[B0]), set(&[B1, B2, Node::Clients])])
            .expect("groups");
        assert!(r.rule(Node::Clients, B0).blocked && !r.rule(B1, Node::Clients).blocked);
        r.heal();
        assert!(r.reachable(0, 1));
        assert_eq!(
            r.partition(vec![set(&[B0, B1]), set(&[B1])]),
            Err(LinkError::TwiceInGroups(B1))
        );
    }

    #[test]
    fn a_one_way_cut_makes_the_pair_unreachable() {
        let mut r = LinkRules::default();
        r.set_blocked(B0, B1, true);
        assert!(!r.reachable(0, 1) && !r.reachable(1, 0));
        assert_eq!(r.transit(B1, B0, 0.0), Transit::After(Duration::ZERO));
    }

    #[test]
    fn groups_parse_in_both_spellings() {
        let want = vec![set(&[B0]), set(&[B1, B2])];
        assert_eq!(parse_groups("0|1,2"), Ok(want.clone()));
        assert_eq!(parse_groups("[[0],[1,2]]"), Ok(want));
        assert_eq!(
            parse_groups("0,clients|1"),
            Ok(vec![set(&[B0, Node::Clients]), set(&[B1])])
        );
        assert!(parse_groups("0").is_err());
        assert!(parse_groups("0|x").is_err());
        assert!(parse_groups("0||1").is_err());
    }
}
