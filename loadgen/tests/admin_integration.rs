//! The admin client against the real kafkalab broker, in process: topics (create,
//! validate-only, describe, grow, delete), configs (describe, incremental alter),
//! offsets (earliest, latest, by timestamp) and groups (a member joined with raw
//! JoinGroup/SyncGroup, committed offsets, list, describe with decoded assignment,
//! delete).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, GroupId, JoinGroupRequest,
    LeaveGroupRequest, OffsetCommitRequest, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafkalab_broker::RunningBroker;
use kafkalab_loadgen::client::admin::{Admin, AlterOp, NewTopic, OffsetSpec};
use kafkalab_loadgen::client::producer::{Producer, ProducerRecord};
use kafkalab_loadgen::client::{ClientConfig, Connection};

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn start_broker(dir: &std::path::Path) -> RunningBroker {
    let log_dir = dir.to_string_lossy().to_string();
    let config = kafkalab_broker::BrokerConfig::from_pairs(&[
        ("listeners", "PLAINTEXT://127.0.0.1:0"),
        ("kafkalab.metrics.listener", ""),
        ("log.dirs", log_dir.as_str()),
        ("group.initial.rebalance.delay.ms", "0"),
    ])
    .expect("broker config");
    kafkalab_broker::start(
        config,
        Arc::new(kafkalab_broker::storage::file::FileStorage::new(
            dir.to_path_buf(),
        )),
        Arc::new(kafkalab_broker::clock::SystemClock),
    )
    .await
    .expect("broker starts")
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn versioned<M: Encodable>(m: &M, version: i16) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(version);
    m.encode(&mut b, version).expect("encode");
    b.freeze()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_topics_and_configs() -> TestResult {
    let dir = tempfile::tempdir()?;
    let broker = start_broker(dir.path()).await;
    let admin = Admin::new(&broker.kafka_addr.to_string()).await?;

    // validate_only creates nothing.
    let r = admin
        .create_topics(&[NewTopic::new("orders", 2, 1)], true)
        .await?;
    assert!(r["orders"].is_ok(), "{r:?}");
    assert!(!admin.list_topics().await?.contains(&"orders".to_string()));

    let r = admin
        .create_topics(
            &[
                NewTopic::new("orders", 2, 1).with_config("retention.ms", "600000"),
                NewTopic::new("bad", 0, 1),
            ],
            false,
        )
        .await?;
    assert!(r["orders"].is_ok());
    assert_eq!(
        r["bad"].as_ref().err().and_then(|e| e.code()),
        Some(37),
        "INVALID_PARTITIONS"
    );
    let again = admin.create_topic(NewTopic::new("orders", 2, 1)).await;
    assert_eq!(
        again.err().and_then(|e| e.code()),
        Some(36),
        "TOPIC_ALREADY_EXISTS"
    );
    assert_eq!(admin.list_topics().await?, vec!["orders".to_string()]);

    let described = admin.describe_topics(&["orders"]).await?;
    assert_eq!(described.len(), 1);
    let t = &described[0];
    assert_eq!(t.name, "orders");
    assert_eq!(t.partitions.len(), 2);
    for p in &t.partitions {
        assert!(p.leader >= 0);
        assert_eq!(p.replicas, vec![p.leader]);
        assert_eq!(p.isr, vec![p.leader]);
    }
    let missing = admin.describe_topics(&["nope"]).await;
    assert_eq!(missing.err().and_then(|e| e.code()), Some(3));

    // Grow.
    admin.create_partitions("orders", 5).await?;
    assert_eq!(
        admin.describe_topics(&["orders"]).await?[0]
            .partitions
            .len(),
        5
    );
    let shrink = admin.create_partitions("orders", 3).await;
    assert_eq!(shrink.err().and_then(|e| e.code()), Some(37));

    // Configs.
    let configs = admin.describe_configs("orders").await?;
    let retention = configs
        .iter()
        .find(|c| c.name == "retention.ms")
        .expect("retention.ms listed");
    assert_eq!(retention.value.as_deref(), Some("600000"));
    assert_eq!(retention.source, 1, "DYNAMIC_TOPIC_CONFIG");
    assert!(!retention.is_default);
    let cleanup = configs
        .iter()
        .find(|c| c.name == "cleanup.policy")
        .expect("cleanup.policy listed");
    assert_eq!(cleanup.value.as_deref(), Some("delete"));

    admin
        .alter_topic_configs(
            "orders",
            &[
                ("retention.ms", AlterOp::Delete),
                ("max.message.bytes", AlterOp::Set("2000000".into())),
            ],
        )
        .await?;
    let configs = admin.describe_configs("orders").await?;
    let get = |n: &str| configs.iter().find(|c| c.name == n).cloned();
    assert_eq!(
        get("max.message.bytes").and_then(|c| c.value),
        Some("2000000".to_string())
    );
    let retention = get("retention.ms").expect("listed");
    assert_ne!(retention.source, 1, "back to the default");
    let bad = admin
        .alter_topic_configs("orders", &[("no.such.config", AlterOp::Set("1".into()))])
        .await;
    assert!(bad.err().and_then(|e| e.code()).is_some());
    let broker_configs = admin
        .describe_broker_configs(broker.broker.node_id())
        .await?;
    assert!(broker_configs.iter().any(|c| c.name == "num.partitions"));

    // Delete.
    let r = admin.delete_topics(&["orders", "nope"]).await?;
    assert!(r["orders"].is_ok(), "{r:?}");
    assert_eq!(r["nope"].as_ref().err().and_then(|e| e.code()), Some(3));
    assert!(admin.list_topics().await?.is_empty());
    broker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_list_offsets() -> TestResult {
    let dir = tempfile::tempdir()?;
    let broker = start_broker(dir.path()).await;
    let bootstrap = broker.kafka_addr.to_string();
    let admin = Admin::new(&bootstrap).await?;
    admin.create_topic(NewTopic::new("ts", 1, 1)).await?;
    assert_eq!(admin.list_offsets("ts", 0, OffsetSpec::Latest).await?.0, 0);
    let producer = Producer::new(&bootstrap, ClientConfig::producer()).await?;
    for i in 0..10i64 {
        producer
            .send_and_forget(
                ProducerRecord::new("ts", format!("v{i}")).with_timestamp(1_000_000 + i * 1000),
            )
            .await?;
    }
    producer.flush().await?;
    assert_eq!(
        admin.list_offsets("ts", 0, OffsetSpec::Earliest).await?.0,
        0
    );
    assert_eq!(admin.list_offsets("ts", 0, OffsetSpec::Latest).await?.0, 10);
    assert_eq!(
        admin
            .list_offsets("ts", 0, OffsetSpec::Timestamp(1_003_500))
            .await?,
        (4, 1_004_000),
        "first record at or after the timestamp"
    );
    assert_eq!(
        admin
            .list_offsets("ts", 0, OffsetSpec::Timestamp(9_000_000))
            .await?
            .0,
        -1,
        "past the last record"
    );
    assert_eq!(
        admin
            .list_offsets("ts", 0, OffsetSpec::MaxTimestamp)
            .await?,
        (9, 1_009_000)
    );
    let unknown = admin.list_offsets("ts", 7, OffsetSpec::Latest).await;
    assert!(unknown.is_err());
    producer.close(Duration::from_secs(1)).await;
    broker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_groups() -> TestResult {
    let dir = tempfile::tempdir()?;
    let broker = start_broker(dir.path()).await;
    let bootstrap = broker.kafka_addr.to_string();
    let admin = Admin::new(&bootstrap).await?;
    admin.create_topic(NewTopic::new("events", 3, 1)).await?;
    assert!(admin.list_groups().await?.is_empty());

    // One member joins "billing" with raw JoinGroup / SyncGroup and commits offsets.
    let coordinator = admin
        .cluster()
        .coordinator("billing", Duration::from_secs(10))
        .await?;
    let conn = Connection::connect(&coordinator.addr, "raw-member").await?;
    let subscription = ConsumerProtocolSubscription::default()
        .with_topics(vec![s("events")])
        .with_user_data(None);
    let join = |member_id: StrBytes| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(s("billing")))
            .with_session_timeout_ms(30_000)
            .with_rebalance_timeout_ms(30_000)
            .with_member_id(member_id)
            .with_group_instance_id(None)
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(versioned(&subscription, 1))])
    };
    let mut joined = conn.send(join(s(""))).await?;
    if joined.error_code == 79 {
        // MEMBER_ID_REQUIRED (JoinGroup v4+): join again with the given id.
        joined = conn.send(join(joined.member_id.clone())).await?;
    }
    assert_eq!(joined.error_code, 0);
    let member_id = joined.member_id.clone();
    let assignment = ConsumerProtocolAssignment::default()
        .with_assigned_partitions(vec![TopicPartition::default()
            .with_topic(TopicName(s("events")))
            .with_partitions(vec![0, 2])])
        .with_user_data(None);
    let synced = conn
        .send(
            SyncGroupRequest::default()
                .with_group_id(GroupId(s("billing")))
                .with_generation_id(joined.generation_id)
                .with_member_id(member_id.clone())
                .with_group_instance_id(None)
                .with_protocol_type(Some(s("consumer")))
                .with_protocol_name(joined.protocol_name.clone())
                .with_assignments(vec![SyncGroupRequestAssignment::default()
                    .with_member_id(member_id.clone())
                    .with_assignment(versioned(&assignment, 1))]),
        )
        .await?;
    assert_eq!(synced.error_code, 0);
    let committed = conn
        .send(
            OffsetCommitRequest::default()
                .with_group_id(GroupId(s("billing")))
                .with_generation_id_or_member_epoch(joined.generation_id)
                .with_member_id(member_id.clone())
                .with_group_instance_id(None)
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("events")))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(42),
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(2)
                            .with_committed_offset(7),
                    ])]),
        )
        .await?;
    for t in &committed.topics {
        for p in &t.partitions {
            assert_eq!(p.error_code, 0);
        }
    }

    let groups = admin.list_groups().await?;
    assert_eq!(groups.len(), 1);
    let g = &groups[0];
    assert_eq!(g.group_id, "billing");
    assert_eq!(g.protocol_type, "consumer");
    assert_eq!(g.state.as_deref(), Some("Stable"));

    let described = admin.describe_groups(&["billing"]).await?;
    let d = &described[0];
    assert_eq!(d.state, "Stable");
    assert_eq!(d.protocol_type, "consumer");
    assert_eq!(d.protocol, "range");
    assert_eq!(d.members.len(), 1);
    let m = &d.members[0];
    assert_eq!(m.member_id, member_id.to_string());
    assert_eq!(m.client_id, "raw-member");
    assert!(m.client_host.contains("127.0.0.1"), "{}", m.client_host);
    assert_eq!(m.subscription, vec!["events".to_string()]);
    assert_eq!(
        m.assignment,
        BTreeMap::from([("events".to_string(), vec![0, 2])])
    );

    let offsets = admin.list_group_offsets("billing").await?;
    assert_eq!(
        offsets,
        BTreeMap::from([
            (("events".to_string(), 0), 42),
            (("events".to_string(), 2), 7),
        ])
    );

    // A group with a member cannot be deleted.
    let r = admin.delete_groups(&["billing"]).await?;
    assert_eq!(
        r["billing"].as_ref().err().and_then(|e| e.code()),
        Some(68),
        "NON_EMPTY_GROUP"
    );
    let left = conn
        .send(
            LeaveGroupRequest::default()
                .with_group_id(GroupId(s("billing")))
                .with_members(vec![MemberIdentity::default()
                    .with_member_id(member_id.clone())
                    .with_group_instance_id(None)]),
        )
        .await?;
    assert_eq!(left.error_code, 0);
    assert_eq!(admin.describe_groups(&["billing"]).await?[0].state, "Empty");
    let r = admin.delete_groups(&["billing"]).await?;
    assert!(r["billing"].is_ok(), "{r:?}");
    assert!(admin.list_groups().await?.is_empty());
    assert!(admin.list_group_offsets("billing").await?.is_empty());
    broker.shutdown().await;
    Ok(())
}
