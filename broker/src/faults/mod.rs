//! Injected faults of an in-process cluster: link rules between nodes and between
//! clients and a node ([`link`]), and slow disks. One [`Faults`] is shared by every
//! node of a [`crate::Cluster`] (it hangs off the shared controller); the places where
//! nodes talk consult it:
//!
//! - replica fetchers ([`crate::cluster::fetcher`]) wait out the follower → leader link
//!   before sending a Fetch and the leader → follower link before using the answer,
//!   and stall while either is blocked;
//! - the controller's quorum reads [`link::LinkRules::reachable`] as its `link(a, b)`;
//!   a node that cannot reach the active controller gets no metadata, cannot change
//!   an ISR, and is fenced after `broker.session.timeout.ms` (see
//!   [`crate::cluster`]);
//! - client connections ([`crate::network::connection`]) wait out clients → node before
//!   handling a request and node → clients before writing its response;
//! - a slow disk adds its latency to every batch a node appends (leader produce and
//!   follower fetch alike), as an extra write + fsync would;
//! - the request router ([`crate::handlers::inject`]) answers the requests an injected
//!   error rule ([`inject`]) matches with its Kafka error code, without handling them.
//!
//! Random choices (which message is lost) come from a seeded generator: a scenario run
//! reseeds it with the run's seed ([`Faults::reseed`]).

pub mod control;
pub mod inject;
pub mod link;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kafka_protocol::messages::ApiKey;

use parking_lot::{Mutex, RwLock};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::sync::watch;

use crate::replication::BrokerId;
pub use inject::{ErrorRule, ErrorRuleView, ErrorRules, InjectError, Injected};
pub use link::{LinkError, LinkRule, LinkRules, Node, Transit};

/// The fault state of a cluster.
pub struct Faults {
    links: RwLock<LinkRules>,
    disks: RwLock<BTreeMap<BrokerId, Duration>>,
    errors: Mutex<ErrorRules>,
    /// Whether `errors` has a rule (read by every request, so without the lock).
    any_errors: AtomicBool,
    rng: Mutex<StdRng>,
    changed: watch::Sender<u64>,
}

/// `GET /faults`: the current rules.
#[derive(Debug, Serialize)]
pub struct FaultsView {
    pub links: Vec<LinkView>,
    pub partition: Vec<Vec<Node>>,
    pub slow_disks: BTreeMap<BrokerId, u64>,
    pub errors: Vec<ErrorRuleView>,
}

#[derive(Debug, Serialize)]
pub struct LinkView {
    pub from: Node,
    pub to: Node,
    #[serde(flatten)]
    pub rule: LinkRule,
}

impl Faults {
    pub fn new(seed: u64) -> Faults {
        Faults {
            links: RwLock::default(),
            disks: RwLock::default(),
            errors: Mutex::default(),
            any_errors: AtomicBool::new(false),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            changed: watch::channel(0).0,
        }
    }

    /// Notified on every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v += 1);
    }

    /// Changes the link rules.
    pub fn edit_links<R>(&self, f: impl FnOnce(&mut LinkRules) -> R) -> R {
        let out = f(&mut self.links.write());
        self.bump();
        out
    }

    pub fn links(&self) -> LinkRules {
        self.links.read().clone()
    }

    pub fn reachable(&self, a: BrokerId, b: BrokerId) -> bool {
        self.links.read().reachable(a, b)
    }

    pub fn rule(&self, from: Node, to: Node) -> LinkRule {
        self.links.read().rule(from, to)
    }

    /// Starts the loss samples over from `seed` (a scenario run passes its own, so a
    /// rerun with the same seed loses the same messages).
    pub fn reseed(&self, seed: u64) {
        *self.rng.lock() = StdRng::seed_from_u64(seed);
    }

    /// What a message sent now over `from → to` meets (draws the loss sample).
    pub fn transit(&self, from: Node, to: Node) -> Transit {
        let sample: f64 = self.rng.lock().random();
        self.links.read().transit(from, to, sample)
    }

    /// Waits until `from → to` passes, then for its delay. Returns whether the link
    /// was blocked meanwhile (a message sent then is gone with its connection).
    pub async fn pass(&self, from: Node, to: Node) -> bool {
        let mut changes = self.subscribe();
        let mut was_blocked = false;
        loop {
            match self.transit(from, to) {
                Transit::After(d) => {
                    if !d.is_zero() {
                        tokio::time::sleep(d).await;
                    }
                    return was_blocked;
                }
                Transit::Blocked => {
                    was_blocked = true;
                    if changes.changed().await.is_err() {
                        return true;
                    }
                }
            }
        }
    }

    /// Sets (or, with zero, clears) the extra latency of each append on `node`'s disk.
    pub fn set_disk_latency(&self, node: BrokerId, latency: Duration) {
        {
            let mut d = self.disks.write();
            if latency.is_zero() {
                d.remove(&node);
            } else {
                d.insert(node, latency);
            }
        }
        self.bump();
    }

    /// The extra latency of one append on `node`'s disk.
    pub fn disk_latency(&self, node: BrokerId) -> Duration {
        self.disks.read().get(&node).copied().unwrap_or_default()
    }

    /// Adds an injected error rule (after those already waiting).
    pub fn inject_error(&self, rule: ErrorRule) -> Result<(), InjectError> {
        let mut errors = self.errors.lock();
        errors.add(rule)?;
        self.any_errors.store(true, Ordering::SeqCst);
        drop(errors);
        self.bump();
        Ok(())
    }

    /// The injected error a request of `api` to `node` for `partitions` (topic,
    /// partition, in request order) meets, if any; counts it against its rule.
    pub fn take_error(
        &self,
        node: BrokerId,
        api: ApiKey,
        partitions: &[(&str, i32)],
    ) -> Option<Injected> {
        if !self.any_errors.load(Ordering::SeqCst) {
            return None;
        }
        let mut errors = self.errors.lock();
        let taken = errors.take(node, api, partitions);
        if errors.is_empty() {
            self.any_errors.store(false, Ordering::SeqCst);
        }
        taken
    }

    /// Clears every link rule, the partition, every slow disk and injected error.
    pub fn clear(&self) {
        self.links.write().heal();
        self.disks.write().clear();
        self.errors.lock().clear();
        self.any_errors.store(false, Ordering::SeqCst);
        self.bump();
    }

    /// [`Faults::view`] as JSON.
    pub fn view_json(&self) -> String {
        serde_json::to_string_pretty(&self.view())
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    pub fn view(&self) -> FaultsView {
        let links = self.links.read();
        FaultsView {
            links: links
                .rules()
                .map(|(from, to, rule)| LinkView { from, to, rule })
                .collect(),
            partition: links
                .groups()
                .iter()
                .map(|g: &BTreeSet<Node>| g.iter().copied().collect())
                .collect(),
            slow_disks: self
                .disks
                .read()
                .iter()
                .map(|(&n, d)| (n, d.as_millis() as u64))
                .collect(),
            errors: self.errors.lock().view(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which of 64 messages over a lossy link are lost.
    fn losses(f: &Faults) -> Vec<bool> {
        (0..64)
            .map(|_| {
                matches!(f.transit(Node::Broker(0), Node::Broker(1)),
                    Transit::After(d) if d >= link::RETRANSMIT)
            })
            .collect()
    }

    #[test]
    fn a_reseeded_generator_loses_the_same_messages() {
        let f = Faults::new(0);
        f.edit_links(|l| l.set_loss(Node::Broker(0), Node::Broker(1), 0.5))
            .expect("valid loss");
        f.reseed(7);
        let first = losses(&f);
        assert!(first.contains(&true) && first.contains(&false), "{first:?}");
        f.reseed(7);
        assert_eq!(losses(&f), first, "same seed, same losses");
        f.reseed(8);
        assert_ne!(losses(&f), first, "another seed, other losses");
    }
}
