//! In-memory storage behind the same traits as the file storage: for tests and
//! simulation. Segments are not modelled; retention works per batch.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;

use super::{
    AppendInfo, CleanupOutcome, LogConfig, PartitionLog, ReadResult, Storage, StorageError,
};
use crate::record_batch::{self, BatchHeader};

#[derive(Default)]
struct Inner {
    logs: HashMap<(String, i32), Arc<Mutex<Vec<Stored>>>>,
    meta: HashMap<String, Vec<u8>>,
}

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
        Ok(out)
    }

    fn set_config(&mut self, _config: &LogConfig) {}

    fn delete(&mut self) -> Result<(), StorageError> {
        self.batches.lock().clear();
        self.start = self.end;
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
        let batches = self
            .inner
            .lock()
            .logs
            .entry((topic.to_string(), partition))
            .or_default()
            .clone();
        let (start, end) = {
            let b = batches.lock();
            (
                b.first().map_or(0, |s| s.header.base_offset),
                b.last().map_or(0, |s| s.header.next_offset()),
            )
        };
        Ok(Box::new(MemoryLog {
            batches,
            start,
            end,
        }))
    }

    fn list(&self) -> Result<Vec<(String, i32)>, StorageError> {
        Ok(self.inner.lock().logs.keys().cloned().collect())
    }

    fn remove(&self, topic: &str, partition: i32) -> Result<(), StorageError> {
        self.inner
            .lock()
            .logs
            .remove(&(topic.to_string(), partition));
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
