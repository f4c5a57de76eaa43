//! The scenario file's structure: serde types for the TOML, unknown keys rejected
//! everywhere. Values that only make sense together (an event's target, a producer's
//! topic, ...) are checked by [`parse`](super::parse()), which also fills in the derived
//! defaults; a `Scenario` obtained from it is valid.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::control::Control;
pub use super::delivery::{CommitMode, ResetTo};
use super::duration::{self, ProcessingModel};
use super::expect::{self, Expectation};
use super::lesson::Module;
pub use super::located::Located;
use super::suggest;
use super::sweep::Sweep;

/// Kafka properties (client, broker or topic settings) by their Kafka name, values as
/// strings exactly as a Kafka properties file would hold them (`5` → `"5"`,
/// `true` → `"true"`). Dotted keys written unquoted (`linger.ms = 5`) are the same as
/// quoted ones (`"linger.ms" = 5`); an array becomes a comma-separated list.
pub type Properties = BTreeMap<String, String>;

/// A whole scenario file.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name; defaults to the file name without its extension.
    #[serde(default)]
    pub name: String,
    /// What the scenario demonstrates.
    #[serde(default)]
    pub about: String,
    /// What to look at while it runs.
    #[serde(default)]
    pub watch: String,
    /// The curriculum module a lesson belongs to (`kafkalab lessons` groups by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<Located<Module>>,
    /// The setting(s) the lesson teaches, as a learner would look them up
    /// (`"linger.ms"`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub setting: String,
    /// How long the load runs, warm-up included (`"60s"`).
    #[serde(with = "duration::serde_located")]
    pub duration: Located<Duration>,
    /// The first part of the run, excluded from the measurements (`"5s"`, default `"0s"`).
    #[serde(default, with = "duration::serde_located")]
    pub warmup: Located<Duration>,
    /// The run's seed; when absent the runner picks one and prints it.
    #[serde(
        default,
        deserialize_with = "de_seed",
        skip_serializing_if = "Option::is_none"
    )]
    pub seed: Option<u64>,
    #[serde(default)]
    pub cluster: Cluster,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<Topic>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub producers: Vec<Producer>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumers: Vec<Consumer>,
    /// Sorted by `at` (file order among equal times) once parsed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
    /// The `[expect]` table, in file order.
    #[serde(
        default,
        with = "expect::serde_table",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub expect: Vec<Expectation>,
    /// The `[sweep]` table: one run per combination of the listed values.
    #[serde(default, skip_serializing_if = "Sweep::is_empty")]
    pub sweep: Sweep,
    /// The `[control]` table: what undoes the lesson (`--control` applies it).
    #[serde(default, skip_serializing_if = "Control::is_empty")]
    pub control: Control,
    /// The control this scenario was made with ([`Scenario::with_control`]); `None` for
    /// the scenario as written.
    #[serde(skip)]
    pub controlled: Option<Control>,
}

impl Scenario {
    /// The consumer entries of one group, in file order.
    pub fn group<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Consumer> + 'a {
        self.consumers.iter().filter(move |c| c.group.value == name)
    }

    /// Group names in order of first appearance.
    pub fn group_names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for c in &self.consumers {
            if !out.contains(&c.group.as_str()) {
                out.push(c.group.as_str());
            }
        }
        out
    }

    /// The producer entry with this name.
    pub fn producer(&self, name: &str) -> Option<&Producer> {
        self.producers.iter().find(|p| p.name.value == name)
    }

    /// The declared topic with this name.
    pub fn topic(&self, name: &str) -> Option<&Topic> {
        self.topics.iter().find(|t| t.name.value == name)
    }

    /// The largest partition total an `add-partitions` event gives `topic`, if any.
    pub fn partitions_reached(&self, topic: &str) -> Option<u32> {
        self.events
            .iter()
            .filter(|e| *e.kind == EventKind::AddPartitions)
            .filter(|e| e.target.as_ref().is_some_and(|t| t.name == topic))
            .filter_map(|e| e.count.as_ref().map(|c| c.value))
            .max()
    }

    /// The length of the measured part of the run (`duration - warmup`).
    pub fn measured(&self) -> Duration {
        self.duration.saturating_sub(*self.warmup)
    }
}

/// `[cluster]`: the embedded cluster, or a real one.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Embedded brokers to start (default 1). Ignored with `bootstrap`.
    #[serde(default = "one_u32", deserialize_with = "de_brokers")]
    pub brokers: u32,
    /// A real cluster's `bootstrap.servers` (`"kafka1:9092,kafka2:9092"`); no embedded
    /// broker is started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<Located<String>>,
    /// Broker settings for the embedded brokers, by Kafka name
    /// (`"group.initial.rebalance.delay.ms" = 0`).
    #[serde(
        default,
        deserialize_with = "de_properties",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub broker: Properties,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            brokers: 1,
            bootstrap: None,
            broker: Properties::new(),
        }
    }
}

/// `[[topics]]`: a topic created before the load starts (or, with `create = false`,
/// left for the broker to create when a producer first asks for it).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    pub name: Located<String>,
    /// Default 1.
    #[serde(default = "one_u32", deserialize_with = "de_partitions")]
    pub partitions: u32,
    /// Default 1; at most the number of embedded brokers.
    #[serde(
        default = "one_located_u16",
        deserialize_with = "de_replication_factor"
    )]
    pub replication_factor: Located<u16>,
    /// Topic settings by Kafka name (`"retention.ms" = 60000`).
    #[serde(
        default,
        deserialize_with = "de_properties",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub config: Properties,
    /// Default true: the runner creates the topic (CreateTopics) before the load. With
    /// false it does not: the topic exists only if the broker auto-creates it
    /// (`auto.create.topics.enable`, with `num.partitions` and
    /// `default.replication.factor`) when a producer's Metadata request names it.
    #[serde(default = "located_true", skip_serializing_if = "is_located_true")]
    pub create: Located<bool>,
}

fn located_true() -> Located<bool> {
    Located::new(true)
}

fn is_located_true(v: &Located<bool>) -> bool {
    v.value
}

/// `[[producers]]`: `count` identical producers writing to one topic.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Producer {
    /// Defaults to `p0`, `p1`, ... by position among the `[[producers]]` entries.
    #[serde(default)]
    pub name: Located<String>,
    pub topic: Located<String>,
    /// Producer instances (default 1); each sends at `rate`.
    #[serde(default = "one_u32", deserialize_with = "de_count")]
    pub count: u32,
    /// Records per second per instance (open loop), or `"max"`.
    pub rate: Rate,
    /// Value size in bytes (default 100, at most 1 MiB).
    #[serde(default = "default_record_size", deserialize_with = "de_record_size")]
    pub record_size: u32,
    /// How record keys are chosen (default `"none"`: no key).
    #[serde(default)]
    pub keys: Keys,
    /// Distinct keys for `uniform`, `sequential` and `zipf` (default 10000).
    #[serde(default = "default_key_space", deserialize_with = "de_key_space")]
    pub key_space: u64,
    /// Payload bytes (default `"random"`).
    #[serde(default)]
    pub payload: Payload,
    /// Share of the keyed records sent as tombstones (null value), 0 to 1 (default 0).
    #[serde(
        default,
        deserialize_with = "de_tombstones",
        skip_serializing_if = "is_zero_located"
    )]
    pub tombstones: Located<f64>,
    /// Kafka producer properties (`"linger.ms" = 5`, `"acks" = "all"`).
    #[serde(
        default,
        deserialize_with = "de_properties",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub config: Properties,
}

/// `[[consumers]]`: `count` members of a consumer group. Several entries may name the
/// same group (say, two fast members and one slow one); members are numbered across them
/// in file order, from 0.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Consumer {
    /// The consumer group (`group.id`).
    pub group: Located<String>,
    /// One topic. Parsing moves it into `topics`, so after [`parse`](super::parse()) this
    /// is always `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<Located<String>>,
    /// The subscribed topics (`topic = "x"` is folded in here).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<Located<String>>,
    /// Members (default 1).
    #[serde(default = "one_u32", deserialize_with = "de_count")]
    pub count: u32,
    /// Time spent processing each record or batch (default `"0ms"`).
    #[serde(default)]
    pub processing: ProcessingModel,
    /// Whether `processing` applies per record (default) or per polled batch.
    #[serde(default)]
    pub processing_per: ProcessingPer,
    /// Kafka consumer properties (`"session.timeout.ms" = 10000`).
    #[serde(
        default,
        deserialize_with = "de_properties",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub config: Properties,
    /// When members commit their positions (default `"auto"`: `enable.auto.commit`).
    #[serde(default, skip_serializing_if = "is_auto_commit")]
    pub commit: CommitMode,
}

fn is_auto_commit(m: &CommitMode) -> bool {
    *m == CommitMode::Auto
}

/// `[[events]]`: something that happens at a point of the run.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// A name for `[control] drop_events` to remove this one event by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Located<String>>,
    /// When, from the start of the run (`"20s"`).
    #[serde(with = "duration::serde_located")]
    pub at: Located<Duration>,
    /// What (`do = "crash-consumer"`).
    #[serde(rename = "do")]
    pub kind: Located<EventKind>,
    /// Whom: `"billing/1"` (member 1 of group billing), `"billing"` (the group, for
    /// `add-consumer`), `"p0"` (every instance of producer p0), `"p0/1"` (one instance),
    /// `"0"` or `0` (broker node 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Located<Target>>,
    /// How long, for `freeze-consumer`, `pause-broker`, the downtime of
    /// `restart-consumer`, and how long a link or disk
    /// fault lasts (`for = "15s"`; without it the fault stays until undone).
    #[serde(
        rename = "for",
        default,
        with = "duration::serde_located_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub for_duration: Option<Located<Duration>>,
    /// The new rate, for `set-rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Located<Rate>>,
    /// How many members `add-consumer` adds (default 1).
    #[serde(
        default,
        deserialize_with = "de_opt_count",
        skip_serializing_if = "Option::is_none"
    )]
    pub count: Option<Located<u32>>,
    /// The sending end of a link, for `delay-link` and `loss-link`: a broker id or
    /// `"clients"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Located<LinkEnd>>,
    /// The receiving end of a link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Located<LinkEnd>>,
    /// Added one-way latency (`delay-link`) or extra time per append (`slow-disk`).
    #[serde(
        default,
        with = "duration::serde_located_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub latency: Option<Located<Duration>>,
    /// Probability (0 to 1) that a message on the link needs a TCP retransmission
    /// (`loss-link`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<Located<f64>>,
    /// The sides of a network partition: `groups = [[0], [1, 2]]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Located<Vec<Vec<LinkEnd>>>>,
    /// The API whose requests `inject-error` answers with an error: `"produce"`,
    /// `"fetch"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<Located<String>>,
    /// The Kafka error `inject-error` answers with, by protocol name
    /// (`"NOT_LEADER_OR_FOLLOWER"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Located<String>>,
    /// `inject-error` only for this topic's partitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<Located<String>>,
    /// `inject-error` only for this partition (of `topic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<Located<u32>>,
    /// Where `reset-offsets` moves the group's committed offsets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offsets: Option<Located<ResetTo>>,
}

/// One end of a network link in a scenario: a broker node id or the clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LinkEnd {
    Broker(u32),
    Clients,
}

impl fmt::Display for LinkEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkEnd::Broker(id) => write!(f, "{id}"),
            LinkEnd::Clients => f.write_str("clients"),
        }
    }
}

impl FromStr for LinkEnd {
    type Err = String;
    fn from_str(s: &str) -> Result<LinkEnd, String> {
        let t = s.trim();
        if t == "clients" {
            return Ok(LinkEnd::Clients);
        }
        t.parse::<u32>().map(LinkEnd::Broker).map_err(|_| {
            format!("'{s}' is not a link end: expected a broker node id (0, 1, ...) or \"clients\"")
        })
    }
}

impl<'de> Deserialize<'de> for LinkEnd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LinkEnd;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a broker node id or \"clients\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LinkEnd, E> {
                u32::try_from(v)
                    .map(LinkEnd::Broker)
                    .map_err(|_| E::custom(format!("{v} is not a broker node id")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LinkEnd, E> {
                u32::try_from(v)
                    .map(LinkEnd::Broker)
                    .map_err(|_| E::custom(format!("{v} is not a broker node id")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LinkEnd, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for LinkEnd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            LinkEnd::Broker(id) => s.serialize_u32(*id),
            LinkEnd::Clients => s.serialize_str("clients"),
        }
    }
}

impl Event {
    /// `count`, or 1.
    pub fn count_or_one(&self) -> u32 {
        self.count.as_ref().map_or(1, |c| c.value)
    }
}

/// What an event does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// Start `count` (default 1) more members of the target group.
    AddConsumer,
    /// The member leaves cleanly (LeaveGroup): the group rebalances at once.
    RemoveConsumer,
    /// The member dies without leaving: the group notices after `session.timeout.ms`.
    CrashConsumer,
    /// The member stops polling and heartbeating for `for`, then resumes.
    FreezeConsumer,
    /// The member closes (LeaveGroup unless static) and a new consumer with the same
    /// configuration (`client.id`, `group.instance.id`) starts `for` later.
    RestartConsumer,
    StopProducer,
    StartProducer,
    /// The target producer's rate becomes `rate`.
    SetRate,
    KillBroker,
    RestartBroker,
    /// The broker stops responding for `for`.
    PauseBroker,
    /// Added latency on a directed link (`from`, `to`, `latency`, optional `for`).
    DelayLink,
    /// Loss on a directed link (`from`, `to`, `loss`, optional `for`): TCP
    /// retransmissions.
    LossLink,
    /// The network splits into `groups` (optional `for`).
    PartitionNetwork,
    /// Every link fault and partition ends (slow disks too).
    HealNetwork,
    /// The target broker's appends take `latency` longer (optional `for`).
    SlowDisk,
    /// The next `count` requests of `api` (optionally for `topic` / `partition`, on
    /// the target broker) are answered with the Kafka `error` and not handled.
    InjectError,
    /// The target topic grows to `count` partitions (CreatePartitions).
    AddPartitions,
    /// The group's members stop, its committed offsets move to `offsets`, and the
    /// members start again (`kafka-consumer-groups.sh --reset-offsets`).
    ResetOffsets,
}

impl EventKind {
    pub const ALL: &'static [EventKind] = &[
        EventKind::AddConsumer,
        EventKind::RemoveConsumer,
        EventKind::CrashConsumer,
        EventKind::FreezeConsumer,
        EventKind::RestartConsumer,
        EventKind::StopProducer,
        EventKind::StartProducer,
        EventKind::SetRate,
        EventKind::KillBroker,
        EventKind::RestartBroker,
        EventKind::PauseBroker,
        EventKind::DelayLink,
        EventKind::LossLink,
        EventKind::PartitionNetwork,
        EventKind::HealNetwork,
        EventKind::SlowDisk,
        EventKind::InjectError,
        EventKind::AddPartitions,
        EventKind::ResetOffsets,
    ];

    /// The name written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::AddConsumer => "add-consumer",
            EventKind::RemoveConsumer => "remove-consumer",
            EventKind::CrashConsumer => "crash-consumer",
            EventKind::FreezeConsumer => "freeze-consumer",
            EventKind::RestartConsumer => "restart-consumer",
            EventKind::StopProducer => "stop-producer",
            EventKind::StartProducer => "start-producer",
            EventKind::SetRate => "set-rate",
            EventKind::KillBroker => "kill-broker",
            EventKind::RestartBroker => "restart-broker",
            EventKind::PauseBroker => "pause-broker",
            EventKind::DelayLink => "delay-link",
            EventKind::LossLink => "loss-link",
            EventKind::PartitionNetwork => "partition-network",
            EventKind::HealNetwork => "heal-network",
            EventKind::SlowDisk => "slow-disk",
            EventKind::InjectError => "inject-error",
            EventKind::AddPartitions => "add-partitions",
            EventKind::ResetOffsets => "reset-offsets",
        }
    }

    /// What the target names for this kind of event.
    pub fn target_kind(self) -> TargetKind {
        match self {
            EventKind::AddConsumer | EventKind::ResetOffsets => TargetKind::Group,
            EventKind::RemoveConsumer
            | EventKind::CrashConsumer
            | EventKind::FreezeConsumer
            | EventKind::RestartConsumer => TargetKind::Member,
            EventKind::StopProducer | EventKind::StartProducer | EventKind::SetRate => {
                TargetKind::Producer
            }
            EventKind::KillBroker
            | EventKind::RestartBroker
            | EventKind::PauseBroker
            | EventKind::SlowDisk
            | EventKind::InjectError => TargetKind::Broker,
            EventKind::AddPartitions => TargetKind::Topic,
            EventKind::DelayLink
            | EventKind::LossLink
            | EventKind::PartitionNetwork
            | EventKind::HealNetwork => TargetKind::Nothing,
        }
    }

    /// Whether the event needs a `for` duration.
    pub fn needs_for(self) -> bool {
        matches!(
            self,
            EventKind::FreezeConsumer | EventKind::RestartConsumer | EventKind::PauseBroker
        )
    }

    /// Whether the event may have a `for` duration.
    pub fn allows_for(self) -> bool {
        self.needs_for() || self.is_network_or_disk() && self != EventKind::HealNetwork
    }

    /// Whether the event is carried out by the embedded cluster's fault control.
    pub fn needs_faults(self) -> bool {
        self.is_network_or_disk()
            || matches!(
                self,
                EventKind::KillBroker
                    | EventKind::RestartBroker
                    | EventKind::PauseBroker
                    | EventKind::InjectError
            )
    }

    /// Link, partition and disk faults (they need the embedded cluster).
    pub fn is_network_or_disk(self) -> bool {
        matches!(
            self,
            EventKind::DelayLink
                | EventKind::LossLink
                | EventKind::PartitionNetwork
                | EventKind::HealNetwork
                | EventKind::SlowDisk
        )
    }
}

/// What an event's `target` refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// A consumer group: `"billing"`.
    Group,
    /// One member of a group: `"billing/1"`.
    Member,
    /// A producer entry (`"p0"`) or one of its instances (`"p0/1"`).
    Producer,
    /// A broker node id: `"0"` or `0`.
    Broker,
    /// A declared topic: `"orders"`.
    Topic,
    /// No target (link and partition events name their nodes in other fields).
    Nothing,
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Old spellings from the design sketch, for suggestions only.
const EVENT_ALIASES: &[(&str, &str)] = &[
    ("crash", "crash-consumer"),
    ("kill", "crash-consumer"),
    ("leave", "remove-consumer"),
    ("join", "add-consumer"),
    ("freeze", "freeze-consumer"),
    ("pause", "freeze-consumer"),
    ("restart", "restart-consumer"),
    ("bounce", "restart-consumer"),
    ("rate", "set-rate"),
];

impl FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(k) = EventKind::ALL.iter().find(|k| k.as_str() == s) {
            return Ok(*k);
        }
        let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        let hint = match EVENT_ALIASES.iter().find(|(a, _)| *a == s) {
            Some((_, k)) => format!("; did you mean '{k}'?"),
            None => suggest::did_you_mean(s, names.iter().copied()),
        };
        Err(format!(
            "unknown event '{s}'{hint} (expected one of: {})",
            names.join(", ")
        ))
    }
}

/// An event's `target` as written: a name and an optional index after a `/`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// Group, producer name, or broker node id.
    pub name: String,
    /// Member of the group / instance of the producer.
    pub index: Option<u32>,
}

impl Target {
    /// Parses `"billing/1"`, `"billing"`, `"p0"`, `"0"`.
    pub fn parse(text: &str) -> Result<Target, String> {
        let s = text.trim();
        if s.is_empty() {
            return Err("empty target; expected e.g. \"billing/1\", \"billing\" or \"p0\"".into());
        }
        if let Some((name, idx)) = s.rsplit_once('/') {
            if name.is_empty() {
                return Err(format!("target \"{text}\" has no name before '/'"));
            }
            if idx.is_empty() {
                return Err(format!(
                    "target \"{text}\" has no index after '/'; expected e.g. \"{name}/0\""
                ));
            }
            if idx.bytes().all(|b| b.is_ascii_digit()) {
                let index = idx
                    .parse::<u32>()
                    .map_err(|_| format!("index {idx} in target \"{text}\" is too large"))?;
                return Ok(Target {
                    name: name.to_string(),
                    index: Some(index),
                });
            }
        }
        Ok(Target {
            name: s.to_string(),
            index: None,
        })
    }

    /// The broker node id, if the target is a non-negative integer.
    pub fn broker_id(&self) -> Option<i32> {
        if self.index.is_some() {
            return None;
        }
        self.name.parse::<i32>().ok().filter(|n| *n >= 0)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(f, "{}/{}", self.name, i),
            None => f.write_str(&self.name),
        }
    }
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Target::parse(s)
    }
}

/// A producer's send rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    /// Records per second (open loop), always finite and above 0.
    PerSecond(f64),
    /// As fast as the producer accepts records (`"max"`).
    Max,
}

impl Rate {
    /// Records per second, or `None` for `max`.
    pub fn per_second(&self) -> Option<f64> {
        match *self {
            Rate::PerSecond(r) => Some(r),
            Rate::Max => None,
        }
    }

    fn from_number(v: f64) -> Result<Rate, String> {
        if v.is_finite() && v > 0.0 {
            Ok(Rate::PerSecond(v))
        } else {
            Err(format!(
                "rate must be above 0 records/s, found {v} (use \"max\" for unlimited, \
                 or stop-producer to pause a producer)"
            ))
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Rate::PerSecond(r) => write!(f, "{r}"),
            Rate::Max => f.write_str("max"),
        }
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of records per second, or \"max\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Rate, E> {
                Rate::from_number(v as f64).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Rate, E> {
                Rate::from_number(v as f64).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Rate, E> {
                Rate::from_number(v).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Rate, E> {
                if v == "max" {
                    return Ok(Rate::Max);
                }
                let hint = match v.trim().parse::<f64>() {
                    Ok(_) => format!(" (write the number without quotes: rate = {})", v.trim()),
                    Err(_) => String::new(),
                };
                Err(E::custom(format!(
                    "rate is a number of records per second or \"max\", found \"{v}\"{hint}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Rate::PerSecond(r) if r.fract() == 0.0 && r <= i64::MAX as f64 => {
                s.serialize_i64(r as i64)
            }
            Rate::PerSecond(r) => s.serialize_f64(r),
            Rate::Max => s.serialize_str("max"),
        }
    }
}

/// How a producer picks record keys.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Keys {
    /// No key: the partitioner spreads records (sticky partitioning).
    #[default]
    None,
    /// Uniformly random over `key_space` keys.
    Uniform,
    /// 0, 1, 2, ... wrapping at `key_space`.
    Sequential,
    /// Zipf-distributed over `key_space` keys with this exponent (`"zipf(1.2)"`): a few
    /// hot keys, hence hot partitions.
    Zipf(f64),
}

impl Keys {
    pub fn parse(text: &str) -> Result<Keys, String> {
        let s = text.trim();
        match s {
            "none" => return Ok(Keys::None),
            "uniform" => return Ok(Keys::Uniform),
            "sequential" => return Ok(Keys::Sequential),
            "zipf" => {
                return Err("zipf needs an exponent, e.g. \"zipf(1.2)\"".into());
            }
            _ => {}
        }
        if let Some(arg) = s
            .strip_prefix("zipf")
            .and_then(|r| r.trim_start().strip_prefix('('))
            .and_then(|r| r.trim_end().strip_suffix(')'))
        {
            return match arg.trim().parse::<f64>() {
                Ok(e) if e.is_finite() && e > 0.0 => Ok(Keys::Zipf(e)),
                _ => Err(format!(
                    "zipf exponent must be a number above 0, found '{}' in \"{text}\"",
                    arg.trim()
                )),
            };
        }
        let names = ["none", "uniform", "sequential", "zipf(1.2)"];
        Err(format!(
            "unknown key distribution \"{text}\"{} (expected one of: {})",
            suggest::did_you_mean(s, names),
            names.join(", ")
        ))
    }
}

impl fmt::Display for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Keys::None => f.write_str("none"),
            Keys::Uniform => f.write_str("uniform"),
            Keys::Sequential => f.write_str("sequential"),
            Keys::Zipf(e) => write!(f, "zipf({e})"),
        }
    }
}

impl FromStr for Keys {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Keys::parse(s)
    }
}

/// What producer payload bytes look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Payload {
    /// Random bytes: incompressible.
    #[default]
    Random,
    /// All zeros: compresses to almost nothing.
    Zeros,
}

impl Payload {
    pub fn as_str(self) -> &'static str {
        match self {
            Payload::Random => "random",
            Payload::Zeros => "zeros",
        }
    }
}

/// Whether a consumer's processing time is spent per record or per polled batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ProcessingPer {
    #[default]
    Record,
    Batch,
}

impl ProcessingPer {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessingPer::Record => "record",
            ProcessingPer::Batch => "batch",
        }
    }
}

// ---- serde plumbing for string-valued enums ----

fn one_of<T: Copy>(what: &str, v: &str, table: &[(&str, T)]) -> Result<T, String> {
    if let Some((_, t)) = table.iter().find(|(n, _)| *n == v) {
        return Ok(*t);
    }
    let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
    Err(format!(
        "unknown {what} \"{v}\"{} (expected one of: {})",
        suggest::did_you_mean(v, names.iter().copied()),
        names.join(", ")
    ))
}

/// Deserialises from a string through `parse`.
struct StrVisitor<T>(&'static str, fn(&str) -> Result<T, String>);

impl<T> Visitor<'_> for StrVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.1)(v).map_err(E::custom)
    }
}

macro_rules! string_enum_serde {
    ($ty:ty, $expecting:expr, $parse:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(StrVisitor($expecting, $parse))
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ProcessingPer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

string_enum_serde!(
    EventKind,
    "an event such as \"crash-consumer\"",
    EventKind::from_str
);
string_enum_serde!(
    Keys,
    "\"none\", \"uniform\", \"sequential\" or \"zipf(1.2)\"",
    Keys::parse
);
string_enum_serde!(Payload, "\"random\" or \"zeros\"", |v| one_of(
    "payload",
    v,
    &[("random", Payload::Random), ("zeros", Payload::Zeros)]
));
string_enum_serde!(ProcessingPer, "\"record\" or \"batch\"", |v| one_of(
    "processing_per",
    v,
    &[
        ("record", ProcessingPer::Record),
        ("batch", ProcessingPer::Batch)
    ]
));

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Target;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a target such as \"billing/1\", \"billing\", \"p0\" or a broker id")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Target, E> {
                Target::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Target, E> {
                if v < 0 {
                    return Err(E::custom(format!("broker id {v} is negative")));
                }
                Ok(Target {
                    name: v.to_string(),
                    index: None,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

// ---- integers with bounds ----

/// An integer from the file; strings and fractions are refused with a clear message.
struct Int(i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::custom(format!("{v} is too large")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Int, E> {
                Err(E::custom(format!("expected a whole number, found {v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int, E> {
                let hint = if v.trim().parse::<i64>().is_ok() {
                    format!(" (write it without quotes: {})", v.trim())
                } else {
                    String::new()
                };
                Err(E::custom(format!(
                    "expected a whole number, found the string \"{v}\"{hint}"
                )))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Int, E> {
                Err(E::custom(format!("expected a whole number, found {v}")))
            }
        }
        d.deserialize_any(V)
    }
}

fn bounded<'de, D: Deserializer<'de>>(
    d: D,
    what: &str,
    lo: i64,
    hi: i64,
) -> Result<Located<i64>, D::Error> {
    let v = Located::<Int>::deserialize(d)?.map(|i| i.0);
    if v.value < lo || v.value > hi {
        let range = if hi < i64::from(i32::MAX) {
            format!("between {lo} and {hi}")
        } else if v.value < lo {
            format!("at least {lo}")
        } else {
            format!("at most {hi}")
        };
        return Err(de::Error::custom(format!(
            "{what} must be {range}, found {}",
            v.value
        )));
    }
    Ok(v)
}

const U32_MAX: i64 = u32::MAX as i64;

// The bounds make the narrowing `as` conversions below lossless.
fn de_count<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(bounded(d, "count", 1, U32_MAX)?.value as u32)
}

fn de_opt_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Located<u32>>, D::Error> {
    Ok(Some(bounded(d, "count", 1, U32_MAX)?.map(|v| v as u32)))
}

fn de_brokers<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(bounded(d, "brokers", 1, 1024)?.value as u32)
}

fn de_partitions<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(bounded(d, "partitions", 1, i64::from(i32::MAX))?.value as u32)
}

fn de_replication_factor<'de, D: Deserializer<'de>>(d: D) -> Result<Located<u16>, D::Error> {
    Ok(bounded(d, "replication_factor", 1, i64::from(i16::MAX))?.map(|v| v as u16))
}

/// Largest `record_size`: 1 MiB.
pub const MAX_RECORD_SIZE: u32 = 1 << 20;

fn de_record_size<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(bounded(d, "record_size (bytes)", 1, i64::from(MAX_RECORD_SIZE))?.value as u32)
}

fn de_key_space<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(bounded(d, "key_space", 1, i64::MAX)?.value as u64)
}

fn de_tombstones<'de, D: Deserializer<'de>>(d: D) -> Result<Located<f64>, D::Error> {
    let v = Located::<f64>::deserialize(d)?;
    if !(0.0..=1.0).contains(&v.value) {
        return Err(de::Error::custom(format!(
            "tombstones is a share of the records, between 0 and 1, found {}",
            v.value
        )));
    }
    Ok(v)
}

fn is_zero_located(v: &Located<f64>) -> bool {
    v.value == 0.0
}

fn de_seed<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Some(bounded(d, "seed", 0, i64::MAX)?.value as u64))
}

fn one_u32() -> u32 {
    1
}

fn one_located_u16() -> Located<u16> {
    Located::new(1)
}

fn default_record_size() -> u32 {
    100
}

fn default_key_space() -> u64 {
    10_000
}

// ---- Kafka properties ----

/// A property value, or a nested table from an unquoted dotted key.
enum PropValue {
    Scalar(String),
    Table(Vec<(String, PropValue)>),
}

/// toml's private marker for date-times, which arrive as a one-entry map.
pub(super) const TOML_DATETIME_KEY: &str = "$__toml_private_datetime";

impl<'de> Deserialize<'de> for PropValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PropValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PropValue, E> {
                Ok(PropValue::Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PropValue, E> {
                Ok(PropValue::Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PropValue, E> {
                Ok(PropValue::Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<PropValue, E> {
                if v.is_finite() {
                    Ok(PropValue::Scalar(v.to_string()))
                } else {
                    Err(E::custom(format!("{v} is not a usable property value")))
                }
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<PropValue, E> {
                Ok(PropValue::Scalar(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PropValue, A::Error> {
                let mut parts = Vec::new();
                while let Some(v) = seq.next_element::<PropValue>()? {
                    match v {
                        PropValue::Scalar(s) => parts.push(s),
                        PropValue::Table(_) => {
                            return Err(de::Error::custom(
                                "a list property holds strings, numbers or booleans",
                            ))
                        }
                    }
                }
                Ok(PropValue::Scalar(parts.join(",")))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PropValue, A::Error> {
                let mut entries = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    if k == TOML_DATETIME_KEY {
                        return Err(de::Error::custom(
                            "a date is not a property value; quote it as a string",
                        ));
                    }
                    let v = map.next_value::<PropValue>()?;
                    entries.push((k, v));
                }
                Ok(PropValue::Table(entries))
            }
        }
        d.deserialize_any(V)
    }
}

fn flatten_into(prefix: &str, v: PropValue, out: &mut Properties) -> Result<(), String> {
    match v {
        PropValue::Scalar(s) => {
            if out.insert(prefix.to_string(), s).is_some() {
                return Err(format!("property '{prefix}' is given twice"));
            }
            Ok(())
        }
        PropValue::Table(entries) => {
            for (k, v) in entries {
                flatten_into(&format!("{prefix}.{k}"), v, out)?;
            }
            Ok(())
        }
    }
}

fn de_properties<'de, D: Deserializer<'de>>(d: D) -> Result<Properties, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Properties;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a table of Kafka properties, e.g. { \"linger.ms\" = 5 }")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Properties, A::Error> {
            let mut out = Properties::new();
            while let Some(k) = map.next_key::<String>()? {
                if k.is_empty() {
                    return Err(de::Error::custom("empty property name"));
                }
                let v = map.next_value::<PropValue>()?;
                flatten_into(&k, v, &mut out).map_err(de::Error::custom)?;
            }
            Ok(out)
        }
    }
    d.deserialize_map(V)
}
