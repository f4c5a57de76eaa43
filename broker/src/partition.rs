//! One topic partition on this broker: its log plus the idempotent-producer state and
//! the leader epoch cache, behind one lock so the sequence check, the append and the
//! epoch bookkeeping are atomic.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;

use crate::cluster::replica::ReplicaState;
use crate::producer_state::{ProducerStates, SeqCheck};
use crate::protocol::errors;
use crate::record_batch::BatchHeader;
use crate::replication::epoch_cache::{self, EpochCache};
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
    /// Which leader epoch wrote from which offset, persisted beside the log.
    epochs: EpochCache,
    tail: Tail,
}

impl Inner {
    /// Writes the epoch cache after a change. A failed write is logged, not fatal: the
    /// next open rebuilds the cache from the batches' epochs.
    fn save_epochs(&mut self, topic: &str, index: i32) -> Result<(), StorageError> {
        let text = self.epochs.encode();
        self.log
            .write_checkpoint(epoch_cache::FILE, text.as_bytes())
            .inspect_err(|e| {
                tracing::warn!(
                    topic,
                    partition = index,
                    "writing {} failed: {e}",
                    epoch_cache::FILE
                )
            })
    }
}

/// The epoch cache of a log just opened: the checkpoint file, cut to what recovery left
/// of the log, completed from the epochs of batches the file does not cover yet (a
/// crash between an append and the file's write). An unreadable file is ignored: the
/// batches rebuild it.
fn recover_epochs(
    log: &dyn PartitionLog,
    topic: &str,
    index: i32,
) -> Result<(EpochCache, bool), StorageError> {
    let mut dirty = false;
    let mut epochs = match log.read_checkpoint(epoch_cache::FILE)? {
        None => EpochCache::default(),
        Some(bytes) => match std::str::from_utf8(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|t| EpochCache::decode(t).map_err(|e| e.to_string()))
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(
                    topic,
                    partition = index,
                    "rebuilding the leader epoch cache from the log: {e}"
                );
                dirty = true;
                EpochCache::default()
            }
        },
    };
    dirty |= epochs.truncate_from_end(log.log_end_offset());
    dirty |= epochs.truncate_from_start(log.log_start_offset());
    Ok((epochs, dirty))
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
        let (mut epochs, mut dirty) = recover_epochs(log.as_ref(), &topic, index)?;
        let mut producers = ProducerStates::default();
        log.for_each_batch(log.log_start_offset(), &mut |h| {
            producers.record(h);
            if epochs
                .latest_epoch()
                .is_none_or(|l| h.partition_leader_epoch > l)
            {
                dirty |= epochs.assign(h.partition_leader_epoch, h.base_offset);
            }
        })?;
        let mut inner = Inner {
            log,
            producers,
            epochs,
            tail: Tail::default(),
        };
        if dirty {
            let _ = inner.save_epochs(&topic, index);
        }
        Ok(Partition {
            topic,
            index,
            inner: Mutex::new(inner),
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
        if inner
            .epochs
            .assign(header.partition_leader_epoch, info.base_offset)
        {
            let _ = inner.save_epochs(&self.topic, self.index);
        }
        inner
            .tail
            .push(info.base_offset, info.last_offset + 1, Bytes::from(buf));
        Ok(true)
    }

    /// Drops every batch at or after `offset` and rebuilds the idempotent-producer
    /// state from what is left. The epoch cache forgets epochs that start at or after
    /// the new log end (even when the log itself already ends there: an epoch a leader
    /// took without writing).
    pub fn truncate_to(&self, offset: i64) -> Result<(), StorageError> {
        let mut inner = self.inner.lock();
        inner.tail.clear();
        inner.log.truncate_to(offset)?;
        let end = inner.log.log_end_offset().min(offset);
        if inner.epochs.truncate_from_end(end) {
            inner.save_epochs(&self.topic, self.index)?;
        }
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
        if inner
            .epochs
            .assign(header.partition_leader_epoch, info.base_offset)
        {
            let _ = inner.save_epochs(&self.topic, self.index);
        }
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
        let out = f(inner.log.as_mut());
        // Retention may have moved the log start past old epochs.
        let start = inner.log.log_start_offset();
        if inner.epochs.truncate_from_start(start) {
            let _ = inner.save_epochs(&self.topic, self.index);
        }
        out
    }

    /// (epoch, end offset) for `epoch` in this log, for OffsetForLeaderEpoch (see
    /// [`EpochCache::end_offset_for`]).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        let inner = self.inner.lock();
        inner
            .epochs
            .end_offset_for(epoch, inner.log.log_end_offset())
    }

    /// A copy of the leader epoch cache.
    pub fn epochs(&self) -> EpochCache {
        self.inner.lock().epochs.clone()
    }

    /// A new leader records its epoch as starting at its log end (Kafka's `makeLeader`),
    /// so a follower asking about the previous epoch learns where it ended even before
    /// this leader writes.
    pub fn start_leader_epoch(&self, epoch: i32) {
        let mut inner = self.inner.lock();
        let end = inner.log.log_end_offset();
        if inner.epochs.assign(epoch, end) {
            let _ = inner.save_epochs(&self.topic, self.index);
        }
    }

    /// Runs `f` with read-only access to the log (ListOffsets, metrics).
    pub fn inspect<R>(&self, f: impl FnOnce(&dyn PartitionLog) -> R) -> R {
        f(self.inner.lock().log.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::epoch_cache::EpochEntry;
    use crate::storage::compaction::tests::batch_with;
    use crate::storage::file::FileStorage;
    use kafka_protocol::records::Compression;

    fn open(storage: &FileStorage) -> Partition {
        Partition::open(storage, Arc::from("t"), 0, &LogConfig::default()).expect("open")
    }

    /// Appends `n` records written in leader epoch `epoch`, as a leader does.
    fn append(p: &Partition, epoch: i32, n: usize) {
        let recs: Vec<_> = (0..n).map(|i| (None, Some("v"), i as i64)).collect();
        let mut batch = batch_with(0, &recs, -1, Compression::None);
        crate::record_batch::set_partition_leader_epoch(&mut batch, epoch);
        let header = BatchHeader::parse(&batch).expect("header");
        p.append(&mut batch, &header, 0).expect("append");
    }

    fn entries(p: &Partition) -> Vec<(i32, i64)> {
        p.epochs()
            .entries()
            .iter()
            .map(
                |&EpochEntry {
                     epoch,
                     start_offset,
                 }| (epoch, start_offset),
            )
            .collect()
    }

    fn checkpoint(dir: &std::path::Path) -> String {
        std::fs::read_to_string(dir.join("t-0").join(epoch_cache::FILE)).expect("checkpoint")
    }

    #[test]
    fn the_epoch_cache_is_persisted_truncated_and_reloaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = FileStorage::new(dir.path());
        let p = open(&storage);
        append(&p, -1, 1); // a producer's -1: no epoch
        append(&p, 1, 2);
        append(&p, 1, 1);
        append(&p, 3, 3);
        assert_eq!(entries(&p), vec![(1, 1), (3, 4)]);
        assert_eq!(checkpoint(dir.path()), "0\n2\n1 1\n3 4\n");
        assert_eq!(p.end_offset_for_epoch(1), (1, 4));
        assert_eq!(p.end_offset_for_epoch(3), (3, 7));
        drop(p);
        let p = open(&storage);
        assert_eq!(entries(&p), vec![(1, 1), (3, 4)]);
        // The batch 4..7 straddles 5 and goes whole, and with it epoch 3.
        p.truncate_to(5).expect("truncate");
        assert_eq!(p.offsets().1, 4);
        assert_eq!(entries(&p), vec![(1, 1)]);
        assert_eq!(checkpoint(dir.path()), "0\n1\n1 1\n");
        // A leader's epoch starts at its log end, before it writes; a later truncation
        // to that end forgets it (the epoch wrote nothing here).
        p.start_leader_epoch(4);
        assert_eq!(entries(&p), vec![(1, 1), (4, 4)]);
        p.truncate_to(4).expect("truncate");
        assert_eq!(entries(&p), vec![(1, 1)]);
        drop(p);
        assert_eq!(entries(&open(&storage)), vec![(1, 1)]);
    }

    #[test]
    fn recovery_keeps_the_epoch_cache_consistent_with_the_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = FileStorage::new(dir.path());
        let p = open(&storage);
        append(&p, 1, 2);
        append(&p, 3, 3);
        drop(p);
        // A torn tail: recovery drops the last batch, the cache forgets epoch 3.
        let seg = dir.path().join("t-0").join(format!("{:020}.log", 0));
        let len = std::fs::metadata(&seg).expect("segment").len();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&seg)
            .expect("open");
        f.set_len(len - 5).expect("tear");
        drop(f);
        let p = open(&storage);
        assert_eq!(p.offsets().1, 2);
        assert_eq!(entries(&p), vec![(1, 0)]);
        assert_eq!(checkpoint(dir.path()), "0\n1\n1 0\n");
        append(&p, 3, 3);
        drop(p);
        // A stale file (a crash before it was rewritten): the batches complete it.
        let file = dir.path().join("t-0").join(epoch_cache::FILE);
        std::fs::write(&file, "0\n1\n1 0\n").expect("write");
        assert_eq!(entries(&open(&storage)), vec![(1, 0), (3, 2)]);
        // A torn or garbled file: rebuilt from the batches' epochs.
        for garbage in ["0\n2\n1 0\n3", "", "zzz"] {
            std::fs::write(&file, garbage).expect("write");
            assert_eq!(
                entries(&open(&storage)),
                vec![(1, 0), (3, 2)],
                "{garbage:?}"
            );
            assert_eq!(checkpoint(dir.path()), "0\n2\n1 0\n3 2\n");
        }
    }

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
