//! A node's replica manager: keeps the local topics and partition roles in line with
//! the controller's metadata, runs the leader's ISR lag check, keeps one replica
//! fetcher per leader this node follows, and checkpoints high watermarks.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};

use super::controller::Controller;
use super::fetcher;
use super::metadata::TopicMeta;
use super::replica::{Effect, Role};
use crate::broker::Broker;
use crate::config::BrokerKey;
use crate::partition::Partition;
use crate::replication::isr::IsrChange;
use crate::replication::BrokerId;

const TICK: Duration = Duration::from_millis(100);
const CHECKPOINT_EVERY_TICKS: u32 = 10;

/// Runs until `shutdown` (or until the task is aborted, as a crash does).
pub async fn run(
    broker: Arc<Broker>,
    controller: Arc<Controller>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Across processes: not before this start of the node is registered in the
    // committed metadata (an empty copy would drop every local log).
    tokio::select! {
        _ = controller.wait_ready(broker.node_id()) => {}
        _ = shutdown.changed() => return,
    }
    let mut changes = controller.subscribe();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Dropping the set (shutdown or abort) stops every fetcher.
    let mut fetchers = JoinSet::new();
    let mut running: HashMap<BrokerId, AbortHandle> = HashMap::new();
    let mut ticks = 0u32;
    let mut seen = None;
    loop {
        if broker.is_paused() {
            tokio::select! {
                _ = broker.wait_unpaused() => {}
                _ = shutdown.changed() => break,
            }
        }
        let version = *changes.borrow_and_update();
        controller.maybe_rebalance(broker.node_id(), broker.clock.now_ms());
        // Cut off from the active controller by a network fault, a node hears of no
        // metadata change (it keeps its roles, as an isolated Kafka broker does).
        if !controller.has_controller() || controller.reaches_controller(broker.node_id()) {
            reconcile(&broker, &controller);
        }
        if seen != Some(version) {
            seen = Some(version);
            // Roles may have changed: parked produces and fetches re-check theirs.
            broker.notify_append();
        }
        check_lag(&broker, &controller);
        if controller.is_remote() {
            resync_isr(&broker, &controller);
        }
        while fetchers.try_join_next().is_some() {}
        let wanted = leaders_followed(&broker);
        running.retain(|leader, handle| {
            let keep = wanted.contains(leader) && !handle.is_finished();
            if !keep {
                handle.abort();
            }
            keep
        });
        for leader in wanted {
            running.entry(leader).or_insert_with(|| {
                fetchers.spawn(fetcher::run(broker.clone(), controller.clone(), leader))
            });
        }
        ticks += 1;
        if ticks.is_multiple_of(CHECKPOINT_EVERY_TICKS) {
            checkpoint(&broker);
        }
        tokio::select! {
            _ = changes.changed() => {}
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
    }
    checkpoint(&broker);
}

fn checkpoint(broker: &Broker) {
    if let Err(e) = super::checkpoint::write(broker.storage().as_ref(), &broker.topics) {
        tracing::warn!(
            node = broker.node_id(),
            "high-watermark checkpoint failed: {e}"
        );
    }
}

fn lag_time_max_ms(broker: &Broker) -> i64 {
    broker.config.int(BrokerKey::ReplicaLagTimeMaxMs)
}

/// Brings local topics and partition roles in line with the controller's metadata.
pub fn reconcile(broker: &Broker, controller: &Controller) {
    let me = broker.node_id();
    let topics: Vec<TopicMeta> = controller.read(|m| m.topics.values().cloned().collect());
    let wanted: BTreeSet<&str> = topics.iter().map(|t| &*t.name).collect();
    for local in broker.topics.all() {
        if !wanted.contains(&*local.name) {
            if let Err(e) = broker.topics.delete(&local.name) {
                tracing::warn!(node = me, topic = %local.name, "deleting a removed topic failed: {}", e.message);
            }
        }
    }
    let now = broker.clock.now_ms();
    let lag = lag_time_max_ms(broker);
    let mut woke = false;
    for meta in &topics {
        let local = match broker.topics.get(&meta.name) {
            Some(t) if t.id == meta.id => t,
            other => {
                if other.is_some() {
                    // Same name, another topic: the old one was deleted meanwhile.
                    let _ = broker.topics.delete(&meta.name);
                }
                match broker.topics.create_replica(
                    &broker.config,
                    &meta.name,
                    meta.id,
                    meta.partitions.len() as i32,
                    meta.config.clone(),
                ) {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::warn!(node = me, topic = %meta.name, "cannot create the local replica: {}", e.message);
                        continue;
                    }
                }
            }
        };
        let count = meta.partitions.len() as i32;
        if local.partition_count() < count {
            if let Err(e) = broker.topics.create_partitions(&meta.name, count, false) {
                tracing::warn!(node = me, topic = %meta.name, "cannot add partitions: {}", e.message);
            }
        }
        if local.config() != meta.config {
            if let Err(e) =
                broker
                    .topics
                    .set_config(&broker.config, &meta.name, meta.config.clone())
            {
                tracing::warn!(node = me, topic = %meta.name, "cannot apply the topic config: {}", e.message);
            }
        }
        for p in local.partitions() {
            let pm = usize::try_from(p.index)
                .ok()
                .and_then(|i| meta.partitions.get(i));
            let (_, end) = p.offsets();
            let (effect, epoch) = {
                let mut r = p.replica.lock();
                (r.apply(pm, me, end, lag, now), r.leader_epoch())
            };
            match effect {
                Some(Effect::BecameLeader) => {
                    p.start_leader_epoch(epoch);
                    woke = true;
                }
                // Its fetcher matches the log to the new leader's before fetching.
                Some(Effect::BecameFollower) | None => {}
            }
        }
    }
    if woke {
        broker.notify_append();
    }
}

/// The leaders this node fetches from.
fn leaders_followed(broker: &Broker) -> BTreeSet<BrokerId> {
    let mut out = BTreeSet::new();
    for t in broker.topics.all() {
        for p in t.partitions() {
            if let Role::Follower { leader, .. } = p.replica.lock().role {
                out.insert(leader);
            }
        }
    }
    out
}

/// Periodic ISR lag check on every partition this node leads. Skipped without an
/// active controller: a shrink could not be committed, and a high watermark advanced
/// on an ISR the controller does not know would be unsafe.
fn check_lag(broker: &Broker, controller: &Controller) {
    // Nor when a network fault keeps this node from the controller (AlterPartition
    // cannot get through), so an isolated leader's acks=all stall.
    if !controller.reaches_controller(broker.node_id()) {
        return;
    }
    let now = broker.clock.now_ms();
    for t in broker.topics.all() {
        for p in t.partitions() {
            if controller.is_remote() && !shrink_recorded(controller, &p, now) {
                continue;
            }
            let changes = p
                .replica
                .lock()
                .isr_mut()
                .map(|(isr, _)| isr.check_lag(now))
                .unwrap_or_default();
            if !changes.is_empty() {
                apply_isr_changes(broker, &p, &changes);
            }
        }
    }
}

/// Across processes AlterPartition is asynchronous, so a leader shrinks its ISR (and
/// lets the high watermark move without the laggard) only once the controller has
/// recorded the smaller ISR; until then the proposal is queued and the old ISR holds
/// (Kafka's "maximal ISR"): a replica the controller still counts in sync, and could
/// elect, never misses an acknowledged record. Returns whether the lag check may run.
fn shrink_recorded(controller: &Controller, p: &Partition, now: i64) -> bool {
    let preview = {
        let r = p.replica.lock();
        let epoch = r.leader_epoch();
        r.isr().map(|isr| {
            let mut after = isr.clone();
            let shrinks = after
                .check_lag(now)
                .iter()
                .any(|c| matches!(c, IsrChange::Shrunk { .. }));
            let mut proposed = after.isr().to_vec();
            proposed.sort_unstable();
            (shrinks, epoch, proposed)
        })
    };
    let proposals = &controller.isr_proposals;
    match preview {
        Some((true, epoch, proposed)) => {
            let recorded = controller.read(|m| {
                m.partition(&p.topic, p.index)
                    .is_some_and(|pm| pm.leader_epoch == epoch && pm.isr == proposed)
            });
            if recorded {
                proposals.shrink_done(&p.topic, p.index);
            } else {
                proposals.propose_shrink(&p.topic, p.index, epoch, proposed);
            }
            recorded
        }
        _ => {
            proposals.shrink_done(&p.topic, p.index);
            true
        }
    }
}

/// Across processes: where the committed metadata's ISR of a partition this node
/// leads differs from the leader's own (a proposal made while no controller was
/// reachable, or refused meanwhile), proposes the leader's again.
fn resync_isr(broker: &Broker, controller: &Controller) {
    let me = broker.node_id();
    for t in broker.topics.all() {
        for p in t.partitions() {
            let local = {
                let r = p.replica.lock();
                r.isr().map(|isr| (r.leader_epoch(), isr.isr().to_vec()))
            };
            let Some((epoch, mut isr)) = local else {
                continue;
            };
            // A shrink waiting to be recorded: the committed ISR is meant to differ.
            if controller.isr_proposals.is_shrinking(&p.topic, p.index) {
                continue;
            }
            isr.sort_unstable();
            let differs = controller.read(|m| {
                m.partition(&p.topic, p.index).is_some_and(|pm| {
                    pm.leader == Some(me) && pm.leader_epoch == epoch && pm.isr != isr
                })
            });
            if differs {
                controller
                    .isr_proposals
                    .propose(&p.topic, p.index, epoch, isr);
            }
        }
    }
}

/// Acts on what the leader's ISR state reported: proposes ISR changes to the
/// controller, counts them, and wakes producers waiting for the high watermark.
pub fn apply_isr_changes(broker: &Broker, p: &Partition, changes: &[IsrChange]) {
    let mut membership = false;
    for c in changes {
        match c {
            IsrChange::Shrunk { replica, lag_ms } => {
                membership = true;
                broker.metrics.isr_shrinks.inc();
                tracing::info!(node = broker.node_id(), topic = %p.topic, partition = p.index, replica, lag_ms, "ISR shrink");
            }
            IsrChange::Expanded { replica } => {
                membership = true;
                broker.metrics.isr_expands.inc();
                tracing::info!(node = broker.node_id(), topic = %p.topic, partition = p.index, replica, "ISR expand");
            }
            IsrChange::HighWatermark(_) => {}
        }
    }
    if membership {
        let proposal = {
            let r = p.replica.lock();
            r.isr().map(|isr| (isr.isr().to_vec(), r.leader_epoch()))
        };
        // Across processes the proposal is queued and retried until recorded, so it
        // waits for a controller rather than being dropped.
        let reachable = broker
            .cluster()
            .is_some_and(|c| c.is_remote() || c.reaches_controller(broker.node_id()));
        if let (Some(c), Some((isr, epoch)), true) = (broker.cluster(), proposal, reachable) {
            let (node, topic, index) = (broker.node_id(), p.topic.clone(), p.index);
            if c.is_remote() {
                // Across processes AlterPartition is a request to the active controller,
                // retried until recorded; the outcome comes back with the metadata.
                c.isr_proposals.propose(&topic, index, epoch, isr);
            } else if let Err(e) = c.alter_isr(&topic, index, node, epoch, &isr) {
                tracing::warn!(node, %topic, partition = index, "ISR change refused: {e}");
            }
        }
    }
    broker.notify_append();
}
