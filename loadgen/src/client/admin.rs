//! Admin operations: topics, partitions, configs, offsets, groups.
//!
//! What `kafka-topics.sh`, `kafka-configs.sh` and `kafka-consumer-groups.sh` do, over the
//! Kafka protocol only (no kafkalab-specific API), so it works against any cluster.
//! Topic changes go to the controller (brokers forward them in KRaft mode anyway),
//! offsets to the partition leader, group operations to the group coordinator.
//!
//! Errors: a failure of the request itself is the outer `Err`; operations on several
//! items (`create_topics`, `delete_topics`, `delete_groups`) also report each item's
//! Kafka error as `ClientError::Kafka { code, .. }`. Single-item operations return that
//! item's error directly.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, ConsumerProtocolAssignment, ConsumerProtocolSubscription,
    CreatePartitionsRequest, CreateTopicsRequest, DeleteGroupsRequest, DeleteTopicsRequest,
    DescribeConfigsRequest, DescribeGroupsRequest, GroupId, IncrementalAlterConfigsRequest,
    ListGroupsRequest, ListOffsetsRequest, MetadataRequest, OffsetCommitRequest,
    OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, Message, StrBytes};

use super::cluster::{Cluster, PartitionInfo, TopicInfo};
use super::connection::Connection;
use super::error::{check, ClientError};

/// Resource types of DescribeConfigs / IncrementalAlterConfigs.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    /// -1: the broker's `num.partitions`.
    pub partitions: i32,
    /// -1: the broker's `default.replication.factor`.
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
}

impl NewTopic {
    pub fn new(name: impl Into<String>, partitions: i32, replication_factor: i16) -> NewTopic {
        NewTopic {
            name: name.into(),
            partitions,
            replication_factor,
            configs: BTreeMap::new(),
        }
    }

    pub fn with_config(mut self, key: impl Into<String>, value: impl Into<String>) -> NewTopic {
        self.configs.insert(key.into(), value.into());
        self
    }
}

/// Which offset `list_offsets` asks for (`kafka-get-offsets --time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset (`--time -2`).
    Earliest,
    /// The log end offset / high watermark (`--time -1`).
    Latest,
    /// The offset of the record with the largest timestamp (`--time -3`, ListOffsets v7+).
    MaxTimestamp,
    /// The first offset whose timestamp is at or after this one (ms).
    Timestamp(i64),
}

impl OffsetSpec {
    fn wire(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::MaxTimestamp => -3,
            OffsetSpec::Timestamp(t) => t,
        }
    }
}

/// One config of a resource, as DescribeConfigs reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    pub read_only: bool,
    /// Kafka's ConfigSource: 1 DYNAMIC_TOPIC_CONFIG, 2 DYNAMIC_BROKER_CONFIG,
    /// 3 DYNAMIC_DEFAULT_BROKER_CONFIG, 4 STATIC_BROKER_CONFIG, 5 DEFAULT_CONFIG, ...
    pub source: i8,
    pub is_default: bool,
    pub sensitive: bool,
}

/// An IncrementalAlterConfigs operation (`kafka-configs --alter --add-config/--delete-config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterOp {
    Set(String),
    Delete,
    /// Adds to a list-valued config.
    Append(String),
    /// Removes from a list-valued config.
    Subtract(String),
}

impl AlterOp {
    fn wire(&self) -> (i8, Option<&str>) {
        match self {
            AlterOp::Set(v) => (0, Some(v)),
            AlterOp::Delete => (1, None),
            AlterOp::Append(v) => (2, Some(v)),
            AlterOp::Subtract(v) => (3, Some(v)),
        }
    }
}

/// A group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    /// "consumer" for consumer groups ("" for simple groups that only commit offsets).
    pub protocol_type: String,
    /// The state (ListGroups v4+), e.g. Stable, PreparingRebalance, Empty.
    pub state: Option<String>,
    /// "classic" or "consumer" (ListGroups v5+).
    pub group_type: Option<String>,
    pub coordinator: i32,
}

/// A member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Subscribed topics (consumer groups; empty when the metadata is not the consumer
    /// protocol's).
    pub subscription: Vec<String>,
    /// Assigned partitions per topic, decoded from the consumer protocol assignment.
    pub assignment: BTreeMap<String, Vec<i32>>,
    /// The raw assignment bytes (for non-consumer protocols).
    pub raw_assignment: Bytes,
}

/// A group as DescribeGroups reports it (`kafka-consumer-groups --describe --members`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    /// The assignor chosen for the generation (e.g. "range", "cooperative-sticky").
    pub protocol: String,
    pub members: Vec<MemberDescription>,
    pub coordinator: i32,
}

/// Per-item results of a multi-item operation.
pub type ItemResults = BTreeMap<String, Result<(), ClientError>>;

/// An admin client.
pub struct Admin {
    cluster: Arc<Cluster>,
    /// Broker-side timeout for topic operations (`timeout_ms` in the requests) and the
    /// bound on coordinator lookups.
    pub timeout: Duration,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn topic_name(v: &str) -> TopicName {
    TopicName(s(v))
}

/// Decodes a consumer-protocol blob whose first two bytes are its version (newer
/// versions are read with the newest layout this crate knows, as Kafka does).
fn decode_versioned<M: Decodable + Message>(bytes: &Bytes) -> Option<M> {
    if bytes.len() < 2 {
        return None;
    }
    let mut b = bytes.clone();
    let version = b.get_i16().clamp(M::VERSIONS.min, M::VERSIONS.max);
    M::decode(&mut b, version).ok()
}

impl Admin {
    /// Connects to `bootstrap` (comma-separated host:port) with client id
    /// `kafkalab-admin`.
    pub async fn new(bootstrap: &str) -> Result<Admin, ClientError> {
        Admin::with_client_id(bootstrap, "kafkalab-admin").await
    }

    pub async fn with_client_id(bootstrap: &str, client_id: &str) -> Result<Admin, ClientError> {
        let cluster = Cluster::new(bootstrap, client_id);
        cluster.refresh(&[]).await?;
        Ok(Admin {
            cluster,
            timeout: Duration::from_secs(30),
        })
    }

    /// The cluster view this client uses.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    fn timeout_ms(&self) -> i32 {
        self.timeout.as_millis().min(i32::MAX as u128) as i32
    }

    /// The controller (for topic changes), or any broker when it is not known.
    async fn controller(&self) -> Result<Connection, ClientError> {
        let md = self.cluster.refresh(&[]).await?;
        if md.brokers.contains_key(&md.controller) {
            if let Ok(c) = self.cluster.broker(md.controller).await {
                return Ok(c);
            }
        }
        self.cluster.any().await
    }

    /// CreateTopics. With `validate_only` the broker checks the request without
    /// creating anything.
    pub async fn create_topics(
        &self,
        topics: &[NewTopic],
        validate_only: bool,
    ) -> Result<ItemResults, ClientError> {
        let conn = self.controller().await?;
        let req = CreateTopicsRequest::default()
            .with_topics(
                topics
                    .iter()
                    .map(|t| {
                        CreatableTopic::default()
                            .with_name(topic_name(&t.name))
                            .with_num_partitions(t.partitions)
                            .with_replication_factor(t.replication_factor)
                            .with_configs(
                                t.configs
                                    .iter()
                                    .map(|(k, v)| {
                                        CreatableTopicConfig::default()
                                            .with_name(s(k))
                                            .with_value(Some(s(v)))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
            .with_timeout_ms(self.timeout_ms())
            .with_validate_only(validate_only);
        let resp = conn.send(req).await?;
        let results = resp
            .topics
            .iter()
            .map(|t| {
                (
                    t.name.0.to_string(),
                    check(t.error_code, t.error_message.as_ref()),
                )
            })
            .collect();
        Ok(results)
    }

    /// Creates one topic; its Kafka error, if any, is the `Err`.
    pub async fn create_topic(&self, topic: NewTopic) -> Result<(), ClientError> {
        let name = topic.name.clone();
        let mut r = self.create_topics(&[topic], false).await?;
        r.remove(&name)
            .unwrap_or_else(|| Err(ClientError::Protocol(format!("no result for topic {name}"))))
    }

    /// DeleteTopics by name.
    pub async fn delete_topics(&self, names: &[&str]) -> Result<ItemResults, ClientError> {
        let conn = self.controller().await?;
        let v = conn.version(ApiKey::DeleteTopics).unwrap_or(0);
        let mut req = DeleteTopicsRequest::default().with_timeout_ms(self.timeout_ms());
        if v >= 6 {
            req = req.with_topics(
                names
                    .iter()
                    .map(|n| DeleteTopicState::default().with_name(Some(topic_name(n))))
                    .collect(),
            );
        } else {
            req = req.with_topic_names(names.iter().map(|n| topic_name(n)).collect());
        }
        let resp = conn.send(req).await?;
        Ok(resp
            .responses
            .iter()
            .map(|r| {
                (
                    r.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
                    check(r.error_code, r.error_message.as_ref()),
                )
            })
            .collect())
    }

    /// CreatePartitions: grows `topic` to `total` partitions.
    pub async fn create_partitions(&self, topic: &str, total: i32) -> Result<(), ClientError> {
        let conn = self.controller().await?;
        let req = CreatePartitionsRequest::default()
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(topic_name(topic))
                .with_count(total)
                .with_assignments(None)])
            .with_timeout_ms(self.timeout_ms())
            .with_validate_only(false);
        let resp = conn.send(req).await?;
        let r = resp
            .results
            .iter()
            .find(|r| *r.name.0 == *topic)
            .ok_or_else(|| ClientError::Protocol(format!("no result for topic {topic}")))?;
        check(r.error_code, r.error_message.as_ref())
    }

    async fn metadata(
        &self,
        topics: Option<&[&str]>,
    ) -> Result<Vec<(TopicInfo, bool)>, ClientError> {
        let conn = self.cluster.any().await?;
        let req = MetadataRequest::default()
            .with_topics(topics.map(|ts| {
                ts.iter()
                    .map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t))))
                    .collect()
            }))
            .with_allow_auto_topic_creation(false);
        let resp = conn.send(req).await?;
        Ok(resp
            .topics
            .iter()
            .map(|t| {
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
                (
                    TopicInfo {
                        name: t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
                        id: t.topic_id,
                        error_code: t.error_code,
                        partitions,
                    },
                    t.is_internal,
                )
            })
            .collect())
    }

    /// Topic names, sorted (internal topics such as `__consumer_offsets` excluded, as
    /// `kafka-topics --list` does without `--exclude-internal=false`).
    pub async fn list_topics(&self) -> Result<Vec<String>, ClientError> {
        let mut names: Vec<String> = self
            .metadata(None)
            .await?
            .into_iter()
            .filter(|(t, internal)| !internal && t.error_code == 0)
            .map(|(t, _)| t.name)
            .collect();
        names.sort();
        Ok(names)
    }

    /// Partitions, leaders, replicas and ISR of each topic (`kafka-topics --describe`),
    /// in the order asked. An unknown topic is an error (UNKNOWN_TOPIC_OR_PARTITION).
    pub async fn describe_topics(&self, names: &[&str]) -> Result<Vec<TopicInfo>, ClientError> {
        let topics = self.metadata(Some(names)).await?;
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let t = topics
                .iter()
                .find(|(t, _)| t.name == *name)
                .ok_or_else(|| ClientError::kafka(3, Some(format!("topic {name}"))))?;
            check(t.0.error_code, None).map_err(|e| match e {
                ClientError::Kafka { code, .. } => {
                    ClientError::kafka(code, Some(format!("topic {name}")))
                }
                e => e,
            })?;
            out.push(t.0.clone());
        }
        Ok(out)
    }

    async fn describe_configs_of(
        &self,
        resource_type: i8,
        name: &str,
    ) -> Result<Vec<ConfigEntry>, ClientError> {
        let conn = if resource_type == RESOURCE_BROKER {
            let node = name.parse::<i32>().unwrap_or(-1);
            self.cluster.broker(node).await?
        } else {
            self.cluster.any().await?
        };
        let req = DescribeConfigsRequest::default()
            .with_resources(vec![DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(s(name))
                .with_configuration_keys(None)])
            .with_include_synonyms(false)
            .with_include_documentation(false);
        let resp = conn.send(req).await?;
        let r = resp
            .results
            .into_iter()
            .next()
            .ok_or_else(|| ClientError::Protocol("empty DescribeConfigs response".into()))?;
        check(r.error_code, r.error_message.as_ref())?;
        let mut entries: Vec<ConfigEntry> = r
            .configs
            .into_iter()
            .map(|c| ConfigEntry {
                name: c.name.to_string(),
                value: c.value.map(|v| v.to_string()),
                read_only: c.read_only,
                source: c.config_source,
                // DEFAULT_CONFIG
                is_default: c.config_source == 5,
                sensitive: c.is_sensitive,
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// A topic's configs (`kafka-configs --describe --entity-type topics --all`).
    pub async fn describe_configs(&self, topic: &str) -> Result<Vec<ConfigEntry>, ClientError> {
        self.describe_configs_of(RESOURCE_TOPIC, topic).await
    }

    /// A broker's configs.
    pub async fn describe_broker_configs(
        &self,
        node: i32,
    ) -> Result<Vec<ConfigEntry>, ClientError> {
        self.describe_configs_of(RESOURCE_BROKER, &node.to_string())
            .await
    }

    /// IncrementalAlterConfigs on a topic (`kafka-configs --alter --add-config k=v`,
    /// `--delete-config k`).
    pub async fn alter_topic_configs(
        &self,
        topic: &str,
        ops: &[(&str, AlterOp)],
    ) -> Result<(), ClientError> {
        let conn = self.controller().await?;
        let req = IncrementalAlterConfigsRequest::default()
            .with_resources(vec![AlterConfigsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(s(topic))
                .with_configs(
                    ops.iter()
                        .map(|(k, op)| {
                            let (code, value) = op.wire();
                            AlterableConfig::default()
                                .with_name(s(k))
                                .with_config_operation(code)
                                .with_value(value.map(s))
                        })
                        .collect(),
                )])
            .with_validate_only(false);
        let resp = conn.send(req).await?;
        let r = resp.responses.first().ok_or_else(|| {
            ClientError::Protocol("empty IncrementalAlterConfigs response".into())
        })?;
        check(r.error_code, r.error_message.as_ref())
    }

    /// ListOffsets on the partition's leader: (offset, timestamp). For `Latest` and
    /// `Earliest` the timestamp is -1; for a timestamp past the last record the offset
    /// is -1, as Kafka answers.
    pub async fn list_offsets(
        &self,
        topic: &str,
        partition: i32,
        spec: OffsetSpec,
    ) -> Result<(i64, i64), ClientError> {
        self.cluster.refresh(&[topic.to_string()]).await?;
        let leader = self.cluster.leader(topic, partition).ok_or_else(|| {
            ClientError::kafka(5, Some(format!("no leader for {topic}-{partition}")))
        })?;
        let conn = self.cluster.broker(leader).await?;
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(0)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_current_leader_epoch(-1)
                    .with_timestamp(spec.wire())])]);
        let resp = conn.send(req).await?;
        let p = resp
            .topics
            .iter()
            .filter(|t| *t.name.0 == *topic)
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == partition)
            .ok_or_else(|| {
                ClientError::Protocol(format!("no ListOffsets result for {topic}-{partition}"))
            })?;
        check(p.error_code, None)?;
        Ok((p.offset, p.timestamp))
    }

    /// Every group on every broker (ListGroups is answered per coordinator).
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>, ClientError> {
        let md = self.cluster.refresh(&[]).await?;
        let mut out = Vec::new();
        for &node in md.brokers.keys() {
            let conn = self.cluster.broker(node).await?;
            let resp = conn.send(ListGroupsRequest::default()).await?;
            check(resp.error_code, None)?;
            let v = conn.version(ApiKey::ListGroups).unwrap_or(0);
            for g in resp.groups {
                out.push(GroupListing {
                    group_id: g.group_id.0.to_string(),
                    protocol_type: g.protocol_type.to_string(),
                    state: (v >= 4).then(|| g.group_state.to_string()),
                    group_type: (v >= 5).then(|| g.group_type.to_string()),
                    coordinator: node,
                });
            }
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(out)
    }

    /// The coordinator of `group` and its node id.
    async fn coordinator(&self, group: &str) -> Result<(Connection, i32), ClientError> {
        let conn = self.cluster.coordinator(group, self.timeout).await?;
        let node = self
            .cluster
            .metadata()
            .brokers
            .iter()
            .find(|(_, addr)| **addr == conn.addr)
            .map_or(-1, |(id, _)| *id);
        Ok((conn, node))
    }

    /// DescribeGroups, each group on its coordinator (`kafka-consumer-groups --describe
    /// --members --verbose`). A group's Kafka error is the `Err`; an unknown group is
    /// described as state "Dead" with no members, as Kafka does.
    pub async fn describe_groups(
        &self,
        groups: &[&str],
    ) -> Result<Vec<GroupDescription>, ClientError> {
        let mut out = Vec::with_capacity(groups.len());
        for group in groups {
            let (conn, node) = self.coordinator(group).await?;
            let req = DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(s(group))])
                .with_include_authorized_operations(false);
            let resp = conn.send(req).await?;
            let g = resp
                .groups
                .into_iter()
                .next()
                .ok_or_else(|| ClientError::Protocol("empty DescribeGroups response".into()))?;
            check(g.error_code, g.error_message.as_ref())?;
            let consumer = g.protocol_type.as_str() == "consumer";
            let members = g
                .members
                .into_iter()
                .map(|m| {
                    let (subscription, assignment) = if consumer {
                        (
                            decode_versioned::<ConsumerProtocolSubscription>(&m.member_metadata)
                                .map(|s| s.topics.iter().map(|t| t.to_string()).collect())
                                .unwrap_or_default(),
                            decode_versioned::<ConsumerProtocolAssignment>(&m.member_assignment)
                                .map(|a| {
                                    a.assigned_partitions
                                        .into_iter()
                                        .map(|tp| (tp.topic.0.to_string(), tp.partitions))
                                        .collect()
                                })
                                .unwrap_or_default(),
                        )
                    } else {
                        (Vec::new(), BTreeMap::new())
                    };
                    MemberDescription {
                        member_id: m.member_id.to_string(),
                        group_instance_id: m.group_instance_id.map(|i| i.to_string()),
                        client_id: m.client_id.to_string(),
                        client_host: m.client_host.to_string(),
                        subscription,
                        assignment,
                        raw_assignment: m.member_assignment,
                    }
                })
                .collect();
            out.push(GroupDescription {
                group_id: g.group_id.0.to_string(),
                state: g.group_state.to_string(),
                protocol_type: g.protocol_type.to_string(),
                protocol: g.protocol_data.to_string(),
                members,
                coordinator: node,
            });
        }
        Ok(out)
    }

    /// Committed offsets of `group` (OffsetFetch for all topics), by (topic, partition).
    pub async fn list_group_offsets(
        &self,
        group: &str,
    ) -> Result<BTreeMap<(String, i32), i64>, ClientError> {
        let (conn, _) = self.coordinator(group).await?;
        let v = conn.version(ApiKey::OffsetFetch).unwrap_or(0);
        let mut out = BTreeMap::new();
        if v >= 8 {
            let req =
                OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s(group)))
                    .with_topics(None)]);
            let resp = conn.send(req).await?;
            for g in resp.groups {
                check(g.error_code, None)?;
                for t in g.topics {
                    for p in t.partitions {
                        check(p.error_code, None)?;
                        if p.committed_offset >= 0 {
                            out.insert(
                                (t.name.0.to_string(), p.partition_index),
                                p.committed_offset,
                            );
                        }
                    }
                }
            }
        } else {
            // v2+ accepts a null topic list for "all topics".
            let req = OffsetFetchRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_topics(None::<Vec<OffsetFetchRequestTopic>>);
            let resp = conn.send(req).await?;
            check(resp.error_code, None)?;
            for t in resp.topics {
                for p in t.partitions {
                    check(p.error_code, None)?;
                    if p.committed_offset >= 0 {
                        out.insert(
                            (t.name.0.to_string(), p.partition_index),
                            p.committed_offset,
                        );
                    }
                }
            }
        }
        Ok(out)
    }

    /// Sets `group`'s committed offsets, (topic, partition, next offset to consume), as
    /// `kafka-consumer-groups.sh --reset-offsets --execute` (and the Java admin's
    /// `alterConsumerGroupOffsets`) do: an OffsetCommit from outside the group protocol
    /// (generation -1, no member id), which the coordinator accepts only while the
    /// group has no members (else UNKNOWN_MEMBER_ID, 25).
    pub async fn alter_group_offsets(
        &self,
        group: &str,
        offsets: &[(String, i32, i64)],
    ) -> Result<(), ClientError> {
        let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for (t, p, o) in offsets {
            topics.entry(t.as_str()).or_default().push(
                OffsetCommitRequestPartition::default()
                    .with_partition_index(*p)
                    .with_committed_offset(*o)
                    .with_committed_leader_epoch(-1)
                    .with_committed_metadata(Some(s(""))),
            );
        }
        let req = OffsetCommitRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(s(""))
            .with_retention_time_ms(-1)
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetCommitRequestTopic::default()
                            .with_name(topic_name(t))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let (conn, _) = self.coordinator(group).await?;
        let resp = conn.send(req).await?;
        for t in resp.topics {
            for p in t.partitions {
                check(p.error_code, None)?;
            }
        }
        Ok(())
    }

    /// DeleteGroups, each on its coordinator; a group with members fails with
    /// NON_EMPTY_GROUP (68).
    pub async fn delete_groups(&self, groups: &[&str]) -> Result<ItemResults, ClientError> {
        let mut out = BTreeMap::new();
        for group in groups {
            let (conn, _) = self.coordinator(group).await?;
            let resp = conn
                .send(DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(group))]))
                .await?;
            for r in resp.results {
                out.insert(r.group_id.0.to_string(), check(r.error_code, None));
            }
        }
        Ok(out)
    }
}
