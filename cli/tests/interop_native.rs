//! Interoperability of kafkalab's native client (`kafkalab_loadgen::client`) with
//! librdkafka (the `rdkafka` crate), on a `kafkalab broker` child process:
//!
//! - native producer -> rdkafka consumer: every record arrives with the same key,
//!   value, headers, partition and offset; keyed records land on the partition
//!   librdkafka's `murmur2_random` partitioner picks for the same key;
//! - rdkafka producer (uncompressed, gzip, lz4, zstd) -> native consumer: every record
//!   read back identically;
//! - a native consumer and an rdkafka consumer in one group (range assignor on both)
//!   split a 4-partition topic disjointly and together cover it; records produced then
//!   are each consumed once, by the owner of their partition.
//!
//! Every broker runs on ephemeral ports in a fresh temporary `log.dirs`; every wait is
//! bounded. Run: `cargo test -p kafkalab --test interop_native`

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafkalab_loadgen::client::admin::{Admin, NewTopic};
use kafkalab_loadgen::client::consumer::Consumer as NativeConsumer;
use kafkalab_loadgen::client::producer::partitioner::partition_for_key;
use kafkalab_loadgen::client::producer::{Producer as NativeProducer, ProducerRecord};
use kafkalab_loadgen::client::ClientConfig as NativeConfig;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const CONSUME_TIMEOUT: Duration = Duration::from_secs(30);
const GROUP_TIMEOUT: Duration = Duration::from_secs(45);
/// After the expected number of records arrived keep polling this long to catch
/// duplicates.
const EXTRA_POLL: Duration = Duration::from_secs(1);

mod common;
use common::Broker;

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Bounds a native-client future.
async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .unwrap_or_else(|_| panic!("{what} timed out"))
}

async fn create_topics(b: &Broker, topics: &[(&str, i32)]) {
    let admin = bounded("admin", Admin::new(&b.bootstrap))
        .await
        .expect("native admin");
    for (t, n) in topics {
        bounded("create topic", admin.create_topic(NewTopic::new(*t, *n, 1)))
            .await
            .unwrap_or_else(|e| panic!("create {t}: {e}"));
    }
}

fn rd_producer(b: &Broker, extra: &[(&str, &str)]) -> FutureProducer {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &b.bootstrap)
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "20000")
        .set("socket.timeout.ms", "10000");
    for (k, v) in extra {
        cfg.set(*k, *v);
    }
    cfg.create().expect("rdkafka producer")
}

/// Sends every record through rdkafka and returns (partition, offset) per record.
async fn rd_produce(p: &FutureProducer, topic: &str, recs: &[Rec]) -> Vec<(i32, i64)> {
    let mut pending = Vec::with_capacity(recs.len());
    for r in recs {
        let mut rec = FutureRecord::<Vec<u8>, Vec<u8>>::to(topic).payload(&r.value);
        if let Some(k) = &r.key {
            rec = rec.key(k);
        }
        pending.push(p.send_result(rec).map_err(|(e, _)| e).expect("enqueue"));
    }
    let mut out = Vec::with_capacity(pending.len());
    for fut in pending {
        let d = bounded("rdkafka delivery", fut)
            .await
            .expect("delivery future cancelled")
            .map_err(|(e, _)| e)
            .expect("rdkafka delivery");
        out.push((d.partition, d.offset));
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    key: Option<Vec<u8>>,
    value: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Got {
    key: Option<Vec<u8>>,
    value: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
}

/// Reads `expected` records (plus anything arriving within [`EXTRA_POLL`]) from every
/// partition with an rdkafka consumer, keyed by (partition, offset).
fn rd_consume_all(
    b: &Broker,
    topic: &str,
    partitions: i32,
    expected: usize,
) -> BTreeMap<(i32, i64), Got> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        .set("group.id", format!("interop-reader-{topic}"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("rdkafka consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("tpl");
    }
    c.assign(&tpl).expect("assign");
    let mut out = BTreeMap::new();
    let mut n = 0usize;
    let deadline = Instant::now() + CONSUME_TIMEOUT;
    let mut extra: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if now > deadline || extra.is_some_and(|d| now > d) {
            break;
        }
        match c.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(e)) => panic!("rdkafka consumer error: {e}"),
            Some(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|Header { key, value }| {
                                (key.to_string(), value.unwrap_or_default().to_vec())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let dup = out.insert(
                    (m.partition(), m.offset()),
                    Got {
                        key: m.key().map(<[u8]>::to_vec),
                        value: m.payload().unwrap_or_default().to_vec(),
                        headers,
                    },
                );
                assert!(
                    dup.is_none(),
                    "offset {}-{} delivered twice",
                    m.partition(),
                    m.offset()
                );
                n += 1;
            }
        }
        if n >= expected && extra.is_none() {
            extra = Some(Instant::now() + EXTRA_POLL);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------

/// Native producer -> rdkafka consumer, and the same keys through librdkafka's
/// `murmur2_random` partitioner land on the same partitions.
#[test]
fn native_producer_rdkafka_consumer() {
    let mut b = Broker::start(&[("group.initial.rebalance.delay.ms", "0")]);
    let rt = runtime();
    const PARTITIONS: i32 = 6;
    const N: usize = 300;
    let topic = "native-to-rdkafka";
    let reference = "native-to-rdkafka-ref";
    rt.block_on(create_topics(
        &b,
        &[(topic, PARTITIONS), (reference, PARTITIONS)],
    ));
    let recs: Vec<Rec> = (0..N)
        .map(|i| Rec {
            // Every tenth record keyless, one key repeated, one empty key.
            key: match i {
                _ if i % 10 == 0 => None,
                7 => Some(Vec::new()),
                _ => Some(format!("key-{}", i % 97).into_bytes()),
            },
            value: format!("value-{i}-{}", "x".repeat(i % 50)).into_bytes(),
            headers: if i % 7 == 0 {
                vec![
                    ("h1".to_string(), format!("v{i}").into_bytes()),
                    ("h2".to_string(), Vec::new()),
                ]
            } else {
                Vec::new()
            },
        })
        .collect();

    // Native producer: every record, with its delivery (partition, offset).
    let delivered: Vec<(i32, i64)> = rt.block_on(async {
        let config = NativeConfig::producer()
            .set("linger.ms", 5)
            .expect("config");
        let p = bounded("native producer", NativeProducer::new(&b.bootstrap, config))
            .await
            .expect("native producer");
        let mut futs = Vec::with_capacity(N);
        for r in &recs {
            let mut rec = ProducerRecord::new(topic, r.value.clone());
            if let Some(k) = &r.key {
                rec = rec.with_key(k.clone());
            }
            for (hk, hv) in &r.headers {
                rec = rec.with_header(hk.clone(), hv.clone());
            }
            futs.push(bounded("send", p.send(rec)).await.expect("send"));
        }
        let mut out = Vec::with_capacity(N);
        for f in futs {
            let md = bounded("native delivery", f)
                .await
                .expect("native delivery");
            out.push((md.partition, md.offset));
        }
        p.close(Duration::from_secs(10)).await;
        out
    });

    // librdkafka's murmur2_random placement of the keyed records.
    let keyed: Vec<Rec> = recs.iter().filter(|r| r.key.is_some()).cloned().collect();
    let rd_placed = rt.block_on(async {
        let p = rd_producer(&b, &[]);
        rd_produce(&p, reference, &keyed).await
    });
    let mut k = 0;
    for (r, (partition, _)) in recs.iter().zip(&delivered) {
        if let Some(key) = &r.key {
            assert_eq!(
                *partition, rd_placed[k].0,
                "key {:?}: native producer chose partition {partition}, librdkafka murmur2_random {}",
                String::from_utf8_lossy(key),
                rd_placed[k].0
            );
            assert_eq!(*partition, partition_for_key(key, PARTITIONS));
            k += 1;
        }
    }

    // rdkafka reads every record back identically, at the delivered offsets.
    let got = rd_consume_all(&b, topic, PARTITIONS, N);
    assert_eq!(
        got.len(),
        N,
        "rdkafka consumed {} of {N} records",
        got.len()
    );
    for (r, at) in recs.iter().zip(&delivered) {
        let g = got
            .get(at)
            .unwrap_or_else(|| panic!("no record at {}-{}", at.0, at.1));
        assert_eq!(g.key, r.key, "key at {at:?}");
        assert_eq!(g.value, r.value, "value at {at:?}");
        assert_eq!(g.headers, r.headers, "headers at {at:?}");
    }
    // Keyless records spread over more than one partition (sticky, switching batches)
    // is not guaranteed with 30 records; only check every partition offset is dense.
    let mut per_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for (p, o) in got.keys() {
        per_partition.entry(*p).or_default().push(*o);
    }
    for (p, offsets) in per_partition {
        let want: Vec<i64> = (0..offsets.len() as i64).collect();
        assert_eq!(offsets, want, "partition {p}: offsets not dense from 0");
    }
    b.assert_alive();
}

/// rdkafka producer (each compression codec) -> native consumer.
#[test]
fn rdkafka_producer_native_consumer() {
    let mut b = Broker::start(&[("group.initial.rebalance.delay.ms", "0")]);
    let rt = runtime();
    const PARTITIONS: i32 = 5;
    const N: usize = 200;
    for codec in ["none", "gzip", "lz4", "zstd"] {
        let topic = format!("rdkafka-to-native-{codec}");
        rt.block_on(create_topics(&b, &[(&topic, PARTITIONS)]));
        let recs: Vec<Rec> = (0..N)
            .map(|i| Rec {
                key: (i % 9 != 0).then(|| format!("k{i}").into_bytes()),
                value: format!("{codec}-value-{i}-{}", "y".repeat(i % 300)).into_bytes(),
                headers: Vec::new(),
            })
            .collect();
        let placed = rt.block_on(async {
            let p = rd_producer(&b, &[("compression.type", codec)]);
            rd_produce(&p, &topic, &recs).await
        });
        for (r, (partition, _)) in recs.iter().zip(&placed) {
            if let Some(k) = &r.key {
                assert_eq!(
                    *partition,
                    partition_for_key(k, PARTITIONS),
                    "librdkafka murmur2_random vs native partitioner for key {:?}",
                    String::from_utf8_lossy(k)
                );
            }
        }

        let got: BTreeMap<(i32, i64), Got> = rt.block_on(async {
            let config = NativeConfig::consumer()
                .set("auto.offset.reset", "earliest")
                .and_then(|c| c.set("fetch.max.wait.ms", 100))
                .expect("config");
            let mut c = bounded("native consumer", NativeConsumer::new(&b.bootstrap, config))
                .await
                .expect("native consumer");
            c.assign((0..PARTITIONS).map(|p| (topic.clone(), p)).collect())
                .await
                .expect("assign");
            let mut out = BTreeMap::new();
            let deadline = tokio::time::Instant::now() + CONSUME_TIMEOUT;
            let mut extra: Option<tokio::time::Instant> = None;
            loop {
                let now = tokio::time::Instant::now();
                if now > deadline || extra.is_some_and(|d| now > d) {
                    break;
                }
                let batch = c
                    .poll(Duration::from_millis(200))
                    .await
                    .expect("native poll");
                for r in batch {
                    let dup = out.insert(
                        (r.partition, r.offset),
                        Got {
                            key: r.key.map(|k| k.to_vec()),
                            value: r.value.map(|v| v.to_vec()).unwrap_or_default(),
                            headers: Vec::new(),
                        },
                    );
                    assert!(dup.is_none(), "{codec}: offset delivered twice");
                }
                if out.len() >= N && extra.is_none() {
                    extra = Some(tokio::time::Instant::now() + EXTRA_POLL);
                }
            }
            let _ = c.close().await;
            out
        });
        assert_eq!(
            got.len(),
            N,
            "{codec}: native consumer read {} of {N} records",
            got.len()
        );
        for (r, at) in recs.iter().zip(&placed) {
            let g = got
                .get(at)
                .unwrap_or_else(|| panic!("{codec}: no record at {}-{}", at.0, at.1));
            assert_eq!(g.key, r.key, "{codec}: key at {at:?}");
            assert_eq!(g.value, r.value, "{codec}: value at {at:?}");
        }
    }
    b.assert_alive();
}

/// What each group member has seen: its assignment and the records it consumed.
#[derive(Default)]
struct MemberView {
    assignment: BTreeSet<i32>,
    records: Vec<(i32, i64, Vec<u8>)>,
}

/// A native and an rdkafka consumer in one group (range on both) split a
/// 4-partition topic; each record produced afterwards is consumed once, by the member
/// owning its partition.
#[test]
fn mixed_group_range_assignment() {
    let mut b = Broker::start(&[("group.initial.rebalance.delay.ms", "0")]);
    let rt = runtime();
    const PARTITIONS: i32 = 4;
    const N: usize = 400;
    let topic = "mixed-group";
    let group = "mixed-group-g";
    rt.block_on(create_topics(&b, &[(topic, PARTITIONS)]));
    let stop = Arc::new(AtomicBool::new(false));
    let native_view = Arc::new(Mutex::new(MemberView::default()));
    let rd_view = Arc::new(Mutex::new(MemberView::default()));

    // Native member: polls on the runtime until told to stop.
    let native = {
        let stop = stop.clone();
        let view = native_view.clone();
        let bootstrap = b.bootstrap.clone();
        rt.spawn(async move {
            let config = NativeConfig::consumer()
                .set("group.id", group)
                .and_then(|c| c.set("partition.assignment.strategy", "range"))
                .and_then(|c| c.set("auto.offset.reset", "earliest"))
                .and_then(|c| c.set("session.timeout.ms", 10_000))
                .and_then(|c| c.set("heartbeat.interval.ms", 300))
                .and_then(|c| c.set("fetch.max.wait.ms", 100))
                .expect("config");
            let mut c = NativeConsumer::new(&bootstrap, config)
                .await
                .expect("native consumer");
            c.subscribe(&[topic.to_string()]);
            while !stop.load(Ordering::SeqCst) {
                let batch = c.poll(Duration::from_millis(100)).await.expect("poll");
                let mut v = view.lock().expect("view");
                v.assignment = c
                    .assignment()
                    .into_iter()
                    .filter(|(t, _)| t == topic)
                    .map(|(_, p)| p)
                    .collect();
                for r in batch {
                    v.records.push((
                        r.partition,
                        r.offset,
                        r.key.map(|k| k.to_vec()).unwrap_or_default(),
                    ));
                }
            }
            c.close().await.ok();
        })
    };

    // rdkafka member: polls on a thread of its own.
    let rd = {
        let stop = stop.clone();
        let view = rd_view.clone();
        let bootstrap = b.bootstrap.clone();
        std::thread::spawn(move || {
            let c: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", group)
                .set("partition.assignment.strategy", "range")
                .set("auto.offset.reset", "earliest")
                .set("session.timeout.ms", "10000")
                .set("heartbeat.interval.ms", "300")
                .set("fetch.wait.max.ms", "100")
                .create()
                .expect("rdkafka consumer");
            c.subscribe(&[topic]).expect("subscribe");
            while !stop.load(Ordering::SeqCst) {
                let m = c.poll(Duration::from_millis(100));
                let mut v = view.lock().expect("view");
                v.assignment = c
                    .assignment()
                    .map(|tpl| {
                        tpl.elements()
                            .iter()
                            .filter(|e| e.topic() == topic)
                            .map(|e| e.partition())
                            .collect()
                    })
                    .unwrap_or_default();
                match m {
                    None => {}
                    Some(Err(e)) => eprintln!("rdkafka consumer: {e}"),
                    Some(Ok(m)) => v.records.push((
                        m.partition(),
                        m.offset(),
                        m.key().unwrap_or_default().to_vec(),
                    )),
                }
            }
            c.unsubscribe();
        })
    };

    // Wait until the two assignments are disjoint, 2 + 2 partitions, and cover the
    // topic (range: each member gets a contiguous pair).
    let deadline = Instant::now() + GROUP_TIMEOUT;
    let mut stable_since: Option<Instant> = None;
    let (na, ra) = loop {
        let na = native_view.lock().expect("view").assignment.clone();
        let ra = rd_view.lock().expect("view").assignment.clone();
        let split = na.len() == 2
            && ra.len() == 2
            && na.is_disjoint(&ra)
            && na.union(&ra).copied().collect::<BTreeSet<i32>>()
                == (0..PARTITIONS).collect::<BTreeSet<i32>>();
        if split {
            let since = *stable_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= Duration::from_secs(1) {
                break (na, ra);
            }
        } else {
            stable_since = None;
        }
        if Instant::now() > deadline {
            stop.store(true, Ordering::SeqCst);
            panic!("group did not settle on a 2+2 split: native {na:?}, rdkafka {ra:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for pair in [&na, &ra] {
        let v: Vec<i32> = pair.iter().copied().collect();
        assert_eq!(v[1], v[0] + 1, "range assigns contiguous partitions: {v:?}");
    }

    // Produce keyed records across all partitions.
    let delivered: Vec<(i32, i64)> = rt.block_on(async {
        let p = bounded(
            "native producer",
            NativeProducer::new(&b.bootstrap, NativeConfig::producer()),
        )
        .await
        .expect("producer");
        let mut futs = Vec::with_capacity(N);
        for i in 0..N {
            let rec = ProducerRecord::new(topic, format!("v{i}")).with_key(format!("k{i}"));
            futs.push(bounded("send", p.send(rec)).await.expect("send"));
        }
        let mut out = Vec::with_capacity(N);
        for f in futs {
            let md = bounded("delivery", f).await.expect("delivery");
            out.push((md.partition, md.offset));
        }
        p.close(Duration::from_secs(10)).await;
        out
    });
    let used: BTreeSet<i32> = delivered.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        used.len(),
        PARTITIONS as usize,
        "keys cover every partition"
    );

    let deadline = Instant::now() + CONSUME_TIMEOUT;
    loop {
        let n = native_view.lock().expect("view").records.len()
            + rd_view.lock().expect("view").records.len();
        if n >= N {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {n} of {N} records consumed by the group"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(EXTRA_POLL);
    stop.store(true, Ordering::SeqCst);
    rd.join().expect("rdkafka member thread");
    rt.block_on(async {
        bounded("native member", native)
            .await
            .expect("native member task");
    });

    let nv = native_view.lock().expect("view");
    let rv = rd_view.lock().expect("view");
    for (who, view, owned) in [("native", &nv, &na), ("rdkafka", &rv, &ra)] {
        for (p, _, _) in &view.records {
            assert!(
                owned.contains(p),
                "{who} consumed from partition {p} it does not own ({owned:?})"
            );
        }
    }
    let all: Vec<(i32, i64)> = nv
        .records
        .iter()
        .chain(rv.records.iter())
        .map(|(p, o, _)| (*p, *o))
        .collect();
    let unique: BTreeSet<(i32, i64)> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "a record was consumed twice");
    let want: BTreeSet<(i32, i64)> = delivered.iter().copied().collect();
    assert_eq!(
        unique, want,
        "the group consumed exactly the produced records"
    );
    b.assert_alive();
}
