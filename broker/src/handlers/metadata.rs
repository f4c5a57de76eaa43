//! Metadata: brokers, topics and partitions (a single-node broker leads every
//! partition; a cluster node answers from the controller's metadata), with topic
//! auto-creation when `auto.create.topics.enable` and the client allow it.

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, MetadataRequest, MetadataResponse, RequestHeader, TopicName,
};

use super::s;
use crate::broker::Broker;
use crate::config::TopicConfig;
use crate::protocol::errors;
use crate::topics::Topic;

pub async fn handle(broker: &Broker, h: &RequestHeader, req: MetadataRequest) -> MetadataResponse {
    if let Some(c) = broker.cluster() {
        return cluster::handle(broker, c, h, req).await;
    }
    let version = h.request_api_version;
    let node = broker.node_id();
    let (host, port) = broker.advertised();
    let all = match &req.topics {
        None => true,
        Some(list) => version == 0 && list.is_empty(),
    };
    // Before v4 there was no flag and brokers always auto-created.
    let auto_create =
        broker.config.auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
    let mut topics = Vec::new();
    if all {
        topics.extend(broker.topics.all().iter().map(|t| describe(t, node)));
    } else {
        for wanted in req.topics.iter().flatten() {
            let topic = match &wanted.name {
                Some(name) => lookup_or_create(broker, name.0.as_str(), auto_create),
                None => broker
                    .topics
                    .by_id(wanted.topic_id)
                    .ok_or(errors::UNKNOWN_TOPIC_ID),
            };
            let entry = match topic {
                Ok(t) => describe(&t, node),
                Err(code) => unknown_topic(broker, code, wanted),
            };
            topics.push(entry);
        }
    }
    MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(BrokerId(node))
            .with_host(s(host))
            .with_port(port as i32)])
        .with_cluster_id(Some(s(broker.cluster_id.clone())))
        .with_controller_id(BrokerId(node))
        .with_topics(topics)
        .with_cluster_authorized_operations(i32::MIN)
}

fn lookup_or_create(
    broker: &Broker,
    name: &str,
    auto_create: bool,
) -> Result<std::sync::Arc<Topic>, i16> {
    if let Some(t) = broker.topics.get(name) {
        return Ok(t);
    }
    if let Err(e) = crate::topics::validate_name(name) {
        return Err(e.code);
    }
    if !auto_create {
        return Err(errors::UNKNOWN_TOPIC_OR_PARTITION);
    }
    match broker
        .topics
        .create(&broker.config, name, -1, -1, TopicConfig::default(), false)
    {
        Ok(Some(t)) => {
            tracing::info!(topic = name, "auto-created topic");
            Ok(t)
        }
        Ok(None) => Err(errors::UNKNOWN_SERVER_ERROR),
        // Lost a race with another creator: the topic now exists.
        Err(e) if e.code == errors::TOPIC_ALREADY_EXISTS => {
            broker.topics.get(name).ok_or(errors::LEADER_NOT_AVAILABLE)
        }
        Err(e) => Err(e.code),
    }
}

fn describe(topic: &Topic, node: i32) -> MetadataResponseTopic {
    let partitions = (0..topic.partition_count())
        .map(|i| {
            MetadataResponsePartition::default()
                .with_partition_index(i)
                .with_leader_id(BrokerId(node))
                .with_leader_epoch(0)
                .with_replica_nodes(vec![BrokerId(node)])
                .with_isr_nodes(vec![BrokerId(node)])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(s(topic.name.to_string()))))
        .with_topic_id(topic.id)
        .with_partitions(partitions)
        .with_topic_authorized_operations(i32::MIN)
}

/// Metadata of a cluster node: every live broker, and per partition its leader (-1 with
/// LEADER_NOT_AVAILABLE when offline), leader epoch, replicas, ISR and offline replicas.
pub(crate) mod cluster {
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::{
        BrokerId, MetadataRequest, MetadataResponse, RequestHeader, TopicName,
    };

    use super::{s, unknown_topic};
    use crate::broker::Broker;
    use crate::cluster::command::Command;
    use crate::cluster::controller::Controller;
    use crate::cluster::metadata::{ClusterMetadata, TopicMeta};
    use crate::config::TopicConfig;
    use crate::protocol::errors;

    pub async fn handle(
        broker: &Broker,
        c: &Controller,
        h: &RequestHeader,
        req: MetadataRequest,
    ) -> MetadataResponse {
        let version = h.request_api_version;
        let all = match &req.topics {
            None => true,
            Some(list) => version == 0 && list.is_empty(),
        };
        let auto_create =
            broker.config.auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
        if !all && auto_create {
            for wanted in req.topics.iter().flatten() {
                if let Some(name) = &wanted.name {
                    let name = name.0.as_str();
                    let known = c.read(|m| m.topics.contains_key(name));
                    if !known && crate::topics::validate_name(name).is_ok() {
                        let cmd = Command::CreateTopic {
                            name: name.to_string(),
                            partitions: -1,
                            replication_factor: -1,
                            assignment: None,
                            config: TopicConfig::default(),
                            validate_only: false,
                        };
                        match c.writer().submit(cmd).await {
                            Ok(_) => tracing::info!(topic = name, "auto-created topic"),
                            Err(e) => tracing::debug!(topic = name, "auto-create failed: {e}"),
                        }
                    }
                }
            }
        }
        c.read(|m| {
            let mut topics = Vec::new();
            if all {
                topics.extend(m.topics.values().map(|t| describe(m, t)));
            } else {
                for wanted in req.topics.iter().flatten() {
                    let found = match &wanted.name {
                        Some(name) => m.topics.get(name.0.as_str()).ok_or_else(|| {
                            match crate::topics::validate_name(name.0.as_str()) {
                                Err(e) => e.code,
                                // Auto-creation failed (e.g. too few brokers for the
                                // default replication factor): retriable, as in Kafka.
                                Ok(()) if auto_create => errors::LEADER_NOT_AVAILABLE,
                                Ok(()) => errors::UNKNOWN_TOPIC_OR_PARTITION,
                            }
                        }),
                        None => m
                            .topics
                            .values()
                            .find(|t| t.id == wanted.topic_id)
                            .ok_or(errors::UNKNOWN_TOPIC_ID),
                    };
                    topics.push(match found {
                        Ok(t) => describe(m, t),
                        Err(code) => unknown_topic(broker, code, wanted),
                    });
                }
            }
            let brokers = m
                .live_nodes()
                .into_iter()
                .map(|n| {
                    MetadataResponseBroker::default()
                        .with_node_id(BrokerId(n.id))
                        .with_host(s(n.host.clone()))
                        .with_port(i32::from(n.port))
                })
                .collect();
            MetadataResponse::default()
                .with_brokers(brokers)
                .with_cluster_id(Some(s(c.cluster_id.clone())))
                .with_controller_id(BrokerId(controller_id(broker, c, m)))
                .with_topics(topics)
                .with_cluster_authorized_operations(i32::MIN)
        })
    }

    /// In one process, the active controller. Across processes, this node, as a KRaft
    /// broker answers: clients cannot reach the controllers, and any broker takes
    /// their admin requests to the active controller (a voter that died or lost the
    /// majority would only make clients wait on it).
    pub(crate) fn controller_id(broker: &Broker, c: &Controller, m: &ClusterMetadata) -> i32 {
        if c.is_remote() {
            broker.node_id()
        } else {
            m.quorum.controller.unwrap_or(-1)
        }
    }

    fn ids(v: &[i32]) -> Vec<BrokerId> {
        v.iter().copied().map(BrokerId).collect()
    }

    fn describe(m: &ClusterMetadata, t: &TopicMeta) -> MetadataResponseTopic {
        let partitions = t
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let offline: Vec<i32> = p
                    .replicas
                    .iter()
                    .copied()
                    .filter(|&r| !m.is_alive(r))
                    .collect();
                let leader = p.leader.filter(|&l| m.is_alive(l));
                MetadataResponsePartition::default()
                    .with_error_code(if leader.is_some() {
                        0
                    } else {
                        errors::LEADER_NOT_AVAILABLE
                    })
                    .with_partition_index(i as i32)
                    .with_leader_id(BrokerId(leader.unwrap_or(-1)))
                    .with_leader_epoch(p.leader_epoch)
                    .with_replica_nodes(ids(&p.replicas))
                    .with_isr_nodes(ids(&p.isr))
                    .with_offline_replicas(ids(&offline))
            })
            .collect();
        MetadataResponseTopic::default()
            .with_name(Some(TopicName(s(t.name.to_string()))))
            .with_topic_id(t.id)
            .with_partitions(partitions)
            .with_topic_authorized_operations(i32::MIN)
    }
}

/// The answer for a requested topic that cannot be described (counted as an error).
fn unknown_topic(
    broker: &Broker,
    code: i16,
    wanted: &kafka_protocol::messages::metadata_request::MetadataRequestTopic,
) -> MetadataResponseTopic {
    broker.metrics.error("Metadata", code);
    MetadataResponseTopic::default()
        .with_error_code(code)
        .with_name(wanted.name.clone())
        .with_topic_id(wanted.topic_id)
        .with_topic_authorized_operations(i32::MIN)
}
