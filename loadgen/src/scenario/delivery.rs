//! Offsets and delivery in a scenario: a group's commit mode (`commit = "sync"`) and
//! where a `reset-offsets` event moves a group's committed offsets (`offsets = ...`).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::duration::{format_duration, parse_duration};
use super::suggest;

/// When a member commits its positions (`[[consumers]] commit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CommitMode {
    /// Whatever `enable.auto.commit` says (Kafka's default: true, every
    /// `auto.commit.interval.ms` from `poll()`, before a revocation and on close).
    #[default]
    Auto,
    /// `commitSync()` after each poll's records are processed (at-least-once).
    Sync,
    /// `commitAsync()` after each poll's records are processed.
    Async,
    /// `commitSync()` right after the poll, before processing (at-most-once).
    BeforeProcessing,
    /// Never commit (auto-commit off): a restarted member starts from
    /// `auto.offset.reset`.
    None,
}

const COMMIT_MODES: &[(&str, CommitMode)] = &[
    ("auto", CommitMode::Auto),
    ("sync", CommitMode::Sync),
    ("async", CommitMode::Async),
    ("before-processing", CommitMode::BeforeProcessing),
    ("none", CommitMode::None),
];

impl CommitMode {
    pub fn as_str(self) -> &'static str {
        COMMIT_MODES
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("auto", |(n, _)| n)
    }

    pub fn parse(text: &str) -> Result<CommitMode, String> {
        let t = text.trim();
        COMMIT_MODES
            .iter()
            .find(|(n, _)| *n == t)
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                let names: Vec<&str> = COMMIT_MODES.iter().map(|(n, _)| *n).collect();
                format!(
                    "unknown commit mode \"{t}\"{} (expected one of: {})",
                    suggest::did_you_mean(t, names.iter().copied()),
                    names.join(", ")
                )
            })
    }

    /// The `enable.auto.commit` the client gets: `None` keeps the configured one
    /// (`auto`); every explicit mode turns auto-commit off.
    pub fn auto_commit_override(self) -> Option<bool> {
        match self {
            CommitMode::Auto => None,
            _ => Some(false),
        }
    }
}

impl fmt::Display for CommitMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CommitMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = CommitMode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"auto\", \"sync\", \"async\", \"before-processing\" or \"none\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CommitMode, E> {
                CommitMode::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

impl Serialize for CommitMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Where `reset-offsets` moves a group's committed offsets, after
/// `kafka-consumer-groups.sh --reset-offsets`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetTo {
    /// `--to-earliest`: each partition's log start offset.
    Earliest,
    /// `--to-latest`: each partition's log end offset.
    Latest,
    /// `--to-offset N`: the same offset in every partition (clamped to the log).
    Offset(i64),
    /// `--by-duration`: the first offset whose timestamp is at or after the event's
    /// time minus this (`"-10s"`).
    Back(Duration),
}

impl ResetTo {
    pub fn parse_str(text: &str) -> Result<ResetTo, String> {
        let t = text.trim();
        match t {
            "earliest" => Ok(ResetTo::Earliest),
            "latest" => Ok(ResetTo::Latest),
            _ => match t.strip_prefix('-') {
                Some(d) => {
                    let d = parse_duration(d.trim())?;
                    if d.is_zero() {
                        return Err("offsets = \"-0s\" is no time back; use \"latest\"".into());
                    }
                    Ok(ResetTo::Back(d))
                }
                None => Err(format!(
                    "offsets: expected \"earliest\", \"latest\", an offset (1500) or a time \
                     back from the event (\"-10s\"), found \"{t}\""
                )),
            },
        }
    }
}

impl fmt::Display for ResetTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResetTo::Earliest => f.write_str("earliest"),
            ResetTo::Latest => f.write_str("latest"),
            ResetTo::Offset(o) => write!(f, "{o}"),
            ResetTo::Back(d) => write!(f, "-{}", format_duration(*d)),
        }
    }
}

impl<'de> Deserialize<'de> for ResetTo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ResetTo;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"earliest\", \"latest\", an offset or a time back such as \"-10s\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ResetTo, E> {
                if v < 0 {
                    return Err(E::custom(format!(
                        "offsets = {v}: an offset is 0 or more (for a time back write \"-10s\")"
                    )));
                }
                Ok(ResetTo::Offset(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ResetTo, E> {
                i64::try_from(v)
                    .map(ResetTo::Offset)
                    .map_err(|_| E::custom(format!("offset {v} is too large")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ResetTo, E> {
                ResetTo::parse_str(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for ResetTo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ResetTo::Offset(o) => s.serialize_i64(*o),
            other => s.collect_str(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_modes_parse_and_print() {
        for (name, mode) in COMMIT_MODES {
            assert_eq!(CommitMode::parse(name), Ok(*mode));
            assert_eq!(mode.as_str(), *name);
        }
        assert_eq!(CommitMode::default(), CommitMode::Auto);
        assert_eq!(CommitMode::Auto.auto_commit_override(), None);
        assert_eq!(CommitMode::Sync.auto_commit_override(), Some(false));
        assert_eq!(CommitMode::None.auto_commit_override(), Some(false));
        let e = CommitMode::parse("synch").expect_err("misspelt");
        assert!(e.contains("did you mean 'sync'"), "{e}");
    }

    #[test]
    fn reset_targets_parse() {
        assert_eq!(ResetTo::parse_str("earliest"), Ok(ResetTo::Earliest));
        assert_eq!(ResetTo::parse_str("latest"), Ok(ResetTo::Latest));
        assert_eq!(
            ResetTo::parse_str("-10s"),
            Ok(ResetTo::Back(Duration::from_secs(10)))
        );
        assert_eq!(
            ResetTo::parse_str("- 1m30s"),
            Ok(ResetTo::Back(Duration::from_secs(90)))
        );
        assert!(ResetTo::parse_str("-0s").is_err());
        assert!(ResetTo::parse_str("10s").is_err());
        assert!(ResetTo::parse_str("earlist").is_err());
        assert_eq!(ResetTo::Back(Duration::from_secs(10)).to_string(), "-10s");
    }
}
