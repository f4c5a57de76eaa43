//! Kafka protocol plumbing: request routing, served versions, error codes.

pub mod errors;
pub mod inject;
pub mod router;
pub mod versions;
