//! What a consumer group's members went through, as `[expect]` metrics: removals by
//! cause, false expiries, revoked partitions per rebalance, the longest pause of one
//! member, and how evenly the members shared the records (idle members, skew).
//!
//! Fed by the member tasks ([`super::consumer_task`]) with what each client observed;
//! read at the end of the run (and live) over the measured part of the run: after the
//! warm-up, up to `duration` (the drain and the final close are left out).

use std::collections::BTreeMap;

use crate::measure::OwnershipInterval;

/// Why a member left its group, as the member itself (or the timeline) knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalCause {
    /// The coordinator expired it: it saw a heartbeat answered UNKNOWN_MEMBER_ID (a
    /// member that was alive: a false expiry), or the timeline crashed it and the group
    /// rebalanced afterwards (nothing else removes a member that just stops).
    SessionTimeout,
    /// It did not poll within `max.poll.interval.ms` and left (LeaveGroup).
    PollTimeout,
    /// It closed with LeaveGroup (a dynamic member; a static one leaves no trace).
    Leave,
}

/// Partitions one member revoked on its way into generation `generation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    /// The generation the rebalance produced (eager: the one the member rejoined
    /// into; cooperative: the one whose assignment took the partitions away).
    pub generation: i32,
    /// When (ns since the run start).
    pub at: i64,
    pub partitions: u32,
}

/// One member's life as the engine saw it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberObs {
    /// When it started (ns).
    pub since: i64,
    /// When it crashed or left for good (ns); `None`: to the end of the run.
    pub until: Option<i64>,
    /// Records it received in the measured part.
    pub records: u64,
    /// Longest time between two of its non-empty polls that ended in the measured
    /// part (ns): it consumed nothing in between (frozen, rebalancing, restarting).
    pub longest_gap: i64,
}

/// What happened to the members of one group.
#[derive(Debug, Clone, Default)]
pub struct MemberLog {
    /// (when, why) a member left (ns). Crashes are not here: nobody sees them.
    pub removals: Vec<(i64, RemovalCause)>,
    pub revocations: Vec<Revocation>,
    pub members: BTreeMap<String, MemberObs>,
}

/// The measured part of the run, ns since its start: `(from, to]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: i64,
    pub to: i64,
}

impl Window {
    fn contains(self, t: i64) -> bool {
        t > self.from && t <= self.to
    }
}

impl MemberLog {
    /// A member saw itself leave (or, for `SessionTimeout`, removed: alive, so a false
    /// expiry).
    pub fn removed(&mut self, at: i64, cause: RemovalCause) {
        self.removals.push((at, cause));
    }

    /// Removals in `w` by cause; crashes (`crashes`, ns) count as session timeouts once
    /// a rebalance (`rebalance_starts`, ns) followed them.
    pub fn removal_counts(&self, w: Window, crashes: &[i64], rebalance_starts: &[i64]) -> Removals {
        let mut r = Removals::default();
        for (at, cause) in &self.removals {
            if !w.contains(*at) {
                continue;
            }
            match cause {
                RemovalCause::SessionTimeout => {
                    r.session_timeout += 1;
                    r.false_expiries += 1;
                }
                RemovalCause::PollTimeout => r.poll_timeout += 1,
                RemovalCause::Leave => r.leave += 1,
            }
        }
        r.session_timeout += crashes
            .iter()
            .filter(|c| w.contains(**c) && rebalance_starts.iter().any(|s| s > c))
            .count() as u32;
        r
    }

    /// (partitions revoked in `w`, the most revoked in one rebalance — the sum over
    /// members of the revocations into one generation).
    pub fn revoked(&self, w: Window) -> (u32, u32) {
        let mut by_generation: BTreeMap<i32, u32> = BTreeMap::new();
        for r in self.revocations.iter().filter(|r| w.contains(r.at)) {
            *by_generation.entry(r.generation).or_default() += r.partitions;
        }
        (
            by_generation.values().sum(),
            by_generation.values().copied().max().unwrap_or(0),
        )
    }

    /// Members alive during `w` that owned no partition in it, and the records of the
    /// busiest other member over their mean (1 = even; `None` without such members).
    pub fn activity(&self, group: &str, owned: &[OwnershipInterval], w: Window) -> Activity {
        let (from_s, to_s) = (w.from as f64 / 1e9, w.to as f64 / 1e9);
        let mut idle = 0;
        let mut busy = Vec::new();
        for (name, m) in &self.members {
            let alive = m.since < w.to && m.until.is_none_or(|u| u > w.from);
            if !alive {
                continue;
            }
            let owned_some = owned.iter().any(|i| {
                i.group == group && i.member == *name && i.from_s < to_s && i.to_s > from_s
            });
            if owned_some {
                busy.push(m.records as f64);
            } else {
                idle += 1;
            }
        }
        let mean = busy.iter().sum::<f64>() / busy.len().max(1) as f64;
        let skew = (mean > 0.0).then(|| busy.iter().copied().fold(0.0, f64::max) / mean);
        Activity { idle, skew }
    }

    /// The longest pause of one member (ns), ending in the measured part.
    pub fn longest_member_pause(&self) -> i64 {
        self.members
            .values()
            .map(|m| m.longest_gap)
            .max()
            .unwrap_or(0)
    }
}

/// Member removals in the measured part, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removals {
    pub session_timeout: u32,
    pub poll_timeout: u32,
    pub leave: u32,
    /// Session timeouts of members that were alive (they saw their own expiry).
    pub false_expiries: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activity {
    pub idle: u32,
    pub skew: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::OwnershipEnd;

    const S: i64 = 1_000_000_000;
    const W: Window = Window {
        from: 5 * S,
        to: 20 * S,
    };

    #[test]
    fn removals_are_counted_by_cause_inside_the_window() {
        let mut log = MemberLog::default();
        log.removed(8 * S, RemovalCause::SessionTimeout);
        log.removed(9 * S, RemovalCause::PollTimeout);
        log.removed(10 * S, RemovalCause::Leave);
        log.removed(2 * S, RemovalCause::Leave); // warm-up
        log.removed(25 * S, RemovalCause::Leave); // the final close
                                                  // A crash at 12 s followed by a rebalance at 17 s; one at 18 s never noticed.
        let r = log.removal_counts(W, &[12 * S, 18 * S], &[6 * S, 17 * S]);
        assert_eq!(
            r,
            Removals {
                session_timeout: 2,
                poll_timeout: 1,
                leave: 1,
                false_expiries: 1
            }
        );
        let none = log.removal_counts(W, &[18 * S], &[6 * S]);
        assert_eq!(none.session_timeout, 1);
    }

    #[test]
    fn revocations_are_summed_per_generation() {
        let mut log = MemberLog::default();
        // Eager: three members give up 2 each into generation 3; later one gives up 2
        // into generation 4.
        for (g, at, n) in [(3, 6, 2), (3, 7, 2), (3, 7, 2), (4, 12, 2), (5, 30, 6)] {
            log.revocations.push(Revocation {
                generation: g,
                at: at * S,
                partitions: n,
            });
        }
        assert_eq!(log.revoked(W), (8, 6));
        assert_eq!(MemberLog::default().revoked(W), (0, 0));
    }

    fn owned(member: &str, from_s: f64, to_s: f64) -> OwnershipInterval {
        OwnershipInterval {
            group: "g".into(),
            member: member.into(),
            topic: "t".into(),
            partition: 0,
            from_s,
            to_s,
            end: OwnershipEnd::RunEnd,
        }
    }

    #[test]
    fn members_without_a_partition_in_the_window_are_idle() {
        let mut log = MemberLog::default();
        let member = |records| MemberObs {
            since: 0,
            until: None,
            records,
            longest_gap: 0,
        };
        log.members.insert("g/0".into(), member(300));
        log.members.insert("g/1".into(), member(100));
        log.members.insert("g/2".into(), member(0));
        // Gone before the window: neither idle nor busy.
        log.members.insert(
            "g/3".into(),
            MemberObs {
                until: Some(4 * S),
                ..member(0)
            },
        );
        let intervals = [
            owned("g/0", 3.0, 20.0),
            owned("g/1", 3.0, 20.0),
            owned("g/2", 1.0, 4.0), // only during the warm-up
            owned("g/3", 1.0, 4.0),
        ];
        let a = log.activity("g", &intervals, W);
        assert_eq!(a.idle, 1);
        assert_eq!(a.skew, Some(1.5));
        // Another group's intervals do not count.
        assert_eq!(log.activity("h", &intervals, W).idle, 3);
        assert_eq!(log.activity("h", &intervals, W).skew, None);
    }

    #[test]
    fn the_longest_member_pause_is_the_longest_gap_of_any_member() {
        let mut log = MemberLog::default();
        assert_eq!(log.longest_member_pause(), 0);
        for (name, gap) in [("g/0", 3 * S), ("g/1", S / 10)] {
            log.members.insert(
                name.into(),
                MemberObs {
                    longest_gap: gap,
                    ..MemberObs::default()
                },
            );
        }
        assert_eq!(log.longest_member_pause(), 3 * S);
    }
}
