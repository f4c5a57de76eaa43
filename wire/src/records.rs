//! Reading the records of one batch. Keys and values of an uncompressed batch are
//! slices of the batch's `Bytes` (no copy); a compressed batch is decompressed once and
//! its records are slices of the decompressed buffer.

use bytes::Bytes;

use crate::header::{BatchError, BatchHeader, Codec};
use crate::layout::HEADER_LEN;
use crate::varint::read_varlong;

/// One record of a batch, with its absolute offset and timestamp (the batch max
/// timestamp under LogAppendTime). Headers are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

/// What a control record marks (the type in its key: version i16, type i16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlType {
    Abort,
    Commit,
    Other(i16),
}

impl ControlType {
    /// The type in a control record's key; `None` when the key is too short.
    pub fn of_key(key: &[u8]) -> Option<ControlType> {
        let t = i16::from_be_bytes([*key.get(2)?, *key.get(3)?]);
        Some(match t {
            0 => ControlType::Abort,
            1 => ControlType::Commit,
            other => ControlType::Other(other),
        })
    }
}

/// The records of `batch`, a whole batch whose header is `header` (see
/// [`BatchHeader::parse_verified`]). Decompresses a compressed batch up front.
#[inline]
pub fn records(batch: &Bytes, header: &BatchHeader) -> Result<Records, BatchError> {
    let end = header.size.min(batch.len());
    let body = batch.slice(HEADER_LEN.min(end)..end);
    let data = match header.codec() {
        Codec::None => body,
        codec => decompress(codec, body)?,
    };
    Ok(Records {
        data,
        pos: 0,
        left: header.record_count.max(0),
        base_offset: header.base_offset,
        base_timestamp: header.base_timestamp,
        log_append_time: header.is_log_append_time().then_some(header.max_timestamp),
    })
}

fn decompress(codec: Codec, mut data: Bytes) -> Result<Bytes, BatchError> {
    use kafka_protocol::compression::{Decompressor, Gzip, Lz4, Snappy, Zstd};
    // The closures are written inline so their return type is inferred from the
    // decompressor's bound (the crate's `anyhow::Result`).
    let r = match codec {
        Codec::None => return Ok(data),
        Codec::Gzip => {
            <Gzip as Decompressor<Bytes>>::decompress(&mut data, |b| Ok(std::mem::take(b)))
        }
        Codec::Snappy => {
            <Snappy as Decompressor<Bytes>>::decompress(&mut data, |b| Ok(std::mem::take(b)))
        }
        Codec::Lz4 => {
            <Lz4 as Decompressor<Bytes>>::decompress(&mut data, |b| Ok(std::mem::take(b)))
        }
        Codec::Zstd => {
            <Zstd as Decompressor<Bytes>>::decompress(&mut data, |b| Ok(std::mem::take(b)))
        }
    };
    r.map_err(|e| BatchError::Compression {
        codec,
        detail: e.to_string(),
    })
}

/// Iterator over the records of one batch ([`records`]). Yields the header's record
/// count; a record that does not parse ends it with [`BatchError::MalformedRecord`].
pub struct Records {
    data: Bytes,
    pos: usize,
    left: i32,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
}

impl Records {
    #[inline(always)]
    fn read(&mut self) -> Option<Record> {
        let data = &self.data;
        let mut pos = self.pos;
        let len = usize::try_from(read_varlong(data, &mut pos)?).ok()?;
        let end = pos.checked_add(len)?;
        if end > data.len() {
            return None;
        }
        pos += 1; // attributes
        let ts_delta = read_varlong(data, &mut pos)?;
        let offset_delta = read_varlong(data, &mut pos)?;
        let key = bytes_field(data, &mut pos, end)?;
        let value = bytes_field(data, &mut pos, end)?;
        skip_headers(data, &mut pos, end)?;
        self.pos = end;
        Some(Record {
            offset: self.base_offset.wrapping_add(offset_delta),
            timestamp: match self.log_append_time {
                Some(t) => t,
                None => self.base_timestamp.wrapping_add(ts_delta),
            },
            key,
            value,
        })
    }
}

impl Iterator for Records {
    type Item = Result<Record, BatchError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.left <= 0 {
            return None;
        }
        self.left -= 1;
        match self.read() {
            Some(r) => Some(Ok(r)),
            None => {
                self.left = 0;
                Some(Err(BatchError::MalformedRecord {
                    base_offset: self.base_offset,
                }))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left.max(0) as usize))
    }
}

/// A nullable byte field (varint length, negative = null) ending by `end`.
#[inline(always)]
fn bytes_field(data: &Bytes, pos: &mut usize, end: usize) -> Option<Option<Bytes>> {
    let len = read_varlong(data, pos)?;
    if len < 0 {
        return Some(None);
    }
    let stop = pos.checked_add(usize::try_from(len).ok()?)?;
    if stop > end {
        return None;
    }
    let v = data.slice(*pos..stop);
    *pos = stop;
    Some(Some(v))
}

#[inline(always)]
fn skip_headers(data: &[u8], pos: &mut usize, end: usize) -> Option<()> {
    let n = read_varlong(data, pos)?;
    for _ in 0..n.max(0) {
        let klen = read_varlong(data, pos)?;
        *pos = pos.checked_add(usize::try_from(klen.max(0)).ok()?)?;
        let vlen = read_varlong(data, pos)?;
        if vlen > 0 {
            *pos = pos.checked_add(usize::try_from(vlen).ok()?)?;
        }
        if *pos > end {
            return None;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BatchBuilder;
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{
        Compression, Record as KpRecord, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    const CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn read_all(batch: &Bytes) -> Result<Vec<Record>, BatchError> {
        let h = BatchHeader::parse_verified(batch)?;
        records(batch, &h)?.collect()
    }

    #[test]
    fn what_the_writer_writes_reads_back_with_every_codec() {
        let headers = vec![("h1".to_string(), Bytes::from_static(b"v1"))];
        for compression in CODECS {
            let mut b = BatchBuilder::with_capacity(1024);
            for i in 0..40i64 {
                let key = format!("key-{i}");
                let key = (i != 7).then_some(key.as_bytes());
                let value = vec![b'a' + (i % 26) as u8; 50 + i as usize];
                let value = (i != 9).then_some(&value[..]);
                let h: &[(String, Bytes)] = if i % 2 == 0 { &headers } else { &[] };
                // Timestamps may go backwards: deltas are signed.
                b.append_record(1_000 + (i * 37) % 11 - 5, key, value, h);
            }
            let (batch, uncompressed) = b.finish(compression, 42, 3, 1000).expect("finish");
            if compression != Compression::None {
                assert!(batch.len() < uncompressed, "{compression:?} compresses");
            }
            let mut batch = batch.freeze();
            // Stored at offset 500.
            let mut moved = bytes::BytesMut::from(&batch[..]);
            crate::set_base_offset(&mut moved, 500);
            batch = moved.freeze();
            let recs = read_all(&batch).expect("reads back");
            assert_eq!(recs.len(), 40, "{compression:?}");
            for (i, r) in recs.iter().enumerate() {
                let i = i as i64;
                assert_eq!(r.offset, 500 + i);
                assert_eq!(r.timestamp, 1_000 + (i * 37) % 11 - 5);
                let key = format!("key-{i}");
                assert_eq!(r.key.as_deref(), (i != 7).then_some(key.as_bytes()));
                assert_eq!(
                    r.value.as_ref().map(|v| (v.len(), v[0])),
                    (i != 9).then_some((50 + i as usize, b'a' + (i % 26) as u8))
                );
            }
        }
    }

    #[test]
    fn reads_kafka_protocol_batches_and_log_append_time() {
        for compression in CODECS {
            let recs: Vec<KpRecord> = (0..5)
                .map(|i| KpRecord {
                    transactional: false,
                    control: false,
                    delete_horizon: false,
                    partition_leader_epoch: 0,
                    producer_id: -1,
                    producer_epoch: -1,
                    timestamp_type: TimestampType::Creation,
                    offset: 10 + i,
                    sequence: i as i32,
                    timestamp: 2_000 + i,
                    key: (i % 2 == 0).then(|| Bytes::from(format!("k{i}"))),
                    value: Some(Bytes::from(format!("value-{i}"))),
                    headers: [(StrBytes::from_static_str("h"), None)]
                        .into_iter()
                        .collect(),
                })
                .collect();
            let mut buf = bytes::BytesMut::new();
            RecordBatchEncoder::encode(
                &mut buf,
                recs.iter(),
                &RecordEncodeOptions {
                    version: 2,
                    compression,
                },
            )
            .expect("encode");
            let got = read_all(&buf.clone().freeze()).expect("reads");
            let want: Vec<(i64, i64, Option<Bytes>, Option<Bytes>)> = recs
                .iter()
                .map(|r| (r.offset, r.timestamp, r.key.clone(), r.value.clone()))
                .collect();
            let got_t: Vec<_> = got
                .iter()
                .map(|r| (r.offset, r.timestamp, r.key.clone(), r.value.clone()))
                .collect();
            assert_eq!(got_t, want, "{compression:?}");

            crate::set_log_append_time(&mut buf, 77).expect("stamp");
            let got = read_all(&buf.freeze()).expect("reads");
            assert!(got.iter().all(|r| r.timestamp == 77), "{compression:?}");
        }
    }

    #[test]
    fn malformed_records_and_bad_compressed_data_are_errors_not_panics() {
        for compression in CODECS {
            let mut b = BatchBuilder::with_capacity(0);
            for i in 0..3 {
                b.append_record(i, Some(b"k"), Some(b"some value"), &[]);
            }
            let (good, _) = b.finish(compression, -1, -1, -1).expect("finish");
            let good = good.freeze();
            let h = BatchHeader::parse_verified(&good).expect("valid");
            // The records section cut short or overwritten: errors, never a panic.
            for cut in HEADER_LEN..good.len() {
                let short = good.slice(..cut);
                let r: Result<Vec<_>, _> = match records(&short, &h) {
                    Ok(it) => it.collect(),
                    Err(e) => Err(e),
                };
                // A compressed stream cut only in its trailer (LZ4's end mark) may still
                // hold every record.
                let whole =
                    compression != Compression::None && r.as_ref().is_ok_and(|r| r.len() == 3);
                assert!(r.is_err() || whole, "{compression:?} cut at {cut}");
                let mut garbled = bytes::BytesMut::from(&good[..]);
                garbled[cut] = 0xff;
                let garbled = garbled.freeze();
                if let Ok(it) = records(&garbled, &h) {
                    let _ = it.count();
                }
            }
            // More records announced than written.
            let mut more = bytes::BytesMut::from(&good[..]);
            more[57..61].copy_from_slice(&4i32.to_be_bytes());
            let h4 = BatchHeader::parse(&more).expect("header");
            let r: Vec<_> = records(&more.freeze(), &h4).expect("starts").collect();
            assert_eq!(r.len(), 4);
            assert!(r[..3].iter().all(Result::is_ok));
            assert_eq!(r[3], Err(BatchError::MalformedRecord { base_offset: 0 }));
        }
    }

    #[test]
    fn control_types() {
        assert_eq!(ControlType::of_key(&[0, 0, 0, 0]), Some(ControlType::Abort));
        assert_eq!(
            ControlType::of_key(&[0, 0, 0, 1]),
            Some(ControlType::Commit)
        );
        assert_eq!(
            ControlType::of_key(&[0, 0, 0, 5]),
            Some(ControlType::Other(5))
        );
        assert_eq!(ControlType::of_key(&[0, 0, 0]), None);
    }
}
