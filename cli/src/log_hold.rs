//! Log lines (tracing) go to stderr, except while the live view owns the terminal:
//! then they are held (bounded) and printed once the terminal is restored, so a warning
//! neither smears the screen nor gets lost.

use std::io::Write;
use std::sync::{Mutex, MutexGuard};

/// Held bytes beyond this are counted, not kept.
const HOLD_LIMIT: usize = 1 << 20;

struct Held {
    bytes: Vec<u8>,
    dropped_lines: u64,
}

static HELD: Mutex<Option<Held>> = Mutex::new(None);

/// (A panic while holding the lock leaves plain bytes behind: still usable.)
fn held() -> MutexGuard<'static, Option<Held>> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

/// From now on, keep log lines instead of writing them.
pub fn hold() {
    let mut h = held();
    if h.is_none() {
        *h = Some(Held {
            bytes: Vec::new(),
            dropped_lines: 0,
        });
    }
}

/// Writes what was held to stderr and goes back to writing directly.
pub fn release() {
    let Some(held) = held().take() else {
        return;
    };
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(&held.bytes);
    if held.dropped_lines > 0 {
        let _ = writeln!(
            err,
            "({} more log lines while the live view was up were dropped)",
            held.dropped_lines
        );
    }
}

/// The tracing writer: one per event.
pub struct Writer;

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut guard = held();
        match guard.as_mut() {
            Some(h) if h.bytes.len() + buf.len() <= HOLD_LIMIT => h.bytes.extend_from_slice(buf),
            Some(h) => h.dropped_lines += 1,
            None => {
                drop(guard);
                return std::io::stderr().write(buf);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Writer {
    type Writer = Writer;

    fn make_writer(&'a self) -> Writer {
        Writer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_lines_are_kept_in_order_and_bounded() {
        hold();
        let mut w = Writer;
        w.write_all(b"first\n").expect("held");
        w.write_all(b"second\n").expect("held");
        w.write_all(&vec![b'x'; HOLD_LIMIT]).expect("counted");
        {
            let h = held();
            let h = h.as_ref().expect("holding");
            assert_eq!(h.bytes, b"first\nsecond\n");
            assert_eq!(h.dropped_lines, 1);
        }
        release();
        assert!(held().is_none());
    }
}
