//! A cluster of three separate `kafkalab broker` processes (each a broker and a
//! controller voter, `--controller-quorum-voters`) driven by a real client (the
//! `rdkafka` crate): SIGKILL the partition leader's process mid-stream with acks=all
//! and min.insync.replicas=2 and lose no acknowledged record; the killed process
//! restarts on its log directory and rejoins the ISR with a log identical to the
//! others'. And without a majority of the voters nothing is elected or created until
//! one returns.
//!
//! Run: `cargo test -p kafkalab --test cluster_processes`

#[path = "common/numbered.rs"]
mod numbered;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafkalab_broker::clock::SystemClock;
use kafkalab_broker::ready::ReadyLine;
use kafkalab_broker::storage::file::FileStorage;
use kafkalab_broker::{Broker, BrokerConfig};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureProducer;
use rdkafka::util::Timeout;

const OP_TIMEOUT: Duration = Duration::from_secs(15);
/// Short timers so failover fits a test: fenced after 2 s without heartbeats.
const SESSION_MS: &str = "2000";
const ELECTION_MS: &str = "500";

struct Proc {
    child: Child,
    kafka: String,
}

/// Three broker+voter processes on loopback.
struct Procs {
    dir: tempfile::TempDir,
    voters: String,
    procs: Vec<Option<Proc>>,
    /// Each node's Kafka address, kept across restarts (a restart binds it again).
    kafka: Vec<Option<String>>,
    rt: tokio::runtime::Runtime,
}

/// Free loopback ports: bound to port 0, then released for the processes to bind.
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

impl Procs {
    fn start() -> Procs {
        let voters = free_ports(3)
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{i}@127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let mut procs = Procs {
            dir: tempfile::tempdir().expect("tempdir"),
            voters,
            procs: vec![None, None, None],
            kafka: vec![None, None, None],
            rt,
        };
        for id in 0..3 {
            procs.spawn(id);
        }
        wait_until("three brokers registered", Duration::from_secs(20), || {
            procs.brokers().len() == 3
        });
        procs
    }

    fn log_dir(&self, id: usize) -> PathBuf {
        self.dir.path().join(format!("node-{id}"))
    }

    /// Starts node `id` (again): same log directory, same Kafka port once it had one.
    fn spawn(&mut self, id: usize) {
        let listener = self.kafka[id]
            .clone()
            .unwrap_or_else(|| "127.0.0.1:0".to_string());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("node-{id}.log")))
            .expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_kafkalab"))
            .args(["broker", "--node-id", &id.to_string()])
            .args(["--controller-quorum-voters", &self.voters])
            .args(["--override", &format!("listeners=PLAINTEXT://{listener}")])
            .args([
                "--override",
                &format!("log.dirs={}", self.log_dir(id).display()),
            ])
            .args(["--override", "kafkalab.metrics.listener="])
            .args([
                "--override",
                &format!("broker.session.timeout.ms={SESSION_MS}"),
            ])
            .args([
                "--override",
                &format!("controller.quorum.election.timeout.ms={ELECTION_MS}"),
            ])
            .args(["--override", "replica.lag.time.max.ms=5000"])
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "kafkalab_broker=info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn kafkalab broker");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Reads the ready line, then drains stdout so the process never blocks.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the ready line");
        assert!(
            line.starts_with(&format!("kafkalab broker {id} ready: kafka=")),
            "{line}"
        );
        assert!(line.contains(" controller=127.0.0.1:"), "{line}");
        let kafka = ReadyLine::parse(&line).expect("a ready line").kafka;
        println!("{line}");
        self.kafka[id] = Some(kafka.clone());
        self.procs[id] = Some(Proc { child, kafka });
    }

    /// SIGKILL: no flush, no goodbye.
    fn kill(&mut self, id: usize) {
        let mut p = self.procs[id].take().expect("running");
        p.child.kill().expect("kill");
        let _ = p.child.wait();
    }

    /// Sends `sig` (e.g. "STOP", "CONT") to node `id`'s process.
    fn signal(&self, id: usize, sig: &str) {
        let p = self.procs[id].as_ref().expect("running");
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &p.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig}");
    }

    /// SIGTERM, waiting for the clean exit (logs flushed).
    fn stop(&mut self, id: usize) {
        let mut p = self.procs[id].take().expect("running");
        sigterm(p.child.id());
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if p.child.try_wait().expect("wait").is_some() {
                return;
            }
            assert!(Instant::now() < until, "node {id} did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn bootstrap(&self) -> String {
        self.procs
            .iter()
            .flatten()
            .map(|p| p.kafka.clone())
            .collect::<Vec<_>>()
            .join(",")
    }

    fn client(&self) -> BaseConsumer {
        ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .expect("client")
    }

    /// Broker ids in Metadata.
    fn brokers(&self) -> BTreeSet<i32> {
        self.client()
            .fetch_metadata(None, Timeout::After(Duration::from_secs(2)))
            .map(|md| md.brokers().iter().map(|b| b.id()).collect())
            .unwrap_or_default()
    }

    /// (leader, sorted ISR) of partition `p` in Metadata; leader -1 when none.
    fn partition(&self, topic: &str, p: i32) -> Option<(i32, Vec<i32>)> {
        let md = self
            .client()
            .fetch_metadata(Some(topic), Timeout::After(Duration::from_secs(2)))
            .ok()?;
        let t = md.topics().iter().find(|t| t.name() == topic)?;
        let part = t.partitions().iter().find(|x| x.id() == p)?;
        let mut isr = part.isr().to_vec();
        isr.sort_unstable();
        Some((part.leader(), isr))
    }

    fn create_topic(&self, name: &str, rf: i32, configs: &[(&str, &str)]) -> Result<(), String> {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .expect("admin");
        let mut t = NewTopic::new(name, 1, TopicReplication::Fixed(rf));
        for (k, v) in configs {
            t = t.set(k, v);
        }
        let opts = AdminOptions::new()
            .operation_timeout(Some(OP_TIMEOUT))
            .request_timeout(Some(OP_TIMEOUT));
        let res = self
            .rt
            .block_on(admin.create_topics([&t], &opts))
            .map_err(|e| format!("request: {e}"))?;
        match &res[0] {
            Ok(_) => Ok(()),
            Err((_, code)) => Err(format!("{code:?}")),
        }
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for p in self.procs.iter_mut().flatten() {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}

/// SIGTERM through kill(1) (the workspace forbids `unsafe`, so no libc::kill).
fn sigterm(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM {pid}");
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000")
        .set("socket.timeout.ms", "10000")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .create()
        .expect("producer")
}

/// A stopped node's copy of a partition: (log end offset, every batch's bytes).
fn replica_log(dir: &Path, topic: &str) -> (i64, Vec<u8>) {
    let config =
        BrokerConfig::from_pairs(&[("log.dirs", &dir.display().to_string())]).expect("config");
    let broker = Broker::open(
        config,
        Arc::new(FileStorage::new(dir.to_path_buf())),
        Arc::new(SystemClock),
    )
    .expect("open the stopped node's logs");
    let part = broker
        .topics
        .get(topic)
        .and_then(|t| t.partition(0))
        .expect("the partition");
    let (mut offset, end) = part.offsets();
    let mut out = Vec::new();
    while offset < end {
        let r = part.read(offset, 1 << 20).expect("read");
        if r.records.is_empty() {
            break;
        }
        for item in kafkalab_broker::record_batch::batches(&r.records) {
            let (h, _) = item.expect("valid batch");
            offset = h.next_offset();
        }
        out.extend_from_slice(&r.records);
    }
    (end, out)
}

/// Creates `topic` (replication factor 3, min.insync.replicas=2); returns its leader.
fn replicated_topic(procs: &Procs, topic: &str) -> usize {
    procs
        .create_topic(topic, 3, &[("min.insync.replicas", "2")])
        .expect("create");
    wait_until(
        "a leader with the full ISR",
        Duration::from_secs(10),
        || {
            procs
                .partition(topic, 0)
                .is_some_and(|(l, isr)| l >= 0 && isr.len() == 3)
        },
    );
    let (leader, _) = procs.partition(topic, 0).expect("partition");
    println!("leader of {topic}-0: node {leader}");
    usize::try_from(leader).expect("node id")
}

/// Produces `total` records with acks=all (idempotent) over ~3 s while `fault` runs
/// once a third is committed; returns the acknowledged values. Panics when a record
/// failed.
fn produce_through(
    procs: &mut Procs,
    topic: &str,
    total: usize,
    fault: impl FnOnce(&mut Procs),
) -> Vec<String> {
    let bootstrap = procs.bootstrap();
    let handle = procs.rt.handle().clone();
    let t = topic.to_string();
    let producer_thread = std::thread::spawn(move || {
        let prod = producer(&bootstrap);
        numbered::send_numbered(&prod, &t, total, &handle)
    });
    let watcher: BaseConsumer = procs.client();
    wait_until("a third committed", Duration::from_secs(30), || {
        watcher
            .fetch_watermarks(topic, 0, Duration::from_secs(1))
            .is_ok_and(|(_, hw)| hw >= (total / 3) as i64)
    });
    drop(watcher);
    fault(procs);
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
    acked
}

/// Every acknowledged record is consumed, none twice.
fn assert_none_lost(procs: &Procs, topic: &str, acked: &[String]) {
    let got = numbered::consume_all(&procs.bootstrap(), topic, 0, acked.len());
    let got_set: BTreeSet<&String> = got.iter().collect();
    let lost: Vec<&String> = acked.iter().filter(|a| !got_set.contains(a)).collect();
    assert!(
        lost.is_empty(),
        "lost {} acknowledged records, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert_eq!(got_set.len(), got.len(), "duplicates despite idempotence");
    println!("consumed {} records: none lost, no duplicate", got.len());
}

/// Waits for the full ISR, stops every node cleanly and checks they hold the same log
/// (at least `acked` records).
fn assert_replicas_identical(procs: &mut Procs, topic: &str, acked: usize) {
    let took = wait_until("all three in the ISR", Duration::from_secs(30), || {
        procs
            .partition(topic, 0)
            .is_some_and(|(_, isr)| isr == vec![0, 1, 2])
    });
    println!("full ISR after {took:?}");
    for id in 0..3 {
        procs.stop(id);
    }
    let logs: Vec<(i64, Vec<u8>)> = (0..3)
        .map(|id| replica_log(&procs.log_dir(id), topic))
        .collect();
    let ends: Vec<i64> = logs.iter().map(|(e, _)| *e).collect();
    assert!(ends[0] >= acked as i64, "log ends {ends:?}");
    for (id, (end, bytes)) in logs.iter().enumerate() {
        assert_eq!(*end, ends[0], "node {id}: log ends {ends:?}");
        assert!(*bytes == logs[0].1, "node {id}'s log differs from node 0's");
    }
    println!(
        "replica logs identical: log end offset {} on every node",
        ends[0]
    );
}

#[test]
fn sigkill_of_the_leaders_process_loses_no_acknowledged_record_and_it_rejoins() {
    let mut procs = Procs::start();
    let old = replicated_topic(&procs, "pay");
    let acked = produce_through(&mut procs, "pay", 3000, |procs| {
        let killed_at = Instant::now();
        procs.kill(old);
        println!("SIGKILLed node {old}");
        let mut new = -1;
        wait_until("a new leader from the ISR", Duration::from_secs(20), || {
            new = procs.partition("pay", 0).map_or(-1, |(l, _)| l);
            new >= 0 && new != old as i32
        });
        println!(
            "new leader of pay-0: node {new}, {:?} after the kill (session {SESSION_MS} ms)",
            killed_at.elapsed()
        );
    });
    assert_none_lost(&procs, "pay", &acked);
    // The killed process returns on its log directory, catches up and rejoins.
    procs.spawn(old);
    assert_replicas_identical(&mut procs, "pay", acked.len());
}

/// Back before the controller noticed it was gone: the new start is a new incarnation,
/// so its previous one is fenced (leadership moves) before it registers, and it
/// rejoins as a follower.
#[test]
fn a_leader_restarted_within_the_session_timeout_is_fenced_first_and_loses_nothing() {
    let mut procs = Procs::start();
    let old = replicated_topic(&procs, "fast");
    let acked = produce_through(&mut procs, "fast", 3000, |procs| {
        let at = Instant::now();
        procs.kill(old);
        procs.spawn(old);
        println!(
            "SIGKILLed node {old} and started it again within {:?}",
            at.elapsed()
        );
        assert!(
            at.elapsed() < Duration::from_millis(2000),
            "restart too slow for this test"
        );
        let mut new = -1;
        wait_until("leadership moved", Duration::from_secs(20), || {
            new = procs.partition("fast", 0).map_or(-1, |(l, _)| l);
            new >= 0 && new != old as i32
        });
        println!("fast-0 now led by node {new}");
    });
    assert_none_lost(&procs, "fast", &acked);
    assert_replicas_identical(&mut procs, "fast", acked.len());
}

#[test]
fn without_a_majority_of_voters_nothing_is_elected_or_created_until_one_returns() {
    let mut procs = Procs::start();
    procs.create_topic("q", 3, &[]).expect("create q");
    wait_until("q has a leader", Duration::from_secs(10), || {
        procs
            .partition("q", 0)
            .is_some_and(|(l, isr)| l >= 0 && isr.len() == 3)
    });
    let (leader, _) = procs.partition("q", 0).expect("q");
    let leader_idx = usize::try_from(leader).expect("node id");
    let others: Vec<usize> = (0..3).filter(|&i| i != leader_idx).collect();
    let (other, survivor) = (others[0], others[1]);
    // The leader and one more: the survivor alone is no majority.
    procs.kill(leader_idx);
    procs.kill(other);
    println!("killed nodes {leader} and {other}; node {survivor} is alone");
    // Well past the session timeout: nobody fences, nobody elects.
    std::thread::sleep(Duration::from_millis(3 * 2000));
    assert_eq!(
        procs.partition("q", 0).map(|(l, _)| l),
        Some(leader),
        "leadership changed without a controller"
    );
    // The broker answers CreateTopics with NOT_CONTROLLER (retriable): kafkalab's own
    // client shows the code...
    let out = Command::new(env!("CARGO_BIN_EXE_kafkalab"))
        .args(["topics", "--bootstrap-server", &procs.bootstrap()])
        .args(["--create", "--topic", "r", "--replication-factor", "1"])
        .output()
        .expect("run kafkalab topics");
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "created without a controller: {text}"
    );
    assert!(text.contains("NOT_CONTROLLER (41)"), "{text}");
    // ...and librdkafka, which retries NOT_CONTROLLER, gives up at its timeout.
    let err = procs
        .create_topic("r", 1, &[])
        .expect_err("topic creation without a controller");
    println!(
        "without a majority: leader of q still {leader}; CreateTopics: {}; rdkafka: {err}",
        text.trim()
    );

    // One returns: a majority again; the dead leader is fenced and q gets a new one.
    let back = Instant::now();
    procs.spawn(other);
    let mut now_leader = -1;
    wait_until("an election on q", Duration::from_secs(20), || {
        now_leader = procs.partition("q", 0).map_or(-1, |(l, _)| l);
        now_leader >= 0 && now_leader != leader
    });
    println!(
        "majority back: q led by {now_leader} after {:?}",
        back.elapsed()
    );
    procs.create_topic("r", 1, &[]).expect("creation resumes");
}

/// All three stopped (SIGTERM, one after another) and started again: the voters come
/// back with the stored metadata, elect a controller, the brokers register again and
/// the last leader takes the others back into the ISR; nothing acknowledged is lost.
#[test]
fn a_full_stop_and_start_keeps_topics_records_and_the_isr() {
    let mut procs = Procs::start();
    replicated_topic(&procs, "keep");
    let acked = produce_through(&mut procs, "keep", 600, |_| {});
    for id in 0..3 {
        procs.stop(id);
    }
    for id in 0..3 {
        procs.spawn(id);
    }
    let took = wait_until("the full ISR again", Duration::from_secs(30), || {
        procs
            .partition("keep", 0)
            .is_some_and(|(l, isr)| l >= 0 && isr == vec![0, 1, 2])
    });
    println!("after a full restart: leader and full ISR within {took:?}");
    assert_none_lost(&procs, "keep", &acked);
}

/// A follower frozen (SIGSTOP) leaves the ISR after `replica.lag.time.max.ms` through
/// the controller (its leader asks; the smaller ISR counts once recorded), acks=all
/// with min.insync.replicas=2 goes on with two replicas, and once thawed (SIGCONT) the
/// follower registers again, catches up and returns to the ISR.
#[test]
fn a_frozen_follower_leaves_the_isr_through_the_controller_and_returns() {
    let mut procs = Procs::start();
    let leader = replicated_topic(&procs, "slow");
    let follower = (0..3).find(|&i| i != leader).expect("a follower");
    let rest: Vec<i32> = (0..3).filter(|&i| i != follower as i32).collect();
    let frozen = Instant::now();
    procs.signal(follower, "STOP");
    let took = wait_until(
        "the frozen follower out of the ISR",
        Duration::from_secs(20),
        || {
            procs
                .partition("slow", 0)
                .is_some_and(|(_, isr)| isr == rest)
        },
    );
    println!(
        "node {follower} frozen: out of the ISR after {took:?} (replica.lag.time.max.ms 5000)"
    );
    assert!(
        frozen.elapsed() >= Duration::from_millis(4500),
        "shrunk before the lag time"
    );
    let acked = produce_through(&mut procs, "slow", 600, |_| {});
    procs.signal(follower, "CONT");
    let took = wait_until(
        "the thawed follower back in the ISR",
        Duration::from_secs(30),
        || {
            procs
                .partition("slow", 0)
                .is_some_and(|(_, isr)| isr == vec![0, 1, 2])
        },
    );
    println!("node {follower} thawed: back in the ISR after {took:?}");
    assert_none_lost(&procs, "slow", &acked);
    assert_replicas_identical(&mut procs, "slow", acked.len());
}
