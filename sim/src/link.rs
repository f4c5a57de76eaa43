//! The model of one simulated link: what virtual time cannot measure about a network
//! (a byte takes no time to cross an in-memory pipe), stated as figures.

use std::time::Duration;

/// One-way latency and bandwidth of every link in a simulated network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkModel {
    /// Added to every write before the peer can read it.
    pub latency: Duration,
    /// Bytes per second one direction of a connection carries; `None`: unlimited.
    pub bandwidth: Option<u64>,
}

impl Default for LinkModel {
    /// Loopback on the 2-core machine kafkalab is developed on: about 25 µs one way
    /// (a 50 µs round trip) and 2 GB/s per direction.
    fn default() -> Self {
        LinkModel {
            latency: Duration::from_micros(25),
            bandwidth: Some(2_000_000_000),
        }
    }
}

impl LinkModel {
    /// How long `bytes` occupy the link (serialisation delay).
    pub fn transmit(&self, bytes: usize) -> Duration {
        match self.bandwidth {
            Some(bw) if bw > 0 => {
                Duration::from_nanos((bytes as u128 * 1_000_000_000 / u128::from(bw)) as u64)
            }
            _ => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmission_time_follows_the_bandwidth() {
        let link = LinkModel {
            latency: Duration::ZERO,
            bandwidth: Some(1_000_000),
        };
        assert_eq!(link.transmit(1_000), Duration::from_millis(1));
        assert_eq!(link.transmit(0), Duration::ZERO);
        let unlimited = LinkModel {
            bandwidth: None,
            ..link
        };
        assert_eq!(unlimited.transmit(1 << 30), Duration::ZERO);
    }
}
