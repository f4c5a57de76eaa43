//! Where the consumer is in each assigned partition: the partitions it holds, their
//! positions (committed offsets, seeks) and whether each may be fetched now.

use std::collections::BTreeSet;

use tokio::time::Instant;

use super::{Fetcher, PREFETCH_DEPTH};

#[derive(Debug)]
pub(super) struct PartState {
    /// Offset of the next record to hand to the application (None: unknown yet).
    pub(super) position: Option<i64>,
    /// Offset the next Fetch asks for (ahead of `position` while responses are buffered).
    pub(super) fetch_offset: i64,
    /// Bumped whenever the position is set from outside the fetch stream.
    pub(super) epoch: u64,
    pub(super) in_flight: bool,
    pub(super) buffered: usize,
    pub(super) high_watermark: i64,
    /// The committed offset must be looked up (OffsetFetch) before fetching.
    pub(super) need_committed: bool,
    /// The position must be reset with `auto.offset.reset`.
    pub(super) needs_reset: bool,
    /// Why: the fetch offset was out of range (rather than no committed offset).
    pub(super) out_of_range: bool,
    pub(super) retry_at: Option<Instant>,
}

impl PartState {
    pub(super) fn new(need_committed: bool) -> PartState {
        PartState {
            position: None,
            fetch_offset: -1,
            epoch: 0,
            in_flight: false,
            buffered: 0,
            high_watermark: -1,
            need_committed,
            needs_reset: !need_committed,
            out_of_range: false,
            retry_at: None,
        }
    }

    pub(super) fn fetchable(&self, now: Instant) -> bool {
        self.position.is_some()
            && !self.needs_reset
            && !self.need_committed
            && !self.in_flight
            && self.buffered < PREFETCH_DEPTH
            && self.retry_at.is_none_or(|t| t <= now)
    }
}

impl Fetcher {
    /// The assigned partitions, sorted.
    pub fn assignment(&self) -> Vec<(String, i32)> {
        let set: BTreeSet<(String, i32)> = self
            .parts
            .keys()
            .map(|(t, p)| (t.to_string(), *p))
            .collect();
        set.into_iter().collect()
    }

    pub fn assigned_topics(&self) -> Vec<String> {
        let set: BTreeSet<String> = self.parts.keys().map(|(t, _)| t.to_string()).collect();
        set.into_iter().collect()
    }

    /// Adds partitions whose position is unknown; `need_committed`: look up the group's
    /// committed offset first, else go straight to `auto.offset.reset`.
    pub fn add(&mut self, partitions: &[(String, i32)], need_committed: bool) {
        for (t, p) in partitions {
            let tp = self.tp(t, *p);
            self.parts
                .entry(tp)
                .or_insert_with(|| PartState::new(need_committed));
        }
        self.metrics.set_assigned(self.parts.len());
    }

    pub fn remove(&mut self, partitions: &[(String, i32)]) {
        for (t, p) in partitions {
            let tp = self.tp(t, *p);
            self.parts.remove(&tp);
        }
        let parts = &self.parts;
        self.completed.retain(|c| parts.contains_key(&c.tp));
        self.metrics.set_assigned(self.parts.len());
    }

    pub fn clear(&mut self) {
        self.parts.clear();
        self.completed.clear();
        self.metrics.set_assigned(0);
    }

    /// Consumed positions of the assigned partitions (what a commit stores).
    pub fn positions(&self) -> Vec<(String, i32, i64)> {
        let mut v: Vec<(String, i32, i64)> = self
            .parts
            .iter()
            .filter_map(|((t, p), s)| s.position.map(|o| (t.to_string(), *p, o)))
            .collect();
        v.sort();
        v
    }

    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        let t = self.topics.get(topic)?;
        self.parts.get(&(t.clone(), partition))?.position
    }

    /// Sets the position (a seek): buffered and in-flight data for it is discarded.
    pub fn seek(&mut self, topic: &str, partition: i32, offset: i64) {
        let tp = self.tp(topic, partition);
        if let Some(s) = self.parts.get_mut(&tp) {
            s.position = Some(offset);
            s.fetch_offset = offset;
            s.epoch += 1;
            s.buffered = 0;
            s.need_committed = false;
            s.needs_reset = false;
            s.out_of_range = false;
            s.retry_at = None;
            self.completed.retain(|c| c.tp != tp);
        }
    }

    pub fn has_need_committed(&self) -> bool {
        self.parts.values().any(|s| s.need_committed)
    }

    /// Partitions waiting for their committed offset.
    pub fn need_committed(&self) -> Vec<(String, i32)> {
        let mut v: Vec<(String, i32)> = self
            .parts
            .iter()
            .filter(|(_, s)| s.need_committed)
            .map(|((t, p), _)| (t.to_string(), *p))
            .collect();
        v.sort();
        v
    }

    /// Applies OffsetFetch results: a committed offset becomes the position, none (-1)
    /// leaves the partition to `auto.offset.reset`.
    pub fn set_committed(&mut self, committed: &[(String, i32, i64)]) {
        for (t, p, off) in committed {
            let tp = self.tp(t, *p);
            let Some(s) = self.parts.get_mut(&tp) else {
                continue;
            };
            if !s.need_committed {
                continue;
            }
            s.need_committed = false;
            if *off >= 0 {
                s.position = Some(*off);
                s.fetch_offset = *off;
                s.epoch += 1;
            } else {
                s.needs_reset = true;
            }
        }
    }
}
