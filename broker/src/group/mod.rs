//! Consumer groups: the pure state machine, the coordinator that drives it, committed
//! offsets, and their metrics.

pub mod consumer_group;
pub mod consumer_protocol;
pub mod coordinator;
pub mod metrics;
pub mod offsets;
pub mod state;

pub use coordinator::GroupCoordinator;
