//! Shared helpers for the consumer tests: an in-process broker, topics and records put
//! in with raw CreateTopics / Produce requests, and a harness that runs a consumer in
//! its own task the way an application does (poll in a loop) and records what it sees.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{CreateTopicsRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use kafkalab_broker::RunningBroker;
use kafkalab_loadgen::client::consumer::{Consumer, ConsumerEvent};
use kafkalab_loadgen::client::{ClientConfig, Connection};
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub struct TestBroker {
    pub running: RunningBroker,
    pub addr: String,
    _dir: tempfile::TempDir,
}

pub async fn start_broker() -> TestBroker {
    start_broker_with(&[]).await
}

/// Runs `test` in a simulated world (kafkalab-sim): one thread, tokio's paused clock
/// and the in-memory network, so timelines unfold in virtual time whatever the load
/// on the machine. Start brokers with [`start_broker`] inside it (memory storage).
pub fn simulated<F: std::future::Future>(test: F) -> F::Output {
    let rt = kafkalab_sim::runtime(1).expect("runtime");
    rt.block_on(async {
        let _world = kafkalab_sim::World::new(
            kafkalab_sim::clock::EPOCH_MS,
            kafkalab_sim::LinkModel::default(),
        )
        .seeded(1)
        .install();
        test.await
    })
}

/// A broker with `extra` settings on top of the test defaults (its log in memory in a
/// simulated world).
pub async fn start_broker_with(extra: &[(&str, &str)]) -> TestBroker {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_string_lossy().to_string();
    let mut pairs: Vec<(&str, &str)> = vec![
        ("listeners", "PLAINTEXT://127.0.0.1:0"),
        ("kafkalab.metrics.listener", ""),
        ("log.dirs", &path),
        ("group.initial.rebalance.delay.ms", "0"),
    ];
    pairs.extend_from_slice(extra);
    let cfg = kafkalab_broker::BrokerConfig::from_pairs(&pairs).expect("broker config");
    let storage: Arc<dyn kafkalab_broker::storage::Storage> = if kafkalab_sim::simulated() {
        Arc::new(kafkalab_broker::storage::memory::MemoryStorage::default())
    } else {
        Arc::new(kafkalab_broker::storage::file::FileStorage::new(&path))
    };
    let running =
        kafkalab_broker::start(cfg, storage, Arc::new(kafkalab_broker::clock::SystemClock))
            .await
            .expect("broker start");
    let addr = running.kafka_addr.to_string();
    TestBroker {
        running,
        addr,
        _dir: dir,
    }
}

pub async fn create_topic(addr: &str, name: &str, partitions: i32) {
    let conn = Connection::connect(addr, "test-admin")
        .await
        .expect("connect");
    let resp = conn
        .send(
            CreateTopicsRequest::default()
                .with_timeout_ms(10_000)
                .with_topics(vec![CreatableTopic::default()
                    .with_name(TopicName(StrBytes::from_string(name.into())))
                    .with_num_partitions(partitions)
                    .with_replication_factor(1)]),
        )
        .await
        .expect("CreateTopics");
    assert_eq!(resp.topics[0].error_code, 0, "create topic {name}");
}

/// A record batch of `n` records with values `"{prefix}-{i}"` padded to `value_len`.
pub fn batch(first: usize, n: usize, value_len: usize, prefix: &str) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| {
            let mut v = format!("{prefix}-{}", first + i).into_bytes();
            if v.len() < value_len {
                v.resize(value_len, b'.');
            }
            Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32,
                timestamp: 1_700_000_000_000 + i as i64,
                key: None,
                value: Some(Bytes::from(v)),
                headers: Default::default(),
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode");
    buf.freeze()
}

/// Appends `n` records to one partition (batches of up to `per_batch`, pipelined).
pub async fn produce(addr: &str, topic: &str, partition: i32, n: usize, value_len: usize) {
    produce_batched(addr, topic, partition, n, value_len, 1000).await
}

pub async fn produce_batched(
    addr: &str,
    topic: &str,
    partition: i32,
    n: usize,
    value_len: usize,
    per_batch: usize,
) {
    let conn = Connection::connect(addr, "test-producer")
        .await
        .expect("connect");
    // One request at a time: pipelining from separate tasks could reorder them.
    let mut i = 0;
    while i < n {
        let k = per_batch.min(n - i);
        let records = batch(i, k, value_len, &format!("p{partition}"));
        let req = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.into())))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(records))])]);
        check_produce(conn.send(req).await);
        i += k;
    }
}

fn check_produce(
    r: Result<kafka_protocol::messages::ProduceResponse, kafkalab_loadgen::client::ClientError>,
) {
    let resp = r.expect("produce");
    let code = resp.responses[0].partition_responses[0].error_code;
    assert_eq!(code, 0, "produce error");
}

pub fn config(pairs: &[(&str, &str)]) -> ClientConfig {
    let mut c = ClientConfig::consumer();
    for (k, v) in pairs {
        c = c.set(k, v).expect("config");
    }
    c
}

/// Group settings that make rebalances quick in tests.
pub fn group_config(group: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("group.id", group),
        ("auto.offset.reset", "earliest"),
        ("heartbeat.interval.ms", "300"),
        ("session.timeout.ms", "10000"),
        ("fetch.max.wait.ms", "100"),
    ];
    for (k, v) in extra {
        pairs.retain(|(pk, _)| pk != k);
        pairs.push((k, v));
    }
    config(&pairs)
}

/// What a member task has seen.
#[derive(Default)]
pub struct Seen {
    pub records: Vec<(i32, i64, Bytes)>,
    pub events: Vec<ConsumerEvent>,
    pub assignment: Vec<(String, i32)>,
    pub generation: i32,
    pub member_id: Option<String>,
    pub errors: Vec<String>,
    pub stopped: bool,
}

pub enum Cmd {
    Close,
    Crash,
    /// Keep heartbeating but do not poll (slow processing).
    StopPolling(Duration),
    /// Neither poll nor heartbeat (a process pause).
    Freeze(Duration),
    CommitSync,
}

/// A consumer running in its own task, polling every 100 ms.
pub struct Member {
    pub seen: Arc<Mutex<Seen>>,
    cmd: mpsc::UnboundedSender<Cmd>,
    pub task: JoinHandle<()>,
}

impl Member {
    pub async fn start(
        addr: &str,
        topic: &str,
        cfg: ClientConfig,
        commit_each_poll: bool,
    ) -> Member {
        Member::start_with(addr, topic, cfg, commit_each_poll, Duration::ZERO).await
    }

    /// `processing`: time spent on each non-empty batch before committing it. Commands
    /// are handled after a batch is processed and before it is committed, so a member
    /// told to stop polling or crash leaves its last batch uncommitted.
    pub async fn start_with(
        addr: &str,
        topic: &str,
        cfg: ClientConfig,
        commit_each_poll: bool,
        processing: Duration,
    ) -> Member {
        let mut consumer = Consumer::new(addr, cfg).await.expect("consumer");
        consumer.subscribe(&[topic.to_string()]);
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let (tx, mut rx) = mpsc::unbounded_channel::<Cmd>();
        let s = seen.clone();
        let task = tokio::spawn(async move {
            let mut events = consumer.events();
            let drain = |events: &mut tokio::sync::broadcast::Receiver<ConsumerEvent>| {
                while let Ok(e) = events.try_recv() {
                    s.lock().events.push(e);
                }
            };
            loop {
                let polled = match consumer.poll(Duration::from_millis(100)).await {
                    Ok(recs) => {
                        let mut g = s.lock();
                        for r in &recs {
                            g.records.push((
                                r.partition,
                                r.offset,
                                r.value.clone().unwrap_or_default(),
                            ));
                        }
                        !recs.is_empty()
                    }
                    Err(e) => {
                        s.lock().errors.push(e.to_string());
                        false
                    }
                };
                if polled && !processing.is_zero() {
                    tokio::time::sleep(processing).await;
                }
                match rx.try_recv() {
                    Ok(Cmd::Close) => {
                        if let Err(e) = consumer.close().await {
                            s.lock().errors.push(e.to_string());
                        }
                        drain(&mut events);
                        s.lock().stopped = true;
                        return;
                    }
                    Ok(Cmd::Crash) => {
                        consumer.crash();
                        s.lock().stopped = true;
                        return;
                    }
                    Ok(Cmd::StopPolling(d)) => tokio::time::sleep(d).await,
                    Ok(Cmd::Freeze(d)) => {
                        consumer.freeze_heartbeats(d);
                        tokio::time::sleep(d).await;
                    }
                    Ok(Cmd::CommitSync) => {
                        if let Err(e) = consumer.commit_sync().await {
                            s.lock().errors.push(e.to_string());
                        }
                    }
                    Err(_) => {}
                }
                if commit_each_poll && polled {
                    if let Err(e) = consumer.commit_sync().await {
                        s.lock().errors.push(format!("commit: {e}"));
                    }
                }
                drain(&mut events);
                let mut g = s.lock();
                g.assignment = consumer.assignment();
                g.generation = consumer.generation();
                g.member_id = consumer.member_id();
            }
        });
        Member {
            seen,
            cmd: tx,
            task,
        }
    }

    pub fn send(&self, c: Cmd) {
        let _ = self.cmd.send(c);
    }

    pub fn assignment(&self) -> Vec<(String, i32)> {
        self.seen.lock().assignment.clone()
    }

    pub fn partitions(&self) -> Vec<i32> {
        self.assignment().into_iter().map(|(_, p)| p).collect()
    }
}

/// Waits until `cond` holds, checking every 50 ms; panics with `what` after `limit`.
pub async fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if cond() {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
