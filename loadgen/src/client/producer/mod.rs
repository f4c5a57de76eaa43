//! The producer: partitioner, per-partition accumulator (batch.size, linger.ms), sender.
