//! Batch-level delivery reports: the cheap path for callers that track every record.
//!
//! A per-record callback costs a boxed closure per record and whatever the callback
//! locks per record. A producer with a [`DeliveryListener`] instead reports each
//! completed batch once, with the [`Tag`] the caller gave every record
//! ([`Producer::send_tagged`](super::Producer::send_tagged)) and the offset it got, so
//! the caller takes its locks once per batch (librdkafka's per-message opaque, handed
//! back a batch at a time).

use super::ClientError;

/// Two words the caller attaches to a record (e.g. a sequence number and a timestamp).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tag(pub u64, pub u64);

/// One completed batch of tagged records of one partition.
#[derive(Debug)]
pub struct BatchDelivery<'a> {
    pub topic: &'a str,
    pub partition: i32,
    /// `Ok` when acknowledged; the error every record of the batch failed with otherwise.
    pub result: Result<(), &'a ClientError>,
    /// Each tagged record with its offset (-1 when unknown: acks=0 or failed), in
    /// offset order.
    pub records: &'a [(i64, Tag)],
}

/// Receives the batches of tagged records, on the producer's sender task: keep it short.
pub trait DeliveryListener: Send + Sync {
    fn delivered(&self, batch: &BatchDelivery<'_>);
}
