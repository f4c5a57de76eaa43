//! The random choices the broker and the clients make for themselves (cluster, topic
//! and member ids, incarnations): the operating system's on the host; in a simulation
//! drawn from the world's seed, so two runs of one seed choose alike.

use rand::RngCore;

/// A random 64-bit number.
pub fn u64() -> u64 {
    super::with_world(|w| w.rng.borrow_mut().next_u64()).unwrap_or_else(rand::random)
}

/// A random (version 4) UUID.
pub fn uuid() -> uuid::Uuid {
    let bytes = (u128::from(u64()) << 64 | u128::from(u64())).to_le_bytes();
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}
