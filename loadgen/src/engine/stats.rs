//! The run's shared measurements: counters, latency histograms, one verifier per
//! consumer group, rebalance pauses and group observations. Time is nanoseconds since
//! the run's epoch, read from tokio's clock (so a paused runtime controls it).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::measure::{
    IntervalCounter, LatencyRecorder, PauseTracker, PayloadHeader, Verifier, VerifierConfig,
};

/// What the engine saw of one consumer group (from its members' events).
#[derive(Debug, Default, Clone)]
pub struct GroupObs {
    /// Generation -> when a member first reported it (ns).
    pub generations: BTreeMap<i32, i64>,
    /// When members started rejoining (ns), in order.
    pub rebalance_starts: Vec<i64>,
    /// Members that left on their own because they missed max.poll.interval.ms.
    pub poll_timeouts: u32,
    /// When a member was crashed or frozen by the timeline (ns).
    pub faults: Vec<i64>,
    pub consumed: u64,
}

pub struct Stats {
    epoch: Instant,
    pub run_id: u32,
    /// Off only to measure what measuring costs (`--no-measure`): records are still
    /// produced and consumed, but not verified or timed.
    pub measure: bool,
    pub measuring: AtomicBool,
    pub produced: IntervalCounter,
    pub acked: IntervalCounter,
    pub failed: IntervalCounter,
    pub consumed: IntervalCounter,
    pub produce_latency: Mutex<LatencyRecorder>,
    pub e2e_latency: Mutex<LatencyRecorder>,
    pub verifiers: BTreeMap<String, Mutex<Verifier>>,
    pub pauses: Mutex<PauseTracker>,
    pub groups: Mutex<BTreeMap<String, GroupObs>>,
    partitions: HashMap<(String, i32), u32>,
}

impl Stats {
    pub fn new(
        run_id: u32,
        measure: bool,
        groups: &[String],
        partitions: HashMap<(String, i32), u32>,
    ) -> Stats {
        Stats {
            epoch: Instant::now(),
            run_id,
            measure,
            measuring: AtomicBool::new(false),
            produced: IntervalCounter::default(),
            acked: IntervalCounter::default(),
            failed: IntervalCounter::default(),
            consumed: IntervalCounter::default(),
            produce_latency: Mutex::new(LatencyRecorder::new()),
            e2e_latency: Mutex::new(LatencyRecorder::new()),
            verifiers: groups
                .iter()
                .map(|g| {
                    (
                        g.clone(),
                        Mutex::new(Verifier::new(g.clone(), VerifierConfig::new(run_id))),
                    )
                })
                .collect(),
            pauses: Mutex::new(PauseTracker::new()),
            groups: Mutex::new(
                groups
                    .iter()
                    .map(|g| (g.clone(), GroupObs::default()))
                    .collect(),
            ),
            partitions,
        }
    }

    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Nanoseconds since the run started.
    pub fn now_ns(&self) -> i64 {
        self.epoch.elapsed().as_nanos() as i64
    }

    pub fn ns_of(&self, at: Instant) -> i64 {
        at.saturating_duration_since(self.epoch).as_nanos() as i64
    }

    pub fn partition_id(&self, topic: &str, partition: i32) -> u32 {
        self.partitions
            .get(&(topic.to_string(), partition))
            .copied()
            .unwrap_or(u32::MAX)
    }

    /// A record was acknowledged by the cluster.
    pub fn on_ack(&self, producer: u32, pid: u32, seq: u64, offset: i64, intended_ns: i64) {
        self.acked.add(1);
        if !self.measure {
            return;
        }
        let now = self.now_ns();
        if self.measuring.load(Ordering::Relaxed) {
            self.produce_latency
                .lock()
                .record_intended(intended_ns, now);
        }
        for v in self.verifiers.values() {
            v.lock().acked(producer, pid, seq, offset);
        }
    }

    pub fn on_fail(&self, producer: u32, pid: u32, seq: u64) {
        self.failed.add(1);
        for v in self.verifiers.values() {
            v.lock().failed(producer, pid, seq);
        }
    }

    /// A consumer in `group` received records: verifies each and records end-to-end
    /// latency from the producer's intended send time.
    pub fn on_consumed(&self, group: &str, records: &[(u32, i64, Option<PayloadHeader>)]) {
        let now = self.now_ns();
        self.consumed.add(records.len() as u64);
        if let Some(g) = self.groups.lock().get_mut(group) {
            g.consumed += records.len() as u64;
        }
        if !self.measure {
            return;
        }
        if let Some(v) = self.verifiers.get(group) {
            let mut v = v.lock();
            for (pid, offset, header) in records {
                match header {
                    Some(h) => {
                        v.consumed(*pid, *offset, h);
                    }
                    None => {
                        v.foreign(*pid, *offset);
                    }
                }
            }
        }
        if self.measuring.load(Ordering::Relaxed) {
            let mut lat = self.e2e_latency.lock();
            for (_, _, h) in records {
                if let Some(h) = h {
                    if h.run_id == self.run_id {
                        lat.record_intended(h.intended_ns, now);
                    }
                }
            }
        }
    }
}
