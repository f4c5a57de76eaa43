//! Delivery verification for one consumer group: loss, duplicates, order.
//!
//! A [`Verifier`] is fed by the producers' outcomes ([`Verifier::acked`],
//! [`Verifier::failed`], or their batch forms) and by the group's deliveries
//! ([`Verifier::consumed`] / [`Verifier::consumed_value`] / [`Verifier::foreign`]).
//! Several groups reading the same topic each see every record, so verification is per
//! group: create one `Verifier` per group and hand every producer outcome to each.
//!
//! Producer outcomes and deliveries may arrive in any order (a consumer often sees a
//! record before its producer sees the acknowledgement); everything is settled when
//! [`Verifier::summary`] is called at the end of the run.
//!
//! The verifier is single-owner (`&mut self`). Tasks sharing one (the members of a group)
//! should take its lock once per poll batch or produce response, not once per record.
//!
//! # What is counted
//!
//! * **lost**: acknowledged records this group never consumed. Split by where the
//!   acknowledged offset lies relative to what the group consumed in that partition:
//!   `before_start` (below the first offset it consumed, e.g. `auto.offset.reset=latest`),
//!   `skipped` (inside the consumed range: the group passed over it, or the log lost it),
//!   `unreached` (above the last offset consumed: the run ended with lag), and
//!   `unknown_offset` (the ack carried no offset, e.g. `acks=0`).
//! * **lost_to_retention**: of `lost`, the records whose offsets the group's consumer
//!   found deleted: its fetch position was out of range (below the log start offset)
//!   and `auto.offset.reset=earliest` moved it to the log start
//!   ([`Verifier::offsets_deleted`]). Retention removed them before they were read.
//! * **duplicates**: a (producer, partition, seq) consumed again, split into
//!   `redelivered` (the same offset read again, e.g. after a rebalance with uncommitted
//!   offsets) and `log_duplicates` (the record is in the log twice at different offsets,
//!   e.g. a producer retry without idempotence).
//! * **out_of_order**: a record consumed for the first time while a higher sequence of
//!   the same producer in the same partition had already been consumed. Re-reads are
//!   duplicates, not disorder.
//! * **unacked_delivered**: consumed records never acknowledged (in flight at the end,
//!   or failed on the producer side although the broker wrote them: `failed_delivered`).
//!   Counted, not an error.
//! * **foreign**: values without a valid kafkalab header, or from another run.
//!
//! # Memory
//!
//! Per (producer, partition) the verifier keeps range sets (consumed, acknowledged,
//! failed sequences) and the offsets of acknowledged-but-not-yet-consumed runs; per
//! partition the set of consumed offsets. In-order streams are one range each however
//! long the run, so memory grows with the number of *gaps* (anomalies), not records.
//! Each set is capped ([`VerifierConfig::max_ranges`]): past the cap the lowest gap is
//! closed (its acknowledged records counted as lost at once) and the summary is marked
//! `approximate`.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use super::payload::{decode, PayloadHeader};
use super::ranges::RangeSet;

/// A run-wide partition number chosen by the caller. With one topic it is the Kafka
/// partition index; with several topics the caller numbers (topic, partition) pairs.
mod summary;

pub use self::summary::{LostBreakdown, LostRecord, PartitionVerification, VerificationSummary};

pub type PartitionId = u32;

/// Limits and identity for one verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    /// The run id producers write into headers; other ids count as foreign.
    pub run_id: u32,
    /// Cap on ranges per tracked set (per stream and per partition).
    pub max_ranges: usize,
    /// Cap on acknowledged-not-consumed offset runs kept per stream (for the lost
    /// breakdown and examples only; the lost count itself stays exact).
    pub max_pending_runs: usize,
    /// How many lost records to list in the summary.
    pub lost_examples: usize,
}

impl VerifierConfig {
    /// Defaults for `run_id`: 4096 ranges and pending runs per stream, 20 examples.
    pub fn new(run_id: u32) -> Self {
        Self {
            run_id,
            max_ranges: 4096,
            max_pending_runs: 4096,
            lost_examples: 20,
        }
    }
}

/// How one delivery was classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// First delivery, in order.
    First,
    /// First delivery, after a higher sequence of the same producer and partition.
    OutOfOrder,
    /// Again, from the same offset.
    Redelivered,
    /// Again, from another offset: the record is in the log twice.
    LogDuplicate,
    /// Not a record of this run.
    Foreign,
}

#[derive(Debug, Default, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        let x = (self.0 ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = x ^ (x >> 29);
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

fn stream_key(producer: u32, partition: PartitionId) -> u64 {
    (u64::from(producer) << 32) | u64::from(partition)
}

/// Acknowledged, not yet consumed sequences with the offset of each run's first record
/// (negative: unknown). Runs: start -> (end, offset of start).
#[derive(Debug, Default)]
struct PendingAcks {
    runs: BTreeMap<u64, (u64, i64)>,
    dropped: bool,
}

fn offset_at(run_start: u64, run_offset: i64, seq: u64) -> i64 {
    if run_offset < 0 {
        -1
    } else {
        run_offset.saturating_add(i64::try_from(seq - run_start).unwrap_or(i64::MAX))
    }
}

impl PendingAcks {
    fn add(&mut self, start: u64, end: u64, offset: i64, cap: usize) {
        let offset = offset.max(-1);
        if let Some((&ps, run)) = self.runs.range_mut(..start).next_back() {
            if run.0 == start && offset_at(ps, run.1, start) == offset {
                run.0 = end;
                return;
            }
        }
        if self.runs.len() >= cap {
            self.dropped = true;
            return;
        }
        self.runs.insert(start, (end, offset));
    }

    /// Removes `[a, b)` (consumed), splitting the runs it cuts.
    fn remove_range(&mut self, a: u64, b: u64, cap: usize) {
        while let Some((&s, &(e, off))) = self.runs.range(..b).next_back() {
            if e <= a {
                break;
            }
            self.runs.remove(&s);
            if e > b {
                self.runs.insert(b, (e, offset_at(s, off, b)));
            }
            if s < a {
                // Ends at `a`: the next look finds it and stops.
                self.runs.insert(s, (a, off));
            }
        }
        while self.runs.len() > cap {
            self.runs.pop_last();
            self.dropped = true;
        }
    }

    fn remove(&mut self, seq: u64, cap: usize) {
        let Some((&s, &(e, off))) = self.runs.range(..=seq).next_back() else {
            return;
        };
        if seq >= e {
            return;
        }
        self.runs.remove(&s);
        if s < seq {
            self.runs.insert(s, (seq, off));
        }
        if seq + 1 < e {
            self.runs.insert(seq + 1, (e, offset_at(s, off, seq + 1)));
        }
        if self.runs.len() > cap {
            self.runs.pop_last();
            self.dropped = true;
        }
    }
}

#[derive(Debug, Default)]
struct Stream {
    consumed: RangeSet,
    acked: RangeSet,
    failed: RangeSet,
    pending: PendingAcks,
    max_seq: Option<u64>,
    /// Acknowledged records in consumed-set gaps closed to bound memory.
    lost_collapsed: u64,
}

impl Stream {
    /// Keeps the consumed set within `cap` ranges (closing the lowest gaps and counting
    /// the acknowledged records in them as lost); true when counts became approximate.
    fn bound(&mut self, cap: usize) -> bool {
        let mut approximate = self.pending.dropped;
        while self.consumed.range_count() > cap {
            if let Some((gs, ge)) = self.consumed.collapse_lowest_gap() {
                self.lost_collapsed += self.acked.count_within(gs, ge);
            }
            approximate = true;
        }
        approximate
    }
}

#[derive(Debug, Default)]
struct PartitionState {
    offsets: RangeSet,
    first_offset: Option<u64>,
    last_offset: Option<u64>,
    consumed: u64,
    duplicates: u64,
    redelivered: u64,
    out_of_order: u64,
    foreign: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counters {
    consumed: u64,
    unique: u64,
    duplicates: u64,
    redelivered: u64,
    log_duplicates: u64,
    out_of_order: u64,
    foreign: u64,
    foreign_other_run: u64,
    offset_conflicts: u64,
    duplicate_acks: u64,
    invalid_offsets: u64,
}

/// Verifies the deliveries of one consumer group against the producers' outcomes.
#[derive(Debug)]
pub struct Verifier {
    group: String,
    config: VerifierConfig,
    streams: FastMap<u64, Stream>,
    partitions: FastMap<PartitionId, PartitionState>,
    /// Offsets a consumer of the group found deleted, per partition.
    deleted: FastMap<PartitionId, RangeSet>,
    counters: Counters,
    approximate: bool,
    scratch: Vec<(u64, u64)>,
}

impl Verifier {
    /// A verifier for `group`.
    pub fn new(group: impl Into<String>, config: VerifierConfig) -> Self {
        Self {
            group: group.into(),
            config,
            streams: FastMap::default(),
            partitions: FastMap::default(),
            deleted: FastMap::default(),
            counters: Counters::default(),
            approximate: false,
            scratch: Vec::new(),
        }
    }

    /// The consumer group verified.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The configuration.
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// A consumer of the group was at offset `from` of `partition`, the broker answered
    /// OFFSET_OUT_OF_RANGE, and `auto.offset.reset=earliest` moved it to the log start
    /// offset `to`: offsets `from .. to` were deleted (by retention) before it read them.
    pub fn offsets_deleted(&mut self, partition: PartitionId, from: i64, to: i64) {
        let (Ok(from), Ok(to)) = (u64::try_from(from), u64::try_from(to)) else {
            return;
        };
        if from < to {
            self.deleted
                .entry(partition)
                .or_default()
                .insert_range(from, to);
        }
    }

    /// The producer learned that record `seq` was written at `offset` (negative when
    /// the acknowledgement carries none, e.g. `acks=0`).
    pub fn acked(&mut self, producer: u32, partition: PartitionId, seq: u64, offset: i64) {
        self.acked_range(producer, partition, seq, 1, offset);
    }

    /// A produce batch was acknowledged: sequences `first_seq .. first_seq + count` at
    /// offsets `base_offset ..` (one record per offset, as in one batch of one producer
    /// for one partition; negative `base_offset` when unknown).
    pub fn acked_range(
        &mut self,
        producer: u32,
        partition: PartitionId,
        first_seq: u64,
        count: u64,
        base_offset: i64,
    ) {
        let end = first_seq.saturating_add(count);
        let cap = self.config.max_ranges;
        let pending_cap = self.config.max_pending_runs;
        let stream = self
            .streams
            .entry(stream_key(producer, partition))
            .or_default();
        let scratch = &mut self.scratch;
        scratch.clear();
        stream
            .acked
            .for_each_gap(first_seq, end, |s, e| scratch.push((s, e)));
        let mut newly = 0;
        let Stream {
            consumed,
            acked,
            pending,
            ..
        } = stream;
        for &(s, e) in scratch.iter() {
            newly += acked.insert_range(s, e);
            consumed.for_each_gap(s, e, |gs, ge| {
                pending.add(gs, ge, offset_at(first_seq, base_offset, gs), pending_cap);
            });
        }
        self.counters.duplicate_acks += count - newly;
        while stream.acked.range_count() > cap {
            stream.acked.collapse_lowest_gap();
            self.approximate = true;
        }
        if stream.pending.dropped {
            self.approximate = true;
        }
    }

    /// The producer gave up on record `seq` (error or delivery timeout).
    pub fn failed(&mut self, producer: u32, partition: PartitionId, seq: u64) {
        self.failed_range(producer, partition, seq, 1);
    }

    /// A batch `first_seq .. first_seq + count` failed.
    pub fn failed_range(
        &mut self,
        producer: u32,
        partition: PartitionId,
        first_seq: u64,
        count: u64,
    ) {
        let stream = self
            .streams
            .entry(stream_key(producer, partition))
            .or_default();
        stream
            .failed
            .insert_range(first_seq, first_seq.saturating_add(count));
        while stream.failed.range_count() > self.config.max_ranges {
            stream.failed.collapse_lowest_gap();
            self.approximate = true;
        }
    }

    /// The group consumed the record with `header` at `offset` of `partition`.
    pub fn consumed(
        &mut self,
        partition: PartitionId,
        offset: i64,
        header: &PayloadHeader,
    ) -> Delivery {
        if header.run_id != self.config.run_id {
            self.counters.foreign_other_run += 1;
            return self.foreign(partition, offset);
        }
        let cap = self.config.max_ranges;
        let pending_cap = self.config.max_pending_runs;
        let part = self.partitions.entry(partition).or_default();
        let new_offset = match u64::try_from(offset) {
            Ok(o) => {
                let new = part.offsets.insert(o);
                part.first_offset = Some(part.first_offset.map_or(o, |f| f.min(o)));
                part.last_offset = Some(part.last_offset.map_or(o, |l| l.max(o)));
                while part.offsets.range_count() > cap {
                    part.offsets.collapse_lowest_gap();
                    self.approximate = true;
                }
                new
            }
            Err(_) => {
                self.counters.invalid_offsets += 1;
                true
            }
        };
        part.consumed += 1;
        self.counters.consumed += 1;
        let stream = self
            .streams
            .entry(stream_key(header.producer, partition))
            .or_default();
        let seq = header.seq;
        if stream.consumed.insert(seq) {
            self.counters.unique += 1;
            if !new_offset {
                self.counters.offset_conflicts += 1;
            }
            stream.pending.remove(seq, pending_cap);
            let behind = stream.max_seq.is_some_and(|m| seq < m);
            stream.max_seq = Some(stream.max_seq.map_or(seq, |m| m.max(seq)));
            if stream.bound(cap) {
                self.approximate = true;
            }
            if behind {
                self.counters.out_of_order += 1;
                part.out_of_order += 1;
                Delivery::OutOfOrder
            } else {
                Delivery::First
            }
        } else {
            self.counters.duplicates += 1;
            part.duplicates += 1;
            if new_offset {
                self.counters.log_duplicates += 1;
                Delivery::LogDuplicate
            } else {
                self.counters.redelivered += 1;
                part.redelivered += 1;
                Delivery::Redelivered
            }
        }
    }

    /// The group consumed these records (partition, offset, header; `None` = not a
    /// kafkalab record), in fetch order. Same outcome as [`Self::consumed`] and
    /// [`Self::foreign`] per record, but a run of one producer's consecutive sequences
    /// at consecutive offsets, all new (the usual fetch), costs one update per set
    /// instead of one per record.
    pub fn consumed_batch(&mut self, records: &[(PartitionId, i64, Option<PayloadHeader>)]) {
        let mut i = 0;
        while i < records.len() {
            let n = self.run_len(&records[i..]);
            let (partition, offset, header) = &records[i];
            match header {
                Some(h) if n > 1 && self.consumed_new_run(*partition, *offset, h, n as u64) => {}
                Some(_) => {
                    for (p, o, h) in &records[i..i + n] {
                        if let Some(h) = h {
                            self.consumed(*p, *o, h);
                        }
                    }
                }
                None => {
                    self.foreign(*partition, *offset);
                }
            }
            i += n;
        }
    }

    /// How many records from the start of `records` form one run (at least 1).
    fn run_len(&self, records: &[(PartitionId, i64, Option<PayloadHeader>)]) -> usize {
        let Some((p0, o0, Some(h0))) = records.first() else {
            return 1;
        };
        if h0.run_id != self.config.run_id || *o0 < 0 {
            return 1;
        }
        let mut n = 1;
        while let Some((p, o, Some(h))) = records.get(n) {
            let k = n as u64;
            if p != p0
                || *o != o0 + n as i64
                || h.run_id != h0.run_id
                || h.producer != h0.producer
                || h.seq != h0.seq.wrapping_add(k)
            {
                break;
            }
            n += 1;
        }
        n
    }

    /// Records `n` consecutive records starting at `offset` / `first.seq` when none of
    /// their offsets or sequences was seen before; false (nothing recorded) otherwise.
    fn consumed_new_run(
        &mut self,
        partition: PartitionId,
        offset: i64,
        first: &PayloadHeader,
        n: u64,
    ) -> bool {
        let (Ok(o), Some(seq_end)) = (u64::try_from(offset), first.seq.checked_add(n)) else {
            return false;
        };
        let Some(o_end) = o.checked_add(n) else {
            return false;
        };
        let seq = first.seq;
        let key = stream_key(first.producer, partition);
        let seen_offsets = self
            .partitions
            .get(&partition)
            .is_some_and(|p| p.offsets.count_within(o, o_end) > 0);
        let seen_seqs = self
            .streams
            .get(&key)
            .is_some_and(|st| st.consumed.count_within(seq, seq_end) > 0);
        if seen_offsets || seen_seqs {
            return false;
        }
        let cap = self.config.max_ranges;
        let pending_cap = self.config.max_pending_runs;
        let part = self.partitions.entry(partition).or_default();
        part.offsets.insert_range(o, o_end);
        part.first_offset = Some(part.first_offset.map_or(o, |f| f.min(o)));
        part.last_offset = Some(part.last_offset.map_or(o_end - 1, |l| l.max(o_end - 1)));
        while part.offsets.range_count() > cap {
            part.offsets.collapse_lowest_gap();
            self.approximate = true;
        }
        part.consumed += n;
        self.counters.consumed += n;
        self.counters.unique += n;
        let stream = self.streams.entry(key).or_default();
        stream.consumed.insert_range(seq, seq_end);
        stream.pending.remove_range(seq, seq_end, pending_cap);
        // Each record is behind when below the highest sequence consumed before it;
        // within the run sequences rise, so only those below the old maximum are.
        if let Some(m) = stream.max_seq {
            let behind = m.saturating_sub(seq).min(n);
            self.counters.out_of_order += behind;
            part.out_of_order += behind;
        }
        stream.max_seq = Some(stream.max_seq.map_or(seq_end - 1, |m| m.max(seq_end - 1)));
        if stream.bound(cap) {
            self.approximate = true;
        }
        true
    }

    /// Decodes `value` and records the delivery; returns the header when it is a
    /// kafkalab record (of any run), e.g. to record end-to-end latency.
    pub fn consumed_value(
        &mut self,
        partition: PartitionId,
        offset: i64,
        value: &[u8],
    ) -> (Delivery, Option<PayloadHeader>) {
        match decode(value) {
            Some(h) => (self.consumed(partition, offset, &h), Some(h)),
            None => (self.foreign(partition, offset), None),
        }
    }

    /// The group consumed a value that is not a kafkalab record.
    pub fn foreign(&mut self, partition: PartitionId, offset: i64) -> Delivery {
        let cap = self.config.max_ranges;
        let part = self.partitions.entry(partition).or_default();
        if let Ok(o) = u64::try_from(offset) {
            part.offsets.insert(o);
            while part.offsets.range_count() > cap {
                part.offsets.collapse_lowest_gap();
                self.approximate = true;
            }
        }
        part.foreign += 1;
        self.counters.foreign += 1;
        Delivery::Foreign
    }

    /// Ranges and runs currently held (a memory indicator).
    pub fn tracked_ranges(&self) -> u64 {
        let streams: usize = self
            .streams
            .values()
            .map(|s| {
                s.consumed.range_count()
                    + s.acked.range_count()
                    + s.failed.range_count()
                    + s.pending.runs.len()
            })
            .sum();
        let parts: usize = self
            .partitions
            .values()
            .map(|p| p.offsets.range_count())
            .sum();
        (streams + parts) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::payload::{PayloadFormat, HEADER_LEN};

    const RUN: u32 = 77;

    fn h(producer: u32, seq: u64) -> PayloadHeader {
        PayloadHeader {
            run_id: RUN,
            producer,
            seq,
            intended_ns: 0,
        }
    }

    fn verifier() -> Verifier {
        Verifier::new("billing", VerifierConfig::new(RUN))
    }

    /// `consumed_batch` must account exactly like one `consumed` / `foreign` call per
    /// record, whatever the mix of runs, duplicates, gaps, reordering and foreign values.
    #[test]
    fn batch_and_per_record_agree() {
        use rand::{Rng, SeedableRng};
        for seed in 0..40u64 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let (mut one, mut batched) = (verifier(), verifier());
            // Two producers, two partitions; each (producer, partition) writes a log.
            let mut logs: Vec<Vec<(PartitionId, i64, Option<PayloadHeader>)>> = Vec::new();
            for (producer, partition) in [(0u32, 0u32), (1, 0), (0, 1)] {
                let n = rng.random_range(1..200u64);
                let base = rng.random_range(0..50i64);
                for v in [&mut one, &mut batched] {
                    v.acked_range(producer, partition, 0, n, base);
                }
                logs.push(
                    (0..n)
                        .map(|seq| (partition, base + seq as i64, Some(h(producer, seq))))
                        .collect(),
                );
            }
            // Fetches: slices of the logs, some repeated (redelivery), some skipped,
            // some reordered, with foreign and other-run records mixed in.
            let mut fetches: Vec<Vec<(PartitionId, i64, Option<PayloadHeader>)>> = Vec::new();
            for log in &logs {
                let mut at = 0;
                while at < log.len() {
                    let len = rng.random_range(1..40).min(log.len() - at);
                    let mut f = log[at..at + len].to_vec();
                    match rng.random_range(0..10) {
                        0 => f.reverse(),
                        1 => f.push((f[0].0, 10_000 + at as i64, None)),
                        2 => {
                            if let Some((_, _, Some(hd))) = f.first_mut() {
                                hd.run_id = RUN + 1;
                            }
                        }
                        3 => {
                            f.remove(f.len() / 2);
                        }
                        _ => {}
                    }
                    if !f.is_empty() {
                        fetches.push(f);
                    }
                    at = match rng.random_range(0..8) {
                        0 => at.saturating_sub(rng.random_range(1..30)),
                        1 => at + len + rng.random_range(1..5),
                        _ => at + len,
                    };
                }
            }
            // Interleave the logs' fetches.
            for i in (1..fetches.len()).rev() {
                fetches.swap(i, rng.random_range(0..=i));
            }
            for f in &fetches {
                for (p, o, hd) in f {
                    match hd {
                        Some(hd) => {
                            one.consumed(*p, *o, hd);
                        }
                        None => {
                            one.foreign(*p, *o);
                        }
                    }
                }
                batched.consumed_batch(f);
            }
            assert_eq!(one.summary(), batched.summary(), "seed {seed}");
            assert_eq!(one.counters, batched.counters, "seed {seed}");
        }
    }

    #[test]
    fn a_run_is_counted_like_its_records() {
        let mut v = verifier();
        v.acked_range(3, 0, 0, 10, 0);
        let recs: Vec<_> = (0..10u64).map(|s| (0, s as i64, Some(h(3, s)))).collect();
        v.consumed_batch(&recs);
        let s = v.summary();
        assert_eq!((s.acked, s.unique_consumed, s.lost), (10, 10, 0));
        // The same run again is a redelivery of all ten.
        v.consumed_batch(&recs);
        let s = v.summary();
        assert_eq!((s.unique_consumed, s.duplicates), (10, 10));
    }

    #[test]
    fn clean_run() {
        let mut v = verifier();
        for seq in 0..1_000u64 {
            let off = seq as i64;
            // Alternate which side learns first.
            if seq % 2 == 0 {
                v.acked(0, 3, seq, off);
                assert_eq!(v.consumed(3, off, &h(0, seq)), Delivery::First);
            } else {
                assert_eq!(v.consumed(3, off, &h(0, seq)), Delivery::First);
                v.acked(0, 3, seq, off);
            }
        }
        let s = v.summary();
        assert_eq!(
            (s.acked, s.consumed, s.unique_consumed),
            (1_000, 1_000, 1_000)
        );
        assert_eq!((s.lost, s.duplicates, s.out_of_order), (0, 0, 0));
        assert_eq!(
            (s.unacked_delivered, s.foreign, s.duplicate_acks),
            (0, 0, 0)
        );
        assert!(!s.approximate);
        assert_eq!(s.partitions.len(), 1);
        assert_eq!(s.partitions[0].first_offset, Some(0));
        assert_eq!(s.partitions[0].last_offset, Some(999));
        assert!(s.tracked_ranges <= 3, "in-order streams are one range each");
        assert_eq!(s.group, "billing");
    }

    #[test]
    fn records_below_a_reset_to_the_log_start_are_lost_to_retention() {
        let mut v = verifier();
        // Offsets = seq. The consumer read 0..10, was at 10 when retention deleted up
        // to 40 (reset to 40), read 40..50; 50..60 it never reached.
        v.acked_range(0, 0, 0, 60, 0);
        for seq in (0..10).chain(40..50) {
            v.consumed(0, seq as i64, &h(0, seq));
        }
        v.offsets_deleted(0, 10, 40);
        // Another partition's reset says nothing about partition 0; nor do bad ranges.
        v.offsets_deleted(1, 0, 100);
        v.offsets_deleted(0, 55, 50);
        v.offsets_deleted(0, -1, 5);
        let s = v.summary();
        assert_eq!(s.lost, 30 + 10);
        assert_eq!(s.lost_to_retention, 30);
        assert_eq!(s.lost_breakdown.skipped, 30);
        assert_eq!(s.lost_breakdown.unreached, 10);
        // Without a reset the same gap is only `lost`.
        let mut w = verifier();
        w.acked_range(0, 0, 0, 60, 0);
        for seq in (0..10).chain(40..50) {
            w.consumed(0, seq as i64, &h(0, seq));
        }
        assert_eq!((w.summary().lost, w.summary().lost_to_retention), (40, 0));
    }

    #[test]
    fn lost_with_breakdown_and_examples() {
        let mut v = verifier();
        // Producer 0 -> partition 0, offsets = seq + 100. Records 0..5 were written
        // before the group started (latest), 10..12 vanished, 20..30 not reached.
        v.acked_range(0, 0, 0, 30, 100);
        for seq in (5..10).chain(12..20) {
            v.consumed(0, 100 + seq as i64, &h(0, seq));
        }
        // acks=0 on partition 1: no offsets known.
        v.acked_range(1, 1, 0, 4, -1);
        v.consumed(1, 0, &h(1, 0));
        let s = v.summary();
        assert_eq!(s.lost, 5 + 2 + 10 + 3);
        assert_eq!(
            s.lost_breakdown,
            LostBreakdown {
                before_start: 5,
                skipped: 2,
                unreached: 10,
                unknown_offset: 3
            }
        );
        assert_eq!(s.lost_examples.len(), 20);
        assert_eq!(
            s.lost_examples[0],
            LostRecord {
                producer: 0,
                partition: 0,
                seq: 0,
                offset: Some(100)
            }
        );
        assert_eq!(s.lost_examples[5].seq, 10);
        assert_eq!(s.lost_examples[5].offset, Some(110));
        assert_eq!((s.partitions[0].lost, s.partitions[0].acked), (17, 30));
        assert_eq!((s.partitions[1].lost, s.partitions[1].acked), (3, 4));
        assert_eq!(s.lost_examples[17].partition, 1);
    }

    #[test]
    fn duplicates_redelivery_and_log_duplicates() {
        let mut v = verifier();
        for seq in 0..10u64 {
            v.acked(0, 1, seq, seq as i64);
            v.consumed(1, seq as i64, &h(0, seq));
        }
        // Rebalance: the new owner restarts from committed offset 6.
        for seq in 6..10u64 {
            assert_eq!(v.consumed(1, seq as i64, &h(0, seq)), Delivery::Redelivered);
        }
        // A producer retry wrote seq 9 again at offset 10.
        assert_eq!(v.consumed(1, 10, &h(0, 9)), Delivery::LogDuplicate);
        let s = v.summary();
        assert_eq!((s.duplicates, s.redelivered, s.log_duplicates), (5, 4, 1));
        assert_eq!(
            (s.out_of_order, s.lost),
            (0, 0),
            "re-reads are not disorder"
        );
        assert_eq!(s.consumed, 15);
        assert_eq!(s.unique_consumed, 10);
        assert_eq!(s.partitions[0].redelivered, 4);
    }

    #[test]
    fn out_of_order_counts_records_behind_the_highest() {
        let mut v = verifier();
        // In-flight reordering: batch [3,4] lands after batch [5].
        let order = [0u64, 1, 2, 5, 3, 4, 6, 7];
        for (off, &seq) in order.iter().enumerate() {
            v.acked(0, 0, seq, off as i64);
            v.consumed(0, off as i64, &h(0, seq));
        }
        // Another producer in the same partition is an independent stream.
        v.consumed(0, 8, &h(1, 0));
        let s = v.summary();
        assert_eq!(s.out_of_order, 2);
        assert_eq!((s.lost, s.duplicates), (0, 0));
        // Duplicate of an out-of-order record is a duplicate, not more disorder.
        v.consumed(0, 4, &h(0, 3));
        let s = v.summary();
        assert_eq!((s.out_of_order, s.duplicates, s.redelivered), (2, 1, 1));
    }

    #[test]
    fn unacked_failed_foreign_and_conflicts() {
        let mut v = verifier();
        v.acked_range(0, 0, 0, 3, 0);
        v.failed(0, 0, 3);
        v.failed_range(0, 0, 4, 2);
        // Seq 3 failed on the producer side but the broker wrote it; seq 6 still in
        // flight at the end; 4..6 failed and never written (not lost).
        for seq in [0u64, 1, 2, 3, 6] {
            v.consumed(0, seq as i64, &h(0, seq));
        }
        assert_eq!(v.consumed_value(0, 7, b"plain text").0, Delivery::Foreign);
        let other_run = PayloadHeader {
            run_id: RUN + 1,
            ..h(0, 0)
        };
        assert_eq!(v.consumed(0, 8, &other_run), Delivery::Foreign);
        // Log truncated and rewritten: offset 2 now holds another record.
        assert_eq!(v.consumed(0, 2, &h(1, 0)), Delivery::First);
        v.acked(0, 0, 1, 1); // repeated ack
        let s = v.summary();
        assert_eq!((s.acked, s.failed, s.lost), (3, 3, 0));
        assert_eq!((s.unacked_delivered, s.failed_delivered), (3, 1));
        assert_eq!((s.foreign, s.foreign_other_run), (2, 1));
        assert_eq!((s.offset_conflicts, s.duplicate_acks), (1, 1));
        assert_eq!(s.partitions[0].foreign, 2);
    }

    #[test]
    fn consumed_value_decodes() {
        let mut v = verifier();
        let format = PayloadFormat::new(HEADER_LEN + 10).expect("valid");
        let mut buf = vec![0u8; format.record_size()];
        let header = PayloadHeader {
            intended_ns: 5,
            ..h(2, 0)
        };
        format.encode_into(&mut buf, &header, b"z").expect("fits");
        let (d, got) = v.consumed_value(4, 0, &buf);
        assert_eq!((d, got), (Delivery::First, Some(header)));
        assert_eq!(v.summary().unacked_delivered, 1);
    }

    #[test]
    fn memory_stays_bounded_for_long_runs() {
        let mut v = verifier();
        // 200k records over 4 producers x 2 partitions, with local reordering windows
        // and acks arriving in batches before or after consumption.
        let mut offsets = [0i64; 2];
        for block in 0..2_500u64 {
            for p in 0..4u32 {
                for part in 0..2u32 {
                    let base = block * 10;
                    let off = offsets[part as usize];
                    offsets[part as usize] += 10;
                    if block % 2 == 0 {
                        v.acked_range(p, part, base, 10, off);
                    }
                    // Consume with the first half swapped behind the second.
                    for i in (5..10).chain(0..5) {
                        let seq = base + i;
                        v.consumed(part, off + i as i64, &h(p, seq));
                    }
                    if block % 2 == 1 {
                        v.acked_range(p, part, base, 10, off);
                    }
                }
            }
            assert!(
                v.tracked_ranges() < 64,
                "block {block}: {}",
                v.tracked_ranges()
            );
        }
        let s = v.summary();
        assert_eq!(s.unique_consumed, 200_000);
        assert_eq!((s.lost, s.duplicates), (0, 0));
        assert_eq!(s.out_of_order, 2_500 * 8 * 5);
        assert!(!s.approximate);
    }

    #[test]
    fn caps_bound_pathological_gaps() {
        let mut cfg = VerifierConfig::new(RUN);
        cfg.max_ranges = 16;
        cfg.max_pending_runs = 16;
        let mut v = Verifier::new("g", cfg);
        // Every other record is lost: without caps, one range per record.
        for seq in 0..10_000u64 {
            v.acked(0, 0, seq, seq as i64);
            if seq % 2 == 0 {
                v.consumed(0, seq as i64, &h(0, seq));
            }
        }
        assert!(v.tracked_ranges() <= 4 * 17 + 1, "{}", v.tracked_ranges());
        let s = v.summary();
        assert!(s.approximate);
        // Closed gaps are counted as lost when closed: the total stays right.
        assert_eq!(s.lost, 5_000);
        let b = s.lost_breakdown;
        assert_eq!(
            b.before_start + b.skipped + b.unreached + b.unknown_offset,
            5_000
        );
    }
}
