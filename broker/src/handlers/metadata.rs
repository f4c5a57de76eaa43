//! Metadata: brokers, topics and partitions (this broker leads every partition), with
//! topic auto-creation when `auto.create.topics.enable` and the client allow it.

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
                Err(code) => {
                    broker.metrics.error("Metadata", code);
                    MetadataResponseTopic::default()
                        .with_error_code(code)
                        .with_name(wanted.name.clone())
                        .with_topic_id(wanted.topic_id)
                        .with_topic_authorized_operations(i32::MIN)
                }
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
