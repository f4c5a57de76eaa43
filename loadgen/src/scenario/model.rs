//! The scenario file's structure: serde types for the TOML, unknown keys rejected
//! everywhere. Values that only make sense together (an event's target, a producer's
//! topic, ...) are checked by [`parse`](super::parse()), which also fills in the derived
//! defaults; a `Scenario` obtained from it is valid.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::control::Control;
pub use super::delivery::{CommitMode, ResetTo};
use super::duration::{self, ProcessingModel};
use super::expect::{self, Expectation};
use super::lesson::Module;
pub use super::located::Located;
use super::suggest;
use super::sweep::Sweep;

mod properties;
mod serde_impls;

use self::properties::de_properties;
pub(super) use self::properties::TOML_DATETIME_KEY;
pub use self::serde_impls::MAX_RECORD_SIZE;
use self::serde_impls::*;

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
