//! One log segment: `<base offset, 20 digits>.log` holding whole record batches back to
//! back, plus its offset index `<base>.index`. The time index Kafka keeps in `.timeindex`
//! is kept in memory only (rebuilt by the recovery scan).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

#[cfg(test)]
use super::index::IndexEntry;
use super::index::OffsetIndex;
use crate::record_batch::{BatchHeader, HEADER_LEN};
use crate::storage::StorageError;

/// How much the sequential scanner reads at a time.
const SCAN_CHUNK: usize = 1 << 20;

pub fn log_file_name(base_offset: i64) -> String {
    format!("{base_offset:020}.log")
}

pub fn index_file_name(base_offset: i64) -> String {
    format!("{base_offset:020}.index")
}

/// Base offset of a segment file name with the given extension (`"log"`, `"index"`, ...).
pub fn parse_file_name(name: &str, ext: &str) -> Option<i64> {
    let stem = name.strip_suffix(ext)?.strip_suffix('.')?;
    if stem.is_empty() || stem.len() > 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse::<i64>().ok()
}

fn io_err(path: &Path, e: std::io::Error) -> StorageError {
    StorageError::io(path.display().to_string(), e)
}

fn corrupt(path: &Path, detail: String) -> StorageError {
    StorageError::Corrupt {
        path: path.display().to_string(),
        detail,
    }
}

/// A time index entry: every batch before `position` has a max timestamp <= `max_timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TimeEntry {
    max_timestamp: i64,
    position: u64,
}

/// Where recovery stopped trusting a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    pub position: u64,
    pub bytes_dropped: u64,
    pub reason: String,
}

pub struct Segment {
    log_path: PathBuf,
    file: File,
    st: State,
}

/// Everything about a segment except its file handle.
struct State {
    base_offset: i64,
    /// Bytes of valid batches (the file is never longer once recovered).
    size: u64,
    index: OffsetIndex,
    time_index: Vec<TimeEntry>,
    /// Largest batch max timestamp, -1 when empty.
    max_timestamp: i64,
    /// Position of the first batch carrying `max_timestamp`.
    max_timestamp_position: u64,
    /// One past the last offset of the last batch; the base offset when empty.
    next_offset: i64,
    record_count: u64,
    bytes_since_index_entry: u64,
    /// When the first batch was appended (or, after recovery, its max timestamp).
    first_append_ms: Option<i64>,
    /// Appended since the last fsync.
    dirty: bool,
}

impl State {
    fn new(base_offset: i64, index: OffsetIndex) -> State {
        State {
            base_offset,
            size: 0,
            index,
            time_index: Vec::new(),
            max_timestamp: -1,
            max_timestamp_position: 0,
            next_offset: base_offset,
            record_count: 0,
            bytes_since_index_entry: 0,
            first_append_ms: None,
            dirty: false,
        }
    }

    /// Updates the in-memory state for a batch written at `pos`.
    fn track_batch(&mut self, h: &BatchHeader, pos: u64, index_interval_bytes: u64) {
        if pos > 0 && self.bytes_since_index_entry >= index_interval_bytes {
            self.index.append(h.base_offset, pos);
            let advanced = match self.time_index.last() {
                Some(t) => t.max_timestamp < self.max_timestamp,
                None => true,
            };
            if advanced {
                self.time_index.push(TimeEntry {
                    max_timestamp: self.max_timestamp,
                    position: pos,
                });
            }
            self.bytes_since_index_entry = 0;
        }
        self.bytes_since_index_entry += h.size as u64;
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.max_timestamp_position = pos;
        }
        self.size = pos + h.size as u64;
        self.next_offset = h.next_offset();
        self.record_count += h.record_count.max(0) as u64;
    }
}

impl Segment {
    /// Creates a new empty segment in `dir`; fails if its log file already exists.
    pub fn create(dir: &Path, base_offset: i64) -> Result<Segment, StorageError> {
        let log_path = dir.join(log_file_name(base_offset));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&log_path)
            .map_err(|e| io_err(&log_path, e))?;
        let mut index =
            OffsetIndex::new(dir.join(index_file_name(base_offset)), base_offset, vec![]);
        index.write_file()?;
        Ok(Segment {
            log_path,
            file,
            st: State::new(base_offset, index),
        })
    }

    /// Opens an existing segment and validates every batch (CRC32C, offsets increasing
    /// from `min_offset`, offsets relative to the base fitting the index). At the first bad
    /// or torn batch the file is truncated there. The index is rebuilt from the scan and
    /// the file rewritten if it is missing or differs.
    pub fn recover(
        dir: &Path,
        base_offset: i64,
        min_offset: i64,
        index_interval_bytes: u64,
        scan_buf: &mut Vec<u8>,
    ) -> Result<(Segment, Option<Truncation>), StorageError> {
        let log_path = dir.join(log_file_name(base_offset));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(|e| io_err(&log_path, e))?;
        let len = file.metadata().map_err(|e| io_err(&log_path, e))?.len();
        let index = OffsetIndex::new(dir.join(index_file_name(base_offset)), base_offset, vec![]);
        let mut st = State::new(base_offset, index);
        let mut expected = min_offset.max(base_offset);
        let mut truncation = None;
        let mut scan = Scanner::new(&file, &log_path, 0, len, std::mem::take(scan_buf));
        let mut first_ts = None;
        loop {
            let (pos, h) = match scan.next(true)? {
                ScanItem::End => break,
                ScanItem::Bad { position, reason } => {
                    truncation = Some(Truncation {
                        position,
                        bytes_dropped: len - position,
                        reason,
                    });
                    break;
                }
                ScanItem::Batch { position, header } => (position, header),
            };
            let problem = if h.base_offset < expected {
                Some(format!(
                    "batch base offset {} below the expected {}",
                    h.base_offset, expected
                ))
            } else if h.last_offset_delta < 0 || h.record_count < 0 {
                Some(format!(
                    "batch at offset {} has last offset delta {} and record count {}",
                    h.base_offset, h.last_offset_delta, h.record_count
                ))
            } else if h.base_offset - base_offset > i32::MAX as i64 - h.last_offset_delta as i64
                || pos + h.size as u64 > i32::MAX as u64
            {
                // (The base offset is not covered by the CRC: a corrupt one may be huge.)
                Some(format!(
                    "batch at offset {} does not fit a segment based at {}",
                    h.base_offset, base_offset
                ))
            } else {
                None
            };
            if let Some(reason) = problem {
                truncation = Some(Truncation {
                    position: pos,
                    bytes_dropped: len - pos,
                    reason,
                });
                break;
            }
            if pos == 0 && h.max_timestamp >= 0 {
                first_ts = Some(h.max_timestamp);
            }
            st.track_batch(&h, pos, index_interval_bytes);
            expected = h.next_offset();
        }
        *scan_buf = scan.into_buffer();
        if let Some(t) = &truncation {
            file.set_len(t.position).map_err(|e| io_err(&log_path, e))?;
            file.sync_all().map_err(|e| io_err(&log_path, e))?;
        }
        st.first_append_ms = first_ts;
        st.index.reconcile_file()?;
        Ok((Segment { log_path, file, st }, truncation))
    }

    /// Appends one batch (its header already parsed, base offset assigned) at the end.
    pub fn append(
        &mut self,
        batch: &[u8],
        header: &BatchHeader,
        index_interval_bytes: u64,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let pos = self.st.size;
        if let Err(e) = self.file.write_all_at(batch, pos) {
            // Best effort: drop a partial write so the file ends with whole batches.
            let _ = self.file.set_len(pos);
            return Err(io_err(&self.log_path, e));
        }
        self.st.dirty = true;
        if pos == 0 && self.st.first_append_ms.is_none() {
            self.st.first_append_ms = Some(now_ms);
        }
        self.st.track_batch(header, pos, index_interval_bytes);
        Ok(())
    }

    pub fn base_offset(&self) -> i64 {
        self.st.base_offset
    }
    pub fn size(&self) -> u64 {
        self.st.size
    }
    pub fn is_empty(&self) -> bool {
        self.st.size == 0
    }
    pub fn next_offset(&self) -> i64 {
        self.st.next_offset
    }
    pub fn max_timestamp(&self) -> i64 {
        self.st.max_timestamp
    }
    pub fn max_timestamp_position(&self) -> u64 {
        self.st.max_timestamp_position
    }
    pub fn record_count(&self) -> u64 {
        self.st.record_count
    }
    pub fn first_append_ms(&self) -> Option<i64> {
        self.st.first_append_ms
    }
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
    #[cfg(test)]
    pub fn index_entries(&self) -> &[IndexEntry] {
        self.st.index.entries()
    }
    pub fn index_is_full(&self, segment_index_bytes: u64) -> bool {
        self.st.index.is_full(segment_index_bytes)
    }

    /// Position to start scanning from for `offset` (offset index lookup).
    pub fn lookup(&self, offset: i64) -> u64 {
        self.st.index.lookup(offset)
    }

    /// Position to start scanning from for the first record with timestamp >= `ts`: every
    /// batch before it has a max timestamp < `ts`.
    pub fn lookup_timestamp(&self, ts: i64) -> u64 {
        let t = &self.st.time_index;
        let n = t.partition_point(|e| e.max_timestamp < ts);
        if n == 0 {
            0
        } else {
            t[n - 1].position
        }
    }

    /// Reads exactly `buf.len()` bytes at `pos`, which must lie within the segment.
    pub fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> Result<(), StorageError> {
        if pos + buf.len() as u64 > self.st.size {
            return Err(corrupt(
                &self.log_path,
                format!(
                    "read of {} bytes at {} beyond the segment size {}",
                    buf.len(),
                    pos,
                    self.st.size
                ),
            ));
        }
        self.file
            .read_exact_at(buf, pos)
            .map_err(|e| io_err(&self.log_path, e))
    }

    /// A scanner over the batches from `from_pos` to the end of the segment.
    pub fn scanner(&self, from_pos: u64, buf: Vec<u8>) -> Scanner<'_> {
        Scanner::new(&self.file, &self.log_path, from_pos, self.st.size, buf)
    }

    /// Makes the segment active: index entries will be appended to its file.
    pub fn activate(&mut self) -> Result<(), StorageError> {
        self.st.index.open_for_append()
    }

    /// The segment is no longer active.
    pub fn deactivate(&mut self) {
        self.st.index.close_writer();
    }

    /// Fsyncs appended data and index entries.
    pub fn flush(&mut self) -> Result<(), StorageError> {
        if self.st.dirty {
            self.file
                .sync_data()
                .map_err(|e| io_err(&self.log_path, e))?;
            self.st.dirty = false;
        }
        self.st.index.sync()
    }

    /// Cuts the log file at `pos` (a batch boundary) and makes that durable; the
    /// in-memory state is stale afterwards (the caller reopens the log).
    pub fn truncate_file(&mut self, pos: u64) -> Result<(), StorageError> {
        // Recovery rebuilds the index from the truncated file.
        self.st.index.delete_file()?;
        self.file
            .set_len(pos)
            .map_err(|e| io_err(&self.log_path, e))?;
        self.file.sync_all().map_err(|e| io_err(&self.log_path, e))
    }

    /// Deletes the segment's files.
    pub fn delete_files(mut self) -> Result<(), StorageError> {
        super::index::remove_if_exists(&self.log_path)?;
        self.st.index.delete_file()
    }
}

/// One step of a [`Scanner`].
#[derive(Debug)]
pub enum ScanItem {
    Batch {
        position: u64,
        header: BatchHeader,
    },
    /// Not a whole (valid) batch at `position`.
    Bad {
        position: u64,
        reason: String,
    },
    End,
}

/// Reads batches sequentially in large chunks (one buffer, reused), so a scan of a whole
/// segment costs few system calls. Lengths are checked against the end before reading.
pub struct Scanner<'a> {
    file: &'a File,
    path: &'a Path,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    buf_pos: u64,
    buf_len: usize,
    last: (usize, usize),
}

impl<'a> Scanner<'a> {
    pub fn new(file: &'a File, path: &'a Path, pos: u64, end: u64, buf: Vec<u8>) -> Self {
        Scanner {
            file,
            path,
            pos,
            end,
            buf,
            buf_pos: 0,
            buf_len: 0,
            last: (0, 0),
        }
    }

    /// Returns the buffer for reuse.
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// Makes `[pos, pos + len)` resident; the caller checked `pos + len <= end`.
    fn fill(&mut self, pos: u64, len: usize) -> Result<usize, StorageError> {
        if pos >= self.buf_pos && pos + len as u64 <= self.buf_pos + self.buf_len as u64 {
            return Ok((pos - self.buf_pos) as usize);
        }
        let want = (len.max(SCAN_CHUNK) as u64).min(self.end - pos) as usize;
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        self.file
            .read_exact_at(&mut self.buf[..want], pos)
            .map_err(|e| io_err(self.path, e))?;
        self.buf_pos = pos;
        self.buf_len = want;
        Ok(0)
    }

    /// The next batch; with `verify`, its CRC is checked too. I/O errors are errors; bad
    /// data is reported as [`ScanItem::Bad`] and ends the scan.
    pub fn next(&mut self, verify: bool) -> Result<ScanItem, StorageError> {
        let position = self.pos;
        if position >= self.end {
            return Ok(ScanItem::End);
        }
        let remaining = self.end - position;
        let bad = |reason: String| Ok(ScanItem::Bad { position, reason });
        if remaining < HEADER_LEN as u64 {
            return bad(format!("torn batch header ({remaining} bytes)"));
        }
        let at = self.fill(position, HEADER_LEN)?;
        let header = match BatchHeader::parse(&self.buf[at..at + HEADER_LEN]) {
            Ok(h) => h,
            Err(e) => return bad(e.to_string()),
        };
        if header.size as u64 > remaining {
            return bad(format!(
                "torn batch: {} bytes announced, {} present",
                header.size, remaining
            ));
        }
        let at = self.fill(position, header.size)?;
        let bytes = &self.buf[at..at + header.size];
        if verify {
            if let Err(e) = BatchHeader::parse_verified(bytes) {
                return bad(e.to_string());
            }
        }
        self.last = (at, header.size);
        self.pos = position + header.size as u64;
        Ok(ScanItem::Batch { position, header })
    }

    /// The bytes of the batch last returned by [`Scanner::next`].
    pub fn batch(&self) -> &[u8] {
        &self.buf[self.last.0..self.last.0 + self.last.1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(log_file_name(42), "00000000000000000042.log");
        assert_eq!(index_file_name(0), "00000000000000000000.index");
        assert_eq!(parse_file_name("00000000000000000042.log", "log"), Some(42));
        assert_eq!(parse_file_name("00000000000000000042.index", "log"), None);
        assert_eq!(parse_file_name("x.log", "log"), None);
        assert_eq!(parse_file_name(".log", "log"), None);
        assert_eq!(parse_file_name("99999999999999999999.log", "log"), None);
    }

    #[test]
    fn recovery_never_panics_on_garbage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut rng_state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            rng_state ^= rng_state << 13;
            rng_state ^= rng_state >> 7;
            rng_state ^= rng_state << 17;
            rng_state
        };
        let mut scan_buf = Vec::new();
        for round in 0..200u64 {
            let len = (next() % 300) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if round % 3 == 0 && bytes.len() > 17 {
                // Plausible header: magic 2 and a huge or small length.
                bytes[16] = 2;
                let l = (next() as i32).to_be_bytes();
                bytes[8..12].copy_from_slice(&l);
            }
            if round % 5 == 1 {
                // A valid batch whose base offset (outside the CRC) is absurd.
                bytes = crate::storage::compaction::tests::batch_with(
                    0,
                    &[(Some("k"), Some("v"), 1), (None, None, 2)],
                    -1,
                    kafka_protocol::records::Compression::None,
                );
                let weird = [i64::MAX, i64::MIN, -1, i32::MAX as i64 + round as i64];
                crate::record_batch::set_base_offset(&mut bytes, weird[(round / 5) as usize % 4]);
            }
            let base = round as i64;
            std::fs::write(dir.path().join(log_file_name(base)), &bytes).expect("write");
            let (seg, _t) =
                Segment::recover(dir.path(), base, 0, 4096, &mut scan_buf).expect("recover");
            assert!(seg.size() <= len as u64);
        }
    }
}
