//! Log compaction (`cleanup.policy=compact`) as pure functions over stored batches, shared
//! by the file and the in-memory backends.
//!
//! The rules, after Kafka's log cleaner:
//! * the latest record of every key (over the whole log, including the active segment) is
//!   kept, older records with the same key are removed;
//! * a tombstone (null value) that is the latest for its key is removed once it is older
//!   than `delete.retention.ms` (by its timestamp);
//! * records without a key and control batches are kept as they are;
//! * offsets never change: a rewritten batch holds the retained records with their original
//!   offsets, keeps the last offset of the original batch (so the producer's last sequence
//!   survives), its producer fields, attributes and compression codec;
//! * a batch whose records are all removed disappears, except the last batch of an
//!   idempotent producer, which is kept as an empty batch (header only) so the producer
//!   state can still be rebuilt from the log.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
};

use super::StorageError;
use crate::record_batch::{BatchHeader, Codec, HEADER_LEN};
use kafkalab_wire::attributes::COMPRESSION_MASK;

/// The latest offset of every key and the last batch of every producer, over a whole log.
#[derive(Debug, Default)]
pub struct KeyMap {
    latest: HashMap<Box<[u8]>, i64>,
    last_producer_batch: HashMap<i64, i64>,
}

impl KeyMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the records of one stored batch; batches must be added in offset order.
    /// A batch that cannot be decoded contributes no keys (so nothing is removed because
    /// of it).
    pub fn add_batch(&mut self, batch: &[u8]) -> Result<(), StorageError> {
        let header = BatchHeader::parse(batch)?;
        if header.has_producer_id() {
            self.last_producer_batch
                .insert(header.producer_id, header.base_offset);
        }
        if header.is_control() {
            return Ok(());
        }
        let Some(records) = decode_one(batch) else {
            return Ok(());
        };
        for r in records {
            if let Some(key) = r.key {
                match self.latest.get_mut(key.as_ref()) {
                    Some(off) => *off = (*off).max(r.offset),
                    None => {
                        self.latest.insert(key.as_ref().into(), r.offset);
                    }
                }
            }
        }
        Ok(())
    }

    /// Number of distinct keys seen.
    pub fn len(&self) -> usize {
        self.latest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }

    fn latest_offset(&self, key: &[u8]) -> Option<i64> {
        self.latest.get(key).copied()
    }

    fn is_last_batch_of_producer(&self, header: &BatchHeader) -> bool {
        header.has_producer_id()
            && self.last_producer_batch.get(&header.producer_id) == Some(&header.base_offset)
    }
}

/// What compaction does to one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compacted {
    /// Nothing removed: keep the stored bytes.
    Unchanged,
    /// Some records removed: replace the batch with these bytes (one valid batch).
    Rewritten(Vec<u8>),
    /// Every record removed and nothing to preserve: drop the batch.
    Removed,
}

/// The result for one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactedBatch {
    pub result: Compacted,
    pub records_removed: u64,
    /// Earliest time (ms) at which a tombstone kept in this batch becomes removable.
    pub next_tombstone_expiry_ms: Option<i64>,
}

impl CompactedBatch {
    fn unchanged(next_tombstone_expiry_ms: Option<i64>) -> Self {
        CompactedBatch {
            result: Compacted::Unchanged,
            records_removed: 0,
            next_tombstone_expiry_ms,
        }
    }
}

/// Builds the key map over `all` and compacts the first `cleanable` batches of it (the
/// rest play the role of the active segment: sources of "latest", never rewritten).
pub fn compact_batches(
    all: &[&[u8]],
    cleanable: usize,
    delete_retention_ms: i64,
    now_ms: i64,
) -> Result<Vec<CompactedBatch>, StorageError> {
    let mut map = KeyMap::new();
    for b in all {
        map.add_batch(b)?;
    }
    all.iter()
        .take(cleanable)
        .map(|b| compact_batch(b, &map, delete_retention_ms, now_ms))
        .collect()
}

/// Compacts one stored batch against the key map of the whole log.
pub fn compact_batch(
    batch: &[u8],
    map: &KeyMap,
    delete_retention_ms: i64,
    now_ms: i64,
) -> Result<CompactedBatch, StorageError> {
    let header = BatchHeader::parse(batch)?;
    if header.is_control() || header.record_count <= 0 {
        return Ok(CompactedBatch::unchanged(None));
    }
    let Some(records) = decode_one(batch) else {
        tracing::warn!(
            base_offset = header.base_offset,
            "compaction: cannot decode batch, keeping it as is"
        );
        return Ok(CompactedBatch::unchanged(None));
    };
    let log_append = header.is_log_append_time();
    let total = records.len();
    let mut tombstone_expiry: Option<i64> = None;
    let retained: Vec<Record> = records
        .into_iter()
        .filter(|r| {
            let Some(key) = &r.key else {
                return true;
            };
            if map
                .latest_offset(key)
                .is_some_and(|latest| latest > r.offset)
            {
                return false;
            }
            if r.value.is_none() {
                let ts = if log_append {
                    header.max_timestamp
                } else {
                    r.timestamp
                };
                let expiry = ts.saturating_add(delete_retention_ms);
                if now_ms > expiry {
                    return false;
                }
                let removable_at = expiry.saturating_add(1);
                tombstone_expiry =
                    Some(tombstone_expiry.map_or(removable_at, |e| e.min(removable_at)));
            }
            true
        })
        .collect();
    let removed = (total - retained.len()) as u64;
    if removed == 0 {
        return Ok(CompactedBatch::unchanged(tombstone_expiry));
    }
    let result = if retained.is_empty() {
        if map.is_last_batch_of_producer(&header) {
            Compacted::Rewritten(empty_batch(&header))
        } else {
            Compacted::Removed
        }
    } else {
        match reencode(&header, &retained) {
            Some(bytes) => Compacted::Rewritten(bytes),
            None => {
                tracing::warn!(
                    base_offset = header.base_offset,
                    "compaction: cannot re-encode batch, keeping it as is"
                );
                return Ok(CompactedBatch::unchanged(tombstone_expiry));
            }
        }
    };
    Ok(CompactedBatch {
        result,
        records_removed: removed,
        next_tombstone_expiry_ms: tombstone_expiry,
    })
}

fn decode_one(batch: &[u8]) -> Option<Vec<Record>> {
    let mut buf = Bytes::copy_from_slice(batch);
    RecordBatchDecoder::decode(&mut buf)
        .ok()
        .map(|set| set.records)
}

fn compression_of(codec: Codec) -> Compression {
    match codec {
        Codec::None => Compression::None,
        Codec::Gzip => Compression::Gzip,
        Codec::Snappy => Compression::Snappy,
        Codec::Lz4 => Compression::Lz4,
        Codec::Zstd => Compression::Zstd,
    }
}

/// Sequence of the record `delta` offsets after one with sequence `base`, wrapping at
/// i32::MAX like Kafka; -1 stays -1.
fn shift_sequence(base: i32, delta: i64) -> i32 {
    if base < 0 {
        return -1;
    }
    ((base as i64 + delta).rem_euclid(i32::MAX as i64 + 1)) as i32
}

/// Re-encodes the retained records of `orig` as one batch with the same codec, keeping the
/// original last offset, producer fields and attributes.
fn reencode(orig: &BatchHeader, retained: &[Record]) -> Option<Vec<u8>> {
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        retained.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: compression_of(orig.codec()),
        },
    )
    .ok()?;
    let mut out = buf.to_vec();
    let new = BatchHeader::parse(&out).ok()?;
    // The encoder starts a new batch when batch-level fields differ; records from one
    // stored batch never do, but check rather than store something unexpected.
    if new.size != out.len() {
        return None;
    }
    let header = BatchHeader {
        attributes: orig.attributes,
        last_offset_delta: i32::try_from(orig.last_offset().checked_sub(new.base_offset)?).ok()?,
        max_timestamp: if orig.is_log_append_time() {
            orig.max_timestamp
        } else {
            new.max_timestamp
        },
        // Not covered by the CRC, but keep it as stored.
        partition_leader_epoch: orig.partition_leader_epoch,
        base_sequence: shift_sequence(orig.base_sequence, new.base_offset - orig.base_offset),
        ..new
    };
    header.write(&mut out).ok()?;
    Some(out)
}

/// A header-only batch covering the original offsets, with no records (what Kafka keeps
/// for a producer's last batch when compaction empties it).
fn empty_batch(orig: &BatchHeader) -> Vec<u8> {
    let header = BatchHeader {
        size: HEADER_LEN,
        // Compression none: there are no records to compress.
        attributes: orig.attributes & !COMPRESSION_MASK,
        base_timestamp: orig.max_timestamp,
        record_count: 0,
        ..*orig
    };
    let mut out = vec![0u8; HEADER_LEN];
    // The buffer holds exactly `size` bytes, which cannot fail.
    let _ = header.write(&mut out);
    out
}

/// Test helper: recomputes the CRC of a batch whose header a test edited.
#[cfg(test)]
fn seal(buf: &mut [u8]) {
    if let Ok(h) = BatchHeader::parse(buf) {
        let _ = h.write(buf);
    }
}

/// Test check: a produced batch is exactly one valid batch.
#[cfg(test)]
pub(crate) fn verify(batch: &[u8]) -> BatchHeader {
    let h = BatchHeader::parse_verified(batch).expect("compacted batch verifies");
    assert_eq!(h.size, batch.len());
    h
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use kafka_protocol::records::TimestampType;

    /// One record for a test batch: (key, value, timestamp).
    pub(crate) type Kv<'a> = (Option<&'a str>, Option<&'a str>, i64);

    /// Encodes records as one batch with offsets from `base`.
    pub(crate) fn batch_with(
        base: i64,
        records: &[Kv<'_>],
        producer_id: i64,
        compression: Compression,
    ) -> Vec<u8> {
        let recs: Vec<Record> = records
            .iter()
            .enumerate()
            .map(|(i, (k, v, ts))| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id,
                producer_epoch: if producer_id >= 0 { 0 } else { -1 },
                timestamp_type: TimestampType::Creation,
                offset: base + i as i64,
                // The encoder starts a new batch unless offset - sequence stays constant.
                sequence: if producer_id >= 0 {
                    i as i32
                } else {
                    i as i32 - 1
                },
                timestamp: *ts,
                key: k.map(|s| Bytes::copy_from_slice(s.as_bytes())),
                value: v.map(|s| Bytes::copy_from_slice(s.as_bytes())),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            recs.iter(),
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .expect("encode");
        buf.to_vec()
    }

    fn kvs(batch: &[u8]) -> Vec<(i64, Option<String>, Option<String>)> {
        super::super::decode_records(batch)
            .expect("decode")
            .into_iter()
            .map(|r| {
                (
                    r.offset,
                    r.key.map(|k| String::from_utf8_lossy(&k).into_owned()),
                    r.value.map(|v| String::from_utf8_lossy(&v).into_owned()),
                )
            })
            .collect()
    }

    #[test]
    fn keeps_latest_per_key_with_original_offsets() {
        let b0 = batch_with(
            0,
            &[
                (Some("a"), Some("1"), 10),
                (Some("b"), Some("1"), 11),
                (Some("a"), Some("2"), 12),
                (None, Some("x"), 13),
            ],
            -1,
            Compression::None,
        );
        let b1 = batch_with(4, &[(Some("b"), Some("2"), 20)], -1, Compression::None);
        let out = compact_batches(&[&b0, &b1], 1, 1000, 100).expect("compact");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].records_removed, 2);
        let Compacted::Rewritten(bytes) = &out[0].result else {
            panic!("expected a rewrite, got {:?}", out[0].result);
        };
        let h = verify(bytes);
        assert_eq!(h.base_offset, 2);
        assert_eq!(
            h.last_offset(),
            3,
            "last offset of the original batch is kept"
        );
        assert_eq!(h.base_sequence, -1);
        assert_eq!(
            kvs(bytes),
            vec![
                (2, Some("a".into()), Some("2".into())),
                (3, None, Some("x".into()))
            ]
        );
    }

    #[test]
    fn rewritten_batch_keeps_codec_and_sequences() {
        let b0 = batch_with(
            100,
            &[
                (Some("k1"), Some("old"), 10),
                (Some("k2"), Some("v"), 11),
                (Some("k1"), Some("new"), 12),
            ],
            42,
            Compression::Gzip,
        );
        let b1 = batch_with(103, &[(Some("k2"), Some("v2"), 20)], 42, Compression::Gzip);
        let out = compact_batches(&[&b0, &b1], 1, 1000, 100).expect("compact");
        let Compacted::Rewritten(bytes) = &out[0].result else {
            panic!("expected a rewrite");
        };
        let orig = BatchHeader::parse(&b0).expect("parse");
        let h = verify(bytes);
        assert_eq!(h.codec(), Codec::Gzip);
        assert_eq!(h.producer_id, 42);
        assert_eq!(h.base_offset, 102);
        assert_eq!(h.base_sequence, 2);
        assert_eq!(h.last_offset(), orig.last_offset());
        assert_eq!(h.last_sequence(), orig.last_sequence());
        assert_eq!(
            kvs(bytes),
            vec![(102, Some("k1".into()), Some("new".into()))]
        );
    }

    #[test]
    fn tombstones_removed_only_after_delete_retention() {
        let b0 = batch_with(
            0,
            &[(Some("a"), Some("1"), 10), (Some("a"), None, 50)],
            -1,
            Compression::None,
        );
        let b1 = batch_with(2, &[(Some("z"), Some("1"), 60)], -1, Compression::None);
        // Young tombstone: kept, the old value goes.
        let out = compact_batches(&[&b0, &b1], 1, 100, 120).expect("compact");
        assert_eq!(out[0].records_removed, 1);
        assert_eq!(out[0].next_tombstone_expiry_ms, Some(151));
        let Compacted::Rewritten(bytes) = &out[0].result else {
            panic!("expected a rewrite");
        };
        assert_eq!(kvs(bytes), vec![(1, Some("a".into()), None)]);
        // Old tombstone: everything goes.
        let out = compact_batches(&[bytes, &b1], 1, 100, 151).expect("compact");
        assert_eq!(out[0].result, Compacted::Removed);
        assert_eq!(out[0].records_removed, 1);
    }

    #[test]
    fn last_batch_of_producer_kept_empty() {
        let b0 = batch_with(0, &[(Some("a"), Some("1"), 10)], 9, Compression::Lz4);
        let b1 = batch_with(1, &[(Some("a"), Some("2"), 11)], -1, Compression::None);
        let out = compact_batches(&[&b0, &b1], 1, 100, 20).expect("compact");
        let Compacted::Rewritten(bytes) = &out[0].result else {
            panic!("expected an empty batch");
        };
        let h = verify(bytes);
        assert_eq!(h.record_count, 0);
        assert_eq!(h.producer_id, 9);
        assert_eq!(h.base_offset, 0);
        assert_eq!(h.last_offset(), 0);
        assert!(kvs(bytes).is_empty());
    }

    #[test]
    fn unchanged_and_control_batches_are_kept() {
        let b0 = batch_with(0, &[(Some("a"), Some("1"), 10)], -1, Compression::None);
        let b1 = batch_with(1, &[(Some("b"), Some("1"), 10)], -1, Compression::None);
        let mut ctl = batch_with(2, &[(Some("a"), Some("c"), 10)], -1, Compression::None);
        ctl[22] |= 0x20;
        seal(&mut ctl);
        let b3 = batch_with(3, &[(Some("b"), Some("2"), 10)], -1, Compression::None);
        let out = compact_batches(&[&b0, &b1, &ctl, &b3], 3, 100, 20).expect("compact");
        assert_eq!(
            out[0].result,
            Compacted::Unchanged,
            "control key is not a key"
        );
        assert_eq!(out[1].result, Compacted::Removed);
        assert_eq!(out[2].result, Compacted::Unchanged);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(compact_batches(&[&[0u8; 10]], 1, 0, 0).is_err());
        let mut b = batch_with(0, &[(Some("a"), Some("1"), 10)], -1, Compression::None);
        let last = b.len() - 1;
        b[last] ^= 0xff;
        // Undecodable: contributes no key and is kept.
        let out = compact_batches(&[&b], 1, 0, 0).expect("compact");
        assert_eq!(out[0].result, Compacted::Unchanged);
    }
}
