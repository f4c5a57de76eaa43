//! Consumer groups against the kafkalab group coordinator, driven through the
//! `rdkafka` crate (librdkafka): two subscribed consumers split a topic's
//! partitions, commit, read their commits back, and when one consumer is
//! dropped (close -> LeaveGroup) the other takes over every partition and
//! resumes from the offsets the first one committed.
//!
//! Every test starts its own broker on ephemeral ports in a fresh temporary
//! `log.dirs` with `group.initial.rebalance.delay.ms=0`; the guard kills it on
//! drop.  Every wait is bounded.
//!
//! Run: `cargo test -p kafkalab --test rdkafka_groups`

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const OP_TIMEOUT: Duration = Duration::from_secs(15);
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
const SESSION_TIMEOUT_MS: u64 = 6000;
const PARTITIONS: i32 = 4;

// ---------------------------------------------------------------------------
// broker process guard
// ---------------------------------------------------------------------------

mod common;
use common::Broker;

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    format!("rs-{prefix}-{}-{nanos}", std::process::id())
}

async fn create_topic(b: &Broker, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        .create()
        .expect("admin client");
    let opts = AdminOptions::new()
        .operation_timeout(Some(OP_TIMEOUT))
        .request_timeout(Some(OP_TIMEOUT));
    let t = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let res = tokio::time::timeout(OP_TIMEOUT * 2, admin.create_topics([&t], &opts))
        .await
        .expect("create_topics timed out")
        .expect("create_topics request failed");
    assert!(res[0].is_ok(), "create {name}: {res:?}");
}

/// Produces `per_partition` records to every partition; values are
/// "{tag}-{partition}-{i}".
async fn produce(b: &Broker, topic: &str, per_partition: usize, tag: &str) {
    let p: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "20000")
        .create()
        .expect("producer");
    let mut pending = Vec::new();
    for part in 0..PARTITIONS {
        for i in 0..per_partition {
            let value = format!("{tag}-{part}-{i}");
            let rec = FutureRecord::to(topic)
                .key("k")
                .payload(&value)
                .partition(part);
            pending.push(p.send_result(rec).map_err(|(e, _)| e).expect("enqueue"));
        }
    }
    for fut in pending {
        let res = tokio::time::timeout(Duration::from_secs(30), fut)
            .await
            .expect("delivery report timed out")
            .expect("delivery future cancelled");
        if let Err((e, _)) = res {
            panic!("delivery failed: {e}");
        }
    }
}

struct Member {
    name: String,
    consumer: BaseConsumer,
    /// (partition, offset) of every record received.
    records: Vec<(i32, i64)>,
    errors: Vec<String>,
}

impl Member {
    fn new(b: &Broker, group: &str, topic: &str, name: &str) -> Member {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &b.bootstrap)
            .set("group.id", group)
            .set("client.id", name)
            .set("session.timeout.ms", SESSION_TIMEOUT_MS.to_string())
            .set("heartbeat.interval.ms", "1000")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "100")
            .create()
            .expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        Member {
            name: name.to_string(),
            consumer,
            records: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn poll(&mut self, timeout: Duration) {
        match self.consumer.poll(timeout) {
            None => {}
            Some(Ok(m)) => self.records.push((m.partition(), m.offset())),
            Some(Err(e)) => self.errors.push(e.to_string()),
        }
    }

    fn assigned(&self) -> BTreeSet<i32> {
        self.consumer
            .assignment()
            .expect("assignment")
            .elements()
            .iter()
            .map(|e| e.partition())
            .collect()
    }

    fn describe(&self) -> String {
        format!(
            "{}: assigned={:?} records={} errors={:?}",
            self.name,
            self.assigned(),
            self.records.len(),
            self.errors.iter().rev().take(3).collect::<Vec<_>>()
        )
    }
}

/// Polls every member round-robin until `pred` holds; returns when it did.
fn poll_until(
    members: &mut [&mut Member],
    timeout: Duration,
    what: &str,
    pred: impl Fn(&[&mut Member]) -> bool,
) -> Instant {
    let deadline = Instant::now() + timeout;
    loop {
        for m in members.iter_mut() {
            m.poll(Duration::from_millis(50));
        }
        if pred(members) {
            return Instant::now();
        }
        if Instant::now() > deadline {
            let detail: Vec<String> = members.iter().map(|m| m.describe()).collect();
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                detail.join("\n")
            );
        }
    }
}

fn poll_for(members: &mut [&mut Member], d: Duration) {
    let deadline = Instant::now() + d;
    while Instant::now() < deadline {
        for m in members.iter_mut() {
            m.poll(Duration::from_millis(50));
        }
    }
}

/// Closes the consumer (LeaveGroup) on another thread, bounded.
fn drop_bounded(m: Member, timeout: Duration) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        drop(m);
        let _ = tx.send(());
    });
    rx.recv_timeout(timeout)
        .expect("consumer close did not finish in time");
}

fn committed(consumer: &BaseConsumer, topic: &str) -> BTreeMap<i32, Offset> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    consumer
        .committed_offsets(tpl, OP_TIMEOUT)
        .expect("committed_offsets")
        .elements()
        .iter()
        .map(|e| (e.partition(), e.offset()))
        .collect()
}

fn all_partitions() -> BTreeSet<i32> {
    (0..PARTITIONS).collect()
}

// ---------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consumers_split_commit_and_hand_over() {
    let mut b = Broker::start(&[("group.initial.rebalance.delay.ms", "0")]);
    let topic = unique("grp-topic");
    let group = unique("grp");
    create_topic(&b, &topic, PARTITIONS).await;

    let mut m1 = Member::new(&b, &group, &topic, "rs-member-1");
    let mut m2 = Member::new(&b, &group, &topic, "rs-member-2");
    poll_until(
        &mut [&mut m1, &mut m2],
        SETTLE_TIMEOUT,
        "2 consumers owning 2 disjoint partitions each",
        |ms| {
            let (a, b) = (ms[0].assigned(), ms[1].assigned());
            a.len() == 2
                && b.len() == 2
                && a.is_disjoint(&b)
                && a.union(&b).copied().collect::<BTreeSet<_>>() == all_partitions()
        },
    );
    let (own1, own2) = (m1.assigned(), m2.assigned());

    // 10 records per partition, produced once the assignment is settled
    produce(&b, &topic, 10, "first").await;
    poll_until(
        &mut [&mut m1, &mut m2],
        Duration::from_secs(30),
        "40 records",
        |ms| ms.iter().map(|m| m.records.len()).sum::<usize>() >= 40,
    );
    poll_for(&mut [&mut m1, &mut m2], Duration::from_secs(1));
    for (m, own) in [(&m1, &own1), (&m2, &own2)] {
        let seen: BTreeSet<i32> = m.records.iter().map(|r| r.0).collect();
        assert!(
            seen.is_subset(own),
            "{} read partitions {seen:?} but owns {own:?}",
            m.name
        );
    }
    let mut all: Vec<(i32, i64)> = m1.records.iter().chain(&m2.records).copied().collect();
    all.sort();
    let want: Vec<(i32, i64)> = (0..PARTITIONS)
        .flat_map(|p| (0..10).map(move |o| (p, o)))
        .collect();
    assert_eq!(
        all, want,
        "records lost or duplicated across the two consumers"
    );

    // commit what each consumed and read it back
    m1.consumer
        .commit_consumer_state(CommitMode::Sync)
        .expect("commit m1");
    m2.consumer
        .commit_consumer_state(CommitMode::Sync)
        .expect("commit m2");
    for m in [&m1, &m2] {
        let got = m.consumer.committed(OP_TIMEOUT).expect("committed");
        let got: BTreeMap<i32, Offset> = got
            .elements()
            .iter()
            .map(|e| (e.partition(), e.offset()))
            .collect();
        let want: BTreeMap<i32, Offset> = m
            .assigned()
            .iter()
            .map(|p| (*p, Offset::Offset(10)))
            .collect();
        assert_eq!(
            got, want,
            "{}: committed offsets of its own partitions",
            m.name
        );
    }
    let want_all: BTreeMap<i32, Offset> =
        (0..PARTITIONS).map(|p| (p, Offset::Offset(10))).collect();
    assert_eq!(
        committed(&m1.consumer, &topic),
        want_all,
        "committed offsets of the whole group"
    );

    // m2 leaves (drop -> close -> LeaveGroup): m1 takes over everything
    let t0 = Instant::now();
    drop_bounded(m2, Duration::from_secs(20));
    let t1 = poll_until(
        &mut [&mut m1],
        Duration::from_secs(20),
        "the survivor owning all partitions",
        |ms| ms[0].assigned() == all_partitions(),
    );
    let took = t1 - t0;
    assert!(
        took < Duration::from_secs(5),
        "hand-over after LeaveGroup took {took:?} (session.timeout.ms={SESSION_TIMEOUT_MS})"
    );

    // m1 resumes m2's partitions from m2's commits: only the new records arrive
    let before = m1.records.len();
    produce(&b, &topic, 2, "second").await;
    poll_until(
        &mut [&mut m1],
        Duration::from_secs(30),
        "8 new records",
        |ms| ms[0].records.len() >= before + 8,
    );
    poll_for(&mut [&mut m1], Duration::from_secs(1));
    let mut new: Vec<(i32, i64)> = m1.records[before..].to_vec();
    new.sort();
    let want: Vec<(i32, i64)> = (0..PARTITIONS).flat_map(|p| [(p, 10), (p, 11)]).collect();
    assert_eq!(
        new, want,
        "after the hand-over the survivor must continue at the committed offsets"
    );

    m1.consumer
        .commit_consumer_state(CommitMode::Sync)
        .expect("commit after hand-over");
    drop_bounded(m1, Duration::from_secs(20));

    // a new member of the (now empty) group sees the final commits
    let m3 = Member::new(&b, &group, &topic, "rs-member-3");
    let want_all: BTreeMap<i32, Offset> =
        (0..PARTITIONS).map(|p| (p, Offset::Offset(12))).collect();
    assert_eq!(committed(&m3.consumer, &topic), want_all);
    drop_bounded(m3, Duration::from_secs(20));
    b.assert_alive();
}
