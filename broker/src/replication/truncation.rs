//! Where a follower truncates its log before fetching from a new leader (Kafka's
//! `AbstractFetcherThread` truncation, KIP-101 / KIP-279).
//!
//! The follower asks the leader (OffsetForLeaderEpoch) for the end offset of its own
//! latest epoch. The leader answers with that epoch's end in *its* log, or with the
//! largest epoch it knows below the one asked. The follower cuts at the first offset
//! where the two logs can differ; when the leader named an epoch the follower does not
//! have, the follower cuts back to its own epoch below that and asks again. Without a
//! usable answer (an empty cache, an old leader) it falls back to its high watermark,
//! Kafka's rule before KIP-101.

use super::epoch_cache::{EpochCache, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};

/// What to do with the follower's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncation {
    /// Drop every record at or after this offset (nothing if it is the log end).
    pub offset: i64,
    /// `false`: cut there, then ask the leader again with the latest epoch left.
    pub done: bool,
}

/// The epoch the follower asks about: its latest one. `None`: the cache is empty and
/// the follower truncates to its high watermark without asking ([`fallback`]).
pub fn epoch_to_ask(cache: &EpochCache) -> Option<i32> {
    cache.latest_epoch()
}

/// Truncation when the leader cannot tell (no epoch known here, or the leader does
/// not serve OffsetForLeaderEpoch): the high watermark.
pub fn fallback(log_end_offset: i64, high_watermark: i64) -> Truncation {
    Truncation {
        offset: high_watermark.min(log_end_offset).max(0),
        done: true,
    }
}

/// Decides from the leader's answer `(leader_epoch, end_offset)` as Kafka's
/// `AbstractFetcherThread.getOffsetTruncationState` does.
pub fn decide(
    cache: &EpochCache,
    log_end_offset: i64,
    high_watermark: i64,
    leader_epoch: i32,
    leader_end_offset: i64,
) -> Truncation {
    if leader_end_offset == UNDEFINED_EPOCH_OFFSET {
        // The leader knows no epoch at or below ours.
        return fallback(log_end_offset, high_watermark);
    }
    let done = |offset: i64| Truncation {
        offset: offset.min(log_end_offset),
        done: true,
    };
    if leader_epoch == UNDEFINED_EPOCH {
        // An answer without an epoch (OffsetForLeaderEpoch v0): its offset is all we have.
        return done(leader_end_offset);
    }
    match cache.end_offset_for(leader_epoch, log_end_offset) {
        (UNDEFINED_EPOCH, _) | (_, UNDEFINED_EPOCH_OFFSET) => done(leader_end_offset),
        (epoch, end) if epoch == leader_epoch => done(end.min(leader_end_offset)),
        // The leader named an epoch this follower never saw: everything from the end
        // of our epoch below it is suspect; cut there and ask about that epoch.
        (_, end) => Truncation {
            offset: end.min(log_end_offset),
            done: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> EpochCache {
        let mut c = EpochCache::default();
        for &(e, o) in entries {
            c.assign(e, o);
        }
        c
    }

    /// Runs the follower's loop against a leader answering from `leader` with log end
    /// `leader_end`, as the fetcher does; returns the final log end and rounds taken.
    fn converge(
        follower: &mut EpochCache,
        mut log_end: i64,
        hw: i64,
        leader: &EpochCache,
        leader_end: i64,
    ) -> (i64, usize) {
        for round in 1..10 {
            let Some(asked) = epoch_to_ask(follower) else {
                return (fallback(log_end, hw).offset, round);
            };
            let (e, o) = leader.end_offset_for(asked, leader_end);
            let t = decide(follower, log_end, hw, e, o);
            assert!(t.offset <= log_end, "never grows the log");
            log_end = t.offset;
            follower.truncate_from_end(t.offset);
            if t.done {
                return (log_end, round);
            }
        }
        panic!("no convergence");
    }

    #[test]
    fn kip_101_the_old_leaders_unreplicated_suffix_goes() {
        // Old leader (epoch 1) wrote 0..15; followers had 0..10. The new leader (epoch 2)
        // wrote its own records from 10 on: the old leader keeps 0..10 only, even though
        // its high watermark (say 12, from acks=1 followers that later lost data)
        // would have kept 10..12.
        let old = cache(&[(0, 0), (1, 5)]);
        let leader = cache(&[(0, 0), (1, 5), (2, 10)]);
        assert_eq!(
            decide(&old, 15, 12, 1, leader.end_offset_for(1, 20).1),
            Truncation {
                offset: 10,
                done: true
            }
        );
        // A follower that is only behind keeps everything.
        let behind = cache(&[(0, 0), (1, 5)]);
        assert_eq!(
            decide(&behind, 8, 8, 1, 10),
            Truncation {
                offset: 8,
                done: true
            }
        );
    }

    #[test]
    fn kip_279_an_epoch_unknown_to_the_follower_takes_another_round() {
        // Follower wrote epochs 0, 3 (as a short-lived leader); the leader has 0, 2, 4.
        let mut follower = cache(&[(0, 0), (3, 20)]);
        let leader = cache(&[(0, 0), (2, 15), (4, 30)]);
        // Asked about 3, the leader answers (2, 30): the follower has no epoch 2, so it
        // cuts to the end of its epoch 0 (20) and asks about 0 next.
        assert_eq!(
            decide(&follower, 25, 10, 2, 30),
            Truncation {
                offset: 20,
                done: false
            }
        );
        let (end, rounds) = converge(&mut follower, 25, 10, &leader, 40);
        assert_eq!((end, rounds), (15, 2), "epoch 0 ends at 15 on the leader");
        assert_eq!(follower.latest_epoch(), Some(0));
    }

    #[test]
    fn without_a_usable_answer_the_high_watermark_is_the_limit() {
        let empty = EpochCache::default();
        assert_eq!(epoch_to_ask(&empty), None);
        assert_eq!(
            fallback(15, 12),
            Truncation {
                offset: 12,
                done: true
            }
        );
        assert_eq!(
            fallback(9, 12),
            Truncation {
                offset: 9,
                done: true
            }
        );
        let c = cache(&[(1, 0)]);
        assert_eq!(
            decide(&c, 15, 12, -1, -1),
            Truncation {
                offset: 12,
                done: true
            }
        );
        // A v0-style answer (no epoch): the leader's offset.
        assert_eq!(
            decide(&c, 15, 12, -1, 7),
            Truncation {
                offset: 7,
                done: true
            }
        );
        // The leader's epoch is older than anything kept here: its offset.
        let c = cache(&[(3, 5)]);
        assert_eq!(
            decide(&c, 15, 12, 1, 4),
            Truncation {
                offset: 4,
                done: true
            }
        );
    }

    #[test]
    fn identical_logs_keep_everything() {
        let mut c = cache(&[(0, 0), (1, 5)]);
        let leader = c.clone();
        assert_eq!(converge(&mut c, 9, 3, &leader, 9), (9, 1));
    }
}
