//! The producer's use of the shared v2 batch layout (`kafkalab-wire`): the writer that
//! record batches are filled with, record by record, and the producer fields of a
//! closed batch (read to decide whether a retry must be restamped; rewritten when the
//! idempotent producer's epoch moved on).

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::Compression;
use kafkalab_wire::{set_producer, BatchHeader};

pub use kafkalab_wire::{record_fixed_len, record_max_len, BatchBuilder, HEADER_LEN};

use crate::client::error::ClientError;

/// Closes a batch: the bytes to send and its uncompressed size.
pub fn close(
    builder: BatchBuilder,
    compression: Compression,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Result<(Bytes, usize), ClientError> {
    builder
        .finish(compression, producer_id, producer_epoch, base_sequence)
        .map(|(batch, uncompressed)| (batch.freeze(), uncompressed))
        .map_err(|e| ClientError::Other(e.to_string()))
}

/// A copy of a closed batch with a new producer id, epoch and base sequence (a retry
/// after the idempotent producer's epoch was bumped).
pub fn restamp(
    batch: &[u8],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Result<Bytes, ClientError> {
    let mut b = BytesMut::from(batch);
    set_producer(&mut b, producer_id, producer_epoch, base_sequence)
        .map_err(|e| ClientError::Other(e.to_string()))?;
    Ok(b.freeze())
}

/// (producer id, epoch, base sequence) of a closed batch.
pub fn stamp_of(batch: &[u8]) -> Option<(i64, i16, i32)> {
    let h = BatchHeader::parse(batch).ok()?;
    Some((h.producer_id, h.producer_epoch, h.base_sequence))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    #[test]
    fn restamping_a_closed_batch_keeps_it_valid() {
        for compression in [Compression::None, Compression::Zstd] {
            let mut b = BatchBuilder::with_capacity(0);
            for i in 0..5 {
                let value = format!("v{i}");
                let fixed = record_fixed_len(None, Some(value.as_bytes()), &[]);
                b.append(i, None, Some(value.as_bytes()), &[], fixed);
            }
            let (bytes, _) = close(b, compression, 42, 3, 1000).expect("close");
            assert_eq!(stamp_of(&bytes), Some((42, 3, 1000)));
            let again = restamp(&bytes, 7, 0, 0).expect("restamp");
            assert_eq!(stamp_of(&again), Some((7, 0, 0)));
            let set = RecordBatchDecoder::decode(&mut again.clone()).expect("valid CRC");
            assert_eq!(set.records[3].sequence, 3);
            assert_eq!(set.records[3].producer_id, 7);
            assert!(restamp(&bytes[..HEADER_LEN], 7, 0, 0).is_err());
            assert_eq!(stamp_of(&bytes[..HEADER_LEN - 1]), None);
        }
    }
}
