//! The high-watermark checkpoint (Kafka's `replication-offset-checkpoint`): each node
//! writes its partitions' high watermarks beside its logs every second and at a clean
//! stop, and reads them back at start-up: a restarted follower without a leader epoch
//! cache truncates to it (instead of its whole log), and a leader starts its high
//! watermark from it. (The leader epoch cache is per partition, kept by
//! [`crate::partition::Partition`] in the partition directory.)

use std::collections::BTreeMap;

use crate::storage::{Storage, StorageError};
use crate::topics::TopicRegistry;

const FILE: &str = "replication-offset-checkpoint";

type Checkpoint = BTreeMap<String, BTreeMap<i32, i64>>;

/// Sets every local partition's known high watermark from the checkpoint (0 where
/// there is none). A missing or unreadable checkpoint only costs refetching.
pub fn restore(storage: &dyn Storage, topics: &TopicRegistry) -> Result<(), StorageError> {
    let saved: Checkpoint = match storage.read_meta(FILE)? {
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!("ignoring an unreadable {FILE}: {e}");
            Checkpoint::new()
        }),
        None => Checkpoint::new(),
    };
    for topic in topics.all() {
        for p in topic.partitions() {
            let hw = saved
                .get(&*topic.name)
                .and_then(|t| t.get(&p.index))
                .copied()
                .unwrap_or(0);
            let (_, end) = p.offsets();
            p.replica.lock().restore_high_watermark(hw.min(end));
        }
    }
    Ok(())
}

/// Writes the high watermarks of every local partition.
pub fn write(storage: &dyn Storage, topics: &TopicRegistry) -> Result<(), StorageError> {
    let mut out = Checkpoint::new();
    for topic in topics.all() {
        let entry = out.entry(topic.name.to_string()).or_default();
        for p in topic.partitions() {
            entry.insert(p.index, p.high_watermark());
        }
    }
    let bytes = serde_json::to_vec(&out).map_err(|e| StorageError::Corrupt {
        path: FILE.into(),
        detail: e.to_string(),
    })?;
    storage.write_meta(FILE, &bytes)
}
