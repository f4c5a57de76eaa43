//! The offset index of one segment (`<base>.index`), in Kafka's layout: 8-byte entries of
//! (offset relative to the segment base u32, file position u32), big-endian, one every
//! `index.interval.bytes` of log. An entry means "a batch with this base offset starts at
//! this position", so the batch holding offset `o` starts at or after the position of the
//! largest entry whose offset is <= `o`.
//!
//! The entries are kept in memory for lookups; the file is derived data, appended as the
//! segment grows and rewritten from the log whenever recovery finds it missing or
//! inconsistent.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::storage::StorageError;

/// Bytes per index entry.
pub const ENTRY_LEN: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub relative_offset: u32,
    pub position: u32,
}

pub struct OffsetIndex {
    path: PathBuf,
    base_offset: i64,
    entries: Vec<IndexEntry>,
    /// Open for appending while the segment is active.
    writer: Option<File>,
    /// Entries appended to the file since the last fsync.
    dirty: bool,
}

impl OffsetIndex {
    /// An index with the given entries, not yet written anywhere.
    pub fn new(path: PathBuf, base_offset: i64, entries: Vec<IndexEntry>) -> Self {
        OffsetIndex {
            path,
            base_offset,
            entries,
            writer: None,
            dirty: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether another entry would exceed `segment.index.bytes`.
    pub fn is_full(&self, max_index_bytes: u64) -> bool {
        (self.entries.len() as u64) >= max_index_bytes / ENTRY_LEN as u64
    }

    /// Position to start scanning from for `offset`: that of the largest entry whose offset
    /// is <= `offset`, else 0.
    pub fn lookup(&self, offset: i64) -> u64 {
        let rel = offset - self.base_offset;
        if rel < 0 {
            return 0;
        }
        let rel = rel.min(u32::MAX as i64) as u32;
        let n = self.entries.partition_point(|e| e.relative_offset <= rel);
        if n == 0 {
            0
        } else {
            self.entries[n - 1].position as u64
        }
    }

    /// Adds an entry for a batch with base offset `offset` at `position`. The in-memory
    /// entry is always kept; a failed file write only leaves the file stale (it is rebuilt
    /// on the next open), so it is logged rather than failing the append.
    pub fn append(&mut self, offset: i64, position: u64) {
        let (Ok(rel), Ok(pos)) = (
            u32::try_from(offset - self.base_offset),
            u32::try_from(position),
        ) else {
            return;
        };
        if let Some(last) = self.entries.last() {
            if rel <= last.relative_offset || pos <= last.position {
                return;
            }
        }
        let entry = IndexEntry {
            relative_offset: rel,
            position: pos,
        };
        self.entries.push(entry);
        if let Some(w) = self.writer.as_mut() {
            if let Err(e) = w.write_all(&encode_entry(entry)) {
                tracing::warn!(path = %self.path.display(), error = %e, "offset index write failed; it will be rebuilt on restart");
                self.writer = None;
            } else {
                self.dirty = true;
            }
        }
    }

    /// Drops the entries at or beyond `position` (the log was truncated there) and rewrites
    /// the file.
    pub fn truncate_to_position(&mut self, position: u64) -> Result<(), StorageError> {
        let keep = self
            .entries
            .partition_point(|e| (e.position as u64) < position);
        if keep == self.entries.len() {
            return Ok(());
        }
        self.entries.truncate(keep);
        let reopen = self.writer.is_some();
        self.writer = None;
        self.write_file()?;
        if reopen {
            self.open_for_append()?;
        }
        Ok(())
    }

    /// Opens the file for appending entries (the segment became active).
    pub fn open_for_append(&mut self) -> Result<(), StorageError> {
        if self.writer.is_none() {
            let f = OpenOptions::new()
                .append(true)
                .create(true)
                .open(&self.path)
                .map_err(|e| StorageError::io(self.path.display().to_string(), e))?;
            self.writer = Some(f);
        }
        Ok(())
    }

    /// Stops appending (the segment was rolled).
    pub fn close_writer(&mut self) {
        self.writer = None;
    }

    /// Fsyncs appended entries.
    pub fn sync(&mut self) -> Result<(), StorageError> {
        if self.dirty {
            if let Some(w) = &self.writer {
                w.sync_data()
                    .map_err(|e| StorageError::io(self.path.display().to_string(), e))?;
            }
            self.dirty = false;
        }
        Ok(())
    }

    /// Replaces the file with the in-memory entries.
    pub fn write_file(&mut self) -> Result<(), StorageError> {
        let mut bytes = Vec::with_capacity(self.entries.len() * ENTRY_LEN);
        for e in &self.entries {
            bytes.extend_from_slice(&encode_entry(*e));
        }
        let io = |e| StorageError::io(self.path.display().to_string(), e);
        let mut f = File::create(&self.path).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        self.dirty = true;
        if self.writer.is_some() {
            // The old append handle still points at the same file; keep using it.
            self.writer = Some(f);
        }
        Ok(())
    }

    /// Uses the entries rebuilt from the log; rewrites the file if it is missing or does
    /// not hold exactly these entries. Returns whether it was rewritten.
    pub fn reconcile_file(&mut self) -> Result<bool, StorageError> {
        let on_disk = match std::fs::read(&self.path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(StorageError::io(self.path.display().to_string(), e)),
        };
        let consistent =
            on_disk.as_deref().and_then(parse_entries).as_deref() == Some(self.entries.as_slice());
        if consistent {
            return Ok(false);
        }
        if on_disk.is_some() {
            tracing::warn!(path = %self.path.display(), "offset index is inconsistent with the log; rebuilt");
        }
        self.write_file()?;
        Ok(true)
    }

    /// Removes the file.
    pub fn delete_file(&mut self) -> Result<(), StorageError> {
        self.writer = None;
        remove_if_exists(&self.path)
    }
}

pub(crate) fn remove_if_exists(path: &Path) -> Result<(), StorageError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io(path.display().to_string(), e)),
    }
}

fn encode_entry(e: IndexEntry) -> [u8; ENTRY_LEN] {
    let mut b = [0u8; ENTRY_LEN];
    b[..4].copy_from_slice(&e.relative_offset.to_be_bytes());
    b[4..].copy_from_slice(&e.position.to_be_bytes());
    b
}

/// Parses an index file; `None` if its length is not a whole number of entries.
pub fn parse_entries(bytes: &[u8]) -> Option<Vec<IndexEntry>> {
    let chunks = bytes.chunks_exact(ENTRY_LEN);
    if !chunks.remainder().is_empty() {
        return None;
    }
    Some(
        chunks
            .map(|c| IndexEntry {
                relative_offset: u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
                position: u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(dir: &Path) -> OffsetIndex {
        OffsetIndex::new(dir.join("00000000000000000100.index"), 100, Vec::new())
    }

    #[test]
    fn lookup_finds_largest_entry_at_or_below() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut idx = index(dir.path());
        idx.open_for_append().expect("open");
        idx.append(110, 4000);
        idx.append(120, 8000);
        idx.append(120, 9000); // not increasing: ignored
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.lookup(50), 0);
        assert_eq!(idx.lookup(100), 0);
        assert_eq!(idx.lookup(109), 0);
        assert_eq!(idx.lookup(110), 4000);
        assert_eq!(idx.lookup(119), 4000);
        assert_eq!(idx.lookup(1_000_000), 8000);
        idx.sync().expect("sync");
        let on_disk = std::fs::read(idx.path()).expect("read");
        assert_eq!(parse_entries(&on_disk).as_deref(), Some(idx.entries()));
    }

    #[test]
    fn truncate_and_reconcile() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut idx = index(dir.path());
        idx.open_for_append().expect("open");
        idx.append(110, 4000);
        idx.append(120, 8000);
        idx.truncate_to_position(8000).expect("truncate");
        assert_eq!(idx.len(), 1);
        idx.append(125, 8100);
        let on_disk = std::fs::read(idx.path()).expect("read");
        assert_eq!(parse_entries(&on_disk).map(|e| e.len()), Some(2));

        // A rebuilt index with the same entries leaves the file alone; a corrupt one is
        // rewritten.
        let mut again = OffsetIndex::new(idx.path().to_path_buf(), 100, idx.entries().to_vec());
        assert!(!again.reconcile_file().expect("reconcile"));
        std::fs::write(idx.path(), [1u8, 2, 3]).expect("write");
        assert!(again.reconcile_file().expect("reconcile"));
        std::fs::remove_file(idx.path()).expect("rm");
        assert!(again.reconcile_file().expect("reconcile"));
        let on_disk = std::fs::read(idx.path()).expect("read");
        assert_eq!(parse_entries(&on_disk).as_deref(), Some(idx.entries()));
    }

    #[test]
    fn full_by_segment_index_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut idx = index(dir.path());
        assert!(!idx.is_full(16));
        idx.append(101, 10);
        idx.append(102, 20);
        assert!(idx.is_full(16));
        assert!(idx.is_full(0));
    }
}
