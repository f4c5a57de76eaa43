//! kafkalab load generator: a native async Kafka client ([`client`]), scenario files
//! ([`scenario`]), and measurement and verification ([`measure`]). Nothing here depends
//! on talking to kafkalab's own broker: only the Kafka protocol.

pub mod client;
pub mod engine;
pub mod measure;
pub mod report;
pub mod scenario;
pub mod suggest;
pub mod view;
