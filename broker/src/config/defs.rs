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

/// Broker settings (server.properties).
pub const BROKER: &[Def] = &[
    d(
        "node.id",
        Kind::Int { min: 0, max: I32 },
        "0",
        "This broker's id (alias: broker.id).",
    ),
    d(
        "broker.id",
        Kind::Int { min: -1, max: I32 },
        "-1",
        "Legacy alias of node.id.",
    ),
    d(
        "listeners",
        Kind::Str,
        "PLAINTEXT://127.0.0.1:9092",
        "Where the Kafka protocol is served; port 0 picks a free port.",
    ),
    d(
        "advertised.listeners",
        Kind::Str,
        "",
        "Address given to clients in Metadata; defaults to the bound listener.",
    ),
    d(
        "kafkalab.worker.threads",
        Kind::Int { min: 1, max: 256 },
        "1",
        "Threads serving connections. One leaves the other core of a small lab machine to the clients; raise it for many busy connections.",
    ),
    d(
        "kafkalab.metrics.listener",
        Kind::Str,
        "127.0.0.1:9464",
        "host:port of the Prometheus /metrics endpoint; empty disables it.",
    ),
    d(
        "log.dirs",
        Kind::Str,
        "/tmp/kafkalab-logs",
        "Directory holding the partition logs (first entry is used).",
    ),
    d(
        "log.dir",
        Kind::Str,
        "/tmp/kafkalab-logs",
        "Used when log.dirs is not set.",
    ),
    d(
        "num.partitions",
        Kind::Int { min: 1, max: I32 },
        "1",
        "Partitions of auto-created topics and of CreateTopics with -1.",
    ),
    d(
        "default.replication.factor",
        Kind::Int { min: 1, max: 32767 },
        "1",
        "Replication factor of auto-created topics.",
    ),
    d(
        "auto.create.topics.enable",
        Kind::Bool,
        "true",
        "Create a topic on first Metadata request naming it.",
    ),
    d(
        "delete.topic.enable",
        Kind::Bool,
        "true",
        "Whether DeleteTopics is allowed.",
    ),
    d(
        "message.max.bytes",
        Kind::Int { min: 0, max: I32 },
        "1048588",
        "Largest record batch accepted (topic: max.message.bytes).",
    ),
    d(
        "compression.type",
        Kind::Enum(COMPRESSION_TYPES),
        "producer",
        "Codec the broker stores batches in; producer keeps the producer's.",
    ),
    d(
        "socket.request.max.bytes",
        Kind::Int { min: 1, max: I32 },
        "104857600",
        "Largest request frame; larger frames close the connection before allocating.",
    ),
    d(
        "log.retention.hours",
        Kind::Int { min: -1, max: I32 },
        "168",
        "Retention time in hours (overridden by .minutes and .ms).",
    ),
    d(
        "log.retention.minutes",
        Kind::Int { min: -1, max: I32 },
        "",
        "Retention time in minutes.",
    ),
    d(
        "log.retention.ms",
        Kind::Long { min: -1 },
        "",
        "Retention time in ms; -1 keeps forever.",
    ),
    d(
        "log.retention.bytes",
        Kind::Long { min: -1 },
        "-1",
        "Per-partition size limit; -1 is unlimited.",
    ),
    d(
        "log.retention.check.interval.ms",
        Kind::Long { min: 1 },
        "300000",
        "How often retention and compaction run.",
    ),
    d(
        "log.segment.bytes",
        Kind::Int { min: 14, max: I32 },
        "1073741824",
        "Segment size before rolling.",
    ),
    d(
        "log.roll.hours",
        Kind::Int { min: 1, max: I32 },
        "168",
        "Segment age before rolling.",
    ),
    d(
        "log.roll.ms",
        Kind::Long { min: 1 },
        "",
        "Segment age before rolling, in ms.",
    ),
    d(
        "log.cleanup.policy",
        Kind::List(&["delete", "compact"]),
        "delete",
        "delete, compact or both.",
    ),
    d(
        "log.cleaner.delete.retention.ms",
        Kind::Long { min: 0 },
        "86400000",
        "How long tombstones survive compaction.",
    ),
    d(
        "log.index.interval.bytes",
        Kind::Int { min: 0, max: I32 },
        "4096",
        "Bytes between offset-index entries.",
    ),
    d(
        "log.index.size.max.bytes",
        Kind::Int { min: 4, max: I32 },
        "10485760",
        "Maximum offset-index file size.",
    ),
    d(
        "log.flush.interval.messages",
        Kind::Long { min: 1 },
        "9223372036854775807",
        "fsync after this many records (default: leave it to the OS).",
    ),
    d(
        "log.message.timestamp.type",
        Kind::Enum(&["CreateTime", "LogAppendTime"]),
        "CreateTime",
        "Timestamp stored with records.",
    ),
    d(
        "min.insync.replicas",
        Kind::Int { min: 1, max: I32 },
        "1",
        "Replicas that must acknowledge an acks=all write.",
    ),
    d(
        "unclean.leader.election.enable",
        Kind::Bool,
        "false",
        "Allow an out-of-sync replica to become leader.",
    ),
    d(
        "auto.leader.rebalance.enable",
        Kind::Bool,
        "true",
        "Move leadership back to each partition's preferred (first) replica when it is in sync.",
    ),
    d(
        "leader.imbalance.check.interval.seconds",
        Kind::Long { min: 1 },
        "300",
        "How often the controller checks for leadership imbalance.",
    ),
    d(
        "leader.imbalance.per.broker.percentage",
        Kind::Int { min: 0, max: 100 },
        "10",
        "Share of a broker's preferred partitions it may not lead before a rebalance.",
    ),
    d(
        "broker.heartbeat.interval.ms",
        Kind::Int { min: 1, max: I32 },
        "2000",
        "How often a broker of separate processes heartbeats the active controller.",
    ),
    d(
        "controller.quorum.voters",
        Kind::Str,
        "",
        "The controller quorum of a cluster of separate processes, id@host:port,... (each process a broker and a voter); empty: a single broker.",
    ),
    d(
        "process.roles",
        Kind::Str,
        "",
        "broker,controller (the combined mode kafkalab runs) or empty.",
    ),
    d(
        "controller.listener.names",
        Kind::Str,
        "CONTROLLER",
        "Name of the controller listener; its address is this node's entry in controller.quorum.voters.",
    ),
    d(
        "controller.quorum.election.timeout.ms",
        Kind::Int { min: 10, max: I32 },
        "1000",
        "A voter that hears from no active controller for this long (plus a per-voter spread) stands for election; a controller not hearing from a majority for this long steps down.",
    ),
    d(
        "controller.quorum.request.timeout.ms",
        Kind::Int { min: 1, max: I32 },
        "2000",
        "How long a broker tries to get a metadata change to the active controller before answering NOT_CONTROLLER.",
    ),
    d(
        "broker.session.timeout.ms",
        Kind::Int { min: 1, max: I32 },
        "9000",
        "A broker that does not heartbeat the controller for this long is fenced (its partitions get new leaders).",
    ),
    d(
        "replica.lag.time.max.ms",
        Kind::Long { min: 1 },
        "30000",
        "A follower not caught up with its leader for this long leaves the ISR.",
    ),
    d(
        "replica.fetch.wait.max.ms",
        Kind::Int { min: 0, max: I32 },
        "500",
        "Longest time a follower's fetch waits at the leader for new records.",
    ),
    d(
        "replica.fetch.max.bytes",
        Kind::Int { min: 0, max: I32 },
        "1048576",
        "Bytes a follower asks for per partition and fetch.",
    ),
    d(
        "offsets.retention.minutes",
        Kind::Int { min: 1, max: I32 },
        "10080",
        "How long committed offsets of an empty group are kept.",
    ),
    d(
        "group.initial.rebalance.delay.ms",
        Kind::Int { min: 0, max: I32 },
        "3000",
        "Wait for more members before the first rebalance of an empty group.",
    ),
    d(
        "group.min.session.timeout.ms",
        Kind::Int { min: 0, max: I32 },
        "6000",
        "Smallest session.timeout.ms a member may ask for.",
    ),
    d(
        "group.max.session.timeout.ms",
        Kind::Int { min: 0, max: I32 },
        "1800000",
        "Largest session.timeout.ms a member may ask for.",
    ),
    d(
        "group.max.size",
        Kind::Int { min: 1, max: I32 },
        "2147483647",
        "Most members in one group.",
    ),
    d(
        "group.consumer.session.timeout.ms",
        Kind::Int { min: 1, max: I32 },
        "45000",
        "Session timeout of consumer-protocol (KIP-848) members, set by the broker.",
    ),
    d(
        "group.consumer.heartbeat.interval.ms",
        Kind::Int { min: 1, max: I32 },
        "5000",
        "Heartbeat interval the broker gives consumer-protocol members.",
    ),
    d(
        "group.consumer.max.size",
        Kind::Int { min: 1, max: I32 },
        "2147483647",
        "Most members in one consumer-protocol group.",
    ),
];

/// Topic settings, each with the broker key that supplies its default.
pub struct TopicDef {
    pub def: Def,
    pub broker_key: &'static str,
}

const fn t(
    name: &'static str,
    broker_key: &'static str,
    kind: Kind,
    doc: &'static str,
) -> TopicDef {
    TopicDef {
        def: d(name, kind, "", doc),
        broker_key,
    }
}

pub const TOPIC: &[TopicDef] = &[
    t(
        "cleanup.policy",
        "log.cleanup.policy",
        Kind::List(&["delete", "compact"]),
        "delete, compact or both.",
    ),
    t(
        "compression.type",
        "compression.type",
        Kind::Enum(COMPRESSION_TYPES),
        "Codec batches are stored in.",
    ),
    t(
        "delete.retention.ms",
        "log.cleaner.delete.retention.ms",
        Kind::Long { min: 0 },
        "How long tombstones survive compaction.",
    ),
    t(
        "flush.messages",
        "log.flush.interval.messages",
        Kind::Long { min: 1 },
        "fsync after this many records.",
    ),
    t(
        "index.interval.bytes",
        "log.index.interval.bytes",
        Kind::Int { min: 0, max: I32 },
        "Bytes between offset-index entries.",
    ),
    t(
        "max.message.bytes",
        "message.max.bytes",
        Kind::Int { min: 0, max: I32 },
        "Largest record batch accepted.",
    ),
    t(
        "message.timestamp.type",
        "log.message.timestamp.type",
        Kind::Enum(&["CreateTime", "LogAppendTime"]),
        "Timestamp stored with records.",
    ),
    t(
        "min.insync.replicas",
        "min.insync.replicas",
        Kind::Int { min: 1, max: I32 },
        "Replicas that must acknowledge an acks=all write.",
    ),
    t(
        "retention.bytes",
        "log.retention.bytes",
        Kind::Long { min: -1 },
        "Per-partition size limit; -1 is unlimited.",
    ),
    t(
        "retention.ms",
        "log.retention.ms",
        Kind::Long { min: -1 },
        "Retention time; -1 keeps forever.",
    ),
    t(
        "segment.bytes",
        "log.segment.bytes",
        Kind::Int { min: 14, max: I32 },
        "Segment size before rolling.",
    ),
    t(
        "segment.index.bytes",
        "log.index.size.max.bytes",
        Kind::Int { min: 4, max: I32 },
        "Maximum offset-index file size.",
    ),
    t(
        "segment.ms",
        "log.roll.ms",
        Kind::Long { min: 1 },
        "Segment age before rolling.",
    ),
    t(
        "unclean.leader.election.enable",
        "unclean.leader.election.enable",
        Kind::Bool,
        "Allow an out-of-sync replica to become leader.",
    ),
];

pub fn broker_def(name: &str) -> Option<&'static Def> {
    BROKER.iter().find(|d| d.name == name)
}

pub fn topic_def(name: &str) -> Option<&'static TopicDef> {
    TOPIC.iter().find(|d| d.def.name == name)
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
