//! The read path of a partition log: finding the batch that holds an offset (offset index,
//! then a forward scan of batch headers), reading whole batches up to a byte budget, and
//! scanning batches in order; a small cache lets readers continue where they stopped.

use bytes::Bytes;

use super::{corrupt, FileLog};
use crate::record_batch::{BatchHeader, HEADER_LEN};
use crate::storage::file::segment::ScanItem;
use crate::storage::{ReadResult, StorageError};

/// Bytes read at a time while looking for the batch containing an offset.
const LOCATE_WINDOW: usize = 8 * 1024;
/// Positions remembered for readers that continue where they stopped.
const READ_CACHE_SLOTS: usize = 4;

/// "The next read at `offset` starts at `position` of the segment based at `segment_base`".
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct CacheEntry {
    pub(super) valid: bool,
    pub(super) offset: i64,
    pub(super) segment_base: i64,
    pub(super) position: u64,
}

#[derive(Debug, Default)]
pub(super) struct ReadCache {
    slots: [CacheEntry; READ_CACHE_SLOTS],
    next: usize,
}

impl ReadCache {
    pub(super) fn get(&self, offset: i64) -> Option<(usize, CacheEntry)> {
        self.slots
            .iter()
            .enumerate()
            .find(|(_, e)| e.valid && e.offset == offset)
            .map(|(i, e)| (i, *e))
    }

    /// Records where a read ended; `hit` is the slot the read started from, reused so a
    /// sequential reader keeps one slot.
    pub(super) fn put(&mut self, hit: Option<usize>, entry: CacheEntry) {
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

    pub(super) fn clear(&mut self) {
        *self = ReadCache::default();
    }
}

/// Called for each batch of a scan; returns whether to go on.
pub(super) type BatchVisitor<'a> =
    dyn FnMut(&BatchHeader, &[u8]) -> Result<bool, StorageError> + 'a;

impl FileLog {
    /// Segment and position of the first batch whose last offset is >= `offset`, found via
    /// the offset index and a forward scan of batch headers; `None` past the end.
    pub(super) fn locate(&self, offset: i64) -> Result<Option<(usize, u64)>, StorageError> {
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
    pub(super) fn read_batches(
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

    pub(super) fn result(&self, records: Bytes) -> ReadResult {
        ReadResult {
            records,
            log_start_offset: self.log_start,
            log_end_offset: self.log_end,
        }
    }

    /// Visits every batch (with its bytes) from segment `idx`, position `pos` on.
    pub(super) fn scan_from(
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
}
