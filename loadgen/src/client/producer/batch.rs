//! Incremental Kafka v2 record-batch encoding.
//!
//! Records are written one by one straight into the batch's buffer (after 61 bytes kept
//! for the batch header), so a batch is encoded exactly once and nothing is allocated
//! per record. Closing the batch fills in the header (producer id, epoch, base sequence,
//! CRC-32C) in place; with a codec, the record section is compressed with the
//! `kafka-protocol` crate's compressors (Kafka-framed snappy, LZ4 frame, gzip, zstd).

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
use kafka_protocol::records::Compression;

use crate::client::error::ClientError;

/// Size of the v2 batch header that precedes the records.
pub const HEADER_LEN: usize = 61;

// Offsets of the header fields.
const LENGTH_AT: usize = 8;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const PRODUCER_ID_AT: usize = 43;

/// Bytes of a zigzag varint.
#[inline]
pub fn varint_len(v: i32) -> usize {
    varlong_len(i64::from(v))
}

/// Bytes of a zigzag varlong.
#[inline]
pub fn varlong_len(v: i64) -> usize {
    let z = ((v << 1) ^ (v >> 63)) as u64;
    // 1 byte per 7 bits, at least 1.
    let bits = 64 - (z | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[inline]
fn put_varlong(buf: &mut BytesMut, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    buf.put_u8(z as u8);
}

#[inline]
fn put_varint(buf: &mut BytesMut, v: i32) {
    put_varlong(buf, i64::from(v));
}

#[inline]
fn bytes_field_len(b: Option<&[u8]>) -> usize {
    match b {
        Some(b) => varint_len(b.len() as i32) + b.len(),
        None => 1,
    }
}

/// Size of the parts of a record that do not depend on its position in the batch.
#[inline]
pub fn record_fixed_len(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(String, Bytes)],
) -> usize {
    let mut n =
        1 + bytes_field_len(key) + bytes_field_len(value) + varint_len(headers.len() as i32);
    for (k, v) in headers {
        n += varint_len(k.len() as i32) + k.len() + varint_len(v.len() as i32) + v.len();
    }
    n
}

/// An upper bound on a record's encoded size, whatever its offset and timestamp deltas
/// (used for `buffer.memory` accounting and the `batch.size` check).
#[inline]
pub fn record_max_len(fixed: usize) -> usize {
    // timestamp delta (varlong) + offset delta (varint) + length prefix (varint)
    fixed + 10 + 5 + 5
}

/// An open batch being filled.
#[derive(Debug)]
pub struct BatchBuilder {
    buf: BytesMut,
    count: i32,
    base_ts: i64,
    max_ts: i64,
}

impl BatchBuilder {
    pub fn with_capacity(capacity: usize) -> BatchBuilder {
        let mut buf = BytesMut::with_capacity(capacity.max(HEADER_LEN + 64));
        buf.put_bytes(0, HEADER_LEN);
        BatchBuilder {
            buf,
            count: 0,
            base_ts: 0,
            max_ts: i64::MIN,
        }
    }

    /// Encoded size so far (header included, uncompressed).
    #[inline]
    pub fn size(&self) -> usize {
        self.buf.len()
    }

    #[inline]
    pub fn count(&self) -> i32 {
        self.count
    }

    /// Appends one record; `fixed` is [`record_fixed_len`] of the same fields.
    #[inline]
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(String, Bytes)],
        fixed: usize,
    ) {
        if self.count == 0 {
            self.base_ts = timestamp;
        }
        let ts_delta = timestamp.wrapping_sub(self.base_ts);
        let offset_delta = self.count;
        let body = fixed + varlong_len(ts_delta) + varint_len(offset_delta);
        let buf = &mut self.buf;
        buf.reserve(body + 5);
        put_varint(buf, body as i32);
        buf.put_u8(0); // attributes
        put_varlong(buf, ts_delta);
        put_varint(buf, offset_delta);
        put_bytes_field(buf, key);
        put_bytes_field(buf, value);
        put_varint(buf, headers.len() as i32);
        for (k, v) in headers {
            put_varint(buf, k.len() as i32);
            buf.put_slice(k.as_bytes());
            put_varint(buf, v.len() as i32);
            buf.put_slice(v);
        }
        self.count += 1;
        if timestamp > self.max_ts {
            self.max_ts = timestamp;
        }
    }

    /// Closes the batch: header filled in, records compressed with `compression`.
    /// Returns the batch bytes and its uncompressed size.
    pub fn finish(
        self,
        compression: Compression,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> Result<(Bytes, usize), ClientError> {
        let uncompressed = self.buf.len();
        let mut out = if compression == Compression::None {
            self.buf
        } else {
            let records = &self.buf[HEADER_LEN..];
            let mut out = BytesMut::with_capacity(HEADER_LEN + records.len() / 2 + 64);
            out.put_slice(&self.buf[..HEADER_LEN]);
            compress(compression, records, &mut out)?;
            out
        };
        let len = out.len();
        {
            let h = &mut out[..HEADER_LEN];
            h[0..8].copy_from_slice(&0i64.to_be_bytes());
            h[LENGTH_AT..12].copy_from_slice(&((len - 12) as i32).to_be_bytes());
            h[12..16].copy_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
            h[16] = 2; // magic
            h[ATTRIBUTES_AT..23].copy_from_slice(&(compression as i16).to_be_bytes());
            h[23..27].copy_from_slice(&(self.count - 1).max(0).to_be_bytes());
            h[27..35].copy_from_slice(&self.base_ts.to_be_bytes());
            let max_ts = if self.count == 0 {
                self.base_ts
            } else {
                self.max_ts
            };
            h[35..43].copy_from_slice(&max_ts.to_be_bytes());
            h[57..61].copy_from_slice(&self.count.to_be_bytes());
        }
        stamp_in_place(&mut out, producer_id, producer_epoch, base_sequence);
        Ok((out.freeze(), uncompressed))
    }
}

#[inline]
fn put_bytes_field(buf: &mut BytesMut, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            put_varint(buf, b.len() as i32);
            buf.put_slice(b);
        }
        None => put_varint(buf, -1),
    }
}

fn compress(
    compression: Compression,
    records: &[u8],
    out: &mut BytesMut,
) -> Result<(), ClientError> {
    // The closures are written inline so their return type is inferred from the
    // compressor's bound (the crate's `anyhow::Result`).
    let r = match compression {
        Compression::None => {
            out.put_slice(records);
            Ok(())
        }
        Compression::Gzip => <Gzip as Compressor<BytesMut>>::compress(out, |tmp| {
            tmp.extend_from_slice(records);
            Ok(())
        }),
        Compression::Snappy => <Snappy as Compressor<BytesMut>>::compress(out, |tmp| {
            tmp.extend_from_slice(records);
            Ok(())
        }),
        Compression::Lz4 => <Lz4 as Compressor<BytesMut>>::compress(out, |tmp| {
            tmp.extend_from_slice(records);
            Ok(())
        }),
        Compression::Zstd => <Zstd as Compressor<BytesMut>>::compress(out, |tmp| {
            tmp.extend_from_slice(records);
            Ok(())
        }),
    };
    r.map_err(|e| ClientError::Other(format!("{compression:?} compression failed: {e}")))
}

/// Writes producer id, epoch and base sequence into a closed batch and recomputes its
/// CRC.
fn stamp_in_place(batch: &mut [u8], producer_id: i64, producer_epoch: i16, base_sequence: i32) {
    batch[PRODUCER_ID_AT..51].copy_from_slice(&producer_id.to_be_bytes());
    batch[51..53].copy_from_slice(&producer_epoch.to_be_bytes());
    batch[53..57].copy_from_slice(&base_sequence.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_AT..]);
    batch[CRC_AT..21].copy_from_slice(&crc.to_be_bytes());
}

/// A copy of a closed batch with a new producer id, epoch and base sequence (a retry
/// after the idempotent producer's epoch was bumped).
pub fn restamp(batch: &Bytes, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Bytes {
    let mut b = BytesMut::from(&batch[..]);
    stamp_in_place(&mut b, producer_id, producer_epoch, base_sequence);
    b.freeze()
}

/// (producer id, epoch, base sequence) of a closed batch.
pub fn stamp_of(batch: &[u8]) -> (i64, i16, i32) {
    let mut pid = [0u8; 8];
    pid.copy_from_slice(&batch[PRODUCER_ID_AT..51]);
    (
        i64::from_be_bytes(pid),
        i16::from_be_bytes([batch[51], batch[52]]),
        i32::from_be_bytes([batch[53], batch[54], batch[55], batch[56]]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    #[test]
    fn varint_lengths() {
        for (v, n) in [
            (0i64, 1usize),
            (-1, 1),
            (63, 1),
            (64, 2),
            (-65, 2),
            (8191, 2),
            (8192, 3),
            (i64::MAX, 10),
            (i64::MIN, 10),
        ] {
            assert_eq!(varlong_len(v), n, "{v}");
            let mut b = BytesMut::new();
            put_varlong(&mut b, v);
            assert_eq!(b.len(), n, "{v}");
        }
        assert_eq!(varint_len(-1), 1);
    }

    #[test]
    fn batches_decode_with_every_codec() {
        let headers = vec![("h1".to_string(), Bytes::from_static(b"v1"))];
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut b = BatchBuilder::with_capacity(16384);
            let base = 1_700_000_000_000i64;
            for i in 0..50i64 {
                let key = format!("key-{i}");
                let value = vec![b'x'; 100 + i as usize];
                let h: &[(String, Bytes)] = if i % 2 == 0 { &headers } else { &[] };
                let key = (i != 7).then_some(key.as_bytes());
                let fixed = record_fixed_len(key, Some(&value), h);
                let before = b.size();
                // Timestamps may go backwards: deltas are signed.
                b.append(base + (i * 37) % 11 - 5, key, Some(&value), h, fixed);
                assert!(b.size() - before <= record_max_len(fixed));
            }
            let (bytes, uncompressed) = b.finish(compression, 42, 3, 1000).expect("finish");
            assert!(uncompressed > 50 * 100);
            if compression != Compression::None {
                assert!(bytes.len() < uncompressed, "{compression:?} compresses");
            }
            assert_eq!(stamp_of(&bytes), (42, 3, 1000));
            let mut buf = bytes.clone();
            let set = RecordBatchDecoder::decode(&mut buf).expect("decodes, CRC ok");
            assert_eq!(set.compression, compression);
            assert_eq!(set.records.len(), 50);
            for (i, r) in set.records.iter().enumerate() {
                let i = i as i64;
                assert_eq!(r.offset, i);
                assert_eq!(r.sequence, 1000 + i as i32);
                assert_eq!(r.producer_id, 42);
                assert_eq!(r.producer_epoch, 3);
                assert_eq!(r.timestamp, base + (i * 37) % 11 - 5);
                assert_eq!(
                    r.key.as_deref(),
                    (i != 7)
                        .then(|| format!("key-{i}"))
                        .as_deref()
                        .map(str::as_bytes)
                );
                assert_eq!(r.value.as_ref().map(|v| v.len()), Some(100 + i as usize));
                assert_eq!(r.headers.len(), usize::from(i % 2 == 0));
            }
            // Restamping keeps the batch valid.
            let again = restamp(&bytes, 7, 0, 0);
            let set = RecordBatchDecoder::decode(&mut again.clone()).expect("restamped");
            assert_eq!(set.records[3].sequence, 3);
            assert_eq!(set.records[3].producer_id, 7);
        }
    }

    #[test]
    fn header_fields() {
        let mut b = BatchBuilder::with_capacity(0);
        b.append(
            100,
            None,
            Some(b"a"),
            &[],
            record_fixed_len(None, Some(b"a"), &[]),
        );
        b.append(
            90,
            None,
            Some(b"b"),
            &[],
            record_fixed_len(None, Some(b"b"), &[]),
        );
        let (bytes, _) = b.finish(Compression::None, -1, -1, -1).expect("finish");
        let i64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&bytes[at..at + 8]);
            i64::from_be_bytes(a)
        };
        let i32_at = |at: usize| {
            i32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        assert_eq!(i32_at(LENGTH_AT) as usize, bytes.len() - 12);
        assert_eq!(bytes[16], 2);
        assert_eq!(i32_at(23), 1, "last offset delta");
        assert_eq!(i64_at(27), 100, "base timestamp = first record's");
        assert_eq!(i64_at(35), 100, "max timestamp");
        assert_eq!(i32_at(57), 2, "record count");
        assert_eq!(stamp_of(&bytes), (-1, -1, -1));
    }
}
