//! The checks of a scenario that need the whole file, after its structure has parsed:
//! references between sections (topics, producers, groups, brokers), event targets and
//! times within the run, fault fields, Kafka's topic name rule; derived defaults are
//! filled in on the way.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::{fail, Fail};
use crate::scenario::duration::format_duration;
use crate::scenario::model::{EventKind, Keys, Located, Scenario, TargetKind};
use crate::scenario::suggest;

/// Kafka's rule for topic names: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
fn check_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a topic name cannot be empty".into());
    }
    if name == "." || name == ".." {
        return Err(format!("'{name}' is not a valid topic name"));
    }
    if name.len() > 249 {
        return Err(format!(
            "topic name is {} characters long; Kafka allows at most 249",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "topic name '{name}' contains '{c}'; Kafka allows only letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}

fn listed(names: &[&str]) -> String {
    names.join(", ")
}

fn unknown_name(what: &str, name: &str, known: &[&str], section: &str) -> String {
    let hint = suggest::did_you_mean(name, known.iter().copied());
    if known.is_empty() {
        format!("{what} '{name}' is not declared (no {section} are declared)")
    } else if hint.is_empty() {
        format!(
            "{what} '{name}' is not declared in {section} (declared: {})",
            listed(known)
        )
    } else {
        format!("{what} '{name}' is not declared in {section}{hint}")
    }
}

pub(super) fn validate(s: &mut Scenario, file_name: &str) -> Result<(), Fail> {
    if s.name.is_empty() {
        s.name = Path::new(file_name)
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
    }

    // Run length.
    let duration = *s.duration;
    if duration.is_zero() {
        return fail(&s.duration.span, "duration must be above 0");
    }
    if *s.warmup >= duration {
        return fail(
            &s.warmup.span,
            format!(
                "warmup ({}) must be shorter than duration ({})",
                format_duration(*s.warmup),
                format_duration(duration)
            ),
        );
    }

    // Cluster.
    let embedded = s.cluster.bootstrap.is_none();
    if let Some(b) = &s.cluster.bootstrap {
        if b.trim().is_empty() {
            return fail(
                &b.span,
                "bootstrap is a list of host:port, e.g. \"kafka1:9092,kafka2:9092\"",
            );
        }
    }

    // Topics.
    let mut topic_names: Vec<&str> = Vec::new();
    for t in &s.topics {
        check_topic_name(&t.name).or_else(|e| fail(&t.name.span, e))?;
        if topic_names.contains(&t.name.as_str()) {
            return fail(
                &t.name.span,
                format!("topic '{}' is declared twice", *t.name),
            );
        }
        topic_names.push(&t.name);
        if !*t.create && (t.partitions != 1 || *t.replication_factor != 1 || !t.config.is_empty()) {
            return fail(
                &t.create.span,
                format!(
                    "topic '{}' has create = false: the broker creates it with its own \
                     num.partitions and default.replication.factor, so it takes no \
                     partitions, replication_factor or config",
                    *t.name
                ),
            );
        }
        if embedded && u32::from(*t.replication_factor) > s.cluster.brokers {
            return fail(
                &t.replication_factor.span,
                format!(
                    "replication_factor {} is more than the {} broker(s) of the embedded cluster \
                     (set [cluster] brokers)",
                    *t.replication_factor, s.cluster.brokers
                ),
            );
        }
    }

    // Producers: default names, unique names, declared topics.
    for (i, p) in s.producers.iter_mut().enumerate() {
        if !p.name.is_from_file() && p.name.is_empty() {
            p.name = Located::new(format!("p{i}"));
        }
    }
    for (i, p) in s.producers.iter().enumerate() {
        if *p.tombstones > 0.0 && p.keys == Keys::None {
            return fail(
                &p.tombstones.span,
                "tombstones need keys: a tombstone deletes a key (and a compacted topic refuses records without one); set keys = \"uniform\" or another",
            );
        }
        if p.name.is_from_file() {
            if p.name.trim().is_empty() {
                return fail(&p.name.span, "a producer name cannot be empty");
            }
            if p.name.contains('/') {
                return fail(
                    &p.name.span,
                    format!(
                        "producer name '{}' contains '/', which event targets use to pick an instance",
                        *p.name
                    ),
                );
            }
        }
        if let Some(other) = s
            .producers
            .iter()
            .enumerate()
            .find(|(j, o)| *j != i && o.name.value == p.name.value)
        {
            // Report at the name written in the file (a default name cannot be moved).
            let span = if p.name.is_from_file() {
                &p.name.span
            } else {
                &other.1.name.span
            };
            return fail(
                span,
                format!(
                    "two producers are named '{}' (unnamed producers are called p0, p1, ... by position)",
                    *p.name
                ),
            );
        }
        if !topic_names.contains(&p.topic.as_str()) {
            return fail(
                &p.topic.span,
                unknown_name("topic", &p.topic, &topic_names, "[[topics]]"),
            );
        }
    }

    // Consumers: one of topic/topics, declared topics, member counts per group.
    let mut members: BTreeMap<String, u64> = BTreeMap::new();
    for c in s.consumers.iter_mut() {
        if c.group.trim().is_empty() {
            return fail(&c.group.span, "a consumer group name cannot be empty");
        }
        match c.topic.take() {
            Some(t) if !c.topics.is_empty() => {
                return fail(
                    &t.span,
                    "give either topic = \"x\" or topics = [\"x\", \"y\"], not both",
                );
            }
            Some(t) => c.topics.push(t),
            None => {}
        }
        if c.topics.is_empty() {
            return fail(
                &c.group.span,
                format!(
                    "consumers of group '{}' need topic = \"...\" or topics = [...]",
                    *c.group
                ),
            );
        }
        for (i, t) in c.topics.iter().enumerate() {
            if !topic_names.contains(&t.as_str()) {
                return fail(
                    &t.span,
                    unknown_name("topic", t, &topic_names, "[[topics]]"),
                );
            }
            if c.topics[..i].iter().any(|o| o.value == t.value) {
                return fail(&t.span, format!("topic '{}' is listed twice", t.value));
            }
        }
        *members.entry(c.group.value.clone()).or_default() += u64::from(c.count);
    }
    let group_names: Vec<String> = s.group_names().into_iter().map(String::from).collect();
    let group_refs: Vec<&str> = group_names.iter().map(String::as_str).collect();
    let producer_names: Vec<String> = s.producers.iter().map(|p| p.name.value.clone()).collect();
    let producer_refs: Vec<&str> = producer_names.iter().map(String::as_str).collect();

    // Events, in time order.
    s.events.sort_by_key(|e| *e.at);
    let mut gone: BTreeMap<(String, u32), (EventKind, Duration)> = BTreeMap::new();
    let mut partitions: BTreeMap<String, u32> = s
        .topics
        .iter()
        .map(|t| (t.name.value.clone(), t.partitions))
        .collect();
    for e in &s.events {
        let kind = *e.kind;
        let name = kind.as_str();
        if *e.at >= duration {
            return fail(
                &e.at.span,
                format!(
                    "event at {} is not before the end of the run (duration = {})",
                    format_duration(*e.at),
                    format_duration(duration)
                ),
            );
        }

        // Fields that belong to other kinds.
        match (&e.for_duration, kind.allows_for()) {
            (Some(f), false) => {
                return fail(&f.span, format!("'for' does not apply to {name}"));
            }
            (Some(f), true) if f.is_zero() => {
                return fail(&f.span, "'for' must be above 0");
            }
            (None, _) if kind.needs_for() => {
                return fail(
                    &e.kind.span,
                    format!("{name} needs a duration: for = \"15s\""),
                );
            }
            _ => {}
        }
        match (&e.rate, kind == EventKind::SetRate) {
            (Some(r), false) => return fail(&r.span, format!("'rate' does not apply to {name}")),
            (None, true) => {
                return fail(
                    &e.kind.span,
                    "set-rate needs the new rate: rate = 1000 (records/s) or \"max\"",
                )
            }
            _ => {}
        }
        crate::scenario::kafka_events::check(e, s, embedded, &mut partitions)?;
        match (&e.offsets, kind == EventKind::ResetOffsets) {
            (Some(o), false) => {
                return fail(&o.span, format!("'offsets' does not apply to {name}"))
            }
            (None, true) => {
                return fail(
                    &e.kind.span,
                    "reset-offsets needs where to: offsets = \"earliest\", \"latest\", an offset \
                     (1500) or a time back from the event (\"-10s\")",
                )
            }
            _ => {}
        }
        check_fault_fields(e, s.cluster.brokers, embedded)?;

        // The target.
        let target_kind = kind.target_kind();
        let Some(target) = &e.target else {
            let example = match target_kind {
                TargetKind::Group => "target = \"billing\" (a consumer group)",
                TargetKind::Member => "target = \"billing/0\" (member 0 of group billing)",
                TargetKind::Producer => "target = \"p0\" (a producer's name)",
                TargetKind::Broker if kind == EventKind::InjectError => continue,
                TargetKind::Broker => "target = 0 (a broker node id)",
                TargetKind::Topic => "target = \"orders\" (a declared topic)",
                TargetKind::Nothing => continue,
            };
            return fail(&e.kind.span, format!("{name} needs a target: {example}"));
        };
        let t = &target.value;
        let span = &target.span;
        match target_kind {
            TargetKind::Group | TargetKind::Member => {
                let Some(count) = members.get(&t.name).copied() else {
                    return fail(
                        span,
                        unknown_name("consumer group", &t.name, &group_refs, "[[consumers]]"),
                    );
                };
                if target_kind == TargetKind::Group {
                    if t.index.is_some() {
                        return fail(
                            span,
                            format!(
                                "{name} targets a group, not a member: target = \"{}\"",
                                t.name
                            ),
                        );
                    }
                    if kind == EventKind::AddConsumer {
                        members.insert(t.name.clone(), count + u64::from(e.count_or_one()));
                    }
                    continue;
                }
                let Some(index) = t.index else {
                    return fail(
                        span,
                        format!(
                            "{name} targets one member: target = \"{}/0\" (members are numbered from 0)",
                            t.name
                        ),
                    );
                };
                if u64::from(index) >= count {
                    return fail(
                        span,
                        format!(
                            "group '{}' has {count} member(s) at {} (numbered 0 to {}), so there is no member {index}",
                            t.name,
                            format_duration(*e.at),
                            count.saturating_sub(1)
                        ),
                    );
                }
                if let Some((how, when)) = gone.get(&(t.name.clone(), index)) {
                    return fail(
                        span,
                        format!(
                            "member {t} is already gone ({} at {})",
                            how.as_str(),
                            format_duration(*when)
                        ),
                    );
                }
                if matches!(kind, EventKind::RemoveConsumer | EventKind::CrashConsumer) {
                    gone.insert((t.name.clone(), index), (kind, *e.at));
                }
            }
            TargetKind::Producer => {
                let Some(p) = s.producers.iter().find(|p| p.name.value == t.name) else {
                    return fail(
                        span,
                        unknown_name("producer", &t.name, &producer_refs, "[[producers]]"),
                    );
                };
                if let Some(index) = t.index {
                    if index >= p.count {
                        return fail(
                            span,
                            format!(
                                "producer '{}' has {} instance(s) (numbered 0 to {}), so there is no instance {index}",
                                t.name,
                                p.count,
                                p.count - 1
                            ),
                        );
                    }
                }
            }
            TargetKind::Broker => {
                if !embedded {
                    return fail(
                        &e.kind.span,
                        format!(
                            "{name} needs the embedded cluster, but [cluster] sets bootstrap \
                             (a real cluster's brokers are not ours to stop)"
                        ),
                    );
                }
                let Some(id) = t.broker_id() else {
                    return fail(
                        span,
                        format!("{name} targets a broker node id, e.g. target = 0; found \"{t}\""),
                    );
                };
                if i64::from(id) >= i64::from(s.cluster.brokers) {
                    return fail(
                        span,
                        format!(
                            "there is no broker {id}: the embedded cluster has {} broker(s), node ids 0 to {}",
                            s.cluster.brokers,
                            s.cluster.brokers - 1
                        ),
                    );
                }
            }
            TargetKind::Topic => {
                if t.index.is_some() || !topic_names.contains(&t.name.as_str()) {
                    return fail(
                        span,
                        unknown_name("topic", &t.to_string(), &topic_names, "[[topics]]"),
                    );
                }
            }
            TargetKind::Nothing => {
                return fail(
                    span,
                    format!(
                        "'target' does not apply to {name} (it names its nodes in other fields)"
                    ),
                );
            }
        }
    }

    // Expectations that need something in the scenario.
    // (Not once a control removed the event: the check then fails, as it should.)
    for x in s.expect.iter().filter(|_| s.controlled.is_none()) {
        if x.metric.as_str() == "detection_s"
            && !s.events.iter().any(|e| {
                matches!(
                    *e.kind,
                    EventKind::CrashConsumer | EventKind::FreezeConsumer
                )
            })
        {
            return fail(
                &x.metric.span,
                "detection_s measures the time from a crash-consumer or freeze-consumer event \
                 to the group's rebalance, but this scenario has no such event",
            );
        }
    }

    // Scoped expectations name a producer entry or group of this scenario.
    let producers: Vec<&str> = s.producers.iter().map(|p| p.name.as_str()).collect();
    let groups = s.group_names();
    let scoped = s
        .expect
        .iter()
        .map(|x| &x.metric)
        .chain(s.sweep.expect.iter().map(|x| &x.metric));
    for metric in scoped {
        crate::scenario::expect::check_metric_scope(metric, &producers, &groups)
            .or_else(|e| fail(&metric.span, e))?;
    }

    // Event names: unique, and not a kind (drop_events takes both).
    for (i, e) in s.events.iter().enumerate() {
        let Some(name) = &e.name else { continue };
        if EventKind::ALL.iter().any(|k| k.as_str() == name.as_str()) {
            return fail(
                &name.span,
                format!(
                    "event name '{}' is an event kind; pick another name",
                    name.value
                ),
            );
        }
        if s.events[..i]
            .iter()
            .any(|o| o.name.as_ref().is_some_and(|n| n.value == name.value))
        {
            return fail(
                &name.span,
                format!("event name '{}' is used twice", name.value),
            );
        }
    }

    crate::scenario::sweep::validate(s)?;
    crate::scenario::control::validate(s)?;
    Ok(())
}

/// The fields of link, partition and disk events: present where they belong, absent
/// elsewhere, naming nodes the embedded cluster has.
fn check_fault_fields(
    e: &crate::scenario::model::Event,
    brokers: u32,
    embedded: bool,
) -> Result<(), Fail> {
    use crate::scenario::model::LinkEnd;
    let kind = *e.kind;
    let name = kind.as_str();
    let link = matches!(kind, EventKind::DelayLink | EventKind::LossLink);
    let misplaced = [
        ("from", e.from.as_ref().map(|x| &x.span), link),
        ("to", e.to.as_ref().map(|x| &x.span), link),
        (
            "latency",
            e.latency.as_ref().map(|x| &x.span),
            matches!(kind, EventKind::DelayLink | EventKind::SlowDisk),
        ),
        (
            "loss",
            e.loss.as_ref().map(|x| &x.span),
            kind == EventKind::LossLink,
        ),
        (
            "groups",
            e.groups.as_ref().map(|x| &x.span),
            kind == EventKind::PartitionNetwork,
        ),
    ];
    for (field, span, allowed) in misplaced {
        if let (Some(span), false) = (span, allowed) {
            return fail(span, format!("'{field}' does not apply to {name}"));
        }
    }
    if !kind.is_network_or_disk() {
        return Ok(());
    }
    if !embedded {
        return fail(
            &e.kind.span,
            format!(
                "{name} needs the embedded cluster, but [cluster] sets bootstrap \
                 (a real cluster's network is not ours to break)"
            ),
        );
    }
    let check_end = |end: &Located<LinkEnd>| {
        match end.value {
        LinkEnd::Broker(id) if id >= brokers => fail(
            &end.span,
            format!(
                "there is no broker {id}: the embedded cluster has {brokers} broker(s), node ids 0 to {}",
                brokers.saturating_sub(1)
            ),
        ),
        _ => Ok(()),
    }
    };
    if link {
        let (Some(from), Some(to)) = (&e.from, &e.to) else {
            return fail(
                &e.kind.span,
                format!("{name} needs both ends of the link: from = 1, to = 0 (a broker id or \"clients\")"),
            );
        };
        check_end(from)?;
        check_end(to)?;
        if from.value == to.value {
            return fail(
                &to.span,
                format!("{name}: 'from' and 'to' are the same node"),
            );
        }
    }
    match kind {
        EventKind::DelayLink | EventKind::SlowDisk => match &e.latency {
            None => {
                return fail(
                    &e.kind.span,
                    format!("{name} needs a latency: latency = \"200ms\""),
                )
            }
            Some(l) if l.is_zero() => return fail(&l.span, "'latency' must be above 0"),
            _ => {}
        },
        EventKind::LossLink => match &e.loss {
            None => {
                return fail(
                    &e.kind.span,
                    "loss-link needs a loss probability: loss = 0.05 (each message needs a TCP retransmission with that probability)",
                )
            }
            Some(l) if !(l.value > 0.0 && l.value <= 1.0) => {
                return fail(&l.span, format!("'loss' must be above 0 and at most 1, found {}", l.value))
            }
            _ => {}
        },
        EventKind::PartitionNetwork => {
            let Some(groups) = &e.groups else {
                return fail(
                    &e.kind.span,
                    "partition-network needs its sides: groups = [[0], [1, 2]] (\"clients\" may be named)",
                );
            };
            if groups.len() < 2 || groups.iter().any(|g| g.is_empty()) {
                return fail(&groups.span, "'groups' needs at least two non-empty groups, e.g. [[0], [1, 2]]");
            }
            let mut seen = std::collections::BTreeSet::new();
            for n in groups.iter().flatten() {
                if let LinkEnd::Broker(id) = n {
                    if *id >= brokers {
                        return fail(
                            &groups.span,
                            format!("there is no broker {id}: the embedded cluster has {brokers} broker(s)"),
                        );
                    }
                }
                if !seen.insert(*n) {
                    return fail(&groups.span, format!("node {n} is in two groups"));
                }
            }
        }
        _ => {}
    }
    Ok(())
}
