//! A read-only view of a Kafka v2 record batch header (magic 2), plus the two in-place
//! edits the broker makes: assigning the base offset and (for replication later) the
//! leader epoch. Neither field is covered by the batch CRC, so stored bytes stay valid.
//!
//! Layout (big-endian), see https://kafka.apache.org/documentation/#recordbatch:
//! baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 | crc u32 |
//! attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 | maxTimestamp i64 |
//! producerId i64 | producerEpoch i16 | baseSequence i32 | recordCount i32 | records...

use thiserror::Error;

/// Bytes before the records, i.e. the full v2 header.
pub const HEADER_LEN: usize = 61;
/// `baseOffset` + `batchLength`: the part not counted in `batchLength`.
pub const LOG_OVERHEAD: usize = 12;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;

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

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl BatchHeader {
    /// Parses the header at the start of `buf`. Checks length and magic, not the CRC.
    pub fn parse(buf: &[u8]) -> Result<Self, BatchError> {
        if buf.len() < HEADER_LEN {
            return Err(BatchError::Truncated {
                need: HEADER_LEN,
                have: buf.len(),
            });
        }
        let batch_length = be_i32(buf, 8);
        if batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
            return Err(BatchError::InvalidLength(batch_length));
        }
        let magic = buf[16] as i8;
        if magic != 2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        Ok(BatchHeader {
            base_offset: be_i64(buf, 0),
            size: batch_length as usize + LOG_OVERHEAD,
            partition_leader_epoch: be_i32(buf, 12),
            crc: be_i32(buf, CRC_OFFSET) as u32,
            attributes: be_i16(buf, ATTRIBUTES_OFFSET),
            last_offset_delta: be_i32(buf, 23),
            base_timestamp: be_i64(buf, 27),
            max_timestamp: be_i64(buf, 35),
            producer_id: be_i64(buf, 43),
            producer_epoch: be_i16(buf, 51),
            base_sequence: be_i32(buf, 53),
            record_count: be_i32(buf, 57),
        })
    }

    /// Parses the header and checks that the whole batch is present and its CRC32C matches.
    pub fn parse_verified(buf: &[u8]) -> Result<Self, BatchError> {
        let h = Self::parse(buf)?;
        if buf.len() < h.size {
            return Err(BatchError::Truncated {
                need: h.size,
                have: buf.len(),
            });
        }
        let computed = crc32c::crc32c(&buf[ATTRIBUTES_OFFSET..h.size]);
        if computed != h.crc {
            return Err(BatchError::CrcMismatch {
                stored: h.crc,
                computed,
            });
        }
        Ok(h)
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }

    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }

    pub fn codec(&self) -> Codec {
        match self.attributes & 0x7 {
            1 => Codec::Gzip,
            2 => Codec::Snappy,
            3 => Codec::Lz4,
            4 => Codec::Zstd,
            _ => Codec::None,
        }
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
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

/// Rewrites the base offset of the batch at the start of `buf` (not covered by the CRC).
pub fn set_base_offset(buf: &mut [u8], base_offset: i64) {
    buf[0..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Rewrites the partition leader epoch (not covered by the CRC).
pub fn set_partition_leader_epoch(buf: &mut [u8], epoch: i32) {
    buf[12..16].copy_from_slice(&epoch.to_be_bytes());
}

/// Stamps the batch with LogAppendTime: sets the timestamp-type attribute and the max
/// timestamp to `now_ms`, then recomputes the CRC (both fields are covered by it).
pub fn set_log_append_time(buf: &mut [u8], now_ms: i64) -> Result<(), BatchError> {
    let h = BatchHeader::parse(buf)?;
    if buf.len() < h.size {
        return Err(BatchError::Truncated {
            need: h.size,
            have: buf.len(),
        });
    }
    let attributes = h.attributes | 0x08;
    buf[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    buf[35..43].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&buf[ATTRIBUTES_OFFSET..h.size]);
    buf[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Producer fields of a batch built with [`build`]; the default is a non-idempotent
/// producer (no id, epoch or sequence).
#[derive(Debug, Clone, Copy)]
pub struct BatchSpec {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub compression: kafka_protocol::records::Compression,
}

impl Default for BatchSpec {
    fn default() -> Self {
        BatchSpec {
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            compression: kafka_protocol::records::Compression::None,
        }
    }
}

/// One record for [`build`]: key, value, timestamp (ms).
pub type SimpleRecord = (Option<bytes::Bytes>, Option<bytes::Bytes>, i64);

/// Encodes records as one v2 batch (offsets from 0) with the `kafka-protocol` encoder.
/// Sequences run on from `base_sequence` (the encoder starts a new batch whenever
/// offset − sequence changes, so they must stay contiguous).
pub fn build(
    spec: &BatchSpec,
    records: impl IntoIterator<Item = SimpleRecord>,
) -> Result<bytes::BytesMut, String> {
    use kafka_protocol::records::{Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
    let records: Vec<Record> = records
        .into_iter()
        .enumerate()
        .map(|(i, (key, value, timestamp))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: spec.producer_id,
            producer_epoch: spec.producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: spec.base_sequence.wrapping_add(i as i32),
            timestamp,
            key,
            value,
            headers: Default::default(),
        })
        .collect();
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: spec.compression,
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(buf)
}

/// Iterates over the batches in a buffer of concatenated batches, verifying each CRC.
/// Stops with an error at the first bad or truncated batch.
pub fn batches(buf: &[u8]) -> BatchIter<'_> {
    BatchIter { buf, pos: 0 }
}

pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<(BatchHeader, &'a [u8]), BatchError>;

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
    use kafka_protocol::records::Compression;

    pub(crate) fn encode(n: usize, compression: Compression) -> Vec<u8> {
        let spec = BatchSpec {
            producer_id: 7,
            producer_epoch: 0,
            base_sequence: 0,
            compression,
        };
        let records = (0..n).map(|i| {
            (
                None,
                Some(bytes::Bytes::from(vec![b'x'; 10])),
                1000 + i as i64,
            )
        });
        build(&spec, records).expect("encode").to_vec()
    }

    #[test]
    fn parses_and_verifies_encoded_batch() {
        let buf = encode(3, Compression::None);
        let h = BatchHeader::parse_verified(&buf).expect("valid");
        assert_eq!(h.record_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.size, buf.len());
        assert_eq!(h.producer_id, 7);
        assert_eq!(h.max_timestamp, 1002);
        assert_eq!(h.last_sequence(), 2);
        assert_eq!(h.codec(), Codec::None);
    }

    #[test]
    fn base_offset_rewrite_keeps_crc_valid() {
        let mut buf = encode(2, Compression::Gzip);
        set_base_offset(&mut buf, 42);
        let h = BatchHeader::parse_verified(&buf).expect("still valid");
        assert_eq!(h.base_offset, 42);
        assert_eq!(h.next_offset(), 44);
        assert_eq!(h.codec(), Codec::Gzip);
    }

    #[test]
    fn log_append_time_rewrites_and_keeps_crc_valid() {
        let mut buf = encode(2, Compression::None);
        set_log_append_time(&mut buf, 99_000).expect("stamped");
        let h = BatchHeader::parse_verified(&buf).expect("valid crc");
        assert_eq!(h.max_timestamp, 99_000);
        assert_eq!(h.attributes & 0x08, 0x08);
    }

    #[test]
    fn corrupt_payload_fails_crc() {
        let mut buf = encode(2, Compression::None);
        let last = buf.len() - 1;
        buf[last] ^= 0xff;
        assert!(matches!(
            BatchHeader::parse_verified(&buf),
            Err(BatchError::CrcMismatch { .. })
        ));
    }

    #[test]
    fn truncated_and_bad_magic_are_errors() {
        let buf = encode(1, Compression::None);
        assert!(matches!(
            BatchHeader::parse_verified(&buf[..buf.len() - 1]),
            Err(BatchError::Truncated { .. })
        ));
        assert!(matches!(
            BatchHeader::parse(&buf[..10]),
            Err(BatchError::Truncated { .. })
        ));
        let mut bad = buf.clone();
        bad[16] = 1;
        assert_eq!(
            BatchHeader::parse(&bad),
            Err(BatchError::UnsupportedMagic(1))
        );
    }

    #[test]
    fn iterates_concatenated_batches_and_stops_at_torn_tail() {
        let mut all = encode(2, Compression::None);
        all.extend(encode(3, Compression::None));
        let torn = all.len() - 5;
        let hs: Vec<_> = batches(&all[..torn]).collect();
        assert_eq!(hs.len(), 2);
        assert!(hs[0].is_ok());
        assert!(hs[1].is_err());
    }
}
