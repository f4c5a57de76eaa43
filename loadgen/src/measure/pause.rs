//! Rebalance pauses ("stop the world") per consumer group.
//!
//! A member's pause runs from the moment its partitions are revoked (or it starts
//! rejoining: [`PauseTracker::rebalance_started`]) until it resumes consumption after its
//! new assignment ([`PauseTracker::assigned`]): its first record
//! ([`PauseTracker::record_consumed`]) or first empty poll ([`PauseTracker::empty_poll`])
//! after that assignment. An empty assignment resumes at once; leaving ends the pause.
//!
//! A group *episode* starts with the first member pause while none is open and ends
//! when every member paused in it has resumed (or left). The **group pause** of an
//! episode is its longest stretch in which no member of the group consumed any record:
//! with the eager protocol, from the rebalance start to the first record after the new
//! assignment; with cooperative rebalancing, members keeping their partitions go on
//! consuming and the group pause stays short.
//!
//! Times are ns since the run epoch, from the caller's clock. Call `record_consumed`
//! once per non-empty poll (time of its first record), not per record: the tracker only
//! needs to know that the group was consuming at `t`.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::verify::PartitionId;

fn ms(ns: i64) -> f64 {
    ns as f64 / 1_000_000.0
}

/// How a member pause ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResumedBy {
    /// First record after the new assignment.
    Record,
    /// First (empty) poll after the new assignment.
    EmptyPoll,
    /// The new assignment was empty.
    EmptyAssignment,
    /// The member left the group.
    Left,
    /// Still paused when the summary was taken.
    NotResumed,
}

/// One member's pause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberPause {
    /// Member (as the caller names it, e.g. "billing/1").
    pub member: String,
    /// Revocation / rejoin start, ms since the run epoch.
    pub start_ms: f64,
    /// When the new assignment arrived.
    pub assigned_ms: Option<f64>,
    /// When consumption resumed (or the summary time if it did not).
    pub end_ms: f64,
    /// `end_ms - start_ms`.
    pub duration_ms: f64,
    /// How the pause ended.
    pub resumed_by: ResumedBy,
    /// Partitions of the new assignment.
    pub partitions: Vec<PartitionId>,
    /// Rebalance starts seen during this pause (> 1: the rebalance restarted).
    pub rebalances: u32,
}

/// One group episode: from the first member pause until all paused members resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupPause {
    /// Consumer group.
    pub group: String,
    /// First rebalance start, ms since the run epoch.
    pub start_ms: f64,
    /// Last member resumed (or the summary time if not completed).
    pub end_ms: f64,
    /// `end_ms - start_ms`.
    pub duration_ms: f64,
    /// Longest stretch inside the episode with no record consumed by the group.
    pub group_pause_ms: f64,
    /// False if some member had not resumed when the summary was taken.
    pub completed: bool,
    /// Member pauses, in the order they ended.
    pub members: Vec<MemberPause>,
}

/// The longest single member pause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LongestMemberPause {
    /// Consumer group.
    pub group: String,
    /// Member.
    pub member: String,
    /// Start, ms since the run epoch.
    pub start_ms: f64,
    /// Duration.
    pub duration_ms: f64,
}

/// Per-group totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupPauseStats {
    /// Episodes (rebalances that paused someone).
    pub episodes: u64,
    /// Longest group pause.
    pub longest_group_pause_ms: f64,
    /// Sum of group pauses.
    pub total_group_pause_ms: f64,
}

/// Everything [`PauseTracker`] measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PauseSummary {
    /// Episodes in start order.
    pub pauses: Vec<GroupPause>,
    /// Longest group pause of any group.
    pub longest_group_pause_ms: f64,
    /// Longest member pause.
    pub longest_member_pause: Option<LongestMemberPause>,
    /// Per group.
    pub by_group: BTreeMap<String, GroupPauseStats>,
}

#[derive(Debug)]
struct OpenPause {
    start: i64,
    assigned: Option<i64>,
    partitions: Vec<PartitionId>,
    rebalances: u32,
}

#[derive(Debug)]
struct Episode {
    start: i64,
    open: usize,
    silent_since: i64,
    longest_silence: i64,
    members: Vec<MemberPause>,
}

impl Episode {
    fn consumed(&mut self, t: i64) {
        self.longest_silence = self
            .longest_silence
            .max(t.saturating_sub(self.silent_since));
        self.silent_since = self.silent_since.max(t);
    }

    fn into_pause(mut self, group: &str, end: i64, completed: bool) -> GroupPause {
        self.longest_silence = self
            .longest_silence
            .max(end.saturating_sub(self.silent_since));
        GroupPause {
            group: group.to_string(),
            start_ms: ms(self.start),
            end_ms: ms(end),
            duration_ms: ms(end.saturating_sub(self.start)),
            group_pause_ms: ms(self.longest_silence.max(0)),
            completed,
            members: self.members,
        }
    }
}

#[derive(Debug, Default)]
struct GroupState {
    members: HashMap<String, Option<OpenPause>>,
    episode: Option<Episode>,
}

fn member_pause(member: &str, p: &OpenPause, end: i64, by: ResumedBy) -> MemberPause {
    MemberPause {
        member: member.to_string(),
        start_ms: ms(p.start),
        assigned_ms: p.assigned.map(ms),
        end_ms: ms(end),
        duration_ms: ms(end.saturating_sub(p.start)),
        resumed_by: by,
        partitions: p.partitions.clone(),
        rebalances: p.rebalances,
    }
}

/// Tracks rebalance pauses of all groups of a run.
#[derive(Debug, Default)]
pub struct PauseTracker {
    groups: HashMap<String, GroupState>,
    done: Vec<GroupPause>,
}

impl PauseTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    fn group_mut(&mut self, group: &str) -> &mut GroupState {
        if !self.groups.contains_key(group) {
            self.groups.insert(group.to_string(), GroupState::default());
        }
        self.groups
            .get_mut(group)
            .expect("group state inserted above")
    }

    /// `member` had its partitions revoked or started (re)joining at `t`.
    pub fn rebalance_started(&mut self, group: &str, member: &str, t: i64) {
        let g = self.group_mut(group);
        let ep = g.episode.get_or_insert_with(|| Episode {
            start: t,
            open: 0,
            silent_since: t,
            longest_silence: 0,
            members: Vec::new(),
        });
        match g.members.get_mut(member) {
            Some(Some(p)) => {
                // The rebalance restarted before this member resumed.
                p.rebalances += 1;
                p.assigned = None;
            }
            slot => {
                let open = Some(OpenPause {
                    start: t,
                    assigned: None,
                    partitions: Vec::new(),
                    rebalances: 1,
                });
                match slot {
                    Some(s) => *s = open,
                    None => {
                        g.members.insert(member.to_string(), open);
                    }
                }
                ep.open += 1;
            }
        }
    }

    /// `member` received its new assignment at `t`. An empty assignment resumes it.
    pub fn assigned(&mut self, group: &str, member: &str, partitions: &[PartitionId], t: i64) {
        let g = self.group_mut(group);
        let Some(Some(p)) = g.members.get_mut(member) else {
            return; // not paused: a first assignment, nothing to measure
        };
        p.assigned = Some(t);
        p.partitions.clear();
        p.partitions.extend_from_slice(partitions);
        if partitions.is_empty() {
            self.resume(group, member, t, ResumedBy::EmptyAssignment);
        }
    }

    /// `member` consumed at least one record at `t` (call once per non-empty poll).
    pub fn record_consumed(&mut self, group: &str, member: &str, t: i64) {
        let Some(g) = self.groups.get_mut(group) else {
            return; // no rebalance seen yet: nothing to measure
        };
        if let Some(ep) = g.episode.as_mut() {
            ep.consumed(t);
        }
        if matches!(g.members.get(member), Some(Some(p)) if p.assigned.is_some()) {
            self.resume(group, member, t, ResumedBy::Record);
        }
    }

    /// `member` returned from a poll with no records at `t`.
    pub fn empty_poll(&mut self, group: &str, member: &str, t: i64) {
        let Some(g) = self.groups.get(group) else {
            return;
        };
        if matches!(g.members.get(member), Some(Some(p)) if p.assigned.is_some()) {
            self.resume(group, member, t, ResumedBy::EmptyPoll);
        }
    }

    /// `member` left the group (or was stopped) at `t`.
    pub fn member_left(&mut self, group: &str, member: &str, t: i64) {
        let Some(g) = self.groups.get(group) else {
            return;
        };
        if matches!(g.members.get(member), Some(Some(_))) {
            self.resume(group, member, t, ResumedBy::Left);
        }
        if let Some(g) = self.groups.get_mut(group) {
            g.members.remove(member);
        }
    }

    /// True while `group` has members paused by a rebalance.
    pub fn in_rebalance(&self, group: &str) -> bool {
        self.groups.get(group).is_some_and(|g| g.episode.is_some())
    }

    fn resume(&mut self, group: &str, member: &str, t: i64, by: ResumedBy) {
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        let Some(slot) = g.members.get_mut(member) else {
            return;
        };
        let Some(p) = slot.take() else {
            return;
        };
        let Some(ep) = g.episode.as_mut() else {
            return;
        };
        ep.members.push(member_pause(member, &p, t, by));
        ep.open = ep.open.saturating_sub(1);
        if ep.open == 0 {
            if let Some(ep) = g.episode.take() {
                self.done.push(ep.into_pause(group, t, true));
            }
        }
    }

    /// Every episode so far; open ones are reported as not completed, ending at `now`.
    pub fn summary(&self, now: i64) -> PauseSummary {
        let mut pauses = self.done.clone();
        let mut names: Vec<&String> = self.groups.keys().collect();
        names.sort();
        for name in names {
            let g = &self.groups[name];
            let Some(ep) = &g.episode else {
                continue;
            };
            let mut members = ep.members.clone();
            let mut open: Vec<(&String, &OpenPause)> = g
                .members
                .iter()
                .filter_map(|(m, p)| p.as_ref().map(|p| (m, p)))
                .collect();
            open.sort_by(|a, b| a.0.cmp(b.0));
            for (m, p) in open {
                members.push(member_pause(m, p, now, ResumedBy::NotResumed));
            }
            let snapshot = Episode {
                start: ep.start,
                open: 0,
                silent_since: ep.silent_since,
                longest_silence: ep.longest_silence,
                members,
            };
            pauses.push(snapshot.into_pause(name, now, false));
        }
        pauses.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
        let mut out = PauseSummary::default();
        for p in &pauses {
            out.longest_group_pause_ms = out.longest_group_pause_ms.max(p.group_pause_ms);
            let stats = out.by_group.entry(p.group.clone()).or_default();
            stats.episodes += 1;
            stats.longest_group_pause_ms = stats.longest_group_pause_ms.max(p.group_pause_ms);
            stats.total_group_pause_ms += p.group_pause_ms;
            for m in &p.members {
                let longer = match &out.longest_member_pause {
                    Some(l) => m.duration_ms > l.duration_ms,
                    None => true,
                };
                if longer {
                    out.longest_member_pause = Some(LongestMemberPause {
                        group: p.group.clone(),
                        member: m.member.clone(),
                        start_ms: m.start_ms,
                        duration_ms: m.duration_ms,
                    });
                }
            }
        }
        out.pauses = pauses;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    #[test]
    fn eager_rebalance_stops_the_whole_group() {
        let mut t = PauseTracker::new();
        // Before any rebalance: consumption is free of bookkeeping.
        t.record_consumed("g", "a", 0);
        t.rebalance_started("g", "a", 1_000 * MS);
        t.rebalance_started("g", "b", 1_010 * MS);
        assert!(t.in_rebalance("g"));
        // A fetch already in flight before the new assignment does not resume "a",
        // but the group did consume then.
        t.record_consumed("g", "a", 1_020 * MS);
        t.assigned("g", "a", &[0, 1], 4_000 * MS);
        t.assigned("g", "b", &[2], 4_000 * MS);
        t.record_consumed("g", "b", 4_050 * MS);
        assert!(t.in_rebalance("g"), "a has not resumed yet");
        t.empty_poll("g", "a", 4_100 * MS);
        assert!(!t.in_rebalance("g"));
        let s = t.summary(10_000 * MS);
        assert_eq!(s.pauses.len(), 1);
        let p = &s.pauses[0];
        assert!(p.completed);
        assert_eq!(
            (p.start_ms, p.end_ms, p.duration_ms),
            (1_000.0, 4_100.0, 3_100.0)
        );
        assert_eq!(
            p.group_pause_ms, 3_030.0,
            "1020 ms .. 4050 ms with nothing consumed"
        );
        assert_eq!(p.members.len(), 2);
        let b = &p.members[0];
        assert_eq!((b.member.as_str(), b.duration_ms), ("b", 3_040.0));
        assert_eq!(
            (b.resumed_by, b.assigned_ms),
            (ResumedBy::Record, Some(4_000.0))
        );
        let a = &p.members[1];
        assert_eq!(
            (a.resumed_by, a.duration_ms),
            (ResumedBy::EmptyPoll, 3_100.0)
        );
        assert_eq!(a.partitions, vec![0, 1]);
        let l = s.longest_member_pause.as_ref().expect("longest");
        assert_eq!((l.member.as_str(), l.duration_ms), ("a", 3_100.0));
        assert_eq!(s.longest_group_pause_ms, 3_030.0);
        assert_eq!(s.by_group["g"].episodes, 1);
    }

    #[test]
    fn cooperative_members_keep_the_group_consuming() {
        let mut t = PauseTracker::new();
        t.rebalance_started("g", "c", 0);
        for i in 1..=10 {
            t.record_consumed("g", "d", i * 100 * MS); // d keeps its partitions
        }
        t.assigned("g", "c", &[5], 900 * MS);
        t.record_consumed("g", "c", 950 * MS);
        let s = t.summary(2_000 * MS);
        let p = &s.pauses[0];
        assert_eq!(p.members[0].duration_ms, 950.0);
        assert_eq!(p.group_pause_ms, 100.0);
    }

    #[test]
    fn restart_empty_assignment_leave_and_unfinished() {
        let mut t = PauseTracker::new();
        t.rebalance_started("g", "a", 0);
        t.rebalance_started("g", "b", 0);
        t.rebalance_started("g", "c", 0);
        t.assigned("g", "a", &[0], 100 * MS);
        t.rebalance_started("g", "a", 200 * MS); // restarted before a resumed
        t.record_consumed("g", "a", 250 * MS); // no assignment since restart: no resume
        t.assigned("g", "a", &[0], 300 * MS);
        t.assigned("g", "b", &[], 300 * MS); // empty assignment resumes at once
        t.member_left("g", "c", 350 * MS);
        t.record_consumed("g", "a", 400 * MS);
        // A second episode that never completes (member frozen).
        t.rebalance_started("g", "a", 1_000 * MS);
        t.rebalance_started("h", "x", 1_500 * MS);
        let s = t.summary(3_000 * MS);
        assert_eq!(s.pauses.len(), 3);
        let first = &s.pauses[0];
        assert!(first.completed);
        let by: Vec<(&str, ResumedBy, u32)> = first
            .members
            .iter()
            .map(|m| (m.member.as_str(), m.resumed_by, m.rebalances))
            .collect();
        assert_eq!(
            by,
            [
                ("b", ResumedBy::EmptyAssignment, 1),
                ("c", ResumedBy::Left, 1),
                ("a", ResumedBy::Record, 2)
            ]
        );
        assert_eq!(first.group_pause_ms, 250.0);
        let second = &s.pauses[1];
        assert!(!second.completed);
        assert_eq!((second.group.as_str(), second.duration_ms), ("g", 2_000.0));
        assert_eq!(second.members[0].resumed_by, ResumedBy::NotResumed);
        assert_eq!(second.group_pause_ms, 2_000.0);
        assert_eq!(s.pauses[2].group, "h");
        assert_eq!(s.by_group["g"].episodes, 2);
        assert!(t.in_rebalance("g") && t.in_rebalance("h"));
        assert!(!t.in_rebalance("nope"));
    }
}
