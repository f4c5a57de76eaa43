//! The native producer against the real kafkalab broker, in process: acks 0/1/all with
//! every codec, Java-compatible key placement, idempotence (producer id, epoch and
//! sequences in the stored batches; a retried batch after a lost response is not
//! duplicated), buffer.memory back-pressure, delivery.timeout.ms when the broker is
//! gone. Records are read back with raw Fetch requests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Record, RecordBatchDecoder};
use kafkalab_broker::RunningBroker;
use kafkalab_loadgen::client::admin::{Admin, NewTopic};
use kafkalab_loadgen::client::producer::partitioner::partition_for_key;
use kafkalab_loadgen::client::producer::{Producer, ProducerRecord};
use kafkalab_loadgen::client::{ClientConfig, ClientError, Connection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn start_broker(dir: &std::path::Path, extra: &[(&str, &str)]) -> RunningBroker {
    let log_dir = dir.to_string_lossy().to_string();
    let mut pairs = vec![
        ("listeners", "PLAINTEXT://127.0.0.1:0"),
        ("kafkalab.metrics.listener", ""),
        ("log.dirs", log_dir.as_str()),
    ];
    pairs.extend_from_slice(extra);
    let config = kafkalab_broker::BrokerConfig::from_pairs(&pairs).expect("broker config");
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

fn producer_config(pairs: &[(&str, &str)]) -> ClientConfig {
    let mut c = ClientConfig::producer();
    for (k, v) in pairs {
        c = c.set(k, v).expect("valid producer setting");
    }
    c
}

/// Every record of a partition, from offset 0 to the high watermark.
async fn fetch_all(conn: &Connection, topic: &str, partition: i32) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    let mut offset = 0i64;
    loop {
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(0)
            .with_max_bytes(64 << 20)
            .with_isolation_level(0)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(32 << 20)])]);
        let resp = conn.send(req).await.expect("fetch");
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch {topic}-{partition}");
        let Some(mut records) = p.records.clone() else {
            break;
        };
        if records.is_empty() {
            break;
        }
        let mut got = 0;
        while records.remaining() >= 61 {
            let set = RecordBatchDecoder::decode(&mut records).expect("decode batch");
            for r in set.records {
                if r.offset >= offset {
                    got += 1;
                    out.push(r);
                }
            }
        }
        if got == 0 {
            break;
        }
        offset = out.last().map_or(offset, |r| r.offset + 1);
        if offset >= p.high_watermark {
            break;
        }
    }
    out
}

async fn setup(topic: &str, partitions: i32) -> (tempfile::TempDir, RunningBroker, Admin) {
    let dir = tempfile::tempdir().expect("tmpdir");
    let broker = start_broker(dir.path(), &[]).await;
    let admin = Admin::new(&broker.kafka_addr.to_string())
        .await
        .expect("admin");
    admin
        .create_topic(NewTopic::new(topic, partitions, 1))
        .await
        .expect("create topic");
    (dir, broker, admin)
}

/// Produces `n` keyed records and checks acks, placement, offsets and order.
async fn produce_and_verify(acks: &str, compression: &str, n: usize) -> TestResult {
    let topic = format!("t-{}-{compression}", acks.replace('-', "m"));
    let partitions = 3;
    let (_dir, broker, _admin) = setup(&topic, partitions).await;
    let bootstrap = broker.kafka_addr.to_string();
    let producer = Producer::new(
        &bootstrap,
        producer_config(&[
            ("acks", acks),
            ("compression.type", compression),
            ("linger.ms", "2"),
            ("batch.size", "4096"),
        ]),
    )
    .await?;
    assert_eq!(
        producer.settings().idempotence,
        acks == "all",
        "idempotence only with acks=all"
    );
    let mut futures = Vec::with_capacity(n);
    for i in 0..n {
        let key = format!("key-{}", i % 37);
        let value = format!("value-{i:06}-{}", "x".repeat(i % 50));
        let rec = ProducerRecord::new(topic.as_str(), value)
            .with_key(key)
            .with_header("i", Bytes::from(i.to_string()));
        futures.push(producer.send(rec).await?);
    }
    producer.flush().await?;
    let mut acked: BTreeMap<i32, Vec<(i64, usize)>> = BTreeMap::new();
    for (i, f) in futures.into_iter().enumerate() {
        let md = f.await?;
        let key = format!("key-{}", i % 37);
        assert_eq!(
            md.partition,
            partition_for_key(key.as_bytes(), partitions),
            "murmur2 placement"
        );
        if acks == "0" {
            assert_eq!(md.offset, -1, "acks=0 has no offsets");
        }
        acked.entry(md.partition).or_default().push((md.offset, i));
    }
    let conn = Connection::connect(&bootstrap, "verify").await?;
    if acks == "0" {
        // Nothing acknowledges acks=0: flushed means written to the socket, not yet
        // appended. Wait (bounded) until the broker has all of it.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let mut stored = 0;
            for p in 0..partitions {
                stored += fetch_all(&conn, &topic, p).await.len();
            }
            if stored >= n || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut total = 0;
    for p in 0..partitions {
        let stored = fetch_all(&conn, &topic, p).await;
        let sent = acked.remove(&p).unwrap_or_default();
        assert_eq!(stored.len(), sent.len(), "partition {p}: every record once");
        total += stored.len();
        for (r, (offset, i)) in stored.iter().zip(&sent) {
            if acks != "0" {
                assert_eq!(r.offset, *offset, "acked offset is the stored offset");
            }
            // Per-partition order is send order.
            let want = format!("value-{i:06}-{}", "x".repeat(i % 50));
            assert_eq!(r.value.as_deref(), Some(want.as_bytes()));
            assert_eq!(r.key.as_deref(), Some(format!("key-{}", i % 37).as_bytes()));
            assert_eq!(r.headers.len(), 1);
            if acks == "all" {
                assert!(r.producer_id >= 0, "idempotent batches carry a producer id");
                assert_eq!(
                    r.sequence as i64, r.offset,
                    "one producer: sequence = offset"
                );
            } else {
                assert_eq!(r.producer_id, -1);
            }
        }
    }
    assert_eq!(total, n);
    let m = producer.metrics();
    assert_eq!(m.records_sent, n as u64);
    assert_eq!(m.record_errors, 0);
    assert!(m.requests > 0 && m.batch_size_avg > 0.0);
    if compression != "none" {
        assert!(m.compression_rate_avg < 1.0, "{compression}: {m:?}");
    }
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_acks_and_codecs() -> TestResult {
    for acks in ["0", "1", "all"] {
        produce_and_verify(acks, "none", 3000).await?;
    }
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        produce_and_verify("all", codec, 2000).await?;
    }
    produce_and_verify("1", "lz4", 2000).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_callbacks_keyless_and_explicit_partitions() -> TestResult {
    let (_dir, broker, _admin) = setup("cb", 4).await;
    let bootstrap = broker.kafka_addr.to_string();
    // Sticky: small batches so the producer moves between partitions.
    let producer = Producer::new(
        &bootstrap,
        producer_config(&[("batch.size", "1024"), ("linger.ms", "1")]),
    )
    .await?;
    let done = Arc::new(AtomicUsize::new(0));
    let per_partition: Arc<parking_lot::Mutex<BTreeMap<i32, usize>>> = Arc::default();
    for i in 0..2000 {
        let d = done.clone();
        let pp = per_partition.clone();
        producer
            .send_with(
                ProducerRecord::new("cb", vec![b'v'; 100 + i % 7]),
                move |r| {
                    let md = r.expect("acked");
                    *pp.lock().entry(md.partition).or_default() += 1;
                    d.fetch_add(1, Ordering::SeqCst);
                },
            )
            .await?;
    }
    producer
        .send_and_forget(ProducerRecord::new("cb", "to-3").with_partition(3))
        .await?;
    let md = producer
        .send(
            ProducerRecord::new("cb", "to-2")
                .with_partition(2)
                .with_timestamp(12345),
        )
        .await?
        .await?;
    assert_eq!((md.partition, md.timestamp_ms), (2, 12345));
    assert!(producer
        .send(ProducerRecord::new("cb", "bad").with_partition(4))
        .await
        .is_err());
    producer.flush().await?;
    assert_eq!(done.load(Ordering::SeqCst), 2000);
    let spread = per_partition.lock().clone();
    assert_eq!(
        spread.len(),
        4,
        "sticky partitioner moves across partitions: {spread:?}"
    );
    producer.close(Duration::from_secs(5)).await;

    // Round-robin: keyless records cycle through partitions one by one.
    let rr = Producer::new(
        &bootstrap,
        producer_config(&[("partitioner.class", "round-robin")]),
    )
    .await?;
    let mut parts = Vec::new();
    for _ in 0..8 {
        parts.push(rr.send(ProducerRecord::new("cb", "rr")).await?);
    }
    let mut got = Vec::new();
    for f in parts {
        got.push(f.await?.partition);
    }
    assert_eq!(got, vec![0, 1, 2, 3, 0, 1, 2, 3]);
    rr.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_waits_for_buffer_memory() -> TestResult {
    let (_dir, broker, _admin) = setup("bp", 1).await;
    let bootstrap = broker.kafka_addr.to_string();
    // 4 KiB of buffer, a long linger: three 1200 B records fit, the fourth cannot be
    // queued until the lingering batch is acknowledged. A send waiting for memory makes
    // every batch ready at once (as in Java), so it does not wait for linger.ms.
    let producer = Producer::new(
        &bootstrap,
        producer_config(&[
            ("buffer.memory", "4096"),
            ("batch.size", "65536"),
            ("linger.ms", "60000"),
            ("delivery.timeout.ms", "120000"),
        ]),
    )
    .await?;
    let mut futures = Vec::new();
    for _ in 0..3 {
        futures.push(
            producer
                .send(ProducerRecord::new("bp", vec![0u8; 1200]))
                .await?,
        );
    }
    let available = producer.metrics().buffer_available_bytes;
    assert!(available < 1200, "{available}");
    let started = tokio::time::Instant::now();
    let blocked = producer.send(ProducerRecord::new("bp", vec![1u8; 1200]));
    let f = tokio::time::timeout(Duration::from_secs(10), blocked).await??;
    assert!(started.elapsed() < Duration::from_secs(5));
    futures.push(f);
    // The fourth record sits in a new batch for linger.ms (60 s) unless flushed.
    producer.flush().await?;
    for f in futures {
        f.await?;
    }
    // Too large for buffer.memory: refused at once.
    let err = producer
        .send(ProducerRecord::new("bp", vec![0u8; 5000]))
        .await
        .err()
        .expect("too large");
    assert_eq!(err.code(), Some(10), "{err}");
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_waits_while_memory_is_held_in_flight() -> TestResult {
    // Back-pressure proper: with the proxy black-holing responses, acknowledgements
    // never come, so once buffer.memory is used up `send` stays pending.
    let dir = tempfile::tempdir()?;
    let proxy = Proxy::start().await;
    let broker = start_broker(dir.path(), &[("advertised.listeners", &proxy.listener())]).await;
    proxy.set_target(broker.kafka_addr);
    let admin = Admin::new(&proxy.addr.to_string()).await?;
    admin.create_topic(NewTopic::new("held", 1, 1)).await?;
    let producer = Producer::new(
        &proxy.addr.to_string(),
        producer_config(&[
            ("buffer.memory", "8192"),
            ("linger.ms", "0"),
            ("request.timeout.ms", "60000"),
            ("delivery.timeout.ms", "120000"),
        ]),
    )
    .await?;
    // Metadata and a first record while responses still flow.
    producer
        .send(ProducerRecord::new("held", "first"))
        .await?
        .await?;
    proxy.swallow_all_responses(true);
    let mut sent = 0;
    let r = tokio::time::timeout(Duration::from_millis(1500), async {
        loop {
            producer
                .send_and_forget(ProducerRecord::new("held", vec![0u8; 500]))
                .await?;
            sent += 1;
        }
        #[allow(unreachable_code)]
        Ok::<(), ClientError>(())
    })
    .await;
    assert!(r.is_err(), "send must block once buffer.memory is in use");
    assert!(
        (5..=16).contains(&sent),
        "about 8 KiB of 500 B records queued: {sent}"
    );
    assert!(producer.metrics().buffer_available_bytes < 600);
    producer.close(Duration::from_millis(0)).await;
    broker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_retry_after_lost_response_is_not_duplicated() -> TestResult {
    for idempotent in [true, false] {
        let dir = tempfile::tempdir()?;
        let proxy = Proxy::start().await;
        let broker = start_broker(dir.path(), &[("advertised.listeners", &proxy.listener())]).await;
        proxy.set_target(broker.kafka_addr);
        let bootstrap = proxy.addr.to_string();
        let admin = Admin::new(&bootstrap).await?;
        admin.create_topic(NewTopic::new("idem", 1, 1)).await?;
        let acks = if idempotent { "all" } else { "1" };
        let producer = Producer::new(
            &bootstrap,
            producer_config(&[
                ("acks", acks),
                ("linger.ms", "0"),
                ("retry.backoff.ms", "20"),
                ("max.in.flight.requests.per.connection", "1"),
            ]),
        )
        .await?;
        let first = producer
            .send(ProducerRecord::new("idem", "before"))
            .await?
            .await?;
        assert_eq!(first.offset, 0);
        // The broker appends the next batch, but its response is lost with the
        // connection: the producer must resend it.
        proxy.drop_next_produce_response();
        let second = producer
            .send(ProducerRecord::new("idem", "retried"))
            .await?;
        let second = tokio::time::timeout(Duration::from_secs(20), second).await??;
        let third = producer
            .send(ProducerRecord::new("idem", "after"))
            .await?
            .await?;
        assert!(proxy.dropped() >= 1, "the response was dropped");
        assert!(producer.metrics().record_retries >= 1);
        let conn = Connection::connect(&broker.kafka_addr.to_string(), "verify").await?;
        let stored = fetch_all(&conn, "idem", 0).await;
        let values: Vec<String> = stored
            .iter()
            .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).to_string())
            .collect();
        if idempotent {
            assert_eq!(values, ["before", "retried", "after"], "no duplicate");
            assert_eq!(
                second.offset, 1,
                "the duplicate resolves with the original offset"
            );
            assert_eq!(third.offset, 2);
            let pid = producer.producer_id().expect("idempotent").0;
            for (i, r) in stored.iter().enumerate() {
                assert_eq!(r.producer_id, pid);
                assert_eq!(r.producer_epoch, 0);
                assert_eq!(r.sequence, i as i32);
            }
        } else {
            // Without idempotence the retry writes the record a second time: the
            // at-least-once duplicate Kafka documents.
            assert_eq!(values, ["before", "retried", "retried", "after"]);
            assert_eq!(second.offset, 2);
        }
        producer.close(Duration::from_secs(5)).await;
        broker.shutdown().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_timeout_when_the_broker_is_gone() -> TestResult {
    let dir = tempfile::tempdir()?;
    let proxy = Proxy::start().await;
    let broker = start_broker(dir.path(), &[("advertised.listeners", &proxy.listener())]).await;
    proxy.set_target(broker.kafka_addr);
    let bootstrap = proxy.addr.to_string();
    let admin = Admin::new(&bootstrap).await?;
    admin.create_topic(NewTopic::new("gone", 2, 1)).await?;
    let producer = Producer::new(
        &bootstrap,
        producer_config(&[
            ("linger.ms", "10"),
            ("request.timeout.ms", "500"),
            ("delivery.timeout.ms", "1500"),
            ("retry.backoff.ms", "50"),
        ]),
    )
    .await?;
    producer
        .send(ProducerRecord::new("gone", "ok").with_key("k"))
        .await?
        .await?;
    proxy.set_down(true);
    let started = tokio::time::Instant::now();
    let mut futures = Vec::new();
    for i in 0..50 {
        futures.push(
            producer
                .send(ProducerRecord::new("gone", format!("v{i}")).with_key(format!("k{i}")))
                .await?,
        );
    }
    for f in futures {
        let err = f.await.expect_err("the broker is unreachable");
        assert!(matches!(err, ClientError::Timeout(_)), "{err}");
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(6),
        "failed after delivery.timeout.ms: {waited:?}"
    );
    // Failed records are counted before their futures fail; their memory is returned
    // once the batch is done, which flush waits for.
    assert_eq!(producer.metrics().record_errors, 50);
    producer.flush().await?;
    let m = producer.metrics();
    assert_eq!(m.incomplete_records, 0);
    assert_eq!(m.buffer_available_bytes, m.buffer_total_bytes);
    producer.close(Duration::from_millis(100)).await;
    broker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_rules_follow_java() -> TestResult {
    let (_dir, broker, _admin) = setup("cfg", 1).await;
    let bootstrap = broker.kafka_addr.to_string();
    // delivery.timeout.ms below linger.ms + request.timeout.ms, set explicitly: refused.
    let err = Producer::new(
        &bootstrap,
        producer_config(&[
            ("delivery.timeout.ms", "1000"),
            ("request.timeout.ms", "2000"),
        ]),
    )
    .await
    .err()
    .expect("refused");
    assert!(matches!(err, ClientError::Config(_)), "{err}");
    // A default delivery timeout is raised to the sum instead.
    let p = Producer::new(
        &bootstrap,
        producer_config(&[("request.timeout.ms", "200000")]),
    )
    .await?;
    assert_eq!(
        p.settings().delivery_timeout,
        Duration::from_millis(200_005)
    );
    assert!(p.settings().idempotence);
    assert!(p.producer_id().is_some());
    p.close(Duration::from_secs(1)).await;
    // acks=1 with default idempotence: idempotence is off, silently.
    let p = Producer::new(&bootstrap, producer_config(&[("acks", "1")])).await?;
    assert!(!p.settings().idempotence);
    assert!(p.producer_id().is_none());
    p.close(Duration::from_secs(1)).await;
    // A missing topic is reported (after max.block.ms in Java; here when metadata says
    // it does not exist - checked with a short wait).
    broker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_metrics_register() -> TestResult {
    let (_dir, broker, _admin) = setup("m", 1).await;
    let producer = Producer::new(
        &broker.kafka_addr.to_string(),
        producer_config(&[("client.id", "metrics-test")]),
    )
    .await?;
    let registry = prometheus::Registry::new();
    producer.prometheus().register(&registry)?;
    for _ in 0..100 {
        producer
            .send_and_forget(ProducerRecord::new("m", "x"))
            .await?;
    }
    producer.flush().await?;
    let families = registry.gather();
    let sent = families
        .iter()
        .find(|f| f.name() == "kafkalab_producer_record_send_total")
        .expect("registered");
    let m = &sent.get_metric()[0];
    assert_eq!(m.get_counter().get_value(), 100.0);
    assert!(m
        .get_label()
        .iter()
        .any(|l| l.name() == "client_id" && l.value() == "metrics-test"));
    let s = producer.metrics();
    assert!(s.record_queue_time_avg > 0.0 && s.request_latency_avg > 0.0);
    assert!(s.records_per_request_avg >= 1.0);
    producer.close(Duration::from_secs(1)).await;
    broker.shutdown().await;
    Ok(())
}

/// Throughput check (run with `--ignored --nocapture`, release mode): 100-byte
/// records, acks=1, linger.ms=5, an in-process broker. Prints records/s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "throughput measurement; run in release with --ignored --nocapture"]
async fn producer_throughput() -> TestResult {
    let n: usize = std::env::var("KAFKALAB_PRODUCER_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000);
    let partitions: i32 = std::env::var("KAFKALAB_PRODUCER_PARTITIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let mode = std::env::var("KAFKALAB_PRODUCER_MODE").unwrap_or_else(|_| "callback".into());
    let acks = std::env::var("KAFKALAB_PRODUCER_ACKS").unwrap_or_else(|_| "1".into());
    let compression =
        std::env::var("KAFKALAB_PRODUCER_COMPRESSION").unwrap_or_else(|_| "none".into());
    let (_dir, broker, _admin) = setup("perf", partitions).await;
    let producer = Producer::new(
        &broker.kafka_addr.to_string(),
        producer_config(&[
            ("acks", acks.as_str()),
            ("linger.ms", "5"),
            ("compression.type", compression.as_str()),
        ]),
    )
    .await?;
    let topic: Arc<str> = Arc::from("perf");
    let value = Bytes::from(vec![b'x'; 100]);
    let acked = Arc::new(AtomicUsize::new(0));
    let started = tokio::time::Instant::now();
    let mut futures = Vec::new();
    for i in 0..n {
        let rec = ProducerRecord {
            topic: topic.clone(),
            partition: None,
            key: None,
            value: Some(value.clone()),
            timestamp_ms: None,
            headers: Vec::new(),
        };
        match mode.as_str() {
            "future" => {
                futures.push(producer.send(rec).await?);
                if futures.len() >= 100_000 {
                    for f in futures.drain(..) {
                        f.await?;
                    }
                }
            }
            "forget" => producer.send_and_forget(rec).await?,
            _ => {
                let a = acked.clone();
                let intended = i as u64;
                producer
                    .send_with(rec, move |r| {
                        if r.is_ok() && intended < u64::MAX {
                            a.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                    .await?
            }
        }
    }
    for f in futures {
        f.await?;
    }
    producer.flush().await?;
    let secs = started.elapsed().as_secs_f64();
    let m = producer.metrics();
    println!(
        "producer throughput ({mode}, acks={acks}, linger.ms=5, {compression}, {partitions} partitions): {n} records of 100 B in {secs:.2} s = {:.0} records/s ({:.1} MB/s); batch-size-avg {:.0} B, records-per-request-avg {:.0}, request-latency-avg {:.2} ms, requests {}, retries {}",
        n as f64 / secs,
        n as f64 * 100.0 / secs / 1e6,
        m.batch_size_avg,
        m.records_per_request_avg,
        m.request_latency_avg * 1e3,
        m.requests,
        m.record_retries,
    );
    assert_eq!(m.record_errors, 0);
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
    Ok(())
}

// ---------------------------------------------------------------------------------
// A TCP proxy in front of the broker that can lose a produce response or go down.
// ---------------------------------------------------------------------------------

struct ProxyState {
    target: parking_lot::Mutex<Option<SocketAddr>>,
    drop_next_produce: AtomicBool,
    swallow_all: AtomicBool,
    dropped: AtomicUsize,
    down: watch::Sender<bool>,
}

struct Proxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
}

impl Proxy {
    async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let (down, _) = watch::channel(false);
        let state = Arc::new(ProxyState {
            target: parking_lot::Mutex::new(None),
            drop_next_produce: AtomicBool::new(false),
            swallow_all: AtomicBool::new(false),
            dropped: AtomicUsize::new(0),
            down,
        });
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let st = st.clone();
                tokio::spawn(async move {
                    if *st.down.borrow() {
                        return;
                    }
                    let Some(target) = *st.target.lock() else {
                        return;
                    };
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    serve(st, client, server).await;
                });
            }
        });
        Proxy { addr, state }
    }

    fn listener(&self) -> String {
        format!("PLAINTEXT://{}", self.addr)
    }

    fn set_target(&self, target: SocketAddr) {
        *self.state.target.lock() = Some(target);
    }

    fn drop_next_produce_response(&self) {
        self.state.drop_next_produce.store(true, Ordering::SeqCst);
    }

    fn swallow_all_responses(&self, on: bool) {
        self.state.swallow_all.store(on, Ordering::SeqCst);
    }

    fn dropped(&self) -> usize {
        self.state.dropped.load(Ordering::SeqCst)
    }

    fn set_down(&self, down: bool) {
        let _ = self.state.down.send(down);
    }
}

async fn serve(st: Arc<ProxyState>, client: TcpStream, server: TcpStream) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let swallow = Arc::new(AtomicBool::new(false));
    let (kill, _) = watch::channel(false);
    let kill = Arc::new(kill);
    // client -> broker, frame by frame.
    let up = {
        let st = st.clone();
        let swallow = swallow.clone();
        let kill = kill.clone();
        async move {
            loop {
                let mut len = [0u8; 4];
                if cr.read_exact(&mut len).await.is_err() {
                    break;
                }
                let n = i32::from_be_bytes(len).max(0) as usize;
                let mut frame = vec![0u8; n];
                if cr.read_exact(&mut frame).await.is_err() {
                    break;
                }
                let api_key = if n >= 2 {
                    i16::from_be_bytes([frame[0], frame[1]])
                } else {
                    -1
                };
                let lose = api_key == 0 && st.drop_next_produce.swap(false, Ordering::SeqCst);
                if lose {
                    swallow.store(true, Ordering::SeqCst);
                }
                if sw.write_all(&len).await.is_err() || sw.write_all(&frame).await.is_err() {
                    break;
                }
                if lose {
                    // Let the broker append it, then cut the connection: the response
                    // never reaches the producer.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    st.dropped.fetch_add(1, Ordering::SeqCst);
                    let _ = kill.send(true);
                    break;
                }
            }
        }
    };
    // broker -> client, bytes.
    let down_st = st.clone();
    let down = {
        let swallow = swallow.clone();
        async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match sr.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if swallow.load(Ordering::SeqCst) || down_st.swallow_all.load(Ordering::SeqCst) {
                    continue;
                }
                if cw.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    };
    let mut killed = kill.subscribe();
    let mut down_rx = st.down.subscribe();
    tokio::select! {
        _ = up => {}
        _ = down => {}
        _ = killed.wait_for(|k| *k) => {}
        _ = down_rx.wait_for(|d| *d) => {}
    }
}

/// A one-node cluster (it has the fault control) with topic `t` of one partition.
async fn faulty_cluster(dir: &std::path::Path) -> kafkalab_broker::Cluster {
    let config = kafkalab_broker::BrokerConfig::from_pairs(&[]).expect("broker config");
    let cluster = kafkalab_broker::Cluster::start(
        1,
        &config,
        dir,
        Arc::new(kafkalab_broker::clock::SystemClock),
    )
    .await
    .expect("cluster starts");
    let admin = Admin::new(&cluster.bootstrap()).await.expect("admin");
    admin
        .create_topic(NewTopic::new("t", 1, 1))
        .await
        .expect("create topic");
    cluster
}

fn inject_produce_errors(count: u32) -> kafkalab_broker::faults::control::FaultCommand {
    kafkalab_broker::faults::control::FaultCommand::InjectError(
        kafkalab_broker::faults::ErrorRule {
            api: kafka_protocol::messages::ApiKey::Produce,
            code: kafka_protocol::ResponseError::NotLeaderOrFollower.code(),
            remaining: count,
            topic: Some("t".into()),
            partition: Some(0),
            node: None,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_produce_errors_are_retried() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut cluster = faulty_cluster(dir.path()).await;
    let producer = Producer::new(
        &cluster.bootstrap(),
        producer_config(&[("linger.ms", "0"), ("retry.backoff.ms", "10")]),
    )
    .await?;
    // The partition is ready (its leader took its role) once a record is acknowledged.
    producer.send(ProducerRecord::new("t", "v0")).await?.await?;
    let before = producer.metrics().record_retries;
    cluster.execute(inject_produce_errors(3)).await?;
    for i in 1..5 {
        let md = producer
            .send(ProducerRecord::new("t", format!("v{i}")))
            .await?;
        tokio::time::timeout(Duration::from_secs(10), md).await??;
    }
    // The next record's request met the three errors and was retried each time.
    assert_eq!(producer.metrics().record_retries - before, 3);
    assert_eq!(producer.metrics().record_errors, 0);
    assert!(cluster.faults().view().errors.is_empty(), "rule used up");
    let conn = Connection::connect(&cluster.bootstrap(), "verify").await?;
    let values: Vec<String> = fetch_all(&conn, "t", 0)
        .await
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).to_string())
        .collect();
    assert_eq!(
        values,
        ["v0", "v1", "v2", "v3", "v4"],
        "each once, in order"
    );
    producer.close(Duration::from_secs(5)).await;
    cluster.shutdown().await;
    Ok(())
}

/// With five requests in flight and no idempotence, a batch whose request failed is
/// retried after the batches sent behind it were appended: the log is out of order.
/// Idempotence keeps the order (the broker refuses the batches after the gap, and the
/// producer resends them in order).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_retries_reorder_without_idempotence() -> TestResult {
    for idempotent in [false, true] {
        let dir = tempfile::tempdir()?;
        let mut cluster = faulty_cluster(dir.path()).await;
        // Requests wait 20 ms on the way in, one after the other: several are in flight.
        cluster
            .execute(kafkalab_broker::faults::control::FaultCommand::Link {
                from: kafkalab_broker::faults::Node::Clients,
                to: kafkalab_broker::faults::Node::Broker(0),
                latency: Some(Duration::from_millis(20)),
                loss: None,
                blocked: None,
            })
            .await?;
        let producer = Producer::new(
            &cluster.bootstrap(),
            producer_config(&[
                (
                    "enable.idempotence",
                    if idempotent { "true" } else { "false" },
                ),
                ("acks", "all"),
                ("linger.ms", "0"),
                ("max.in.flight.requests.per.connection", "5"),
            ]),
        )
        .await?;
        // Warm up the connection, then fail the next request.
        producer
            .send(ProducerRecord::new("t", "00000"))
            .await?
            .await?;
        cluster.execute(inject_produce_errors(1)).await?;
        let mut futures = Vec::new();
        for i in 1..200 {
            futures.push(
                producer
                    .send(ProducerRecord::new("t", format!("{i:05}")))
                    .await?,
            );
            if i % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        for f in futures {
            tokio::time::timeout(Duration::from_secs(20), f).await??;
        }
        let conn = Connection::connect(&cluster.bootstrap(), "verify").await?;
        let values: Vec<String> = fetch_all(&conn, "t", 0)
            .await
            .iter()
            .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).to_string())
            .collect();
        assert_eq!(
            values.len(),
            200,
            "each record once (idempotent={idempotent})"
        );
        let in_order = values.windows(2).all(|w| w[0] < w[1]);
        assert!(producer.metrics().record_retries >= 1);
        assert_eq!(
            in_order,
            idempotent,
            "idempotent={idempotent}: log order {:?}",
            &values[..values.len().min(60)]
        );
        producer.close(Duration::from_secs(5)).await;
        cluster.shutdown().await;
    }
    Ok(())
}

/// Partitions added: a producer maps keys over the new count once its metadata is
/// refreshed (every metadata.max.age.ms), as Java's default partitioner does; one that
/// has not refreshed yet (the default 5 minutes) keeps the old mapping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_move_after_partitions_are_added_and_metadata_refreshes() -> TestResult {
    let (_dir, broker, admin) = setup("grow", 2).await;
    let bootstrap = broker.kafka_addr.to_string();
    let fresh = Producer::new(
        &bootstrap,
        producer_config(&[("metadata.max.age.ms", "200"), ("linger.ms", "0")]),
    )
    .await?;
    let stale = Producer::new(&bootstrap, producer_config(&[("linger.ms", "0")])).await?;
    // A key whose partition differs over 2 and 4 partitions.
    let key = (0..100)
        .map(|k| format!("key-{k}"))
        .find(|k| partition_for_key(k.as_bytes(), 2) != partition_for_key(k.as_bytes(), 4))
        .expect("some key moves");
    let (old, new) = (
        partition_for_key(key.as_bytes(), 2),
        partition_for_key(key.as_bytes(), 4),
    );
    let send = |p: &Producer| {
        let p = p.clone();
        let key = key.clone();
        async move {
            p.send(ProducerRecord::new("grow", "v").with_key(key))
                .await?
                .await
                .map(|md| md.partition)
        }
    };
    assert_eq!(send(&fresh).await?, old);
    assert_eq!(send(&stale).await?, old);
    assert_eq!(fresh.partition_growth(), stale.partition_growth());
    let growth = fresh.partition_growth();
    admin.create_partitions("grow", 4).await?;
    // Records keep flowing; within a few refresh periods the key lands on its new
    // partition, and stays there.
    let mut sent = 0;
    loop {
        let p = send(&fresh).await?;
        sent += 1;
        if p == new {
            break;
        }
        assert_eq!(p, old, "before the refresh: the old mapping");
        assert!(sent < 20_000, "the producer never saw the new partitions");
    }
    assert!(fresh.partition_growth() > growth);
    assert_eq!(fresh.known_partitions("grow"), Some(4));
    for _ in 0..20 {
        assert_eq!(send(&fresh).await?, new);
    }
    // Not refreshed yet: the old count, the old partition.
    assert_eq!(stale.known_partitions("grow"), Some(2));
    assert_eq!(send(&stale).await?, old);
    fresh.close(Duration::from_secs(5)).await;
    stale.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
    Ok(())
}
