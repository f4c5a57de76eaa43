//! The controller election and commit rules, Raft-style, as a pure state machine.
//!
//! What is replicated is not a log of records but whole metadata images: the active
//! controller (the leader) numbers each image it makes with a version, and an image is
//! identified by its [`Tag`] (the term it was made in, its version). Voters store the
//! leader's newest image; an image is committed once a majority stored it (or a newer
//! one of the same term). Raft's safety carries over because an image contains every
//! change before it:
//! - one vote per term, and only for a candidate whose stored image is at least as new
//!   as the voter's (compared by tag), so a new leader has every committed image;
//! - a new leader makes an image of its own term before it counts anything committed
//!   (Raft commits earlier terms' entries only through one of the current term);
//! - a leader that has not heard from a majority for an election timeout steps down
//!   (KRaft's check-quorum), so a cut-off leader stops acting as the controller.
//!
//! Time comes in as `now`; sending, storing and installing are the caller's
//! ([`super::node`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::replication::quorum::majority;
use crate::replication::BrokerId;

/// An image's identity: (term it was made in, version). Ordered: newer is greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct Tag {
    pub term: u64,
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
}

/// What the caller must do after a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Ask every other voter for its vote.
    RequestVotes { term: u64, last: Tag },
    /// This node won: make an image of the new term (then [`Raft::propose`] it).
    BecameLeader { term: u64 },
    /// Was the leader (or candidate) and no longer is.
    SteppedDown,
}

/// A voter's answer to an append from the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    /// The leader's term is stale: refused (the reply carries this voter's term).
    pub refused: bool,
    /// Store the image that came with the append (it is newer than the stored one).
    pub store: bool,
    /// The stored image (after storing) is committed: install it for the brokers.
    pub install: bool,
}

#[derive(Debug, Clone)]
pub struct Raft {
    id: BrokerId,
    voters: Vec<BrokerId>,
    election_timeout: Duration,
    pub term: u64,
    pub voted_for: Option<BrokerId>,
    pub role: Role,
    pub leader: Option<BrokerId>,
    /// The newest image this voter stored.
    pub last: Tag,
    /// Highest committed version known in the current leader's term.
    pub committed: Option<Tag>,
    deadline: Instant,
    /// When the current leader's last append arrived.
    heard: Option<Instant>,
    votes: BTreeSet<BrokerId>,
    /// Leader: what each voter reported storing, and when it last answered.
    acked: BTreeMap<BrokerId, (Tag, Instant)>,
}

impl Raft {
    /// A voter that restarts with its persisted `term`, `voted_for` and stored image.
    pub fn new(
        id: BrokerId,
        voters: &[BrokerId],
        election_timeout: Duration,
        persisted: (u64, Option<BrokerId>, Tag),
        now: Instant,
    ) -> Raft {
        let mut voters = voters.to_vec();
        voters.sort_unstable();
        voters.dedup();
        let (term, voted_for, last) = persisted;
        let mut r = Raft {
            id,
            voters,
            election_timeout,
            term,
            voted_for,
            role: Role::Follower,
            leader: None,
            last,
            committed: None,
            deadline: now,
            heard: None,
            votes: BTreeSet::new(),
            acked: BTreeMap::new(),
        };
        r.reset_deadline(now);
        r
    }

    pub fn id(&self) -> BrokerId {
        self.id
    }

    pub fn voters(&self) -> &[BrokerId] {
        &self.voters
    }

    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    /// The election timeout for this voter in this term: the base plus a spread that
    /// differs per voter and term (deterministic, so runs replay; it keeps voters from
    /// standing at the same moment).
    fn timeout(&self) -> Duration {
        let base = self.election_timeout;
        let idx = self.voters.iter().position(|&v| v == self.id).unwrap_or(0) as u64;
        let n = self.voters.len().max(1) as u64;
        let slot = (idx + self.term) % n;
        base + base * (slot as u32) / (n as u32)
    }

    fn reset_deadline(&mut self, now: Instant) {
        self.deadline = now + self.timeout();
    }

    fn step_down(&mut self, term: u64, now: Instant) -> Option<Action> {
        let was = self.role;
        if term > self.term {
            self.term = term;
            self.voted_for = None;
        }
        self.role = Role::Follower;
        self.votes.clear();
        self.acked.clear();
        if was != Role::Follower {
            self.leader = None;
            self.reset_deadline(now);
            return Some(Action::SteppedDown);
        }
        None
    }

    /// Timers: a follower or candidate that heard from no leader stands for election;
    /// a leader without a majority answering steps down.
    pub fn tick(&mut self, now: Instant) -> Vec<Action> {
        match self.role {
            Role::Leader => {
                let heard = self
                    .voters
                    .iter()
                    .filter(|&&v| {
                        v == self.id
                            || self.acked.get(&v).is_some_and(|&(_, at)| {
                                now.saturating_duration_since(at) < self.election_timeout
                            })
                    })
                    .count();
                if heard < majority(self.voters.len()) && now >= self.deadline {
                    let term = self.term;
                    return self.step_down(term, now).into_iter().collect();
                }
                Vec::new()
            }
            Role::Follower | Role::Candidate if now >= self.deadline => self.stand(now),
            _ => Vec::new(),
        }
    }

    fn stand(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.role == Role::Leader {
            out.push(Action::SteppedDown);
        }
        self.term += 1;
        self.role = Role::Candidate;
        self.voted_for = Some(self.id);
        self.leader = None;
        self.committed = None;
        self.votes = BTreeSet::from([self.id]);
        self.reset_deadline(now);
        if self.votes.len() >= majority(self.voters.len()) {
            out.extend(self.win(now));
        } else {
            out.push(Action::RequestVotes {
                term: self.term,
                last: self.last,
            });
        }
        out
    }

    fn win(&mut self, now: Instant) -> Option<Action> {
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.acked.clear();
        // Check-quorum starts counting now.
        self.deadline = now + self.election_timeout;
        Some(Action::BecameLeader { term: self.term })
    }

    /// A candidate asks for this voter's vote. Returns (granted, this voter's term).
    pub fn on_vote_request(
        &mut self,
        now: Instant,
        candidate: BrokerId,
        term: u64,
        last: Tag,
    ) -> (bool, u64, Option<Action>) {
        let mut action = None;
        if term > self.term {
            action = self.step_down(term, now);
        }
        let grant = term == self.term
            && self.voted_for.is_none_or(|v| v == candidate)
            && last >= self.last
            && self.role != Role::Leader;
        if grant {
            self.voted_for = Some(candidate);
            self.reset_deadline(now);
        }
        (grant, self.term, action)
    }

    /// A voter answered this candidate.
    pub fn on_vote_reply(
        &mut self,
        now: Instant,
        from: BrokerId,
        term: u64,
        granted: bool,
    ) -> Option<Action> {
        if term > self.term {
            return self.step_down(term, now);
        }
        if self.role != Role::Candidate || term != self.term || !granted {
            return None;
        }
        self.votes.insert(from);
        if self.votes.len() >= majority(self.voters.len()) {
            return self.win(now);
        }
        None
    }

    /// Leader: it made (and stored) a new image with this version.
    pub fn propose(&mut self, now: Instant, version: u64) -> Tag {
        self.last = Tag {
            term: self.term,
            version,
        };
        self.acked.insert(self.id, (self.last, now));
        self.last
    }

    /// Leader: whether `peer` still lacks the newest image.
    pub fn needs_image(&self, peer: BrokerId) -> bool {
        self.acked.get(&peer).is_none_or(|&(t, _)| t < self.last)
    }

    /// Leader: `from` answered an append, reporting the image it stores. Returns the
    /// newly committed tag, if the commit point moved.
    pub fn on_append_reply(
        &mut self,
        now: Instant,
        from: BrokerId,
        term: u64,
        stored: Tag,
    ) -> (Option<Tag>, Option<Action>) {
        if term > self.term {
            return (None, self.step_down(term, now));
        }
        if self.role != Role::Leader || term != self.term {
            return (None, None);
        }
        self.acked.insert(from, (stored, now));
        // The newest tag a majority stored (or something newer).
        let mut tags: Vec<Tag> = self
            .voters
            .iter()
            .map(|v| self.acked.get(v).map_or(Tag::default(), |&(t, _)| t))
            .collect();
        tags.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&candidate) = tags.get(majority(self.voters.len()) - 1) else {
            return (None, None);
        };
        // Only an image of the leader's own term commits by counting.
        if candidate.term == self.term && self.committed.is_none_or(|c| candidate > c) {
            self.committed = Some(candidate);
            return (Some(candidate), None);
        }
        (None, None)
    }

    /// The leader of `term` sent an append: `image` is the tag of the image it carries
    /// (if any), `committed` its commit point.
    pub fn on_append(
        &mut self,
        now: Instant,
        leader: BrokerId,
        term: u64,
        image: Option<Tag>,
        committed: Option<Tag>,
    ) -> (AppendOutcome, Option<Action>) {
        if term < self.term {
            let outcome = AppendOutcome {
                refused: true,
                store: false,
                install: false,
            };
            return (outcome, None);
        }
        let mut action = None;
        if term > self.term || self.role != Role::Follower {
            action = self.step_down(term, now);
        }
        self.leader = Some(leader);
        self.heard = Some(now);
        self.reset_deadline(now);
        let store = image.is_some_and(|t| t > self.last);
        if let (true, Some(t)) = (store, image) {
            self.last = t;
        }
        // The stored image is committed when it is the leader's (same term) and the
        // leader's commit point reached it.
        let install =
            committed.is_some_and(|c| c.term == term && self.last.term == term && self.last <= c);
        if install {
            self.committed = Some(self.last);
        }
        let outcome = AppendOutcome {
            refused: false,
            store,
            install,
        };
        (outcome, action)
    }

    /// Whether this voter is in touch with an active controller: it is the leader (a
    /// leader without a majority steps down), or a leader's append came within the
    /// election timeout.
    pub fn in_contact(&self, now: Instant) -> bool {
        match self.role {
            Role::Leader => true,
            _ => {
                self.leader.is_some()
                    && self
                        .heard
                        .is_some_and(|at| now.saturating_duration_since(at) < self.election_timeout)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_millis(1000);

    fn tag(term: u64, version: u64) -> Tag {
        Tag { term, version }
    }

    fn voter(id: BrokerId, now: Instant) -> Raft {
        Raft::new(id, &[0, 1, 2], T, (0, None, Tag::default()), now)
    }

    /// Runs `r`'s timers until it stands; returns the vote request.
    fn stand(r: &mut Raft, now: &mut Instant) -> (u64, Tag) {
        for _ in 0..100 {
            *now += Duration::from_millis(100);
            for a in r.tick(*now) {
                if let Action::RequestVotes { term, last } = a {
                    return (term, last);
                }
            }
        }
        panic!("never stood for election");
    }

    #[test]
    fn a_candidate_with_a_majority_of_votes_leads_and_commits_on_a_majority() {
        let mut now = Instant::now();
        let mut a = voter(0, now);
        let mut b = voter(1, now);
        let (term, last) = stand(&mut a, &mut now);
        assert_eq!((term, a.role), (1, Role::Candidate));
        let (granted, t, _) = b.on_vote_request(now, 0, term, last);
        assert!(granted);
        assert_eq!(
            a.on_vote_reply(now, 1, t, granted),
            Some(Action::BecameLeader { term: 1 })
        );
        // Nothing is committed until an image of the new term reaches a majority.
        let v1 = a.propose(now, 1);
        assert_eq!(a.committed, None);
        let (out, _) = b.on_append(now, 0, 1, Some(v1), None);
        assert!(out.store && !out.install);
        let (c, _) = a.on_append_reply(now, 1, 1, b.last);
        assert_eq!(c, Some(tag(1, 1)));
        // The follower installs once told the commit point.
        let (out, _) = b.on_append(now, 0, 1, None, c);
        assert!(out.install);
    }

    #[test]
    fn one_vote_per_term_and_none_for_a_staler_candidate() {
        let now = Instant::now();
        let mut v = voter(2, now);
        v.last = tag(3, 7);
        v.term = 3;
        // Stale image: refused even in a newer term.
        assert!(!v.on_vote_request(now, 0, 4, tag(3, 6)).0);
        assert_eq!(v.term, 4, "the newer term is adopted");
        assert!(v.on_vote_request(now, 1, 4, tag(3, 7)).0);
        // Already voted in term 4.
        assert!(!v.on_vote_request(now, 0, 4, tag(4, 9)).0);
        assert!(v.on_vote_request(now, 0, 5, tag(4, 9)).0);
    }

    #[test]
    fn without_a_majority_nobody_leads_and_a_leader_steps_down() {
        let mut now = Instant::now();
        let mut a = voter(0, now);
        let (term, last) = stand(&mut a, &mut now);
        // Only b answers; a wins with 2 of 3.
        let mut b = voter(1, now);
        let (g, t, _) = b.on_vote_request(now, 0, term, last);
        a.on_vote_reply(now, 1, t, g);
        assert!(a.is_leader());
        let v = a.propose(now, 1);
        b.on_append(now, 0, term, Some(v), None);
        a.on_append_reply(now, 1, term, b.last);
        assert!(a.in_contact(now));
        // b dies: after an election timeout without answers a steps down...
        now += T + Duration::from_millis(1);
        assert_eq!(a.tick(now), vec![Action::SteppedDown]);
        assert!(!a.in_contact(now));
        // ...and standing alone never wins: 1 vote of 3.
        for _ in 0..50 {
            now += Duration::from_millis(100);
            a.tick(now);
            assert!(!a.is_leader());
        }
        // b returns and votes: a leads again in a later term.
        let mut b = voter(1, now);
        b.term = a.term;
        let (term2, last2) = stand(&mut a, &mut now);
        let (g, t, _) = b.on_vote_request(now, 0, term2, last2);
        assert_eq!(
            a.on_vote_reply(now, 1, t, g),
            Some(Action::BecameLeader { term: term2 })
        );
    }

    #[test]
    fn a_stale_leader_is_refused_and_steps_down_on_a_newer_term() {
        let now = Instant::now();
        let mut f = voter(1, now);
        f.on_append(now, 2, 5, Some(tag(5, 3)), None);
        let (out, _) = f.on_append(now, 0, 4, Some(tag(4, 9)), None);
        assert!(out.refused && !out.store);
        assert_eq!(f.last, tag(5, 3), "a stale leader's image is not stored");
        // A leader hearing of a newer term steps down.
        let mut l = voter(0, now);
        l.role = Role::Leader;
        l.term = 4;
        let (_, action) = l.on_append_reply(now, 1, 5, tag(5, 3));
        assert_eq!(action, Some(Action::SteppedDown));
        assert_eq!((l.role, l.term), (Role::Follower, 5));
    }

    #[test]
    fn an_image_of_an_earlier_term_commits_only_with_one_of_the_current_term() {
        let now = Instant::now();
        let mut l = voter(0, now);
        l.term = 2;
        l.role = Role::Leader;
        l.last = tag(1, 4);
        // A majority stores the old term's image: not committed by counting.
        let (c, _) = l.on_append_reply(now, 1, 2, tag(1, 4));
        assert_eq!(c, None);
        let v = l.propose(now, 5);
        let (c, _) = l.on_append_reply(now, 1, 2, v);
        assert_eq!(c, Some(tag(2, 5)));
    }

    #[test]
    fn timeouts_differ_per_voter_so_one_stands_first() {
        let now = Instant::now();
        let a = voter(0, now);
        let b = voter(1, now);
        assert_ne!(a.deadline, b.deadline);
    }
}
