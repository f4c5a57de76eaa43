//! ConsumerGroupHeartbeat (KIP-848): the new consumer protocol, with server-side
//! assignment (`group.protocol=consumer` in librdkafka ≥ 2.4 / Java ≥ 3.7).

use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, RequestHeader,
};

use super::s;
use crate::broker::Broker;
use crate::group::consumer_group::HeartbeatRequest;
use crate::protocol::errors;

pub async fn handle(
    broker: &Broker,
    h: &RequestHeader,
    req: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let group = req.group_id.0.to_string();
    if group.is_empty() {
        broker
            .metrics
            .error("ConsumerGroupHeartbeat", errors::INVALID_REQUEST);
        return ConsumerGroupHeartbeatResponse::default()
            .with_error_code(errors::INVALID_REQUEST)
            .with_error_message(Some(s("empty group id")));
    }
    let hb = HeartbeatRequest {
        member_id: req.member_id.to_string(),
        member_epoch: req.member_epoch,
        instance_id: req.instance_id.as_ref().map(|x| x.to_string()),
        client_id: h
            .client_id
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        client_host: String::new(),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        subscribed: req
            .subscribed_topic_names
            .as_ref()
            .map(|ts| ts.iter().map(|t| t.0.to_string()).collect()),
        assignor: req.server_assignor.as_ref().map(|x| x.to_string()),
        owned: req.topic_partitions.as_ref().map(|tps| {
            tps.iter()
                .flat_map(|tp| tp.partitions.iter().map(move |p| (tp.topic_id, *p)))
                .collect()
        }),
    };
    let lookup = |name: &str| broker.topics.get(name).map(|t| (t.id, t.partition_count()));
    let r = broker.groups.consumer_heartbeat(&group, hb, &lookup);
    broker.metrics.error("ConsumerGroupHeartbeat", r.error_code);
    let assignment = r.assignment.map(|set| {
        let mut by_topic: Vec<TopicPartitions> = Vec::new();
        for (topic, p) in set {
            match by_topic.last_mut() {
                Some(last) if last.topic_id == topic => last.partitions.push(p),
                _ => by_topic.push(
                    TopicPartitions::default()
                        .with_topic_id(topic)
                        .with_partitions(vec![p]),
                ),
            }
        }
        Assignment::default().with_topic_partitions(by_topic)
    });
    ConsumerGroupHeartbeatResponse::default()
        .with_error_code(r.error_code)
        .with_error_message(r.error_message.map(s))
        .with_member_id(Some(s(r.member_id)))
        .with_member_epoch(r.member_epoch)
        .with_heartbeat_interval_ms(r.heartbeat_interval_ms)
        .with_assignment(assignment)
}
