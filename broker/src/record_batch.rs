//! The Kafka v2 record batch as the broker uses it: the layout itself (header view, CRC
//! check, in-place edits, iteration over concatenated batches) lives in the shared
//! `kafkalab-wire` crate and is re-exported here; this module adds [`build`], which
//! encodes simple records as one batch (tests, the offsets topic).

pub use kafkalab_wire::{
    batches, set_base_offset, set_log_append_time, set_partition_leader_epoch, BatchError,
    BatchHeader, BatchIter, Codec, HEADER_LEN, LOG_OVERHEAD,
};

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

/// Encodes records as one v2 batch (offsets from 0, sequences on from `base_sequence`)
/// with the shared batch writer.
pub fn build(
    spec: &BatchSpec,
    records: impl IntoIterator<Item = SimpleRecord>,
) -> Result<bytes::BytesMut, String> {
    let mut builder = kafkalab_wire::BatchBuilder::with_capacity(0);
    for (key, value, timestamp) in records {
        builder.append_record(timestamp, key.as_deref(), value.as_deref(), &[]);
    }
    builder
        .finish(
            spec.compression,
            spec.producer_id,
            spec.producer_epoch,
            spec.base_sequence,
        )
        .map(|(batch, _)| batch)
        .map_err(|e| e.to_string())
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
