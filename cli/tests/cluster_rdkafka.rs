//! A 3-node in-process cluster (`kafkalab_broker::Cluster`) driven by a real client
//! (the `rdkafka` crate, librdkafka): metadata, acks=all, leader crash with an
//! idempotent producer, ISR shrink and expand, min.insync.replicas; injected link
//! latency, network partitions and slow disks; leader-epoch truncation of a returning
//! leader's divergent suffix, and a consumer validating its position after a leader
//! change (OffsetForLeaderEpoch).
//!
//! The cluster runs on its own tokio runtime (2 workers); the test thread uses
//! librdkafka's blocking calls. Every wait is bounded.
//!
//! Run: `cargo test -p kafkalab --test cluster_rdkafka`

#[path = "common/numbered.rs"]
mod numbered;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafkalab_broker::clock::SystemClock;
use kafkalab_broker::faults::control::FaultCommand;
use kafkalab_broker::faults::Node;
use kafkalab_broker::{BrokerConfig, Cluster};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};
use tokio::runtime::Runtime;

const OP_TIMEOUT: Duration = Duration::from_secs(15);

struct Lab {
    rt: Runtime,
    cluster: Option<Cluster>,
    _dir: tempfile::TempDir,
}

impl Lab {
    fn start(overrides: &[(&str, &str)]) -> Lab {
        // RUST_LOG=kafkalab_broker=debug shows the cluster's decisions.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = BrokerConfig::from_pairs(overrides).expect("config");
        let cluster = rt
            .block_on(Cluster::start(
                3,
                &config,
                dir.path(),
                Arc::new(SystemClock),
            ))
            .expect("cluster starts");
        Lab {
            rt,
            cluster: Some(cluster),
            _dir: dir,
        }
    }

    fn cluster(&self) -> &Cluster {
        self.cluster.as_ref().expect("running")
    }

    fn bootstrap(&self) -> String {
        self.cluster().bootstrap()
    }

    fn crash(&mut self, id: i32) {
        let c = self.cluster.as_mut().expect("running");
        self.rt.block_on(c.crash(id)).expect("crash");
    }

    fn restart(&mut self, id: i32) {
        let c = self.cluster.as_mut().expect("running");
        self.rt.block_on(c.restart(id)).expect("restart");
    }

    fn fault(&mut self, cmd: FaultCommand) {
        let c = self.cluster.as_mut().expect("running");
        self.rt.block_on(c.execute(cmd)).expect("fault applied");
    }

    fn leader(&self, topic: &str, p: i32) -> Option<i32> {
        self.cluster().leader(topic, p)
    }

    fn isr(&self, topic: &str, p: i32) -> Vec<i32> {
        self.cluster()
            .controller
            .read(|m| m.partition(topic, p).map(|p| p.isr.clone()))
            .unwrap_or_default()
    }

    fn create_topic(&self, name: &str, partitions: i32, rf: i32, configs: &[(&str, &str)]) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .expect("admin");
        let mut t = NewTopic::new(name, partitions, TopicReplication::Fixed(rf));
        for (k, v) in configs {
            t = t.set(k, v);
        }
        let opts = AdminOptions::new().operation_timeout(Some(OP_TIMEOUT));
        let res = self
            .rt
            .block_on(admin.create_topics([&t], &opts))
            .expect("create_topics");
        assert!(res[0].is_ok(), "create {name}: {:?}", res[0]);
        // Every partition has a leader that has taken its role.
        wait_until("leaders ready", Duration::from_secs(10), || {
            (0..partitions).all(|p| {
                self.leader(name, p)
                    .and_then(|l| self.cluster().broker(l))
                    .and_then(|b| b.topics.get(name))
                    .and_then(|t| t.partition(p))
                    .is_some_and(|p| p.replica.lock().isr().is_some())
            })
        });
    }

    /// Partition 0's leader and one of its followers.
    fn leader_and_follower(&self, topic: &str) -> (i32, i32) {
        let leader = self.leader(topic, 0).expect("leader");
        let follower = self
            .cluster()
            .node_ids()
            .into_iter()
            .find(|&i| i != leader)
            .expect("a follower");
        (leader, follower)
    }

    /// Produces `n` records `{prefix}{i}` with acks=all, each awaited: panics on a failure.
    fn produce_acked(&self, topic: &str, prefix: &str, n: usize) {
        let prod = producer(&self.bootstrap(), &[("acks", "all")]);
        for i in 0..n {
            self.send_awaited(&prod, topic, &format!("{prefix}{i}"));
        }
    }

    /// Sends one record and waits for its acknowledgement: panics on a failure.
    fn send_awaited(&self, prod: &FutureProducer, topic: &str, value: &str) {
        let f = prod
            .send_result(FutureRecord::<(), _>::to(topic).payload(value))
            .map_err(|(e, _)| e)
            .expect("enqueue");
        self.rt
            .block_on(f)
            .expect("future")
            .map_err(|(e, _)| e)
            .unwrap_or_else(|e| panic!("{topic}: {value} not delivered: {e}"));
    }

    /// Log end offsets of a partition on every running node.
    fn log_ends(&self, topic: &str, p: i32) -> Vec<(i32, i64)> {
        self.cluster()
            .node_ids()
            .into_iter()
            .filter_map(|id| {
                let b = self.cluster().broker(id)?;
                let part = b.topics.get(topic)?.partition(p)?;
                Some((id, part.offsets().1))
            })
            .collect()
    }

    /// (log end offset, high watermark) of a partition on node `id`.
    fn end_and_hw(&self, id: i32, topic: &str, p: i32) -> (i64, i64) {
        let b = self.cluster().broker(id).expect("running node");
        let part = b
            .topics
            .get(topic)
            .and_then(|t| t.partition(p))
            .expect("partition");
        (part.offsets().1, part.high_watermark())
    }

    /// Every record batch of a partition on node `id`, concatenated.
    fn log_bytes(&self, id: i32, topic: &str, p: i32) -> Vec<u8> {
        let b = self.cluster().broker(id).expect("running node");
        let part = b
            .topics
            .get(topic)
            .and_then(|t| t.partition(p))
            .expect("partition");
        let mut out = Vec::new();
        let mut offset = part.offsets().0;
        let end = part.offsets().1;
        while offset < end {
            let r = part.read(offset, 1 << 20).expect("read");
            if r.records.is_empty() {
                break;
            }
            let mut next = offset;
            for item in kafkalab_broker::record_batch::batches(&r.records) {
                let (h, _) = item.expect("valid batch");
                next = h.next_offset();
            }
            out.extend_from_slice(&r.records);
            offset = next;
        }
        out
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(c) = self.cluster.take() {
            self.rt.block_on(c.shutdown());
        }
    }
}

fn scrape(cluster: &Cluster) -> String {
    use prometheus::Encoder;
    let mut out = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&cluster.metrics().gather(), &mut out)
        .expect("encode");
    String::from_utf8(out).expect("utf-8")
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> FutureProducer {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .set("socket.timeout.ms", "10000")
        .set("topic.metadata.refresh.interval.ms", "1000");
    for (k, v) in extra {
        cfg.set(*k, *v);
    }
    cfg.create().expect("producer")
}

#[test]
fn metadata_names_three_brokers_and_acks_all_round_trips() {
    let lab = Lab::start(&[]);
    lab.create_topic("orders", 3, 3, &[]);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", lab.bootstrap())
        .create()
        .expect("consumer");
    let md = consumer
        .fetch_metadata(Some("orders"), Timeout::After(OP_TIMEOUT))
        .expect("metadata");
    let brokers: BTreeSet<i32> = md.brokers().iter().map(|b| b.id()).collect();
    assert_eq!(brokers, BTreeSet::from([0, 1, 2]));
    let t = &md.topics()[0];
    assert_eq!(t.partitions().len(), 3);
    let mut leaders = BTreeSet::new();
    for p in t.partitions() {
        let mut isr = p.isr().to_vec();
        isr.sort_unstable();
        assert_eq!(p.replicas().len(), 3, "{p:?}");
        assert_eq!(isr, vec![0, 1, 2]);
        leaders.insert(p.leader());
    }
    assert_eq!(leaders.len(), 3, "leaders spread over the nodes");
    println!("metadata: brokers {brokers:?}, leaders {leaders:?}, ISR [0, 1, 2] everywhere");

    let prod = producer(&lab.bootstrap(), &[("acks", "all")]);
    let futs: Vec<_> = (0..300)
        .map(|i| {
            let v = format!("v{i}");
            prod.send_result(
                FutureRecord::<(), _>::to("orders")
                    .payload(&v)
                    .partition(i % 3),
            )
            .map_err(|(e, _)| e)
            .expect("enqueue")
        })
        .collect();
    for f in futs {
        lab.rt
            .block_on(f)
            .expect("delivery future")
            .map_err(|(e, _)| e)
            .expect("acks=all delivered");
    }
    let mut got = Vec::new();
    for p in 0..3 {
        got.extend(numbered::consume_all(&lab.bootstrap(), "orders", p, 100));
    }
    got.sort();
    let mut want: Vec<String> = (0..300).map(|i| format!("v{i}")).collect();
    want.sort();
    assert_eq!(got, want);
    // Every replica holds the same bytes.
    for p in 0..3 {
        wait_until("followers caught up", Duration::from_secs(10), || {
            lab.log_ends("orders", p).iter().all(|&(_, e)| e == 100)
        });
        let leader = lab.leader("orders", p).expect("leader");
        let reference = lab.log_bytes(leader, "orders", p);
        for id in lab.cluster().node_ids() {
            assert_eq!(
                lab.log_bytes(id, "orders", p),
                reference,
                "node {id} partition {p}"
            );
        }
    }
    println!("300 records acks=all produced and consumed; replicas identical");
}

#[test]
fn leader_crash_loses_no_acknowledged_record_with_min_insync_2() {
    let mut lab = Lab::start(&[
        ("replica.lag.time.max.ms", "5000"),
        ("leader.imbalance.check.interval.seconds", "1"),
    ]);
    lab.create_topic("pay", 1, 3, &[("min.insync.replicas", "2")]);
    let old = lab.leader("pay", 0).expect("leader");
    let bootstrap = lab.bootstrap();
    let handle = lab.rt.handle().clone();
    let total = 3000usize;
    let producer_thread = std::thread::spawn(move || {
        let prod = producer(
            &bootstrap,
            &[("acks", "all"), ("enable.idempotence", "true")],
        );
        numbered::send_numbered(&prod, "pay", total, &handle)
    });
    // Crash the leader once about a third is in its log, with more in flight.
    let third = (total / 3) as i64;
    wait_until(
        "a third in the leader's log",
        Duration::from_secs(30),
        || {
            lab.log_ends("pay", 0)
                .iter()
                .any(|&(id, end)| id == old && end >= third)
        },
    );
    let before = lab.log_ends("pay", 0);
    lab.crash(old);
    let new = lab.leader("pay", 0).expect("a new leader from the ISR");
    assert_ne!(new, old);
    let epoch = lab
        .cluster()
        .controller
        .read(|m| m.partition("pay", 0).map(|p| p.leader_epoch));
    println!("crashed leader {old} (log ends {before:?}); new leader {new}, epoch {epoch:?}");
    let (acked, failed) = producer_thread.join().expect("producer thread");
    println!(
        "acknowledged {} of {total}, failed {}",
        acked.len(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "idempotent producer failed: {:?}",
        &failed[..failed.len().min(5)]
    );
    let got = numbered::consume_all(&lab.bootstrap(), "pay", 0, acked.len());
    let got_set: BTreeSet<&String> = got.iter().collect();
    let lost: Vec<&String> = acked.iter().filter(|a| !got_set.contains(a)).collect();
    assert!(
        lost.is_empty(),
        "lost {} acknowledged records, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert_eq!(got_set.len(), got.len(), "duplicates despite idempotence");
    println!(
        "consumed {} records: no acknowledged record lost, no duplicate",
        got.len()
    );

    // The old leader returns, truncates what it alone had, catches up and rejoins.
    lab.restart(old);
    wait_until(
        "old leader back in the ISR",
        Duration::from_secs(20),
        || lab.isr("pay", 0).len() == 3,
    );
    let end = lab.log_ends("pay", 0);
    wait_until("replicas at the same end", Duration::from_secs(10), || {
        let e = lab.log_ends("pay", 0);
        e.iter().all(|&(_, x)| x == e[0].1)
    });
    let reference = lab.log_bytes(new, "pay", 0);
    for id in lab.cluster().node_ids() {
        assert_eq!(lab.log_bytes(id, "pay", 0), reference, "node {id} diverges");
    }
    println!("node {old} rejoined the ISR; replica logs identical ({end:?})");
    // auto.leader.rebalance.enable: the preferred replica leads again.
    let took = wait_until("preferred leader back", Duration::from_secs(10), || {
        lab.leader("pay", 0) == Some(old)
    });
    let preferred = lab
        .cluster()
        .controller
        .metrics
        .leader_elections
        .with_label_values(&["preferred"])
        .get();
    assert_eq!(preferred, 1);
    println!("leadership back on preferred node {old} after {took:?}");
    // Still serving: everything reads back from the preferred leader.
    let again = numbered::consume_all(&lab.bootstrap(), "pay", 0, got.len());
    assert_eq!(again.len(), got.len());
}

#[test]
fn a_stopped_follower_leaves_the_isr_after_the_lag_time_and_rejoins() {
    let mut lab = Lab::start(&[("replica.lag.time.max.ms", "2000")]);
    lab.create_topic("lag", 1, 3, &[]);
    let (leader, follower) = lab.leader_and_follower("lag");
    lab.crash(follower);
    assert_eq!(
        lab.isr("lag", 0).len(),
        3,
        "still in the ISR right after the crash"
    );
    let took = wait_until("ISR shrink", Duration::from_secs(10), || {
        !lab.isr("lag", 0).contains(&follower)
    });
    println!("follower {follower} left the ISR after {took:?} (replica.lag.time.max.ms=2000)");
    assert!(took >= Duration::from_millis(1500), "{took:?}");
    // acks=all still works with two in sync (min.insync.replicas=1).
    lab.produce_acked("lag", "x", 20);
    let lb = lab.cluster().broker(leader).expect("leader broker").clone();
    lb.refresh_gauges();
    assert_eq!(lb.metrics.under_replicated.get(), 1);
    assert_eq!(lb.metrics.isr_shrinks.get(), 1);
    // What a scrape of the run's endpoint shows: every node's series, told apart by
    // `node`, and the controller's.
    let text = scrape(lab.cluster());
    for line in [
        format!("kafkalab_broker_isr_shrinks_total{{node=\"{leader}\"}} 1"),
        format!("kafkalab_broker_under_replicated_partitions{{node=\"{leader}\"}} 1"),
        "kafkalab_controller_live_brokers 2".to_string(),
        "kafkalab_controller_quorum_majority_up 1".to_string(),
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in the scrape");
    }
    assert_eq!(
        text.matches("# TYPE kafkalab_broker_isr_shrinks_total ")
            .count(),
        1,
        "one family per metric"
    );
    lab.restart(follower);
    let took = wait_until("ISR expand", Duration::from_secs(15), || {
        lab.isr("lag", 0).contains(&follower)
    });
    println!("follower {follower} rejoined the ISR {took:?} after restart");
    lb.refresh_gauges();
    assert_eq!(lb.metrics.under_replicated.get(), 0);
    assert_eq!(lb.metrics.isr_expands.get(), 1);
    // Metadata seen by a client names it in the ISR again.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", lab.bootstrap())
        .create()
        .expect("consumer");
    let md = consumer
        .fetch_metadata(Some("lag"), Timeout::After(OP_TIMEOUT))
        .expect("metadata");
    assert_eq!(md.topics()[0].partitions()[0].isr().len(), 3);
}

#[test]
fn min_insync_3_with_a_node_down_refuses_acks_all() {
    let mut lab = Lab::start(&[]);
    lab.create_topic("strict", 1, 3, &[("min.insync.replicas", "3")]);
    let leader = lab.leader("strict", 0).expect("leader");
    lab.crash(leader);
    let new = lab.leader("strict", 0).expect("new leader");
    assert_eq!(lab.isr("strict", 0).len(), 2);
    let prod = producer(
        &lab.bootstrap(),
        &[
            ("acks", "all"),
            ("enable.idempotence", "false"),
            ("retries", "0"),
        ],
    );
    let f = prod
        .send_result(FutureRecord::<(), _>::to("strict").payload("x"))
        .map_err(|(e, _)| e)
        .expect("enqueue");
    let res = lab.rt.block_on(f).expect("future");
    let err = res
        .map(|_| ())
        .map_err(|(e, _)| e)
        .expect_err("must be refused");
    println!("acks=all with ISR 2 < min.insync.replicas 3 on leader {new}: {err}");
    assert_eq!(
        err.rdkafka_error_code(),
        Some(RDKafkaErrorCode::NotEnoughReplicas)
    );
    let nb = lab.cluster().broker(new).expect("new leader").clone();
    nb.refresh_gauges();
    assert_eq!(nb.metrics.under_min_isr.get(), 1);
    // acks=1 still succeeds.
    let prod1 = producer(
        &lab.bootstrap(),
        &[("acks", "1"), ("enable.idempotence", "false")],
    );
    let f = prod1
        .send_result(FutureRecord::<(), _>::to("strict").payload("y"))
        .map_err(|(e, _)| e)
        .expect("enqueue");
    lab.rt
        .block_on(f)
        .expect("future")
        .map_err(|(e, _)| e)
        .expect("acks=1 delivered");
    let c = &lab.cluster().controller.metrics;
    assert_eq!(c.leader_elections.with_label_values(&["clean"]).get(), 1);
    assert_eq!(c.live_brokers.get(), 2);
    assert_eq!(c.quorum_majority_up.get(), 1);
}

#[test]
fn without_a_controller_majority_elections_wait_until_it_returns() {
    let mut lab = Lab::start(&[]);
    lab.create_topic("quorum", 3, 3, &[]);
    let metrics = lab.cluster().controller.metrics.clone();
    assert_eq!(metrics.quorum_majority_up.get(), 1);
    // Node 2 first: node 0 (the active controller) keeps a majority with node 1.
    lab.crash(2);
    assert_eq!(metrics.active_controller.get(), 0);
    // Now node 1 as well: one voter of three left, no controller.
    lab.crash(1);
    assert_eq!(metrics.active_controller.get(), -1);
    assert_eq!(metrics.quorum_majority_up.get(), 0);
    // Partition 2 (led by node 2) moved to node 0 while there was a majority;
    // partition 1 was led by node 1: no election happened, so it has no live leader.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", lab.bootstrap())
        .create()
        .expect("consumer");
    let md = consumer
        .fetch_metadata(Some("quorum"), Timeout::After(OP_TIMEOUT))
        .expect("metadata");
    assert_eq!(md.brokers().len(), 1);
    let leaders: Vec<i32> = md.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.leader())
        .collect();
    println!("no majority: controller -1, leaders {leaders:?}");
    assert_eq!(leaders, vec![0, -1, 0]);
    // Node 1 returns: a majority again, a controller, and the elections it missed.
    lab.restart(1);
    assert_eq!(metrics.quorum_majority_up.get(), 1);
    assert!(metrics.active_controller.get() >= 0);
    let leaders: Vec<Option<i32>> = (0..3).map(|p| lab.leader("quorum", p)).collect();
    println!("majority back: leaders {leaders:?}");
    assert!(
        leaders.iter().all(|l| matches!(l, Some(0) | Some(1))),
        "{leaders:?}"
    );
}

#[test]
fn a_paused_leader_is_fenced_after_the_session_timeout_and_rejoins_when_it_thaws() {
    let lab = Lab::start(&[
        ("broker.session.timeout.ms", "1000"),
        ("replica.lag.time.max.ms", "2000"),
        ("auto.leader.rebalance.enable", "false"),
    ]);
    lab.create_topic("gc", 1, 3, &[("min.insync.replicas", "2")]);
    let old = lab.leader("gc", 0).expect("leader");
    {
        let _rt = lab.rt.enter();
        lab.cluster()
            .pause(old, Duration::from_secs(3))
            .expect("pause");
    }
    // Frozen but not yet fenced: still the leader on record.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lab.leader("gc", 0), Some(old));
    let took = wait_until("fenced: a new leader", Duration::from_secs(5), || {
        lab.leader("gc", 0).is_some_and(|l| l != old)
    });
    let new = lab.leader("gc", 0).expect("new leader");
    println!("paused leader {old} fenced after {took:?}; new leader {new}");
    // acks=all keeps working on the new leader.
    // (Delivered while the old leader is frozen.)
    lab.produce_acked("gc", "g", 10);
    // It thaws, registers again, follows and rejoins the ISR.
    let took = wait_until(
        "thawed node back in the ISR",
        Duration::from_secs(15),
        || lab.isr("gc", 0).contains(&old) && lab.log_ends("gc", 0).iter().all(|&(_, e)| e == 10),
    );
    println!(
        "node {old} back in the ISR {took:?} later; logs {:?}",
        lab.log_ends("gc", 0)
    );
    assert_eq!(lab.leader("gc", 0), Some(new));
}

/// Sends `n` records one at a time with acks=all; the median time to acknowledge.
fn median_ack(lab: &Lab, prod: &FutureProducer, topic: &str, n: usize) -> Duration {
    let mut took = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        lab.send_awaited(prod, topic, &format!("m{i}"));
        took.push(start.elapsed());
    }
    took.sort();
    took[n / 2]
}

#[test]
fn latency_on_a_follower_link_delays_acks_all_by_about_that_much() {
    let mut lab = Lab::start(&[("auto.leader.rebalance.enable", "false")]);
    lab.create_topic("slowlink", 1, 3, &[]);
    let (leader, follower) = lab.leader_and_follower("slowlink");
    let prod = producer(&lab.bootstrap(), &[("acks", "all"), ("linger.ms", "0")]);
    median_ack(&lab, &prod, "slowlink", 5); // connections and metadata warm
    let base = median_ack(&lab, &prod, "slowlink", 15);
    let added = Duration::from_millis(300);
    lab.fault(FaultCommand::Link {
        from: Node::Broker(follower),
        to: Node::Broker(leader),
        latency: Some(added),
        loss: None,
        blocked: None,
    });
    let slow = median_ack(&lab, &prod, "slowlink", 15);
    println!("acks=all median: {base:?} clear, {slow:?} with +{added:?} on {follower} -> {leader}");
    // The follower's next fetch (the one that moves the high watermark) arrives
    // `added` late; one already in flight may cost up to another `added`.
    let extra = slow.saturating_sub(base);
    assert!(
        extra >= added * 2 / 3 && extra <= added * 3,
        "extra {extra:?} for +{added:?}"
    );
    lab.fault(FaultCommand::ClearLink {
        from: Node::Broker(follower),
        to: Node::Broker(leader),
    });
    let after = median_ack(&lab, &prod, "slowlink", 15);
    println!("acks=all median after clearing: {after:?}");
    assert!(after < base + added / 2, "{after:?}");
}

#[test]
fn a_partition_isolating_the_leader_elects_on_the_majority_side() {
    let mut lab = Lab::start(&[
        ("broker.session.timeout.ms", "1500"),
        ("replica.lag.time.max.ms", "1000"),
        ("auto.leader.rebalance.enable", "false"),
    ]);
    lab.create_topic("split", 1, 3, &[("min.insync.replicas", "2")]);
    let prod = producer(
        &lab.bootstrap(),
        &[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("request.timeout.ms", "3000"),
        ],
    );
    median_ack(&lab, &prod, "split", 5);
    let old = lab.leader("split", 0).expect("leader");
    let others: BTreeSet<Node> = lab
        .cluster()
        .node_ids()
        .into_iter()
        .filter(|&i| i != old)
        .map(Node::Broker)
        .collect();
    let hw_before = {
        let b = lab.cluster().broker(old).expect("old leader").clone();
        let p = b
            .topics
            .get("split")
            .and_then(|t| t.partition(0))
            .expect("p");
        p.high_watermark()
    };
    lab.fault(FaultCommand::Partition(vec![
        [Node::Broker(old)].into(),
        others.clone(),
    ]));
    // A record sent now goes to the isolated leader: its followers cannot fetch it.
    let f = prod
        .send_result(FutureRecord::<(), _>::to("split").payload("during"))
        .map_err(|(e, _)| e)
        .expect("enqueue");
    let took = wait_until(
        "a leader on the majority side",
        Duration::from_secs(10),
        || lab.leader("split", 0).is_some_and(|l| l != old),
    );
    let new = lab.leader("split", 0).expect("new leader");
    println!("partition [[{old}], {others:?}]: leader {new} elected after {took:?}");
    assert!(others.contains(&Node::Broker(new)));
    // The isolated node still thinks it leads, but its high watermark cannot move:
    // acks=all cannot complete there.
    let b = lab.cluster().broker(old).expect("old leader").clone();
    let p = b
        .topics
        .get("split")
        .and_then(|t| t.partition(0))
        .expect("p");
    let (_, leo) = p.offsets();
    println!(
        "isolated node {old}: log end {leo}, high watermark {} (was {hw_before})",
        p.high_watermark()
    );
    assert_eq!(
        p.high_watermark(),
        hw_before,
        "no commit on the minority side"
    );
    // The producer's retry lands on the new leader (idempotent: once).
    lab.rt
        .block_on(f)
        .expect("future")
        .map_err(|(e, _)| e)
        .expect("delivered through the new leader");
    let m = lab.cluster().controller.metrics.clone();
    assert!(m.active_controller.get() >= 0);
    assert_ne!(m.active_controller.get(), i64::from(old));
    median_ack(&lab, &prod, "split", 5);
    lab.fault(FaultCommand::Heal);
    // The old leader rejoins as a follower, truncates what it alone had, catches up.
    let took = wait_until(
        "healed node back in the ISR",
        Duration::from_secs(20),
        || {
            lab.isr("split", 0).contains(&old) && {
                let ends = lab.log_ends("split", 0);
                ends.len() == 3 && ends.iter().all(|&(_, e)| e == ends[0].1)
            }
        },
    );
    println!(
        "healed: node {old} in sync {took:?} later, logs {:?}",
        lab.log_ends("split", 0)
    );
    assert_eq!(lab.leader("split", 0), Some(new));
    let reference = lab.log_bytes(new, "split", 0);
    assert_eq!(lab.log_bytes(old, "split", 0), reference, "identical logs");
    let values = numbered::consume_all(&lab.bootstrap(), "split", 0, 11);
    assert_eq!(
        values.iter().filter(|v| *v == "during").count(),
        1,
        "{values:?}"
    );
}

#[test]
fn a_slow_disk_makes_a_follower_leave_the_isr_and_return() {
    let mut lab = Lab::start(&[
        ("replica.lag.time.max.ms", "1500"),
        ("auto.leader.rebalance.enable", "false"),
    ]);
    lab.create_topic("disk", 1, 3, &[]);
    let (leader, follower) = lab.leader_and_follower("disk");
    let prod = producer(&lab.bootstrap(), &[("acks", "1"), ("linger.ms", "0")]);
    let mut pending = Vec::new();
    let mut send = |n: usize| {
        for i in 0..n {
            let v = format!("d{i}");
            pending.push(
                prod.send_result(FutureRecord::<(), _>::to("disk").payload(&v))
                    .map_err(|(e, _)| e)
                    .expect("enqueue"),
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    send(10);
    assert!(lab.isr("disk", 0).contains(&follower));
    lab.fault(FaultCommand::SlowDisk {
        node: follower,
        latency: Duration::from_millis(400),
    });
    let start = Instant::now();
    while lab.isr("disk", 0).contains(&follower) {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "never left the ISR"
        );
        send(5);
    }
    let left = start.elapsed();
    let ends = lab.log_ends("disk", 0);
    println!(
        "slow disk (+400 ms per batch) on {follower}: left the ISR after {left:?}; logs {ends:?}"
    );
    assert!(left >= Duration::from_millis(1000), "{left:?}");
    lab.fault(FaultCommand::SlowDisk {
        node: follower,
        latency: Duration::ZERO,
    });
    let took = wait_until("follower back in the ISR", Duration::from_secs(20), || {
        lab.isr("disk", 0).contains(&follower)
    });
    println!("disk back to normal: follower {follower} rejoined {took:?} later");
    for f in pending {
        lab.rt
            .block_on(f)
            .expect("future")
            .map_err(|(e, _)| e)
            .expect("delivered");
    }
    let leader_broker = lab.cluster().broker(leader).expect("leader").clone();
    assert!(leader_broker.metrics.isr_shrinks.get() >= 1);
    assert!(leader_broker.metrics.isr_expands.get() >= 1);
}

/// KIP-101's divergence: the leader alone holds acks=1 records past its followers (its
/// ISR shrank to itself, so its high watermark counts them), it crashes, a follower is
/// elected (unclean) and takes other records at the same offsets. The old leader comes
/// back with a high watermark past the point where the logs part: truncating to it
/// would keep its own records. With leader epochs it asks the new leader
/// (OffsetForLeaderEpoch) where its epoch ended there and drops everything after.
#[test]
fn a_returning_leader_truncates_its_unreplicated_suffix_by_leader_epoch() {
    let mut lab = Lab::start(&[
        ("replica.lag.time.max.ms", "1000"),
        ("unclean.leader.election.enable", "true"),
        ("auto.leader.rebalance.enable", "false"),
    ]);
    lab.create_topic("fork", 1, 3, &[("min.insync.replicas", "1")]);
    lab.produce_acked("fork", "common-", 10);
    wait_until("followers caught up", Duration::from_secs(10), || {
        lab.log_ends("fork", 0).iter().all(|&(_, e)| e == 10)
    });
    let old = lab.leader("fork", 0).expect("leader");
    let followers: Vec<i32> = lab
        .cluster()
        .node_ids()
        .into_iter()
        .filter(|&i| i != old)
        .collect();
    // The followers' fetches to the leader stall (a latency far past the lag time;
    // a blocked link would also cut the leader off from the controller).
    for &f in &followers {
        lab.fault(FaultCommand::Link {
            from: Node::Broker(f),
            to: Node::Broker(old),
            latency: Some(Duration::from_secs(120)),
            loss: None,
            blocked: None,
        });
    }
    wait_until("ISR shrunk to the leader", Duration::from_secs(15), || {
        lab.isr("fork", 0) == vec![old]
    });
    let acks1 = producer(&lab.bootstrap(), &[("acks", "1")]);
    for i in 0..5 {
        lab.send_awaited(&acks1, "fork", &format!("old-{i}"));
    }
    // Alone in its ISR, the leader commits them: its high watermark passes 10, the
    // offset where the logs will part, and reaches its checkpoint file.
    let checkpoint = || {
        let b = lab.cluster().broker(old).expect("old leader");
        b.storage()
            .read_meta("replication-offset-checkpoint")
            .expect("read checkpoint")
            .map(|c| String::from_utf8_lossy(&c).contains(r#""fork":{"0":15}"#))
            .unwrap_or(false)
    };
    wait_until(
        "high watermark 15 checkpointed",
        Duration::from_secs(10),
        checkpoint,
    );
    assert_eq!(lab.end_and_hw(old, "fork", 0), (15, 15));
    for &f in &followers {
        assert_eq!(
            lab.end_and_hw(f, "fork", 0).0,
            10,
            "node {f} fetched nothing new"
        );
    }
    let epoch_of = |lab: &Lab| {
        lab.cluster()
            .controller
            .read(|m| m.partition("fork", 0).map(|p| p.leader_epoch))
            .expect("partition")
    };
    let old_epoch = epoch_of(&lab);
    lab.crash(old);
    wait_until("an unclean leader", Duration::from_secs(10), || {
        lab.leader("fork", 0).is_some_and(|l| l != old)
    });
    let new = lab.leader("fork", 0).expect("new leader");
    lab.fault(FaultCommand::Heal);
    // Other records at the offsets the old leader used (and beyond its end).
    for i in 0..8 {
        lab.send_awaited(&acks1, "fork", &format!("new-{i}"));
    }
    println!(
        "leader {old} (epoch {old_epoch}) crashed with 10..15 unreplicated, high watermark 15; \
         node {new} leads epoch {} and wrote 10..18",
        epoch_of(&lab)
    );
    lab.restart(old);
    wait_until("all replicas at 18", Duration::from_secs(20), || {
        let ends = lab.log_ends("fork", 0);
        ends.len() == 3 && ends.iter().all(|&(_, e)| e == 18)
    });
    let reference = lab.log_bytes(new, "fork", 0);
    for id in lab.cluster().node_ids() {
        let bytes = lab.log_bytes(id, "fork", 0);
        let first_difference = bytes.iter().zip(&reference).position(|(a, b)| a != b);
        assert!(
            bytes == reference,
            "node {id} diverges from leader {new}: {} bytes vs {}, first difference at byte {first_difference:?}",
            bytes.len(),
            reference.len()
        );
    }
    let old_epochs = lab
        .cluster()
        .broker(old)
        .and_then(|b| b.topics.get("fork"))
        .and_then(|t| t.partition(0))
        .expect("partition")
        .epochs();
    println!("replica logs identical; node {old}'s epoch cache now {old_epochs:?}");
    let mut expected: Vec<String> = (0..10).map(|i| format!("common-{i}")).collect();
    expected.extend((0..8).map(|i| format!("new-{i}")));
    assert_eq!(
        numbered::consume_all(&lab.bootstrap(), "fork", 0, 18),
        expected
    );
}

/// A consumer in the middle of a partition when its leader crashes: librdkafka learns
/// the new leader (epoch + 1) and validates its position with OffsetForLeaderEpoch
/// (KIP-320) before fetching on. The new leader answers where the position's epoch
/// ended in its log; the position is below it, so the consumer continues exactly
/// there: no reset (`auto.offset.reset=earliest` would re-read from 0), nothing lost.
#[test]
fn a_consumer_continues_across_a_leader_change_after_validating_its_position() {
    let mut lab = Lab::start(&[("auto.leader.rebalance.enable", "false")]);
    lab.create_topic("follow", 1, 3, &[("min.insync.replicas", "2")]);
    lab.produce_acked("follow", "a-", 20);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", lab.bootstrap())
        .set("group.id", "epoch-validation")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        .set("topic.metadata.refresh.interval.ms", "500")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("follow", 0, Offset::Beginning)
        .expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let mut got: Vec<(i64, String)> = Vec::new();
    let poll_until = |n: usize, got: &mut Vec<(i64, String)>| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while got.len() < n && Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => got.push((
                    m.offset(),
                    String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string(),
                )),
                Some(Err(e)) => println!("consumer: {e}"),
                None => {}
            }
        }
    };
    poll_until(20, &mut got);
    assert_eq!(got.len(), 20, "first half consumed");
    let old = lab.leader("follow", 0).expect("leader");
    lab.crash(old);
    wait_until("a new leader", Duration::from_secs(10), || {
        lab.leader("follow", 0).is_some_and(|l| l != old)
    });
    let new = lab.leader("follow", 0).expect("new leader");
    lab.produce_acked("follow", "b-", 20);
    poll_until(40, &mut got);
    // A little longer: a reset to earliest would bring duplicates now.
    let extra = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < extra {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            got.push((
                m.offset(),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string(),
            ));
        }
    }
    let expected: Vec<(i64, String)> = (0..20)
        .map(|i| format!("a-{i}"))
        .chain((0..20).map(|i| format!("b-{i}")))
        .enumerate()
        .map(|(o, v)| (o as i64, v))
        .collect();
    assert_eq!(got, expected);
    // Followers ask too (before fetching from the new leader): informative only.
    let served: f64 = scrape(lab.cluster())
        .lines()
        .filter(|l| {
            l.starts_with("kafkalab_broker_requests_total{")
                && l.contains(r#"api="OffsetForLeaderEpoch""#)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    println!(
        "leader {old} crashed, {new} leads; the consumer went on from offset 20 to 40 \
         ({served} OffsetForLeaderEpoch requests served, followers' included)"
    );
}

/// Counts a consumer's rebalance callbacks (assign and revoke).
#[derive(Default)]
struct RebalanceCount(std::sync::atomic::AtomicUsize);

impl rdkafka::client::ClientContext for RebalanceCount {}

impl rdkafka::consumer::ConsumerContext for RebalanceCount {
    fn post_rebalance(
        &self,
        _c: &BaseConsumer<Self>,
        rebalance: &rdkafka::consumer::Rebalance<'_>,
    ) {
        println!("rebalance: {rebalance:?}");
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_group_keeps_its_generation_when_its_coordinator_crashes() {
    // The crashed node leaves the ISRs of the partitions it followed within a second
    // (the default 30 s would hold the high watermark, and the consumers, that long).
    let mut lab = Lab::start(&[
        ("auto.leader.rebalance.enable", "false"),
        ("replica.lag.time.max.ms", "1000"),
    ]);
    lab.create_topic("moving", 2, 3, &[("min.insync.replicas", "2")]);
    let group = "survivor";
    let consumers: Vec<BaseConsumer<RebalanceCount>> = (0..2)
        .map(|_| {
            let c: BaseConsumer<RebalanceCount> = ClientConfig::new()
                .set("bootstrap.servers", lab.bootstrap())
                .set("group.id", group)
                .set("session.timeout.ms", "10000")
                .set("heartbeat.interval.ms", "500")
                .set("enable.auto.commit", "false")
                .set("auto.offset.reset", "earliest")
                .set("fetch.wait.max.ms", "100")
                .set("topic.metadata.refresh.interval.ms", "500")
                .create_with_context(RebalanceCount::default())
                .expect("consumer");
            c.subscribe(&["moving"]).expect("subscribe");
            c
        })
        .collect();
    let mut got: Vec<String> = Vec::new();
    let poll_all = |got: &mut Vec<String>| {
        for c in &consumers {
            match c.poll(Duration::from_millis(50)) {
                Some(Ok(m)) => {
                    got.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string())
                }
                Some(Err(e)) => println!("consumer: {e}"),
                None => {}
            }
        }
    };
    let coordinator = lab
        .cluster()
        .controller
        .coordinator_for(group)
        .expect("a coordinator")
        .0;
    let describe = |lab: &Lab, node: i32| {
        lab.cluster()
            .broker(node)
            .and_then(|b| b.groups.snapshot(group))
    };
    // Both members joined and hold one partition each.
    wait_until("a stable group of two", Duration::from_secs(30), || {
        poll_all(&mut got);
        describe(&lab, coordinator).is_some_and(|g| {
            g.state_name == "Stable"
                && g.members.len() == 2
                && consumers
                    .iter()
                    .all(|c| c.assignment().is_ok_and(|a| a.count() == 1))
        })
    });
    let before = describe(&lab, coordinator).expect("group");
    let generation = before.generation_id;
    let member_ids = |g: &kafkalab_broker::group::coordinator::GroupSnapshot| {
        g.members
            .iter()
            .map(|m| m.member_id.clone())
            .collect::<BTreeSet<_>>()
    };
    lab.produce_acked("moving", "a-", 20);
    wait_until("the first records", Duration::from_secs(20), || {
        poll_all(&mut got);
        got.len() >= 20
    });
    // Explicit offsets (the position, 0 where nothing was read yet): an OffsetCommit
    // with the member's id and generation goes to the coordinator whether or not this
    // member got new records (the sticky partitioner may send them all to the other).
    let commit_positions = |c: &BaseConsumer<RebalanceCount>, when: &str| {
        let mut tpl = TopicPartitionList::new();
        for e in c.position().expect("position").elements() {
            let at = match e.offset() {
                Offset::Offset(o) => o,
                _ => 0,
            };
            tpl.add_partition_offset(e.topic(), e.partition(), Offset::Offset(at))
                .expect("offset");
        }
        assert_eq!(tpl.count(), 1, "one partition each");
        c.commit(&tpl, rdkafka::consumer::CommitMode::Sync)
            .unwrap_or_else(|e| panic!("commit {when}: {e}"));
    };
    for c in &consumers {
        commit_positions(c, "before the crash");
    }
    let rebalances_before: Vec<usize> = consumers
        .iter()
        .map(|c| c.context().0.load(std::sync::atomic::Ordering::SeqCst))
        .collect();

    let crashed = Instant::now();
    lab.crash(coordinator);
    let successor = lab
        .cluster()
        .controller
        .coordinator_for(group)
        .expect("a new coordinator")
        .0;
    assert_ne!(successor, coordinator);
    wait_until("leaders on the live nodes", Duration::from_secs(10), || {
        (0..2).all(|p| lab.leader("moving", p).is_some_and(|l| l != coordinator))
    });
    // Idempotent: a retry towards a dead leader must not show up as a duplicate here.
    let prod = producer(
        &lab.bootstrap(),
        &[("acks", "all"), ("enable.idempotence", "true")],
    );
    for i in 0..20 {
        lab.send_awaited(&prod, "moving", &format!("b-{i}"));
    }
    let produced = crashed.elapsed();
    let caught_up = wait_until(
        "the records after the crash",
        Duration::from_secs(30),
        || {
            poll_all(&mut got);
            got.len() >= 40
        },
    );
    // The members found the new coordinator, which loaded the group: they heartbeat
    // and commit with their generation.
    wait_until(
        "the members' heartbeats at the new coordinator",
        Duration::from_secs(10),
        || {
            poll_all(&mut got);
            describe(&lab, successor).is_some_and(|g| g.members.len() == 2)
        },
    );
    for c in &consumers {
        commit_positions(c, "with the old generation after the crash");
    }
    // A little longer: a rebalance (session expiry at the new coordinator) would show.
    let extra = Instant::now() + Duration::from_millis(2000);
    while Instant::now() < extra {
        poll_all(&mut got);
    }
    let after = describe(&lab, successor).expect("group at the new coordinator");
    println!(
        "coordinator {coordinator} crashed, {successor} took over: generation {} -> {} ({}), \
         produced {produced:?} after the crash, all consumed {caught_up:?} later",
        generation, after.generation_id, after.state_name
    );
    let rebalances_after: Vec<usize> = consumers
        .iter()
        .map(|c| c.context().0.load(std::sync::atomic::Ordering::SeqCst))
        .collect();
    // A re-formed group would be at generation 1 again too: the member ids tell.
    assert_eq!(
        (after.generation_id, after.state_name, member_ids(&after)),
        (generation, "Stable", member_ids(&before)),
        "the group was loaded, not re-formed"
    );
    assert_eq!(
        rebalances_after, rebalances_before,
        "no revoke/assign after the crash"
    );
    let mut sorted = got.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 40, "every record once: {got:?}");
    assert_eq!(got.len(), 40, "no duplicates: {got:?}");
    assert!(
        caught_up < Duration::from_secs(3),
        "consumption went on within a couple of seconds ({caught_up:?})"
    );
}
