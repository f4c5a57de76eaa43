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
