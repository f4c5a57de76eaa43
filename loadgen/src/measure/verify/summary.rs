//! The verdict of a [`Verifier`]: the summary types (per group, per partition, the lost
//! records' breakdown and first examples) and [`Verifier::summary`], which settles
//! everything fed so far into them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{offset_at, PartitionId, Verifier};

/// Where the lost records were, relative to what the group consumed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostBreakdown {
    /// Below the first offset the group consumed in the partition.
    pub before_start: u64,
    /// Inside the consumed offset range: passed over, or gone from the log.
    pub skipped: u64,
    /// Above the last offset consumed: the run ended before the group got there.
    pub unreached: u64,
    /// Offset not known (acks without offsets, or tracking capped).
    pub unknown_offset: u64,
}

/// One lost record, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostRecord {
    /// Producer instance.
    pub producer: u32,
    /// Partition.
    pub partition: PartitionId,
    /// Sequence within (producer, partition).
    pub seq: u64,
    /// Offset from the acknowledgement, if known.
    pub offset: Option<i64>,
}

/// Per-partition results.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionVerification {
    /// Partition.
    pub partition: PartitionId,
    /// Acknowledged records (all producers).
    pub acked: u64,
    /// Deliveries of this run's records (including duplicates).
    pub consumed: u64,
    /// Acknowledged, never consumed.
    pub lost: u64,
    /// Repeat deliveries.
    pub duplicates: u64,
    /// Of `duplicates`, re-reads of the same offset.
    pub redelivered: u64,
    /// First deliveries after a higher sequence.
    pub out_of_order: u64,
    /// Foreign values.
    pub foreign: u64,
    /// Lowest offset consumed.
    pub first_offset: Option<i64>,
    /// Highest offset consumed.
    pub last_offset: Option<i64>,
}

/// The verification result of one consumer group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationSummary {
    /// Consumer group.
    pub group: String,
    /// Distinct records acknowledged to producers.
    pub acked: u64,
    /// Distinct records the producers reported as failed.
    pub failed: u64,
    /// Deliveries of this run's records (including duplicates).
    pub consumed: u64,
    /// Distinct records consumed.
    pub unique_consumed: u64,
    /// Acknowledged records never consumed.
    pub lost: u64,
    /// Where the lost records were.
    pub lost_breakdown: LostBreakdown,
    /// Of `lost`, records at offsets the consumer found deleted (below the log start
    /// offset when its position got there): lost to retention.
    #[serde(default)]
    pub lost_to_retention: u64,
    /// Repeat deliveries of one (producer, partition, seq): `redelivered + log_duplicates`.
    pub duplicates: u64,
    /// Of `duplicates`, the same offset consumed again (consumer side, e.g. rebalance).
    pub redelivered: u64,
    /// Of `duplicates`, the same record at another offset (producer retry duplicate).
    pub log_duplicates: u64,
    /// First deliveries that arrived after a higher sequence of the same stream.
    pub out_of_order: u64,
    /// Consumed but never acknowledged (not an error).
    pub unacked_delivered: u64,
    /// Of `unacked_delivered`, records the producer reported failed.
    pub failed_delivered: u64,
    /// Values that are not records of this run (includes `foreign_other_run`).
    pub foreign: u64,
    /// kafkalab records written by another run.
    pub foreign_other_run: u64,
    /// A new record at an offset that had delivered another one: the log diverged
    /// (e.g. truncation after an unclean leader election).
    pub offset_conflicts: u64,
    /// Acknowledgements repeated for the same record (a client bug if non-zero).
    pub duplicate_acks: u64,
    /// Deliveries with a negative offset (ignored for offset checks).
    pub invalid_offsets: u64,
    /// Memory caps were hit: counts are approximate.
    pub approximate: bool,
    /// Ranges held when the summary was taken (memory indicator).
    pub tracked_ranges: u64,
    /// Per partition, ascending.
    pub partitions: Vec<PartitionVerification>,
    /// The first lost records (by partition, producer, sequence).
    pub lost_examples: Vec<LostRecord>,
}

impl Verifier {
    /// Settles everything fed so far (call at the end of the run).
    pub fn summary(&self) -> VerificationSummary {
        let c = self.counters;
        let mut out = VerificationSummary {
            group: self.group.clone(),
            consumed: c.consumed,
            unique_consumed: c.unique,
            duplicates: c.duplicates,
            redelivered: c.redelivered,
            log_duplicates: c.log_duplicates,
            out_of_order: c.out_of_order,
            foreign: c.foreign,
            foreign_other_run: c.foreign_other_run,
            offset_conflicts: c.offset_conflicts,
            duplicate_acks: c.duplicate_acks,
            invalid_offsets: c.invalid_offsets,
            approximate: self.approximate,
            tracked_ranges: self.tracked_ranges(),
            ..VerificationSummary::default()
        };
        let mut parts: BTreeMap<PartitionId, PartitionVerification> = self
            .partitions
            .iter()
            .map(|(&p, st)| {
                let as_i64 = |o: u64| i64::try_from(o).unwrap_or(i64::MAX);
                (
                    p,
                    PartitionVerification {
                        partition: p,
                        consumed: st.consumed,
                        duplicates: st.duplicates,
                        redelivered: st.redelivered,
                        out_of_order: st.out_of_order,
                        foreign: st.foreign,
                        first_offset: st.first_offset.map(as_i64),
                        last_offset: st.last_offset.map(as_i64),
                        ..PartitionVerification::default()
                    },
                )
            })
            .collect();
        let mut keys: Vec<u64> = self.streams.keys().copied().collect();
        // Partition first, then producer: examples and breakdown in a stable order.
        keys.sort_unstable_by_key(|k| (k & 0xFFFF_FFFF, k >> 32));
        for key in keys {
            let Some(s) = self.streams.get(&key) else {
                continue;
            };
            let producer = (key >> 32) as u32;
            let partition = (key & 0xFFFF_FFFF) as PartitionId;
            let lost = s.acked.count_not_in(&s.consumed) + s.lost_collapsed;
            out.acked += s.acked.len();
            out.failed += s.failed.len();
            out.lost += lost;
            out.unacked_delivered += s.consumed.count_not_in(&s.acked);
            out.failed_delivered += s.failed.count_in(&s.consumed);
            let pv = parts
                .entry(partition)
                .or_insert_with(|| PartitionVerification {
                    partition,
                    ..PartitionVerification::default()
                });
            pv.acked += s.acked.len();
            pv.lost += lost;
            let (first, last) = self
                .partitions
                .get(&partition)
                .map_or((None, None), |p| (p.first_offset, p.last_offset));
            let mut classified = 0;
            let deleted = self.deleted.get(&partition);
            for (&rs, &(re, ro)) in &s.pending.runs {
                s.consumed.for_each_gap(rs, re, |gs, ge| {
                    let n = ge - gs;
                    let off = offset_at(rs, ro, gs);
                    if out.lost_examples.len() < self.config.lost_examples {
                        for seq in gs..ge.min(gs + self.config.lost_examples as u64) {
                            if out.lost_examples.len() >= self.config.lost_examples {
                                break;
                            }
                            let o = offset_at(rs, ro, seq);
                            out.lost_examples.push(LostRecord {
                                producer,
                                partition,
                                seq,
                                offset: (o >= 0).then_some(o),
                            });
                        }
                    }
                    if off < 0 {
                        return;
                    }
                    let lo = u64::try_from(off).unwrap_or(0);
                    let hi = lo.saturating_add(n);
                    if let Some(d) = deleted {
                        out.lost_to_retention += d.count_within(lo, hi);
                    }
                    let b = &mut out.lost_breakdown;
                    match (first, last) {
                        (Some(f), Some(l)) => {
                            let before = hi.min(f).saturating_sub(lo);
                            let after = hi.saturating_sub(lo.max(l + 1));
                            b.before_start += before;
                            b.unreached += after;
                            b.skipped += n - before - after;
                        }
                        _ => b.unreached += n,
                    }
                    classified += n;
                });
            }
            out.lost_breakdown.unknown_offset += lost.saturating_sub(classified);
        }
        out.partitions = parts.into_values().collect();
        out
    }
}
