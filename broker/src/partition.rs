//! One topic partition on this broker: its log plus the idempotent-producer state, behind
//! one lock so the sequence check and the append are atomic.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;

use crate::cluster::replica::ReplicaState;
use crate::producer_state::{ProducerStates, SeqCheck};
use crate::protocol::errors;
use crate::record_batch::BatchHeader;
use crate::storage::{AppendInfo, LogConfig, PartitionLog, ReadResult, Storage, StorageError};

pub struct Partition {
    pub topic: Arc<str>,
    pub index: i32,
    inner: Mutex<Inner>,
    /// Its role in a cluster (leader with ISR, follower, ...); `Single` outside one.
    /// Never locked while `inner` is held by the same caller, nor the other way round.
    pub replica: Mutex<ReplicaState>,
}

struct Inner {
    log: Box<dyn PartitionLog>,
    producers: ProducerStates,
    tail: Tail,
}

/// The most recently appended batches, kept in memory so consumers reading at the head
/// of the log (the common case) are served without touching the file.
#[derive(Default)]
struct Tail {
    /// (base offset, next offset, batch bytes), in offset order.
    batches: VecDeque<(i64, i64, Bytes)>,
    bytes: usize,
}

/// Bytes of recent batches kept per partition.
const TAIL_BYTES: usize = 256 * 1024;

impl Tail {
    fn push(&mut self, base: i64, next: i64, batch: Bytes) {
        self.bytes += batch.len();
        self.batches.push_back((base, next, batch));
        while self.bytes > TAIL_BYTES && self.batches.len() > 1 {
            if let Some((_, _, b)) = self.batches.pop_front() {
                self.bytes -= b.len();
            }
        }
    }

    fn clear(&mut self) {
        self.batches.clear();
        self.bytes = 0;
    }

    /// Whole batches from the one containing `offset`, if the tail covers it.
    fn read(&self, offset: i64, max_bytes: usize) -> Option<Bytes> {
        let first = self.batches.front()?;
        if offset < first.0 {
            return None;
        }
        let start = self.batches.partition_point(|(_, next, _)| *next <= offset);
        let mut picked = self.batches.range(start..);
        let (_, _, one) = picked.next()?;
        let mut total = one.len();
        let more: Vec<&Bytes> = picked
            .map(|(_, _, b)| b)
            .take_while(|b| {
                total += b.len();
                total <= max_bytes
            })
            .collect();
        if more.is_empty() {
            return Some(one.clone());
        }
        let mut out = BytesMut::with_capacity(total);
        out.extend_from_slice(one);
        for b in more {
            out.extend_from_slice(b);
        }
        Some(out.freeze())
    }
}

/// Result of a successful produce to this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    New(AppendInfo),
    /// An idempotent retry of a batch already in the log, at this base offset.
    Duplicate(i64),
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("sequence check failed with Kafka error {0}")]
    Sequence(i16),
    #[error(
        "replicated batch at offset {base}..{next} does not continue the log end offset {end}"
    )]
    NotContiguous { base: i64, next: i64, end: i64 },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl AppendError {
    pub fn code(&self) -> i16 {
        match self {
            AppendError::Sequence(code) => *code,
            AppendError::NotContiguous { .. } => errors::UNKNOWN_SERVER_ERROR,
            AppendError::Storage(StorageError::Batch(_)) => errors::CORRUPT_MESSAGE,
            AppendError::Storage(_) => errors::UNKNOWN_SERVER_ERROR,
        }
    }
}

impl Partition {
    /// Opens (recovering) the log and rebuilds producer state from the batches in it.
    pub fn open(
        storage: &dyn Storage,
        topic: Arc<str>,
        index: i32,
        config: &LogConfig,
    ) -> Result<Partition, StorageError> {
        let log = storage.open(&topic, index, config)?;
        let mut producers = ProducerStates::default();
        log.for_each_batch(log.log_start_offset(), &mut |h| producers.record(h))?;
        Ok(Partition {
            topic,
            index,
            inner: Mutex::new(Inner {
                log,
                producers,
                tail: Tail::default(),
            }),
            replica: Mutex::new(ReplicaState::default()),
        })
    }

    /// A follower appends a batch fetched from its leader at the leader's offsets
    /// (`header` parsed with its CRC verified). Batches it already holds are skipped
    /// (`Ok(false)`); a gap or an overlap is an error.
    pub fn append_replica(
        &self,
        batch: &[u8],
        header: &BatchHeader,
        now_ms: i64,
    ) -> Result<bool, AppendError> {
        let mut inner = self.inner.lock();
        let end = inner.log.log_end_offset();
        if header.next_offset() <= end {
            return Ok(false);
        }
        if header.base_offset != end {
            return Err(AppendError::NotContiguous {
                base: header.base_offset,
                next: header.next_offset(),
                end,
            });
        }
        let mut buf = batch.to_vec();
        // The log assigns the next offset, which is the leader's base offset.
        let info = inner.log.append(&mut buf, now_ms)?;
        debug_assert_eq!(info.base_offset, header.base_offset);
        inner.producers.record(header);
        inner
            .tail
            .push(info.base_offset, info.last_offset + 1, Bytes::from(buf));
        Ok(true)
    }

    /// Drops every batch at or after `offset` and rebuilds the idempotent-producer
    /// state from what is left.
    pub fn truncate_to(&self, offset: i64) -> Result<(), StorageError> {
        let mut inner = self.inner.lock();
        inner.tail.clear();
        inner.log.truncate_to(offset)?;
        let mut producers = ProducerStates::default();
        let start = inner.log.log_start_offset();
        inner
            .log
            .for_each_batch(start, &mut |h| producers.record(h))?;
        inner.producers = producers;
        Ok(())
    }

    /// Records below this offset are committed: all of them in single-node mode.
    pub fn high_watermark(&self) -> i64 {
        let (_, end) = self.offsets();
        self.replica.lock().high_watermark(end)
    }

    /// Appends a verified batch unless it is an idempotent duplicate.
    pub fn append(
        &self,
        batch: &mut [u8],
        header: &BatchHeader,
        now_ms: i64,
    ) -> Result<Appended, AppendError> {
        let mut inner = self.inner.lock();
        match inner.producers.check(header) {
            SeqCheck::Append => {}
            SeqCheck::Duplicate { base_offset } => return Ok(Appended::Duplicate(base_offset)),
            SeqCheck::OutOfOrder => {
                return Err(AppendError::Sequence(errors::OUT_OF_ORDER_SEQUENCE_NUMBER))
            }
            SeqCheck::Fenced => return Err(AppendError::Sequence(errors::INVALID_PRODUCER_EPOCH)),
            SeqCheck::UnknownProducer => {
                return Err(AppendError::Sequence(errors::UNKNOWN_PRODUCER_ID))
            }
        }
        let info = inner.log.append(batch, now_ms)?;
        let mut stored = *header;
        stored.base_offset = info.base_offset;
        inner.producers.record(&stored);
        inner.tail.push(
            info.base_offset,
            info.last_offset + 1,
            Bytes::copy_from_slice(batch),
        );
        Ok(Appended::New(info))
    }

    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadResult, StorageError> {
        let inner = self.inner.lock();
        let (start, end) = (inner.log.log_start_offset(), inner.log.log_end_offset());
        if offset >= start && offset < end {
            if let Some(records) = inner.tail.read(offset, max_bytes) {
                return Ok(ReadResult {
                    records,
                    log_start_offset: start,
                    log_end_offset: end,
                });
            }
        }
        inner.log.read(offset, max_bytes)
    }

    /// (log start offset, log end offset).
    pub fn offsets(&self) -> (i64, i64) {
        let inner = self.inner.lock();
        (inner.log.log_start_offset(), inner.log.log_end_offset())
    }

    /// Runs `f` with the log locked, for changes (retention, deletion, config, flush);
    /// the in-memory tail is dropped since the log may have changed under it.
    pub fn with_log<R>(&self, f: impl FnOnce(&mut dyn PartitionLog) -> R) -> R {
        let mut inner = self.inner.lock();
        inner.tail.clear();
        f(inner.log.as_mut())
    }

    /// Runs `f` with read-only access to the log (ListOffsets, metrics).
    pub fn inspect<R>(&self, f: impl FnOnce(&dyn PartitionLog) -> R) -> R {
        f(self.inner.lock().log.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_serves_whole_batches_from_the_containing_one() {
        let mut t = Tail::default();
        t.push(0, 3, Bytes::from_static(b"aaa"));
        t.push(3, 5, Bytes::from_static(b"bb"));
        t.push(5, 9, Bytes::from_static(b"cccc"));
        assert_eq!(t.read(4, 100).as_deref(), Some(&b"bbcccc"[..]));
        assert_eq!(t.read(0, 4).as_deref(), Some(&b"aaa"[..]));
        assert_eq!(
            t.read(5, 1).as_deref(),
            Some(&b"cccc"[..]),
            "at least one batch"
        );
        assert_eq!(t.read(9, 10), None);
        t.clear();
        assert_eq!(t.read(4, 10), None);
    }
}
