//! OffsetCommit: stores a group's positions after checking member and generation.

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse, RequestHeader};

use crate::broker::Broker;
use crate::cluster::command::Command;
use crate::group::offsets::Committed;
use crate::protocol::errors;

/// Kafka's `offset.metadata.max.bytes` default.
const MAX_METADATA: usize = 4096;

pub async fn handle(
    broker: &Broker,
    _h: &RequestHeader,
    req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let group = req.group_id.0.to_string();
    let instance = req.group_instance_id.as_ref().map(|i| i.to_string());
    let group_code = if group.is_empty() {
        errors::INVALID_GROUP_ID
    } else {
        broker.groups.validate_commit(
            &group,
            req.member_id.as_str(),
            instance.as_deref(),
            req.generation_id_or_member_epoch,
        )
    };
    let now = broker.groups.now_wall_ms();
    let mut accepted = Vec::new();
    let mut topics: Vec<OffsetCommitResponseTopic> = req
        .topics
        .iter()
        .map(|t| {
            let topic = broker.topics.get(t.name.0.as_str());
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let code = if group_code != 0 {
                        group_code
                    } else if topic
                        .as_ref()
                        .and_then(|x| x.partition(p.partition_index))
                        .is_none()
                    {
                        errors::UNKNOWN_TOPIC_OR_PARTITION
                    } else if p
                        .committed_metadata
                        .as_ref()
                        .is_some_and(|m| m.len() > MAX_METADATA)
                    {
                        errors::OFFSET_METADATA_TOO_LARGE
                    } else {
                        accepted.push((
                            t.name.0.to_string(),
                            p.partition_index,
                            Committed {
                                offset: p.committed_offset,
                                leader_epoch: p.committed_leader_epoch,
                                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                                commit_ms: now,
                            },
                        ));
                        0
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    let mut recorded = true;
    if !accepted.is_empty() {
        if let Some(c) = broker.cluster() {
            let cmd = Command::CommitOffsets {
                group: group.clone(),
                entries: accepted.clone(),
            };
            if let Err(e) = c.writer().submit(cmd).await {
                // Not replicated: the client retries (the coordinator's copy alone
                // would be lost when the group moves).
                tracing::warn!(group, "offset commit not recorded by the controller: {e}");
                for t in &mut topics {
                    for p in &mut t.partitions {
                        if p.error_code == 0 {
                            p.error_code = errors::COORDINATOR_NOT_AVAILABLE;
                        }
                    }
                }
                recorded = false;
            }
        }
    }
    if recorded && !accepted.is_empty() {
        if let Err(e) = broker.groups.commit(&group, accepted) {
            tracing::error!(group, "offset commit failed: {e}");
            for t in &mut topics {
                for p in &mut t.partitions {
                    if p.error_code == 0 {
                        p.error_code = errors::UNKNOWN_SERVER_ERROR;
                    }
                }
            }
        }
    }
    for t in &topics {
        for p in &t.partitions {
            broker.metrics.error("OffsetCommit", p.error_code);
        }
    }
    OffsetCommitResponse::default().with_topics(topics)
}
