//! Partition ownership over time: which member of which group owned which partition
//! when. Fed from the members' `onPartitionsAssigned` / `onPartitionsRevoked` /
//! `onPartitionsLost` events; read live ([`OwnershipTracker::current`]) and written to
//! `report.json` as intervals ([`OwnershipTracker::intervals`]) for the ownership chart.
//!
//! A partition assigned to a member while another member still holds it (the previous
//! owner crashed and never revoked) passes to the new owner at that moment: until then
//! the group still counted it as the old owner's, which is exactly the stall the chart
//! has to show.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How an ownership interval ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OwnershipEnd {
    /// The owner revoked it (rebalance, close) or lost it (session expired, fenced).
    Revoked,
    /// Another member was assigned it while this one still held it.
    Reassigned,
    /// Still owned when the run ended.
    RunEnd,
}

/// One member owning one partition for a stretch of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnershipInterval {
    /// Consumer group.
    pub group: String,
    /// Member (`billing/1`).
    pub member: String,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Start, seconds since the run start.
    pub from_s: f64,
    /// End, seconds since the run start.
    pub to_s: f64,
    /// Why it ended.
    pub end: OwnershipEnd,
}

type Tp = (String, i32);

#[derive(Debug, Default)]
struct GroupOwnership {
    /// Partition -> (member, since ns).
    open: BTreeMap<Tp, (String, i64)>,
    closed: Vec<OwnershipInterval>,
}

impl GroupOwnership {
    fn close(&mut self, group: &str, tp: &Tp, at_ns: i64, end: OwnershipEnd) {
        if let Some((member, since)) = self.open.remove(tp) {
            self.closed
                .push(interval(group, &member, tp, since, at_ns, end));
        }
    }
}

fn interval(
    group: &str,
    member: &str,
    tp: &Tp,
    from_ns: i64,
    to_ns: i64,
    end: OwnershipEnd,
) -> OwnershipInterval {
    OwnershipInterval {
        group: group.to_string(),
        member: member.to_string(),
        topic: tp.0.clone(),
        partition: tp.1,
        from_s: from_ns as f64 / 1e9,
        to_s: to_ns.max(from_ns) as f64 / 1e9,
        end,
    }
}

/// Records partition ownership per group. Times are ns since the run start.
#[derive(Debug, Default)]
pub struct OwnershipTracker {
    groups: BTreeMap<String, GroupOwnership>,
}

impl OwnershipTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// `member` of `group` received `partitions` at `at_ns`. A partition it already
    /// owns keeps its interval (eager rebalances hand back the same partitions).
    pub fn assigned(
        &mut self,
        group: &str,
        member: &str,
        partitions: &[(String, i32)],
        at_ns: i64,
    ) {
        let g = self.groups.entry(group.to_string()).or_default();
        for tp in partitions {
            match g.open.get(tp) {
                Some((owner, _)) if owner == member => continue,
                Some(_) => g.close(group, tp, at_ns, OwnershipEnd::Reassigned),
                None => {}
            }
            g.open.insert(tp.clone(), (member.to_string(), at_ns));
        }
    }

    /// `member` of `group` gave up (or lost) `partitions` at `at_ns`. Partitions it does
    /// not own (already reassigned) are ignored.
    pub fn revoked(&mut self, group: &str, member: &str, partitions: &[(String, i32)], at_ns: i64) {
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        for tp in partitions {
            if g.open.get(tp).is_some_and(|(owner, _)| owner == member) {
                g.close(group, tp, at_ns, OwnershipEnd::Revoked);
            }
        }
    }

    /// Who owns what in `group` right now: member -> its partitions, sorted.
    pub fn current(&self, group: &str) -> BTreeMap<String /*member*/, Vec<(String, i32)>> {
        let mut out: BTreeMap<String, Vec<(String, i32)>> = BTreeMap::new();
        if let Some(g) = self.groups.get(group) {
            // `open` is ordered by partition, so each member's list comes out sorted.
            for (tp, (member, _)) in &g.open {
                out.entry(member.clone()).or_default().push(tp.clone());
            }
        }
        out
    }

    /// Every interval of every group, the open ones closed at `end_ns`, ordered by
    /// group, topic, partition and start.
    pub fn intervals(&self, end_ns: i64) -> Vec<OwnershipInterval> {
        let mut out = Vec::new();
        for (name, g) in &self.groups {
            out.extend(g.closed.iter().cloned());
            for (tp, (member, since)) in &g.open {
                out.push(interval(
                    name,
                    member,
                    tp,
                    *since,
                    end_ns,
                    OwnershipEnd::RunEnd,
                ));
            }
        }
        out.sort_by(|a, b| {
            (&a.group, &a.topic, a.partition)
                .cmp(&(&b.group, &b.topic, b.partition))
                .then(a.from_s.total_cmp(&b.from_s))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tps(ps: &[i32]) -> Vec<(String, i32)> {
        ps.iter().map(|p| ("orders".to_string(), *p)).collect()
    }

    const S: i64 = 1_000_000_000;

    #[test]
    fn eager_rebalance_revokes_then_reassigns() {
        let mut t = OwnershipTracker::new();
        t.assigned("billing", "billing/0", &tps(&[0, 1]), S);
        t.assigned("billing", "billing/1", &tps(&[2, 3]), S);
        assert_eq!(t.current("billing")["billing/0"], tps(&[0, 1]));
        // billing/1 leaves: everyone revokes, billing/0 gets all four.
        t.revoked("billing", "billing/0", &tps(&[0, 1]), 10 * S);
        t.revoked("billing", "billing/1", &tps(&[2, 3]), 10 * S);
        assert!(t.current("billing").is_empty());
        t.assigned("billing", "billing/0", &tps(&[0, 1, 2, 3]), 12 * S);
        let now = t.current("billing");
        assert_eq!(now.len(), 1);
        assert_eq!(now["billing/0"], tps(&[0, 1, 2, 3]));

        let iv = t.intervals(20 * S);
        assert_eq!(iv.len(), 8);
        let p2: Vec<_> = iv.iter().filter(|i| i.partition == 2).collect();
        assert_eq!(p2[0].member, "billing/1");
        assert_eq!((p2[0].from_s, p2[0].to_s), (1.0, 10.0));
        assert_eq!(p2[0].end, OwnershipEnd::Revoked);
        assert_eq!(p2[1].member, "billing/0");
        assert_eq!((p2[1].from_s, p2[1].to_s), (12.0, 20.0));
        assert_eq!(p2[1].end, OwnershipEnd::RunEnd);
    }

    #[test]
    fn a_crashed_owner_holds_until_reassigned() {
        let mut t = OwnershipTracker::new();
        t.assigned("g", "g/0", &tps(&[0]), 0);
        t.assigned("g", "g/1", &tps(&[1]), 0);
        // g/1 crashes (no revoke); at 30 s g/0 is assigned partition 1 as well.
        t.assigned("g", "g/0", &tps(&[0, 1]), 30 * S);
        let iv = t.intervals(40 * S);
        let p1: Vec<_> = iv.iter().filter(|i| i.partition == 1).collect();
        assert_eq!(p1.len(), 2);
        assert_eq!((p1[0].member.as_str(), p1[0].to_s), ("g/1", 30.0));
        assert_eq!(p1[0].end, OwnershipEnd::Reassigned);
        // Partition 0 was kept by g/0 across the rebalance: one interval.
        assert_eq!(iv.iter().filter(|i| i.partition == 0).count(), 1);
        // A late revoke from the old owner does not end the new owner's interval.
        t.revoked("g", "g/1", &tps(&[1]), 31 * S);
        assert_eq!(t.current("g")["g/0"], tps(&[0, 1]));
        assert!(t.current("other").is_empty());
    }

    #[test]
    fn intervals_serialize_for_the_report() {
        let mut t = OwnershipTracker::new();
        t.assigned("g", "g/0", &tps(&[3]), S / 2);
        let json = serde_json::to_string(&t.intervals(S)).expect("json");
        assert!(json.contains("\"from_s\":0.5"), "{json}");
        assert!(json.contains("\"end\":\"run-end\""), "{json}");
        let back: Vec<OwnershipInterval> = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, t.intervals(S));
    }
}
