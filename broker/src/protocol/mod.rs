//! Kafka protocol rules: served versions, API names, error codes.

pub mod errors;
pub mod versions;
