//! Replica placement without racks, the way Kafka assigns replicas when a topic is
//! created: partition leaders go round the brokers from a start index, and each
//! partition's followers follow its leader at a shift that changes every full round,
//! so no two brokers always share the same partitions.

use super::isr::BrokerId;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    #[error("replication factor {factor} is larger than the {brokers} available brokers")]
    TooFewBrokers { factor: usize, brokers: usize },
    #[error("replication factor must be at least 1")]
    ZeroFactor,
}

/// Replicas for `partitions` partitions, numbered from `first_partition`, over
/// `brokers` (any order). `start` and `shift` are Kafka's random start index and
/// replica shift: pass them from the run's seed so placement is reproducible.
pub fn assign(
    brokers: &[BrokerId],
    partitions: u32,
    factor: usize,
    first_partition: u32,
    start: usize,
    shift: usize,
) -> Result<Vec<Vec<BrokerId>>, PlacementError> {
    let mut brokers = brokers.to_vec();
    brokers.sort_unstable();
    brokers.dedup();
    let n = brokers.len();
    if factor == 0 {
        return Err(PlacementError::ZeroFactor);
    }
    if factor > n {
        return Err(PlacementError::TooFewBrokers { factor, brokers: n });
    }
    let start = start % n;
    let mut shift = if n > 1 { shift % (n - 1) } else { 0 };
    let mut out = Vec::with_capacity(partitions as usize);
    for p in 0..partitions as usize {
        let id = first_partition as usize + p;
        if id > 0 && id.is_multiple_of(n) {
            shift += 1;
        }
        let first = (id + start) % n;
        let mut replicas = vec![brokers[first]];
        for j in 0..factor - 1 {
            let step = 1 + (shift + j) % (n - 1);
            replicas.push(brokers[(first + step) % n]);
        }
        out.push(replicas);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn leaders_spread_evenly_and_replicas_are_distinct() {
        let a = assign(&[3, 1, 2], 6, 3, 0, 0, 0).expect("enough brokers");
        let mut leaders: BTreeMap<BrokerId, u32> = BTreeMap::new();
        for r in &a {
            let mut s = r.clone();
            s.sort_unstable();
            s.dedup();
            assert_eq!(s.len(), 3, "{r:?}");
            *leaders.entry(r[0]).or_default() += 1;
        }
        assert_eq!(leaders.values().copied().collect::<Vec<_>>(), vec![2, 2, 2]);
        assert_eq!(a[0], vec![1, 2, 3]);
    }

    #[test]
    fn followers_shift_every_round() {
        let a = assign(&[1, 2, 3, 4], 8, 2, 0, 0, 0).expect("enough brokers");
        // First round: follower right after the leader; second round: two after.
        assert_eq!(a[0], vec![1, 2]);
        assert_eq!(a[4], vec![1, 3]);
    }

    #[test]
    fn too_few_brokers_is_an_error() {
        assert_eq!(
            assign(&[1, 2], 1, 3, 0, 0, 0),
            Err(PlacementError::TooFewBrokers {
                factor: 3,
                brokers: 2
            })
        );
        assert_eq!(assign(&[1], 1, 0, 0, 0, 0), Err(PlacementError::ZeroFactor));
        assert_eq!(assign(&[7], 2, 1, 0, 5, 9), Ok(vec![vec![7], vec![7]]));
    }
}
