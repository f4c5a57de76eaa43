//! What one consumer group saw of record keys: how many distinct keys, records per key,
//! keys that arrived from more than one partition of a topic (remapped when the topic
//! grew), and tombstones (a key with a null value) with the oldest one's age.
//!
//! Fed once per poll with the records' topic, run-wide partition id, key, whether the
//! value was null and its age (receive time minus the record's timestamp). Keys are
//! tracked per topic; past [`MAX_KEYS`] distinct keys per group new keys are no longer
//! tracked and the summary says `approximate`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::verify::PartitionId;

/// Distinct keys tracked per group (memory bound: a few tens of MB at most).
pub const MAX_KEYS: usize = 1_000_000;

/// The figures of one group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyCheckSummary {
    /// Distinct (topic, key) pairs received.
    pub keys: u64,
    /// Records with a key received (re-deliveries included).
    pub keyed_records: u64,
    /// Keys received from more than one partition of their topic.
    pub keys_remapped: u64,
    /// Tombstones (keyed records with a null value) received.
    pub tombstones: u64,
    /// The oldest tombstone when it was received (receive time minus its timestamp), ms.
    pub max_tombstone_age_ms: Option<i64>,
    /// More than [`MAX_KEYS`] keys: some were not tracked.
    pub approximate: bool,
}

impl KeyCheckSummary {
    /// Keyed records per distinct key (1 = every key once); `None` without keys.
    pub fn records_per_key(&self) -> Option<f64> {
        (self.keys > 0).then(|| self.keyed_records as f64 / self.keys as f64)
    }
}

#[derive(Debug, Clone, Copy)]
struct KeyState {
    /// The partition the key was first received from.
    first: PartitionId,
    moved: bool,
}

/// The keys of one topic, with where each was first seen.
type TopicKeys = HashMap<Box<[u8]>, KeyState>;

/// Key observations of one group.
#[derive(Debug, Default)]
pub struct KeyChecks {
    /// Per topic (a scenario has few: a scan beats hashing the name).
    topics: Vec<(String, TopicKeys)>,
    summary: KeyCheckSummary,
}

impl KeyChecks {
    pub fn new() -> KeyChecks {
        KeyChecks::default()
    }

    /// One record received from `topic` / `pid`; `tombstone`: its value was null;
    /// `age_ms`: receive time minus the record's timestamp.
    pub fn received(
        &mut self,
        topic: &str,
        pid: PartitionId,
        key: Option<&[u8]>,
        tombstone: bool,
        age_ms: i64,
    ) {
        let Some(key) = key else {
            return;
        };
        let s = &mut self.summary;
        s.keyed_records += 1;
        if tombstone {
            s.tombstones += 1;
            s.max_tombstone_age_ms = Some(s.max_tombstone_age_ms.map_or(age_ms, |a| a.max(age_ms)));
        }
        let at = match self.topics.iter().position(|(t, _)| t == topic) {
            Some(i) => i,
            None => {
                self.topics.push((topic.to_string(), HashMap::new()));
                self.topics.len() - 1
            }
        };
        let keys = &mut self.topics[at].1;
        match keys.get_mut(key) {
            Some(k) => {
                if !k.moved && k.first != pid {
                    k.moved = true;
                    s.keys_remapped += 1;
                }
            }
            None if (s.keys as usize) < MAX_KEYS => {
                keys.insert(
                    key.into(),
                    KeyState {
                        first: pid,
                        moved: false,
                    },
                );
                s.keys += 1;
            }
            None => s.approximate = true,
        }
    }

    pub fn summary(&self) -> KeyCheckSummary {
        self.summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_records_and_remaps() {
        let mut k = KeyChecks::new();
        for _ in 0..3 {
            k.received("t", 0, Some(b"a"), false, 5);
        }
        k.received("t", 1, Some(b"b"), false, 5);
        k.received("t", 1, None, false, 5);
        let s = k.summary();
        assert_eq!((s.keys, s.keyed_records, s.keys_remapped), (2, 4, 0));
        assert_eq!(s.records_per_key(), Some(2.0));
        // "a" now arrives from partition 2 (the topic grew): remapped once, however
        // many records follow there or back on partition 0.
        k.received("t", 2, Some(b"a"), false, 5);
        k.received("t", 2, Some(b"a"), false, 5);
        k.received("t", 0, Some(b"a"), false, 5);
        assert_eq!(k.summary().keys_remapped, 1);
        // The same key in another topic is another key, not a remap.
        k.received("u", 7, Some(b"b"), false, 5);
        let s = k.summary();
        assert_eq!((s.keys, s.keys_remapped), (3, 1));
        assert!(!s.approximate);
    }

    #[test]
    fn tombstones_and_their_age() {
        let mut k = KeyChecks::new();
        assert_eq!(k.summary().max_tombstone_age_ms, None);
        assert_eq!(k.summary().records_per_key(), None);
        k.received("t", 0, Some(b"a"), true, 1200);
        k.received("t", 0, Some(b"b"), true, 14_000);
        k.received("t", 0, Some(b"c"), false, 20_000);
        // A null value without a key is no tombstone.
        k.received("t", 0, None, true, 30_000);
        let s = k.summary();
        assert_eq!(s.tombstones, 2);
        assert_eq!(s.max_tombstone_age_ms, Some(14_000));
    }
}
