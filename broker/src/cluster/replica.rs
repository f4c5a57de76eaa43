//! One partition's role on this node — leader (with its [`IsrState`]), follower of a
//! given leader, or neither — and the role changes the controller's metadata asks for.
//!
//! Pure: [`ReplicaState::apply`] takes the partition's metadata, this node's log end
//! offset and `now`, changes the role and returns what the caller must do to the log.
//!
//! Divergent logs: a replica that becomes a follower under a new leader epoch first
//! matches its log to the new leader's (KIP-101 / KIP-279): its fetcher asks the leader
//! with OffsetForLeaderEpoch where this replica's latest epoch ends in the leader's log
//! and truncates there ([`crate::replication::truncation`]); only then does it fetch.
//! The high watermark is only the fallback when no epoch is known. A high watermark can
//! be past the point where the logs diverge (a follower learns it from fetches, and
//! acks=1 leaders lose records that followers' high watermarks already counted), so
//! truncating to it could keep records the new leader does not have.

use super::metadata::PartitionMeta;
use crate::replication::isr::IsrState;
use crate::replication::BrokerId;

#[derive(Debug, Clone)]
pub enum Role {
    /// Not in a cluster: this broker alone is the ISR (single-node mode).
    Single,
    Leader {
        epoch: i32,
        isr: IsrState,
    },
    Follower {
        epoch: i32,
        leader: BrokerId,
        /// The log has been matched to the leader's for this epoch; until then the
        /// fetcher truncates instead of fetching.
        truncated: bool,
    },
    /// A replica of a partition without a leader (offline), or not a replica here.
    Idle {
        epoch: i32,
    },
}

/// What the caller must do after a role change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// This node now leads: record the epoch's start in the epoch cache, wake
    /// producers and fetchers waiting on it.
    BecameLeader,
    /// This node now follows another leader: its fetcher truncates before fetching.
    BecameFollower,
}

#[derive(Debug, Clone)]
pub struct ReplicaState {
    pub role: Role,
    /// The high watermark as a follower last heard it from its leader (or as this node
    /// had it when it last led, or from the checkpoint after a restart).
    known_high_watermark: i64,
}

impl Default for ReplicaState {
    fn default() -> Self {
        ReplicaState {
            role: Role::Single,
            known_high_watermark: 0,
        }
    }
}

impl ReplicaState {
    /// A replica in a cluster that has not heard from the controller yet, restarting
    /// with the high watermark from its checkpoint.
    pub fn clustered(checkpoint_high_watermark: i64) -> ReplicaState {
        ReplicaState {
            role: Role::Idle { epoch: -1 },
            known_high_watermark: checkpoint_high_watermark,
        }
    }

    /// The high watermark read from this node's checkpoint at start-up.
    pub fn restore_high_watermark(&mut self, hw: i64) {
        self.known_high_watermark = hw;
    }

    /// Records below this offset are committed (consumers read up to here).
    pub fn high_watermark(&self, log_end_offset: i64) -> i64 {
        match &self.role {
            Role::Single => log_end_offset,
            Role::Leader { isr, .. } => isr.high_watermark(),
            Role::Follower { .. } | Role::Idle { .. } => {
                self.known_high_watermark.min(log_end_offset)
            }
        }
    }

    /// Whether produce and consumer fetches are served here.
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Single | Role::Leader { .. })
    }

    pub fn leader_epoch(&self) -> i32 {
        match &self.role {
            Role::Single => 0,
            Role::Leader { epoch, .. } | Role::Follower { epoch, .. } | Role::Idle { epoch } => {
                *epoch
            }
        }
    }

    pub fn isr_mut(&mut self) -> Option<(&mut IsrState, i32)> {
        match &mut self.role {
            Role::Leader { epoch, isr } => Some((isr, *epoch)),
            _ => None,
        }
    }

    pub fn isr(&self) -> Option<&IsrState> {
        match &self.role {
            Role::Leader { isr, .. } => Some(isr),
            _ => None,
        }
    }

    /// A follower whose log is not yet matched to its leader's (no fetching until it is).
    pub fn needs_truncation(&self) -> bool {
        matches!(
            self.role,
            Role::Follower {
                truncated: false,
                ..
            }
        )
    }

    /// The follower matched its log to the leader of `epoch` (a no-op if the role
    /// changed meanwhile).
    pub fn truncation_done(&mut self, epoch: i32) {
        if let Role::Follower {
            epoch: e,
            truncated,
            ..
        } = &mut self.role
        {
            if *e == epoch {
                *truncated = true;
            }
        }
    }

    /// The leader refused the follower's fetch offset: match the logs again.
    pub fn truncate_again(&mut self) {
        if let Role::Follower { truncated, .. } = &mut self.role {
            *truncated = false;
        }
    }

    /// A follower learned the leader's high watermark from a fetch response.
    pub fn on_leader_high_watermark(&mut self, hw: i64) {
        if matches!(self.role, Role::Follower { .. }) {
            self.known_high_watermark = self.known_high_watermark.max(hw);
        }
    }

    /// Takes the role `meta` gives node `me` (`None`: the partition is not replicated
    /// here). Nothing changes while the leader epoch is the same; an ISR change for a
    /// continuing leader comes from that leader itself.
    pub fn apply(
        &mut self,
        meta: Option<&PartitionMeta>,
        me: BrokerId,
        log_end_offset: i64,
        lag_time_max_ms: i64,
        now_ms: i64,
    ) -> Option<Effect> {
        let Some(meta) = meta.filter(|m| m.replicas.contains(&me)) else {
            if !matches!(self.role, Role::Idle { .. }) {
                let epoch = self.leader_epoch();
                self.leave_leadership(log_end_offset);
                self.role = Role::Idle { epoch };
            }
            return None;
        };
        let same_epoch =
            !matches!(self.role, Role::Single) && self.leader_epoch() == meta.leader_epoch;
        if same_epoch {
            return None;
        }
        self.leave_leadership(log_end_offset);
        match meta.leader {
            Some(l) if l == me => {
                let hw = self.known_high_watermark.min(log_end_offset);
                self.role = Role::Leader {
                    epoch: meta.leader_epoch,
                    isr: IsrState::new(
                        me,
                        &meta.replicas,
                        &meta.isr,
                        log_end_offset,
                        hw,
                        lag_time_max_ms,
                        now_ms,
                    ),
                };
                Some(Effect::BecameLeader)
            }
            Some(l) => {
                self.role = Role::Follower {
                    epoch: meta.leader_epoch,
                    leader: l,
                    truncated: false,
                };
                self.known_high_watermark = self.known_high_watermark.min(log_end_offset);
                Some(Effect::BecameFollower)
            }
            None => {
                self.role = Role::Idle {
                    epoch: meta.leader_epoch,
                };
                None
            }
        }
    }

    /// A leader stepping down keeps its last high watermark.
    fn leave_leadership(&mut self, log_end_offset: i64) {
        if let Role::Leader { isr, .. } = &self.role {
            self.known_high_watermark = isr.high_watermark();
        } else if let Role::Single = self.role {
            self.known_high_watermark = log_end_offset;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(leader: Option<BrokerId>, epoch: i32) -> PartitionMeta {
        PartitionMeta {
            replicas: vec![1, 2, 3],
            leader,
            leader_epoch: epoch,
            isr: vec![1, 2, 3],
            partition_epoch: epoch,
        }
    }

    #[test]
    fn a_leader_serves_up_to_its_isr_high_watermark() {
        let mut r = ReplicaState::clustered(0);
        assert!(!r.is_leader());
        assert_eq!(
            r.apply(Some(&meta(Some(1), 0)), 1, 0, 30_000, 0),
            Some(Effect::BecameLeader)
        );
        assert!(r.is_leader());
        let (isr, epoch) = r.isr_mut().expect("leader");
        assert_eq!(epoch, 0);
        isr.on_leader_append(10);
        assert_eq!(r.high_watermark(10), 0, "followers have not fetched yet");
        // The same epoch again changes nothing.
        assert_eq!(r.apply(Some(&meta(Some(1), 0)), 1, 10, 30_000, 1), None);
    }

    #[test]
    fn a_new_follower_matches_its_log_before_fetching() {
        let mut r = ReplicaState::clustered(0);
        assert_eq!(
            r.apply(Some(&meta(Some(2), 0)), 1, 0, 30_000, 0),
            Some(Effect::BecameFollower)
        );
        assert!(r.needs_truncation());
        r.truncation_done(0);
        assert!(!r.needs_truncation());
        r.on_leader_high_watermark(7);
        assert_eq!(r.high_watermark(9), 7);
        // The leader dies; node 3 leads now: truncate again before fetching from it.
        assert_eq!(
            r.apply(Some(&meta(Some(3), 1)), 1, 9, 30_000, 5),
            Some(Effect::BecameFollower)
        );
        assert!(r.needs_truncation());
        // A late answer for the previous epoch does not count for this one.
        r.truncation_done(0);
        assert!(r.needs_truncation());
        r.truncation_done(1);
        assert!(!r.needs_truncation());
        r.truncate_again();
        assert!(r.needs_truncation());
        // The same epoch again changes nothing.
        assert_eq!(r.apply(Some(&meta(Some(3), 1)), 1, 9, 30_000, 6), None);
    }

    #[test]
    fn a_leader_that_steps_down_keeps_its_high_watermark() {
        let mut r = ReplicaState::clustered(0);
        r.apply(Some(&meta(Some(1), 0)), 1, 0, 30_000, 0);
        if let Some((isr, _)) = r.isr_mut() {
            isr.on_leader_append(10);
            isr.on_follower_fetch(2, 10, 1);
            isr.on_follower_fetch(3, 8, 1);
        }
        assert_eq!(r.high_watermark(10), 8);
        assert_eq!(
            r.apply(Some(&meta(Some(2), 1)), 1, 10, 30_000, 2),
            Some(Effect::BecameFollower)
        );
        assert_eq!(r.high_watermark(10), 8);
        assert_eq!(r.apply(Some(&meta(None, 2)), 1, 8, 30_000, 3), None);
        assert!(!r.is_leader());
        assert_eq!(r.apply(None, 1, 8, 30_000, 3), None);
    }
}
