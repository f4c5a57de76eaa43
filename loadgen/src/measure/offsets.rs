//! Offset anomalies of one consumer group, after the Jepsen Kafka checker, and what a
//! group's offset handling did to its records.
//!
//! An [`OffsetChecks`] is fed by the members of one group (what each poll returned,
//! what each member processed, what it committed) and by the timeline (offset resets).
//! It counts:
//!
//! * **poll skips**: within one member's consumption of one partition, in one
//!   generation (no rebalance in between), a poll returned an offset above the next
//!   one expected: the offsets in between were jumped over. Nothing in the group
//!   explains such a jump (the engine never seeks; a reset-offsets restarts the members,
//!   a rebalance changes the generation), except gaps the log itself has: transaction
//!   markers, compaction, or an `auto.offset.reset` after OFFSET_OUT_OF_RANGE when
//!   retention deleted the position. The lessons use none of these.
//! * **commits backwards**: a commit that moved a group's committed offset of a
//!   partition below the one committed before (a zombie member, reordered async
//!   commits). A `reset-offsets` event moving it back is not counted.
//! * **unprocessed**: records a member received but had not processed when it crashed
//!   (the rest of its poll), that no member of the group processed at any time: records
//!   the application skipped. Under at-most-once (commit before processing) the group's
//!   committed offset is already past them, so nobody is given them again.
//! * **replayed**: records received again because a `reset-offsets` event moved the
//!   group's offsets back over them (offsets between the reset's target and the highest
//!   offset the group had received): expected replays, each counted once per reset. The
//!   verifier counts them as `redelivered` duplicates too.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::ranges::RangeSet;
use super::verify::PartitionId;

/// The figures of one group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetCheckSummary {
    /// Polls that jumped over offsets (see the module docs).
    pub poll_skips: u64,
    /// Offsets jumped over by those polls.
    pub skipped_offsets: u64,
    /// Successful commits observed (one per partition per commit).
    pub commits: u64,
    /// Commits that moved a partition's committed offset backwards.
    pub commits_backwards: u64,
    /// Records received, not processed before the member crashed, and never processed
    /// by the group.
    pub unprocessed: u64,
    /// Records received again after a reset-offsets moved the group back over them.
    pub replayed: u64,
}

/// Offset anomalies of one group (see the module docs).
#[derive(Debug, Default)]
pub struct OffsetChecks {
    /// (member, partition) -> (generation, next offset expected).
    streams: HashMap<(String, PartitionId), (i32, i64)>,
    poll_skips: u64,
    skipped_offsets: u64,
    /// partition -> last committed offset.
    committed: HashMap<PartitionId, i64>,
    commits: u64,
    commits_backwards: u64,
    processed: HashMap<PartitionId, RangeSet>,
    abandoned: HashMap<PartitionId, RangeSet>,
    /// partition -> highest offset received + 1.
    received_end: HashMap<PartitionId, i64>,
    /// partition -> (offsets the last reset moved back over, those received again).
    replay: HashMap<PartitionId, (RangeSet, RangeSet)>,
    replayed: u64,
}

fn ok_offset(o: i64) -> Option<u64> {
    u64::try_from(o).ok()
}

impl OffsetChecks {
    pub fn new() -> OffsetChecks {
        OffsetChecks::default()
    }

    /// One poll of `member` in `generation` returned `records` (partition, offset), in
    /// the order returned.
    pub fn polled(&mut self, member: &str, generation: i32, records: &[(PartitionId, i64)]) {
        for &(pid, offset) in records {
            let key = (member.to_string(), pid);
            match self.streams.get_mut(&key) {
                Some((g, next)) if *g == generation => {
                    if offset > *next {
                        self.poll_skips += 1;
                        self.skipped_offsets += (offset - *next) as u64;
                    }
                    *next = offset.saturating_add(1);
                }
                Some(entry) => *entry = (generation, offset.saturating_add(1)),
                None => {
                    self.streams
                        .insert(key, (generation, offset.saturating_add(1)));
                }
            }
            let end = self.received_end.entry(pid).or_insert(0);
            *end = (*end).max(offset.saturating_add(1));
            if let (Some((window, seen)), Some(o)) = (self.replay.get_mut(&pid), ok_offset(offset))
            {
                if window.contains(o) && seen.insert(o) {
                    self.replayed += 1;
                }
            }
        }
    }

    /// The member starts over (restarted, or a new consumer under the same name): its
    /// next poll of any partition starts a new stream.
    pub fn forget_member(&mut self, member: &str) {
        self.streams.retain(|(m, _), _| m != member);
    }

    /// The application finished processing these records.
    pub fn processed(&mut self, records: &[(PartitionId, i64)]) {
        for &(pid, offset) in records {
            if let Some(o) = ok_offset(offset) {
                self.processed.entry(pid).or_default().insert(o);
            }
        }
    }

    /// A member crashed with these records received but not processed.
    pub fn abandoned(&mut self, records: &[(PartitionId, i64)]) {
        for &(pid, offset) in records {
            if let Some(o) = ok_offset(offset) {
                self.abandoned.entry(pid).or_default().insert(o);
            }
        }
    }

    /// A commit of the group succeeded: (partition, next offset to consume).
    pub fn committed(&mut self, offsets: &[(PartitionId, i64)]) {
        for &(pid, offset) in offsets {
            self.commits += 1;
            if let Some(prev) = self.committed.insert(pid, offset) {
                if offset < prev {
                    self.commits_backwards += 1;
                }
            }
        }
    }

    /// A reset-offsets event set the committed offset of `pid` to `to`: not a backwards
    /// commit; the offsets from `to` up to the highest received are expected replays.
    pub fn reset(&mut self, pid: PartitionId, to: i64) {
        self.committed.insert(pid, to);
        self.replay.remove(&pid);
        let end = self.received_end.get(&pid).copied().unwrap_or(0);
        if let (Some(a), Some(b)) = (ok_offset(to), ok_offset(end)) {
            if a < b {
                let mut window = RangeSet::default();
                window.insert_range(a, b);
                self.replay.insert(pid, (window, RangeSet::default()));
            }
        }
    }

    pub fn summary(&self) -> OffsetCheckSummary {
        let unprocessed = self
            .abandoned
            .iter()
            .map(|(pid, set)| {
                let done = self.processed.get(pid);
                set.iter()
                    .map(|(a, b)| (b - a) - done.map_or(0, |d| d.count_within(a, b)))
                    .sum::<u64>()
            })
            .sum();
        OffsetCheckSummary {
            poll_skips: self.poll_skips,
            skipped_offsets: self.skipped_offsets,
            commits: self.commits,
            commits_backwards: self.commits_backwards,
            unprocessed,
            replayed: self.replayed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(c: &mut OffsetChecks, member: &str, generation: i32, pid: u32, offsets: &[i64]) {
        let recs: Vec<(PartitionId, i64)> = offsets.iter().map(|o| (pid, *o)).collect();
        c.polled(member, generation, &recs);
    }

    #[test]
    fn consecutive_polls_do_not_skip() {
        let mut c = OffsetChecks::new();
        poll(&mut c, "g/0", 1, 0, &[0, 1, 2]);
        poll(&mut c, "g/0", 1, 0, &[3, 4]);
        poll(&mut c, "g/0", 1, 1, &[10, 11]);
        // Another member on another partition, and a re-read (not a skip).
        poll(&mut c, "g/1", 1, 2, &[5, 6]);
        poll(&mut c, "g/0", 1, 0, &[4, 5]);
        assert_eq!(c.summary().poll_skips, 0);
    }

    #[test]
    fn a_jump_within_one_generation_is_a_poll_skip() {
        let mut c = OffsetChecks::new();
        poll(&mut c, "g/0", 1, 0, &[0, 1, 2]);
        poll(&mut c, "g/0", 1, 0, &[6, 7]);
        poll(&mut c, "g/0", 1, 0, &[8, 10]);
        let s = c.summary();
        assert_eq!((s.poll_skips, s.skipped_offsets), (2, 4));
    }

    #[test]
    fn a_rebalance_or_restart_explains_a_jump() {
        let mut c = OffsetChecks::new();
        poll(&mut c, "g/0", 1, 0, &[0, 1]);
        // Generation 2: the partition came back from another member that read on.
        poll(&mut c, "g/0", 2, 0, &[50, 51]);
        // Restarted under the same name in the same generation number.
        c.forget_member("g/0");
        poll(&mut c, "g/0", 2, 0, &[90]);
        assert_eq!(c.summary().poll_skips, 0);
        poll(&mut c, "g/0", 2, 0, &[95]);
        assert_eq!(c.summary().poll_skips, 1);
    }

    #[test]
    fn commits_backwards_are_counted_resets_are_not() {
        let mut c = OffsetChecks::new();
        c.committed(&[(0, 10), (1, 5)]);
        c.committed(&[(0, 10), (1, 8)]);
        assert_eq!(c.summary().commits_backwards, 0);
        c.committed(&[(0, 7)]);
        let s = c.summary();
        assert_eq!((s.commits, s.commits_backwards), (5, 1));
        // An explicit reset back is not an anomaly, and later commits from there are
        // forward again.
        c.reset(1, 2);
        c.committed(&[(1, 4)]);
        assert_eq!(c.summary().commits_backwards, 1);
    }

    #[test]
    fn unprocessed_counts_abandoned_records_nobody_processed() {
        let mut c = OffsetChecks::new();
        c.processed(&[(0, 0), (0, 1), (0, 2)]);
        // Crashed with 3..8 of partition 0 received, not processed.
        c.abandoned(&[(0, 3), (0, 4), (0, 5), (0, 6), (0, 7)]);
        assert_eq!(c.summary().unprocessed, 5);
        // At-least-once: another member is given 3..5 again and processes them.
        c.processed(&[(0, 3), (0, 4), (0, 5)]);
        assert_eq!(c.summary().unprocessed, 2);
        c.processed(&[(0, 6), (0, 7)]);
        assert_eq!(c.summary().unprocessed, 0);
    }

    #[test]
    fn replays_after_a_reset_are_counted_once() {
        let mut c = OffsetChecks::new();
        poll(&mut c, "g/0", 1, 0, &[0, 1, 2, 3, 4, 5]);
        c.reset(0, 2);
        c.forget_member("g/0");
        poll(&mut c, "g/0", 1, 0, &[2, 3, 4, 5, 6, 7]);
        assert_eq!(c.summary().replayed, 4);
        // Received a third time without another reset: not a replay.
        c.forget_member("g/0");
        poll(&mut c, "g/0", 2, 0, &[3]);
        let s = c.summary();
        assert_eq!((s.replayed, s.poll_skips), (4, 0));
        // A reset to the end replays nothing.
        c.reset(0, 8);
        poll(&mut c, "g/0", 2, 0, &[8]);
        assert_eq!(c.summary().replayed, 4);
    }
}
