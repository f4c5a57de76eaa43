//! The cluster as Metadata describes it, once a second: which brokers are listed, who
//! leads how many partitions, how many are under-replicated (ISR smaller than the
//! replica list) or offline (no leader), and how many leaderships moved since the
//! previous sample, which node is the active controller (-1: none), and how many ISRs
//! grew back. Only what the Kafka protocol tells, so it reads the same from the
//! embedded cluster and from any other. [`ClusterFigures`] sums the samples up into the
//! run's cluster metrics.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One partition as Metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub topic: String,
    pub partition: i32,
    /// -1: no leader.
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// The cluster at one second of the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSample {
    /// Seconds since the run started.
    pub t: u64,
    /// Broker ids Metadata listed.
    pub brokers: Vec<i32>,
    pub partitions: u32,
    pub under_replicated: u32,
    pub offline: u32,
    /// Partitions led, per broker id (listed brokers leading nothing have 0).
    pub leaders: BTreeMap<i32, u32>,
    /// Partitions whose leader differs from the previous sample's.
    pub leader_changes: u32,
    /// The active controller Metadata named; -1 when there is none (no quorum
    /// majority).
    #[serde(default)]
    pub controller: i32,
    /// Partitions whose ISR is larger than in the previous sample.
    #[serde(default)]
    pub isr_expands: u32,
    /// Partitions led by a replica other than their preferred one (the first of their
    /// replica list); offline ones not counted.
    #[serde(default)]
    pub not_preferred: u32,
}

/// Builds the samples, remembering the previous leaders to count moves.
#[derive(Debug, Default)]
pub struct ClusterRecorder {
    samples: Vec<ClusterSample>,
    last_leaders: BTreeMap<(String, i32), i32>,
    last_isr: BTreeMap<(String, i32), usize>,
}

impl ClusterRecorder {
    pub fn record(
        &mut self,
        t: u64,
        controller: i32,
        brokers: &[i32],
        partitions: &[PartitionState],
    ) {
        let mut s = ClusterSample {
            t,
            controller,
            brokers: brokers.to_vec(),
            partitions: partitions.len() as u32,
            ..ClusterSample::default()
        };
        s.brokers.sort_unstable();
        for b in &s.brokers {
            s.leaders.insert(*b, 0);
        }
        for p in partitions {
            if p.leader < 0 {
                s.offline += 1;
            } else {
                *s.leaders.entry(p.leader).or_default() += 1;
                if p.replicas.first().is_some_and(|r| *r != p.leader) {
                    s.not_preferred += 1;
                }
            }
            if p.isr.len() < p.replicas.len() {
                s.under_replicated += 1;
            }
            let key = (p.topic.clone(), p.partition);
            if let Some(before) = self.last_isr.insert(key.clone(), p.isr.len()) {
                if p.isr.len() > before {
                    s.isr_expands += 1;
                }
            }
            if let Some(before) = self.last_leaders.insert(key, p.leader) {
                if before != p.leader {
                    s.leader_changes += 1;
                }
            }
        }
        self.samples.push(s);
    }

    pub fn samples(&self) -> &[ClusterSample] {
        &self.samples
    }

    /// True when some sample listed more than one broker: only then is the broker /
    /// ISR chart worth drawing.
    pub fn multi_node(samples: &[ClusterSample]) -> bool {
        samples.iter().any(|s| s.brokers.len() > 1)
    }
}

/// What the samples of a run add up to (each sample stands for one second).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterFigures {
    /// Most under-replicated partitions in one sample.
    pub max_under_replicated: u32,
    /// Leader moves between samples.
    pub leader_changes: u32,
    /// Samples without an active controller.
    pub no_controller_s: u32,
    /// Samples with at least one partition without a leader.
    pub offline_partitions_s: u32,
    /// Most partitions without a leader in one sample.
    pub max_offline_partitions: u32,
    /// ISR expansions between samples.
    pub isr_expands: u32,
    /// Partitions not led by their preferred replica in the last sample.
    pub not_preferred_at_end: u32,
    /// Seconds from `fault_end_s` to the first sample at or after it with every ISR
    /// full; `None` without a fault end, or when no later sample had full ISRs.
    pub isr_full_s: Option<f64>,
}

impl ClusterFigures {
    /// Sums up `samples`; `fault_end_s` is when the run's last fault ended (seconds
    /// since the start), if it had one.
    pub fn of(samples: &[ClusterSample], fault_end_s: Option<f64>) -> ClusterFigures {
        let max = |f: fn(&ClusterSample) -> u32| samples.iter().map(f).max().unwrap_or(0);
        let count = |f: fn(&ClusterSample) -> bool| samples.iter().filter(|s| f(s)).count() as u32;
        ClusterFigures {
            max_under_replicated: max(|s| s.under_replicated),
            leader_changes: samples.iter().map(|s| s.leader_changes).sum(),
            no_controller_s: count(|s| s.controller < 0),
            offline_partitions_s: count(|s| s.offline > 0),
            max_offline_partitions: max(|s| s.offline),
            isr_expands: samples.iter().map(|s| s.isr_expands).sum(),
            not_preferred_at_end: samples.last().map_or(0, |s| s.not_preferred),
            isr_full_s: fault_end_s.and_then(|end| {
                samples
                    .iter()
                    .filter(|s| s.t as f64 >= end)
                    .find(|s| s.under_replicated == 0 && s.offline == 0)
                    .map(|s| s.t as f64 - end)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(partition: i32, leader: i32, isr: &[i32]) -> PartitionState {
        PartitionState {
            topic: "t".into(),
            partition,
            leader,
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
        }
    }

    #[test]
    fn counts_leaders_under_replication_offline_and_moves() {
        let mut r = ClusterRecorder::default();
        r.record(
            1,
            1,
            &[3, 1, 2],
            &[p(0, 1, &[1, 2, 3]), p(1, 2, &[1, 2, 3])],
        );
        // Broker 1 dies: partition 0 moves to 2, both lose 1 from the ISR.
        r.record(2, 2, &[2, 3], &[p(0, 2, &[2, 3]), p(1, 2, &[2, 3])]);
        r.record(3, -1, &[3], &[p(0, -1, &[2]), p(1, 3, &[3])]);
        let s = r.samples();
        assert_eq!(s[0].brokers, vec![1, 2, 3]);
        assert_eq!(s[0].leaders, BTreeMap::from([(1, 1), (2, 1), (3, 0)]));
        assert_eq!((s[0].under_replicated, s[0].leader_changes), (0, 0));
        assert_eq!((s[1].under_replicated, s[1].leader_changes), (2, 1));
        assert_eq!(s[1].leaders, BTreeMap::from([(2, 2), (3, 0)]));
        assert_eq!((s[2].offline, s[2].leader_changes), (1, 2));
        // Replicas are [1, 2, 3]: partition 0 led by 2 and partition 1 by 3 are not
        // led by their preferred replica; an offline partition does not count.
        assert_eq!(
            (s[0].not_preferred, s[1].not_preferred, s[2].not_preferred),
            (1, 2, 1)
        );
        assert!(ClusterRecorder::multi_node(s));
        assert!(!ClusterRecorder::multi_node(&s[2..]));
    }

    #[test]
    fn figures_count_controllerless_and_offline_seconds_and_the_isr_recovery() {
        let mut r = ClusterRecorder::default();
        let all = [1, 2, 3];
        r.record(0, 1, &all, &[p(0, 1, &[1, 2, 3]), p(1, 2, &[1, 2, 3])]);
        // A follower falls out of both ISRs at t=1.
        r.record(1, 1, &all, &[p(0, 1, &[1, 2]), p(1, 2, &[1, 2])]);
        // No controller for two seconds; partition 1 loses its leader.
        r.record(2, -1, &[1], &[p(0, 1, &[1, 2]), p(1, -1, &[2])]);
        r.record(3, -1, &[1], &[p(0, 1, &[1, 2]), p(1, -1, &[2])]);
        // Back: partition 0's ISR is full again at t=4, partition 1's at t=5.
        r.record(4, 1, &all, &[p(0, 1, &[1, 2, 3]), p(1, 2, &[2, 3])]);
        r.record(5, 1, &all, &[p(0, 1, &[1, 2, 3]), p(1, 2, &[1, 2, 3])]);
        let f = ClusterFigures::of(r.samples(), Some(3.5));
        assert_eq!(f.no_controller_s, 2);
        assert_eq!((f.offline_partitions_s, f.max_offline_partitions), (2, 1));
        assert_eq!(f.max_under_replicated, 2);
        // Partition 0 at t=4; partition 1 at t=4 (ISR 1 -> 2) and t=5.
        assert_eq!(f.isr_expands, 3);
        assert_eq!(f.isr_full_s, Some(1.5));
        // The last sample: partition 1 led by 2, not its preferred 1.
        assert_eq!(f.not_preferred_at_end, 1);
        assert_eq!(ClusterFigures::of(r.samples(), None).isr_full_s, None);
        // No sample after the fault's end: not measured.
        assert_eq!(ClusterFigures::of(r.samples(), Some(9.0)).isr_full_s, None);
        // A quiet cluster: nothing counted.
        let quiet = ClusterFigures::of(&r.samples()[..1], Some(0.0));
        assert_eq!(
            (
                quiet.no_controller_s,
                quiet.offline_partitions_s,
                quiet.isr_expands
            ),
            (0, 0, 0)
        );
        assert_eq!(quiet.isr_full_s, Some(0.0));
    }
}
