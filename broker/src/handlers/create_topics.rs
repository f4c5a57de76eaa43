//! CreateTopics (with validate_only), including manual replica assignments.

use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, RequestHeader};

use super::s;
use crate::broker::Broker;
use crate::cluster::command::Command;
use crate::cluster::controller::Controller;
use crate::config::TopicConfig;
use crate::protocol::errors;
use crate::topics::TopicError;

pub async fn handle(
    broker: &Broker,
    _h: &RequestHeader,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let node = broker.node_id();
    let mut topics = Vec::new();
    for ct in req.topics {
        let entry = {
            let name = ct.name.0.to_string();
            let mut config = TopicConfig::default();
            for c in &ct.configs {
                if let Some(v) = &c.value {
                    config.overrides.insert(c.name.to_string(), v.to_string());
                }
            }
            let (mut partitions, mut rf) = (ct.num_partitions, ct.replication_factor);
            let mut result = Ok(());
            let mut assignment = None;
            if !ct.assignments.is_empty() {
                if partitions != -1 || rf != -1 {
                    result = Err(TopicError {
                        code: errors::INVALID_REQUEST,
                        message: "Both numPartitions or replicationFactor and replicasAssignments were set.".into(),
                    });
                }
                partitions = ct.assignments.len() as i32;
                rf = ct.assignments[0].broker_ids.len() as i16;
                if broker.cluster().is_some() {
                    assignment = Some(
                        ct.assignments
                            .iter()
                            .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
                            .collect(),
                    );
                } else if ct
                    .assignments
                    .iter()
                    .any(|a| a.broker_ids.iter().any(|b| b.0 != node))
                {
                    result = Err(TopicError {
                        code: errors::INVALID_REPLICA_ASSIGNMENT,
                        message: format!("Replica assignment names a broker other than {node}."),
                    });
                }
            }
            let result = match (result, broker.cluster()) {
                (Err(e), _) => Err(e),
                (Ok(()), None) => broker
                    .topics
                    .create(
                        &broker.config,
                        &name,
                        partitions,
                        rf,
                        config.clone(),
                        req.validate_only,
                    )
                    .map(|t| (t.map(|t| t.id), rf)),
                (Ok(()), Some(c)) => {
                    let cmd = Command::CreateTopic {
                        name: name.clone(),
                        partitions,
                        replication_factor: rf,
                        assignment,
                        config: config.clone(),
                        validate_only: req.validate_only,
                    };
                    create_in_cluster(c, cmd, &name, &config, req.validate_only).await
                }
            };
            let out = CreatableTopicResult::default().with_name(ct.name.clone());
            match result {
                Ok((created, rf)) => {
                    let rf = if rf == -1 {
                        broker.config.default_replication_factor
                    } else {
                        rf
                    };
                    let effective_partitions = if partitions == -1 {
                        broker.config.num_partitions
                    } else {
                        partitions
                    };
                    let configs = config
                        .describe(&broker.config)
                        .into_iter()
                        .map(|(k, v, set)| {
                            CreatableTopicConfigs::default()
                                .with_name(s(k))
                                .with_value(Some(s(v)))
                                .with_config_source(if set { 1 } else { 5 })
                        })
                        .collect();
                    out.with_topic_id(created.unwrap_or_default())
                        .with_num_partitions(effective_partitions)
                        .with_replication_factor(rf)
                        .with_configs(Some(configs))
                }
                Err(e) => {
                    broker.metrics.error("CreateTopics", e.code);
                    out.with_error_code(e.code)
                        .with_error_message(Some(s(e.message)))
                        .with_num_partitions(-1)
                        .with_replication_factor(-1)
                }
            }
        };
        topics.push(entry);
    }
    CreateTopicsResponse::default().with_topics(topics)
}

/// Creation in a cluster: validated here, placed and recorded by the controller.
async fn create_in_cluster(
    c: &Controller,
    cmd: Command,
    name: &str,
    config: &TopicConfig,
    validate_only: bool,
) -> Result<(Option<uuid::Uuid>, i16), TopicError> {
    for (k, v) in &config.overrides {
        TopicConfig::validate_entry(k, v).map_err(|m| TopicError {
            code: errors::INVALID_CONFIG,
            message: m,
        })?;
    }
    crate::topics::validate_name(name)?;
    let reply = c.writer().submit(cmd).await.map_err(|e| TopicError {
        code: e.code(),
        message: e.to_string(),
    })?;
    let t = reply.topic().ok_or_else(|| TopicError {
        code: errors::UNKNOWN_SERVER_ERROR,
        message: "the controller answered without the topic".into(),
    })?;
    let rf = t.replication_factor() as i16;
    Ok(((!validate_only).then_some(t.id), rf))
}
