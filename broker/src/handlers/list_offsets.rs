//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3), earliest local (-4), or
//! the first offset whose timestamp is at or after a given time.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse, RequestHeader};

use crate::broker::Broker;
use crate::protocol::errors;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;

pub async fn handle(
    broker: &Broker,
    h: &RequestHeader,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    // leader_epoch exists from v4 on; older versions must leave it at its default.
    let with_epoch = h.request_api_version >= 4;
    let topics = req
        .topics
        .into_iter()
        .map(|lt| {
            let topic = broker.topics.get(lt.name.0.as_str());
            let partitions = lt
                .partitions
                .into_iter()
                .map(|lp| {
                    let resp = ListOffsetsPartitionResponse::default()
                        .with_partition_index(lp.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1)
                        .with_leader_epoch(if with_epoch { 0 } else { -1 });
                    let Some(partition) =
                        topic.as_ref().and_then(|t| t.partition(lp.partition_index))
                    else {
                        let code = match broker.cluster() {
                            Some(c) if c.read(|m| m.topics.contains_key(lt.name.0.as_str())) => {
                                errors::NOT_LEADER_OR_FOLLOWER
                            }
                            _ => errors::UNKNOWN_TOPIC_OR_PARTITION,
                        };
                        broker.metrics.error("ListOffsets", code);
                        return resp.with_error_code(code);
                    };
                    let (leader, replicated, epoch) = {
                        let r = partition.replica.lock();
                        (r.is_leader(), r.isr().is_some(), r.leader_epoch())
                    };
                    let resp = if with_epoch {
                        resp.with_leader_epoch(epoch)
                    } else {
                        resp
                    };
                    if !leader {
                        broker
                            .metrics
                            .error("ListOffsets", errors::NOT_LEADER_OR_FOLLOWER);
                        return resp.with_error_code(errors::NOT_LEADER_OR_FOLLOWER);
                    }
                    // Consumers see up to the high watermark (the log end on one node).
                    let hw = replicated.then(|| partition.high_watermark());
                    let found = partition.inspect(|log| match lp.timestamp {
                        LATEST => Ok(Some((hw.unwrap_or(log.log_end_offset()), -1))),
                        EARLIEST | EARLIEST_LOCAL => Ok(Some((log.log_start_offset(), -1))),
                        MAX_TIMESTAMP => log.max_timestamp(),
                        ts if ts >= 0 => log.offset_for_timestamp(ts),
                        _ => Ok(None),
                    });
                    match found {
                        Ok(Some((offset, ts))) => resp.with_offset(offset).with_timestamp(ts),
                        Ok(None) if lp.timestamp < MAX_TIMESTAMP - 1 => {
                            broker.metrics.error("ListOffsets", errors::INVALID_REQUEST);
                            resp.with_error_code(errors::INVALID_REQUEST)
                        }
                        Ok(None) => resp,
                        Err(e) => {
                            tracing::error!("ListOffsets read failed: {e}");
                            broker
                                .metrics
                                .error("ListOffsets", errors::UNKNOWN_SERVER_ERROR);
                            resp.with_error_code(errors::UNKNOWN_SERVER_ERROR)
                        }
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(lt.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
