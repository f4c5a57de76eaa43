//! Every API at every version the broker advertises must produce a response that
//! encodes at that version: fields that an older version does not have must be left at
//! their defaults. Requests are built with success and error paths (known and unknown
//! topics, invalid names, groups) so most response fields get exercised.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};
use kafkalab_broker::clock::ManualClock;
use kafkalab_broker::config::TopicConfig;
use kafkalab_broker::handlers::router;
use kafkalab_broker::protocol::versions;
use kafkalab_broker::record_batch::{build, BatchSpec};
use kafkalab_broker::storage::memory::MemoryStorage;
use kafkalab_broker::{Broker, BrokerConfig};

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_string())
}
fn tn(x: &str) -> TopicName {
    TopicName(s(x))
}

fn frame<R: Encodable + HeaderVersion>(key: ApiKey, version: i16, req: &R) -> Option<Bytes> {
    let mut body = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(s("versions-test")))
        .encode(&mut body, R::header_version(version))
        .ok()?;
    // Requests using fields this version lacks cannot be encoded: skip those variants.
    req.encode(&mut body, version).ok()?;
    let mut out = BytesMut::new();
    out.put_i32(body.len() as i32);
    out.extend_from_slice(&body);
    Some(out.freeze().slice(4..))
}

fn batch() -> Bytes {
    let record = (
        Some(Bytes::from_static(b"k")),
        Some(Bytes::from_static(b"v")),
        1_700_000_000_000,
    );
    build(&BatchSpec::default(), [record])
        .expect("encode")
        .freeze()
}

/// Request variants for one API at one version (None when not encodable at it).
fn requests(key: ApiKey, v: i16) -> Vec<Option<Bytes>> {
    use kafka_protocol::messages::*;
    match key {
        ApiKey::Produce => [("t", 0), ("t", 9), ("nosuch", 0)]
            .iter()
            .map(|(t, p)| {
                frame(
                    key,
                    v,
                    &ProduceRequest::default()
                        .with_acks(-1)
                        .with_timeout_ms(1000)
                        .with_topic_data(vec![produce_request::TopicProduceData::default()
                            .with_name(tn(t))
                            .with_partition_data(vec![
                                produce_request::PartitionProduceData::default()
                                    .with_index(*p)
                                    .with_records(Some(batch())),
                            ])]),
                )
            })
            .chain([frame(
                key,
                v,
                &ProduceRequest::default()
                    .with_acks(-1)
                    .with_topic_data(vec![produce_request::TopicProduceData::default()
                        .with_name(tn("t"))
                        .with_partition_data(
                            vec![produce_request::PartitionProduceData::default(
                        )
                        .with_index(0)
                        .with_records(Some(Bytes::from_static(
                            b"garbage-garbage-garbage-garbage-garbage-garbage-garbage-garbage",
                        )))],
                        )]),
            )])
            .collect(),
        ApiKey::Fetch => [("t", 0, 0i64), ("t", 0, 99), ("nosuch", 0, 0)]
            .iter()
            .map(|(t, p, o)| {
                frame(
                    key,
                    v,
                    &FetchRequest::default()
                        .with_replica_id(BrokerId(-1))
                        .with_max_wait_ms(0)
                        .with_min_bytes(1)
                        .with_max_bytes(1 << 20)
                        .with_topics(vec![fetch_request::FetchTopic::default()
                            .with_topic(tn(t))
                            .with_partitions(vec![fetch_request::FetchPartition::default()
                                .with_partition(*p)
                                .with_fetch_offset(*o)
                                .with_partition_max_bytes(1 << 20)])]),
                )
            })
            .collect(),
        ApiKey::ListOffsets => [-1i64, -2, -3, 0]
            .iter()
            .flat_map(|ts| {
                ["t", "nosuch"].map(|t| {
                    frame(
                        key,
                        v,
                        &ListOffsetsRequest::default()
                            .with_replica_id(BrokerId(-1))
                            .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                                .with_name(tn(t))
                                .with_partitions(vec![
                                    list_offsets_request::ListOffsetsPartition::default()
                                        .with_partition_index(0)
                                        .with_timestamp(*ts),
                                ])]),
                    )
                })
            })
            .collect(),
        ApiKey::Metadata => vec![
            frame(key, v, &MetadataRequest::default().with_topics(None)),
            frame(
                key,
                v,
                &MetadataRequest::default().with_topics(Some(vec![
                    metadata_request::MetadataRequestTopic::default().with_name(Some(tn("t"))),
                    metadata_request::MetadataRequestTopic::default()
                        .with_name(Some(tn("bad name"))),
                    metadata_request::MetadataRequestTopic::default().with_name(Some(tn("auto"))),
                ])),
            ),
        ],
        ApiKey::ApiVersions => vec![frame(key, v, &ApiVersionsRequest::default())],
        ApiKey::CreateTopics => vec![frame(
            key,
            v,
            &CreateTopicsRequest::default().with_topics(vec![
                create_topics_request::CreatableTopic::default()
                    .with_name(tn(&format!("new{v}")))
                    .with_num_partitions(2)
                    .with_replication_factor(1),
                create_topics_request::CreatableTopic::default()
                    .with_name(tn("t"))
                    .with_num_partitions(1)
                    .with_replication_factor(1),
                create_topics_request::CreatableTopic::default()
                    .with_name(tn("bad/name"))
                    .with_num_partitions(1)
                    .with_replication_factor(1),
            ]),
        )],
        ApiKey::DeleteTopics => vec![
            frame(
                key,
                v,
                &DeleteTopicsRequest::default()
                    .with_topic_names(vec![tn("nosuch"), tn(&format!("new{v}"))]),
            ),
            frame(
                key,
                v,
                &DeleteTopicsRequest::default()
                    .with_topics(vec![delete_topics_request::DeleteTopicState::default()
                        .with_name(Some(tn("nosuch")))]),
            ),
        ],
        ApiKey::CreatePartitions => vec![frame(
            key,
            v,
            &CreatePartitionsRequest::default().with_topics(vec![
                create_partitions_request::CreatePartitionsTopic::default()
                    .with_name(tn("t"))
                    .with_count(1),
                create_partitions_request::CreatePartitionsTopic::default()
                    .with_name(tn("nosuch"))
                    .with_count(3),
            ]),
        )],
        ApiKey::DescribeConfigs => vec![frame(
            key,
            v,
            &DescribeConfigsRequest::default().with_resources(vec![
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("t")),
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("nosuch")),
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(4)
                    .with_resource_name(s("0")),
            ]),
        )],
        ApiKey::AlterConfigs => vec![frame(
            key,
            v,
            &AlterConfigsRequest::default().with_resources(vec![
                alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("nosuch")),
            ]),
        )],
        ApiKey::IncrementalAlterConfigs => vec![frame(
            key,
            v,
            &IncrementalAlterConfigsRequest::default().with_resources(vec![
                incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("t"))
                    .with_configs(vec![
                        incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(s("retention.ms"))
                            .with_value(Some(s("bad"))),
                    ]),
            ]),
        )],
        ApiKey::InitProducerId => vec![
            frame(
                key,
                v,
                &InitProducerIdRequest::default()
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            ),
            frame(
                key,
                v,
                &InitProducerIdRequest::default()
                    .with_transactional_id(Some(TransactionalId(s("tx"))))
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            ),
        ],
        ApiKey::DescribeCluster => vec![frame(key, v, &DescribeClusterRequest::default())],
        ApiKey::FindCoordinator => vec![
            frame(key, v, &FindCoordinatorRequest::default().with_key(s("g"))),
            frame(
                key,
                v,
                &FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g"), s("")]),
            ),
            frame(key, v, &FindCoordinatorRequest::default().with_key(s(""))),
        ],
        ApiKey::JoinGroup => vec![
            frame(
                key,
                v,
                &JoinGroupRequest::default()
                    .with_group_id(GroupId(s(&format!("g{v}"))))
                    .with_session_timeout_ms(10_000)
                    .with_rebalance_timeout_ms(10_000)
                    .with_protocol_type(s("consumer"))
                    .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
                    )
                    .with_name(s("range"))
                    .with_metadata(Bytes::from_static(b"m"))]),
            ),
            frame(
                key,
                v,
                &JoinGroupRequest::default()
                    .with_group_id(GroupId(s("g")))
                    .with_session_timeout_ms(1)
                    .with_protocol_type(s("consumer")),
            ),
        ],
        ApiKey::SyncGroup => vec![frame(
            key,
            v,
            &SyncGroupRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_member_id(s("ghost")),
        )],
        ApiKey::Heartbeat => vec![frame(
            key,
            v,
            &HeartbeatRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_member_id(s("ghost")),
        )],
        ApiKey::LeaveGroup => vec![
            frame(
                key,
                v,
                &LeaveGroupRequest::default()
                    .with_group_id(GroupId(s("g")))
                    .with_member_id(s("ghost")),
            ),
            frame(
                key,
                v,
                &LeaveGroupRequest::default()
                    .with_group_id(GroupId(s("g")))
                    .with_members(vec![
                        leave_group_request::MemberIdentity::default().with_member_id(s("ghost"))
                    ]),
            ),
        ],
        ApiKey::OffsetCommit => vec![frame(
            key,
            v,
            &OffsetCommitRequest::default()
                .with_group_id(GroupId(s("c")))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![
                    offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(tn("t"))
                        .with_partitions(vec![
                            offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(1),
                            offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_partition_index(7)
                                .with_committed_offset(1),
                        ]),
                ]),
        )],
        ApiKey::OffsetFetch => vec![
            frame(
                key,
                v,
                &OffsetFetchRequest::default()
                    .with_group_id(GroupId(s("c")))
                    .with_topics(None),
            ),
            frame(
                key,
                v,
                &OffsetFetchRequest::default()
                    .with_group_id(GroupId(s("c")))
                    .with_topics(Some(vec![
                        offset_fetch_request::OffsetFetchRequestTopic::default()
                            .with_name(tn("t"))
                            .with_partition_indexes(vec![0, 1]),
                    ])),
            ),
            frame(
                key,
                v,
                &OffsetFetchRequest::default().with_groups(vec![
                    offset_fetch_request::OffsetFetchRequestGroup::default()
                        .with_group_id(GroupId(s("c"))),
                ]),
            ),
        ],
        ApiKey::ListGroups => vec![frame(key, v, &ListGroupsRequest::default())],
        ApiKey::DescribeGroups => vec![frame(
            key,
            v,
            &DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(s("c")), GroupId(s("nosuch"))]),
        )],
        ApiKey::DeleteGroups => vec![frame(
            key,
            v,
            &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("nosuch"))]),
        )],
        ApiKey::OffsetDelete => vec![frame(
            key,
            v,
            &OffsetDeleteRequest::default()
                .with_group_id(GroupId(s("c")))
                .with_topics(vec![
                    offset_delete_request::OffsetDeleteRequestTopic::default()
                        .with_name(tn("t"))
                        .with_partitions(vec![
                            offset_delete_request::OffsetDeleteRequestPartition::default()
                                .with_partition_index(0),
                        ]),
                ]),
        )],
        ApiKey::ConsumerGroupHeartbeat => vec![
            frame(
                key,
                v,
                &ConsumerGroupHeartbeatRequest::default()
                    .with_group_id(GroupId(s("k")))
                    .with_member_id(s("m1"))
                    .with_member_epoch(0)
                    .with_rebalance_timeout_ms(1000)
                    .with_subscribed_topic_names(Some(vec![tn("t")])),
            ),
            frame(
                key,
                v,
                &ConsumerGroupHeartbeatRequest::default()
                    .with_group_id(GroupId(s("k")))
                    .with_member_id(s("ghost"))
                    .with_member_epoch(3),
            ),
        ],
        ApiKey::OffsetForLeaderEpoch => ["t", "missing"]
            .into_iter()
            .map(|topic| {
                frame(
                    key,
                    v,
                    &OffsetForLeaderEpochRequest::default()
                        .with_replica_id(BrokerId(-1))
                        .with_topics(vec![
                            offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                                .with_topic(tn(topic))
                                .with_partitions(vec![
                                    offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                                        .with_partition(0)
                                        .with_current_leader_epoch(-1)
                                        .with_leader_epoch(0),
                                ]),
                        ]),
                )
            })
            .collect(),
        other => panic!("no request builder for {other:?}: add one"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_advertised_version_encodes_its_responses() {
    let cfg =
        BrokerConfig::from_pairs(&[("group.initial.rebalance.delay.ms", "0")]).expect("config");
    let broker: Arc<Broker> = Broker::open(
        cfg,
        Arc::new(MemoryStorage::new()),
        Arc::new(ManualClock::new(1_700_000_000_000)),
    )
    .expect("broker");
    broker
        .topics
        .create(&broker.config, "t", 2, 1, TopicConfig::default(), false)
        .expect("topic");
    let mut failures = Vec::new();
    let mut checked = 0;
    for (key, lo, hi) in versions::all() {
        for v in lo..=hi {
            for req in requests(key, v).into_iter().flatten() {
                let call = router::handle(&broker, req, "127.0.0.1:1");
                match tokio::time::timeout(std::time::Duration::from_secs(5), call).await {
                    Ok(Ok(_)) => checked += 1,
                    Ok(Err(e)) => failures.push(format!("{key:?} v{v}: {e}")),
                    Err(_) => failures.push(format!("{key:?} v{v}: no answer within 5 s")),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 250, "only {checked} requests checked");
}
