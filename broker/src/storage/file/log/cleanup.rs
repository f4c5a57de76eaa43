//! Cleanup of a partition log's closed segments: retention (`retention.ms`,
//! `retention.bytes`) deletes whole segments from the front; compaction rewrites segments
//! to keep the latest record per key, through a `.cleaned` file swapped in atomically.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{corrupt, FileLog};
use crate::storage::compaction::{self, Compacted, KeyMap};
use crate::storage::file::segment::{ScanItem, Segment};
use crate::storage::file::{fsync_dir, io_err};
use crate::storage::{CleanupOutcome, LogConfig, StorageError};

/// Suffix of a segment being rewritten by compaction (deleted on recovery).
pub(super) const CLEANED_SUFFIX: &str = ".cleaned";

/// What the last compaction pass saw, to skip passes that cannot change anything.
#[derive(Debug, Clone, Copy)]
pub(super) struct CompactionMark {
    log_end: i64,
    delete_retention_ms: i64,
    next_tombstone_expiry_ms: Option<i64>,
}

impl FileLog {
    pub(super) fn apply_retention(
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

    pub(super) fn compact(
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
