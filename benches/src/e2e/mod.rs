//! The harness of the end-to-end bench (`benches/benches/e2e.rs`, which holds the
//! measurements): the kafkalab broker binary run as a separate process and read through
//! `/proc` ([`broker`]), librdkafka producer and consumer runs ([`clients`]), and the
//! table of figures against the published targets ([`report`]).

pub mod broker;
pub mod clients;
pub mod report;

use std::time::Duration;

pub const PARTITIONS: i32 = 6;
pub const BROKER_START_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound for one produce or consume phase (a healthy run needs a few seconds).
pub const PHASE_TIMEOUT: Duration = Duration::from_secs(60);
