//! kafkalab broker: a Kafka-wire-compatible, instrumented broker.

pub mod record_batch;
pub mod storage;
