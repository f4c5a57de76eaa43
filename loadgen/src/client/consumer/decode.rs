//! What the consumer takes from one partition's `records` in a Fetch response: the
//! batches are read with the shared v2 layout (`kafkalab-wire`: header, CRC check,
//! records, decompression); this module applies the consumer's rules on top: records
//! below the fetch offset are skipped, control batches are not handed out, and with
//! `read_committed` the records of aborted transactions are dropped. A batch cut off at
//! the end (fetch size limits) is left for the next fetch.
//!
//! Records reference the fetched buffer (key and value are slices of the response
//! `Bytes`): no per-record copy for uncompressed batches.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::AbortedTransaction;
use kafkalab_wire::{batches, records, BatchError, ControlType};

use super::ConsumerRecord;

/// The smallest piece of a batch that shows its length and magic.
const LENGTH_AND_MAGIC: usize = 17;

/// Decodes the record batches in `data` (a Fetch response's `records`) into `out`,
/// skipping records below `fetch_offset`, control records and (read_committed)
/// aborted transactions. Returns the offset to fetch next.
pub(crate) fn decode_records(
    data: Bytes,
    topic: &Arc<str>,
    partition: i32,
    fetch_offset: i64,
    read_committed: bool,
    aborted: &[AbortedTransaction],
    out: &mut Vec<ConsumerRecord>,
) -> Result<i64, String> {
    let mut next = fetch_offset;
    let mut aborted: Vec<(i64, i64)> = aborted
        .iter()
        .map(|a| (a.first_offset, a.producer_id.0))
        .collect();
    aborted.sort_unstable();
    let mut aborted_next = 0usize;
    let mut aborting: HashSet<i64> = HashSet::new();
    let mut decoded_any = false;
    for item in batches(&data) {
        let (h, slice) = match item {
            Ok(batch) => batch,
            Err(BatchError::Truncated { need, have }) => {
                if !decoded_any && have >= LENGTH_AND_MAGIC && need > have {
                    // Not even one whole batch: a batch larger than the fetch size from
                    // a broker without KIP-74, which the consumer could never get past.
                    return Err(format!(
                        "record batch at offset {fetch_offset} ({need} bytes) is larger than the fetch size ({have} bytes); raise max.partition.fetch.bytes"
                    ));
                }
                break;
            }
            Err(e) => return Err(format!("batch at or after offset {next}: {e}")),
        };
        decoded_any = true;
        let last_offset = h.last_offset();
        if last_offset < fetch_offset {
            continue;
        }
        next = next.max(last_offset + 1);
        if read_committed {
            while aborted_next < aborted.len() && aborted[aborted_next].0 <= last_offset {
                aborting.insert(aborted[aborted_next].1);
                aborted_next += 1;
            }
        }
        let batch = data.slice_ref(slice);
        if h.is_control() {
            if read_committed {
                let marker = records(&batch, &h)
                    .ok()
                    .and_then(|mut r| r.next())
                    .and_then(Result::ok)
                    .and_then(|r| r.key)
                    .and_then(|k| ControlType::of_key(&k));
                if marker == Some(ControlType::Abort) {
                    aborting.remove(&h.producer_id);
                }
            }
            continue;
        }
        if read_committed && h.is_transactional() && aborting.contains(&h.producer_id) {
            continue;
        }
        let recs = records(&batch, &h).map_err(|e| e.to_string())?;
        out.reserve(h.record_count.max(0) as usize);
        for r in recs {
            let r = r.map_err(|e| e.to_string())?;
            if r.offset < fetch_offset {
                continue;
            }
            out.push(ConsumerRecord {
                topic: topic.clone(),
                partition,
                offset: r.offset,
                timestamp_ms: r.timestamp,
                key: r.key,
                value: r.value,
            });
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    fn batch(base: i64, n: usize, compression: Compression) -> Bytes {
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: base + i as i64,
                sequence: i as i32,
                timestamp: 1_000 + i as i64,
                key: match i % 2 {
                    0 => Some(Bytes::from(format!("k{i}"))),
                    _ => None,
                },
                value: Some(Bytes::from(format!("value-{}", base + i as i64))),
                headers: [(
                    StrBytes::from_static_str("h"),
                    Some(Bytes::from_static(b"x")),
                )]
                .into_iter()
                .collect(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            records.iter(),
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .expect("encode");
        buf.freeze()
    }

    fn decode(data: Bytes, from: i64) -> (Vec<ConsumerRecord>, Result<i64, String>) {
        let mut out = Vec::new();
        let t: Arc<str> = Arc::from("t");
        let r = decode_records(data, &t, 0, from, false, &[], &mut out);
        (out, r)
    }

    #[test]
    fn decodes_all_codecs_and_skips_below_the_fetch_offset() {
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut data = BytesMut::new();
            data.extend_from_slice(&batch(0, 5, c));
            data.extend_from_slice(&batch(5, 5, c));
            let (recs, next) = decode(data.freeze(), 3);
            assert_eq!(next, Ok(10), "{c:?}");
            let offsets: Vec<i64> = recs.iter().map(|r| r.offset).collect();
            assert_eq!(offsets, (3..10).collect::<Vec<_>>(), "{c:?}");
            assert_eq!(recs[0].value.as_deref(), Some(&b"value-3"[..]));
            assert_eq!(recs[0].key, None);
            assert_eq!(recs[1].key.as_deref(), Some(&b"k4"[..]));
            assert_eq!(recs[0].timestamp_ms, 1_003);
        }
    }

    #[test]
    fn a_truncated_trailing_batch_is_left_for_the_next_fetch() {
        let mut data = BytesMut::new();
        data.extend_from_slice(&batch(0, 3, Compression::None));
        let second = batch(3, 3, Compression::None);
        data.extend_from_slice(&second[..second.len() - 5]);
        let (recs, next) = decode(data.freeze(), 0);
        assert_eq!(recs.len(), 3);
        assert_eq!(next, Ok(3));
        // Only a partial batch: too large for the fetch size.
        let (_, err) = decode(second.slice(..second.len() - 5), 3);
        assert!(err.is_err());
    }

    #[test]
    fn corrupt_batches_are_errors_not_panics() {
        let mut b = BytesMut::from(&batch(0, 3, Compression::None)[..]);
        let n = b.len();
        b[n - 3] ^= 0xff;
        assert!(decode(b.freeze(), 0).1.is_err());
        // Garbage of every length never panics.
        let good = batch(0, 3, Compression::None);
        for cut in 0..good.len() {
            let mut g = BytesMut::from(&good[..cut]);
            if g.len() > 30 {
                g[30] = 0xff;
            }
            let _ = decode(g.freeze(), 0);
        }
    }
}
