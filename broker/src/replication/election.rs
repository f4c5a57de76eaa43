//! Partition leader election, as Kafka's controller does it: the first replica in
//! assignment order that is alive and in the ISR; when none is and
//! `unclean.leader.election.enable` is on, the first live replica at all (records it
//! never got are lost); otherwise the partition stays offline.

use super::isr::BrokerId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Election {
    /// A new leader from the ISR.
    Clean(BrokerId),
    /// A new leader from outside the ISR: committed records may be lost.
    Unclean(BrokerId),
    /// No eligible replica is alive: the partition is offline.
    Offline,
}

impl Election {
    pub fn leader(self) -> Option<BrokerId> {
        match self {
            Election::Clean(b) | Election::Unclean(b) => Some(b),
            Election::Offline => None,
        }
    }
}

/// Elects a leader among `replicas` (assignment order: the first is preferred).
pub fn elect(
    replicas: &[BrokerId],
    isr: &[BrokerId],
    alive: impl Fn(BrokerId) -> bool,
    unclean: bool,
) -> Election {
    if let Some(&b) = replicas.iter().find(|b| isr.contains(b) && alive(**b)) {
        return Election::Clean(b);
    }
    if unclean {
        if let Some(&b) = replicas.iter().find(|b| alive(**b)) {
            return Election::Unclean(b);
        }
    }
    Election::Offline
}

/// The preferred-leader rebalance (`auto.leader.rebalance.enable`): moves leadership
/// back to the preferred replica when it is alive, in the ISR and not leading.
pub fn preferred_leader(
    replicas: &[BrokerId],
    isr: &[BrokerId],
    leader: Option<BrokerId>,
    alive: impl Fn(BrokerId) -> bool,
) -> Option<BrokerId> {
    let &preferred = replicas.first()?;
    (leader != Some(preferred) && isr.contains(&preferred) && alive(preferred)).then_some(preferred)
}

/// Share of a broker's preferred partitions that it does not lead, Kafka's
/// `leader.imbalance.per.broker.percentage` check (0–100).
pub fn imbalance_percent<'a>(
    broker: BrokerId,
    partitions: impl IntoIterator<Item = (&'a [BrokerId], Option<BrokerId>)>,
) -> f64 {
    let (mut preferred, mut not_leading) = (0u32, 0u32);
    for (replicas, leader) in partitions {
        if replicas.first() == Some(&broker) {
            preferred += 1;
            if leader != Some(broker) {
                not_leading += 1;
            }
        }
    }
    if preferred == 0 {
        0.0
    } else {
        100.0 * f64::from(not_leading) / f64::from(preferred)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_live_in_sync_replica_in_assignment_order_leads() {
        let up = |b| b != 2;
        assert_eq!(elect(&[2, 3, 1], &[1, 2, 3], up, false), Election::Clean(3));
        assert_eq!(elect(&[2, 3, 1], &[2, 1], up, false), Election::Clean(1));
    }

    #[test]
    fn without_a_live_in_sync_replica_only_unclean_election_finds_a_leader() {
        let up = |b| b == 3;
        assert_eq!(elect(&[1, 2, 3], &[1, 2], up, false), Election::Offline);
        assert_eq!(elect(&[1, 2, 3], &[1, 2], up, true), Election::Unclean(3));
        assert_eq!(elect(&[1, 2], &[1], |_| false, true), Election::Offline);
        assert_eq!(Election::Unclean(3).leader(), Some(3));
    }

    #[test]
    fn the_preferred_replica_takes_leadership_back_when_in_sync() {
        let up = |_| true;
        assert_eq!(
            preferred_leader(&[1, 2, 3], &[1, 2, 3], Some(2), up),
            Some(1)
        );
        assert_eq!(preferred_leader(&[1, 2, 3], &[2, 3], Some(2), up), None);
        assert_eq!(preferred_leader(&[1, 2, 3], &[1, 2, 3], Some(1), up), None);
        let parts: [(&[BrokerId], Option<BrokerId>); 3] =
            [(&[1, 2], Some(2)), (&[1, 3], Some(1)), (&[2, 1], Some(2))];
        assert_eq!(imbalance_percent(1, parts), 50.0);
        assert_eq!(imbalance_percent(3, parts), 0.0);
    }
}
