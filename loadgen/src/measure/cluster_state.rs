//! The cluster as Metadata describes it, once a second: which brokers are listed, who
//! leads how many partitions, how many are under-replicated (ISR smaller than the
//! replica list) or offline (no leader), and how many leaderships moved since the
//! previous sample. Only what the Kafka protocol tells, so it reads the same from the
//! embedded cluster and from any other.

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
}

/// Builds the samples, remembering the previous leaders to count moves.
#[derive(Debug, Default)]
pub struct ClusterRecorder {
    samples: Vec<ClusterSample>,
    last_leaders: BTreeMap<(String, i32), i32>,
}

impl ClusterRecorder {
    pub fn record(&mut self, t: u64, brokers: &[i32], partitions: &[PartitionState]) {
        let mut s = ClusterSample {
            t,
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
            }
            if p.isr.len() < p.replicas.len() {
                s.under_replicated += 1;
            }
            let key = (p.topic.clone(), p.partition);
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
        r.record(1, &[3, 1, 2], &[p(0, 1, &[1, 2, 3]), p(1, 2, &[1, 2, 3])]);
        // Broker 1 dies: partition 0 moves to 2, both lose 1 from the ISR.
        r.record(2, &[2, 3], &[p(0, 2, &[2, 3]), p(1, 2, &[2, 3])]);
        r.record(3, &[3], &[p(0, -1, &[2]), p(1, 3, &[3])]);
        let s = r.samples();
        assert_eq!(s[0].brokers, vec![1, 2, 3]);
        assert_eq!(s[0].leaders, BTreeMap::from([(1, 1), (2, 1), (3, 0)]));
        assert_eq!((s[0].under_replicated, s[0].leader_changes), (0, 0));
        assert_eq!((s[1].under_replicated, s[1].leader_changes), (2, 1));
        assert_eq!(s[1].leaders, BTreeMap::from([(2, 2), (3, 0)]));
        assert_eq!((s[2].offline, s[2].leader_changes), (1, 2));
        assert!(ClusterRecorder::multi_node(s));
        assert!(!ClusterRecorder::multi_node(&s[2..]));
    }
}
