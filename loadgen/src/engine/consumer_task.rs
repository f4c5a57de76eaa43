//! One consumer group member: polls, verifies and times every record, simulates
//! processing time, and obeys the timeline (leave, crash without leaving, freeze).

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;

use super::stats::Stats;
use crate::client::consumer::fetcher::ResetPolicy;
use crate::client::consumer::{Consumer, ConsumerEvent};
use crate::client::ClientError;
use crate::measure::payload;
use crate::scenario::{ProcessingModel, ProcessingPer};

/// Commands from the timeline to one member.
#[derive(Debug)]
pub enum MemberCommand {
    /// Close cleanly (LeaveGroup).
    Leave,
    /// Stop at once: no LeaveGroup, no commit (kill -9).
    Crash,
    /// Stop polling and heartbeating for a while.
    Freeze(Duration),
    /// End of run: close cleanly.
    Stop,
}

pub struct MemberSpec {
    pub group: String,
    pub member: String,
    pub processing: ProcessingModel,
    pub processing_per: ProcessingPer,
    pub seed: u64,
}

pub async fn run(
    mut consumer: Consumer,
    spec: MemberSpec,
    stats: Arc<Stats>,
    mut commands: mpsc::Receiver<MemberCommand>,
) -> Result<(), ClientError> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let events = tokio::spawn(watch_events(
        consumer.events(),
        spec.group.clone(),
        spec.member.clone(),
        stats.clone(),
    ));
    let mut batch = Vec::with_capacity(512);
    let result = loop {
        match commands.try_recv() {
            Ok(MemberCommand::Leave) | Ok(MemberCommand::Stop) => break consumer.close().await,
            Ok(MemberCommand::Crash) => {
                consumer.crash();
                break Ok(());
            }
            Ok(MemberCommand::Freeze(d)) => {
                consumer.freeze_heartbeats(d);
                tokio::time::sleep(d).await;
                continue;
            }
            Err(_) => {}
        }
        let records = match consumer.poll(Duration::from_millis(100)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(member = %spec.member, "poll: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        observe_generation(&stats, &spec.group, consumer.generation());
        for r in consumer.take_offset_resets() {
            if r.policy == ResetPolicy::Earliest {
                stats.on_offsets_deleted(&spec.group, &r.topic, r.partition, r.from, r.to);
            }
        }
        let now = stats.now_ns();
        if records.is_empty() {
            stats
                .pauses
                .lock()
                .empty_poll(&spec.group, &spec.member, now);
            continue;
        }
        stats
            .pauses
            .lock()
            .record_consumed(&spec.group, &spec.member, now);
        batch.clear();
        for r in &records {
            let header = if stats.measure {
                r.value.as_deref().and_then(payload::decode)
            } else {
                None
            };
            batch.push((stats.partition_id(&r.topic, r.partition), r.offset, header));
        }
        stats.on_consumed(&spec.group, &batch);
        let work = match spec.processing_per {
            ProcessingPer::Batch => spec.processing.sample(&mut rng),
            _ => (0..records.len())
                .map(|_| spec.processing.sample(&mut rng))
                .sum(),
        };
        if !work.is_zero() {
            tokio::time::sleep(work).await;
        }
    };
    events.abort();
    result
}

/// Turns the member's rebalance events into pause tracking and group observations.
async fn watch_events(
    mut rx: tokio::sync::broadcast::Receiver<ConsumerEvent>,
    group: String,
    member: String,
    stats: Arc<Stats>,
) {
    loop {
        let ev = match rx.recv().await {
            Ok(ev) => ev,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        };
        match ev {
            ConsumerEvent::JoinStarted { at } => {
                let t = stats.ns_of(at);
                stats.pauses.lock().rebalance_started(&group, &member, t);
                if let Some(g) = stats.groups.lock().get_mut(&group) {
                    g.rebalance_starts.push(t);
                }
            }
            ConsumerEvent::Assigned { partitions, at } => {
                let ids: Vec<u32> = partitions
                    .iter()
                    .map(|(t, p)| stats.partition_id(t, *p))
                    .collect();
                let t = stats.ns_of(at);
                stats.pauses.lock().assigned(&group, &member, &ids, t);
                stats
                    .ownership
                    .lock()
                    .assigned(&group, &member, &partitions, t);
            }
            ConsumerEvent::Revoked { partitions, at } | ConsumerEvent::Lost { partitions, at } => {
                stats
                    .ownership
                    .lock()
                    .revoked(&group, &member, &partitions, stats.ns_of(at));
            }
            ConsumerEvent::LeftGroup { reason, at } => {
                stats
                    .pauses
                    .lock()
                    .member_left(&group, &member, stats.ns_of(at));
                if reason != "close" {
                    if let Some(g) = stats.groups.lock().get_mut(&group) {
                        g.poll_timeouts += 1;
                    }
                }
            }
        }
    }
}

/// Records the member's current generation (called by the sampler).
pub fn observe_generation(stats: &Stats, group: &str, generation: i32) {
    if generation <= 0 {
        return;
    }
    let now = stats.now_ns();
    if let Some(g) = stats.groups.lock().get_mut(group) {
        g.generations.entry(generation).or_insert(now);
    }
}
