//! The partition log on disk: a directory of segments ordered by base offset, the last one
//! active (appended to). Rolls on `segment.bytes`, `segment.ms`, a full offset index or
//! relative offsets that would overflow; recovers (validates and truncates) on open;
//! applies retention and compaction to closed segments.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use parking_lot::Mutex;

use super::segment::{self, ScanItem, Segment};
use super::{fsync_dir, io_err};
use crate::record_batch::{self, BatchError, BatchHeader, HEADER_LEN};
use crate::storage::compaction::{self, Compacted, KeyMap};
use crate::storage::{
    AppendInfo, CleanupOutcome, LogConfig, PartitionLog, ReadResult, StorageError,
};

/// Bytes read at a time while looking for the batch containing an offset.
const LOCATE_WINDOW: usize = 8 * 1024;
/// Positions remembered for readers that continue where they stopped.
const READ_CACHE_SLOTS: usize = 4;
/// Suffix of a segment being rewritten by compaction (deleted on recovery).
const CLEANED_SUFFIX: &str = ".cleaned";

/// "The next read at `offset` starts at `position` of the segment based at `segment_base`".
#[derive(Debug, Clone, Copy, Default)]
struct CacheEntry {
    valid: bool,
    offset: i64,
    segment_base: i64,
    position: u64,
}

#[derive(Debug, Default)]
struct ReadCache {
    slots: [CacheEntry; READ_CACHE_SLOTS],
    next: usize,
}

impl ReadCache {
    fn get(&self, offset: i64) -> Option<(usize, CacheEntry)> {
        self.slots
            .iter()
            .enumerate()
            .find(|(_, e)| e.valid && e.offset == offset)
            .map(|(i, e)| (i, *e))
    }

    /// Records where a read ended; `hit` is the slot the read started from, reused so a
    /// sequential reader keeps one slot.
    fn put(&mut self, hit: Option<usize>, entry: CacheEntry) {
        let slot = match hit {
            Some(i) => i,
            None => {
                let i = self.next;
                self.next = (self.next + 1) % READ_CACHE_SLOTS;
                i
            }
        };
        self.slots[slot] = entry;
    }

    fn clear(&mut self) {
        *self = ReadCache::default();
    }
}

/// What the last compaction pass saw, to skip passes that cannot change anything.
#[derive(Debug, Clone, Copy)]
struct CompactionMark {
    log_end: i64,
    delete_retention_ms: i64,
    next_tombstone_expiry_ms: Option<i64>,
}

/// Called for each batch of a scan; returns whether to go on.
type BatchVisitor<'a> = dyn FnMut(&BatchHeader, &[u8]) -> Result<bool, StorageError> + 'a;

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

    /// Segment and position of the first batch whose last offset is >= `offset`, found via
    /// the offset index and a forward scan of batch headers; `None` past the end.
    fn locate(&self, offset: i64) -> Result<Option<(usize, u64)>, StorageError> {
        let mut idx = self.segment_for(offset);
        let mut pos = self.segments[idx].lookup(offset);
        let mut window = [0u8; LOCATE_WINDOW];
        loop {
            let seg = &self.segments[idx];
            if pos >= seg.size() {
                idx += 1;
                if idx >= self.segments.len() {
                    return Ok(None);
                }
                pos = 0;
                continue;
            }
            let n = (seg.size() - pos).min(LOCATE_WINDOW as u64) as usize;
            seg.read_exact_at(&mut window[..n], pos)?;
            let mut at = 0usize;
            while at + HEADER_LEN <= n {
                let h = BatchHeader::parse(&window[at..n]).map_err(|e| {
                    corrupt(
                        seg.log_path(),
                        format!("at position {}: {e}", pos + at as u64),
                    )
                })?;
                if h.last_offset() >= offset {
                    return Ok(Some((idx, pos + at as u64)));
                }
                at += h.size;
            }
            if at == 0 {
                return Err(corrupt(
                    seg.log_path(),
                    format!("partial batch header at position {pos}"),
                ));
            }
            pos += at as u64;
        }
    }

    /// Reads whole batches from `pos` of segment `idx`: as many as fit in `max_bytes`, at
    /// least the first. Returns the bytes and the offset after the last batch.
    fn read_batches(
        &self,
        idx: usize,
        pos: u64,
        max_bytes: usize,
    ) -> Result<(Vec<u8>, i64), StorageError> {
        let seg = &self.segments[idx];
        let avail = seg.size() - pos;
        let want = avail.min(max_bytes.max(HEADER_LEN) as u64) as usize;
        let mut buf = vec![0u8; want];
        seg.read_exact_at(&mut buf, pos)?;
        let mut cut = 0usize;
        let mut next = seg.base_offset();
        while cut + HEADER_LEN <= buf.len() {
            let h = BatchHeader::parse(&buf[cut..]).map_err(|e| {
                corrupt(
                    seg.log_path(),
                    format!("at position {}: {e}", pos + cut as u64),
                )
            })?;
            if cut + h.size > buf.len() {
                if cut == 0 {
                    if h.size as u64 > avail {
                        return Err(corrupt(
                            seg.log_path(),
                            format!("batch at position {pos} runs past the segment end"),
                        ));
                    }
                    let have = buf.len();
                    buf.resize(h.size, 0);
                    seg.read_exact_at(&mut buf[have..], pos + have as u64)?;
                    cut = h.size;
                    next = h.next_offset();
                }
                break;
            }
            cut += h.size;
            next = h.next_offset();
        }
        if cut == 0 {
            return Err(corrupt(
                seg.log_path(),
                format!("partial batch header at position {pos}"),
            ));
        }
        buf.truncate(cut);
        Ok((buf, next))
    }

    fn result(&self, records: Bytes) -> ReadResult {
        ReadResult {
            records,
            log_start_offset: self.log_start,
            log_end_offset: self.log_end,
        }
    }

    /// Visits every batch (with its bytes) from segment `idx`, position `pos` on.
    fn scan_from(
        &self,
        idx: usize,
        pos: u64,
        f: &mut BatchVisitor<'_>,
    ) -> Result<(), StorageError> {
        let mut buf = Vec::new();
        let mut pos = pos;
        for seg in &self.segments[idx..] {
            let mut scan = seg.scanner(pos, buf);
            loop {
                match scan.next(false)? {
                    ScanItem::End => break,
                    ScanItem::Bad { position, reason } => {
                        return Err(corrupt(
                            seg.log_path(),
                            format!("at position {position}: {reason}"),
                        ))
                    }
                    ScanItem::Batch { header, .. } => {
                        if !f(&header, scan.batch())? {
                            return Ok(());
                        }
                    }
                }
            }
            buf = scan.into_buffer();
            pos = 0;
        }
        Ok(())
    }

    fn apply_retention(
        &mut self,
        config: &LogConfig,
        now_ms: i64,
        out: &mut CleanupOutcome,
    ) -> Result<(), StorageError> {
        let closed = self.segments.len().saturating_sub(1);
        let mut n = 0;
        if config.retention_ms >= 0 {
            while n < closed
                && now_ms.saturating_sub(self.segments[n].max_timestamp()) > config.retention_ms
            {
                n += 1;
            }
        }
        if config.retention_bytes >= 0 {
            // As Kafka: delete a segment only if the log stays at least retention.bytes.
            let mut remaining: u64 = self.segments[n..].iter().map(Segment::size).sum();
            while n < closed {
                let s = self.segments[n].size();
                if remaining - s >= config.retention_bytes as u64 {
                    remaining -= s;
                    n += 1;
                } else {
                    break;
                }
            }
        }
        if n == 0 {
            return Ok(());
        }
        let doomed: Vec<Segment> = self.segments.drain(..n).collect();
        self.log_start = self.segments[0].base_offset().max(self.log_start);
        for seg in doomed {
            out.segments_deleted += 1;
            out.bytes_removed += seg.size();
            out.records_removed += seg.record_count();
            self.size -= seg.size();
            seg.delete_files()?;
        }
        self.dir_dirty = true;
        Ok(())
    }

    fn compact(
        &mut self,
        config: &LogConfig,
        now_ms: i64,
        out: &mut CleanupOutcome,
    ) -> Result<(), StorageError> {
        if self.segments.len() < 2 {
            return Ok(());
        }
        if let Some(m) = self.compaction_mark {
            let tombstones_due = m.next_tombstone_expiry_ms.is_some_and(|t| now_ms >= t);
            if m.log_end == self.log_end
                && m.delete_retention_ms == config.delete_retention_ms
                && !tombstones_due
            {
                return Ok(());
            }
        }
        let mut map = KeyMap::new();
        self.scan_from(0, 0, &mut |_, bytes| {
            map.add_batch(bytes)?;
            Ok(true)
        })?;

        let mut expiry: Option<i64> = None;
        let mut buf = Vec::new();
        let closed = self.segments.len() - 1;
        for i in 0..closed {
            let c = self.compact_segment(i, &map, config, now_ms, &mut buf)?;
            if let Some(t) = c.next_tombstone_expiry_ms {
                expiry = Some(expiry.map_or(t, |e| e.min(t)));
            }
            let Some(path) = c.cleaned else {
                continue;
            };
            let min_offset = if i == 0 {
                self.segments[0].base_offset()
            } else {
                self.segments[i - 1].next_offset()
            };
            let base = self.segments[i].base_offset();
            // Atomic replacement: a crash leaves either the old or the new segment (and
            // perhaps a `.cleaned` file, removed on recovery).
            std::fs::rename(&path, self.segments[i].log_path()).map_err(|e| io_err(&path, e))?;
            fsync_dir(&self.dir)?;
            let (seg, truncation) = Segment::recover(
                &self.dir,
                base,
                min_offset,
                self.config.index_interval_bytes,
                &mut buf,
            )?;
            if let Some(t) = truncation {
                tracing::warn!(
                    path = %seg.log_path().display(),
                    reason = %t.reason,
                    bytes_dropped = t.bytes_dropped,
                    "compacted segment failed validation and was truncated"
                );
            }
            let old = std::mem::replace(&mut self.segments[i], seg);
            let new_size = self.segments[i].size();
            out.bytes_removed += old.size().saturating_sub(new_size);
            out.records_removed += c.records_removed;
            self.size = self.size - old.size() + new_size;
        }
        // Segments emptied by compaction go, except the first (it holds the log start).
        let mut i = 1;
        while i + 1 < self.segments.len() {
            if self.segments[i].is_empty() {
                let seg = self.segments.remove(i);
                out.segments_deleted += 1;
                seg.delete_files()?;
                self.dir_dirty = true;
            } else {
                i += 1;
            }
        }
        self.compaction_mark = Some(CompactionMark {
            log_end: self.log_end,
            delete_retention_ms: config.delete_retention_ms,
            next_tombstone_expiry_ms: expiry,
        });
        Ok(())
    }

    /// Compacts closed segment `i` into `<base>.log.cleaned` (fsynced) if anything changes.
    fn compact_segment(
        &self,
        i: usize,
        map: &KeyMap,
        config: &LogConfig,
        now_ms: i64,
        buf: &mut Vec<u8>,
    ) -> Result<SegmentCompaction, StorageError> {
        let seg = &self.segments[i];
        let cleaned_path = PathBuf::from(format!("{}{CLEANED_SUFFIX}", seg.log_path().display()));
        let mut out = SegmentCompaction {
            cleaned: None,
            records_removed: 0,
            next_tombstone_expiry_ms: None,
        };
        let mut writer: Option<BufWriter<File>> = None;
        let mut scan = seg.scanner(0, std::mem::take(buf));
        let mut run = || -> Result<(), StorageError> {
            let werr = |e| io_err(&cleaned_path, e);
            loop {
                let pos = match scan.next(false)? {
                    ScanItem::End => break,
                    ScanItem::Bad { position, reason } => {
                        return Err(corrupt(
                            seg.log_path(),
                            format!("at position {position}: {reason}"),
                        ))
                    }
                    ScanItem::Batch { position, .. } => position,
                };
                let c = compaction::compact_batch(
                    scan.batch(),
                    map,
                    config.delete_retention_ms,
                    now_ms,
                )?;
                if let Some(t) = c.next_tombstone_expiry_ms {
                    out.next_tombstone_expiry_ms =
                        Some(out.next_tombstone_expiry_ms.map_or(t, |e| e.min(t)));
                }
                out.records_removed += c.records_removed;
                if writer.is_none() && c.result != Compacted::Unchanged {
                    let f = File::create(&cleaned_path).map_err(werr)?;
                    let mut w = BufWriter::with_capacity(1 << 20, f);
                    copy_prefix(seg, pos, &mut w, &cleaned_path)?;
                    writer = Some(w);
                }
                if let Some(w) = writer.as_mut() {
                    match &c.result {
                        Compacted::Unchanged => w.write_all(scan.batch()).map_err(werr)?,
                        Compacted::Rewritten(b) => w.write_all(b).map_err(werr)?,
                        Compacted::Removed => {}
                    }
                }
            }
            if let Some(w) = writer.take() {
                let f = w.into_inner().map_err(|e| werr(e.into_error()))?;
                f.sync_all().map_err(werr)?;
                out.cleaned = Some(cleaned_path.clone());
            }
            Ok(())
        };
        let result = run();
        *buf = scan.into_buffer();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&cleaned_path);
            return Err(e);
        }
        Ok(out)
    }
}

/// What compacting one segment produced.
struct SegmentCompaction {
    /// The rewritten segment, when anything changed.
    cleaned: Option<PathBuf>,
    records_removed: u64,
    next_tombstone_expiry_ms: Option<i64>,
}

/// Copies the first `len` bytes of a segment into `w`.
fn copy_prefix(
    seg: &Segment,
    len: u64,
    w: &mut impl Write,
    dest: &Path,
) -> Result<(), StorageError> {
    let mut chunk = vec![0u8; (len as usize).min(1 << 20)];
    let mut pos = 0u64;
    while pos < len {
        let n = ((len - pos) as usize).min(chunk.len());
        seg.read_exact_at(&mut chunk[..n], pos)?;
        w.write_all(&chunk[..n]).map_err(|e| io_err(dest, e))?;
        pos += n as u64;
    }
    Ok(())
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
mod tests {
    use super::*;
    use crate::storage::compaction::tests::batch_with;
    use crate::storage::decode_records;
    use kafka_protocol::records::Compression;
    use std::collections::HashMap;

    fn small_config() -> LogConfig {
        LogConfig {
            segment_bytes: 2048,
            index_interval_bytes: 300,
            retention_ms: -1,
            ..LogConfig::default()
        }
    }

    /// A batch of `n` keyless 100-byte records with timestamps `ts`, `ts + 1`, ...
    fn batch(n: usize, ts: i64) -> Vec<u8> {
        let value = "v".repeat(100);
        let recs: Vec<_> = (0..n)
            .map(|i| (None, Some(value.as_str()), ts + i as i64))
            .collect();
        batch_with(0, &recs, -1, Compression::None)
    }

    fn open(dir: &Path, config: &LogConfig) -> FileLog {
        FileLog::open(dir.join("t-0"), config).expect("open")
    }

    /// Appends `count` batches of 3 records (timestamps 1000 + offset); returns their sizes.
    fn fill(log: &mut FileLog, count: usize) -> Vec<usize> {
        (0..count)
            .map(|_| {
                let mut b = batch(3, 1000 + log.log_end_offset());
                let len = b.len();
                log.append(&mut b, 0).expect("append");
                len
            })
            .collect()
    }

    /// Offsets of every record in a read result.
    fn offsets(bytes: &[u8]) -> Vec<i64> {
        decode_records(bytes)
            .expect("decode")
            .iter()
            .map(|r| r.offset)
            .collect()
    }

    #[test]
    fn truncation_drops_whole_batches_across_segments_and_survives_reopen() {
        let dir = tempfile::tempdir().expect("tmp");
        let cfg = small_config();
        let mut log = open(dir.path(), &cfg);
        fill(&mut log, 20); // 60 records over several 2 KiB segments
        let segments = log.segment_count();
        assert!(segments > 3, "{segments}");
        // Offset 31 lies inside the batch [30, 32]: that batch goes as a whole.
        log.truncate_to(31).expect("truncate");
        assert_eq!(log.log_end_offset(), 30);
        assert!(log.segment_count() < segments);
        let mut bases = Vec::new();
        log.for_each_batch(0, &mut |h| bases.push(h.base_offset))
            .expect("scan");
        assert_eq!(bases, (0..10).map(|i| i * 3).collect::<Vec<_>>());
        // Appends continue at the new end, and everything survives a reopen.
        fill(&mut log, 1);
        assert_eq!(log.log_end_offset(), 33);
        drop(log);
        let mut log = open(dir.path(), &cfg);
        assert_eq!(log.log_end_offset(), 33);
        // At a segment boundary and at the very start.
        log.truncate_to(0).expect("truncate all");
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
        fill(&mut log, 2);
        assert_eq!(log.log_end_offset(), 6);
        log.truncate_to(99).expect("beyond the end is a no-op");
        assert_eq!(log.log_end_offset(), 6);
    }

    fn headers(bytes: &[u8]) -> Vec<BatchHeader> {
        record_batch::batches(bytes)
            .map(|r| r.expect("valid batch").0)
            .collect()
    }

    fn seg_path(dir: &Path, base: i64) -> PathBuf {
        dir.join("t-0").join(segment::log_file_name(base))
    }

    #[test]
    fn round_trip_across_segments() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path(), &small_config());
        let sizes = fill(&mut log, 40);
        assert_eq!(log.log_end_offset(), 120);
        assert!(log.segment_count() > 5, "{} segments", log.segment_count());
        assert_eq!(log.size_bytes(), sizes.iter().sum::<usize>() as u64);
        for base in log.segment_base_offsets() {
            assert!(seg_path(dir.path(), base).exists());
        }
        // Read everything back sequentially.
        let mut offset = 0;
        let mut seen = Vec::new();
        while offset < log.log_end_offset() {
            let r = log.read(offset, 1000).expect("read");
            assert!(!r.records.is_empty());
            assert!(r.records.len() <= 1000);
            let hs = headers(&r.records);
            assert_eq!(hs[0].base_offset, offset);
            seen.extend(offsets(&r.records));
            offset = hs.last().expect("batch").next_offset();
        }
        assert_eq!(seen, (0..120).collect::<Vec<_>>());
        let end = log.read(120, 1000).expect("read at end");
        assert!(end.records.is_empty());
        assert_eq!((end.log_start_offset, end.log_end_offset), (0, 120));
        assert!(matches!(
            log.read(121, 1000),
            Err(StorageError::OffsetOutOfRange { offset: 121, .. })
        ));
    }

    #[test]
    fn read_from_any_offset_returns_the_containing_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path(), &small_config());
        fill(&mut log, 40);
        // Random access (no cache help), including offsets inside batches.
        for offset in (0..120).rev().chain(0..120) {
            let r = log.read(offset, 1).expect("read");
            let hs = headers(&r.records);
            assert_eq!(hs.len(), 1, "max_bytes 1 still returns one whole batch");
            assert!(hs[0].base_offset <= offset && offset <= hs[0].last_offset());
            assert_eq!(hs[0].base_offset, offset / 3 * 3);
        }
    }

    #[test]
    fn max_bytes_is_honoured_with_whole_batches() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path(), &LogConfig::default());
        let sizes = fill(&mut log, 10);
        let one = sizes[0];
        for (max, expect) in [
            (0, 1),
            (one - 1, 1),
            (one, 1),
            (2 * one - 1, 1),
            (2 * one, 2),
        ] {
            let r = log.read(0, max).expect("read");
            assert_eq!(headers(&r.records).len(), expect, "max_bytes {max}");
            assert_eq!(r.records.len(), expect * one);
        }
        let r = log.read(4, 1 << 20).expect("read");
        assert_eq!(headers(&r.records).len(), 9);
        assert_eq!(offsets(&r.records)[0], 3);
    }

    #[test]
    fn big_batch_larger_than_max_bytes_and_segment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path(), &small_config());
        fill(&mut log, 2);
        let mut big = batch(40, 5000); // ~4.5 KB, more than segment.bytes
        log.append(&mut big, 0).expect("append");
        fill(&mut log, 2);
        let r = log.read(7, 100).expect("read");
        assert_eq!(r.records.len(), big.len());
        assert_eq!(offsets(&r.records).len(), 40);
        // Continuing after the big batch (cache hit at its end).
        let r = log.read(46, 100).expect("read");
        assert_eq!(headers(&r.records)[0].base_offset, 46);
    }

    #[test]
    fn sequential_and_interleaved_readers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path(), &small_config());
        fill(&mut log, 30);
        let (mut a, mut b) = (0i64, 45i64);
        let mut got_a = Vec::new();
        let mut got_b = Vec::new();
        while a < 90 || b < 90 {
            for (pos, got) in [(&mut a, &mut got_a), (&mut b, &mut got_b)] {
                if *pos < 90 {
                    let r = log.read(*pos, 700).expect("read");
                    let o = offsets(&r.records);
                    got.extend(o.iter().copied().filter(|x| *x >= *pos));
                    *pos = headers(&r.records).last().expect("batch").next_offset();
                }
            }
            // Appends in between do not disturb the cached positions.
            fill(&mut log, 1);
        }
        assert_eq!(got_a, (0..90).collect::<Vec<_>>());
        assert_eq!(got_b, (45..90).collect::<Vec<_>>());
        // A reader that reached the end of the active segment continues after a roll.
        let end = log.log_end_offset();
        let r = log.read(end - 3, 1 << 20).expect("read");
        assert_eq!(offsets(&r.records), vec![end - 3, end - 2, end - 1]);
        let before = log.segment_count();
        fill(&mut log, 10);
        assert!(log.segment_count() > before);
        let r = log.read(end, 1 << 20).expect("read");
        assert_eq!(offsets(&r.records)[0], end);
    }

    #[test]
    fn restart_recovers_everything() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = small_config();
        let (segments, size, index_files) = {
            let mut log = open(dir.path(), &config);
            fill(&mut log, 40);
            log.flush().expect("flush");
            let idx: Vec<Vec<u8>> = log
                .segment_base_offsets()
                .iter()
                .map(|b| {
                    std::fs::read(dir.path().join("t-0").join(segment::index_file_name(*b)))
                        .expect("index")
                })
                .collect();
            (log.segment_base_offsets(), log.size_bytes(), idx)
        };
        let mut log = open(dir.path(), &config);
        assert_eq!(log.segment_base_offsets(), segments);
        assert_eq!(log.size_bytes(), size);
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 120));
        assert!(index_files.iter().any(|i| !i.is_empty()));
        for (b, before) in segments.iter().zip(&index_files) {
            let now = std::fs::read(dir.path().join("t-0").join(segment::index_file_name(*b)))
                .expect("index");
            assert_eq!(&now, before, "index of a clean log is left alone");
        }
        let r = log.read(0, 1 << 20).expect("read");
        assert_eq!(offsets(&r.records)[0], 0);
        let info = fill(&mut log, 1);
        assert_eq!(info.len(), 1);
        assert_eq!(log.log_end_offset(), 123);
    }

    #[test]
    fn torn_tail_is_truncated_and_appends_continue() {
        for garbage in [false, true] {
            let dir = tempfile::tempdir().expect("tempdir");
            let config = small_config();
            let (last_base, good_len, last_batch) = {
                let mut log = open(dir.path(), &config);
                let sizes = fill(&mut log, 10);
                let last = *log.segment_base_offsets().last().expect("segment");
                let len = log.last().expect("active").size();
                (last, len, sizes[9] as u64)
            };
            let path = seg_path(dir.path(), last_base);
            if garbage {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .expect("open");
                f.write_all(&[0xAB; 333]).expect("garbage");
            } else {
                // Cut the last batch in half.
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .expect("open");
                f.set_len(good_len - 100).expect("truncate");
            }
            let mut log = open(dir.path(), &config);
            let expected_end = if garbage { 30 } else { 27 };
            assert_eq!(log.log_end_offset(), expected_end, "garbage={garbage}");
            let file_len = std::fs::metadata(&path).expect("meta").len();
            let expected_len = if garbage {
                good_len
            } else {
                good_len - last_batch
            };
            assert_eq!(file_len, expected_len);
            assert_eq!(log.last().expect("active").size(), expected_len);
            let mut b = batch(2, 1);
            let info = log.append(&mut b, 0).expect("append");
            assert_eq!(info.base_offset, expected_end);
            drop(log);
            let log = open(dir.path(), &config);
            assert_eq!(log.log_end_offset(), expected_end + 2);
            let all: Vec<i64> = {
                let mut v = Vec::new();
                log.for_each_batch(0, &mut |h| v.extend(h.base_offset..=h.last_offset()))
                    .expect("scan");
                v
            };
            assert_eq!(all, (0..expected_end + 2).collect::<Vec<_>>());
        }
    }

    #[test]
    fn crc_mismatch_truncates_from_that_batch_and_drops_later_segments() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = small_config();
        let bases = {
            let mut log = open(dir.path(), &config);
            fill(&mut log, 40);
            log.segment_base_offsets()
        };
        assert!(bases.len() > 4);
        // Flip a byte in the second batch of the third segment.
        let victim = bases[2];
        let path = seg_path(dir.path(), victim);
        let mut bytes = std::fs::read(&path).expect("read");
        let first = BatchHeader::parse(&bytes).expect("header");
        let at = first.size + 70;
        bytes[at] ^= 0x40;
        std::fs::write(&path, &bytes).expect("write");

        let mut log = open(dir.path(), &config);
        assert_eq!(log.segment_base_offsets(), bases[..3].to_vec());
        assert_eq!(log.log_end_offset(), victim + 3);
        assert_eq!(
            std::fs::metadata(&path).expect("meta").len(),
            first.size as u64
        );
        for b in &bases[3..] {
            assert!(!seg_path(dir.path(), *b).exists());
            assert!(!dir
                .path()
                .join("t-0")
                .join(segment::index_file_name(*b))
                .exists());
        }
        let info = log.append(&mut batch(1, 1), 0).expect("append");
        assert_eq!(info.base_offset, victim + 3);
    }

    #[test]
    fn index_deleted_or_corrupt_is_rebuilt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = small_config();
        let (bases, entries) = {
            let mut log = open(dir.path(), &config);
            fill(&mut log, 40);
            let e: Vec<Vec<_>> = log
                .segments
                .iter()
                .map(|s| s.index_entries().to_vec())
                .collect();
            (log.segment_base_offsets(), e)
        };
        assert!(entries[0].len() > 1);
        let index_path = |b: i64| dir.path().join("t-0").join(segment::index_file_name(b));
        std::fs::remove_file(index_path(bases[0])).expect("rm");
        std::fs::write(index_path(bases[1]), [7u8; 13]).expect("garbage");
        std::fs::write(index_path(bases[2]), [0u8; 16]).expect("wrong entries");
        let log = open(dir.path(), &config);
        for (i, b) in bases.iter().enumerate() {
            assert_eq!(log.segments[i].index_entries(), entries[i].as_slice());
            let on_disk =
                super::super::index::parse_entries(&std::fs::read(index_path(*b)).expect("index"))
                    .expect("whole entries");
            assert_eq!(on_disk, entries[i]);
        }
        for offset in 0..120 {
            let r = log.read(offset, 1).expect("read");
            assert_eq!(headers(&r.records)[0].base_offset, offset / 3 * 3);
        }
    }

    #[test]
    fn garbage_files_never_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = small_config();
        let logdir = dir.path().join("t-0");
        std::fs::create_dir_all(&logdir).expect("mkdir");
        std::fs::write(logdir.join(segment::log_file_name(0)), vec![0u8; 5000]).expect("w");
        std::fs::write(logdir.join(segment::log_file_name(7)), [0xFFu8; 61]).expect("w");
        std::fs::write(logdir.join(segment::index_file_name(99)), [1u8; 8]).expect("w");
        std::fs::write(logdir.join("00000000000000000000.log.cleaned"), b"x").expect("w");
        std::fs::write(logdir.join("leader-epoch-checkpoint"), b"0\n").expect("w");
        let mut log = open(dir.path(), &config);
        assert_eq!(log.log_end_offset(), 0);
        assert_eq!(log.segment_count(), 1);
        assert!(!logdir.join(segment::log_file_name(7)).exists());
        assert!(!logdir.join(segment::index_file_name(99)).exists());
        assert!(!logdir.join("00000000000000000000.log.cleaned").exists());
        assert!(logdir.join("leader-epoch-checkpoint").exists());
        log.append(&mut batch(2, 1), 0).expect("append");
        assert_eq!(
            log.read(0, 10).expect("read").records.len(),
            batch(2, 1).len()
        );
    }

    #[test]
    fn rolls_on_segment_ms_and_index_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = LogConfig {
            segment_ms: 1000,
            ..LogConfig::default()
        };
        let mut log = open(dir.path(), &config);
        log.append(&mut batch(1, 1), 10_000).expect("append");
        log.append(&mut batch(1, 1), 11_000).expect("append");
        assert_eq!(log.segment_count(), 1);
        log.append(&mut batch(1, 1), 11_001).expect("append");
        assert_eq!(log.segment_base_offsets(), vec![0, 2]);
        log.append(&mut batch(1, 1), 12_000).expect("append");
        assert_eq!(log.segment_count(), 2);

        log.set_config(&LogConfig {
            index_interval_bytes: 0,
            segment_index_bytes: 16,
            ..LogConfig::default()
        });
        for _ in 0..4 {
            log.append(&mut batch(1, 1), 12_000).expect("append");
        }
        // An entry for every batch but the first of a segment; two fit, the third rolls.
        assert_eq!(log.segment_base_offsets(), vec![0, 2, 6]);
    }

    #[test]
    fn retention_by_time_deletes_only_closed_segments() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path(), &small_config());
        for i in 0..30 {
            // Batch i has timestamps 1000 * i ..
            log.append(&mut batch(3, 1000 * i), 0).expect("append");
        }
        let bases = log.segment_base_offsets();
        let config = LogConfig {
            retention_ms: 10_000,
            ..small_config()
        };
        // Everything younger than retention: nothing goes.
        let out = log.cleanup(&config, 10_000).expect("cleanup");
        assert_eq!(out, CleanupOutcome::default());
        // Segments whose newest record is older than 15_000 - 10_000.
        let out = log.cleanup(&config, 15_000).expect("cleanup");
        let remaining = log.segment_base_offsets();
        assert!(out.segments_deleted >= 1);
        assert_eq!(remaining, bases[out.segments_deleted as usize..].to_vec());
        assert_eq!(log.log_start_offset(), remaining[0]);
        for s in &log.segments[1..] {
            assert!(s.max_timestamp() > 0);
        }
        assert!(log.segments[0].max_timestamp() >= 5000);
        assert!(!seg_path(dir.path(), bases[0]).exists());
        assert!(matches!(
            log.read(0, 100),
            Err(StorageError::OffsetOutOfRange { .. })
        ));
        let r = log.read(log.log_start_offset(), 100).expect("read");
        assert_eq!(offsets(&r.records)[0], remaining[0]);
        // Far in the future: every closed segment goes, the active one stays.
        let out2 = log.cleanup(&config, 1_000_000).expect("cleanup");
        assert_eq!(log.segment_count(), 1);
        assert_eq!(log.log_start_offset(), *bases.last().expect("active"));
        assert_eq!(
            (out.records_removed + out2.records_removed) as i64,
            log.log_start_offset()
        );
        assert_eq!(log.log_end_offset(), 90);
        // And it survives a restart.
        drop(log);
        let log = open(dir.path(), &small_config());
        assert_eq!(log.log_start_offset(), *bases.last().expect("active"));
    }

    #[test]
    fn retention_by_bytes_keeps_at_least_retention_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path(), &small_config());
        fill(&mut log, 40);
        let before = log.size_bytes();
        let sizes: Vec<u64> = log.segments.iter().map(Segment::size).collect();
        let limit = before - sizes[0] - sizes[1] - 10;
        let config = LogConfig {
            retention_bytes: limit as i64,
            ..small_config()
        };
        let out = log.cleanup(&config, 0).expect("cleanup");
        // Deleting a third segment would go below the limit.
        assert_eq!(out.segments_deleted, 2);
        assert_eq!(out.bytes_removed, sizes[0] + sizes[1]);
        assert_eq!(log.size_bytes(), before - sizes[0] - sizes[1]);
        assert_eq!(log.log_start_offset(), log.segment_base_offsets()[0]);
        // Zero: only the active segment is left.
        let config = LogConfig {
            retention_bytes: 0,
            ..small_config()
        };
        log.cleanup(&config, 0).expect("cleanup");
        assert_eq!(log.segment_count(), 1);
        assert_eq!(log.size_bytes(), sizes.last().copied().expect("active"));
    }

    fn compact_config() -> LogConfig {
        LogConfig {
            segment_bytes: 400,
            index_interval_bytes: 100,
            retention_ms: -1,
            delete_retention_ms: 1000,
            cleanup_policy: crate::storage::CleanupPolicy {
                delete: false,
                compact: true,
            },
            ..LogConfig::default()
        }
    }

    /// Every record (offset, key, value) and the latest value per key.
    type Visible = (
        Vec<(i64, String, Option<String>)>,
        HashMap<String, Option<String>>,
    );

    fn visible(log: &FileLog) -> Visible {
        let mut all = Vec::new();
        let mut offset = log.log_start_offset();
        while offset < log.log_end_offset() {
            let r = log.read(offset, 1 << 20).expect("read");
            if r.records.is_empty() {
                break;
            }
            for rec in decode_records(&r.records).expect("decode") {
                let key = String::from_utf8_lossy(rec.key.as_deref().unwrap_or(b"")).into_owned();
                let value = rec.value.map(|v| String::from_utf8_lossy(&v).into_owned());
                all.push((rec.offset, key, value));
            }
            offset = headers(&r.records).last().expect("batch").next_offset();
        }
        let mut latest = HashMap::new();
        for (_, k, v) in &all {
            latest.insert(k.clone(), v.clone());
        }
        (all, latest)
    }

    #[test]
    fn compaction_keeps_latest_per_key_and_offsets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = compact_config();
        let mut log = open(dir.path(), &config);
        let mut expected: HashMap<String, (i64, Option<String>)> = HashMap::new();
        for i in 0..60i64 {
            let key = format!("key{}", i % 5);
            let value = format!("value{i}");
            // key0's last record (in the active segment for now) is a tombstone.
            let v = if i == 55 { None } else { Some(value.as_str()) };
            let mut b = batch_with(
                0,
                &[(Some(key.as_str()), v, 100 + i)],
                -1,
                Compression::None,
            );
            let info = log.append(&mut b, 0).expect("append");
            expected.insert(key, (info.base_offset, v.map(str::to_string)));
        }
        assert!(log.segment_count() > 3);
        let (before_all, before_latest) = visible(&log);
        let size_before = log.size_bytes();
        let out = log.cleanup(&config, 200).expect("cleanup");
        assert!(out.records_removed > 40, "{out:?}");
        assert!(log.size_bytes() < size_before);
        assert_eq!(size_before - log.size_bytes(), out.bytes_removed);
        let (after_all, after_latest) = visible(&log);
        assert_eq!(
            after_latest, before_latest,
            "latest value of every key survives"
        );
        // Offsets are unchanged: every surviving record is the same record as before.
        for rec in &after_all {
            assert!(before_all.contains(rec), "{rec:?}");
        }
        // Closed segments hold only the latest record per key.
        for (k, (offset, value)) in &expected {
            assert!(after_all.contains(&(*offset, k.clone(), value.clone())));
            assert_eq!(
                after_all.iter().filter(|(_, kk, _)| kk == k).count(),
                1,
                "{k}"
            );
        }
        assert_eq!(log.log_end_offset(), 60);
        assert_eq!(log.log_start_offset(), 0);
        // Reads from any offset work over the gaps.
        for offset in 0..60 {
            let r = log.read(offset, 1).expect("read");
            let h = headers(&r.records)[0];
            assert!(h.last_offset() >= offset);
        }
        // Nothing new: a second pass is skipped.
        assert_eq!(
            log.cleanup(&config, 300).expect("cleanup"),
            CleanupOutcome::default()
        );
        // Once delete.retention.ms has passed, the tombstone goes too, if it is in a closed
        // segment; push it there by appending more.
        for i in 0..10i64 {
            let mut b = batch_with(
                0,
                &[(Some("other"), Some("x"), 300 + i)],
                -1,
                Compression::None,
            );
            log.append(&mut b, 0).expect("append");
        }
        let out = log.cleanup(&config, 5000).expect("cleanup");
        let (all, latest) = visible(&log);
        assert!(out.records_removed >= 5, "{out:?}");
        assert!(!latest.contains_key("key0"), "old tombstone removed");
        assert_eq!(latest.get("key1"), before_latest.get("key1"));
        assert!(all.iter().all(|(o, k, _)| k != "key0" && *o != 55));
        // Survives a restart.
        let end = log.log_end_offset();
        let size = log.size_bytes();
        drop(log);
        let log = open(dir.path(), &config);
        assert_eq!(log.log_end_offset(), end);
        assert_eq!(log.size_bytes(), size);
        assert_eq!(visible(&log).0, all);
        assert_eq!(
            log.segments[0].size(),
            0,
            "emptied first segment kept for the log start"
        );
    }

    #[test]
    fn offset_and_max_timestamp_lookups() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path(), &small_config());
        assert_eq!(log.offset_for_timestamp(0).expect("lookup"), None);
        assert_eq!(log.max_timestamp().expect("max"), None);
        // Batch i: offsets 3i..3i+2 with timestamps 10_000 + 10 * (3i + j); one batch has
        // an outlier.
        for i in 0..40i64 {
            let recs: Vec<(Option<&str>, Option<&str>, i64)> = (0..3)
                .map(|j| {
                    let ts = if i == 17 && j == 1 {
                        999_999
                    } else {
                        10_000 + 10 * (3 * i + j)
                    };
                    (None, Some("x"), ts)
                })
                .collect();
            log.append(&mut batch_with(0, &recs, -1, Compression::None), 0)
                .expect("append");
        }
        assert!(log.segment_count() > 1);
        let ts_of = |o: i64| if o == 52 { 999_999 } else { 10_000 + 10 * o };
        let brute = |target: i64| {
            (0..120i64)
                .find(|o| ts_of(*o) >= target)
                .map(|o| (o, ts_of(o)))
        };
        for offset in 0..120i64 {
            for target in [10_000 + 10 * offset, 10_000 + 10 * offset - 5] {
                assert_eq!(
                    log.offset_for_timestamp(target).expect("lookup"),
                    brute(target),
                    "target {target}"
                );
            }
        }
        assert_eq!(
            log.offset_for_timestamp(0).expect("lookup"),
            Some((0, 10_000))
        );
        assert_eq!(
            log.offset_for_timestamp(999_999).expect("lookup"),
            Some((52, 999_999))
        );
        assert_eq!(log.offset_for_timestamp(1_000_000).expect("lookup"), None);
        assert_eq!(log.max_timestamp().expect("max"), Some((52, 999_999)));
    }

    #[test]
    fn for_each_batch_from_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path(), &small_config());
        fill(&mut log, 20);
        let mut bases = Vec::new();
        log.for_each_batch(31, &mut |h| bases.push(h.base_offset))
            .expect("scan");
        assert_eq!(bases, (30..60).step_by(3).collect::<Vec<_>>());
        bases.clear();
        log.for_each_batch(60, &mut |h| bases.push(h.base_offset))
            .expect("scan");
        assert!(bases.is_empty());
    }

    #[test]
    fn flush_messages_and_delete() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = LogConfig {
            flush_messages: 4,
            ..small_config()
        };
        let mut log = open(dir.path(), &config);
        fill(&mut log, 1);
        assert_eq!(log.unflushed_records, 3);
        fill(&mut log, 1);
        assert_eq!(log.unflushed_records, 0);
        fill(&mut log, 20);
        log.delete().expect("delete");
        assert_eq!(log.segment_count(), 1);
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (66, 66));
        assert_eq!(log.size_bytes(), 0);
        assert!(log.read(66, 100).expect("read").records.is_empty());
        let files: Vec<_> = std::fs::read_dir(dir.path().join("t-0"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf8"))
            .collect();
        assert_eq!(files.len(), 2, "{files:?}");
        let info = log.append(&mut batch(1, 1), 0).expect("append");
        assert_eq!(info.base_offset, 66);
        drop(log);
        let log = open(dir.path(), &config);
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (66, 67));
    }

    #[test]
    fn rejects_a_slice_that_is_not_one_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path(), &small_config());
        let mut two = batch(1, 1);
        two.extend(batch(1, 1));
        assert!(log.append(&mut two, 0).is_err());
        assert!(log.append(&mut [0u8; 10], 0).is_err());
        assert_eq!(log.log_end_offset(), 0);
        assert_eq!(log.size_bytes(), 0);
    }
}
