//! Writing a batch incrementally.
//!
//! Records are written one by one straight into the batch's buffer (after
//! [`HEADER_LEN`] bytes kept for the header), so a batch is encoded exactly once and
//! nothing is allocated per record. Closing the batch fills in the header (producer id,
//! epoch, base sequence, CRC-32C) in place; with a codec, the record section is
//! compressed with the `kafka-protocol` crate's compressors (Kafka-framed snappy, LZ4
//! frame, gzip, zstd).

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
use kafka_protocol::records::Compression;

use crate::header::{BatchError, BatchHeader, Codec};
use crate::layout::HEADER_LEN;
use crate::varint::{put_varint, put_varlong, varint_len, varlong_len};

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

/// An open batch being filled (offsets from 0, base timestamp = the first record's).
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

    /// [`append`](Self::append), computing the record's fixed length.
    pub fn append_record(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(String, Bytes)],
    ) {
        let fixed = record_fixed_len(key, value, headers);
        self.append(timestamp, key, value, headers, fixed);
    }

    /// Closes the batch: header filled in, records compressed with `compression`.
    /// Returns the batch bytes and its uncompressed size.
    pub fn finish(
        self,
        compression: Compression,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> Result<(BytesMut, usize), BatchError> {
        let uncompressed = self.buf.len();
        let mut out = if compression == Compression::None {
            self.buf
        } else {
            let records = &self.buf[HEADER_LEN..];
            let mut out = BytesMut::with_capacity(HEADER_LEN + records.len() / 2 + 64);
            out.put_bytes(0, HEADER_LEN);
            compress(compression, records, &mut out)?;
            out
        };
        let header = BatchHeader {
            base_offset: 0,
            size: out.len(),
            partition_leader_epoch: -1,
            crc: 0,
            attributes: compression as i16,
            last_offset_delta: (self.count - 1).max(0),
            base_timestamp: self.base_ts,
            max_timestamp: if self.count == 0 {
                self.base_ts
            } else {
                self.max_ts
            },
            producer_id,
            producer_epoch,
            base_sequence,
            record_count: self.count,
        };
        header.write(&mut out)?;
        Ok((out, uncompressed))
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
) -> Result<(), BatchError> {
    // The closures are written inline so their return type is inferred from the
    // compressor's bound (the crate's `anyhow::Result`).
    let (codec, r) = match compression {
        Compression::None => {
            out.put_slice(records);
            return Ok(());
        }
        Compression::Gzip => (
            Codec::Gzip,
            <Gzip as Compressor<BytesMut>>::compress(out, |tmp| {
                tmp.extend_from_slice(records);
                Ok(())
            }),
        ),
        Compression::Snappy => (
            Codec::Snappy,
            <Snappy as Compressor<BytesMut>>::compress(out, |tmp| {
                tmp.extend_from_slice(records);
                Ok(())
            }),
        ),
        Compression::Lz4 => (
            Codec::Lz4,
            <Lz4 as Compressor<BytesMut>>::compress(out, |tmp| {
                tmp.extend_from_slice(records);
                Ok(())
            }),
        ),
        Compression::Zstd => (
            Codec::Zstd,
            <Zstd as Compressor<BytesMut>>::compress(out, |tmp| {
                tmp.extend_from_slice(records);
                Ok(())
            }),
        ),
    };
    r.map_err(|e| BatchError::Compression {
        codec,
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    #[test]
    fn batches_decode_with_kafka_protocol_with_every_codec() {
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
                b.append(base + (i * 37) % 11 - 5, key, Some(&value), h, fixed);
                assert!(b.size() - before <= record_max_len(fixed));
            }
            assert_eq!(b.count(), 50);
            let (bytes, uncompressed) = b.finish(compression, 42, 3, 1000).expect("finish");
            assert!(uncompressed > 50 * 100);
            let mut buf = bytes.freeze();
            let set = RecordBatchDecoder::decode(&mut buf).expect("decodes, CRC ok");
            assert_eq!(set.compression, compression);
            assert_eq!(set.records.len(), 50);
            for (i, r) in set.records.iter().enumerate() {
                let i = i as i64;
                assert_eq!(r.offset, i);
                assert_eq!(r.sequence, 1000 + i as i32);
                assert_eq!((r.producer_id, r.producer_epoch), (42, 3));
                assert_eq!(r.timestamp, base + (i * 37) % 11 - 5);
                assert_eq!(r.value.as_ref().map(|v| v.len()), Some(100 + i as usize));
                assert_eq!(r.headers.len(), usize::from(i % 2 == 0));
            }
        }
    }

    #[test]
    fn header_fields_of_a_closed_batch() {
        let mut b = BatchBuilder::with_capacity(0);
        b.append_record(100, None, Some(b"a"), &[]);
        b.append_record(90, None, Some(b"b"), &[]);
        let (bytes, uncompressed) = b.finish(Compression::None, -1, -1, -1).expect("finish");
        assert_eq!(uncompressed, bytes.len());
        let h = BatchHeader::parse_verified(&bytes).expect("valid");
        assert_eq!(h.size, bytes.len());
        assert_eq!(h.base_offset, 0);
        assert_eq!(h.partition_leader_epoch, -1);
        assert_eq!(h.last_offset_delta, 1);
        assert_eq!(h.base_timestamp, 100, "the first record's");
        assert_eq!(h.max_timestamp, 100);
        assert_eq!(h.record_count, 2);
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (-1, -1, -1)
        );

        let (empty, _) = BatchBuilder::with_capacity(0)
            .finish(Compression::None, -1, -1, -1)
            .expect("finish");
        let h = BatchHeader::parse_verified(&empty).expect("valid");
        assert_eq!(
            (h.size, h.record_count, h.last_offset_delta),
            (HEADER_LEN, 0, 0)
        );
    }
}
