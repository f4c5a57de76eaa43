//! Setting paths: the dotted names a `[sweep]` axis or a `[control]` entry uses for one
//! setting of a scenario (`"producer.linger.ms"`, `"producers.p0.rate"`,
//! `"consumers.billing.config.session.timeout.ms"`, `"cluster.broker.<property>"`), how
//! a path is resolved against a scenario, and how a value is applied.

use serde::Deserialize;

use super::model::{Rate, Scenario};
use super::suggest;
use super::sweep::value_text;
use super::ProcessingModel;

/// What a sweep path names.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Setting {
    /// `producers.<name>.config.<key>`, or every producer for `producer.<key>`.
    ProducerConfig(Option<String>, String),
    ProducerRate(String),
    ProducerRecordSize(String),
    ProducerCount(String),
    /// `producers.<name>.keys` (`"uniform"`, `"zipf(1.2)"`, ...).
    ProducerKeys(String),
    /// `producers.<name>.payload` (`"random"`, `"zeros"`).
    ProducerPayload(String),
    /// `consumers.<group>.config.<key>`, or every consumer for `consumer.<key>`.
    ConsumerConfig(Option<String>, String),
    /// `consumers.<group>.config`: several properties of the group at once, a table
    /// per value (`{ "group.protocol" = "consumer" }`).
    ConsumerConfigs(String),
    ConsumerProcessing(String),
    /// `consumers.<group>.commit`: the group's commit mode.
    ConsumerCommit(String),
    ConsumerCount(String),
    TopicPartitions(String),
    TopicConfig(String, String),
    BrokerConfig(String),
    /// `cluster.brokers`: the embedded cluster's size (every node a controller voter).
    Brokers,
}

const SECTIONS: &[&str] = &[
    "producer",
    "consumer",
    "producers",
    "consumers",
    "topics",
    "cluster",
];
const PRODUCER_FIELDS: &[&str] = &["config", "rate", "record_size", "count", "keys", "payload"];
const CONSUMER_FIELDS: &[&str] = &["config", "processing", "count", "commit"];
const TOPIC_FIELDS: &[&str] = &["partitions", "config"];

/// Splits `<name>.<rest>` where name is one of `names` (names may contain dots).
fn split_name<'a>(rest: &'a str, names: &[&str]) -> Option<(String, &'a str)> {
    let mut best: Option<(String, &'a str)> = None;
    for n in names {
        if let Some(after) = rest.strip_prefix(n).and_then(|r| r.strip_prefix('.')) {
            if best.as_ref().is_none_or(|(b, _)| n.len() > b.len()) {
                best = Some((n.to_string(), after));
            }
        }
    }
    best
}

fn unknown(what: &str, written: &str, known: &[&str]) -> String {
    let first = written.split('.').next().unwrap_or(written);
    let hint = suggest::did_you_mean(first, known.iter().copied());
    if hint.is_empty() {
        format!(
            "{what} '{first}' is not known (known: {})",
            known.join(", ")
        )
    } else {
        format!("{what} '{first}' is not known{hint}")
    }
}

fn field<'a>(
    rest: &'a str,
    fields: &[&str],
    example: &str,
) -> Result<(&'a str, Option<&'a str>), String> {
    let (f, key) = match rest.split_once('.') {
        Some((f, k)) => (f, Some(k)),
        None => (rest, None),
    };
    if !fields.contains(&f) {
        return Err(format!(
            "'{f}' cannot be swept here{}; expected one of: {} (e.g. {example})",
            suggest::did_you_mean(f, fields.iter().copied()),
            fields.join(", ")
        ));
    }
    match (f, key) {
        ("config", None) => Err(format!("name the property after config, e.g. {example}")),
        ("config", Some("")) => Err(format!("name the property after config, e.g. {example}")),
        (_, Some(_)) if f != "config" => Err(format!("'{f}' takes no further path")),
        _ => Ok((f, key)),
    }
}

impl Setting {
    /// What `path` names in `s`, or why it names nothing.
    pub(super) fn resolve(path: &str, s: &Scenario) -> Result<Setting, String> {
        let Some((section, rest)) = path.split_once('.') else {
            return Err(format!(
                "'{path}' is not a setting path; write e.g. \"producer.linger.ms\" or \
                 \"producers.p0.rate\""
            ));
        };
        let producers: Vec<&str> = s.producers.iter().map(|p| p.name.as_str()).collect();
        let groups = s.group_names();
        let topics: Vec<&str> = s.topics.iter().map(|t| t.name.as_str()).collect();
        match section {
            "producer" | "consumer" if rest.is_empty() => Err(format!(
                "name a property after '{section}.', e.g. \"{section}.linger.ms\""
            )),
            "producer" if producers.is_empty() => {
                Err("there are no [[producers]] to set it on".into())
            }
            "consumer" if groups.is_empty() => {
                Err("there are no [[consumers]] to set it on".into())
            }
            "producer" => Ok(Setting::ProducerConfig(None, rest.to_string())),
            "consumer" => Ok(Setting::ConsumerConfig(None, rest.to_string())),
            "producers" => {
                let (name, rest) = split_name(rest, &producers)
                    .ok_or_else(|| unknown("producer", rest, &producers))?;
                let example = format!("\"producers.{name}.config.linger.ms\"");
                Ok(match field(rest, PRODUCER_FIELDS, &example)? {
                    ("config", Some(k)) => Setting::ProducerConfig(Some(name), k.to_string()),
                    ("rate", _) => Setting::ProducerRate(name),
                    ("record_size", _) => Setting::ProducerRecordSize(name),
                    ("keys", _) => Setting::ProducerKeys(name),
                    ("payload", _) => Setting::ProducerPayload(name),
                    _ => Setting::ProducerCount(name),
                })
            }
            "consumers" => {
                let (name, rest) = split_name(rest, &groups)
                    .ok_or_else(|| unknown("consumer group", rest, &groups))?;
                let example = format!("\"consumers.{name}.config.session.timeout.ms\"");
                if rest == "config" {
                    return Ok(Setting::ConsumerConfigs(name));
                }
                Ok(match field(rest, CONSUMER_FIELDS, &example)? {
                    ("config", Some(k)) => Setting::ConsumerConfig(Some(name), k.to_string()),
                    ("processing", _) => Setting::ConsumerProcessing(name),
                    ("commit", _) => Setting::ConsumerCommit(name),
                    _ => Setting::ConsumerCount(name),
                })
            }
            "topics" => {
                let (name, rest) =
                    split_name(rest, &topics).ok_or_else(|| unknown("topic", rest, &topics))?;
                let example = format!("\"topics.{name}.partitions\"");
                Ok(match field(rest, TOPIC_FIELDS, &example)? {
                    ("config", Some(k)) => Setting::TopicConfig(name, k.to_string()),
                    _ => Setting::TopicPartitions(name),
                })
            }
            "cluster" => match rest.split_once('.') {
                Some(("broker", k)) if !k.is_empty() => Ok(Setting::BrokerConfig(k.to_string())),
                None if rest == "brokers" => Ok(Setting::Brokers),
                _ => Err(
                    "only cluster.brokers and broker settings can be swept under \
                     cluster, e.g. \"cluster.broker.num.network.threads\""
                        .into(),
                ),
            },
            other => Err(format!(
                "unknown section '{other}'{} (sweep paths start with: {})",
                suggest::did_you_mean(other, SECTIONS.iter().copied()),
                SECTIONS.join(", ")
            )),
        }
    }

    pub(super) fn apply(&self, s: &mut Scenario, v: &toml::Value) -> Result<(), String> {
        match self {
            Setting::ProducerConfig(name, key) => {
                let text = property(v)?;
                for p in s
                    .producers
                    .iter_mut()
                    .filter(|p| name.as_ref().is_none_or(|n| *n == p.name.value))
                {
                    p.config.insert(key.clone(), text.clone());
                }
            }
            Setting::ConsumerConfig(group, key) => {
                let text = property(v)?;
                for c in s
                    .consumers
                    .iter_mut()
                    .filter(|c| group.as_ref().is_none_or(|g| *g == c.group.value))
                {
                    c.config.insert(key.clone(), text.clone());
                }
            }
            Setting::ConsumerConfigs(group) => {
                let toml::Value::Table(t) = v else {
                    return Err(format!(
                        "consumers.{group}.config takes a table of properties, e.g. \
                         {{ \"group.protocol\" = \"consumer\" }}"
                    ));
                };
                if t.is_empty() {
                    return Err("an empty table sets nothing".into());
                }
                let mut props = Vec::new();
                for (k, pv) in t {
                    props.push((k.clone(), property(pv).map_err(|e| format!("{k}: {e}"))?));
                }
                for c in s.consumers.iter_mut().filter(|c| c.group.value == *group) {
                    for (k, text) in &props {
                        c.config.insert(k.clone(), text.clone());
                    }
                }
            }
            Setting::ProducerRate(name) => {
                let rate = Rate::deserialize(v.clone()).map_err(|e| e.to_string())?;
                producer(s, name)?.rate = rate;
            }
            Setting::ProducerRecordSize(name) => {
                let n = integer(v, 1, i64::from(super::model::MAX_RECORD_SIZE))?;
                producer(s, name)?.record_size = n as u32;
            }
            Setting::ProducerCount(name) => {
                producer(s, name)?.count = integer(v, 1, i64::from(u32::MAX))? as u32;
            }
            Setting::ProducerKeys(name) => {
                let keys = super::Keys::deserialize(v.clone()).map_err(|e| e.to_string())?;
                producer(s, name)?.keys = keys;
            }
            Setting::ProducerPayload(name) => {
                let payload = super::Payload::deserialize(v.clone()).map_err(|e| e.to_string())?;
                producer(s, name)?.payload = payload;
            }
            Setting::ConsumerCommit(group) => {
                let toml::Value::String(text) = v else {
                    return Err("commit is a string: \"auto\", \"sync\", \"async\", \
                         \"before-processing\" or \"none\""
                        .into());
                };
                let mode = super::CommitMode::parse(text)?;
                for c in s.consumers.iter_mut().filter(|c| c.group.value == *group) {
                    c.commit = mode;
                }
            }
            Setting::ConsumerProcessing(group) => {
                let toml::Value::String(text) = v else {
                    return Err("processing is a string such as \"2ms\" or \"exp(2ms)\"".into());
                };
                let model = ProcessingModel::parse(text)?;
                for c in s.consumers.iter_mut().filter(|c| c.group.value == *group) {
                    c.processing = model;
                }
            }
            Setting::ConsumerCount(group) => {
                let n = integer(v, 1, i64::from(u32::MAX))? as u32;
                // The group's first entry takes the count; the others keep theirs.
                let c = s
                    .consumers
                    .iter_mut()
                    .find(|c| c.group.value == *group)
                    .ok_or_else(|| format!("no consumer group '{group}'"))?;
                c.count = n;
            }
            Setting::TopicPartitions(name) => {
                let n = integer(v, 1, i64::from(i32::MAX))? as u32;
                topic(s, name)?.partitions = n;
            }
            Setting::TopicConfig(name, key) => {
                let text = property(v)?;
                topic(s, name)?.config.insert(key.clone(), text);
            }
            Setting::BrokerConfig(key) => {
                s.cluster.broker.insert(key.clone(), property(v)?);
            }
            Setting::Brokers => {
                if s.cluster.bootstrap.is_some() {
                    return Err("cluster.brokers sizes the embedded cluster; this scenario \
                                runs against [cluster] bootstrap"
                        .into());
                }
                s.cluster.brokers = integer(v, 1, 1024)? as u32;
            }
        }
        Ok(())
    }
}

fn producer<'a>(s: &'a mut Scenario, name: &str) -> Result<&'a mut super::Producer, String> {
    s.producers
        .iter_mut()
        .find(|p| p.name.value == name)
        .ok_or_else(|| format!("no producer '{name}'"))
}

fn topic<'a>(s: &'a mut Scenario, name: &str) -> Result<&'a mut super::Topic, String> {
    s.topics
        .iter_mut()
        .find(|t| t.name.value == name)
        .ok_or_else(|| format!("no topic '{name}'"))
}

/// A property value as a properties file holds it.
fn property(v: &toml::Value) -> Result<String, String> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) if f.is_finite() => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        other => Err(format!(
            "a property value is a string, number or boolean, found {}",
            other.type_str()
        )),
    }
}

fn integer(v: &toml::Value, lo: i64, hi: i64) -> Result<i64, String> {
    match v {
        toml::Value::Integer(i) if (lo..=hi).contains(i) => Ok(*i),
        toml::Value::Integer(i) => Err(format!("must be between {lo} and {hi}, found {i}")),
        other => Err(format!(
            "expected a whole number, found {}",
            value_text(other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::{parse, Keys, Payload};

    #[test]
    fn a_group_config_table_sets_several_properties_and_a_control_narrows_it() {
        let src = r#"
duration = "5s"

[[topics]]
name = "orders"

[[consumers]]
group = "billing"
topic = "orders"

[sweep]
"consumers.billing.config" = [
    { "partition.assignment.strategy" = "range" },
    { "group.protocol" = "consumer", "group.remote.assignor" = "range" },
]

[control]
"consumers.billing.config" = { "partition.assignment.strategy" = "range" }
"#;
        let s = parse("t.toml", src).expect("valid sweep");
        let points = s.sweep_points();
        assert_eq!(points.len(), 2);
        let second = s.with_point(&points[1]).expect("point");
        let cfg = &second.consumers[0].config;
        assert_eq!(
            cfg.get("group.protocol").map(String::as_str),
            Some("consumer")
        );
        assert_eq!(
            cfg.get("group.remote.assignor").map(String::as_str),
            Some("range")
        );
        assert_eq!(
            points[1].label(&s.sweep),
            "config={group.protocol=consumer, group.remote.assignor=range}"
        );
        let control = s.with_control().expect("control");
        let points = control.sweep_points();
        assert_eq!(points.len(), 1, "the axis keeps the control's table");
        let only = control.with_point(&points[0]).expect("point");
        assert_eq!(
            only.consumers[0]
                .config
                .get("partition.assignment.strategy")
                .map(String::as_str),
            Some("range")
        );
        assert!(!only.consumers[0].config.contains_key("group.protocol"));
        let bad = parse(
            "t.toml",
            &src.replace(
                r#"{ "partition.assignment.strategy" = "range" },"#,
                r#""range","#,
            ),
        )
        .expect_err("a value that is not a table");
        assert!(
            bad.message().contains("table of properties"),
            "{}",
            bad.message()
        );
    }

    #[test]
    fn keys_and_payload_are_setting_paths() {
        let s = parse(
            "t.toml",
            r#"
duration = "5s"

[[topics]]
name = "orders"

[[producers]]
name = "p0"
topic = "orders"
rate = 100

[sweep]
"producers.p0.keys" = ["none", "zipf(1.5)"]
"producers.p0.payload" = ["random", "zeros"]
"#,
        )
        .expect("valid sweep");
        let points = s.sweep_points();
        assert_eq!(points.len(), 4);
        let last = s.with_point(&points[3]).expect("point");
        assert_eq!(last.producers[0].keys, Keys::Zipf(1.5));
        assert_eq!(last.producers[0].payload, Payload::Zeros);
        let first = s.with_point(&points[0]).expect("point");
        assert_eq!(first.producers[0].keys, Keys::None);
        assert_eq!(first.producers[0].payload, Payload::Random);
        let bad = parse(
            "t.toml",
            r#"
duration = "5s"

[[topics]]
name = "orders"

[[producers]]
name = "p0"
topic = "orders"
rate = 100

[sweep]
"producers.p0.payload" = ["random", "ones"]
"#,
        )
        .expect_err("an unknown payload");
        assert!(
            bad.message().contains("unknown payload"),
            "{}",
            bad.message()
        );
    }
}
