//! Reading the consumer protocol's embedded subscription (the "consumer" protocol type's
//! JoinGroup metadata), only where the coordinator must know the topics.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription};
use kafka_protocol::protocol::Decodable;

/// Topics a member subscribes to; empty if the metadata is not consumer-protocol.
pub fn subscription_topics(metadata: &Bytes) -> Vec<String> {
    let mut buf = metadata.clone();
    if buf.remaining() < 2 {
        return Vec::new();
    }
    let version = buf.get_i16();
    let version = version.clamp(0, 3);
    ConsumerProtocolSubscription::decode(&mut buf, version)
        .map(|s| s.topics.iter().map(|t| t.to_string()).collect())
        .unwrap_or_default()
}

/// (topic, partitions) a member was assigned; empty if not consumer-protocol.
pub fn assigned_partitions(assignment: &Bytes) -> Vec<(String, Vec<i32>)> {
    let mut buf = assignment.clone();
    if buf.remaining() < 2 {
        return Vec::new();
    }
    let version = buf.get_i16().clamp(0, 3);
    ConsumerProtocolAssignment::decode(&mut buf, version)
        .map(|a| {
            a.assigned_partitions
                .iter()
                .map(|tp| (tp.topic.0.to_string(), tp.partitions.clone()))
                .collect()
        })
        .unwrap_or_default()
}
