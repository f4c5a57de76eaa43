//! The configuration keys kafkalab understands, with Kafka's names, types and defaults.
//! One table serves start-up validation, DescribeConfigs and the docs.

/// Type and range of a config value.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Int {
        min: i64,
        max: i64,
    },
    Long {
        min: i64,
    },
    Bool,
    Str,
    Enum(&'static [&'static str]),
    /// Comma-separated list whose items come from the set.
    List(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy)]
pub struct Def {
    pub name: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub doc: &'static str,
}

const I32: i64 = i32::MAX as i64;
pub const COMPRESSION_TYPES: &[&str] =
    &["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"];

const fn d(name: &'static str, kind: Kind, default: &'static str, doc: &'static str) -> Def {
    Def {
        name,
        kind,
        default,
        doc,
    }
}

/// Declares a set of keys once: an enum of them (`$key`) and the table of their
/// definitions (`$table`), in the same order (a variant's discriminant is its row).
macro_rules! config_keys {
    ($(#[$enum_doc:meta])* enum $key:ident;
     $(#[$table_doc:meta])* table $table:ident: $row:ty;
     $($variant:ident = $def:expr,)*) => {
        $(#[$enum_doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $key {
            $($variant,)*
        }

        impl $key {
            /// Every key, in table order.
            pub const ALL: &'static [$key] = &[$($key::$variant,)*];
        }

        $(#[$table_doc])*
        pub const $table: &[$row] = &[$($def,)*];
    };
}

config_keys! {
    /// A broker setting (server.properties), checked at compile time: a misspelt key
    /// does not compile. Its on-disk name is [`BrokerKey::name`].
    enum BrokerKey;
    /// Every broker setting's definition (name, kind, Kafka's default, doc), in
    /// [`BrokerKey`] order.
    table BROKER: Def;
    NodeId = d(
        "node.id",
        Kind::Int { min: 0, max: I32 },
        "0",
        "This broker's id (alias: broker.id).",
    ),
    BrokerId = d(
        "broker.id",
        Kind::Int { min: -1, max: I32 },
        "-1",
        "Legacy alias of node.id.",
    ),
    Listeners = d(
        "listeners",
        Kind::Str,
        "PLAINTEXT://127.0.0.1:9092",
        "Where the Kafka protocol is served; port 0 picks a free port.",
    ),
    AdvertisedListeners = d(
        "advertised.listeners",
        Kind::Str,
        "",
        "Address given to clients in Metadata; defaults to the bound listener.",
    ),
    KafkalabWorkerThreads = d(
        "kafkalab.worker.threads",
        Kind::Int { min: 1, max: 256 },
        "1",
        "Threads serving connections. One leaves the other core of a small lab machine to the clients; raise it for many busy connections.",
    ),
    KafkalabMetricsListener = d(
        "kafkalab.metrics.listener",
        Kind::Str,
        "127.0.0.1:9464",
        "host:port of the Prometheus /metrics endpoint; empty disables it.",
    ),
    LogDirs = d(
        "log.dirs",
        Kind::Str,
        "/tmp/kafkalab-logs",
        "Directory holding the partition logs (first entry is used).",
    ),
    LogDir = d(
        "log.dir",
        Kind::Str,
        "/tmp/kafkalab-logs",
        "Used when log.dirs is not set.",
    ),
    NumPartitions = d(
        "num.partitions",
        Kind::Int { min: 1, max: I32 },
        "1",
        "Partitions of auto-created topics and of CreateTopics with -1.",
    ),
    DefaultReplicationFactor = d(
        "default.replication.factor",
        Kind::Int { min: 1, max: 32767 },
        "1",
        "Replication factor of auto-created topics.",
    ),
    AutoCreateTopicsEnable = d(
        "auto.create.topics.enable",
        Kind::Bool,
        "true",
        "Create a topic on first Metadata request naming it.",
    ),
    DeleteTopicEnable = d(
        "delete.topic.enable",
        Kind::Bool,
        "true",
        "Whether DeleteTopics is allowed.",
    ),
    MessageMaxBytes = d(
        "message.max.bytes",
        Kind::Int { min: 0, max: I32 },
        "1048588",
        "Largest record batch accepted (topic: max.message.bytes).",
    ),
    CompressionType = d(
        "compression.type",
        Kind::Enum(COMPRESSION_TYPES),
        "producer",
        "Codec the broker stores batches in; producer keeps the producer's.",
    ),
    SocketRequestMaxBytes = d(
        "socket.request.max.bytes",
        Kind::Int { min: 1, max: I32 },
        "104857600",
        "Largest request frame; larger frames close the connection before allocating.",
    ),
    LogRetentionHours = d(
        "log.retention.hours",
        Kind::Int { min: -1, max: I32 },
        "168",
        "Retention time in hours (overridden by .minutes and .ms).",
    ),
    LogRetentionMinutes = d(
        "log.retention.minutes",
        Kind::Int { min: -1, max: I32 },
        "",
        "Retention time in minutes.",
    ),
    LogRetentionMs = d(
        "log.retention.ms",
        Kind::Long { min: -1 },
        "",
        "Retention time in ms; -1 keeps forever.",
    ),
    LogRetentionBytes = d(
        "log.retention.bytes",
        Kind::Long { min: -1 },
        "-1",
        "Per-partition size limit; -1 is unlimited.",
    ),
    LogRetentionCheckIntervalMs = d(
        "log.retention.check.interval.ms",
        Kind::Long { min: 1 },
        "300000",
        "How often retention and compaction run.",
    ),
    LogSegmentBytes = d(
        "log.segment.bytes",
        Kind::Int { min: 14, max: I32 },
        "1073741824",
        "Segment size before rolling.",
    ),
    LogRollHours = d(
        "log.roll.hours",
        Kind::Int { min: 1, max: I32 },
        "168",
        "Segment age before rolling.",
    ),
    LogRollMs = d(
        "log.roll.ms",
        Kind::Long { min: 1 },
        "",
        "Segment age before rolling, in ms.",
    ),
    LogCleanupPolicy = d(
        "log.cleanup.policy",
        Kind::List(&["delete", "compact"]),
        "delete",
        "delete, compact or both.",
    ),
    LogCleanerDeleteRetentionMs = d(
        "log.cleaner.delete.retention.ms",
        Kind::Long { min: 0 },
        "86400000",
        "How long tombstones survive compaction.",
    ),
    LogIndexIntervalBytes = d(
        "log.index.interval.bytes",
        Kind::Int { min: 0, max: I32 },
        "4096",
        "Bytes between offset-index entries.",
    ),
    LogIndexSizeMaxBytes = d(
        "log.index.size.max.bytes",
        Kind::Int { min: 4, max: I32 },
        "10485760",
        "Maximum offset-index file size.",
    ),
    LogFlushIntervalMessages = d(
        "log.flush.interval.messages",
        Kind::Long { min: 1 },
        "9223372036854775807",
        "fsync after this many records (default: leave it to the OS).",
    ),
    LogMessageTimestampType = d(
        "log.message.timestamp.type",
        Kind::Enum(&["CreateTime", "LogAppendTime"]),
        "CreateTime",
        "Timestamp stored with records.",
    ),
    MinInsyncReplicas = d(
        "min.insync.replicas",
        Kind::Int { min: 1, max: I32 },
        "1",
        "Replicas that must acknowledge an acks=all write.",
    ),
    UncleanLeaderElectionEnable = d(
        "unclean.leader.election.enable",
        Kind::Bool,
        "false",
        "Allow an out-of-sync replica to become leader.",
    ),
    AutoLeaderRebalanceEnable = d(
        "auto.leader.rebalance.enable",
        Kind::Bool,
        "true",
        "Move leadership back to each partition's preferred (first) replica when it is in sync.",
    ),
    LeaderImbalanceCheckIntervalSeconds = d(
        "leader.imbalance.check.interval.seconds",
        Kind::Long { min: 1 },
        "300",
        "How often the controller checks for leadership imbalance.",
    ),
    LeaderImbalancePerBrokerPercentage = d(
        "leader.imbalance.per.broker.percentage",
        Kind::Int { min: 0, max: 100 },
        "10",
        "Share of a broker's preferred partitions it may not lead before a rebalance.",
    ),
    BrokerHeartbeatIntervalMs = d(
        "broker.heartbeat.interval.ms",
        Kind::Int { min: 1, max: I32 },
        "2000",
        "How often a broker of separate processes heartbeats the active controller.",
    ),
    ControllerQuorumVoters = d(
        "controller.quorum.voters",
        Kind::Str,
        "",
        "The controller quorum of a cluster of separate processes, id@host:port,... (each process a broker and a voter); empty: a single broker.",
    ),
    ProcessRoles = d(
        "process.roles",
        Kind::Str,
        "",
        "broker,controller (the combined mode kafkalab runs) or empty.",
    ),
    ControllerListenerNames = d(
        "controller.listener.names",
        Kind::Str,
        "CONTROLLER",
        "Name of the controller listener; its address is this node's entry in controller.quorum.voters.",
    ),
    ControllerQuorumElectionTimeoutMs = d(
        "controller.quorum.election.timeout.ms",
        Kind::Int { min: 10, max: I32 },
        "1000",
        "A voter that hears from no active controller for this long (plus a per-voter spread) stands for election; a controller not hearing from a majority for this long steps down.",
    ),
    ControllerQuorumRequestTimeoutMs = d(
        "controller.quorum.request.timeout.ms",
        Kind::Int { min: 1, max: I32 },
        "2000",
        "How long a broker tries to get a metadata change to the active controller before answering NOT_CONTROLLER.",
    ),
    BrokerSessionTimeoutMs = d(
        "broker.session.timeout.ms",
        Kind::Int { min: 1, max: I32 },
        "9000",
        "A broker that does not heartbeat the controller for this long is fenced (its partitions get new leaders).",
    ),
    ReplicaLagTimeMaxMs = d(
        "replica.lag.time.max.ms",
        Kind::Long { min: 1 },
        "30000",
        "A follower not caught up with its leader for this long leaves the ISR.",
    ),
    ReplicaFetchWaitMaxMs = d(
        "replica.fetch.wait.max.ms",
        Kind::Int { min: 0, max: I32 },
        "500",
        "Longest time a follower's fetch waits at the leader for new records.",
    ),
    ReplicaFetchMaxBytes = d(
        "replica.fetch.max.bytes",
        Kind::Int { min: 0, max: I32 },
        "1048576",
        "Bytes a follower asks for per partition and fetch.",
    ),
    OffsetsRetentionMinutes = d(
        "offsets.retention.minutes",
        Kind::Int { min: 1, max: I32 },
        "10080",
        "How long committed offsets of an empty group are kept.",
    ),
    GroupInitialRebalanceDelayMs = d(
        "group.initial.rebalance.delay.ms",
        Kind::Int { min: 0, max: I32 },
        "3000",
        "Wait for more members before the first rebalance of an empty group.",
    ),
    GroupMinSessionTimeoutMs = d(
        "group.min.session.timeout.ms",
        Kind::Int { min: 0, max: I32 },
        "6000",
        "Smallest session.timeout.ms a member may ask for.",
    ),
    GroupMaxSessionTimeoutMs = d(
        "group.max.session.timeout.ms",
        Kind::Int { min: 0, max: I32 },
        "1800000",
        "Largest session.timeout.ms a member may ask for.",
    ),
    GroupMaxSize = d(
        "group.max.size",
        Kind::Int { min: 1, max: I32 },
        "2147483647",
        "Most members in one group.",
    ),
    GroupConsumerSessionTimeoutMs = d(
        "group.consumer.session.timeout.ms",
        Kind::Int { min: 1, max: I32 },
        "45000",
        "Session timeout of consumer-protocol (KIP-848) members, set by the broker.",
    ),
    GroupConsumerHeartbeatIntervalMs = d(
        "group.consumer.heartbeat.interval.ms",
        Kind::Int { min: 1, max: I32 },
        "5000",
        "Heartbeat interval the broker gives consumer-protocol members.",
    ),
    GroupConsumerMaxSize = d(
        "group.consumer.max.size",
        Kind::Int { min: 1, max: I32 },
        "2147483647",
        "Most members in one consumer-protocol group.",
    ),
}

/// Topic settings, each with the broker key that supplies its default.
pub struct TopicDef {
    pub def: Def,
    pub broker_key: BrokerKey,
}

const fn t(name: &'static str, broker_key: BrokerKey, kind: Kind, doc: &'static str) -> TopicDef {
    TopicDef {
        def: d(name, kind, "", doc),
        broker_key,
    }
}

config_keys! {
    /// A topic setting, checked at compile time; its name is [`TopicKey::name`].
    enum TopicKey;
    /// Every topic setting's definition, in [`TopicKey`] order.
    table TOPIC: TopicDef;
    CleanupPolicy = t(
        "cleanup.policy",
        BrokerKey::LogCleanupPolicy,
        Kind::List(&["delete", "compact"]),
        "delete, compact or both.",
    ),
    CompressionType = t(
        "compression.type",
        BrokerKey::CompressionType,
        Kind::Enum(COMPRESSION_TYPES),
        "Codec batches are stored in.",
    ),
    DeleteRetentionMs = t(
        "delete.retention.ms",
        BrokerKey::LogCleanerDeleteRetentionMs,
        Kind::Long { min: 0 },
        "How long tombstones survive compaction.",
    ),
    FlushMessages = t(
        "flush.messages",
        BrokerKey::LogFlushIntervalMessages,
        Kind::Long { min: 1 },
        "fsync after this many records.",
    ),
    IndexIntervalBytes = t(
        "index.interval.bytes",
        BrokerKey::LogIndexIntervalBytes,
        Kind::Int { min: 0, max: I32 },
        "Bytes between offset-index entries.",
    ),
    MaxMessageBytes = t(
        "max.message.bytes",
        BrokerKey::MessageMaxBytes,
        Kind::Int { min: 0, max: I32 },
        "Largest record batch accepted.",
    ),
    MessageTimestampType = t(
        "message.timestamp.type",
        BrokerKey::LogMessageTimestampType,
        Kind::Enum(&["CreateTime", "LogAppendTime"]),
        "Timestamp stored with records.",
    ),
    MinInsyncReplicas = t(
        "min.insync.replicas",
        BrokerKey::MinInsyncReplicas,
        Kind::Int { min: 1, max: I32 },
        "Replicas that must acknowledge an acks=all write.",
    ),
    RetentionBytes = t(
        "retention.bytes",
        BrokerKey::LogRetentionBytes,
        Kind::Long { min: -1 },
        "Per-partition size limit; -1 is unlimited.",
    ),
    RetentionMs = t(
        "retention.ms",
        BrokerKey::LogRetentionMs,
        Kind::Long { min: -1 },
        "Retention time; -1 keeps forever.",
    ),
    SegmentBytes = t(
        "segment.bytes",
        BrokerKey::LogSegmentBytes,
        Kind::Int { min: 14, max: I32 },
        "Segment size before rolling.",
    ),
    SegmentIndexBytes = t(
        "segment.index.bytes",
        BrokerKey::LogIndexSizeMaxBytes,
        Kind::Int { min: 4, max: I32 },
        "Maximum offset-index file size.",
    ),
    SegmentMs = t(
        "segment.ms",
        BrokerKey::LogRollMs,
        Kind::Long { min: 1 },
        "Segment age before rolling.",
    ),
    UncleanLeaderElectionEnable = t(
        "unclean.leader.election.enable",
        BrokerKey::UncleanLeaderElectionEnable,
        Kind::Bool,
        "Allow an out-of-sync replica to become leader.",
    ),
}

impl BrokerKey {
    /// The key's definition (its row of [`BROKER`]).
    pub fn def(self) -> &'static Def {
        &BROKER[self as usize]
    }

    /// The key as written in server.properties and DescribeConfigs.
    pub fn name(self) -> &'static str {
        self.def().name
    }
}

impl TopicKey {
    /// The key's definition (its row of [`TOPIC`]).
    pub fn def(self) -> &'static TopicDef {
        &TOPIC[self as usize]
    }

    /// The key as written in CreateTopics, DescribeConfigs and `kafka-configs.sh`.
    pub fn name(self) -> &'static str {
        self.def().def.name
    }

    /// The key named `name`, if it is a topic setting.
    pub fn from_name(name: &str) -> Option<TopicKey> {
        TopicKey::ALL.iter().copied().find(|k| k.name() == name)
    }
}

pub fn broker_def(name: &str) -> Option<&'static Def> {
    BROKER.iter().find(|d| d.name == name)
}

pub fn topic_def(name: &str) -> Option<&'static TopicDef> {
    TopicKey::from_name(name).map(TopicKey::def)
}

/// Checks a value against its kind; the error says what was expected.
pub fn validate(kind: Kind, value: &str) -> Result<(), String> {
    let v = value.trim();
    match kind {
        Kind::Int { min, max } => match v.parse::<i64>() {
            Ok(n) if n >= min && n <= max => Ok(()),
            Ok(_) => Err(format!("expected an integer in [{min}, {max}], got '{v}'")),
            Err(_) => Err(format!("expected an integer, got '{v}'")),
        },
        Kind::Long { min } => match v.parse::<i64>() {
            Ok(n) if n >= min => Ok(()),
            Ok(_) => Err(format!("expected an integer >= {min}, got '{v}'")),
            Err(_) => Err(format!("expected an integer, got '{v}'")),
        },
        Kind::Bool => match v.to_ascii_lowercase().as_str() {
            "true" | "false" => Ok(()),
            _ => Err(format!("expected true or false, got '{v}'")),
        },
        Kind::Str => Ok(()),
        Kind::Enum(allowed) => {
            if allowed.contains(&v) {
                Ok(())
            } else {
                Err(format!("expected one of {}, got '{v}'", allowed.join(", ")))
            }
        }
        Kind::List(allowed) => {
            for item in v.split(',').map(str::trim) {
                if !allowed.contains(&item) {
                    return Err(format!(
                        "expected a comma-separated list of {}, got '{v}'",
                        allowed.join(", ")
                    ));
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each variant names its own row: `LogRollMs` is `log.roll.ms`.
    #[test]
    fn key_variants_match_their_names() {
        let camel = |name: &str| -> String {
            name.split('.')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                })
                .collect()
        };
        assert_eq!(BrokerKey::ALL.len(), BROKER.len());
        for &key in BrokerKey::ALL {
            assert_eq!(format!("{key:?}"), camel(key.name()));
        }
        assert_eq!(TopicKey::ALL.len(), TOPIC.len());
        for &key in TopicKey::ALL {
            assert_eq!(format!("{key:?}"), camel(key.name()));
        }
        for (i, d) in BROKER.iter().enumerate() {
            assert_eq!(
                BROKER.iter().position(|o| o.name == d.name),
                Some(i),
                "{} defined twice",
                d.name
            );
        }
    }
}
