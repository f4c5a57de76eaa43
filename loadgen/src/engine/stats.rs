//! The run's shared measurements: counters, latency histograms, one verifier per
//! consumer group, rebalance pauses and group observations. Time is nanoseconds since
//! the run's epoch, read from tokio's clock (so a paused runtime controls it).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::client::producer::Tag;
use crate::measure::{
    IntervalCounter, LatencyRecorder, OffsetChecks, PauseTracker, PayloadHeader, Verifier,
    VerifierConfig,
};

/// What the engine saw of one consumer group (from its members' events).
#[derive(Debug, Default, Clone)]
pub struct GroupObs {
    /// Generation -> when a member first reported it (ns).
    pub generations: BTreeMap<i32, i64>,
    /// When members started rejoining (ns), in order.
    pub rebalance_starts: Vec<i64>,
    /// When a member was crashed or frozen by the timeline (ns).
    pub faults: Vec<i64>,
    /// When a member was crashed by the timeline (ns).
    pub crashes: Vec<i64>,
    /// Removals, revocations and each member's records and pauses.
    pub log: super::group_outcome::MemberLog,
    pub consumed: u64,
    /// When the group first received a record (ns): pauses before it are the group
    /// forming, not a rebalance of a running group.
    pub first_consumed_ns: Option<i64>,
}

/// What the engine saw of one `[[producers]]` entry (all its instances).
#[derive(Debug)]
pub struct ProducerObs {
    pub name: String,
    /// Produce latency of this entry's records (the run-wide one holds all).
    pub latency: Mutex<LatencyRecorder>,
    /// Records whose send finally failed, by error name ([`failure_name`]).
    pub errors: Mutex<BTreeMap<String, u64>>,
}

/// The name a failed record is counted under: the Kafka error name
/// (`MESSAGE_TOO_LARGE`, `NOT_ENOUGH_REPLICAS`), `DELIVERY_TIMEOUT` when
/// `delivery.timeout.ms` expired first (Java's TimeoutException), `NETWORK_EXCEPTION`
/// for a lost connection, `CLIENT_ERROR` otherwise.
pub fn failure_name(e: &crate::client::ClientError) -> String {
    use crate::client::ClientError;
    match e {
        ClientError::Kafka { .. } => e.kafka_error_name().unwrap_or_default(),
        ClientError::Timeout(_) => "DELIVERY_TIMEOUT".into(),
        ClientError::Connect { .. } | ClientError::Disconnected { .. } => {
            "NETWORK_EXCEPTION".into()
        }
        _ => "CLIENT_ERROR".into(),
    }
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
    /// Per group: poll skips, commits backwards, unprocessed and replayed records.
    pub offset_checks: BTreeMap<String, Mutex<OffsetChecks>>,
    /// Per group: keys, records per key, keys remapped, tombstones.
    pub key_checks: BTreeMap<String, Mutex<crate::measure::KeyChecks>>,
    pub pauses: Mutex<PauseTracker>,
    /// Which member owned which partition when (the rebalance made visible).
    pub ownership: Mutex<crate::measure::OwnershipTracker>,
    pub groups: Mutex<BTreeMap<String, GroupObs>>,
    /// One per `[[producers]]` entry, in file order.
    pub producers: Vec<ProducerObs>,
    /// Producer instance index -> its entry in `producers`.
    producer_entry: Vec<usize>,
    /// (topic, run-wide partition id per partition index). Looked up per record: a
    /// scan of a scenario's few topics costs less than hashing the name.
    partitions: Vec<(String, Vec<u32>)>,
    /// Acknowledged records per (producer instance, run-wide partition id).
    acked_per_partition: Mutex<HashMap<(u32, u32), u64>>,
}

impl Stats {
    /// `producers` lists each `[[producers]]` entry's name and instance count, in
    /// file order (instances are numbered across them in that order).
    pub fn new(
        run_id: u32,
        measure: bool,
        groups: &[String],
        producers: &[(String, u32)],
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
            offset_checks: groups
                .iter()
                .map(|g| (g.clone(), Mutex::new(OffsetChecks::new())))
                .collect(),
            key_checks: groups
                .iter()
                .map(|g| (g.clone(), Mutex::new(crate::measure::KeyChecks::new())))
                .collect(),
            pauses: Mutex::new(PauseTracker::new()),
            ownership: Mutex::new(crate::measure::OwnershipTracker::new()),
            groups: Mutex::new(
                groups
                    .iter()
                    .map(|g| (g.clone(), GroupObs::default()))
                    .collect(),
            ),
            producers: producers
                .iter()
                .map(|(name, _)| ProducerObs {
                    name: name.clone(),
                    latency: Mutex::new(LatencyRecorder::new()),
                    errors: Mutex::new(BTreeMap::new()),
                })
                .collect(),
            producer_entry: producers
                .iter()
                .enumerate()
                .flat_map(|(i, (_, count))| std::iter::repeat_n(i, *count as usize))
                .collect(),
            partitions: by_topic(partitions),
            acked_per_partition: Mutex::default(),
        }
    }

    /// The entry (position in `producers`) producer instance `index` belongs to.
    pub fn producer_entry_of(&self, index: u32) -> Option<usize> {
        self.producer_entry.get(index as usize).copied()
    }

    /// The observations of the entry producer instance `index` belongs to.
    pub fn producer_obs(&self, index: u32) -> Option<&ProducerObs> {
        self.producers.get(self.producer_entry_of(index)?)
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
            .iter()
            .find(|(t, _)| t == topic)
            .and_then(|(_, ids)| ids.get(usize::try_from(partition).ok()?))
            .copied()
            .unwrap_or(u32::MAX)
    }

    /// A batch of one producer's records for one partition was acknowledged: `records`
    /// holds (offset, tag) with tag = (sequence, intended send time in ns), in offset
    /// order. One lock per histogram and verifier per batch, not per record.
    pub fn on_acked_batch(&self, producer: u32, pid: u32, records: &[(i64, Tag)]) {
        self.acked.add(records.len() as u64);
        if !records.is_empty() {
            *self
                .acked_per_partition
                .lock()
                .entry((producer, pid))
                .or_default() += records.len() as u64;
        }
        if !self.measure || records.is_empty() {
            return;
        }
        if self.measuring.load(Ordering::Relaxed) {
            let now = self.now_ns();
            let mut lat = self.produce_latency.lock();
            for (_, t) in records {
                lat.record_intended(t.1 as i64, now);
            }
            drop(lat);
            if let Some(obs) = self.producer_obs(producer) {
                let mut lat = obs.latency.lock();
                for (_, t) in records {
                    lat.record_intended(t.1 as i64, now);
                }
            }
        }
        for v in self.verifiers.values() {
            let mut v = v.lock();
            for_each_run(records, |first_seq, count, base_offset| {
                v.acked_range(producer, pid, first_seq, count, base_offset)
            });
        }
    }

    /// Acknowledged records per partition of each producer entry's topic (its
    /// instances added up; every partition of the topic, in partition order, zeros
    /// included), by entry index.
    pub fn acked_per_partition(&self) -> BTreeMap<usize, Vec<u64>> {
        let counts = self.acked_per_partition.lock();
        let mut out: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
        for (&(producer, pid), &n) in counts.iter() {
            let Some(entry) = self.producer_entry_of(producer) else {
                continue;
            };
            let Some(at) = self
                .partitions
                .iter()
                .find_map(|(_, ids)| ids.iter().position(|id| *id == pid).map(|i| (i, ids.len())))
            else {
                continue;
            };
            let per = out.entry(entry).or_insert_with(|| vec![0; at.1]);
            if let Some(c) = per.get_mut(at.0) {
                *c += n;
            }
        }
        out
    }

    /// A batch of one producer's records for one partition finally failed with the
    /// error named `error` ([`failure_name`]).
    pub fn on_failed_batch(&self, producer: u32, pid: u32, records: &[(i64, Tag)], error: &str) {
        self.failed.add(records.len() as u64);
        if let Some(obs) = self.producer_obs(producer) {
            *obs.errors.lock().entry(error.to_string()).or_default() += records.len() as u64;
        }
        for v in self.verifiers.values() {
            let mut v = v.lock();
            for_each_run(records, |first_seq, count, _| {
                v.failed_range(producer, pid, first_seq, count)
            });
        }
    }

    /// One record could not even be queued.
    pub fn on_fail(&self, producer: u32, pid: u32, seq: u64, error: &str) {
        self.on_failed_batch(producer, pid, &[(-1, Tag(seq, 0))], error);
    }

    /// A consumer in `group` received records: verifies each and records end-to-end
    /// latency from the producer's intended send time.
    /// A member of `group` found offsets `from .. to` of a partition deleted (reset to
    /// the log start after OFFSET_OUT_OF_RANGE): the verifier counts acknowledged
    /// records there as lost to retention.
    pub fn on_offsets_deleted(&self, group: &str, topic: &str, partition: i32, from: i64, to: i64) {
        if let Some(v) = self.verifiers.get(group) {
            v.lock()
                .offsets_deleted(self.partition_id(topic, partition), from, to);
        }
    }

    pub fn on_consumed(&self, group: &str, records: &[(u32, i64, Option<PayloadHeader>)]) {
        let now = self.now_ns();
        self.consumed.add(records.len() as u64);
        if let Some(g) = self.groups.lock().get_mut(group) {
            g.consumed += records.len() as u64;
            g.first_consumed_ns.get_or_insert(now);
        }
        if !self.measure {
            return;
        }
        if let Some(v) = self.verifiers.get(group) {
            v.lock().consumed_batch(records);
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

fn by_topic(partitions: HashMap<(String, i32), u32>) -> Vec<(String, Vec<u32>)> {
    let mut out: Vec<(String, Vec<u32>)> = Vec::new();
    for ((topic, p), id) in partitions {
        let Ok(p) = usize::try_from(p) else { continue };
        let at = match out.iter().position(|(t, _)| *t == topic) {
            Some(i) => i,
            None => {
                out.push((topic, Vec::new()));
                out.len() - 1
            }
        };
        let ids = &mut out[at].1;
        if ids.len() <= p {
            ids.resize(p + 1, u32::MAX);
        }
        ids[p] = id;
    }
    out
}

/// Calls `f(first_seq, count, base_offset)` for each run of consecutive sequences at
/// consecutive offsets (a whole batch is usually one run).
fn for_each_run(records: &[(i64, Tag)], mut f: impl FnMut(u64, u64, i64)) {
    let mut i = 0;
    while i < records.len() {
        let (base, Tag(first, _)) = records[i];
        let mut n = 1;
        while let Some(&(o, Tag(seq, _))) = records.get(i + n) {
            let next = n as u64;
            let offset_follows = base < 0 && o < 0 || base >= 0 && o == base + next as i64;
            if seq != first + next || !offset_follows {
                break;
            }
            n += 1;
        }
        f(first, n as u64, base);
        i += n;
    }
}

/// The most loaded partition against the mean: max / mean of per-partition counts
/// (1 = even; `n` = everything on one of `n` partitions). `None` without records.
pub fn skew(per_partition: &[u64]) -> Option<f64> {
    let total: u64 = per_partition.iter().sum();
    let max = per_partition.iter().copied().max()?;
    (total > 0).then(|| max as f64 * per_partition.len() as f64 / total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_is_max_over_mean() {
        assert_eq!(skew(&[10, 10, 10, 10]), Some(1.0));
        assert_eq!(skew(&[40, 0, 0, 0]), Some(4.0));
        assert_eq!(skew(&[30, 10, 0, 0]), Some(3.0));
        assert_eq!(skew(&[0, 0]), None);
        assert_eq!(skew(&[]), None);
    }

    #[test]
    fn acked_records_are_counted_per_partition_of_the_topic() {
        let ids: HashMap<(String, i32), u32> = [
            (("t".to_string(), 0), 0),
            (("t".to_string(), 1), 1),
            (("t".to_string(), 2), 2),
        ]
        .into_iter()
        .collect();
        // Entry "a" has instances 0 and 1, entry "b" instance 2.
        let producers = [("a".to_string(), 2), ("b".to_string(), 1)];
        let stats = Stats::new(1, false, &[], &producers, ids);
        let recs = |n: u64| -> Vec<(i64, Tag)> { (0..n).map(|i| (i as i64, Tag(i, 0))).collect() };
        stats.on_acked_batch(0, 0, &recs(6));
        stats.on_acked_batch(1, 0, &recs(1));
        stats.on_acked_batch(0, 2, &recs(2));
        stats.on_acked_batch(2, 1, &recs(3));
        let per = stats.acked_per_partition();
        assert_eq!(
            per.get(&0),
            Some(&vec![7, 0, 2]),
            "instances of an entry add up"
        );
        assert_eq!(per.get(&1), Some(&vec![0, 3, 0]));
    }

    fn runs(records: &[(i64, Tag)]) -> Vec<(u64, u64, i64)> {
        let mut out = Vec::new();
        for_each_run(records, |s, n, o| out.push((s, n, o)));
        out
    }

    #[test]
    fn consecutive_sequences_at_consecutive_offsets_are_one_run() {
        let recs: Vec<(i64, Tag)> = (0..5).map(|i| (100 + i, Tag(7 + i as u64, 0))).collect();
        assert_eq!(runs(&recs), vec![(7, 5, 100)]);
    }

    #[test]
    fn a_gap_in_sequences_or_offsets_starts_a_new_run() {
        let recs = [
            (10, Tag(0, 0)),
            (11, Tag(1, 0)),
            (12, Tag(5, 0)),
            (14, Tag(6, 0)),
        ];
        assert_eq!(runs(&recs), vec![(0, 2, 10), (5, 1, 12), (6, 1, 14)]);
        let unknown = [(-1, Tag(3, 0)), (-1, Tag(4, 0)), (-1, Tag(9, 0))];
        assert_eq!(runs(&unknown), vec![(3, 2, -1), (9, 1, -1)]);
        assert!(runs(&[]).is_empty());
    }
}
