//! Topics on this broker: names, ids, partitions and per-topic config, persisted as a
//! small metadata file beside the logs so they survive a restart.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::{BrokerConfig, EffectiveTopicConfig, TopicConfig};
use crate::partition::Partition;
use crate::protocol::errors;
use crate::storage::{Storage, StorageError};

const META_FILE: &str = "topics.json";
/// Kafka's limit (249) keeps `<topic>-<partition>` directory names under 255 bytes.
pub const MAX_NAME_LEN: usize = 249;

pub struct Topic {
    pub name: Arc<str>,
    pub id: Uuid,
    config: RwLock<(TopicConfig, Arc<EffectiveTopicConfig>)>,
    partitions: RwLock<Vec<Arc<Partition>>>,
}

impl Topic {
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().clone()
    }
    pub fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.read().get(i).cloned())
    }
    pub fn partition_count(&self) -> i32 {
        self.partitions.read().len() as i32
    }
    pub fn config(&self) -> TopicConfig {
        self.config.read().0.clone()
    }
    pub fn effective(&self) -> Arc<EffectiveTopicConfig> {
        self.config.read().1.clone()
    }
}

/// An error for one topic, with the Kafka code and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicError {
    pub code: i16,
    pub message: String,
}

impl TopicError {
    /// UNKNOWN_TOPIC_OR_PARTITION with Kafka's message.
    fn unknown() -> Self {
        TopicError::new(
            errors::UNKNOWN_TOPIC_OR_PARTITION,
            "This server does not host this topic-partition.",
        )
    }

    fn new(code: i16, message: impl Into<String>) -> Self {
        TopicError {
            code,
            message: message.into(),
        }
    }
}

impl From<StorageError> for TopicError {
    fn from(e: StorageError) -> Self {
        TopicError::new(errors::UNKNOWN_SERVER_ERROR, e.to_string())
    }
}

/// Kafka's topic-name rule: 1..=249 chars of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_name(name: &str) -> Result<(), TopicError> {
    let invalid = |m: String| Err(TopicError::new(errors::INVALID_TOPIC_EXCEPTION, m));
    if name.is_empty() {
        return invalid("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return invalid("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > MAX_NAME_LEN {
        return invalid(format!(
            "Topic name is illegal, it can't be longer than {MAX_NAME_LEN} characters, topic name: {name}"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return invalid(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
struct PersistedTopic {
    name: String,
    id: Uuid,
    partitions: i32,
    config: BTreeMap<String, String>,
}

pub struct TopicRegistry {
    storage: Arc<dyn Storage>,
    topics: RwLock<BTreeMap<Arc<str>, Arc<Topic>>>,
    /// A cluster node: partitions start without a role (see `ReplicaState::clustered`).
    clustered: bool,
}

impl TopicRegistry {
    /// Loads the persisted topics and opens (recovers) every partition log.
    pub fn open(
        storage: Arc<dyn Storage>,
        broker: &BrokerConfig,
        clustered: bool,
    ) -> Result<Self, StorageError> {
        let reg = TopicRegistry {
            storage,
            topics: RwLock::new(BTreeMap::new()),
            clustered,
        };
        let persisted: Vec<PersistedTopic> = match reg.storage.read_meta(META_FILE)? {
            None => Vec::new(),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| StorageError::Corrupt {
                path: META_FILE.into(),
                detail: e.to_string(),
            })?,
        };
        for p in persisted {
            let config = TopicConfig {
                overrides: p.config,
            };
            let topic = reg.build(p.name.into(), p.id, config, p.partitions, broker)?;
            reg.topics
                .write()
                .insert(topic.name.clone(), Arc::new(topic));
        }
        Ok(reg)
    }

    fn build(
        &self,
        name: Arc<str>,
        id: Uuid,
        config: TopicConfig,
        partitions: i32,
        broker: &BrokerConfig,
    ) -> Result<Topic, StorageError> {
        let effective = Arc::new(config.effective(broker));
        let parts = (0..partitions)
            .map(|i| self.open_partition(name.clone(), i, &effective.log))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Topic {
            name,
            id,
            config: RwLock::new((config, effective)),
            partitions: RwLock::new(parts),
        })
    }

    fn open_partition(
        &self,
        topic: Arc<str>,
        index: i32,
        log: &crate::storage::LogConfig,
    ) -> Result<Arc<Partition>, StorageError> {
        let p = Partition::open(self.storage.as_ref(), topic, index, log)?;
        if self.clustered {
            *p.replica.lock() = crate::cluster::replica::ReplicaState::clustered(0);
        }
        Ok(Arc::new(p))
    }

    /// A cluster node takes a topic the controller created (same id, partitions and
    /// config everywhere); replication factor and placement are the controller's.
    pub fn create_replica(
        &self,
        broker: &BrokerConfig,
        name: &str,
        id: Uuid,
        partitions: i32,
        config: TopicConfig,
    ) -> Result<Arc<Topic>, TopicError> {
        let topic = Arc::new(self.build(name.into(), id, config, partitions, broker)?);
        self.topics
            .write()
            .insert(topic.name.clone(), topic.clone());
        self.persist()?;
        Ok(topic)
    }

    fn persist(&self) -> Result<(), StorageError> {
        let list: Vec<PersistedTopic> = self
            .topics
            .read()
            .values()
            .map(|t| PersistedTopic {
                name: t.name.to_string(),
                id: t.id,
                partitions: t.partition_count(),
                config: t.config().overrides,
            })
            .collect();
        let bytes = serde_json::to_vec_pretty(&list).map_err(|e| StorageError::Corrupt {
            path: META_FILE.into(),
            detail: e.to_string(),
        })?;
        self.storage.write_meta(META_FILE, &bytes)
    }

    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().get(name).cloned()
    }

    pub fn by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.topics.read().values().find(|t| t.id == id).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Topic>> {
        self.topics.read().values().cloned().collect()
    }

    /// Validates and (unless `validate_only`) creates a topic.
    pub fn create(
        &self,
        broker: &BrokerConfig,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        config: TopicConfig,
        validate_only: bool,
    ) -> Result<Option<Arc<Topic>>, TopicError> {
        validate_name(name)?;
        if self.topics.read().contains_key(name) {
            return Err(TopicError::new(
                errors::TOPIC_ALREADY_EXISTS,
                format!("Topic '{name}' already exists."),
            ));
        }
        let partitions = if partitions == -1 {
            broker.num_partitions
        } else {
            partitions
        };
        if partitions <= 0 {
            return Err(TopicError::new(
                errors::INVALID_PARTITIONS,
                format!("Number of partitions must be larger than 0, got {partitions}."),
            ));
        }
        let rf = if replication_factor == -1 {
            broker.default_replication_factor
        } else {
            replication_factor
        };
        if rf <= 0 {
            return Err(TopicError::new(
                errors::INVALID_REPLICATION_FACTOR,
                "Replication factor must be larger than 0.",
            ));
        }
        if rf > 1 {
            return Err(TopicError::new(
                errors::INVALID_REPLICATION_FACTOR,
                format!("Replication factor: {rf} larger than available brokers: 1."),
            ));
        }
        for (k, v) in &config.overrides {
            crate::config::TopicConfig::validate_entry(k, v)
                .map_err(|m| TopicError::new(errors::INVALID_CONFIG, m))?;
        }
        if validate_only {
            return Ok(None);
        }
        let mut topics = self.topics.write();
        if topics.contains_key(name) {
            return Err(TopicError::new(
                errors::TOPIC_ALREADY_EXISTS,
                format!("Topic '{name}' already exists."),
            ));
        }
        let topic = Arc::new(self.build(
            name.into(),
            kafkalab_sim::random::uuid(),
            config,
            partitions,
            broker,
        )?);
        topics.insert(topic.name.clone(), topic.clone());
        drop(topics);
        self.persist()?;
        Ok(Some(topic))
    }

    pub fn delete(&self, name: &str) -> Result<(), TopicError> {
        let topic = self
            .topics
            .write()
            .remove(name)
            .ok_or_else(TopicError::unknown)?;
        self.persist()?;
        for p in topic.partitions() {
            p.with_log(|log| log.delete())?;
            self.storage.remove(&topic.name, p.index)?;
        }
        Ok(())
    }

    /// Grows a topic to `count` partitions.
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let topic = self.get(name).ok_or_else(TopicError::unknown)?;
        let current = topic.partition_count();
        if count <= current {
            let msg = if count == current {
                format!("Topic already has {current} partitions.")
            } else {
                format!("Topic currently has {current} partitions, which is higher than the requested {count}.")
            };
            return Err(TopicError::new(errors::INVALID_PARTITIONS, msg));
        }
        if validate_only {
            return Ok(());
        }
        let log_config = topic.effective().log.clone();
        {
            let mut parts = topic.partitions.write();
            for i in current..count {
                parts.push(self.open_partition(topic.name.clone(), i, &log_config)?);
            }
        }
        self.persist()?;
        Ok(())
    }

    /// Replaces a topic's explicit config (already validated).
    pub fn set_config(
        &self,
        broker: &BrokerConfig,
        name: &str,
        config: TopicConfig,
    ) -> Result<(), TopicError> {
        let topic = self.get(name).ok_or_else(TopicError::unknown)?;
        let effective = Arc::new(config.effective(broker));
        for p in topic.partitions() {
            p.with_log(|log| log.set_config(&effective.log));
        }
        *topic.config.write() = (config, effective);
        self.persist()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemoryStorage;

    #[test]
    fn topic_name_rules() {
        assert!(validate_name("orders.v1_x-2").is_ok());
        for bad in ["", ".", "..", "a b", "ä", "a/b"] {
            assert_eq!(
                validate_name(bad).map_err(|e| e.code),
                Err(errors::INVALID_TOPIC_EXCEPTION),
                "{bad}"
            );
        }
        assert!(validate_name(&"a".repeat(249)).is_ok());
        assert!(validate_name(&"a".repeat(250)).is_err());
    }

    #[test]
    fn create_grow_delete_and_persist() {
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let cfg = BrokerConfig::from_pairs(&[("num.partitions", "3")]).expect("valid");
        let reg = TopicRegistry::open(storage.clone(), &cfg, false).expect("open");
        let t = reg
            .create(&cfg, "t", -1, -1, TopicConfig::default(), false)
            .expect("create")
            .expect("created");
        assert_eq!(t.partition_count(), 3);
        assert_eq!(
            reg.create(&cfg, "t", 1, 1, TopicConfig::default(), false)
                .err()
                .map(|e| e.code),
            Some(errors::TOPIC_ALREADY_EXISTS)
        );
        assert_eq!(
            reg.create(&cfg, "u", 1, 3, TopicConfig::default(), false)
                .err()
                .map(|e| e.code),
            Some(errors::INVALID_REPLICATION_FACTOR)
        );
        assert!(reg
            .create(&cfg, "v", 1, 1, TopicConfig::default(), true)
            .expect("valid")
            .is_none());
        assert!(reg.get("v").is_none());
        assert_eq!(
            reg.create_partitions("t", 2, false).err().map(|e| e.code),
            Some(errors::INVALID_PARTITIONS)
        );
        reg.create_partitions("t", 5, false).expect("grow");
        let reopened = TopicRegistry::open(storage.clone(), &cfg, false).expect("reopen");
        let t2 = reopened.get("t").expect("persisted");
        assert_eq!(t2.partition_count(), 5);
        assert_eq!(t2.id, t.id);
        reopened.delete("t").expect("delete");
        assert!(TopicRegistry::open(storage, &cfg, false)
            .expect("reopen")
            .get("t")
            .is_none());
    }
}
