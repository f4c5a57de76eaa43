//! The leader epoch cache of one partition replica (Kafka's `LeaderEpochFileCache`,
//! KIP-101 / KIP-279): for each leader epoch that wrote to this log, the offset its
//! first record took. Followers use the leader's answers from it
//! (OffsetForLeaderEpoch) to find where their log diverges from the leader's, instead
//! of trusting their high watermark.
//!
//! Pure: the file format ([`EpochCache::encode`] / [`EpochCache::decode`], Kafka's
//! `leader-epoch-checkpoint`: a version line, a count line, then `epoch startOffset`
//! lines) is text in, text out; the partition persists it beside its log.

/// Epoch of a batch written outside a replicated leader (producers send -1), or an
/// answer that knows no epoch.
pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;
/// The checkpoint's name in the partition directory, as Kafka names it.
pub const FILE: &str = "leader-epoch-checkpoint";
const VERSION: &str = "0";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// Entries ascending in both epoch and start offset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpochCache {
    entries: Vec<EpochEntry>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EpochFileError {
    #[error("{FILE} line {line}: {detail}")]
    Malformed { line: usize, detail: String },
}

impl EpochCache {
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn latest(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.latest().map(|e| e.epoch)
    }

    /// Records that `epoch` wrote its first record at `start_offset` (a batch appended
    /// with a newer partitionLeaderEpoch, or a leader taking its epoch). Negative
    /// epochs are ignored. As Kafka's `assign`, an entry that is not newer than the
    /// latest one replaces every entry it contradicts. Returns whether anything changed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        let needed = match self.latest() {
            None => true,
            Some(l) => epoch != l.epoch || start_offset < l.start_offset,
        };
        if !needed {
            return false;
        }
        self.entries
            .retain(|e| e.epoch < epoch && e.start_offset < start_offset);
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        true
    }

    /// (epoch, end offset) for `requested`, as Kafka's `LeaderEpochFileCache.endOffsetFor`:
    /// the end offset of an epoch is the start offset of the next higher one, or
    /// `log_end_offset` for the latest; an unknown epoch answers for the largest known
    /// epoch below it. Undefined (-1, -1) when nothing is known.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        let undefined = (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        if requested == UNDEFINED_EPOCH {
            return undefined;
        }
        if self.latest_epoch() == Some(requested) {
            return (requested, log_end_offset);
        }
        let Some(higher) = self.entries.iter().find(|e| e.epoch > requested) else {
            return undefined;
        };
        match self.entries.iter().rev().find(|e| e.epoch <= requested) {
            // Older than anything kept: the first known epoch starts where the log
            // (as far as it is known) starts.
            None => (requested, higher.start_offset),
            Some(floor) => (floor.epoch, higher.start_offset),
        }
    }

    /// The log was truncated to `end_offset`: forgets epochs that started at or after
    /// it. Returns whether anything changed.
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        self.entries.len() != before
    }

    /// The log now starts at `start_offset`: entries before it go, the last of them
    /// kept as starting at `start_offset`. Returns whether anything changed.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let gone = self
            .entries
            .iter()
            .take_while(|e| e.start_offset <= start_offset)
            .count();
        if gone == 0 {
            return false;
        }
        let last = self.entries[gone - 1];
        if gone == 1 && last.start_offset == start_offset {
            return false;
        }
        self.entries.drain(..gone);
        self.entries.insert(
            0,
            EpochEntry {
                epoch: last.epoch,
                start_offset,
            },
        );
        true
    }

    /// Kafka's `leader-epoch-checkpoint` text.
    pub fn encode(&self) -> String {
        let mut out = format!("{VERSION}\n{}\n", self.entries.len());
        for e in &self.entries {
            out.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        out
    }

    /// Parses a checkpoint; a torn or edited file is an error (the caller rebuilds
    /// from the log instead).
    pub fn decode(text: &str) -> Result<EpochCache, EpochFileError> {
        let bad = |line: usize, detail: String| EpochFileError::Malformed { line, detail };
        let mut lines = text.lines();
        match lines.next() {
            Some(VERSION) => {}
            other => return Err(bad(1, format!("version {other:?}, expected {VERSION}"))),
        }
        let count: usize = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| bad(2, "expected the entry count".into()))?;
        let mut cache = EpochCache::default();
        for i in 0..count {
            let line = i + 3;
            let l = lines
                .next()
                .ok_or_else(|| bad(line, format!("{count} entries announced, {i} present")))?;
            let mut fields = l.split_whitespace();
            let (Some(epoch), Some(start), None) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(bad(
                    line,
                    format!("expected `epoch startOffset`, got {l:?}"),
                ));
            };
            let (Ok(epoch), Ok(start_offset)) = (epoch.parse::<i32>(), start.parse::<i64>()) else {
                return Err(bad(line, format!("not numbers: {l:?}")));
            };
            let monotonic = cache
                .latest()
                .is_none_or(|p| p.epoch < epoch && p.start_offset <= start_offset);
            if epoch < 0 || start_offset < 0 || !monotonic {
                return Err(bad(line, format!("entry {l:?} out of order or negative")));
            }
            cache.entries.push(EpochEntry {
                epoch,
                start_offset,
            });
        }
        if lines.any(|l| !l.trim().is_empty()) {
            return Err(bad(count + 3, "more entries than announced".into()));
        }
        Ok(cache)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> EpochCache {
        let mut c = EpochCache::default();
        for &(e, o) in entries {
            assert!(c.assign(e, o), "assign {e} {o}");
        }
        c
    }

    #[test]
    fn assign_records_only_newer_epochs() {
        let mut c = EpochCache::default();
        assert!(!c.assign(UNDEFINED_EPOCH, 0), "producers' -1 is no epoch");
        assert!(c.assign(0, 0));
        assert!(!c.assign(0, 5), "same epoch, later batch");
        assert!(c.assign(2, 10));
        assert_eq!(
            c.latest(),
            Some(EpochEntry {
                epoch: 2,
                start_offset: 10
            })
        );
        // A non-monotonic entry drops what it contradicts (Kafka's assign).
        assert!(c.assign(1, 7));
        assert_eq!(
            c.entries(),
            &[
                EpochEntry {
                    epoch: 0,
                    start_offset: 0
                },
                EpochEntry {
                    epoch: 1,
                    start_offset: 7
                }
            ]
        );
    }

    #[test]
    fn end_offset_is_the_next_epochs_start_or_the_log_end() {
        let c = cache(&[(0, 0), (2, 10), (5, 30)]);
        assert_eq!(c.end_offset_for(0, 40), (0, 10));
        assert_eq!(c.end_offset_for(2, 40), (2, 30));
        assert_eq!(c.end_offset_for(5, 40), (5, 40), "latest: the log end");
        // Unknown epochs answer for the largest epoch below them.
        assert_eq!(c.end_offset_for(1, 40), (0, 10));
        assert_eq!(c.end_offset_for(4, 40), (2, 30));
        // Newer than anything known, or undefined: nothing known.
        assert_eq!(c.end_offset_for(6, 40), (-1, -1));
        assert_eq!(c.end_offset_for(UNDEFINED_EPOCH, 40), (-1, -1));
        assert_eq!(EpochCache::default().end_offset_for(3, 40), (-1, -1));
        // Older than the first kept epoch: the first kept epoch's start.
        let c = cache(&[(3, 100), (4, 150)]);
        assert_eq!(c.end_offset_for(1, 200), (1, 100));
    }

    #[test]
    fn truncation_forgets_epochs_past_the_new_end_and_before_the_new_start() {
        let mut c = cache(&[(0, 0), (2, 10), (5, 30)]);
        assert!(!c.truncate_from_end(31), "epoch 5 still has a record");
        assert!(c.truncate_from_end(30));
        assert_eq!(c.latest_epoch(), Some(2));
        assert_eq!(c.end_offset_for(2, 30), (2, 30));
        let mut c = cache(&[(0, 0), (2, 10), (5, 30)]);
        assert!(c.truncate_from_end(5));
        assert_eq!(
            c.entries(),
            &[EpochEntry {
                epoch: 0,
                start_offset: 0
            }]
        );
        assert!(c.truncate_from_end(0));
        assert_eq!(c.latest(), None);

        let mut c = cache(&[(0, 0), (2, 10), (5, 30)]);
        assert!(c.truncate_from_start(12));
        assert_eq!(
            c.entries(),
            &[
                EpochEntry {
                    epoch: 2,
                    start_offset: 12
                },
                EpochEntry {
                    epoch: 5,
                    start_offset: 30
                }
            ]
        );
        assert!(!c.truncate_from_start(12));
        assert!(!c.truncate_from_start(3));
    }

    #[test]
    fn the_checkpoint_file_round_trips_in_kafkas_format() {
        let c = cache(&[(0, 0), (2, 10), (5, 30)]);
        let text = c.encode();
        assert_eq!(text, "0\n3\n0 0\n2 10\n5 30\n");
        assert_eq!(EpochCache::decode(&text), Ok(c));
        assert_eq!(EpochCache::decode("0\n0\n"), Ok(EpochCache::default()));
    }

    #[test]
    fn a_torn_or_garbled_checkpoint_is_an_error() {
        let full = cache(&[(0, 0), (2, 10), (5, 30)]).encode();
        // Every prefix that cuts an entry is refused (a torn write); only the final
        // newline may be missing.
        for cut in 0..full.len() - 1 {
            assert!(
                EpochCache::decode(&full[..cut]).is_err(),
                "prefix {:?} accepted",
                &full[..cut]
            );
        }
        for bad in [
            "1\n1\n0 0\n",
            "0\nx\n",
            "0\n1\n0\n",
            "0\n1\n0 0 0\n",
            "0\n1\na b\n",
            "0\n2\n3 10\n2 20\n",
            "0\n1\n-1 0\n",
            "0\n1\n0 0\n1 5\n",
        ] {
            assert!(EpochCache::decode(bad).is_err(), "{bad:?} accepted");
        }
    }
}
