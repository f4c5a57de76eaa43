//! The consumer: fetcher, group membership with a background heartbeat (KIP-62), offsets.
