//! OffsetDelete: removes committed offsets of partitions the group no longer consumes.

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse, RequestHeader};

use crate::broker::Broker;
use crate::cluster::command::Command;
use crate::protocol::errors;

pub async fn handle(
    broker: &Broker,
    _h: &RequestHeader,
    req: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let group = req.group_id.0.to_string();
    if broker.groups.snapshot(&group).is_none() && !broker.groups.offsets.has_offsets(&group) {
        broker
            .metrics
            .error("OffsetDelete", errors::GROUP_ID_NOT_FOUND);
        return OffsetDeleteResponse::default().with_error_code(errors::GROUP_ID_NOT_FOUND);
    }
    let now = broker.groups.now_wall_ms();
    let mut deleted = Vec::new();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let subscribed = broker.groups.subscribed(&group, &name);
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let code = if subscribed {
                        errors::GROUP_SUBSCRIBED_TO_TOPIC
                    } else if broker
                        .topics
                        .get(&name)
                        .and_then(|x| x.partition(p.partition_index))
                        .is_none()
                    {
                        errors::UNKNOWN_TOPIC_OR_PARTITION
                    } else {
                        deleted.push((name.clone(), p.partition_index));
                        match broker.groups.offsets.delete(
                            &group,
                            Some(&[(name.clone(), p.partition_index)]),
                            now,
                        ) {
                            Ok(_) => 0,
                            Err(e) => {
                                tracing::error!("offset delete failed: {e}");
                                errors::UNKNOWN_SERVER_ERROR
                            }
                        }
                    };
                    broker.metrics.error("OffsetDelete", code);
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    if let (Some(c), false) = (broker.cluster(), deleted.is_empty()) {
        let cmd = Command::DeleteOffsets {
            group,
            partitions: Some(deleted),
        };
        if let Err(e) = c.writer().submit(cmd).await {
            tracing::warn!("dropping offsets in the cluster failed: {e}");
        }
    }
    OffsetDeleteResponse::default().with_topics(topics)
}
