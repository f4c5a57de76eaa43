//! Native async Kafka client (producer, consumer, admin) on the `kafka-protocol` crate.
