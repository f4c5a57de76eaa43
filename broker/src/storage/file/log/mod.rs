//! The partition log on disk: a directory of segments ordered by base offset, the last one
//! active (appended to). Rolls on `segment.bytes`, `segment.ms`, a full offset index or
//! relative offsets that would overflow; recovers (validates and truncates) on open;
//! applies retention and compaction to closed segments.

mod cleanup;
mod read;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use parking_lot::Mutex;

use super::segment::{self, Segment};
use super::{fsync_dir, io_err};
use crate::record_batch::{self, BatchError, BatchHeader, HEADER_LEN};
use crate::storage::{
    AppendInfo, CleanupOutcome, LogConfig, PartitionLog, ReadResult, StorageError,
};

use self::cleanup::{CompactionMark, CLEANED_SUFFIX};
use self::read::{CacheEntry, ReadCache};

/// One partition's log in a directory.
pub struct FileLog {
    dir: PathBuf,
    config: LogConfig,
    /// Ordered by base offset; never empty; the last one is active.
    segments: Vec<Segment>,
    log_start: i64,
    log_end: i64,
    size: u64,
    unflushed_records: i64,
    /// Files were created or deleted since the directory was last fsynced.
    dir_dirty: bool,
    read_cache: Mutex<ReadCache>,
    compaction_mark: Option<CompactionMark>,
}

impl std::fmt::Debug for FileLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileLog")
            .field("dir", &self.dir)
            .field("segments", &self.segments.len())
            .field("log_start", &self.log_start)
            .field("log_end", &self.log_end)
            .field("size", &self.size)
            .finish()
    }
}

fn corrupt(path: &Path, detail: impl Into<String>) -> StorageError {
    StorageError::Corrupt {
        path: path.display().to_string(),
        detail: detail.into(),
    }
}

impl FileLog {
    /// Opens (creating if needed) the log in `dir`, recovering every segment: each batch is
    /// validated (CRC32C, increasing offsets); at the first bad or torn batch the segment
    /// is truncated and every later segment deleted. Missing or inconsistent offset
    /// indexes are rebuilt.
    pub fn open(dir: impl Into<PathBuf>, config: &LogConfig) -> Result<FileLog, StorageError> {
        let dir = dir.into();
        let created = !dir.exists();
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        if created {
            if let Some(parent) = dir.parent() {
                fsync_dir(parent)?;
            }
        }

        let mut bases = Vec::new();
        let mut index_files = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| io_err(&dir, e))? {
            let entry = entry.map_err(|e| io_err(&dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            if name.ends_with(CLEANED_SUFFIX) {
                tracing::warn!(path = %entry.path().display(), "removing an unfinished compaction output");
                super::index::remove_if_exists(&entry.path())?;
            } else if let Some(base) = segment::parse_file_name(name, "log") {
                bases.push(base);
            } else if let Some(base) = segment::parse_file_name(name, "index") {
                index_files.push(base);
            }
        }
        bases.sort_unstable();
        for base in index_files {
            if bases.binary_search(&base).is_err() {
                super::index::remove_if_exists(&dir.join(segment::index_file_name(base)))?;
            }
        }

        let mut segments: Vec<Segment> = Vec::with_capacity(bases.len().max(1));
        let mut scan_buf = Vec::new();
        let mut dropped_from: Option<usize> = None;
        for (i, &base) in bases.iter().enumerate() {
            let min_offset = segments.last().map_or(base, |s: &Segment| s.next_offset());
            if base < min_offset {
                tracing::warn!(
                    dir = %dir.display(),
                    base_offset = base,
                    expected_at_least = min_offset,
                    "segment overlaps the previous one"
                );
                dropped_from = Some(i);
                break;
            }
            let (seg, truncation) = Segment::recover(
                &dir,
                base,
                min_offset,
                config.index_interval_bytes,
                &mut scan_buf,
            )?;
            segments.push(seg);
            if let Some(t) = truncation {
                tracing::warn!(
                    path = %dir.join(segment::log_file_name(base)).display(),
                    position = t.position,
                    bytes_dropped = t.bytes_dropped,
                    reason = %t.reason,
                    "truncated a corrupt or torn log segment"
                );
                dropped_from = Some(i + 1);
                break;
            }
        }
        if let Some(from) = dropped_from {
            for &base in &bases[from..] {
                let path = dir.join(segment::log_file_name(base));
                let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                tracing::warn!(
                    path = %path.display(),
                    bytes_dropped = bytes,
                    "deleting a log segment after a corrupt one"
                );
                super::index::remove_if_exists(&path)?;
                super::index::remove_if_exists(&dir.join(segment::index_file_name(base)))?;
            }
            fsync_dir(&dir)?;
        }

        let mut dir_dirty = false;
        if segments.is_empty() {
            segments.push(Segment::create(&dir, 0)?);
            dir_dirty = true;
        }
        let n = segments.len();
        segments[n - 1].activate()?;
        let log_start = segments[0].base_offset();
        let log_end = segments[n - 1].next_offset();
        let size = segments.iter().map(Segment::size).sum();
        let mut log = FileLog {
            dir,
            config: config.clone(),
            segments,
            log_start,
            log_end,
            size,
            unflushed_records: 0,
            dir_dirty,
            read_cache: Mutex::new(ReadCache::default()),
            compaction_mark: None,
        };
        if log.dir_dirty {
            log.flush()?;
        }
        Ok(log)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.iter().map(Segment::base_offset).collect()
    }

    fn last(&self) -> Result<&Segment, StorageError> {
        self.segments
            .last()
            .ok_or_else(|| corrupt(&self.dir, "log has no segment"))
    }

    fn last_mut(&mut self) -> Result<&mut Segment, StorageError> {
        let dir = &self.dir;
        self.segments
            .last_mut()
            .ok_or_else(|| corrupt(dir, "log has no segment"))
    }

    /// Index of the segment that would hold `offset`: the last with base <= offset.
    fn segment_for(&self, offset: i64) -> usize {
        self.segments
            .partition_point(|s| s.base_offset() <= offset)
            .saturating_sub(1)
    }

    fn roll(&mut self) -> Result<(), StorageError> {
        let mut seg = Segment::create(&self.dir, self.log_end)?;
        if let Err(e) = seg.activate() {
            // Leave nothing behind that would make the next roll fail.
            let _ = seg.delete_files();
            return Err(e);
        }
        self.last_mut()?.deactivate();
        self.segments.push(seg);
        self.dir_dirty = true;
        Ok(())
    }

    fn maybe_roll(
        &mut self,
        len: u64,
        header: &BatchHeader,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let c = &self.config;
        let active = self.last()?;
        if active.is_empty() {
            return Ok(());
        }
        let new_size = active.size() + len;
        let full = new_size > c.segment_bytes || new_size > i32::MAX as u64;
        let old = active
            .first_append_ms()
            .is_some_and(|t| now_ms.saturating_sub(t) > c.segment_ms);
        let index_full = active.index_is_full(c.segment_index_bytes);
        let offsets_overflow = header.last_offset() - active.base_offset() > i32::MAX as i64;
        if full || old || index_full || offsets_overflow {
            self.roll()?;
        }
        Ok(())
    }
}

impl PartitionLog for FileLog {
    fn append(&mut self, batch: &mut [u8], now_ms: i64) -> Result<AppendInfo, StorageError> {
        let header = BatchHeader::parse(batch)?;
        if header.size != batch.len() {
            return Err(StorageError::Batch(BatchError::InvalidLength(
                i32::try_from(batch.len()).unwrap_or(i32::MAX),
            )));
        }
        if header.last_offset_delta < 0 {
            return Err(corrupt(
                &self.dir,
                format!(
                    "appended batch has a negative last offset delta {}",
                    header.last_offset_delta
                ),
            ));
        }
        let base = self.log_end;
        record_batch::set_base_offset(batch, base);
        let header = BatchHeader {
            base_offset: base,
            ..header
        };
        self.maybe_roll(batch.len() as u64, &header, now_ms)?;
        let interval = self.config.index_interval_bytes;
        self.last_mut()?.append(batch, &header, interval, now_ms)?;
        self.size += batch.len() as u64;
        self.log_end = header.next_offset();
        self.unflushed_records = self
            .unflushed_records
            .saturating_add(header.record_count.max(0) as i64);
        if self.unflushed_records >= self.config.flush_messages {
            self.flush()?;
        }
        Ok(AppendInfo {
            base_offset: base,
            last_offset: header.last_offset(),
        })
    }

    fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadResult, StorageError> {
        if offset < self.log_start || offset > self.log_end {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                start: self.log_start,
                end: self.log_end,
            });
        }
        if offset == self.log_end {
            return Ok(self.result(Bytes::new()));
        }
        let hit = self.read_cache.lock().get(offset);
        let start = match hit {
            Some((_, e)) => {
                let idx = self
                    .segments
                    .binary_search_by_key(&e.segment_base, Segment::base_offset)
                    .ok();
                match idx {
                    Some(idx) => Some((idx, e.position)),
                    None => self.locate(offset)?,
                }
            }
            None => self.locate(offset)?,
        };
        let Some((mut idx, mut pos)) = start else {
            return Ok(self.result(Bytes::new()));
        };
        while pos >= self.segments[idx].size() {
            idx += 1;
            pos = 0;
            if idx >= self.segments.len() {
                return Ok(self.result(Bytes::new()));
            }
        }
        let (bytes, next) = self.read_batches(idx, pos, max_bytes)?;
        self.read_cache.lock().put(
            hit.map(|(slot, _)| slot),
            CacheEntry {
                valid: true,
                offset: next,
                segment_base: self.segments[idx].base_offset(),
                position: pos + bytes.len() as u64,
            },
        );
        Ok(self.result(Bytes::from(bytes)))
    }

    fn log_start_offset(&self) -> i64 {
        self.log_start
    }

    fn log_end_offset(&self) -> i64 {
        self.log_end
    }

    fn size_bytes(&self) -> u64 {
        self.size
    }

    fn segment_count(&self) -> usize {
        self.segments.len()
    }

    fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, StorageError> {
        for (idx, seg) in self.segments.iter().enumerate() {
            if seg.is_empty() || seg.max_timestamp() < timestamp {
                continue;
            }
            let mut found = None;
            self.scan_from(idx, seg.lookup_timestamp(timestamp), &mut |h, bytes| {
                if h.max_timestamp >= timestamp {
                    found = crate::storage::first_record_at_or_after(bytes, timestamp)?;
                }
                Ok(found.is_none())
            })?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    fn max_timestamp(&self) -> Result<Option<(i64, i64)>, StorageError> {
        // The first segment with the largest timestamp wins, as in Kafka.
        let mut best: Option<&Segment> = None;
        for seg in self.segments.iter().filter(|s| !s.is_empty()) {
            let better = match best {
                None => true,
                Some(b) => b.max_timestamp() < seg.max_timestamp(),
            };
            if better {
                best = Some(seg);
            }
        }
        let Some(seg) = best else {
            return Ok(None);
        };
        let pos = seg.max_timestamp_position();
        let mut head = [0u8; HEADER_LEN];
        seg.read_exact_at(&mut head, pos)?;
        let h = BatchHeader::parse(&head)
            .map_err(|e| corrupt(seg.log_path(), format!("at position {pos}: {e}")))?;
        if h.size as u64 > seg.size() - pos {
            return Err(corrupt(
                seg.log_path(),
                format!("batch at position {pos} runs past the segment end"),
            ));
        }
        let mut batch = vec![0u8; h.size];
        seg.read_exact_at(&mut batch, pos)?;
        crate::storage::record_with_timestamp(&batch, h.max_timestamp)
    }

    fn for_each_batch(
        &self,
        from_offset: i64,
        f: &mut dyn FnMut(&BatchHeader),
    ) -> Result<(), StorageError> {
        let Some((idx, pos)) = self.locate(from_offset.max(self.log_start))? else {
            return Ok(());
        };
        self.scan_from(idx, pos, &mut |h, _| {
            if h.last_offset() >= from_offset {
                f(h);
            }
            Ok(true)
        })
    }

    fn flush(&mut self) -> Result<(), StorageError> {
        for seg in &mut self.segments {
            seg.flush()?;
        }
        if self.dir_dirty {
            fsync_dir(&self.dir)?;
            self.dir_dirty = false;
        }
        self.unflushed_records = 0;
        Ok(())
    }

    fn cleanup(&mut self, config: &LogConfig, now_ms: i64) -> Result<CleanupOutcome, StorageError> {
        let mut out = CleanupOutcome::default();
        let result = (|| {
            if config.cleanup_policy.delete {
                self.apply_retention(config, now_ms, &mut out)?;
            }
            if config.cleanup_policy.compact {
                self.compact(config, now_ms, &mut out)?;
            }
            Ok(())
        })();
        // Positions may have moved even if a step failed half-way.
        self.read_cache.get_mut().clear();
        result.map(|()| out)
    }

    fn set_config(&mut self, config: &LogConfig) {
        self.config = config.clone();
    }

    fn truncate_to(&mut self, offset: i64) -> Result<(), StorageError> {
        if offset >= self.log_end {
            return Ok(());
        }
        let offset = offset.max(self.log_start);
        // (segment, byte position) of the first batch to drop.
        let (idx, pos) = self.locate(offset)?.unwrap_or((
            self.segments.len() - 1,
            self.segments[self.segments.len() - 1].size(),
        ));
        let keep_segments = if pos == 0 && idx > 0 { idx } else { idx + 1 };
        for seg in self.segments.drain(keep_segments..).rev() {
            seg.delete_files()?;
        }
        if let Some(seg) = self.segments.get_mut(idx) {
            seg.truncate_file(pos)?;
        }
        // Reopen: recovery rebuilds the segment states and indexes from the files.
        let (dir, config) = (self.dir.clone(), self.config.clone());
        self.segments.clear();
        fsync_dir(&dir)?;
        *self = FileLog::open(dir, &config)?;
        Ok(())
    }

    fn read_checkpoint(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let path = self.dir.join(name);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path, e)),
        }
    }

    fn write_checkpoint(&mut self, name: &str, data: &[u8]) -> Result<(), StorageError> {
        super::write_atomically(&self.dir, name, data)
    }

    fn delete(&mut self) -> Result<(), StorageError> {
        self.read_cache.get_mut().clear();
        self.compaction_mark = None;
        for seg in self.segments.drain(..) {
            seg.delete_files()?;
        }
        self.size = 0;
        self.log_start = self.log_end;
        self.dir_dirty = true;
        let mut seg = Segment::create(&self.dir, self.log_end)?;
        seg.activate()?;
        self.segments.push(seg);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
