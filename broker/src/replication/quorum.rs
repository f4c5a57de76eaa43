//! The controller quorum: an odd number of voters, one of which is the active
//! controller. A controller needs a majority of the voters (itself included) to reach;
//! without one nobody can be elected, so metadata changes and partition leader
//! elections stop until a majority is back (the seed's 3-of-4 example: with four voters
//! a majority is three, so losing two stops the cluster just as losing two of three
//! does; odd sizes waste no voter).
//!
//! Pure: reachability is an input, elections come back as the new state.

use super::isr::BrokerId;

/// Votes needed for a majority of `voters`.
pub fn majority(voters: usize) -> usize {
    voters / 2 + 1
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QuorumState {
    voters: Vec<BrokerId>,
    /// Raises with every election; stale controllers are fenced by it.
    pub epoch: u32,
    pub controller: Option<BrokerId>,
    /// Set when the voters are separate processes electing their controller over the
    /// network (`crate::quorum`): then [`QuorumState::update`] leaves the controller
    /// to that election instead of deriving it from broker liveness.
    #[serde(default)]
    pub external: bool,
}

impl QuorumState {
    pub fn new(voters: &[BrokerId]) -> QuorumState {
        let mut voters = voters.to_vec();
        voters.sort_unstable();
        voters.dedup();
        QuorumState {
            voters,
            epoch: 0,
            controller: None,
            external: false,
        }
    }

    /// The networked quorum elected `controller` in `epoch` (its Raft term).
    pub fn set_elected(&mut self, controller: BrokerId, epoch: u32) {
        self.external = true;
        self.controller = Some(controller);
        self.epoch = epoch;
    }

    pub fn voters(&self) -> &[BrokerId] {
        &self.voters
    }

    /// Re-evaluates the controller given which voters are alive and which pairs can
    /// talk (`link(a, b)`; symmetric). The current controller stays while it still
    /// reaches a majority; otherwise the lowest-id voter that does takes over in a new
    /// epoch; if none does there is no controller. Returns true when it changed.
    pub fn update(
        &mut self,
        alive: impl Fn(BrokerId) -> bool,
        link: impl Fn(BrokerId, BrokerId) -> bool,
    ) -> bool {
        if self.external {
            return false;
        }
        let need = majority(self.voters.len());
        let reaches_majority = |c: BrokerId| {
            alive(c)
                && self
                    .voters
                    .iter()
                    .filter(|&&v| v == c || (alive(v) && link(c, v)))
                    .count()
                    >= need
        };
        if self.controller.is_some_and(reaches_majority) {
            return false;
        }
        let next = self.voters.iter().copied().find(|&v| reaches_majority(v));
        if next == self.controller {
            return false;
        }
        if next.is_some() {
            self.epoch += 1;
        }
        self.controller = next;
        true
    }

    pub fn has_controller(&self) -> bool {
        self.controller.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(_: BrokerId, _: BrokerId) -> bool {
        true
    }

    #[test]
    fn majorities() {
        assert_eq!(
            [1, 2, 3, 4, 5].map(majority),
            [1, 2, 2, 3, 3],
            "four voters need three, like five"
        );
    }

    #[test]
    fn a_controller_is_elected_and_kept_while_it_has_a_majority() {
        let mut q = QuorumState::new(&[3, 1, 2]);
        assert!(q.update(|_| true, all));
        assert_eq!((q.controller, q.epoch), (Some(1), 1));
        // Voter 3 dies: 1 still reaches 1 and 2.
        assert!(!q.update(|b| b != 3, all));
        // The controller dies: 2 takes over in a new epoch.
        assert!(q.update(|b| b == 2 || b == 3, all));
        assert_eq!((q.controller, q.epoch), (Some(2), 2));
    }

    #[test]
    fn without_a_majority_there_is_no_controller_until_it_returns() {
        let mut q = QuorumState::new(&[1, 2, 3]);
        q.update(|_| true, all);
        assert!(q.update(|b| b == 1, all));
        assert_eq!(q.controller, None);
        assert!(!q.has_controller());
        let epoch = q.epoch;
        assert!(q.update(|b| b != 3, all));
        assert_eq!((q.controller, q.epoch), (Some(1), epoch + 1));
    }

    #[test]
    fn a_partition_leaves_the_minority_side_without_a_controller() {
        let mut q = QuorumState::new(&[1, 2, 3, 4, 5]);
        q.update(|_| true, all);
        assert_eq!(q.controller, Some(1));
        // {1, 2} | {3, 4, 5}: the old controller is in the minority.
        let side = |b: BrokerId| b <= 2;
        assert!(q.update(|_| true, |a, b| side(a) == side(b)));
        assert_eq!(q.controller, Some(3));
        // Four voters split 2 | 2: nobody has three.
        let mut q4 = QuorumState::new(&[1, 2, 3, 4]);
        q4.update(|_| true, |a, b| (a <= 2) == (b <= 2));
        assert_eq!(q4.controller, None);
    }
}
