//! One consumer group member: polls, verifies and times every record, simulates
//! processing time, and obeys the timeline (leave, crash without leaving, freeze).

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;

use super::stats::Stats;
use crate::client::consumer::{Consumer, ConsumerEvent};
use crate::client::ClientError;
use crate::measure::payload;
use crate::scenario::{CommitMode, ProcessingModel, ProcessingPer};

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
    pub commit: CommitMode,
    pub seed: u64,
}

/// What ended a poll's processing.
enum Processed {
    /// Every record was processed.
    All,
    /// A crash came after the first `n` records.
    CrashedAfter(usize),
}

pub async fn run(
    mut consumer: Consumer,
    spec: MemberSpec,
    stats: Arc<Stats>,
    mut commands: mpsc::Receiver<MemberCommand>,
) -> Result<(), ClientError> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    if let Some(c) = stats.offset_checks.get(&spec.group) {
        c.lock().forget_member(&spec.member);
    }
    let events = tokio::spawn(watch_events(
        consumer.events(),
        spec.group.clone(),
        spec.member.clone(),
        stats.clone(),
    ));
    let mut batch = Vec::with_capacity(512);
    let mut offsets: Vec<(u32, i64)> = Vec::with_capacity(512);
    let mut done_at: Vec<Duration> = Vec::with_capacity(512);
    // A command that arrived while a poll was being processed.
    let mut pending: Option<MemberCommand> = None;
    let result = loop {
        let command = match pending.take() {
            Some(c) => Ok(c),
            None => commands.try_recv(),
        };
        match command {
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
        let generation = consumer.generation();
        observe_generation(&stats, &spec.group, generation);
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
        offsets.clear();
        for r in &records {
            let header = if stats.measure {
                r.value.as_deref().and_then(payload::decode)
            } else {
                None
            };
            let pid = stats.partition_id(&r.topic, r.partition);
            batch.push((pid, r.offset, header));
            offsets.push((pid, r.offset));
        }
        let checks = stats.offset_checks.get(&spec.group);
        if let Some(c) = checks {
            c.lock().polled(&spec.member, generation, &offsets);
        }
        stats.on_consumed(&spec.group, &batch);
        if spec.commit == CommitMode::BeforeProcessing {
            // At-most-once: the poll's positions are committed before any record is
            // processed.
            if let Err(e) = consumer.commit_sync().await {
                tracing::debug!(member = %spec.member, "commit before processing: {e}");
            }
        }
        // When each record's processing ends, from the start of the batch.
        done_at.clear();
        match spec.processing_per {
            ProcessingPer::Batch => {
                let work = spec.processing.sample(&mut rng);
                done_at.extend(std::iter::repeat_n(work, records.len()));
            }
            _ => {
                let mut t = Duration::ZERO;
                for _ in 0..records.len() {
                    t += spec.processing.sample(&mut rng);
                    done_at.push(t);
                }
            }
        }
        let outcome = process(&done_at, &mut commands, &mut pending).await;
        let processed = match outcome {
            Processed::All => offsets.len(),
            Processed::CrashedAfter(n) => n,
        };
        if let Some(c) = checks {
            let mut c = c.lock();
            c.processed(&offsets[..processed]);
            c.abandoned(&offsets[processed..]);
        }
        if matches!(outcome, Processed::CrashedAfter(_)) {
            consumer.crash();
            break Ok(());
        }
        match spec.commit {
            CommitMode::Sync => {
                if let Err(e) = consumer.commit_sync().await {
                    tracing::debug!(member = %spec.member, "commit after processing: {e}");
                }
            }
            CommitMode::Async => consumer.commit_async(),
            _ => {}
        }
    };
    events.abort();
    let _ = events.await;
    result
}

/// Spends the poll's processing time (`done_at[i]`: when record i is done, from now).
/// A crash command cuts it short; any other command waits in `pending` until the poll
/// is processed.
async fn process(
    done_at: &[Duration],
    commands: &mut mpsc::Receiver<MemberCommand>,
    pending: &mut Option<MemberCommand>,
) -> Processed {
    let Some(total) = done_at.last().copied().filter(|t| !t.is_zero()) else {
        return Processed::All;
    };
    let start = tokio::time::Instant::now();
    let end = start + total;
    loop {
        if pending.is_some() {
            tokio::time::sleep_until(end).await;
            return Processed::All;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(end) => return Processed::All,
            c = commands.recv() => match c {
                Some(MemberCommand::Crash) => {
                    let elapsed = start.elapsed();
                    return Processed::CrashedAfter(done_at.partition_point(|t| *t <= elapsed));
                }
                Some(other) => *pending = Some(other),
                // The engine is gone: finish the poll, the loop ends at the next one.
                None => {
                    tokio::time::sleep_until(end).await;
                    return Processed::All;
                }
            },
        }
    }
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
            ConsumerEvent::Committed { offsets, .. } => {
                if let Some(c) = stats.offset_checks.get(&group) {
                    let ids: Vec<(u32, i64)> = offsets
                        .iter()
                        .map(|(t, p, o)| (stats.partition_id(t, *p), *o))
                        .collect();
                    c.lock().committed(&ids);
                }
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
