//! The fields of the Kafka-level events: `inject-error` (`api`, `error`, `count`,
//! optional `topic` / `partition` and broker `target`) and `add-partitions` (topic
//! `target`, `count` = the new total). Checked where they are written: present where
//! they belong, absent elsewhere, naming what the scenario declares.

use std::collections::BTreeMap;
use std::ops::Range;

use super::model::{Event, EventKind, Scenario};
use super::parse::{fail, Fail};
use super::suggest;
use crate::client::error::kafka_error_code;

/// The APIs `inject-error` can answer with an error (the broker's list).
pub const INJECT_APIS: &[&str] = &["produce", "fetch"];

/// Checks the Kafka-event fields of `e`. `partitions` holds each topic's partition
/// count at this point of the timeline; `add-partitions` moves it.
pub(super) fn check(
    e: &Event,
    s: &Scenario,
    embedded: bool,
    partitions: &mut BTreeMap<String, u32>,
) -> Result<(), Fail> {
    let kind = *e.kind;
    let name = kind.as_str();
    let inject = kind == EventKind::InjectError;
    let spans: [(&str, Option<&Range<usize>>, bool); 4] = [
        ("api", e.api.as_ref().map(|x| &x.span), inject),
        ("error", e.error.as_ref().map(|x| &x.span), inject),
        ("topic", e.topic.as_ref().map(|x| &x.span), inject),
        ("partition", e.partition.as_ref().map(|x| &x.span), inject),
    ];
    for (field, span, allowed) in spans {
        if let (Some(span), false) = (span, allowed) {
            return fail(span, format!("'{field}' does not apply to {name}"));
        }
    }
    if let Some(c) = &e.count {
        if !matches!(
            kind,
            EventKind::AddConsumer | EventKind::InjectError | EventKind::AddPartitions
        ) {
            return fail(&c.span, format!("'count' does not apply to {name}"));
        }
    }
    match kind {
        EventKind::InjectError => check_inject(e, s, embedded, partitions),
        EventKind::AddPartitions => {
            let Some(count) = &e.count else {
                return fail(
                    &e.kind.span,
                    "add-partitions needs the new total: count = 12 (partitions after the event)",
                );
            };
            // The target (a declared topic) is checked with the other targets.
            if let Some(t) = &e.target {
                if let Some(now) = partitions.get_mut(&t.name) {
                    if count.value <= *now {
                        return fail(
                            &count.span,
                            format!(
                                "topic '{}' has {now} partition(s) by then; add-partitions needs a larger total (partitions never shrink)",
                                t.name
                            ),
                        );
                    }
                    *now = count.value;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_inject(
    e: &Event,
    s: &Scenario,
    embedded: bool,
    partitions: &BTreeMap<String, u32>,
) -> Result<(), Fail> {
    if !embedded {
        return fail(
            &e.kind.span,
            "inject-error needs the embedded cluster, but [cluster] sets bootstrap \
             (a real cluster's brokers are not ours to rewrite)",
        );
    }
    let Some(api) = &e.api else {
        return fail(
            &e.kind.span,
            "inject-error needs the API whose requests fail: api = \"produce\" (or \"fetch\")",
        );
    };
    if !INJECT_APIS.contains(&api.as_str()) {
        return fail(
            &api.span,
            format!(
                "unknown API '{}' for inject-error{} (one of: {})",
                api.value,
                suggest::did_you_mean(&api.value, INJECT_APIS.iter().copied()),
                INJECT_APIS.join(", ")
            ),
        );
    }
    let Some(error) = &e.error else {
        return fail(
            &e.kind.span,
            "inject-error needs a Kafka error by name: error = \"NOT_LEADER_OR_FOLLOWER\"",
        );
    };
    if kafka_error_code(&error.value).is_none() {
        let upper = error.value.to_ascii_uppercase().replace(['-', ' '], "_");
        let hint = if upper != error.value && kafka_error_code(&upper).is_some() {
            format!("; did you mean '{upper}'?")
        } else {
            String::new()
        };
        return fail(
            &error.span,
            format!(
                "unknown Kafka error '{}'{hint} (a protocol name such as NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS)",
                error.value
            ),
        );
    }
    if e.count.is_none() {
        return fail(
            &e.kind.span,
            "inject-error needs the number of requests to fail: count = 3",
        );
    }
    match (&e.topic, &e.partition) {
        (None, Some(p)) => {
            return fail(
                &p.span,
                "'partition' needs its topic: topic = \"orders\", partition = 0",
            )
        }
        (Some(t), p) => {
            let Some(n) = partitions.get(&t.value).copied() else {
                let known: Vec<&str> = s.topics.iter().map(|t| t.name.as_str()).collect();
                return fail(
                    &t.span,
                    format!(
                        "topic '{}' is not declared in [[topics]]{}",
                        t.value,
                        suggest::did_you_mean(&t.value, known.iter().copied())
                    ),
                );
            };
            if let Some(p) = p.as_ref().filter(|p| p.value >= n) {
                return fail(
                    &p.span,
                    format!(
                        "topic '{}' has {n} partition(s) (0 to {}), so there is no partition {}",
                        t.value,
                        n - 1,
                        p.value
                    ),
                );
            }
        }
        (None, None) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::scenario::{parse, EventKind};

    const BASE: &str = r#"
duration = "10s"

[[topics]]
name = "orders"
partitions = 3

[[producers]]
topic = "orders"
rate = 100
"#;

    fn with(body: &str) -> String {
        format!("{BASE}\n[[events]]\nat = \"1s\"\n{body}\n")
    }

    /// (line, col, message) of the error `body` gets.
    fn error(body: &str) -> (usize, usize, String) {
        let e = parse("t.toml", &with(body)).expect_err("an error");
        let (line, col) = e.position().expect("a position");
        (line, col, e.message())
    }

    /// The 1-based line of `body`'s line starting with `prefix`.
    fn line_of(body: &str, prefix: &str) -> usize {
        with(body)
            .lines()
            .position(|l| l.starts_with(prefix))
            .expect("line")
            + 1
    }

    #[test]
    fn inject_error_and_add_partitions_parse() {
        let s = parse(
            "t.toml",
            &with(
                "do = \"inject-error\"\napi = \"produce\"\nerror = \"NOT_LEADER_OR_FOLLOWER\"\ncount = 3\ntopic = \"orders\"\npartition = 2\ntarget = 0",
            ),
        )
        .expect("valid");
        let e = &s.events[0];
        assert_eq!(*e.kind, EventKind::InjectError);
        assert_eq!(e.api.as_deref().map(String::as_str), Some("produce"));
        assert_eq!(
            e.error.as_deref().map(String::as_str),
            Some("NOT_LEADER_OR_FOLLOWER")
        );
        assert_eq!(e.count_or_one(), 3);
        assert_eq!(e.partition.as_deref(), Some(&2));
        // No target: any broker.
        parse(
            "t.toml",
            &with(
                "do = \"inject-error\"\napi = \"fetch\"\nerror = \"REQUEST_TIMED_OUT\"\ncount = 1",
            ),
        )
        .expect("valid without a target");
        let s = parse(
            "t.toml",
            &with("do = \"add-partitions\"\ntarget = \"orders\"\ncount = 6"),
        )
        .expect("valid");
        assert_eq!(*s.events[0].kind, EventKind::AddPartitions);
        // The engine numbers the partitions the topic will have.
        assert_eq!(s.partitions_reached("orders"), Some(6));
        assert_eq!(s.partitions_reached("other"), None);
    }

    #[test]
    fn unknown_names_are_errors_at_their_value() {
        let body = "do = \"inject-error\"\napi = \"produce\"\nerror = \"not_leader_or_follower\"\ncount = 1";
        let (line, col, msg) = error(body);
        assert_eq!((line, col), (line_of(body, "error ="), 9));
        assert!(
            msg.contains("unknown Kafka error 'not_leader_or_follower'"),
            "{msg}"
        );
        assert!(
            msg.contains("did you mean 'NOT_LEADER_OR_FOLLOWER'"),
            "{msg}"
        );

        let body =
            "do = \"inject-error\"\napi = \"produse\"\nerror = \"REQUEST_TIMED_OUT\"\ncount = 1";
        let (line, col, msg) = error(body);
        assert_eq!((line, col), (line_of(body, "api ="), 7));
        assert!(msg.contains("did you mean 'produce'"), "{msg}");
    }

    #[test]
    fn fields_are_checked_where_they_belong() {
        let cases: &[(&str, &str)] = &[
            (
                "do = \"inject-error\"\nerror = \"REQUEST_TIMED_OUT\"\ncount = 1",
                "needs the API",
            ),
            (
                "do = \"inject-error\"\napi = \"produce\"\ncount = 1",
                "needs a Kafka error",
            ),
            (
                "do = \"inject-error\"\napi = \"produce\"\nerror = \"REQUEST_TIMED_OUT\"",
                "needs the number of requests",
            ),
            (
                "do = \"inject-error\"\napi = \"produce\"\nerror = \"NONE\"\ncount = 1",
                "unknown Kafka error 'NONE'",
            ),
            (
                "do = \"inject-error\"\napi = \"produce\"\nerror = \"REQUEST_TIMED_OUT\"\ncount = 1\npartition = 0",
                "'partition' needs its topic",
            ),
            (
                "do = \"inject-error\"\napi = \"produce\"\nerror = \"REQUEST_TIMED_OUT\"\ncount = 1\ntopic = \"orders\"\npartition = 3",
                "no partition 3",
            ),
            (
                "do = \"inject-error\"\napi = \"produce\"\nerror = \"REQUEST_TIMED_OUT\"\ncount = 1\ntopic = \"order\"",
                "did you mean 'orders'",
            ),
            (
                "do = \"inject-error\"\napi = \"produce\"\nerror = \"REQUEST_TIMED_OUT\"\ncount = 1\ntarget = 1",
                "there is no broker 1",
            ),
            (
                "do = \"kill-broker\"\ntarget = 0\napi = \"produce\"",
                "'api' does not apply to kill-broker",
            ),
            (
                "do = \"kill-broker\"\ntarget = 0\ncount = 2",
                "'count' does not apply to kill-broker",
            ),
            ("do = \"add-partitions\"\ntarget = \"orders\"", "needs the new total"),
            (
                "do = \"add-partitions\"\ntarget = \"orders\"\ncount = 3",
                "needs a larger total",
            ),
            ("do = \"add-partitions\"\ncount = 6", "needs a target"),
            (
                "do = \"add-partitions\"\ntarget = \"order\"\ncount = 6",
                "topic 'order'",
            ),
        ];
        for (body, needle) in cases {
            let (_, _, msg) = error(body);
            assert!(msg.contains(needle), "{body}: {msg}");
        }
    }
}
