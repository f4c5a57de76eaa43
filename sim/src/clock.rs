//! The wall clock (record timestamps, retention, report stamps): the system's on the
//! host; in a simulation the world's epoch plus the virtual time since it began, so two
//! runs of one seed read the same times.

use std::time::{SystemTime, UNIX_EPOCH};

/// Where a simulated world's wall clock starts: 2026-01-01T00:00:00Z, the same for
/// every run, so two runs of one seed see the same record timestamps.
pub const EPOCH_MS: i64 = 1_767_225_600_000;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    super::with_world(|w| {
        w.epoch_ms
            + tokio::time::Instant::now()
                .duration_since(w.start)
                .as_millis() as i64
    })
    .unwrap_or_else(system_ms)
}

/// The operating system's clock, whatever is installed (report metadata: when the run
/// happened on the host).
pub fn system_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
