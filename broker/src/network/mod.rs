//! Transport: framing, connections, the TCP listener.

pub mod connection;
pub mod frame;
pub mod listener;
