//! One topic partition on this broker: its log plus the idempotent-producer state, behind
//! one lock so the sequence check and the append are atomic.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::producer_state::{ProducerStates, SeqCheck};
use crate::protocol::errors;
use crate::record_batch::BatchHeader;
use crate::storage::{AppendInfo, LogConfig, PartitionLog, ReadResult, Storage, StorageError};

pub struct Partition {
    pub topic: Arc<str>,
    pub index: i32,
    inner: Mutex<Inner>,
}

struct Inner {
    log: Box<dyn PartitionLog>,
    producers: ProducerStates,
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
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl AppendError {
    pub fn code(&self) -> i16 {
        match self {
            AppendError::Sequence(code) => *code,
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
            inner: Mutex::new(Inner { log, producers }),
        })
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
        Ok(Appended::New(info))
    }

    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadResult, StorageError> {
        self.inner.lock().log.read(offset, max_bytes)
    }

    /// (log start offset, log end offset).
    pub fn offsets(&self) -> (i64, i64) {
        let inner = self.inner.lock();
        (inner.log.log_start_offset(), inner.log.log_end_offset())
    }

    /// Runs `f` with the log locked (ListOffsets, retention, metrics).
    pub fn with_log<R>(&self, f: impl FnOnce(&mut dyn PartitionLog) -> R) -> R {
        f(self.inner.lock().log.as_mut())
    }
}
