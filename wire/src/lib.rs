//! The Kafka v2 record batch (magic 2), written once for the broker and both sides of
//! the native client: the header layout ([`BatchHeader`]: parse, CRC check, write), the
//! records of a batch ([`records`], zero-copy for uncompressed batches), and a writer
//! that encodes records straight into the batch buffer ([`BatchBuilder`]).
//!
//! Layout (big-endian), see <https://kafka.apache.org/documentation/#recordbatch>:
//!
//! ```text
//! baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 | crc u32 |
//! attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 | maxTimestamp i64 |
//! producerId i64 | producerEpoch i16 | baseSequence i32 | recordCount i32 | records...
//!
//! record: length varint | attributes i8 | timestampDelta varlong | offsetDelta varint |
//!         key (varint length, -1 = null) | value (same) | headers count varint |
//!         header: key (varint length) | value (varint length, -1 = null)
//! ```
//!
//! The CRC-32C covers everything from `attributes` to the end of the batch, so the base
//! offset and the partition leader epoch can be rewritten in place.

mod header;
mod layout;
mod records;
pub mod varint;
mod writer;

pub use header::{
    batches, set_base_offset, set_log_append_time, set_partition_leader_epoch, set_producer,
    BatchError, BatchHeader, BatchIter, Codec,
};
pub use layout::{attributes, HEADER_LEN, LOG_OVERHEAD};
pub use records::{records, ControlType, Record, Records};
pub use writer::{record_fixed_len, record_max_len, BatchBuilder};
