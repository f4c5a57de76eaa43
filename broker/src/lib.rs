//! kafkalab broker: a Kafka-wire-compatible, instrumented broker.
//!
//! Layers, outside in: [`server`] binds listeners; [`network`] frames bytes and serves a
//! connection over any `AsyncRead + AsyncWrite`; [`handlers::router`] decodes requests
//! with the `kafka-protocol` crate and calls one [`handlers`] module per API; handlers
//! work on the shared [`broker::Broker`] state: [`topics`], [`partition`]s and their
//! [`storage`] logs. A [`cluster`] runs several such brokers as replicating nodes
//! around one shared controller; across separate processes the [`quorum`] of
//! controller voters takes that controller's place.

pub mod broker;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod faults;
pub mod group;
pub mod handlers;
pub mod http;
pub mod metrics;
pub mod network;
pub mod partition;
pub mod producer_state;
pub mod protocol;
pub mod quorum;
pub mod ready;
pub mod record_batch;
pub mod replication;
pub mod server;
pub mod storage;
pub mod topics;

pub use broker::{Broker, BrokerError};
pub use cluster::Cluster;
pub use config::{BrokerConfig, BrokerKey};
pub use server::{start, RunningBroker};
