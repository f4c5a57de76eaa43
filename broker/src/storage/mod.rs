//! Log storage: one append-only log per topic partition, holding Kafka v2 record batches
//! byte-for-byte as the producer sent them (only the base offset is rewritten).
//!
//! Two backends implement the same traits: [`file::FileStorage`] (segment files with an
//! offset index under `log.dirs`, as Kafka lays them out) and [`memory::MemoryStorage`]
//! (tests, simulation).

pub mod compaction;
pub mod file;
pub mod memory;

use bytes::Bytes;
use thiserror::Error;

use crate::record_batch::{BatchError, BatchHeader};

#[derive(Debug, Error)]
pub enum StorageError {
    #[error("i/o error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid record batch: {0}")]
    Batch(#[from] BatchError),
    #[error("offset {offset} is out of range [{start}, {end}]")]
    OffsetOutOfRange { offset: i64, start: i64, end: i64 },
    #[error("corrupt log {path}: {detail}")]
    Corrupt { path: String, detail: String },
}

impl StorageError {
    pub fn io(path: impl Into<String>, source: std::io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }
}

/// `cleanup.policy` of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

impl CleanupPolicy {
    pub const DELETE: CleanupPolicy = CleanupPolicy {
        delete: true,
        compact: false,
    };
}

/// The per-partition settings the log needs (a subset of the topic config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll a new segment once the active one reaches this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll a new segment once the active one is this old (by first append).
    pub segment_ms: i64,
    /// `retention.ms`; -1 = unlimited.
    pub retention_ms: i64,
    /// `retention.bytes` per partition; -1 = unlimited.
    pub retention_bytes: i64,
    pub cleanup_policy: CleanupPolicy,
    /// `index.interval.bytes`: an offset-index entry every this many bytes.
    pub index_interval_bytes: u64,
    /// `segment.index.bytes`: maximum size of one offset index file.
    pub segment_index_bytes: u64,
    /// `delete.retention.ms`: how long tombstones survive compaction.
    pub delete_retention_ms: i64,
    /// `flush.messages`: fsync after this many appended records (Kafka default: never).
    pub flush_messages: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1_073_741_824,
            segment_ms: 604_800_000,
            retention_ms: 604_800_000,
            retention_bytes: -1,
            cleanup_policy: CleanupPolicy::DELETE,
            index_interval_bytes: 4096,
            segment_index_bytes: 10_485_760,
            delete_retention_ms: 86_400_000,
            flush_messages: i64::MAX,
        }
    }
}

/// Where an appended batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
}

/// What a read returned: whole batches starting with the one that contains the offset.
#[derive(Debug, Clone, Default)]
pub struct ReadResult {
    /// Concatenated batches; may be empty.
    pub records: Bytes,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// What a retention or compaction pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanupOutcome {
    pub segments_deleted: u64,
    pub bytes_removed: u64,
    pub records_removed: u64,
}

/// One partition's log. Methods take `now_ms` where time matters (principle: time is
/// injected), never reading a clock themselves.
pub trait PartitionLog: Send {
    /// Appends one batch whose header and CRC the caller has already verified, assigning
    /// it the next offset (the base offset in `batch` is overwritten).
    fn append(&mut self, batch: &mut [u8], now_ms: i64) -> Result<AppendInfo, StorageError>;

    /// Reads whole batches beginning with the one containing `offset`, up to about
    /// `max_bytes`; at least one whole batch is returned if `offset < log_end_offset`
    /// even when it is larger than `max_bytes` (Kafka's rule, so consumers make progress).
    fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadResult, StorageError>;

    fn log_start_offset(&self) -> i64;
    fn log_end_offset(&self) -> i64;
    /// Total bytes of all segments.
    fn size_bytes(&self) -> u64;
    fn segment_count(&self) -> usize;

    /// First record with timestamp >= `timestamp`: (offset, its timestamp).
    fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, StorageError>;
    /// The record with the largest timestamp: (offset, timestamp), for ListOffsets -3.
    fn max_timestamp(&self) -> Result<Option<(i64, i64)>, StorageError>;

    /// Visits the header of every batch at or after `from_offset`, in order (used to
    /// rebuild idempotent-producer state after a restart).
    fn for_each_batch(
        &self,
        from_offset: i64,
        f: &mut dyn FnMut(&BatchHeader),
    ) -> Result<(), StorageError>;

    /// Makes everything appended so far durable (fsync for files).
    fn flush(&mut self) -> Result<(), StorageError>;

    /// Applies `retention.ms` / `retention.bytes` (whole closed segments only) and, when
    /// the policy includes compact, compaction of closed segments.
    fn cleanup(&mut self, config: &LogConfig, now_ms: i64) -> Result<CleanupOutcome, StorageError>;

    /// Takes a new config (e.g. after IncrementalAlterConfigs).
    fn set_config(&mut self, config: &LogConfig);

    /// Removes every record (used before deleting the partition's files).
    fn delete(&mut self) -> Result<(), StorageError>;

    /// Removes every batch that holds an offset at or after `offset` (a follower
    /// dropping what a new leader does not have). A batch straddling `offset` goes as a
    /// whole, so the log end offset afterwards is at most `offset`; below the log start
    /// the log is emptied at its start offset.
    fn truncate_to(&mut self, offset: i64) -> Result<(), StorageError>;

    /// Reads a small file kept with this partition's log (Kafka's
    /// `leader-epoch-checkpoint` in the partition directory); `None` when absent.
    fn read_checkpoint(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Atomically replaces such a file (write temp + fsync + rename).
    fn write_checkpoint(&mut self, name: &str, data: &[u8]) -> Result<(), StorageError>;
}

/// A set of partition logs: opens (recovering on open), lists and deletes them.
pub trait Storage: Send + Sync {
    /// Opens the partition's log, creating it if missing and recovering it if present:
    /// every batch with a valid CRC is kept, a torn or corrupt tail is truncated.
    fn open(
        &self,
        topic: &str,
        partition: i32,
        config: &LogConfig,
    ) -> Result<Box<dyn PartitionLog>, StorageError>;

    /// Partitions present in storage (from a previous run).
    fn list(&self) -> Result<Vec<(String, i32)>, StorageError>;

    /// Deletes the partition's data.
    fn remove(&self, topic: &str, partition: i32) -> Result<(), StorageError>;

    /// Reads a small metadata file (topics, producer ids, committed offsets) kept beside
    /// the logs; `None` when absent.
    fn read_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Atomically replaces a metadata file (write temp + fsync + rename).
    fn write_meta(&self, name: &str, data: &[u8]) -> Result<(), StorageError>;
}

/// Decodes one stored batch and returns the first record with timestamp >= `timestamp`.
pub(crate) fn first_record_at_or_after(
    batch: &[u8],
    timestamp: i64,
) -> Result<Option<(i64, i64)>, StorageError> {
    Ok(decode_records(batch)?
        .into_iter()
        .find(|r| r.timestamp >= timestamp)
        .map(|r| (r.offset, r.timestamp)))
}

/// Decodes one stored batch and returns the first record carrying exactly `timestamp`.
pub(crate) fn record_with_timestamp(
    batch: &[u8],
    timestamp: i64,
) -> Result<Option<(i64, i64)>, StorageError> {
    Ok(decode_records(batch)?
        .into_iter()
        .find(|r| r.timestamp == timestamp)
        .map(|r| (r.offset, r.timestamp)))
}

/// Decodes (and decompresses) the records of stored batches.
pub(crate) fn decode_records(
    batches: &[u8],
) -> Result<Vec<kafka_protocol::records::Record>, StorageError> {
    let mut buf = Bytes::copy_from_slice(batches);
    let mut out = Vec::new();
    while !buf.is_empty() {
        let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut buf).map_err(|e| {
            StorageError::Corrupt {
                path: String::new(),
                detail: e.to_string(),
            }
        })?;
        out.extend(set.records);
    }
    Ok(out)
}
