//! Committed offsets, kept in memory and made durable in an internal compacted log
//! (`__consumer_offsets-0` under `log.dirs`, as Kafka keeps them in a topic): every
//! commit appends keyed records, a deletion appends tombstones, and start-up replays
//! the log. Compaction keeps the log small.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::record_batch::{self, BatchHeader, BatchSpec};
use crate::storage::{
    decode_records, CleanupPolicy, LogConfig, PartitionLog, Storage, StorageError,
};

pub const OFFSETS_LOG: &str = "__consumer_offsets";

/// One committed offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_ms: i64,
}

type TopicPartition = (String, i32);

pub struct OffsetStore {
    log: Mutex<Box<dyn PartitionLog>>,
    offsets: Mutex<HashMap<String, BTreeMap<TopicPartition, Committed>>>,
}

fn log_config() -> LogConfig {
    LogConfig {
        segment_bytes: 100 * 1024 * 1024,
        cleanup_policy: CleanupPolicy {
            delete: false,
            compact: true,
        },
        ..LogConfig::default()
    }
}

impl OffsetStore {
    /// Opens the offsets log and replays it.
    pub fn open(storage: &dyn Storage) -> Result<OffsetStore, StorageError> {
        let log = storage.open(OFFSETS_LOG, 0, &log_config())?;
        let mut offsets: HashMap<String, BTreeMap<TopicPartition, Committed>> = HashMap::new();
        let mut at = log.log_start_offset();
        while at < log.log_end_offset() {
            let read = log.read(at, 1 << 20)?;
            if read.records.is_empty() {
                break;
            }
            let mut last = at;
            let mut buf: &[u8] = &read.records;
            while let Ok(h) = BatchHeader::parse(buf) {
                if h.size > buf.len() {
                    break;
                }
                last = h.next_offset();
                buf = &buf[h.size..];
            }
            for r in decode_records(&read.records)? {
                let Some(key) = r
                    .key
                    .as_ref()
                    .and_then(|k| serde_json::from_slice::<(String, String, i32)>(k).ok())
                else {
                    continue;
                };
                let (group, topic, partition) = key;
                match r
                    .value
                    .as_ref()
                    .and_then(|v| serde_json::from_slice::<Committed>(v).ok())
                {
                    Some(c) => {
                        offsets
                            .entry(group)
                            .or_default()
                            .insert((topic, partition), c);
                    }
                    None => {
                        if let Some(g) = offsets.get_mut(&group) {
                            g.remove(&(topic, partition));
                        }
                    }
                }
            }
            at = last.max(at + 1);
        }
        offsets.retain(|_, g| !g.is_empty());
        Ok(OffsetStore {
            log: Mutex::new(log),
            offsets: Mutex::new(offsets),
        })
    }

    fn append(
        &self,
        entries: &[(String, String, i32, Option<Committed>)],
        now_ms: i64,
    ) -> Result<(), StorageError> {
        if entries.is_empty() {
            return Ok(());
        }
        let records = entries.iter().map(|(g, t, p, c)| {
            (
                serde_json::to_vec(&(g, t, p)).ok().map(Bytes::from),
                c.as_ref()
                    .and_then(|c| serde_json::to_vec(c).ok())
                    .map(Bytes::from),
                now_ms,
            )
        });
        let mut buf = record_batch::build(&BatchSpec::default(), records).map_err(|detail| {
            StorageError::Corrupt {
                path: OFFSETS_LOG.into(),
                detail,
            }
        })?;
        let mut log = self.log.lock();
        log.append(&mut buf, now_ms)?;
        Ok(())
    }

    /// Stores offsets for a group (one durable append for the whole commit).
    pub fn commit(
        &self,
        group: &str,
        entries: Vec<(String, i32, Committed)>,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let records: Vec<_> = entries
            .iter()
            .map(|(t, p, c)| (group.to_string(), t.clone(), *p, Some(c.clone())))
            .collect();
        self.append(&records, now_ms)?;
        let mut offsets = self.offsets.lock();
        let g = offsets.entry(group.to_string()).or_default();
        for (t, p, c) in entries {
            g.insert((t, p), c);
        }
        Ok(())
    }

    pub fn get(&self, group: &str, topic: &str, partition: i32) -> Option<Committed> {
        self.offsets
            .lock()
            .get(group)?
            .get(&(topic.to_string(), partition))
            .cloned()
    }

    /// Every committed offset of a group.
    pub fn group(&self, group: &str) -> BTreeMap<TopicPartition, Committed> {
        self.offsets.lock().get(group).cloned().unwrap_or_default()
    }

    pub fn groups(&self) -> Vec<String> {
        self.offsets.lock().keys().cloned().collect()
    }

    pub fn has_offsets(&self, group: &str) -> bool {
        self.offsets
            .lock()
            .get(group)
            .is_some_and(|g| !g.is_empty())
    }

    /// Removes the given offsets (None = all of the group's).
    pub fn delete(
        &self,
        group: &str,
        which: Option<&[TopicPartition]>,
        now_ms: i64,
    ) -> Result<usize, StorageError> {
        let doomed: Vec<TopicPartition> = {
            let offsets = self.offsets.lock();
            let Some(g) = offsets.get(group) else {
                return Ok(0);
            };
            match which {
                None => g.keys().cloned().collect(),
                Some(list) => list
                    .iter()
                    .filter(|tp| g.contains_key(*tp))
                    .cloned()
                    .collect(),
            }
        };
        let tombstones: Vec<_> = doomed
            .iter()
            .map(|(t, p)| (group.to_string(), t.clone(), *p, None))
            .collect();
        self.append(&tombstones, now_ms)?;
        let mut offsets = self.offsets.lock();
        if let Some(g) = offsets.get_mut(group) {
            for tp in &doomed {
                g.remove(tp);
            }
            if g.is_empty() {
                offsets.remove(group);
            }
        }
        Ok(doomed.len())
    }

    /// Drops offsets of the groups `expired` says are empty and older than the retention
    /// (`offsets.retention.minutes`, counted from the last commit).
    pub fn expire(
        &self,
        now_ms: i64,
        retention_ms: i64,
        is_empty: impl Fn(&str) -> bool,
    ) -> Result<usize, StorageError> {
        let stale: Vec<String> = self
            .offsets
            .lock()
            .iter()
            .filter(|(g, tps)| {
                is_empty(g) && tps.values().all(|c| now_ms - c.commit_ms > retention_ms)
            })
            .map(|(g, _)| g.clone())
            .collect();
        let mut n = 0;
        for g in stale {
            n += self.delete(&g, None, now_ms)?;
        }
        Ok(n)
    }

    /// Compacts the offsets log.
    pub fn cleanup(&self, now_ms: i64) -> Result<(), StorageError> {
        self.log.lock().cleanup(&log_config(), now_ms).map(|_| ())
    }

    pub fn flush(&self) -> Result<(), StorageError> {
        self.log.lock().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemoryStorage;

    fn c(offset: i64, commit_ms: i64) -> Committed {
        Committed {
            offset,
            leader_epoch: -1,
            metadata: None,
            commit_ms,
        }
    }

    #[test]
    fn commits_survive_reopen_and_tombstones_delete() {
        let storage = MemoryStorage::new();
        let s = OffsetStore::open(&storage).expect("open");
        s.commit(
            "g1",
            vec![("t".into(), 0, c(5, 1)), ("t".into(), 1, c(7, 1))],
            1,
        )
        .expect("commit");
        s.commit("g1", vec![("t".into(), 0, c(9, 2))], 2)
            .expect("commit");
        s.commit("g2", vec![("u".into(), 0, c(1, 2))], 2)
            .expect("commit");
        assert_eq!(s.delete("g2", None, 3).expect("delete"), 1);
        drop(s);
        let s = OffsetStore::open(&storage).expect("reopen");
        assert_eq!(s.get("g1", "t", 0).map(|c| c.offset), Some(9));
        assert_eq!(s.get("g1", "t", 1).map(|c| c.offset), Some(7));
        assert!(!s.has_offsets("g2"));
    }

    #[test]
    fn expiry_only_touches_empty_groups_past_retention() {
        let storage = MemoryStorage::new();
        let s = OffsetStore::open(&storage).expect("open");
        s.commit("old", vec![("t".into(), 0, c(1, 0))], 0)
            .expect("commit");
        s.commit("busy", vec![("t".into(), 0, c(1, 0))], 0)
            .expect("commit");
        s.commit("new", vec![("t".into(), 0, c(1, 900))], 900)
            .expect("commit");
        assert_eq!(s.expire(1000, 500, |g| g != "busy").expect("expire"), 1);
        assert!(!s.has_offsets("old"));
        assert!(s.has_offsets("busy") && s.has_offsets("new"));
    }
}
