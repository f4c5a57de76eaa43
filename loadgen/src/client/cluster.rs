//! What a client knows of the cluster: brokers, topic partitions and their leaders,
//! refreshed with Metadata; and one shared connection per broker.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{FindCoordinatorRequest, MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use parking_lot::RwLock;
use tokio::sync::Mutex;

use super::connection::Connection;
use super::error::{check, ClientError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub error_code: i16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    pub id: uuid::Uuid,
    pub error_code: i16,
    pub partitions: Vec<PartitionInfo>,
}

#[derive(Debug, Clone, Default)]
pub struct Metadata {
    pub brokers: BTreeMap<i32, String>,
    pub controller: i32,
    pub cluster_id: Option<String>,
    pub topics: BTreeMap<String, TopicInfo>,
}

impl Metadata {
    /// The name of the topic with this id (KIP-516), if the metadata knows it.
    pub fn topic_name(&self, id: uuid::Uuid) -> Option<String> {
        self.topics
            .values()
            .find(|t| t.id == id)
            .map(|t| t.name.clone())
    }
}

pub struct Cluster {
    bootstrap: Vec<String>,
    pub client_id: String,
    metadata: RwLock<Metadata>,
    connections: Mutex<HashMap<String, Connection>>,
}

impl Cluster {
    /// `bootstrap` is Kafka's `bootstrap.servers`: comma-separated host:port.
    pub fn new(bootstrap: &str, client_id: &str) -> Arc<Cluster> {
        Arc::new(Cluster {
            bootstrap: bootstrap
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            client_id: client_id.to_string(),
            metadata: RwLock::new(Metadata::default()),
            connections: Mutex::new(HashMap::new()),
        })
    }

    /// A connection to `addr`, reusing an open one.
    pub async fn connection_to(&self, addr: &str) -> Result<Connection, ClientError> {
        let mut conns = self.connections.lock().await;
        if let Some(c) = conns.get(addr) {
            if c.is_open() {
                return Ok(c.clone());
            }
        }
        let c = Connection::connect(addr, &self.client_id).await?;
        conns.insert(addr.to_string(), c.clone());
        Ok(c)
    }

    /// A connection to broker `node`.
    pub async fn broker(&self, node: i32) -> Result<Connection, ClientError> {
        let addr = self.metadata.read().brokers.get(&node).cloned();
        match addr {
            Some(a) => self.connection_to(&a).await,
            None => {
                self.refresh(&[]).await?;
                let a = self.metadata.read().brokers.get(&node).cloned();
                let a = a.ok_or_else(|| ClientError::Other(format!("unknown broker {node}")))?;
                self.connection_to(&a).await
            }
        }
    }

    /// A connection to any reachable broker (known brokers first, then bootstrap).
    pub async fn any(&self) -> Result<Connection, ClientError> {
        let mut candidates: Vec<String> = self.metadata.read().brokers.values().cloned().collect();
        candidates.extend(self.bootstrap.iter().cloned());
        let mut last = ClientError::Other("no bootstrap servers".into());
        for addr in candidates {
            match self.connection_to(&addr).await {
                Ok(c) => return Ok(c),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Refreshes metadata for `topics` (empty = all topics).
    pub async fn refresh(&self, topics: &[String]) -> Result<Metadata, ClientError> {
        self.refresh_with(topics, false).await
    }

    /// Refreshes metadata, letting the broker create missing topics when its
    /// `auto.create.topics.enable` allows (what a producer asks for, as in Kafka).
    pub async fn refresh_with(
        &self,
        topics: &[String],
        allow_auto_create: bool,
    ) -> Result<Metadata, ClientError> {
        let conn = self.any().await?;
        let req = MetadataRequest::default()
            .with_topics(if topics.is_empty() {
                None
            } else {
                Some(
                    topics
                        .iter()
                        .map(|t| {
                            MetadataRequestTopic::default()
                                .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                        })
                        .collect(),
                )
            })
            .with_allow_auto_topic_creation(allow_auto_create);
        let resp = conn.send(req).await?;
        let mut md = self.metadata.write();
        for b in &resp.brokers {
            md.brokers
                .insert(b.node_id.0, format!("{}:{}", b.host.as_str(), b.port));
        }
        md.controller = resp.controller_id.0;
        md.cluster_id = resp.cluster_id.as_ref().map(|c| c.to_string());
        for t in &resp.topics {
            let Some(name) = t.name.as_ref().map(|n| n.0.to_string()) else {
                continue;
            };
            let mut partitions: Vec<PartitionInfo> = t
                .partitions
                .iter()
                .map(|p| PartitionInfo {
                    partition: p.partition_index,
                    leader: p.leader_id.0,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                    isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                    error_code: p.error_code,
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            if t.error_code == 3 {
                md.topics.remove(&name);
                continue;
            }
            md.topics.insert(
                name.clone(),
                TopicInfo {
                    name,
                    id: t.topic_id,
                    error_code: t.error_code,
                    partitions,
                },
            );
        }
        Ok(md.clone())
    }

    pub fn metadata(&self) -> Metadata {
        self.metadata.read().clone()
    }

    pub fn topic(&self, name: &str) -> Option<TopicInfo> {
        self.metadata.read().topics.get(name).cloned()
    }

    /// The topic's partitions, refreshing metadata once if it is unknown.
    pub async fn partitions(&self, topic: &str) -> Result<TopicInfo, ClientError> {
        if let Some(t) = self.topic(topic) {
            return Ok(t);
        }
        self.refresh(&[topic.to_string()]).await?;
        self.topic(topic)
            .ok_or_else(|| ClientError::kafka(3, Some(format!("topic {topic} does not exist"))))
    }

    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let md = self.metadata.read();
        let p = md
            .topics
            .get(topic)?
            .partitions
            .iter()
            .find(|p| p.partition == partition)?;
        (p.leader >= 0).then_some(p.leader)
    }

    /// The group coordinator's connection (FindCoordinator, retried while the
    /// coordinator is not available).
    pub async fn coordinator(
        &self,
        group: &str,
        timeout: Duration,
    ) -> Result<Connection, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let conn = self.any().await?;
            let v = conn
                .version(kafka_protocol::messages::ApiKey::FindCoordinator)
                .unwrap_or(0);
            let req = if v >= 4 {
                FindCoordinatorRequest::default()
                    .with_coordinator_keys(vec![StrBytes::from_string(group.to_string())])
            } else {
                FindCoordinatorRequest::default().with_key(StrBytes::from_string(group.to_string()))
            };
            let resp = conn.send(req).await?;
            let (code, msg, host, port) = match resp.coordinators.first() {
                Some(c) if v >= 4 => (
                    c.error_code,
                    c.error_message.clone(),
                    c.host.to_string(),
                    c.port,
                ),
                _ => (
                    resp.error_code,
                    resp.error_message.clone(),
                    resp.host.to_string(),
                    resp.port,
                ),
            };
            match check(code, msg.as_ref()) {
                Ok(()) => return self.connection_to(&format!("{host}:{port}")).await,
                Err(e) if e.is_retriable() && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}
