//! The batch header: parsed and checked ([`BatchHeader::parse_verified`]), written back
//! with a fresh CRC ([`BatchHeader::write`]), and the in-place edits brokers and producers
//! make to stored or closed batches.

use thiserror::Error;

use crate::layout::{self, attributes, get_i16, get_i32, get_i64, put_i16, put_i32, put_i64};
use crate::layout::{HEADER_LEN, LOG_OVERHEAD};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("record batch truncated: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    #[error("unsupported record batch magic {0} (only v2 is supported)")]
    UnsupportedMagic(i8),
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("record batch length {0} is invalid")]
    InvalidLength(i32),
    #[error("malformed record in batch at offset {base_offset}")]
    MalformedRecord { base_offset: i64 },
    #[error("{codec:?} compression failed: {detail}")]
    Compression { codec: Codec, detail: String },
}

/// Compression codec from the low three attribute bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

/// Parsed header of one record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Total size including the 12-byte log overhead.
    pub size: usize,
    pub partition_leader_epoch: i32,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl BatchHeader {
    /// Parses the header at the start of `buf`. Checks length and magic, not the CRC,
    /// and not that the whole batch is present.
    #[inline]
    pub fn parse(buf: &[u8]) -> Result<Self, BatchError> {
        if buf.len() < LOG_OVERHEAD {
            return Err(BatchError::Truncated {
                need: HEADER_LEN,
                have: buf.len(),
            });
        }
        let batch_length = get_i32(buf, layout::BATCH_LENGTH);
        if batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
            return Err(BatchError::InvalidLength(batch_length));
        }
        let size = batch_length as usize + LOG_OVERHEAD;
        if buf.len() < HEADER_LEN {
            return Err(BatchError::Truncated {
                need: size,
                have: buf.len(),
            });
        }
        let magic = buf[layout::MAGIC] as i8;
        if magic != layout::CURRENT_MAGIC {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        Ok(BatchHeader {
            base_offset: get_i64(buf, layout::BASE_OFFSET),
            size,
            partition_leader_epoch: get_i32(buf, layout::PARTITION_LEADER_EPOCH),
            crc: get_i32(buf, layout::CRC) as u32,
            attributes: get_i16(buf, layout::ATTRIBUTES),
            last_offset_delta: get_i32(buf, layout::LAST_OFFSET_DELTA),
            base_timestamp: get_i64(buf, layout::BASE_TIMESTAMP),
            max_timestamp: get_i64(buf, layout::MAX_TIMESTAMP),
            producer_id: get_i64(buf, layout::PRODUCER_ID),
            producer_epoch: get_i16(buf, layout::PRODUCER_EPOCH),
            base_sequence: get_i32(buf, layout::BASE_SEQUENCE),
            record_count: get_i32(buf, layout::RECORD_COUNT),
        })
    }

    /// Parses the header and checks that the whole batch is present and its CRC32C matches.
    #[inline]
    pub fn parse_verified(buf: &[u8]) -> Result<Self, BatchError> {
        let h = Self::parse(buf)?;
        if buf.len() < h.size {
            return Err(BatchError::Truncated {
                need: h.size,
                have: buf.len(),
            });
        }
        let computed = crc32c::crc32c(&buf[layout::ATTRIBUTES..h.size]);
        if computed != h.crc {
            return Err(BatchError::CrcMismatch {
                stored: h.crc,
                computed,
            });
        }
        Ok(h)
    }

    /// Writes every field into the first [`HEADER_LEN`] bytes of `buf` (the batch
    /// length from `size`, magic 2) and the CRC of `buf[attributes..size]` (`crc` is
    /// ignored). `buf` holds the batch: at least `size` bytes.
    pub fn write(&self, buf: &mut [u8]) -> Result<(), BatchError> {
        let batch_length = self
            .size
            .checked_sub(LOG_OVERHEAD)
            .and_then(|l| i32::try_from(l).ok())
            .filter(|&l| l >= (HEADER_LEN - LOG_OVERHEAD) as i32)
            .ok_or(BatchError::InvalidLength(self.size as i32))?;
        if buf.len() < self.size {
            return Err(BatchError::Truncated {
                need: self.size,
                have: buf.len(),
            });
        }
        put_i64(buf, layout::BASE_OFFSET, self.base_offset);
        put_i32(buf, layout::BATCH_LENGTH, batch_length);
        put_i32(
            buf,
            layout::PARTITION_LEADER_EPOCH,
            self.partition_leader_epoch,
        );
        buf[layout::MAGIC] = layout::CURRENT_MAGIC as u8;
        put_i16(buf, layout::ATTRIBUTES, self.attributes);
        put_i32(buf, layout::LAST_OFFSET_DELTA, self.last_offset_delta);
        put_i64(buf, layout::BASE_TIMESTAMP, self.base_timestamp);
        put_i64(buf, layout::MAX_TIMESTAMP, self.max_timestamp);
        put_i64(buf, layout::PRODUCER_ID, self.producer_id);
        put_i16(buf, layout::PRODUCER_EPOCH, self.producer_epoch);
        put_i32(buf, layout::BASE_SEQUENCE, self.base_sequence);
        put_i32(buf, layout::RECORD_COUNT, self.record_count);
        seal(&mut buf[..self.size]);
        Ok(())
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }

    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }

    #[inline]
    pub fn codec(&self) -> Codec {
        match self.attributes & attributes::COMPRESSION_MASK {
            1 => Codec::Gzip,
            2 => Codec::Snappy,
            3 => Codec::Lz4,
            4 => Codec::Zstd,
            _ => Codec::None,
        }
    }

    /// Record timestamps are the broker's append time (the batch max timestamp).
    #[inline]
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & attributes::LOG_APPEND_TIME != 0
    }

    #[inline]
    pub fn is_transactional(&self) -> bool {
        self.attributes & attributes::TRANSACTIONAL != 0
    }

    #[inline]
    pub fn is_control(&self) -> bool {
        self.attributes & attributes::CONTROL != 0
    }

    /// Whether the producer asked for idempotent sequencing.
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }

    /// Sequence of the last record in the batch, wrapping at i32::MAX like Kafka.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let last = self.base_sequence as i64 + self.last_offset_delta as i64;
        (last % (i32::MAX as i64 + 1)) as i32
    }
}

/// Recomputes the CRC of the batch that is all of `batch`.
#[inline]
fn seal(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[layout::ATTRIBUTES..]);
    put_i32(batch, layout::CRC, crc as i32);
}

/// Rewrites the base offset of the batch at the start of `buf` (not covered by the CRC).
pub fn set_base_offset(buf: &mut [u8], base_offset: i64) {
    put_i64(buf, layout::BASE_OFFSET, base_offset);
}

/// Rewrites the partition leader epoch (not covered by the CRC).
pub fn set_partition_leader_epoch(buf: &mut [u8], epoch: i32) {
    put_i32(buf, layout::PARTITION_LEADER_EPOCH, epoch);
}

/// Stamps the batch with LogAppendTime: sets the timestamp-type attribute and the max
/// timestamp to `now_ms`, then recomputes the CRC (both fields are covered by it).
pub fn set_log_append_time(buf: &mut [u8], now_ms: i64) -> Result<(), BatchError> {
    let mut h = whole(buf)?;
    h.attributes |= attributes::LOG_APPEND_TIME;
    h.max_timestamp = now_ms;
    h.write(buf)
}

/// Writes producer id, epoch and base sequence into a batch and recomputes its CRC (a
/// retry after the idempotent producer's epoch was bumped).
pub fn set_producer(
    buf: &mut [u8],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Result<(), BatchError> {
    let mut h = whole(buf)?;
    h.producer_id = producer_id;
    h.producer_epoch = producer_epoch;
    h.base_sequence = base_sequence;
    h.write(buf)
}

/// The header of the batch at the start of `buf`, which must hold all of it.
fn whole(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    let h = BatchHeader::parse(buf)?;
    if buf.len() < h.size {
        return Err(BatchError::Truncated {
            need: h.size,
            have: buf.len(),
        });
    }
    Ok(h)
}

/// Iterates over the batches in a buffer of concatenated batches, verifying each CRC.
/// Stops with an error at the first bad or truncated batch (a batch cut off at the end
/// is [`BatchError::Truncated`]).
pub fn batches(buf: &[u8]) -> BatchIter<'_> {
    BatchIter { buf, pos: 0 }
}

pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<(BatchHeader, &'a [u8]), BatchError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.pos..];
        match BatchHeader::parse_verified(rest) {
            Ok(h) => {
                self.pos += h.size;
                Some(Ok((h, &rest[..h.size])))
            }
            Err(e) => {
                self.pos = self.buf.len();
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BatchBuilder;
    use kafka_protocol::records::Compression;

    fn encode(n: usize, compression: Compression) -> Vec<u8> {
        let mut b = BatchBuilder::with_capacity(0);
        for i in 0..n {
            b.append_record(1000 + i as i64, None, Some(&[b'x'; 10]), &[]);
        }
        let (batch, _) = b.finish(compression, 7, 0, 0).expect("finish");
        batch.to_vec()
    }

    #[test]
    fn parses_and_verifies_a_written_batch() {
        let buf = encode(3, Compression::None);
        let h = BatchHeader::parse_verified(&buf).expect("valid");
        assert_eq!(h.record_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.size, buf.len());
        assert_eq!(h.producer_id, 7);
        assert_eq!(h.base_timestamp, 1000);
        assert_eq!(h.max_timestamp, 1002);
        assert_eq!(h.last_sequence(), 2);
        assert_eq!(h.codec(), Codec::None);
        assert!(!h.is_control() && !h.is_transactional() && !h.is_log_append_time());
    }

    #[test]
    fn header_write_round_trips_every_field() {
        let h = BatchHeader {
            base_offset: 1 << 40,
            size: HEADER_LEN,
            partition_leader_epoch: 9,
            crc: 0,
            attributes: attributes::TRANSACTIONAL | attributes::CONTROL | 3,
            last_offset_delta: 4,
            base_timestamp: -5,
            max_timestamp: 1 << 50,
            producer_id: 123_456_789_012,
            producer_epoch: -2,
            base_sequence: i32::MAX,
            record_count: 0,
        };
        let mut buf = vec![0u8; HEADER_LEN];
        h.write(&mut buf).expect("fits");
        let back = BatchHeader::parse_verified(&buf).expect("valid CRC");
        assert_eq!(BatchHeader { crc: back.crc, ..h }, back);
        assert_eq!(back.codec(), Codec::Lz4);
        assert!(back.is_control() && back.is_transactional());
        assert_eq!(back.last_sequence(), 3, "wraps at i32::MAX");
        // A buffer shorter than the batch, or a size below the header, is an error.
        assert!(h.write(&mut buf[..HEADER_LEN - 1]).is_err());
        let short = BatchHeader { size: 12, ..h };
        assert!(short.write(&mut buf).is_err());
    }

    #[test]
    fn in_place_edits_keep_the_crc_valid() {
        let mut buf = encode(2, Compression::Gzip);
        set_base_offset(&mut buf, 42);
        set_partition_leader_epoch(&mut buf, 5);
        let h = BatchHeader::parse_verified(&buf).expect("still valid");
        assert_eq!((h.base_offset, h.next_offset()), (42, 44));
        assert_eq!(h.partition_leader_epoch, 5);
        assert_eq!(h.codec(), Codec::Gzip);

        set_log_append_time(&mut buf, 99_000).expect("stamped");
        let h = BatchHeader::parse_verified(&buf).expect("valid crc");
        assert_eq!(h.max_timestamp, 99_000);
        assert!(h.is_log_append_time());
        assert_eq!(h.codec(), Codec::Gzip);

        set_producer(&mut buf, 8, 1, 77).expect("restamped");
        let h = BatchHeader::parse_verified(&buf).expect("valid crc");
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (8, 1, 77)
        );
        assert!(set_producer(&mut buf[..HEADER_LEN + 1], 8, 1, 77).is_err());
    }

    #[test]
    fn a_changed_byte_fails_the_crc() {
        let good = encode(2, Compression::None);
        for at in [21, 30, good.len() - 1] {
            let mut buf = good.clone();
            buf[at] ^= 0xff;
            assert!(
                matches!(
                    BatchHeader::parse_verified(&buf),
                    Err(BatchError::CrcMismatch { .. })
                ),
                "byte {at}"
            );
        }
    }

    #[test]
    fn truncated_or_bad_input_is_an_error_not_a_panic() {
        let buf = encode(1, Compression::None);
        assert!(matches!(
            BatchHeader::parse_verified(&buf[..buf.len() - 1]),
            Err(BatchError::Truncated { need, .. }) if need == buf.len()
        ));
        assert!(matches!(
            BatchHeader::parse(&buf[..10]),
            Err(BatchError::Truncated { .. })
        ));
        // Fewer bytes than a header, but the length is known: `need` is the batch size.
        assert_eq!(
            BatchHeader::parse(&buf[..20]),
            Err(BatchError::Truncated {
                need: buf.len(),
                have: 20
            })
        );
        let mut bad = buf.clone();
        bad[16] = 1;
        assert_eq!(
            BatchHeader::parse(&bad),
            Err(BatchError::UnsupportedMagic(1))
        );
        let mut neg = buf.clone();
        neg[8..12].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(BatchHeader::parse(&neg), Err(BatchError::InvalidLength(-1)));
        for cut in 0..buf.len() {
            assert!(BatchHeader::parse_verified(&buf[..cut]).is_err(), "{cut}");
            let mut g = buf[..cut].to_vec();
            if let Some(b) = g.get_mut(cut / 2) {
                *b ^= 0x5a;
            }
            let _ = BatchHeader::parse_verified(&g);
            assert!(set_producer(&mut g, 1, 1, 1).is_err());
            assert!(set_log_append_time(&mut g, 1).is_err());
        }
    }

    #[test]
    fn iterates_concatenated_batches_and_stops_at_a_torn_tail() {
        let mut all = encode(2, Compression::None);
        all.extend(encode(3, Compression::None));
        let hs: Vec<_> = batches(&all).collect();
        assert_eq!(hs.len(), 2);
        assert!(hs.iter().all(Result::is_ok));
        let torn = all.len() - 5;
        let hs: Vec<_> = batches(&all[..torn]).collect();
        assert_eq!(hs.len(), 2);
        assert!(hs[0].is_ok());
        assert!(matches!(hs[1], Err(BatchError::Truncated { .. })));
    }
}
