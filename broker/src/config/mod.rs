//! Broker and topic configuration with Kafka's key names and defaults.

pub mod defs;
pub mod properties;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::storage::{CleanupPolicy, LogConfig};
use defs::Kind;
pub use defs::{BrokerKey, TopicKey};
use properties::{Origin, PropertiesError, Property};

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: {key}: {message}")]
    Invalid {
        origin: Origin,
        key: String,
        message: String,
    },
    #[error("--override '{0}': expected key=value")]
    BadOverride(String),
    #[error(transparent)]
    Syntax(#[from] PropertiesError),
}

/// Codec the broker stores batches in (`compression.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressionType {
    Producer,
    Uncompressed,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl CompressionType {
    fn parse(s: &str) -> CompressionType {
        match s {
            "uncompressed" => CompressionType::Uncompressed,
            "gzip" => CompressionType::Gzip,
            "snappy" => CompressionType::Snappy,
            "lz4" => CompressionType::Lz4,
            "zstd" => CompressionType::Zstd,
            _ => CompressionType::Producer,
        }
    }
}

/// Validated broker configuration: the explicitly set values plus typed fields.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    values: BTreeMap<String, String>,
    pub node_id: i32,
    pub listener: SocketAddr,
    /// host:port given to clients; `None` = the bound listener address.
    pub advertised: Option<(String, u16)>,
    pub metrics_listener: Option<SocketAddr>,
    pub log_dir: PathBuf,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics: bool,
    pub delete_topic_enable: bool,
    pub socket_request_max_bytes: usize,
    pub retention_check_interval_ms: u64,
}

impl BrokerConfig {
    /// Loads `file` (if any) and then `overrides` (`key=value`), validating every value.
    /// Returns the config and warnings (unknown keys).
    pub fn load(
        file: Option<&Path>,
        overrides: &[String],
    ) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
        let mut props = Vec::new();
        if let Some(path) = file {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
                path: name.clone(),
                source,
            })?;
            props.extend(properties::parse(&name, &text)?);
        }
        for (i, o) in overrides.iter().enumerate() {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| ConfigError::BadOverride(o.clone()))?;
            props.push(Property {
                key: k.trim().to_string(),
                value: v.trim().to_string(),
                origin: Origin {
                    file: "--override".into(),
                    line: i + 1,
                    col: k.len() + 2,
                },
            });
        }
        Self::from_properties(props)
    }

    /// Builds a config from `key=value` pairs (tests, embedded brokers).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Result<BrokerConfig, ConfigError> {
        let overrides: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Ok(Self::load(None, &overrides)?.0)
    }

    fn from_properties(props: Vec<Property>) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
        let mut warnings = Vec::new();
        let mut values = BTreeMap::new();
        let mut origins = BTreeMap::new();
        for p in props {
            match defs::broker_def(&p.key) {
                None => warnings.push(format!(
                    "{}: unknown or unsupported key '{}' (ignored)",
                    p.origin, p.key
                )),
                Some(def) => {
                    defs::validate(def.kind, &p.value).map_err(|message| ConfigError::Invalid {
                        origin: p.origin.clone(),
                        key: p.key.clone(),
                        message,
                    })?;
                    origins.insert(p.key.clone(), p.origin);
                    values.insert(p.key, p.value.trim().to_string());
                }
            }
        }
        let invalid = |key: BrokerKey, message: String| ConfigError::Invalid {
            origin: origins.get(key.name()).cloned().unwrap_or(Origin {
                file: "default".into(),
                line: 0,
                col: 0,
            }),
            key: key.name().to_string(),
            message,
        };
        let mut cfg = BrokerConfig {
            values,
            node_id: 0,
            listener: SocketAddr::from(([127, 0, 0, 1], 9092)),
            advertised: None,
            metrics_listener: None,
            log_dir: PathBuf::new(),
            num_partitions: 1,
            default_replication_factor: 1,
            auto_create_topics: true,
            delete_topic_enable: true,
            socket_request_max_bytes: 104_857_600,
            retention_check_interval_ms: 300_000,
        };
        cfg.node_id = if cfg.is_set(BrokerKey::NodeId) {
            cfg.int(BrokerKey::NodeId) as i32
        } else if cfg.int(BrokerKey::BrokerId) >= 0 {
            cfg.int(BrokerKey::BrokerId) as i32
        } else {
            0
        };
        cfg.listener = parse_listener(
            &cfg.get(BrokerKey::Listeners),
            &cfg.get(BrokerKey::ControllerListenerNames),
        )
        .map_err(|m| invalid(BrokerKey::Listeners, m))?;
        let adv = cfg.get(BrokerKey::AdvertisedListeners);
        if !adv.is_empty() {
            let a = parse_host_port(strip_scheme(first_item(&adv)))
                .map_err(|m| invalid(BrokerKey::AdvertisedListeners, m))?;
            cfg.advertised = Some(a);
        }
        let metrics = cfg.get(BrokerKey::KafkalabMetricsListener);
        if !metrics.trim().is_empty() {
            cfg.metrics_listener = Some(metrics.trim().parse().map_err(|_| {
                invalid(
                    BrokerKey::KafkalabMetricsListener,
                    format!("expected host:port with an IP address, got '{metrics}'"),
                )
            })?);
        }
        let dirs = if cfg.is_set(BrokerKey::LogDirs) {
            cfg.get(BrokerKey::LogDirs)
        } else {
            cfg.get(BrokerKey::LogDir)
        };
        cfg.log_dir = PathBuf::from(first_item(&dirs));
        cfg.num_partitions = cfg.int(BrokerKey::NumPartitions) as i32;
        cfg.default_replication_factor = cfg.int(BrokerKey::DefaultReplicationFactor) as i16;
        cfg.auto_create_topics = cfg.bool(BrokerKey::AutoCreateTopicsEnable);
        cfg.delete_topic_enable = cfg.bool(BrokerKey::DeleteTopicEnable);
        cfg.socket_request_max_bytes = cfg.int(BrokerKey::SocketRequestMaxBytes) as usize;
        cfg.retention_check_interval_ms = cfg.int(BrokerKey::LogRetentionCheckIntervalMs) as u64;
        Ok((cfg, warnings))
    }

    pub fn is_set(&self, key: BrokerKey) -> bool {
        self.values.contains_key(key.name())
    }

    /// The value of a broker key: the set value, else the documented default.
    pub fn get(&self, key: BrokerKey) -> String {
        self.values
            .get(key.name())
            .cloned()
            .unwrap_or_else(|| key.def().default.to_string())
    }

    /// An integer setting (validated at load time).
    pub fn int(&self, key: BrokerKey) -> i64 {
        self.get(key).parse().unwrap_or(0)
    }

    /// A boolean setting (validated at load time; `true` in any case, as in Kafka).
    pub fn bool(&self, key: BrokerKey) -> bool {
        self.get(key).eq_ignore_ascii_case("true")
    }

    /// The broker-level default of a topic setting (empty for an unknown key).
    pub fn topic_default(&self, topic_key: &str) -> String {
        TopicKey::from_name(topic_key).map_or_else(String::new, |k| self.topic_key_default(k))
    }

    /// The broker-level default of a topic setting, resolving Kafka's unit aliases
    /// (`log.retention.ms` > `.minutes` > `.hours`; `log.roll.ms` > `.hours`).
    pub fn topic_key_default(&self, key: TopicKey) -> String {
        match key {
            TopicKey::RetentionMs => {
                if self.is_set(BrokerKey::LogRetentionMs) {
                    self.get(BrokerKey::LogRetentionMs)
                } else if self.is_set(BrokerKey::LogRetentionMinutes) {
                    (self.int(BrokerKey::LogRetentionMinutes) * 60_000).to_string()
                } else {
                    let h = self.int(BrokerKey::LogRetentionHours);
                    if h < 0 {
                        "-1".into()
                    } else {
                        (h * 3_600_000).to_string()
                    }
                }
            }
            TopicKey::SegmentMs => {
                if self.is_set(BrokerKey::LogRollMs) {
                    self.get(BrokerKey::LogRollMs)
                } else {
                    (self.int(BrokerKey::LogRollHours) * 3_600_000).to_string()
                }
            }
            _ => self.get(key.def().broker_key),
        }
    }

    /// Every broker key with its value and whether it was set (for DescribeConfigs).
    pub fn describe(&self) -> Vec<(&'static str, String, bool)> {
        BrokerKey::ALL
            .iter()
            .map(|&k| (k.name(), self.get(k), self.is_set(k)))
            .collect()
    }
}

fn first_item(s: &str) -> &str {
    s.split(',').next().unwrap_or("").trim()
}

fn strip_scheme(s: &str) -> &str {
    s.split_once("://").map_or(s, |(_, rest)| rest)
}

fn parse_host_port(s: &str) -> Result<(String, u16), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("expected host:port, got '{s}'"))?;
    let port = port
        .parse()
        .map_err(|_| format!("expected a port number, got '{port}'"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((
        if host.is_empty() {
            "127.0.0.1".into()
        } else {
            host.to_string()
        },
        port,
    ))
}

/// `PLAINTEXT://127.0.0.1:9092` → socket address. Only PLAINTEXT is served.
/// Items named in `controller_names` (`controller.listener.names`, Kafka's
/// `CONTROLLER://host:port` beside the broker listener) are the controller quorum's:
/// skipped here (its address is the node's entry in `controller.quorum.voters`).
fn parse_listener(s: &str, controller_names: &str) -> Result<SocketAddr, String> {
    let is_controller = |item: &str| {
        item.split_once("://").is_some_and(|(scheme, _)| {
            controller_names
                .split(',')
                .any(|n| !n.trim().is_empty() && n.trim() == scheme)
        })
    };
    let item = s
        .split(',')
        .map(str::trim)
        .find(|i| !i.is_empty() && !is_controller(i))
        .unwrap_or("");
    if let Some((scheme, _)) = item.split_once("://") {
        if scheme != "PLAINTEXT" {
            return Err(format!(
                "only PLAINTEXT listeners are supported, got '{scheme}'"
            ));
        }
    }
    let (host, port) = parse_host_port(strip_scheme(item))?;
    let host = if host == "localhost" {
        "127.0.0.1".to_string()
    } else {
        host
    };
    let ip: std::net::IpAddr = host
        .parse()
        .map_err(|_| format!("expected an IP address or localhost, got '{host}'"))?;
    Ok(SocketAddr::new(ip, port))
}

/// A topic's explicit settings (what CreateTopics / IncrementalAlterConfigs set).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopicConfig {
    pub overrides: BTreeMap<String, String>,
}

/// A topic's effective settings after applying broker defaults.
#[derive(Debug, Clone)]
pub struct EffectiveTopicConfig {
    pub log: LogConfig,
    pub max_message_bytes: usize,
    pub compression: CompressionType,
    pub log_append_time: bool,
    pub min_insync_replicas: i32,
}

impl TopicConfig {
    /// Checks one topic setting; the message is what Kafka's INVALID_CONFIG would say.
    pub fn validate_entry(key: &str, value: &str) -> Result<(), String> {
        let def =
            defs::topic_def(key).ok_or_else(|| format!("Unknown topic config name: {key}"))?;
        defs::validate(def.def.kind, value).map_err(|m| format!("Invalid value for {key}: {m}"))
    }

    /// A setting named by the outside (a request, a tool): the topic's value, else the
    /// broker's default (empty for an unknown key).
    pub fn value(&self, broker: &BrokerConfig, key: &str) -> String {
        self.overrides
            .get(key)
            .cloned()
            .unwrap_or_else(|| broker.topic_default(key))
    }

    /// A setting: the topic's value, else the broker's default.
    pub fn get(&self, broker: &BrokerConfig, key: TopicKey) -> String {
        self.overrides
            .get(key.name())
            .cloned()
            .unwrap_or_else(|| broker.topic_key_default(key))
    }

    /// Every topic setting with its value and whether the topic sets it.
    pub fn describe(&self, broker: &BrokerConfig) -> Vec<(&'static str, String, bool)> {
        defs::TOPIC
            .iter()
            .map(|t| {
                (
                    t.def.name,
                    self.value(broker, t.def.name),
                    self.overrides.contains_key(t.def.name),
                )
            })
            .collect()
    }

    pub fn effective(&self, broker: &BrokerConfig) -> EffectiveTopicConfig {
        let long = |k: TopicKey| self.get(broker, k).trim().parse::<i64>().unwrap_or(-1);
        let policy = self.get(broker, TopicKey::CleanupPolicy);
        let cleanup_policy = CleanupPolicy {
            delete: policy.split(',').any(|p| p.trim() == "delete"),
            compact: policy.split(',').any(|p| p.trim() == "compact"),
        };
        EffectiveTopicConfig {
            log: LogConfig {
                segment_bytes: long(TopicKey::SegmentBytes).max(14) as u64,
                segment_ms: long(TopicKey::SegmentMs),
                retention_ms: long(TopicKey::RetentionMs),
                retention_bytes: long(TopicKey::RetentionBytes),
                cleanup_policy,
                index_interval_bytes: long(TopicKey::IndexIntervalBytes).max(0) as u64,
                segment_index_bytes: long(TopicKey::SegmentIndexBytes).max(4) as u64,
                delete_retention_ms: long(TopicKey::DeleteRetentionMs),
                flush_messages: long(TopicKey::FlushMessages),
            },
            max_message_bytes: long(TopicKey::MaxMessageBytes).max(0) as usize,
            compression: CompressionType::parse(self.get(broker, TopicKey::CompressionType).trim()),
            log_append_time: self.get(broker, TopicKey::MessageTimestampType) == "LogAppendTime",
            min_insync_replicas: long(TopicKey::MinInsyncReplicas) as i32,
        }
    }
}

/// Kind of a topic key, for DescribeConfigs' config type field.
pub fn topic_kind(key: &str) -> Option<Kind> {
    defs::topic_def(key).map(|t| t.def.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_kafka() {
        let c = BrokerConfig::from_pairs(&[]).expect("defaults valid");
        assert_eq!(c.listener.to_string(), "127.0.0.1:9092");
        assert_eq!(c.num_partitions, 1);
        assert!(c.auto_create_topics && c.delete_topic_enable);
        assert_eq!(c.socket_request_max_bytes, 104_857_600);
        let t = TopicConfig::default().effective(&c);
        assert_eq!(t.log.retention_ms, 168 * 3_600_000);
        assert_eq!(t.log.segment_bytes, 1_073_741_824);
        assert_eq!(t.max_message_bytes, 1_048_588);
        assert_eq!(t.compression, CompressionType::Producer);
    }

    #[test]
    fn a_controller_listener_beside_the_broker_listener_is_skipped() {
        let c = BrokerConfig::from_pairs(&[(
            "listeners",
            "CONTROLLER://127.0.0.1:19090,PLAINTEXT://127.0.0.1:9093",
        )])
        .expect("valid");
        assert_eq!(c.listener.to_string(), "127.0.0.1:9093");
        let err = BrokerConfig::from_pairs(&[("listeners", "SSL://127.0.0.1:9093")])
            .map(|_| ())
            .expect_err("SSL is not served");
        assert!(err.to_string().contains("only PLAINTEXT"), "{err}");
    }

    #[test]
    fn retention_unit_aliases_resolve_like_kafka() {
        let c = BrokerConfig::from_pairs(&[("log.retention.minutes", "2")]).expect("valid");
        assert_eq!(c.topic_default("retention.ms"), "120000");
        let c =
            BrokerConfig::from_pairs(&[("log.retention.minutes", "2"), ("log.retention.ms", "5")])
                .expect("valid");
        assert_eq!(c.topic_default("retention.ms"), "5");
    }

    #[test]
    fn bad_value_reports_file_line_col() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("server.properties");
        std::fs::write(&p, "log.dirs=/tmp/x\nnum.partitions=many\n").expect("write");
        let err = BrokerConfig::load(Some(&p), &[]).expect_err("must fail");
        let msg = err.to_string();
        assert!(
            msg.ends_with(
                "server.properties:2:16: num.partitions: expected an integer, got 'many'"
            ),
            "{msg}"
        );
    }

    #[test]
    fn unknown_key_warns_and_overrides_apply() {
        let (c, w) = BrokerConfig::load(
            None,
            &[
                "log.dirz=/x".into(),
                "listeners=PLAINTEXT://127.0.0.1:0".into(),
            ],
        )
        .expect("valid");
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("'log.dirz'"));
        assert_eq!(c.listener.port(), 0);
        assert!(BrokerConfig::load(None, &["novalue".into()]).is_err());
        assert!(BrokerConfig::from_pairs(&[("listeners", "SSL://127.0.0.1:1")]).is_err());
        assert!(BrokerConfig::from_pairs(&[("compression.type", "brotli")]).is_err());
    }

    #[test]
    fn topic_overrides_and_validation() {
        let c = BrokerConfig::from_pairs(&[("compression.type", "gzip")]).expect("valid");
        let mut t = TopicConfig::default();
        assert_eq!(t.effective(&c).compression, CompressionType::Gzip);
        t.overrides
            .insert("cleanup.policy".into(), "compact,delete".into());
        let e = t.effective(&c);
        assert!(e.log.cleanup_policy.compact && e.log.cleanup_policy.delete);
        assert!(TopicConfig::validate_entry("retention.ms", "abc").is_err());
        assert!(TopicConfig::validate_entry("no.such", "1").is_err());
        assert!(TopicConfig::validate_entry("cleanup.policy", "compact").is_ok());
    }
}
