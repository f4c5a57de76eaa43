//! OffsetForLeaderEpoch (KIP-101 / KIP-279 / KIP-320): where a given leader epoch ends
//! in this leader's log. Followers ask it before fetching from a new leader to find
//! where their log diverges; consumers (librdkafka, the Java client) ask it after a
//! leader change to validate their fetch position.
//!
//! As Kafka's `Partition.lastOffsetForLeaderEpoch`: `current_leader_epoch` (when not
//! -1) must equal this replica's epoch (older: FENCED_LEADER_EPOCH, newer:
//! UNKNOWN_LEADER_EPOCH); then only the leader answers (NOT_LEADER_OR_FOLLOWER), except
//! for `replica_id` -2, a debugging client that may read any replica. The answer comes
//! from the leader epoch cache; (-1, -1) when it knows no such epoch.

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, RequestHeader,
};

use crate::broker::Broker;
use crate::protocol::errors;
use crate::replication::epoch_cache::{UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};

/// `replica_id` of a debugging client allowed to read a follower (Kafka's
/// `DEBUGGING_REPLICA_ID`).
const DEBUGGING_REPLICA_ID: i32 = -2;
const API: &str = "OffsetForLeaderEpoch";

pub async fn handle(
    broker: &Broker,
    h: &RequestHeader,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    // replica_id exists from v3 on (a v2 request decodes it as the schema default, -2):
    // only a v3+ request can ask a follower.
    let leader_only = !(h.request_api_version >= 3 && req.replica_id.0 == DEBUGGING_REPLICA_ID);
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.topic.0.as_str();
            let topic = broker.topics.get(name);
            let partitions = t
                .partitions
                .into_iter()
                .map(|op| {
                    let base = EpochEndOffset::default()
                        .with_partition(op.partition)
                        .with_leader_epoch(UNDEFINED_EPOCH)
                        .with_end_offset(UNDEFINED_EPOCH_OFFSET);
                    let Some(partition) = topic.as_ref().and_then(|t| t.partition(op.partition))
                    else {
                        let code = match broker.cluster() {
                            Some(c) if c.read(|m| m.topics.contains_key(name)) => {
                                errors::NOT_LEADER_OR_FOLLOWER
                            }
                            _ => errors::UNKNOWN_TOPIC_OR_PARTITION,
                        };
                        broker.metrics.error(API, code);
                        return base.with_error_code(code);
                    };
                    let (is_leader, epoch) = {
                        let r = partition.replica.lock();
                        (r.is_leader(), r.leader_epoch())
                    };
                    let code = if op.current_leader_epoch != UNDEFINED_EPOCH
                        && op.current_leader_epoch < epoch
                    {
                        errors::FENCED_LEADER_EPOCH
                    } else if op.current_leader_epoch != UNDEFINED_EPOCH
                        && op.current_leader_epoch > epoch
                    {
                        errors::UNKNOWN_LEADER_EPOCH
                    } else if leader_only && !is_leader {
                        errors::NOT_LEADER_OR_FOLLOWER
                    } else {
                        0
                    };
                    if code != 0 {
                        broker.metrics.error(API, code);
                        return base.with_error_code(code);
                    }
                    let (leader_epoch, end_offset) =
                        partition.end_offset_for_epoch(op.leader_epoch);
                    tracing::debug!(client = ?h.client_id, replica = req.replica_id.0, topic = name, partition = op.partition, asked = op.leader_epoch, leader_epoch, end_offset, "OffsetForLeaderEpoch");
                    base.with_leader_epoch(leader_epoch)
                        .with_end_offset(end_offset)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::offset_for_leader_epoch_request::{
        OffsetForLeaderPartition, OffsetForLeaderTopic,
    };
    use kafka_protocol::messages::{BrokerId, TopicName};
    use kafka_protocol::protocol::StrBytes;

    use crate::cluster::metadata::PartitionMeta;
    use crate::config::BrokerConfig;
    use crate::record_batch::{self, BatchHeader};
    use crate::storage::compaction::tests::batch_with;
    use crate::storage::memory::MemoryStorage;
    use kafka_protocol::records::Compression;

    /// (current_leader_epoch, leader_epoch) per partition of topic `t`.
    fn ask(
        version: i16,
        replica: i32,
        topic: &str,
        parts: &[(i32, i32, i32)],
    ) -> (RequestHeader, OffsetForLeaderEpochRequest) {
        let h = RequestHeader::default().with_request_api_version(version);
        let req = OffsetForLeaderEpochRequest::default()
            .with_replica_id(BrokerId(replica))
            .with_topics(vec![OffsetForLeaderTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(
                    parts
                        .iter()
                        .map(|&(p, current, epoch)| {
                            OffsetForLeaderPartition::default()
                                .with_partition(p)
                                .with_current_leader_epoch(current)
                                .with_leader_epoch(epoch)
                        })
                        .collect(),
                )]);
        (h, req)
    }

    fn answers(resp: &OffsetForLeaderEpochResponse) -> Vec<(i16, i32, i64)> {
        resp.topics[0]
            .partitions
            .iter()
            .map(|p| (p.error_code, p.leader_epoch, p.end_offset))
            .collect()
    }

    /// A broker with topic "t" of 2 partitions: 0 led here at epoch 3 with batches
    /// written in epochs 1 (offsets 0..2) and 3 (2..5); 1 followed here at epoch 3.
    async fn broker() -> std::sync::Arc<Broker> {
        let b = Broker::open(
            BrokerConfig::from_pairs(&[]).expect("config"),
            std::sync::Arc::new(MemoryStorage::new()),
            std::sync::Arc::new(crate::clock::SystemClock),
        )
        .expect("broker");
        b.topics
            .create(&b.config, "t", 2, 1, Default::default(), false)
            .expect("topic");
        let topic = b.topics.get("t").expect("t");
        let meta = |leader| PartitionMeta {
            replicas: vec![0, 1],
            leader: Some(leader),
            leader_epoch: 3,
            isr: vec![0, 1],
            partition_epoch: 3,
        };
        let p0 = topic.partition(0).expect("p0");
        let mut r = crate::cluster::replica::ReplicaState::clustered(0);
        r.apply(Some(&meta(0)), 0, 0, 30_000, 0);
        *p0.replica.lock() = r;
        for (epoch, records) in [(1, 2), (3, 3)] {
            let recs: Vec<_> = (0..records).map(|i| (None, Some("v"), i as i64)).collect();
            let mut batch = batch_with(0, &recs, -1, Compression::None);
            record_batch::set_partition_leader_epoch(&mut batch, epoch);
            let header = BatchHeader::parse(&batch).expect("header");
            p0.append(&mut batch, &header, 0).expect("append");
        }
        let p1 = topic.partition(1).expect("p1");
        let mut r = crate::cluster::replica::ReplicaState::clustered(0);
        r.apply(Some(&meta(1)), 0, 0, 30_000, 0);
        *p1.replica.lock() = r;
        b
    }

    #[tokio::test]
    async fn the_leader_answers_from_its_epoch_cache() {
        let b = broker().await;
        let (h, req) = ask(
            4,
            1,
            "t",
            &[(0, 3, 1), (0, 3, 2), (0, 3, 3), (0, -1, 0), (0, 3, 7)],
        );
        let resp = handle(&b, &h, req).await;
        assert_eq!(
            answers(&resp),
            vec![
                (0, 1, 2),   // epoch 1 ended where epoch 3 began
                (0, 1, 2),   // unknown epoch 2: the largest below it
                (0, 3, 5),   // the current epoch: the log end
                (0, 0, 0),   // older than anything cached: where the first epoch starts
                (0, -1, -1), // newer than anything known
            ]
        );
    }

    #[tokio::test]
    async fn served_over_the_wire_at_v2_to_v4_and_advertised() {
        use bytes::{Buf, BufMut, BytesMut};
        use kafka_protocol::messages::{ApiKey, ResponseHeader};
        use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};

        let b = broker().await;
        let advertised = crate::handlers::api_versions::response(0)
            .api_keys
            .into_iter()
            .find(|k| k.api_key == ApiKey::OffsetForLeaderEpoch as i16)
            .map(|k| (k.min_version, k.max_version));
        assert_eq!(advertised, Some((2, 4)));
        for version in [1i16, 2, 3, 4, 5] {
            let (_, req) = ask(version, 1, "t", &[(0, 3, 1), (1, 3, 1)]);
            let header = RequestHeader::default()
                .with_request_api_key(ApiKey::OffsetForLeaderEpoch as i16)
                .with_request_api_version(version)
                .with_correlation_id(7)
                .with_client_id(Some(StrBytes::from_static_str("wire-test")));
            let mut frame = BytesMut::new();
            let hv = OffsetForLeaderEpochRequest::header_version(version.clamp(2, 4));
            header.encode(&mut frame, hv).expect("header");
            if (2..=4).contains(&version) {
                req.encode(&mut frame, version).expect("body");
            } else {
                frame.put_i32(0);
            }
            let out = crate::handlers::router::handle(&b, frame.freeze(), "test").await;
            if !(2..=4).contains(&version) {
                assert!(out.is_err(), "v{version} must be refused");
                continue;
            }
            let mut resp = out.expect("routed").expect("a response").freeze();
            let size = resp.get_i32();
            assert_eq!(size as usize, resp.len());
            let rh = ResponseHeader::decode(
                &mut resp,
                OffsetForLeaderEpochResponse::header_version(version),
            )
            .expect("response header");
            assert_eq!(rh.correlation_id, 7);
            let body = OffsetForLeaderEpochResponse::decode(&mut resp, version).expect("body");
            assert_eq!(
                answers(&body),
                vec![(0, 1, 2), (errors::NOT_LEADER_OR_FOLLOWER, -1, -1)],
                "v{version}"
            );
        }
    }

    #[tokio::test]
    async fn epochs_are_fenced_and_only_the_leader_answers() {
        let b = broker().await;
        let (h, req) = ask(
            4,
            1,
            "t",
            &[(0, 2, 1), (0, 4, 1), (1, 3, 1), (1, 2, 1), (7, 3, 1)],
        );
        let resp = handle(&b, &h, req).await;
        assert_eq!(
            answers(&resp),
            vec![
                (errors::FENCED_LEADER_EPOCH, -1, -1),
                (errors::UNKNOWN_LEADER_EPOCH, -1, -1),
                (errors::NOT_LEADER_OR_FOLLOWER, -1, -1),
                (errors::FENCED_LEADER_EPOCH, -1, -1),
                (errors::UNKNOWN_TOPIC_OR_PARTITION, -1, -1),
            ]
        );
        // A debugging client (replica id -2, v3+) may ask a follower.
        let (h, req) = ask(3, -2, "t", &[(1, 3, 1)]);
        assert_eq!(answers(&handle(&b, &h, req).await), vec![(0, -1, -1)]);
        let (h, req) = ask(4, 1, "nope", &[(0, -1, 1)]);
        assert_eq!(
            answers(&handle(&b, &h, req).await),
            vec![(errors::UNKNOWN_TOPIC_OR_PARTITION, -1, -1)]
        );
    }
}
