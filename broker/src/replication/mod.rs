//! Replication's pure rules, each with time and liveness passed in: the leader's ISR
//! and high watermark ([`isr`]), partition leader election ([`election`]), replica
//! placement ([`placement`]), the controller quorum ([`quorum`]), the leader epoch
//! cache ([`epoch_cache`]) and a follower's truncation before it fetches
//! ([`truncation`]). The cluster wiring (nodes, follower fetchers, the controller loop)
//! builds on these.

pub mod election;
pub mod epoch_cache;
pub mod isr;
pub mod placement;
pub mod quorum;
pub mod truncation;

pub use isr::BrokerId;
