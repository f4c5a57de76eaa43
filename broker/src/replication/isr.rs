//! The leader's view of one partition's replicas: each follower's log end offset, when
//! it was last caught up, the in-sync replica set (ISR) and the high watermark.
//!
//! Pure: every input carries `now_ms`; every change comes back as [`IsrChange`]s for
//! the caller to apply (propose the new ISR to the controller, answer acks=all
//! producers, count metrics). The rules are Apache Kafka's (`Partition` /
//! `Replica` in the Scala broker):
//! - a follower is caught up at the time of a fetch from at least the leader's log end
//!   offset; a fetch from at least the end offset the leader had at the follower's
//!   *previous* fetch proves it was caught up then;
//! - a follower in the ISR that has not been caught up for `replica.lag.time.max.ms`
//!   leaves it (the leader never does);
//! - a follower out of the ISR rejoins once its log end offset reaches the high
//!   watermark and the start of the leader's epoch (it holds everything committed);
//! - the high watermark is the smallest log end offset in the ISR and never goes back.

use std::collections::BTreeMap;

pub type BrokerId = i32;

/// A follower as the leader tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerState {
    /// The offset it fetches from next (= its log end offset).
    pub log_end_offset: i64,
    /// When it was last known to hold everything the leader had (ms).
    pub last_caught_up_ms: i64,
    /// The leader's log end offset at its previous fetch, and when that was.
    last_fetch_leader_leo: i64,
    last_fetch_ms: i64,
}

/// What changed; the caller acts on each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IsrChange {
    /// `replica` fell behind for longer than the lag limit and left the ISR.
    Shrunk { replica: BrokerId, lag_ms: i64 },
    /// `replica` caught up and rejoined the ISR.
    Expanded { replica: BrokerId },
    /// The high watermark moved forward (records up to it are committed).
    HighWatermark(i64),
}

/// Why an acks=all append is refused or left incomplete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcksAllCheck {
    /// Enough in-sync replicas: append and wait for the high watermark.
    Proceed,
    /// Fewer in-sync replicas than `min.insync.replicas`: NOT_ENOUGH_REPLICAS, nothing
    /// appended.
    NotEnoughReplicas { isr: usize, min: usize },
}

#[derive(Debug, Clone)]
pub struct IsrState {
    leader: BrokerId,
    /// The offset the leader's current epoch started at.
    epoch_start_offset: i64,
    leader_leo: i64,
    high_watermark: i64,
    followers: BTreeMap<BrokerId, FollowerState>,
    isr: Vec<BrokerId>,
    lag_time_max_ms: i64,
}

impl IsrState {
    /// A leader elected at `now_ms` with this log end offset and high watermark, the
    /// ISR the controller gave it (which contains the leader) and the other replicas.
    pub fn new(
        leader: BrokerId,
        replicas: &[BrokerId],
        isr: &[BrokerId],
        leader_leo: i64,
        high_watermark: i64,
        lag_time_max_ms: i64,
        now_ms: i64,
    ) -> IsrState {
        let followers = replicas
            .iter()
            .filter(|&&r| r != leader)
            .map(|&r| {
                (
                    r,
                    FollowerState {
                        // Unknown until its first fetch: assume nothing.
                        log_end_offset: 0,
                        // Kafka gives every follower a full lag period after an election.
                        last_caught_up_ms: now_ms,
                        last_fetch_leader_leo: leader_leo,
                        last_fetch_ms: now_ms,
                    },
                )
            })
            .collect();
        let mut isr: Vec<BrokerId> = isr.to_vec();
        if !isr.contains(&leader) {
            isr.push(leader);
        }
        isr.sort_unstable();
        IsrState {
            leader,
            epoch_start_offset: leader_leo,
            leader_leo,
            high_watermark: high_watermark.min(leader_leo),
            followers,
            isr,
            lag_time_max_ms,
        }
    }

    pub fn isr(&self) -> &[BrokerId] {
        &self.isr
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    pub fn leader_log_end_offset(&self) -> i64 {
        self.leader_leo
    }

    pub fn follower(&self, id: BrokerId) -> Option<&FollowerState> {
        self.followers.get(&id)
    }

    /// Replicas out of the ISR (under-replicated when non-empty).
    pub fn out_of_sync(&self) -> Vec<BrokerId> {
        self.followers
            .keys()
            .copied()
            .filter(|r| !self.isr.contains(r))
            .collect()
    }

    /// Records lag and time lag of a follower (for the replica-lag metrics).
    pub fn lag(&self, id: BrokerId, now_ms: i64) -> Option<(i64, i64)> {
        self.followers.get(&id).map(|f| {
            (
                (self.leader_leo - f.log_end_offset).max(0),
                (now_ms - f.last_caught_up_ms).max(0),
            )
        })
    }

    /// Checked before an acks=all append: Kafka refuses it when the ISR is smaller than
    /// `min.insync.replicas`.
    pub fn check_acks_all(&self, min_insync: usize) -> AcksAllCheck {
        if self.isr.len() < min_insync {
            AcksAllCheck::NotEnoughReplicas {
                isr: self.isr.len(),
                min: min_insync,
            }
        } else {
            AcksAllCheck::Proceed
        }
    }

    /// The leader appended records: its log end offset is now `leo`. With a single
    /// replica in the ISR this alone advances the high watermark.
    pub fn on_leader_append(&mut self, leo: i64) -> Vec<IsrChange> {
        self.leader_leo = self.leader_leo.max(leo);
        self.advance_high_watermark().into_iter().collect()
    }

    /// A follower fetched from `fetch_offset` at `now_ms` (a replica's fetch offset is
    /// its log end offset). Unknown replicas are ignored.
    pub fn on_follower_fetch(
        &mut self,
        id: BrokerId,
        fetch_offset: i64,
        now_ms: i64,
    ) -> Vec<IsrChange> {
        let leader_leo = self.leader_leo;
        let Some(f) = self.followers.get_mut(&id) else {
            return Vec::new();
        };
        f.log_end_offset = fetch_offset.min(leader_leo);
        if fetch_offset >= leader_leo {
            f.last_caught_up_ms = now_ms;
        } else if fetch_offset >= f.last_fetch_leader_leo {
            f.last_caught_up_ms = f.last_caught_up_ms.max(f.last_fetch_ms);
        }
        f.last_fetch_leader_leo = leader_leo;
        f.last_fetch_ms = now_ms;
        let leo = f.log_end_offset;
        let mut out = Vec::new();
        if !self.isr.contains(&id) && leo >= self.high_watermark && leo >= self.epoch_start_offset {
            self.isr.push(id);
            self.isr.sort_unstable();
            out.push(IsrChange::Expanded { replica: id });
        }
        out.extend(self.advance_high_watermark());
        out
    }

    /// Periodic check (Kafka runs it every `replica.lag.time.max.ms / 2`): followers
    /// not caught up for longer than the limit leave the ISR.
    pub fn check_lag(&mut self, now_ms: i64) -> Vec<IsrChange> {
        let limit = self.lag_time_max_ms;
        let mut out = Vec::new();
        let followers = &self.followers;
        self.isr.retain(|r| match followers.get(r) {
            Some(f) if now_ms - f.last_caught_up_ms > limit => {
                out.push(IsrChange::Shrunk {
                    replica: *r,
                    lag_ms: now_ms - f.last_caught_up_ms,
                });
                false
            }
            _ => true,
        });
        // A smaller ISR can let the high watermark move on.
        out.extend(self.advance_high_watermark());
        out
    }

    /// Whether an acks=all append ending at `end_offset` (exclusive) is committed.
    pub fn is_committed(&self, end_offset: i64) -> bool {
        self.high_watermark >= end_offset
    }

    fn advance_high_watermark(&mut self) -> Option<IsrChange> {
        let min = self
            .isr
            .iter()
            .map(|r| {
                if *r == self.leader {
                    self.leader_leo
                } else {
                    self.followers.get(r).map_or(0, |f| f.log_end_offset)
                }
            })
            .min()
            .unwrap_or(self.leader_leo);
        (min > self.high_watermark).then(|| {
            self.high_watermark = min;
            IsrChange::HighWatermark(min)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAG: i64 = 30_000;

    fn three() -> IsrState {
        IsrState::new(1, &[1, 2, 3], &[1, 2, 3], 0, 0, LAG, 0)
    }

    #[test]
    fn the_high_watermark_is_the_slowest_in_sync_replica() {
        let mut s = three();
        assert_eq!(s.on_leader_append(10), vec![]);
        assert_eq!(s.on_follower_fetch(2, 10, 5), vec![]);
        assert!(!s.is_committed(10));
        assert_eq!(
            s.on_follower_fetch(3, 7, 6),
            vec![IsrChange::HighWatermark(7)]
        );
        assert!(s.is_committed(7) && !s.is_committed(8));
        assert_eq!(
            s.on_follower_fetch(3, 10, 7),
            vec![IsrChange::HighWatermark(10)]
        );
    }

    #[test]
    fn a_follower_behind_for_longer_than_the_lag_limit_leaves_and_the_hw_moves_on() {
        let mut s = three();
        s.on_leader_append(100);
        // Follower 2 keeps up; follower 3 stops fetching.
        for t in (1..=40).map(|i| i * 1000) {
            s.on_follower_fetch(2, 100, t);
        }
        assert_eq!(s.check_lag(LAG), vec![]);
        let changes = s.check_lag(LAG + 1);
        assert_eq!(
            changes,
            vec![
                IsrChange::Shrunk {
                    replica: 3,
                    lag_ms: LAG + 1
                },
                IsrChange::HighWatermark(100)
            ]
        );
        assert_eq!(s.isr(), &[1, 2]);
        assert_eq!(s.out_of_sync(), vec![3]);
        assert_eq!(s.check_acks_all(2), AcksAllCheck::Proceed);
        assert_eq!(
            s.check_acks_all(3),
            AcksAllCheck::NotEnoughReplicas { isr: 2, min: 3 }
        );
    }

    #[test]
    fn fetching_what_the_leader_had_at_the_previous_fetch_counts_as_caught_up_then() {
        let mut s = three();
        s.on_leader_append(50);
        s.on_follower_fetch(2, 50, 1_000); // caught up at 1 s; leader LEO was 50
        s.on_leader_append(80); // the leader moves on before the next fetch
        s.on_follower_fetch(2, 50, 20_000); // has all of 50: caught up as of 1 s...
        assert_eq!(s.follower(2).map(|f| f.last_caught_up_ms), Some(1_000));
        s.on_leader_append(120);
        s.on_follower_fetch(2, 80, 25_000); // ...and has what the leader had at 20 s
        assert_eq!(s.follower(2).map(|f| f.last_caught_up_ms), Some(20_000));
        assert_eq!(s.lag(2, 25_000), Some((40, 5_000)));
    }

    #[test]
    fn a_follower_rejoins_once_it_reaches_the_high_watermark() {
        let mut s = IsrState::new(1, &[1, 2], &[1], 0, 0, LAG, 0);
        s.on_leader_append(30);
        assert_eq!(s.high_watermark(), 30);
        assert_eq!(s.on_follower_fetch(2, 20, 10), vec![]);
        assert_eq!(s.isr(), &[1]);
        assert_eq!(
            s.on_follower_fetch(2, 30, 20),
            vec![IsrChange::Expanded { replica: 2 }]
        );
        assert_eq!(s.isr(), &[1, 2]);
        // From now on acks=all waits for it.
        s.on_leader_append(40);
        assert_eq!(s.high_watermark(), 30);
    }

    #[test]
    fn the_leader_never_leaves_and_the_high_watermark_never_goes_back() {
        let mut s = IsrState::new(1, &[1, 2], &[1, 2], 10, 10, LAG, 0);
        s.on_follower_fetch(2, 10, 1);
        s.check_lag(10 * LAG);
        assert_eq!(s.isr(), &[1]);
        // A follower truncated after an election fetches from an older offset.
        s.on_follower_fetch(2, 5, 10 * LAG + 1);
        assert_eq!(s.high_watermark(), 10);
        // Unknown replicas are ignored.
        assert_eq!(s.on_follower_fetch(9, 100, 0), vec![]);
    }
}
