//! One consumer group member: polls, verifies and times every record, simulates
//! processing time, and obeys the timeline (leave, crash without leaving, freeze,
//! restart), crashing mid-poll when told to. Commits as its `commit` mode says. Reports what it went through to the group's
//! [`MemberLog`](super::group_outcome::MemberLog).

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;

use super::group_outcome::{MemberObs, RemovalCause, Revocation};
use super::stats::Stats;
use crate::client::consumer::fetcher::ResetPolicy;
use crate::client::consumer::group::{LEFT_POLL_TIMEOUT, LEFT_SESSION_TIMEOUT};
use crate::client::consumer::{Consumer, ConsumerEvent};
use crate::client::{ClientConfig, ClientError};
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
    /// Close cleanly, then start a new consumer with the same configuration after
    /// this downtime.
    Restart(Duration),
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
    /// Static membership (`group.instance.id`): closing sends no LeaveGroup.
    pub static_member: bool,
    /// End of the measured part (ns since the run start).
    pub measure_until: i64,
}

/// How to start the member's consumer (again, after a restart).
#[derive(Clone)]
pub struct ConsumerSetup {
    pub bootstrap: String,
    pub config: ClientConfig,
    pub topics: Vec<String>,
    pub registry: Option<prometheus::Registry>,
}

impl ConsumerSetup {
    /// A subscribed consumer; its metrics registered when there is a registry.
    pub async fn start(&self) -> Result<Consumer, ClientError> {
        let mut consumer = Consumer::new(&self.bootstrap, self.config.clone()).await?;
        if let Some(r) = &self.registry {
            if let Err(e) = consumer.register(r) {
                tracing::warn!("consumer metrics not registered: {e}");
            }
        }
        consumer.subscribe(&self.topics);
        Ok(consumer)
    }
}

/// Revocations seen by the poll loop, waiting for the generation they lead into.
struct Revoking {
    /// The member's generation before them.
    base: i32,
    at: i64,
    partitions: u32,
}

/// What ended a poll's processing.
enum Processed {
    /// Every record was processed.
    All,
    /// A crash came after the first `n` records.
    CrashedAfter(usize),
}

pub async fn run(
    setup: ConsumerSetup,
    mut consumer: Consumer,
    spec: MemberSpec,
    stats: Arc<Stats>,
    mut commands: mpsc::Receiver<MemberCommand>,
) -> Result<(), ClientError> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let spec = Arc::new(spec);
    if let Some(c) = stats.offset_checks.get(&spec.group) {
        c.lock().forget_member(&spec.member);
    }
    with_member(&stats, &spec, |m| m.until = None);
    let mut own = consumer.events();
    let mut events = tokio::spawn(watch_events(consumer.events(), spec.clone(), stats.clone()));
    let mut batch = Vec::with_capacity(512);
    let mut offsets: Vec<(u32, i64)> = Vec::with_capacity(512);
    // The producers' clock (record timestamps): for the age of tombstones.
    let wall = crate::client::producer::WallClock::system();
    let mut done_at: Vec<Duration> = Vec::with_capacity(512);
    // A command that arrived while a poll was being processed.
    let mut pending: Option<MemberCommand> = None;
    let mut revoking: Option<Revoking> = None;
    let mut last_records: Option<i64> = None;
    let result = loop {
        let command = match pending.take() {
            Some(c) => Ok(c),
            None => commands.try_recv(),
        };
        match command {
            Ok(MemberCommand::Stop) => break consumer.close().await,
            Ok(MemberCommand::Leave) => {
                let r = close(consumer, &mut own, &stats, &spec).await;
                with_member(&stats, &spec, |m| m.until = Some(stats.now_ns()));
                break r;
            }
            Ok(MemberCommand::Crash) => {
                consumer.crash();
                with_member(&stats, &spec, |m| m.until = Some(stats.now_ns()));
                break Ok(());
            }
            Ok(MemberCommand::Freeze(d)) => {
                consumer.freeze_heartbeats(d);
                tokio::time::sleep(d).await;
                continue;
            }
            Ok(MemberCommand::Restart(d)) => {
                if let Err(e) = close(consumer, &mut own, &stats, &spec).await {
                    tracing::warn!(member = %spec.member, "close before the restart: {e}");
                }
                // The old consumer's last events (revocation, LeftGroup) are still
                // being read; its channel closes when they are done.
                let stop = tokio::select! {
                    _ = tokio::time::sleep(d) => false,
                    cmd = commands.recv() => {
                        !matches!(cmd, Some(MemberCommand::Freeze(_)) | Some(MemberCommand::Restart(_)))
                    }
                };
                if stop {
                    break Ok(());
                }
                consumer = setup.start().await?;
                if let Some(c) = stats.offset_checks.get(&spec.group) {
                    c.lock().forget_member(&spec.member);
                }
                own = consumer.events();
                events = tokio::spawn(watch_events(consumer.events(), spec.clone(), stats.clone()));
                revoking = None;
                continue;
            }
            Err(_) => {}
        }
        let generation_before = consumer.generation();
        let polled = consumer.poll(Duration::from_millis(100)).await;
        revocations(&mut own, &stats, &mut revoking, generation_before);
        let generation = consumer.generation();
        if let Some(r) = revoking.take_if(|r| generation > r.base) {
            revoked(&stats, &spec.group, generation, &r);
        }
        let records = match polled {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(member = %spec.member, "poll: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        observe_generation(&stats, &spec.group, generation);
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
        if stats.measuring.load(std::sync::atomic::Ordering::Relaxed) && now <= spec.measure_until {
            let gap = last_records.map_or(0, |t| now - t);
            with_member(&stats, &spec, |m| {
                m.records += records.len() as u64;
                m.longest_gap = m.longest_gap.max(gap);
            });
        }
        last_records = Some(now);
        batch.clear();
        offsets.clear();
        let now_ms = wall.now_ms();
        // (A block: the lock guard must be gone before the next await.)
        {
            let mut keys = stats
                .key_checks
                .get(&spec.group)
                .filter(|_| stats.measure)
                .map(|k| k.lock());
            for r in &records {
                let header = if stats.measure {
                    r.value.as_deref().and_then(payload::decode)
                } else {
                    None
                };
                let pid = stats.partition_id(&r.topic, r.partition);
                if let Some(k) = keys.as_mut() {
                    k.received(
                        &r.topic,
                        pid,
                        r.key.as_deref(),
                        r.value.is_none(),
                        now_ms - r.timestamp_ms,
                    );
                }
                // A tombstone (null value) carries no kafkalab header: it is counted by the
                // key checks, not verified (its producer does not track it either).
                if r.value.is_some() {
                    batch.push((pid, r.offset, header));
                }
                offsets.push((pid, r.offset));
            }
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
            with_member(&stats, &spec, |m| m.until = Some(stats.now_ns()));
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

fn with_member(stats: &Stats, spec: &MemberSpec, f: impl FnOnce(&mut MemberObs)) {
    if let Some(g) = stats.groups.lock().get_mut(&spec.group) {
        let m = g
            .log
            .members
            .entry(spec.member.clone())
            .or_insert_with(|| MemberObs {
                since: stats.now_ns(),
                ..MemberObs::default()
            });
        f(m);
    }
}

/// Collects the partitions revoked during the last poll (its events are already sent
/// when it returns).
fn revocations(
    own: &mut tokio::sync::broadcast::Receiver<ConsumerEvent>,
    stats: &Stats,
    revoking: &mut Option<Revoking>,
    generation_before: i32,
) {
    use tokio::sync::broadcast::error::TryRecvError;
    loop {
        match own.try_recv() {
            Ok(ConsumerEvent::Revoked { partitions, at }) => {
                let r = revoking.get_or_insert(Revoking {
                    base: generation_before,
                    at: stats.ns_of(at),
                    partitions: 0,
                });
                r.partitions += partitions.len() as u32;
            }
            Ok(_) | Err(TryRecvError::Lagged(_)) => {}
            Err(_) => return,
        }
    }
}

fn revoked(stats: &Stats, group: &str, generation: i32, r: &Revoking) {
    if let Some(g) = stats.groups.lock().get_mut(group) {
        g.log.revocations.push(Revocation {
            generation,
            at: r.at,
            partitions: r.partitions,
        });
    }
}

/// Closes the member for good or for a restart. A dynamic member's partitions are
/// revoked into the rebalance its LeaveGroup starts; a static one leaves no trace in
/// the group.
async fn close(
    consumer: Consumer,
    own: &mut tokio::sync::broadcast::Receiver<ConsumerEvent>,
    stats: &Stats,
    spec: &MemberSpec,
) -> Result<(), ClientError> {
    let generation = consumer.generation();
    let result = consumer.close().await;
    let mut gone = None;
    revocations(own, stats, &mut gone, generation);
    if spec.static_member {
        return result;
    }
    if let Some(r) = gone.filter(|r| r.base > 0) {
        revoked(stats, &spec.group, r.base + 1, &r);
    }
    if generation > 0 {
        if let Some(g) = stats.groups.lock().get_mut(&spec.group) {
            g.log.removed(stats.now_ns(), RemovalCause::Leave);
        }
    }
    result
}

/// Turns the member's rebalance events into pause tracking and group observations.
async fn watch_events(
    mut rx: tokio::sync::broadcast::Receiver<ConsumerEvent>,
    spec: Arc<MemberSpec>,
    stats: Arc<Stats>,
) {
    let (group, member) = (&spec.group, &spec.member);
    loop {
        let ev = match rx.recv().await {
            Ok(ev) => ev,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        };
        match ev {
            ConsumerEvent::JoinStarted { at } => {
                let t = stats.ns_of(at);
                stats.pauses.lock().rebalance_started(group, member, t);
                if let Some(g) = stats.groups.lock().get_mut(group) {
                    g.rebalance_starts.push(t);
                }
            }
            ConsumerEvent::Assigned { partitions, at } => {
                let ids: Vec<u32> = partitions
                    .iter()
                    .map(|(t, p)| stats.partition_id(t, *p))
                    .collect();
                let t = stats.ns_of(at);
                stats.pauses.lock().assigned(group, member, &ids, t);
                stats
                    .ownership
                    .lock()
                    .assigned(group, member, &partitions, t);
            }
            ConsumerEvent::Revoked { partitions, at } | ConsumerEvent::Lost { partitions, at } => {
                stats
                    .ownership
                    .lock()
                    .revoked(group, member, &partitions, stats.ns_of(at));
            }
            ConsumerEvent::Committed { offsets, .. } => {
                if let Some(c) = stats.offset_checks.get(group) {
                    let ids: Vec<(u32, i64)> = offsets
                        .iter()
                        .map(|(t, p, o)| (stats.partition_id(t, *p), *o))
                        .collect();
                    c.lock().committed(&ids);
                }
            }
            ConsumerEvent::LeftGroup { reason, at } => {
                let t = stats.ns_of(at);
                stats.pauses.lock().member_left(group, member, t);
                // A close is counted by `close` (the run's final one is no removal).
                let cause = match reason {
                    LEFT_POLL_TIMEOUT => Some(RemovalCause::PollTimeout),
                    LEFT_SESSION_TIMEOUT => Some(RemovalCause::SessionTimeout),
                    _ => None,
                };
                if let (Some(cause), Some(g)) = (cause, stats.groups.lock().get_mut(group)) {
                    g.log.removed(t, cause);
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
