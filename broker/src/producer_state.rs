//! Idempotent-producer sequence tracking for one partition (pure; no I/O).
//!
//! Kafka keeps, per producer id, the epoch and the last five batches' sequence ranges
//! with their offsets. A retried batch that matches one of them is a duplicate and gets
//! its original offset back; a batch that does not follow the last sequence is out of
//! order (error 45); an older epoch is fenced (error 47).

use std::collections::{HashMap, VecDeque};

use crate::record_batch::BatchHeader;

/// Batches remembered per producer: the client's `max.in.flight.requests.per.connection`
/// is at most 5 with idempotence, so 5 is enough to recognise any retry.
const CACHED_BATCHES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CachedBatch {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
}

#[derive(Debug, Clone, Default)]
struct Entry {
    epoch: i16,
    batches: VecDeque<CachedBatch>,
}

/// Outcome of checking a batch before appending it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqCheck {
    /// Not idempotent, or the next expected sequence: append it.
    Append,
    /// Already appended: answer with the original base offset, append nothing.
    Duplicate { base_offset: i64 },
    /// OUT_OF_ORDER_SEQUENCE_NUMBER (45).
    OutOfOrder,
    /// INVALID_PRODUCER_EPOCH (47): an older epoch than the one seen.
    Fenced,
    /// UNKNOWN_PRODUCER_ID (59): a new producer id that does not start at sequence 0.
    UnknownProducer,
}

#[derive(Debug, Clone, Default)]
pub struct ProducerStates {
    entries: HashMap<i64, Entry>,
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

impl ProducerStates {
    pub fn check(&self, h: &BatchHeader) -> SeqCheck {
        if !h.has_producer_id() || h.base_sequence < 0 {
            return SeqCheck::Append;
        }
        let Some(entry) = self.entries.get(&h.producer_id) else {
            return if h.base_sequence == 0 {
                SeqCheck::Append
            } else {
                SeqCheck::UnknownProducer
            };
        };
        if h.producer_epoch < entry.epoch {
            return SeqCheck::Fenced;
        }
        if h.producer_epoch > entry.epoch {
            return if h.base_sequence == 0 {
                SeqCheck::Append
            } else {
                SeqCheck::OutOfOrder
            };
        }
        let last_seq = h.last_sequence();
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq)
        {
            return SeqCheck::Duplicate {
                base_offset: dup.base_offset,
            };
        }
        match entry.batches.back() {
            Some(last) if h.base_sequence != next_seq(last.last_seq) => SeqCheck::OutOfOrder,
            _ => SeqCheck::Append,
        }
    }

    /// Records an appended batch (its header carries the assigned base offset).
    pub fn record(&mut self, h: &BatchHeader) {
        if !h.has_producer_id() || h.base_sequence < 0 {
            return;
        }
        let entry = self.entries.entry(h.producer_id).or_default();
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == CACHED_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(CachedBatch {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            base_offset: h.base_offset,
        });
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(pid: i64, epoch: i16, seq: i32, n: i32, base_offset: i64) -> BatchHeader {
        BatchHeader {
            base_offset,
            size: 100,
            partition_leader_epoch: 0,
            crc: 0,
            attributes: 0,
            last_offset_delta: n - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            record_count: n,
        }
    }

    #[test]
    fn in_order_duplicate_and_gap() {
        let mut s = ProducerStates::default();
        let b0 = batch(1, 0, 0, 3, 10);
        assert_eq!(s.check(&b0), SeqCheck::Append);
        s.record(&b0);
        let b1 = batch(1, 0, 3, 2, 13);
        assert_eq!(s.check(&b1), SeqCheck::Append);
        s.record(&b1);
        assert_eq!(
            s.check(&batch(1, 0, 0, 3, -1)),
            SeqCheck::Duplicate { base_offset: 10 }
        );
        assert_eq!(
            s.check(&batch(1, 0, 3, 2, -1)),
            SeqCheck::Duplicate { base_offset: 13 }
        );
        assert_eq!(s.check(&batch(1, 0, 6, 1, -1)), SeqCheck::OutOfOrder);
        assert_eq!(s.check(&batch(1, 0, 5, 1, -1)), SeqCheck::Append);
    }

    #[test]
    fn epochs_and_unknown_producers() {
        let mut s = ProducerStates::default();
        assert_eq!(s.check(&batch(2, 0, 4, 1, -1)), SeqCheck::UnknownProducer);
        s.record(&batch(2, 1, 0, 1, 0));
        assert_eq!(s.check(&batch(2, 0, 1, 1, -1)), SeqCheck::Fenced);
        assert_eq!(s.check(&batch(2, 2, 5, 1, -1)), SeqCheck::OutOfOrder);
        assert_eq!(s.check(&batch(2, 2, 0, 1, -1)), SeqCheck::Append);
        assert_eq!(s.check(&batch(-1, -1, -1, 1, -1)), SeqCheck::Append);
    }

    #[test]
    fn only_five_batches_are_remembered() {
        let mut s = ProducerStates::default();
        for i in 0..6 {
            s.record(&batch(3, 0, i, 1, i as i64));
        }
        assert_eq!(s.check(&batch(3, 0, 0, 1, -1)), SeqCheck::OutOfOrder);
        assert_eq!(
            s.check(&batch(3, 0, 1, 1, -1)),
            SeqCheck::Duplicate { base_offset: 1 }
        );
    }
}
