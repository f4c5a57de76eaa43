//! The record value every kafkalab producer writes and every consumer verifies.
//!
//! # Layout (big-endian, [`HEADER_LEN`] = 30 bytes, then filler)
//!
//! | offset | size | field | meaning |
//! |---:|---:|---|---|
//! | 0  | 2 | magic | [`MAGIC`] = `0x4B4C` ("KL"); a future layout gets a new magic |
//! | 2  | 4 | run id | identifies the run (derived from the seed by the caller); records of other runs left in a reused topic are told apart |
//! | 6  | 4 | producer | index of the producer instance in the run (0, 1, ...) |
//! | 10 | 8 | sequence | per **(producer, partition)**: 0, 1, 2, ... for the records one producer instance sends to one partition |
//! | 18 | 8 | intended send time | `i64` ns since the run's epoch: when the open-loop schedule wanted the record sent |
//! | 26 | 4 | CRC32C | of bytes 0..26 |
//! | 30 | record_size - 30 | filler | copied from a caller-provided buffer (random or zeros); not covered by the CRC |
//!
//! The sequence is counted per (producer, partition) rather than per producer so that a
//! consumer of one partition sees each producer's sequence as 0, 1, 2, ... without gaps
//! in a healthy run: order can be checked within the partition (Kafka orders nothing
//! across partitions) and loss shows as a gap. The producer therefore assigns the
//! sequence *after* choosing the partition, one counter per partition.
//!
//! A value that is too short, has another magic or a bad CRC is *foreign*:
//! [`decode`] returns `None` and the verifier counts it separately.

use bytes::{BufMut, BytesMut};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// First two bytes of every kafkalab payload ("KL"), version 1 of the layout.
pub const MAGIC: u16 = 0x4B4C;
/// Bytes covered by the header (including its CRC).
pub const HEADER_LEN: usize = 30;
/// The smallest `record_size` a scenario may ask for: the header is never truncated.
pub const MIN_RECORD_SIZE: usize = HEADER_LEN;

const CRC_AT: usize = 26;

/// The decoded fixed header of a kafkalab record value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PayloadHeader {
    /// Identifies the run that wrote the record.
    pub run_id: u32,
    /// Index of the producer instance in the run.
    pub producer: u32,
    /// Sequence number per (producer, partition), starting at 0.
    pub seq: u64,
    /// Intended send time, ns since the run's epoch (open-loop schedule).
    pub intended_ns: i64,
}

/// Configuration-time payload errors.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PayloadError {
    /// `record_size` cannot hold the header.
    #[error(
        "record_size {record_size} is too small: kafkalab records need at least \
         {MIN_RECORD_SIZE} bytes for the verification header"
    )]
    RecordTooSmall {
        /// The size asked for.
        record_size: usize,
    },
    /// The output slice is shorter than the record size.
    #[error("output buffer of {len} bytes cannot hold a {record_size}-byte record")]
    BufferTooSmall {
        /// Length of the slice given.
        len: usize,
        /// Record size configured.
        record_size: usize,
    },
}

/// Checks a scenario's `record_size` (call at configuration time).
pub fn check_record_size(record_size: usize) -> Result<(), PayloadError> {
    if record_size < MIN_RECORD_SIZE {
        Err(PayloadError::RecordTooSmall { record_size })
    } else {
        Ok(())
    }
}

/// A validated record size; encoding through it cannot truncate the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadFormat {
    record_size: usize,
}

impl PayloadFormat {
    /// Validates `record_size` (bytes of the whole record value).
    pub fn new(record_size: usize) -> Result<Self, PayloadError> {
        check_record_size(record_size)?;
        Ok(Self { record_size })
    }

    /// Bytes of every record value written with this format.
    pub fn record_size(&self) -> usize {
        self.record_size
    }

    /// Bytes of filler after the header.
    pub fn filler_len(&self) -> usize {
        self.record_size - HEADER_LEN
    }

    /// Writes one record into `dst[..record_size]`: header, then filler copied from
    /// `filler` (repeated if shorter; zeros if empty). No allocation.
    pub fn encode_into(
        &self,
        dst: &mut [u8],
        header: &PayloadHeader,
        filler: &[u8],
    ) -> Result<(), PayloadError> {
        let Some(dst) = dst.get_mut(..self.record_size) else {
            return Err(PayloadError::BufferTooSmall {
                len: dst.len(),
                record_size: self.record_size,
            });
        };
        let (head, rest) = dst.split_at_mut(HEADER_LEN);
        write_header(head, header);
        fill(rest, filler);
        Ok(())
    }

    /// Appends one record (exactly `record_size` bytes) to `dst`. Allocates only if
    /// `dst` lacks capacity.
    pub fn encode_to(&self, dst: &mut BytesMut, header: &PayloadHeader, filler: &[u8]) {
        dst.reserve(self.record_size);
        let mut head = [0u8; HEADER_LEN];
        write_header(&mut head, header);
        dst.put_slice(&head);
        let mut remaining = self.filler_len();
        if filler.is_empty() {
            dst.put_bytes(0, remaining);
            return;
        }
        while remaining > 0 {
            let n = remaining.min(filler.len());
            dst.put_slice(&filler[..n]);
            remaining -= n;
        }
    }
}

fn write_header(head: &mut [u8], h: &PayloadHeader) {
    head[0..2].copy_from_slice(&MAGIC.to_be_bytes());
    head[2..6].copy_from_slice(&h.run_id.to_be_bytes());
    head[6..10].copy_from_slice(&h.producer.to_be_bytes());
    head[10..18].copy_from_slice(&h.seq.to_be_bytes());
    head[18..26].copy_from_slice(&h.intended_ns.to_be_bytes());
    let crc = crc32c::crc32c(&head[..CRC_AT]);
    head[CRC_AT..HEADER_LEN].copy_from_slice(&crc.to_be_bytes());
}

fn fill(dst: &mut [u8], filler: &[u8]) {
    if filler.is_empty() {
        dst.fill(0);
        return;
    }
    for chunk in dst.chunks_mut(filler.len()) {
        chunk.copy_from_slice(&filler[..chunk.len()]);
    }
}

/// Decodes the header of a record value; `None` if the value is not a kafkalab record
/// (too short, other magic, or CRC mismatch). Never panics.
pub fn decode(src: &[u8]) -> Option<PayloadHeader> {
    let head: &[u8; HEADER_LEN] = src.get(..HEADER_LEN)?.try_into().ok()?;
    if u16::from_be_bytes([head[0], head[1]]) != MAGIC {
        return None;
    }
    let crc = u32::from_be_bytes(head[CRC_AT..HEADER_LEN].try_into().ok()?);
    if crc32c::crc32c(&head[..CRC_AT]) != crc {
        return None;
    }
    Some(PayloadHeader {
        run_id: u32::from_be_bytes(head[2..6].try_into().ok()?),
        producer: u32::from_be_bytes(head[6..10].try_into().ok()?),
        seq: u64::from_be_bytes(head[10..18].try_into().ok()?),
        intended_ns: i64::from_be_bytes(head[18..26].try_into().ok()?),
    })
}

/// A pool of filler bytes prepared once per producer, so that no random numbers are
/// drawn per record. [`Filler::for_record`] hands out a window of the pool at an offset
/// derived from (producer, seq): with a random pool, neighbouring records in a batch
/// differ (so lz4/snappy/gzip, whose windows are ≤ 64 KiB, cannot compress them against
/// each other when the pool is ≥ 1 MiB); with zeros, every record compresses to nothing.
#[derive(Debug, Clone)]
pub struct Filler {
    pool: Vec<u8>,
    window: usize,
}

/// Default extra pool bytes beyond one record's filler.
pub const DEFAULT_FILLER_POOL: usize = 1 << 20;

impl Filler {
    /// A random pool able to serve windows of `window` bytes (a record's filler length),
    /// `window + pool_extra` bytes in all.
    pub fn random<R: RngCore + ?Sized>(rng: &mut R, window: usize, pool_extra: usize) -> Self {
        let mut pool = vec![0u8; window + pool_extra];
        rng.fill_bytes(&mut pool);
        Self { pool, window }
    }

    /// An all-zero filler (maximally compressible).
    pub fn zeros(window: usize) -> Self {
        Self {
            pool: vec![0u8; window],
            window,
        }
    }

    /// Largest window this filler serves.
    pub fn window(&self) -> usize {
        self.window
    }

    /// A window of `self.window()` bytes for one record; deterministic in (producer, seq).
    pub fn for_record(&self, producer: u32, seq: u64) -> &[u8] {
        let spread = self.pool.len() - self.window + 1;
        let mixed = (seq ^ (u64::from(producer) << 40)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let start = ((mixed >> 24) % spread as u64) as usize;
        &self.pool[start..start + self.window]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn header() -> PayloadHeader {
        PayloadHeader {
            run_id: 0xDEAD_BEEF,
            producer: 3,
            seq: 1_234_567_890_123,
            intended_ns: -42,
        }
    }

    #[test]
    fn round_trip_slice_and_bytes() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let format = PayloadFormat::new(100).expect("valid size");
        let filler = Filler::random(&mut rng, format.filler_len(), 4096);
        let h = header();
        let mut buf = vec![0xFFu8; 128];
        format
            .encode_into(&mut buf, &h, filler.for_record(h.producer, h.seq))
            .expect("fits");
        assert_eq!(decode(&buf[..100]), Some(h));
        assert_eq!(&buf[..2], b"KL");
        assert_eq!(&buf[HEADER_LEN..100], filler.for_record(h.producer, h.seq));
        assert_eq!(buf[100], 0xFF, "nothing written past record_size");

        let mut bytes = BytesMut::new();
        format.encode_to(&mut bytes, &h, filler.for_record(h.producer, h.seq));
        assert_eq!(bytes.len(), 100);
        assert_eq!(&bytes[..], &buf[..100]);
        assert_eq!(decode(&bytes), Some(h));
    }

    #[test]
    fn min_size_and_short_buffers() {
        assert_eq!(
            PayloadFormat::new(MIN_RECORD_SIZE - 1),
            Err(PayloadError::RecordTooSmall {
                record_size: MIN_RECORD_SIZE - 1
            })
        );
        let format = PayloadFormat::new(MIN_RECORD_SIZE).expect("exactly the header");
        let mut buf = [0u8; MIN_RECORD_SIZE];
        format.encode_into(&mut buf, &header(), &[]).expect("fits");
        assert_eq!(decode(&buf), Some(header()));
        let mut short = [0u8; 10];
        assert!(matches!(
            format.encode_into(&mut short, &header(), &[]),
            Err(PayloadError::BufferTooSmall { .. })
        ));
        assert!(PayloadError::RecordTooSmall { record_size: 4 }
            .to_string()
            .contains("at least 30 bytes"));
    }

    #[test]
    fn short_filler_repeats_and_empty_is_zeros() {
        let format = PayloadFormat::new(HEADER_LEN + 7).expect("valid");
        let mut buf = [1u8; HEADER_LEN + 7];
        format
            .encode_into(&mut buf, &header(), b"abc")
            .expect("fits");
        assert_eq!(&buf[HEADER_LEN..], b"abcabca");
        let mut bytes = BytesMut::new();
        format.encode_to(&mut bytes, &header(), b"abc");
        assert_eq!(&bytes[HEADER_LEN..], b"abcabca");
        format.encode_into(&mut buf, &header(), &[]).expect("fits");
        assert_eq!(&buf[HEADER_LEN..], &[0u8; 7]);
        bytes.clear();
        format.encode_to(&mut bytes, &header(), &[]);
        assert_eq!(&bytes[HEADER_LEN..], &[0u8; 7]);
    }

    #[test]
    fn foreign_values_are_rejected() {
        let format = PayloadFormat::new(64).expect("valid");
        let mut buf = [0u8; 64];
        format.encode_into(&mut buf, &header(), b"x").expect("fits");
        assert!(decode(&buf).is_some());
        // Too short, empty, other magic, any flipped header bit.
        assert_eq!(decode(&buf[..HEADER_LEN - 1]), None);
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(b"hello world, this is a plain text value!"), None);
        for i in 0..HEADER_LEN {
            let mut bad = buf;
            bad[i] ^= 0x10;
            assert_eq!(decode(&bad), None, "flip in byte {i} must be detected");
        }
        // The filler is not covered: changing it keeps the header valid.
        let mut other_filler = buf;
        other_filler[40] ^= 1;
        assert_eq!(decode(&other_filler), Some(header()));
    }

    #[test]
    fn filler_windows_vary_and_stay_in_bounds() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let f = Filler::random(&mut rng, 500, DEFAULT_FILLER_POOL);
        let a = f.for_record(0, 0).as_ptr();
        let b = f.for_record(0, 1).as_ptr();
        let c = f.for_record(1, 0).as_ptr();
        assert!(a != b && a != c);
        for seq in 0..10_000 {
            assert_eq!(f.for_record(7, seq).len(), 500);
        }
        let z = Filler::zeros(10);
        assert_eq!(z.for_record(1, 99), &[0u8; 10]);
        assert_eq!(z.window(), 10);
    }
}
