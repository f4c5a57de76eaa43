//! Native async Kafka client (producer, consumer, admin) on the `kafka-protocol` crate,
//! configured with Kafka's own property names.

pub mod admin;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod consumer;
pub mod error;
pub mod producer;

pub use cluster::Cluster;
pub use config::{ClientConfig, Role};
pub use connection::Connection;
pub use error::ClientError;
