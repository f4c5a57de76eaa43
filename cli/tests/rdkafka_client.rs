//! Client compatibility tests for the kafkalab broker, driven through the
//! `rdkafka` crate (librdkafka built from source).
//!
//! Every test starts its own broker (`kafkalab broker`) on ephemeral ports in
//! a fresh temporary `log.dirs`, parses the ready line, and kills the broker
//! when the guard is dropped.  Every wait is bounded by a timeout.
//!
//! Run: `cargo test -p kafkalab --test rdkafka_client`

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};

const OP_TIMEOUT: Duration = Duration::from_secs(15);
const CONSUME_TIMEOUT: Duration = Duration::from_secs(30);
/// After the expected number of records arrived keep polling this long to
/// catch duplicates.
const EXTRA_POLL: Duration = Duration::from_secs(1);

mod common;
use common::Broker;

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

fn admin(b: &Broker) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        .create()
        .expect("admin client")
}

fn admin_opts() -> AdminOptions {
    AdminOptions::new()
        .operation_timeout(Some(OP_TIMEOUT))
        .request_timeout(Some(OP_TIMEOUT))
}

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    format!("rs-{prefix}-{}-{nanos}", std::process::id())
}

async fn create_topic(
    a: &AdminClient<DefaultClientContext>,
    name: &str,
    partitions: i32,
    replication: i32,
    configs: &[(&str, &str)],
) -> Result<(), RDKafkaErrorCode> {
    let mut t = NewTopic::new(name, partitions, TopicReplication::Fixed(replication));
    for (k, v) in configs {
        t = t.set(k, v);
    }
    let res = tokio::time::timeout(OP_TIMEOUT * 2, a.create_topics([&t], &admin_opts()))
        .await
        .expect("create_topics timed out")
        .expect("create_topics request failed");
    assert_eq!(res.len(), 1);
    match &res[0] {
        Ok(_) => Ok(()),
        Err((_, code)) => Err(*code),
    }
}

fn topic_partitions(b: &Broker, consumer: &BaseConsumer) -> HashMap<String, usize> {
    let _ = b;
    let md = consumer
        .fetch_metadata(None, Timeout::After(OP_TIMEOUT))
        .expect("metadata");
    md.topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| (t.name().to_string(), t.partitions().len()))
        .collect()
}

fn producer(b: &Broker, extra: &[(&str, &str)]) -> FutureProducer {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &b.bootstrap)
        .set("linger.ms", "5")
        .set("message.timeout.ms", "20000")
        .set("socket.timeout.ms", "10000");
    for (k, v) in extra {
        cfg.set(*k, *v);
    }
    cfg.create().expect("producer")
}

fn consumer(b: &Broker) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        // librdkafka wants a group.id even with manual assignment; we never commit.
        .set("group.id", unique("grp"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("consumer")
}

#[derive(Clone, Debug, PartialEq)]
struct Rec {
    partition: i32,
    key: Vec<u8>,
    value: Vec<u8>,
    timestamp: Option<i64>,
}

fn records(n: usize, partitions: i32, prefix: &str, pad: usize) -> Vec<Rec> {
    (0..n)
        .map(|i| {
            let mut value = format!("{prefix}-{i}-").into_bytes();
            value.extend(std::iter::repeat_n(b'x', pad));
            Rec {
                partition: (i as i32) % partitions,
                key: format!("k-{i}").into_bytes(),
                value,
                timestamp: None,
            }
        })
        .collect()
}

/// Enqueues all records (so they batch), then awaits every delivery report.
/// Returns (partition, offset) per record in order, or the first delivery error.
async fn produce(
    p: &FutureProducer,
    topic: &str,
    recs: &[Rec],
) -> Result<Vec<(i32, i64)>, KafkaError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut pending = Vec::with_capacity(recs.len());
    for r in recs {
        loop {
            let mut rec = FutureRecord::to(topic)
                .key(&r.key)
                .payload(&r.value)
                .partition(r.partition);
            if let Some(ts) = r.timestamp {
                rec = rec.timestamp(ts);
            }
            match p.send_result(rec) {
                Ok(fut) => {
                    pending.push(fut);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    assert!(
                        Instant::now() < deadline,
                        "producer queue full for too long"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }
    let mut out = Vec::with_capacity(pending.len());
    for fut in pending {
        let left = deadline.saturating_duration_since(Instant::now());
        let res = tokio::time::timeout(left, fut)
            .await
            .expect("delivery report timed out")
            .expect("delivery future cancelled");
        match res {
            Ok(d) => out.push((d.partition, d.offset)),
            Err((e, _)) => return Err(e),
        }
    }
    Ok(out)
}

struct Consumed {
    offset: i64,
    key: Vec<u8>,
    value: Vec<u8>,
    timestamp: Option<i64>,
}

fn consume(
    b: &Broker,
    topic: &str,
    partitions: i32,
    expected: usize,
) -> HashMap<i32, Vec<Consumed>> {
    let c = consumer(b);
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("tpl");
    }
    c.assign(&tpl).expect("assign");
    let mut out: HashMap<i32, Vec<Consumed>> = HashMap::new();
    let mut n = 0usize;
    let deadline = Instant::now() + CONSUME_TIMEOUT;
    let mut extra_deadline: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if now > deadline || extra_deadline.is_some_and(|d| now > d) {
            break;
        }
        match c.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(e)) => panic!("consumer error: {e}"),
            Some(Ok(m)) => {
                out.entry(m.partition()).or_default().push(Consumed {
                    offset: m.offset(),
                    key: m.key().unwrap_or_default().to_vec(),
                    value: m.payload().unwrap_or_default().to_vec(),
                    timestamp: m.timestamp().to_millis(),
                });
                n += 1;
            }
        }
        if n >= expected && extra_deadline.is_none() {
            extra_deadline = Some(Instant::now() + EXTRA_POLL);
        }
    }
    out
}

fn assert_consumed_in_order(got: &HashMap<i32, Vec<Consumed>>, recs: &[Rec], partitions: i32) {
    for p in 0..partitions {
        let want: Vec<(&[u8], &[u8])> = recs
            .iter()
            .filter(|r| r.partition == p)
            .map(|r| (r.key.as_slice(), r.value.as_slice()))
            .collect();
        let empty = Vec::new();
        let msgs = got.get(&p).unwrap_or(&empty);
        let have: Vec<(&[u8], &[u8])> = msgs
            .iter()
            .map(|m| (m.key.as_slice(), m.value.as_slice()))
            .collect();
        assert_eq!(
            have.len(),
            want.len(),
            "partition {p}: consumed {} records, produced {}",
            have.len(),
            want.len()
        );
        assert!(
            have == want,
            "partition {p}: records differ from what was produced (order/content)"
        );
        let offsets: Vec<i64> = msgs.iter().map(|m| m.offset).collect();
        let expect: Vec<i64> = (0..want.len() as i64).collect();
        assert_eq!(
            offsets, expect,
            "partition {p}: offsets not contiguous from 0"
        );
    }
}

fn builtin_features() -> String {
    ClientConfig::new()
        .create_native_config()
        .expect("native config")
        .get("builtin.features")
        .expect("builtin.features")
}

// ---------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_create_list_grow_delete() {
    let mut b = Broker::start(&[]);
    let a = admin(&b);
    let c = consumer(&b);
    let t = unique("admin");
    create_topic(&a, &t, 3, 1, &[("retention.ms", "3600000")])
        .await
        .expect("create");
    assert_eq!(topic_partitions(&b, &c).get(&t), Some(&3));

    let res = tokio::time::timeout(
        OP_TIMEOUT * 2,
        a.create_partitions([&NewPartitions::new(&t, 5)], &admin_opts()),
    )
    .await
    .expect("create_partitions timed out")
    .expect("create_partitions");
    assert!(res[0].is_ok(), "create_partitions: {res:?}");
    assert_eq!(topic_partitions(&b, &c).get(&t), Some(&5));

    // same count -> INVALID_PARTITIONS
    let res = tokio::time::timeout(
        OP_TIMEOUT * 2,
        a.create_partitions([&NewPartitions::new(&t, 5)], &admin_opts()),
    )
    .await
    .expect("create_partitions timed out")
    .expect("create_partitions");
    assert_eq!(
        res[0].as_ref().err().map(|e| e.1),
        Some(RDKafkaErrorCode::InvalidPartitions)
    );

    let res = tokio::time::timeout(OP_TIMEOUT * 2, a.delete_topics(&[&t], &admin_opts()))
        .await
        .expect("delete timed out")
        .expect("delete");
    assert!(res[0].is_ok(), "delete: {res:?}");
    let deadline = Instant::now() + OP_TIMEOUT;
    while topic_partitions(&b, &c).contains_key(&t) {
        assert!(Instant::now() < deadline, "topic still listed after delete");
        std::thread::sleep(Duration::from_millis(100));
    }
    b.assert_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_error_codes() {
    let mut b = Broker::start(&[]);
    let a = admin(&b);
    let long = "a".repeat(250);
    for name in [
        "bad name",
        "bad/name",
        "bad*topic",
        long.as_str(),
        ".",
        "..",
    ] {
        assert_eq!(
            create_topic(&a, name, 1, 1, &[]).await,
            Err(RDKafkaErrorCode::InvalidTopic),
            "topic name {name:?}"
        );
    }
    let t = unique("err");
    create_topic(&a, &t, 1, 1, &[]).await.expect("create");
    assert_eq!(
        create_topic(&a, &t, 1, 1, &[]).await,
        Err(RDKafkaErrorCode::TopicAlreadyExists)
    );
    assert_eq!(
        create_topic(&a, &unique("rf2"), 1, 2, &[]).await,
        Err(RDKafkaErrorCode::InvalidReplicationFactor)
    );
    assert_eq!(
        create_topic(&a, &unique("cfg"), 1, 1, &[("retention.ms", "nope")]).await,
        Err(RDKafkaErrorCode::InvalidConfig)
    );
    b.assert_alive();
}

async fn produce_and_consume(acks: &str) {
    let mut b = Broker::start(&[]);
    let a = admin(&b);
    let t = unique(&format!("acks{acks}"));
    create_topic(&a, &t, 3, 1, &[]).await.expect("create");
    let recs = records(300, 3, "v", 0);
    let p = producer(&b, &[("acks", acks)]);
    let delivered = produce(&p, &t, &recs).await.expect("delivery");
    if acks != "0" {
        for part in 0..3 {
            let offs: Vec<i64> = delivered
                .iter()
                .zip(&recs)
                .filter(|(_, r)| r.partition == part)
                .map(|(d, _)| d.1)
                .collect();
            assert_eq!(
                offs,
                (0..offs.len() as i64).collect::<Vec<_>>(),
                "acked offsets p{part}"
            );
        }
    }
    let got = consume(&b, &t, 3, recs.len());
    assert_consumed_in_order(&got, &recs, 3);
    b.assert_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_acks_0() {
    produce_and_consume("0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_acks_1() {
    produce_and_consume("1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_acks_all() {
    produce_and_consume("all").await;
}

async fn compression_roundtrip(codec: &str) {
    let feature = match codec {
        "gzip" => Some("gzip"),
        "snappy" => Some("snappy"),
        "lz4" => Some("lz4"),
        "zstd" => Some("zstd"),
        _ => None,
    };
    if let Some(f) = feature {
        let features = builtin_features();
        if !features.split(',').any(|x| x == f) {
            eprintln!(
                "SKIPPED compression {codec}: this librdkafka build lacks it (builtin.features={features}); \
                 enable the rdkafka `{codec}` cargo feature to test it"
            );
            return;
        }
    }
    let mut b = Broker::start(&[]);
    let a = admin(&b);
    let t = unique(&format!("comp-{codec}"));
    create_topic(&a, &t, 1, 1, &[]).await.expect("create");
    let recs = records(500, 1, codec, 200);
    let p = producer(&b, &[("acks", "all"), ("compression.type", codec)]);
    produce(&p, &t, &recs).await.expect("delivery");
    let got = consume(&b, &t, 1, recs.len());
    assert_consumed_in_order(&got, &recs, 1);
    b.assert_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_none() {
    compression_roundtrip("none").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_gzip() {
    compression_roundtrip("gzip").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_snappy() {
    compression_roundtrip("snappy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_lz4() {
    compression_roundtrip("lz4").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_zstd() {
    compression_roundtrip("zstd").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer_no_duplicates_in_order() {
    let mut b = Broker::start(&[]);
    let a = admin(&b);
    let t = unique("idem");
    create_topic(&a, &t, 3, 1, &[]).await.expect("create");
    let recs = records(3000, 3, "idem", 0);
    let p = producer(&b, &[("enable.idempotence", "true"), ("acks", "all")]);
    produce(&p, &t, &recs).await.expect("delivery");
    let got = consume(&b, &t, 3, recs.len());
    assert_consumed_in_order(&got, &recs, 3);
    b.assert_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watermarks_and_offsets_for_times() {
    let mut b = Broker::start(&[]);
    let a = admin(&b);
    let t = unique("offsets");
    create_topic(&a, &t, 2, 1, &[]).await.expect("create");
    let c = consumer(&b);
    assert_eq!(
        c.fetch_watermarks(&t, 0, OP_TIMEOUT).expect("watermarks"),
        (0, 0)
    );

    let base = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
        - 600_000;
    let recs: Vec<Rec> = (0..10)
        .map(|i| Rec {
            partition: 0,
            key: format!("k{i}").into_bytes(),
            value: format!("v{i}").into_bytes(),
            timestamp: Some(base + i * 1000),
        })
        .collect();
    let p = producer(&b, &[("acks", "all")]);
    produce(&p, &t, &recs).await.expect("delivery");
    assert_eq!(
        c.fetch_watermarks(&t, 0, OP_TIMEOUT).expect("watermarks"),
        (0, 10)
    );
    assert_eq!(
        c.fetch_watermarks(&t, 1, OP_TIMEOUT).expect("watermarks"),
        (0, 0)
    );

    let lookup = |ts: i64| -> Offset {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&t, 0, Offset::Offset(ts))
            .expect("tpl");
        let res = c
            .offsets_for_times(tpl, OP_TIMEOUT)
            .expect("offsets_for_times");
        let elem = res.find_partition(&t, 0).expect("partition in result");
        assert!(
            elem.error().is_ok(),
            "offsets_for_times error {:?}",
            elem.error()
        );
        elem.offset()
    };
    assert_eq!(lookup(base - 5000), Offset::Offset(0));
    assert_eq!(lookup(base + 5000), Offset::Offset(5));
    assert_eq!(lookup(base + 5500), Offset::Offset(6));
    // past the last timestamp: no offset (librdkafka reports End / -1)
    let past = lookup(base + 9001);
    assert!(
        matches!(past, Offset::End | Offset::Invalid),
        "past the end: {past:?}"
    );

    let got = consume(&b, &t, 1, 10);
    let ts: Vec<Option<i64>> = got[&0].iter().map(|m| m.timestamp).collect();
    assert_eq!(
        ts,
        (0..10).map(|i| Some(base + i * 1000)).collect::<Vec<_>>()
    );
    b.assert_alive();
}
