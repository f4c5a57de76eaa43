//! The controller quorum of a cluster of separate processes (`kafkalab broker` with
//! `controller.quorum.voters`): each process is a broker and a controller voter
//! (KRaft's combined mode). The voters elect an active controller and replicate the
//! cluster metadata over a small framed-JSON protocol on the controller listener (not
//! the Kafka port); a change counts once a majority of the voters stored it. Brokers
//! read their node's local copy of the committed metadata and send changes to the
//! active controller. Without a majority there is no active controller: no elections,
//! no ISR changes, no topic creation (NOT_CONTROLLER), as in one process.
//!
//! - [`raft`]: the pure election and commit rules (time injected);
//! - [`store`]: a voter's durable state;
//! - [`transport`]: the wire format;
//! - [`node`]: a voter (and, while it leads, the active controller);
//! - [`client`]: a node's writer to the active controller, broker heartbeats and ISR
//!   proposals;
//! - [`combined`]: one process, broker and voter.

pub mod client;
pub mod combined;
pub mod node;
pub mod raft;
pub mod store;
pub mod transport;
