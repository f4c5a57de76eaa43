//! Record keys as a scenario asks for them: none, uniform or sequential over a key
//! space, or Zipf-distributed (a few hot keys), drawn from the run's seeded RNG.

use bytes::Bytes;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::scenario::Keys;

pub struct KeyGen {
    keys: Keys,
    space: u64,
    next: u64,
    /// Cumulative Zipf weights over ranks 1..=space (bounded so setup stays cheap).
    zipf_cdf: Vec<f64>,
}

/// Zipf over more keys than this is approximated by this many ranks.
const ZIPF_RANKS: u64 = 100_000;

impl KeyGen {
    pub fn new(keys: Keys, key_space: u64) -> KeyGen {
        let space = key_space.max(1);
        let zipf_cdf = match keys {
            Keys::Zipf(s) => {
                let n = space.min(ZIPF_RANKS);
                let mut acc = 0.0;
                let mut cdf: Vec<f64> = (1..=n)
                    .map(|k| {
                        acc += 1.0 / (k as f64).powf(s);
                        acc
                    })
                    .collect();
                for c in &mut cdf {
                    *c /= acc;
                }
                cdf
            }
            _ => Vec::new(),
        };
        KeyGen {
            keys,
            space,
            next: 0,
            zipf_cdf,
        }
    }

    /// The next key, or `None` for keyless records.
    pub fn next(&mut self, rng: &mut ChaCha8Rng) -> Option<Bytes> {
        let k = match self.keys {
            Keys::None => return None,
            Keys::Uniform => rng.random_range(0..self.space),
            Keys::Sequential => {
                let k = self.next % self.space;
                self.next += 1;
                k
            }
            Keys::Zipf(_) => {
                let u: f64 = rng.random();
                self.zipf_cdf.partition_point(|c| *c < u) as u64
            }
        };
        Some(Bytes::from(format!("key-{k}")))
    }
}

/// Whether the next keyed record is a tombstone (null value): true for a `share` of
/// them (`[[producers]] tombstones`). Draws from `rng` only when `share > 0`, so a
/// producer without tombstones sends exactly the records it always did.
pub fn is_tombstone(share: f64, rng: &mut ChaCha8Rng) -> bool {
    share > 0.0 && (share >= 1.0 || rng.random::<f64>() < share)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn zipf_prefers_low_ranks_and_sequential_wraps() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut z = KeyGen::new(Keys::Zipf(1.2), 1000);
        let hot = (0..10_000)
            .filter(|_| z.next(&mut rng).as_deref() == Some(&b"key-0"[..]))
            .count();
        assert!(hot > 1500, "rank 1 should dominate, got {hot}");
        let mut s = KeyGen::new(Keys::Sequential, 2);
        let ks: Vec<_> = (0..3).map(|_| s.next(&mut rng)).collect();
        assert_eq!(ks[0], ks[2]);
        assert!(KeyGen::new(Keys::None, 1).next(&mut rng).is_none());
    }

    #[test]
    fn tombstones_are_the_share_asked_for() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut untouched = rng.clone();
        assert!((0..1000).all(|_| !is_tombstone(0.0, &mut rng)));
        // No draw without tombstones: the key sequence is what it was.
        assert_eq!(rng.random::<u64>(), untouched.random::<u64>());
        assert!((0..1000).all(|_| is_tombstone(1.0, &mut rng)));
        let n = (0..20_000).filter(|_| is_tombstone(0.1, &mut rng)).count();
        assert!((1700..2300).contains(&n), "{n} of 20000 at 0.1");
    }
}
