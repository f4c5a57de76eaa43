//! Expectations: a metric the runner measures and a check on its value
//! (`rebalances = ">= 1"`, `detection_s = "9..12"`, `lost = 0`).

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::located::Located;
use super::suggest;

/// Every metric an `[expect]` table may name, with what it measures. The runner provides
/// a value for each of them at the end of a run.
pub const METRICS: &[(&str, &str)] = &[
    (
        "lost",
        "records acknowledged to a producer that no consumer ever received",
    ),
    (
        "duplicates",
        "records a consumer group received more than once",
    ),
    (
        "out_of_order",
        "records received before an earlier record of the same partition and producer",
    ),
    (
        "rebalances",
        "consumer group rebalances started during the run",
    ),
    (
        "detection_s",
        "seconds from a crash-consumer or freeze-consumer event to the group's rebalance starting",
    ),
    (
        "pause_s",
        "longest group-wide consumption pause of a running group, in seconds (the group \
         forming before its first record is not counted)",
    ),
    (
        "p50_produce_ms",
        "median produce latency (send to acknowledgement), ms",
    ),
    ("p99_produce_ms", "99th percentile produce latency, ms"),
    ("p999_produce_ms", "99.9th percentile produce latency, ms"),
    (
        "p50_e2e_ms",
        "median end-to-end latency (intended send time to consumption), ms",
    ),
    ("p99_e2e_ms", "99th percentile end-to-end latency, ms"),
    ("p999_e2e_ms", "99.9th percentile end-to-end latency, ms"),
    ("produced", "records acknowledged to producers"),
    (
        "consumed",
        "records received by consumers (duplicates included)",
    ),
    (
        "throughput_rps",
        "consumed records per second, averaged over the measured part of the run",
    ),
    (
        "produce_throughput_rps",
        "acknowledged records per second, averaged over the measured part of the run",
    ),
    ("records_per_request", "average records per produce request"),
    (
        "produce_bytes_per_record",
        "bytes of record batches sent per record (compressed, batch overhead included): what compression saves on the wire",
    ),
    (
        "partition_skew",
        "the most loaded partition against the mean: max / mean of acknowledged records per partition of a producer's topic (1 = even; the worst producer)",
    ),
    ("requests_per_s", "produce requests per second"),
    (
        "redelivered",
        "records delivered again from the same offset: after a rebalance (processed but \
         not committed) or a reset-offsets",
    ),
    (
        "member_removals",
        "consumers removed from their group in the measured part (session timeout, poll \
         timeout, or leave): the sum of the three removals_ metrics",
    ),
    (
        "removals_session_timeout",
        "members the coordinator expired (no heartbeat within session.timeout.ms): those \
         that saw it themselves (the coordinator answered UNKNOWN_MEMBER_ID) plus crashed ones \
         the group rebalanced after",
    ),
    (
        "removals_poll_timeout",
        "members that left because a poll did not come within max.poll.interval.ms",
    ),
    (
        "removals_leave",
        "members that closed with LeaveGroup during the run (remove-consumer, restart-consumer \
         of a dynamic member)",
    ),
    (
        "false_expiries",
        "session timeouts of members that were alive (frozen, paused): they saw their own \
         expiry when they resumed",
    ),
    (
        "revoked_partitions",
        "partitions members gave up in rebalances (onPartitionsRevoked) in the measured part",
    ),
    (
        "max_revoked_per_rebalance",
        "most partitions revoked in one rebalance, summed over the members",
    ),
    (
        "max_member_pause_s",
        "longest time one member went without records between two polls that returned some \
         (a rebalance, a freeze, a restart), ending in the measured part, seconds",
    ),
    (
        "idle_members",
        "members alive in the measured part that owned no partition in it",
    ),
    (
        "member_skew",
        "records of the busiest member over the mean of the members that owned partitions \
         (1 = evenly shared), measured part",
    ),
    ("max_lag", "largest consumer lag observed, in records"),
    (
        "poll_skips",
        "polls that jumped over offsets of a partition within one member's generation \
         (no rebalance, reset or seek to explain it)",
    ),
    (
        "commits_backwards",
        "commits that moved a group's committed offset of a partition backwards \
         (reset-offsets events excluded)",
    ),
    (
        "unprocessed",
        "records a member received but had not processed when it crashed, and that no \
         member of its group processed at any time",
    ),
    (
        "replayed",
        "records received again because a reset-offsets event moved the group back over \
         them (also counted in duplicates and redelivered)",
    ),
    (
        "keys_remapped",
        "distinct keys a group received from more than one partition of their topic: \
         keys the default partitioner mapped anew after partitions were added",
    ),
    (
        "records_per_key",
        "records with a key a group received per distinct key (1 = each key once: a \
         compacted log read from the start); no value without keyed records",
    ),
    (
        "tombstones",
        "tombstones (a key with a null value) a group received",
    ),
    (
        "max_tombstone_age_s",
        "the oldest tombstone a group received, its age when received (receive time minus \
         its timestamp), seconds; no value without tombstones",
    ),
    (
        "max_under_replicated",
        "most under-replicated partitions (ISR smaller than the replicas) in one of the \
         once-a-second Metadata samples of a cluster",
    ),
    (
        "leader_changes",
        "partition leader moves seen between the once-a-second Metadata samples of a cluster",
    ),
    (
        "produce_errors",
        "records whose send finally failed (produce_errors.<NAME> counts one error: \
         a Kafka error name such as MESSAGE_TOO_LARGE, or DELIVERY_TIMEOUT, NETWORK_EXCEPTION)",
    ),
    (
        "retries",
        "records sent again after a retriable error (the producers' record-retry-total)",
    ),
    (
        "no_controller_s",
        "seconds without an active controller (Metadata's controller id -1) in the \
         once-a-second samples of a cluster",
    ),
    (
        "offline_partitions_s",
        "seconds with at least one partition without a leader, in the once-a-second \
         samples of a cluster",
    ),
    (
        "max_offline_partitions",
        "most partitions without a leader in one of the once-a-second samples of a cluster",
    ),
    (
        "isr_expands",
        "ISR expansions (a partition's ISR larger than in the previous once-a-second \
         sample) of a cluster",
    ),
    (
        "isr_full_s",
        "seconds from the end of the run's last broker, link or disk fault to the first \
         once-a-second sample with every partition's ISR full (not measured when the \
         ISRs never fill again)",
    ),
    (
        "not_preferred_leaders_at_end",
        "partitions led by a replica other than their preferred one (the first replica) \
         in the last once-a-second sample of a cluster",
    ),
    (
        "topic_partitions",
        "partitions of the scenario's topics as Metadata lists them at the end of the run \
         (a topic that does not exist counts 0)",
    ),
    (
        "end_p99_produce_ms",
        "the highest once-a-second p99 produce latency over the run's last 5 seconds: \
         has the latency recovered?",
    ),
    (
        "lost_to_retention",
        "of `lost`, the records that were below the log start offset when the consumer \
         got there (its position reset by auto.offset.reset=earliest after \
         OFFSET_OUT_OF_RANGE): deleted by retention before they were read",
    ),
];

/// The names in [`METRICS`], in the same order.
pub const KNOWN_METRICS: &[&str] = &[
    "lost",
    "duplicates",
    "out_of_order",
    "rebalances",
    "detection_s",
    "pause_s",
    "p50_produce_ms",
    "p99_produce_ms",
    "p999_produce_ms",
    "p50_e2e_ms",
    "p99_e2e_ms",
    "p999_e2e_ms",
    "produced",
    "consumed",
    "throughput_rps",
    "produce_throughput_rps",
    "records_per_request",
    "produce_bytes_per_record",
    "partition_skew",
    "requests_per_s",
    "redelivered",
    "member_removals",
    "removals_session_timeout",
    "removals_poll_timeout",
    "removals_leave",
    "false_expiries",
    "revoked_partitions",
    "max_revoked_per_rebalance",
    "max_member_pause_s",
    "idle_members",
    "member_skew",
    "max_lag",
    "poll_skips",
    "commits_backwards",
    "unprocessed",
    "replayed",
    "keys_remapped",
    "records_per_key",
    "tombstones",
    "max_tombstone_age_s",
    "max_under_replicated",
    "leader_changes",
    "produce_errors",
    "retries",
    "no_controller_s",
    "offline_partitions_s",
    "max_offline_partitions",
    "isr_expands",
    "isr_full_s",
    "not_preferred_leaders_at_end",
    "topic_partitions",
    "end_p99_produce_ms",
    "lost_to_retention",
];

/// Metrics with one value per name: `produce_errors.MESSAGE_TOO_LARGE`.
pub const METRIC_FAMILIES: &[&str] = &["produce_errors"];

/// Metrics an expectation may scope to one `[[producers]]` entry:
/// `"producers.<name>.<metric>"`.
pub const PRODUCER_METRICS: &[&str] = &[
    "produced",
    "records_per_request",
    "requests_per_s",
    "p50_produce_ms",
    "p99_produce_ms",
    "p999_produce_ms",
    "produce_errors",
    "retries",
    "produce_bytes_per_record",
    "partition_skew",
];

/// Metrics an expectation may scope to one consumer group: `"groups.<group>.<metric>"`.
pub const GROUP_METRICS: &[&str] = &[
    "lost",
    "duplicates",
    "out_of_order",
    "redelivered",
    "consumed",
    "rebalances",
    "member_removals",
    "removals_session_timeout",
    "removals_poll_timeout",
    "removals_leave",
    "false_expiries",
    "revoked_partitions",
    "max_revoked_per_rebalance",
    "max_member_pause_s",
    "idle_members",
    "member_skew",
    "pause_s",
    "poll_skips",
    "commits_backwards",
    "unprocessed",
    "replayed",
    "keys_remapped",
    "records_per_key",
    "tombstones",
    "max_tombstone_age_s",
];

/// Whether `name` is a metric of `list`, a family member included
/// (`produce_errors.NOT_ENOUGH_REPLICAS`: upper-case letters, digits and `_`).
fn in_list(name: &str, list: &[&str]) -> bool {
    if list.contains(&name) {
        return true;
    }
    name.split_once('.').is_some_and(|(family, member)| {
        METRIC_FAMILIES.contains(&family)
            && list.contains(&family)
            && !member.is_empty()
            && member
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    })
}

/// A metric's value in a run's metrics: a family member the run never counted
/// (`produce_errors.MESSAGE_TOO_LARGE` when no record failed so) is 0, once the run
/// counted its family at all.
pub fn lookup(metrics: &std::collections::BTreeMap<String, f64>, name: &str) -> Option<f64> {
    if let Some(v) = metrics.get(name) {
        return Some(*v);
    }
    let (family, member) = name.rsplit_once('.')?;
    let family_counted = METRIC_FAMILIES
        .iter()
        .any(|f| family == *f || family.ends_with(&format!(".{f}")))
        && metrics.contains_key(family);
    (family_counted && !member.is_empty()).then_some(0.0)
}

/// A scoped metric split into (scope, the rest after `producers.` or `groups.`, the
/// metrics that scope takes).
fn scope_of(name: &str) -> Option<(&'static str, &str, &'static [&'static str])> {
    if let Some(rest) = name.strip_prefix("producers.") {
        return Some(("producer", rest, PRODUCER_METRICS));
    }
    name.strip_prefix("groups.")
        .map(|rest| ("group", rest, GROUP_METRICS))
}

/// Splits `<entity>.<metric>` given the scope's entity names (which may hold dots).
pub fn split_scoped<'a>(
    rest: &'a str,
    names: &[&str],
    metrics: &[&str],
) -> Option<(&'a str, &'a str)> {
    names
        .iter()
        .filter_map(|n| {
            let metric = rest.strip_prefix(n)?.strip_prefix('.')?;
            in_list(metric, metrics).then(|| (&rest[..n.len()], metric))
        })
        .max_by_key(|(n, _)| n.len())
}

/// What a known metric measures, or `None` for an unknown name.
pub fn describe_metric(name: &str) -> Option<&'static str> {
    METRICS.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
}

/// `Ok` for a known metric name, otherwise
/// `"unknown expectation 'x'; did you mean 'y'?"`.
pub fn check_metric_name(name: &str) -> Result<(), String> {
    if in_list(name, KNOWN_METRICS) {
        return Ok(());
    }
    if name == "producers" || name == "groups" {
        return Err(format!(
            "'{name}' alone is no metric: quote a dotted metric name, e.g. \
             \"{name}.<name>.<metric>\" = \">= 1\""
        ));
    }
    if let Some((scope, rest, metrics)) = scope_of(name) {
        // The entity's name is checked against the scenario later; here only that
        // some `<name>.<metric>` split exists.
        let ok = rest
            .char_indices()
            .filter(|(_, c)| *c == '.')
            .any(|(i, _)| i > 0 && in_list(&rest[i + 1..], metrics));
        return if ok {
            Ok(())
        } else {
            Err(format!(
                "'{name}' names no {scope} metric: write {}s.<name>.<metric> with one of: {}",
                if scope == "group" {
                    "group"
                } else {
                    "producer"
                },
                metrics.join(", ")
            ))
        };
    }
    match suggest::closest(name, KNOWN_METRICS.iter().copied()) {
        Some(c) => Err(format!("unknown expectation '{name}'; did you mean '{c}'?")),
        None => Err(format!(
            "unknown expectation '{name}'; known metrics: {}",
            KNOWN_METRICS.join(", ")
        )),
    }
}

/// Checks that a scoped metric (`producers.p0.retries`, `groups.billing.lost`) names a
/// producer entry or consumer group of the scenario.
pub fn check_metric_scope(name: &str, producers: &[&str], groups: &[&str]) -> Result<(), String> {
    let Some((scope, rest, metrics)) = scope_of(name) else {
        return Ok(());
    };
    let names = if scope == "producer" {
        producers
    } else {
        groups
    };
    if split_scoped(rest, names, metrics).is_some() {
        return Ok(());
    }
    let written = rest.split('.').next().unwrap_or(rest);
    let what = if scope == "producer" {
        "producer"
    } else {
        "consumer group"
    };
    Err(format!(
        "'{name}': no {what} '{written}' in this scenario{}",
        suggest::did_you_mean(written, names.iter().copied())
    ))
}

/// A check on a metric's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Check {
    /// `"= 0"`, `"== 0"` or a bare number.
    Eq(f64),
    /// `"!= 3"`.
    Ne(f64),
    /// `"< 50"`.
    Lt(f64),
    /// `"<= 50"`.
    Le(f64),
    /// `"> 0"`.
    Gt(f64),
    /// `">= 1"`.
    Ge(f64),
    /// `"9..12"`: both ends included.
    Range(f64, f64),
}

const CHECK_SYNTAX: &str =
    "expected a check such as \">= 1\", \"> 0\", \"<= 50\", \"< 50\", \"= 0\", \"!= 3\", \"9..12\" or a number";

fn number(text: &str, whole: &str) -> Result<f64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(format!("\"{whole}\": missing number; {CHECK_SYNTAX}"));
    }
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!(
            "\"{whole}\": '{t}' is not a number; {CHECK_SYNTAX}"
        )),
    }
}

impl Check {
    /// Parses a check expression.
    pub fn parse(text: &str) -> Result<Check, String> {
        let s = text.trim();
        if s.is_empty() {
            return Err(format!("empty check; {CHECK_SYNTAX}"));
        }
        // Longest operators first.
        type Make = fn(f64) -> Check;
        const OPS: &[(&str, Make)] = &[
            (">=", Check::Ge),
            ("<=", Check::Le),
            ("==", Check::Eq),
            ("!=", Check::Ne),
            (">", Check::Gt),
            ("<", Check::Lt),
            ("=", Check::Eq),
        ];
        for (op, make) in OPS {
            if let Some(rest) = s.strip_prefix(op) {
                return number(rest, text).map(make);
            }
        }
        if s.starts_with("=>") || s.starts_with("=<") {
            return Err(format!("\"{text}\": write >= or <=; {CHECK_SYNTAX}"));
        }
        if let Some((lo, hi)) = s.split_once("..") {
            let hi = hi.strip_prefix('=').unwrap_or(hi);
            let (lo, hi) = (number(lo, text)?, number(hi, text)?);
            if lo > hi {
                return Err(format!(
                    "\"{text}\": the range is empty ({lo} is above {hi})"
                ));
            }
            return Ok(Check::Range(lo, hi));
        }
        number(s, text).map(Check::Eq)
    }

    /// Whether `value` passes. A NaN value (nothing measured) never passes.
    pub fn eval(&self, value: f64) -> bool {
        if value.is_nan() {
            return false;
        }
        match *self {
            Check::Eq(x) => value == x,
            Check::Ne(x) => value != x,
            Check::Lt(x) => value < x,
            Check::Le(x) => value <= x,
            Check::Gt(x) => value > x,
            Check::Ge(x) => value >= x,
            Check::Range(lo, hi) => lo <= value && value <= hi,
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Check::Eq(x) => write!(f, "= {x}"),
            Check::Ne(x) => write!(f, "!= {x}"),
            Check::Lt(x) => write!(f, "< {x}"),
            Check::Le(x) => write!(f, "<= {x}"),
            Check::Gt(x) => write!(f, "> {x}"),
            Check::Ge(x) => write!(f, ">= {x}"),
            Check::Range(lo, hi) => write!(f, "{lo}..{hi}"),
        }
    }
}

impl FromStr for Check {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Check::parse(s)
    }
}

impl<'de> Deserialize<'de> for Check {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Check;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(CHECK_SYNTAX)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Check, E> {
                Check::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Check, E> {
                Ok(Check::Eq(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Check, E> {
                Ok(Check::Eq(v as f64))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Check, A::Error> {
                Err(de::Error::custom(
                    "found a table: quote a dotted metric name, e.g. \
                     \"producers.p0.records_per_request\" = \">= 10\"",
                ))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Check, E> {
                if v.is_finite() {
                    Ok(Check::Eq(v))
                } else {
                    Err(E::custom(format!(
                        "{v} is not a usable number; {CHECK_SYNTAX}"
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Check {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One line of an `[expect]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    /// One of [`KNOWN_METRICS`].
    pub metric: Located<String>,
    pub check: Located<Check>,
}

impl Expectation {
    /// Whether the metric's measured value passes the check.
    pub fn eval(&self, value: f64) -> bool {
        self.check.eval(value)
    }
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.metric.value, self.check.value)
    }
}

/// A metric name that has been checked against [`KNOWN_METRICS`] while deserialising, so
/// the error carries the key's position.
struct MetricName(String);

impl<'de> Deserialize<'de> for MetricName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        check_metric_name(&name).map_err(de::Error::custom)?;
        Ok(MetricName(name))
    }
}

/// serde `with` helpers: an `[expect]` table ↔ `Vec<Expectation>` in file order.
pub(crate) mod serde_table {
    use super::*;
    use serde::de::MapAccess;
    use serde::ser::SerializeMap;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Expectation>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<Expectation>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of metric = check, e.g. lost = 0")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(name) = map.next_key::<Located<MetricName>>()? {
                    let check = map.next_value::<Located<Check>>()?;
                    out.push(Expectation {
                        metric: name.map(|m| m.0),
                        check,
                    });
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }

    pub fn serialize<S: Serializer>(v: &[Expectation], s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(v.len()))?;
        for e in v {
            map.serialize_entry(&e.metric.value, &e.check.value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_expect_metric_lists_agree() {
        let names: Vec<&str> = METRICS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, KNOWN_METRICS);
        assert!(describe_metric("lost").is_some());
        assert!(describe_metric("lots").is_none());
    }

    #[test]
    fn scenario_expect_check_parses() {
        assert_eq!(Check::parse(">= 1"), Ok(Check::Ge(1.0)));
        assert_eq!(Check::parse(">1"), Ok(Check::Gt(1.0)));
        assert_eq!(Check::parse("<= 50"), Ok(Check::Le(50.0)));
        assert_eq!(Check::parse("< 50"), Ok(Check::Lt(50.0)));
        assert_eq!(Check::parse("= 0"), Ok(Check::Eq(0.0)));
        assert_eq!(Check::parse("== 0"), Ok(Check::Eq(0.0)));
        assert_eq!(Check::parse("0"), Ok(Check::Eq(0.0)));
        assert_eq!(Check::parse(" 2.5 "), Ok(Check::Eq(2.5)));
        assert_eq!(Check::parse("!= 3"), Ok(Check::Ne(3.0)));
        assert_eq!(Check::parse("9..12"), Ok(Check::Range(9.0, 12.0)));
        assert_eq!(Check::parse("0.5 .. 1.5"), Ok(Check::Range(0.5, 1.5)));
        assert_eq!(Check::parse("-1..=1"), Ok(Check::Range(-1.0, 1.0)));
    }

    #[test]
    fn scenario_expect_check_errors() {
        for bad in [
            "",
            ">=",
            "at least 1",
            "12..9",
            "=> 1",
            ">= one",
            "inf",
            "1..",
            "NaN",
        ] {
            let e = Check::parse(bad).expect_err(bad);
            assert!(!e.is_empty());
        }
        assert!(Check::parse("12..9").expect_err("empty").contains("empty"));
    }

    #[test]
    fn scenario_expect_check_evaluates() {
        assert!(Check::Ge(1.0).eval(1.0));
        assert!(!Check::Gt(1.0).eval(1.0));
        assert!(Check::Range(9.0, 12.0).eval(9.0));
        assert!(Check::Range(9.0, 12.0).eval(12.0));
        assert!(!Check::Range(9.0, 12.0).eval(12.01));
        assert!(Check::Eq(0.0).eval(0.0));
        assert!(Check::Ne(3.0).eval(2.0));
        assert!(!Check::Ne(3.0).eval(f64::NAN));
        assert!(Check::Lt(50.0).eval(49.9));
        assert!(Check::Le(50.0).eval(50.0));
    }

    #[test]
    fn scenario_expect_check_round_trips() {
        for text in [
            ">= 1",
            "> 0",
            "<= 50",
            "< 50",
            "= 0",
            "!= 3",
            "9..12",
            "0.5..1.25",
            "= -2",
        ] {
            let c = Check::parse(text).expect(text);
            assert_eq!(c.to_string(), text);
            assert_eq!(Check::parse(&c.to_string()), Ok(c));
        }
        assert_eq!(
            Check::parse("== 7").map(|c| c.to_string()),
            Ok("= 7".into())
        );
        assert_eq!(Check::parse("7").map(|c| c.to_string()), Ok("= 7".into()));
    }

    #[test]
    fn scenario_expect_unknown_metric_suggests() {
        assert_eq!(
            check_metric_name("rebalance"),
            Err("unknown expectation 'rebalance'; did you mean 'rebalances'?".into())
        );
        assert_eq!(check_metric_name("p99_e2e_ms"), Ok(()));
        let e = check_metric_name("xyzzy").expect_err("unknown");
        assert!(e.contains("known metrics: lost, duplicates"), "{e}");
    }
}
