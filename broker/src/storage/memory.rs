//! In-memory storage behind the same traits as the file storage: for tests and
//! simulation. Segments are not modelled; retention works per batch.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;

use super::compaction::{self, Compacted};
use super::{
    AppendInfo, CleanupOutcome, LogConfig, PartitionLog, ReadResult, Storage, StorageError,
};
use crate::record_batch::{self, BatchHeader};

#[derive(Default)]
struct Inner {
    logs: HashMap<(String, i32), Arc<Mutex<Vec<Stored>>>>,
    /// Per-partition checkpoint files.
    files: HashMap<(String, i32), Files>,
    meta: HashMap<String, Vec<u8>>,
}

type Files = Arc<Mutex<HashMap<String, Vec<u8>>>>;

#[derive(Clone)]
struct Stored {
    header: BatchHeader,
    bytes: Bytes,
    appended_ms: i64,
}

/// Storage kept in memory; logs survive `open` calls on the same instance (a restart
/// within one process) but not the process.
#[derive(Default, Clone)]
pub struct MemoryStorage {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::default()
    }
}

struct MemoryLog {
    batches: Arc<Mutex<Vec<Stored>>>,
    files: Files,
    start: i64,
    end: i64,
}

impl MemoryLog {
    fn first_index_containing(batches: &[Stored], offset: i64) -> usize {
        batches.partition_point(|b| b.header.last_offset() < offset)
    }
}

impl PartitionLog for MemoryLog {
    fn append(&mut self, batch: &mut [u8], now_ms: i64) -> Result<AppendInfo, StorageError> {
        record_batch::set_base_offset(batch, self.end);
        let header = BatchHeader::parse(batch)?;
        let info = AppendInfo {
            base_offset: header.base_offset,
            last_offset: header.last_offset(),
        };
        self.end = header.next_offset();
        self.batches.lock().push(Stored {
            header,
            bytes: Bytes::copy_from_slice(batch),
            appended_ms: now_ms,
        });
        Ok(info)
    }

    fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadResult, StorageError> {
        if offset < self.start || offset > self.end {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                start: self.start,
                end: self.end,
            });
        }
        let batches = self.batches.lock();
        let mut out = BytesMut::new();
        for b in &batches[Self::first_index_containing(&batches, offset)..] {
            if !out.is_empty() && out.len() + b.bytes.len() > max_bytes {
                break;
            }
            out.extend_from_slice(&b.bytes);
        }
        Ok(ReadResult {
            records: out.freeze(),
            log_start_offset: self.start,
            log_end_offset: self.end,
        })
    }

    fn log_start_offset(&self) -> i64 {
        self.start
    }
    fn log_end_offset(&self) -> i64 {
        self.end
    }
    fn size_bytes(&self) -> u64 {
        self.batches
            .lock()
            .iter()
            .map(|b| b.bytes.len() as u64)
            .sum()
    }
    fn segment_count(&self) -> usize {
        1
    }

    fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, StorageError> {
        let batches = self.batches.lock();
        for b in batches
            .iter()
            .filter(|b| b.header.max_timestamp >= timestamp)
        {
            if let Some(found) = super::first_record_at_or_after(&b.bytes, timestamp)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    fn max_timestamp(&self) -> Result<Option<(i64, i64)>, StorageError> {
        let batches = self.batches.lock();
        let best = batches.iter().max_by_key(|b| b.header.max_timestamp);
        match best {
            None => Ok(None),
            Some(b) => super::record_with_timestamp(&b.bytes, b.header.max_timestamp),
        }
    }

    fn for_each_batch(
        &self,
        from_offset: i64,
        f: &mut dyn FnMut(&BatchHeader),
    ) -> Result<(), StorageError> {
        let batches = self.batches.lock();
        for b in &batches[Self::first_index_containing(&batches, from_offset)..] {
            f(&b.header);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StorageError> {
        Ok(())
    }

    fn cleanup(&mut self, config: &LogConfig, now_ms: i64) -> Result<CleanupOutcome, StorageError> {
        let mut out = CleanupOutcome::default();
        let mut batches = self.batches.lock();
        if config.cleanup_policy.delete {
            let mut size: i64 = batches.iter().map(|b| b.bytes.len() as i64).sum();
            // Keep the last batch, as Kafka keeps the active segment.
            while batches.len() > 1 {
                let b = &batches[0];
                let too_old = config.retention_ms >= 0
                    && now_ms - b.header.max_timestamp.max(b.appended_ms) > config.retention_ms;
                let too_big = config.retention_bytes >= 0 && size > config.retention_bytes;
                if !(too_old || too_big) {
                    break;
                }
                size -= b.bytes.len() as i64;
                out.bytes_removed += b.bytes.len() as u64;
                out.records_removed += b.header.record_count.max(0) as u64;
                self.start = b.header.next_offset();
                batches.remove(0);
            }
        }
        if config.cleanup_policy.compact && batches.len() > 1 {
            // The last batch plays the active segment: a source of "latest", not rewritten.
            let results = {
                let all: Vec<&[u8]> = batches.iter().map(|b| &b.bytes[..]).collect();
                compaction::compact_batches(
                    &all,
                    all.len() - 1,
                    config.delete_retention_ms,
                    now_ms,
                )?
            };
            let mut kept = Vec::with_capacity(batches.len());
            let mut results = results.into_iter();
            for mut b in batches.drain(..) {
                let Some(c) = results.next() else {
                    kept.push(b);
                    continue;
                };
                out.records_removed += c.records_removed;
                match c.result {
                    Compacted::Unchanged => kept.push(b),
                    Compacted::Rewritten(bytes) => {
                        out.bytes_removed += b.bytes.len().saturating_sub(bytes.len()) as u64;
                        b.header = BatchHeader::parse(&bytes)?;
                        b.bytes = Bytes::from(bytes);
                        kept.push(b);
                    }
                    Compacted::Removed => out.bytes_removed += b.bytes.len() as u64,
                }
            }
            *batches = kept;
        }
        Ok(out)
    }

    fn set_config(&mut self, _config: &LogConfig) {}

    fn delete(&mut self) -> Result<(), StorageError> {
        self.batches.lock().clear();
        self.start = self.end;
        Ok(())
    }

    fn read_checkpoint(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.files.lock().get(name).cloned())
    }

    fn write_checkpoint(&mut self, name: &str, data: &[u8]) -> Result<(), StorageError> {
        self.files.lock().insert(name.to_string(), data.to_vec());
        Ok(())
    }

    fn truncate_to(&mut self, offset: i64) -> Result<(), StorageError> {
        if offset >= self.end {
            return Ok(());
        }
        let mut batches = self.batches.lock();
        let keep = Self::first_index_containing(&batches, offset.max(self.start));
        batches.truncate(keep);
        self.end = batches
            .last()
            .map_or(self.start, |b| b.header.next_offset().max(self.start));
        Ok(())
    }
}

impl Storage for MemoryStorage {
    fn open(
        &self,
        topic: &str,
        partition: i32,
        _config: &LogConfig,
    ) -> Result<Box<dyn PartitionLog>, StorageError> {
        let (batches, files) = {
            let mut inner = self.inner.lock();
            let key = (topic.to_string(), partition);
            let batches = inner.logs.entry(key.clone()).or_default().clone();
            (batches, inner.files.entry(key).or_default().clone())
        };
        let (start, end) = {
            let b = batches.lock();
            (
                b.first().map_or(0, |s| s.header.base_offset),
                b.last().map_or(0, |s| s.header.next_offset()),
            )
        };
        Ok(Box::new(MemoryLog {
            batches,
            files,
            start,
            end,
        }))
    }

    fn list(&self) -> Result<Vec<(String, i32)>, StorageError> {
        Ok(self.inner.lock().logs.keys().cloned().collect())
    }

    fn remove(&self, topic: &str, partition: i32) -> Result<(), StorageError> {
        let mut inner = self.inner.lock();
        let key = (topic.to_string(), partition);
        inner.logs.remove(&key);
        inner.files.remove(&key);
        Ok(())
    }

    fn read_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.inner.lock().meta.get(name).cloned())
    }

    fn write_meta(&self, name: &str, data: &[u8]) -> Result<(), StorageError> {
        self.inner
            .lock()
            .meta
            .insert(name.to_string(), data.to_vec());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::compaction::tests::batch_with;
    use crate::storage::{decode_records, CleanupPolicy};
    use kafka_protocol::records::Compression;

    #[test]
    fn compaction_keeps_latest_per_key() {
        let storage = MemoryStorage::new();
        let config = LogConfig {
            cleanup_policy: CleanupPolicy {
                delete: false,
                compact: true,
            },
            delete_retention_ms: 100,
            ..LogConfig::default()
        };
        let mut log = storage.open("t", 0, &config).expect("open");
        for (i, (k, v)) in [
            ("a", Some("1")),
            ("b", Some("1")),
            ("a", Some("2")),
            ("b", None),
            ("c", Some("1")),
        ]
        .into_iter()
        .enumerate()
        {
            let mut b = batch_with(0, &[(Some(k), v, 10 * i as i64)], -1, Compression::None);
            log.append(&mut b, 0).expect("append");
        }
        let out = log.cleanup(&config, 35).expect("cleanup");
        assert_eq!(out.records_removed, 2);
        let r = log.read(0, 1 << 20).expect("read");
        let recs: Vec<_> = decode_records(&r.records)
            .expect("decode")
            .into_iter()
            .map(|r| (r.offset, r.value.is_some()))
            .collect();
        assert_eq!(recs, vec![(2, true), (3, false), (4, true)]);
        // The tombstone (timestamp 30) goes once delete.retention.ms has passed.
        let out = log.cleanup(&config, 131).expect("cleanup");
        assert_eq!(out.records_removed, 1);
        let r = log.read(0, 1 << 20).expect("read");
        let offsets: Vec<_> = decode_records(&r.records)
            .expect("decode")
            .into_iter()
            .map(|r| r.offset)
            .collect();
        assert_eq!(offsets, vec![2, 4]);
        assert_eq!(log.log_end_offset(), 5);
    }
}
