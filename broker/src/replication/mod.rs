//! Replication's pure rules, each with time and liveness passed in: the leader's ISR
//! and high watermark ([`isr`]), partition leader election ([`election`]), replica
//! placement ([`placement`]) and the controller quorum ([`quorum`]). The cluster wiring
//! (nodes, follower fetchers, the controller loop) builds on these.

pub mod election;
pub mod isr;
pub mod placement;
pub mod quorum;

pub use isr::BrokerId;
