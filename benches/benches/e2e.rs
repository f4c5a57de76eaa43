//! End-to-end benchmarks: librdkafka clients (the `rdkafka` crate) against the kafkalab
//! broker binary running as a separate process, so the broker's CPU and memory can be
//! read from `/proc/<pid>`.
//!
//! Run: `cargo bench -p kafkalab-benches --bench e2e`
//!
//! Environment:
//! - `KAFKALAB_BIN`: broker binary (default `<target>/release/kafkalab`, built with
//!   `cargo build --release -p kafkalab` when missing; `KAFKALAB_REBUILD=1` always builds).
//! - `KAFKALAB_E2E`: comma-separated scenarios to run (`a,b,c,d,e,g`; default all;
//!   c needs b; g compares the native producer with rdkafka's).
//! - `KAFKALAB_E2E_REPS`: repetitions of the throughput scenarios a, b, c (default 3;
//!   the median is reported).
//! - `KAFKALAB_E2E_LATENCY_SECS`: duration of the latency runs (default 10).
//! - `KAFKALAB_E2E_LOG=1`: print every librdkafka log line and consume progress;
//!   `KAFKALAB_E2E_RDKAFKA_DEBUG=fetch,msg,...` sets librdkafka's `debug`.
//!
//! Each scenario prints its measured figure next to the project's published target; a
//! miss is reported, never turned into a failure.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use kafkalab_benches::procfs::{self, CpuTimes};
use kafkalab_broker::ready::ReadyLine;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

const PARTITIONS: i32 = 6;
const BROKER_START_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound for one produce or consume phase (a healthy run needs a few seconds).
const PHASE_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// The broker process
// ---------------------------------------------------------------------------------------

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or(manifest.clone(), Path::to_path_buf)
}

/// Finds the broker binary, building it when missing (or when `KAFKALAB_REBUILD=1`).
fn broker_binary() -> Result<PathBuf, String> {
    if let Ok(bin) = std::env::var("KAFKALAB_BIN") {
        let p = PathBuf::from(bin);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("KAFKALAB_BIN={} does not exist", p.display()))
        };
    }
    let root = workspace_root();
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let bin = target.join("release").join("kafkalab");
    let rebuild = std::env::var("KAFKALAB_REBUILD").is_ok_and(|v| v == "1");
    if rebuild || !bin.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        eprintln!("e2e: building the broker: {cargo} build --release -p kafkalab");
        let status = Command::new(cargo)
            .args(["build", "--release", "-p", "kafkalab"])
            .current_dir(&root)
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err(format!(
                "cargo build --release -p kafkalab failed: {status}"
            ));
        }
    }
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("{} not found after building", bin.display()))
    }
}

struct BrokerProcess {
    label: &'static str,
    child: Child,
    pid: String,
    bootstrap: String,
    /// host:port of the broker's Prometheus endpoint.
    metrics: Option<String>,
    dir: tempfile::TempDir,
}

/// Broker counters at one moment: CPU and requests served per API.
struct BrokerSnapshot {
    cpu: CpuTimes,
    requests: Vec<(String, f64)>,
}

impl BrokerProcess {
    fn start(bin: &Path, label: &'static str) -> Result<BrokerProcess, String> {
        let dir = tempfile::Builder::new()
            .prefix("kafkalab-e2e-")
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let stderr = std::fs::File::create(dir.path().join("broker.stderr"))
            .map_err(|e| format!("stderr file: {e}"))?;
        let logs = dir.path().join("logs");
        let mut child = Command::new(bin)
            .arg("broker")
            .args(["--override", "listeners=PLAINTEXT://127.0.0.1:0"])
            .args(["--override", "kafkalab.metrics.listener=127.0.0.1:0"])
            .arg("--override")
            .arg(format!("log.dirs={}", logs.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let pid = child.id().to_string();
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    let _ = tx.send(line);
                    sent = true;
                }
            }
        });
        let mut proc = BrokerProcess {
            label,
            child,
            pid,
            bootstrap: String::new(),
            metrics: None,
            dir,
        };
        let line = match rx.recv_timeout(BROKER_START_TIMEOUT) {
            Ok(l) => l,
            Err(_) => {
                return Err(format!(
                "broker did not print its ready line within {BROKER_START_TIMEOUT:?}; stderr: {}",
                proc.stderr_tail()
            ))
            }
        };
        let ready =
            ReadyLine::parse(&line).ok_or_else(|| format!("unexpected ready line: {line}"))?;
        proc.bootstrap = ready.kafka;
        proc.metrics = ready.metrics;
        Ok(proc)
    }

    /// `kafkalab_broker_requests_total` per API, scraped from the metrics endpoint.
    fn requests(&self) -> Vec<(String, f64)> {
        use std::io::{Read, Write};
        let Some(addr) = &self.metrics else {
            return Vec::new();
        };
        let Ok(mut s) = std::net::TcpStream::connect(addr) else {
            return Vec::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let req = format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        if s.write_all(req.as_bytes()).is_err() {
            return Vec::new();
        }
        let mut body = String::new();
        let _ = s.read_to_string(&mut body);
        body.lines()
            .filter_map(|l| l.strip_prefix("kafkalab_broker_requests_total{api=\""))
            .filter_map(|rest| {
                let (api, value) = rest.split_once("\"}")?;
                Some((api.to_string(), value.trim().parse::<f64>().ok()?))
            })
            .collect()
    }

    fn snapshot(&self) -> BrokerSnapshot {
        BrokerSnapshot {
            cpu: self.cpu(),
            requests: self.requests(),
        }
    }

    fn cpu(&self) -> CpuTimes {
        procfs::cpu_times(&self.pid).unwrap_or_default()
    }

    fn memory(&self) -> procfs::Memory {
        procfs::memory(&self.pid).unwrap_or_default()
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// How the process ended, if it has.
    fn exit_description(&mut self) -> Option<String> {
        use std::os::unix::process::ExitStatusExt;
        let status = self.child.try_wait().ok()??;
        Some(match (status.code(), status.signal()) {
            (Some(c), _) => format!("exited with code {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            _ => format!("ended: {status}"),
        })
    }

    fn stderr_tail(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("broker.stderr")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// Bytes of segment files under log.dirs: tells whether the binary stores on disk.
    fn log_bytes(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            let Ok(entries) = std::fs::read_dir(p) else {
                return 0;
            };
            entries
                .flatten()
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() {
                        walk(&path)
                    } else if path.extension().is_some_and(|x| x == "log") {
                        e.metadata().map_or(0, |m| m.len())
                    } else {
                        0
                    }
                })
                .sum()
        }
        walk(&self.dir.path().join("logs"))
    }

    fn stop(&mut self) {
        if !self.alive() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------

fn self_cpu() -> CpuTimes {
    procfs::cpu_times("self").unwrap_or_default()
}

fn create_topic(bootstrap: &str, name: &str, partitions: i32) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(|e| format!("admin client: {e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = rt
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(20),
                admin.create_topics([&topic], &opts),
            )
            .await
        })
        .map_err(|_| format!("CreateTopics {name} timed out"))?
        .map_err(|e| format!("CreateTopics {name}: {e}"))?;
    for r in results {
        r.map_err(|(t, code)| format!("CreateTopics {t}: {code}"))?;
    }
    Ok(())
}

/// Seconds since the bench started, for log lines.
fn since_start() -> f64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// librdkafka log lines: warnings and errors are printed (at most 5 per client) unless
/// `KAFKALAB_E2E_LOG=1`, which prints everything (use with `KAFKALAB_E2E_RDKAFKA_DEBUG`).
fn print_log(role: &str, printed: &AtomicU64, level: RDKafkaLogLevel, fac: &str, msg: &str) {
    let all = std::env::var("KAFKALAB_E2E_LOG").is_ok_and(|v| v == "1");
    if all
        || ((level as i32) <= (RDKafkaLogLevel::Warning as i32)
            && printed.fetch_add(1, Ordering::Relaxed) < 5)
    {
        eprintln!("[{:9.3}s {role} {level:?}] {fac}: {msg}", since_start());
    }
}

/// Applies `KAFKALAB_E2E_RDKAFKA_DEBUG` (librdkafka's `debug` contexts, e.g. `fetch,msg`).
fn apply_debug(cfg: &mut ClientConfig) {
    cfg.set_log_level(RDKafkaLogLevel::Warning);
    if let Ok(d) = std::env::var("KAFKALAB_E2E_RDKAFKA_DEBUG") {
        cfg.set("debug", d);
        cfg.set_log_level(RDKafkaLogLevel::Debug);
    }
}

#[derive(Default)]
struct ConsumerLog {
    printed: AtomicU64,
}

impl ClientContext for ConsumerLog {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        print_log("consumer", &self.printed, level, fac, msg);
    }
}

impl ConsumerContext for ConsumerLog {}

#[derive(Default)]
struct DeliveryCounter {
    ok: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    printed: AtomicU64,
}

impl ClientContext for DeliveryCounter {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        print_log("producer", &self.printed, level, fac, msg);
    }
}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
}

impl DeliveryCounter {
    fn done(&self) -> u64 {
        self.ok.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed)
    }
}

fn producer(
    bootstrap: &str,
    settings: &[(&str, &str)],
) -> Result<BaseProducer<DeliveryCounter>, String> {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", bootstrap)
        .set("client.id", "kafkalab-e2e-producer");
    for (k, v) in settings {
        cfg.set(*k, *v);
    }
    apply_debug(&mut cfg);
    cfg.create_with_context(DeliveryCounter::default())
        .map_err(|e| format!("producer: {e}"))
}

/// Enqueues one record, serving delivery reports while librdkafka's queue is full.
fn send(
    p: &BaseProducer<DeliveryCounter>,
    topic: &str,
    payload: &[u8],
    deadline: Instant,
    broker_pid: &str,
) -> Result<(), String> {
    let mut record = BaseRecord::<(), [u8]>::to(topic).payload(payload);
    let mut spins = 0u32;
    loop {
        match p.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                if Instant::now() > deadline {
                    return Err("timed out with librdkafka's queue full".into());
                }
                spins += 1;
                if spins & 127 == 0 && !procfs::is_running(broker_pid) {
                    return Err("the broker process exited".into());
                }
                record = r;
                p.poll(Duration::from_millis(1));
            }
            Err((e, _)) => return Err(format!("send: {e}")),
        }
    }
}

/// Serves delivery reports until `n` are in or `deadline` passes (or the broker exits).
fn wait_delivered(
    p: &BaseProducer<DeliveryCounter>,
    n: u64,
    deadline: Instant,
    broker_pid: &str,
) -> bool {
    while p.context().done() < n {
        if Instant::now() > deadline || !procfs::is_running(broker_pid) {
            return false;
        }
        p.poll(Duration::from_millis(50));
    }
    true
}

struct ProduceOutcome {
    broker_detail: String,
    records: u64,
    bytes: u64,
    elapsed: Duration,
    delivered: u64,
    failed: u64,
    first_error: Option<String>,
    timed_out: bool,
    broker_cpu: CpuTimes,
    bench_cpu: CpuTimes,
    broker_threads: Vec<(String, f64)>,
}

impl ProduceOutcome {
    fn records_per_sec(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64()
    }
    fn mb_per_sec(&self) -> f64 {
        self.delivered as f64 * (self.bytes as f64 / self.records as f64)
            / self.elapsed.as_secs_f64()
            / 1e6
    }
}

fn produce_burst(
    broker: &BrokerProcess,
    topic: &str,
    records: u64,
    record_size: usize,
    settings: &[(&str, &str)],
) -> Result<ProduceOutcome, String> {
    let p = producer(&broker.bootstrap, settings)?;
    let payload = vec![b'x'; record_size];
    // Let the producer fetch metadata and connect before the clock starts.
    let warm = Instant::now() + Duration::from_secs(10);
    let _ = p
        .client()
        .fetch_metadata(Some(topic), Duration::from_secs(10));
    while Instant::now() < warm
        && p.client()
            .fetch_metadata(Some(topic), Duration::ZERO)
            .is_err()
    {
        std::thread::sleep(Duration::from_millis(10));
    }

    let threads_before = procfs::cpu_by_thread_name(&broker.pid);
    let (broker0, self0) = (broker.snapshot(), self_cpu());
    let start = Instant::now();
    let deadline = start + PHASE_TIMEOUT;
    let mut timed_out = false;
    for i in 0..records {
        if let Err(e) = send(&p, topic, &payload, deadline, &broker.pid) {
            eprintln!("e2e: produce stopped after {i} records: {e}");
            timed_out = true;
            break;
        }
        if i & 1023 == 0 {
            p.poll(Duration::ZERO);
        }
    }
    if !wait_delivered(&p, records, deadline, &broker.pid) {
        timed_out = true;
    }
    let elapsed = start.elapsed();
    let (broker1, self1) = (broker.snapshot(), self_cpu());
    let threads_after = procfs::cpu_by_thread_name(&broker.pid);
    let ctx = p.context();
    Ok(ProduceOutcome {
        records,
        bytes: records * record_size as u64,
        elapsed,
        delivered: ctx.ok.load(Ordering::Relaxed),
        failed: ctx.failed.load(Ordering::Relaxed),
        first_error: ctx.first_error.lock().ok().and_then(|e| e.clone()),
        timed_out,
        broker_cpu: broker1.cpu.since(&broker0.cpu),
        broker_detail: describe_broker(&broker0, &broker1),
        bench_cpu: self1.since(&self0),
        broker_threads: thread_delta(&threads_before, &threads_after),
    })
}

fn thread_delta(before: &[(String, f64)], after: &[(String, f64)]) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = after
        .iter()
        .map(|(n, t)| {
            let b = before.iter().find(|(bn, _)| bn == n).map_or(0.0, |x| x.1);
            (n.clone(), t - b)
        })
        .filter(|(_, t)| *t > 0.0)
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

/// Requests served and broker CPU per request between two snapshots.
fn describe_broker(before: &BrokerSnapshot, after: &BrokerSnapshot) -> String {
    let mut reqs: Vec<(String, f64)> = after
        .requests
        .iter()
        .map(|(api, n)| {
            let b = before
                .requests
                .iter()
                .find(|(a, _)| a == api)
                .map_or(0.0, |x| x.1);
            (api.clone(), n - b)
        })
        .filter(|(_, n)| *n > 0.0)
        .collect();
    reqs.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f64 = reqs.iter().map(|r| r.1).sum();
    let cpu = after.cpu.since(&before.cpu).total();
    let per_req = if total > 0.0 {
        format!(", {:.0} us broker CPU per request", cpu * 1e6 / total)
    } else {
        String::new()
    };
    format!(
        "requests {}{per_req}",
        reqs.iter()
            .map(|(a, n)| format!("{a} {n:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn fmt_threads(t: &[(String, f64)]) -> String {
    t.iter()
        .take(5)
        .map(|(n, s)| format!("{n} {s:.2}s"))
        .collect::<Vec<_>>()
        .join(", ")
}

type Consumer = BaseConsumer<ConsumerLog>;

fn consumer(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    settings: &[(&str, &str)],
) -> Result<Consumer, String> {
    // Default consumer settings; group.id is required by librdkafka but nothing is
    // committed (the broker has no group coordinator).
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", bootstrap)
        .set("client.id", "kafkalab-e2e-consumer")
        .set("group.id", "kafkalab-e2e")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    for (k, v) in settings {
        cfg.set(*k, *v);
    }
    apply_debug(&mut cfg);
    let c: Consumer = cfg
        .create_with_context(ConsumerLog::default())
        .map_err(|e| format!("consumer: {e}"))?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .map_err(|e| format!("assignment: {e}"))?;
    }
    c.assign(&tpl).map_err(|e| format!("assign: {e}"))?;
    Ok(c)
}

struct ConsumeOutcome {
    broker_detail: String,
    received: u64,
    bytes: u64,
    elapsed: Duration,
    first_message_after: Option<Duration>,
    errors: u64,
    first_error: Option<String>,
    broker_cpu: CpuTimes,
    bench_cpu: CpuTimes,
    broker_threads: Vec<(String, f64)>,
}

fn consume_all(
    broker: &BrokerProcess,
    topic: &str,
    expected: u64,
    settings: &[(&str, &str)],
) -> Result<ConsumeOutcome, String> {
    let threads_before = procfs::cpu_by_thread_name(&broker.pid);
    let (broker0, self0) = (broker.snapshot(), self_cpu());
    let start = Instant::now();
    let c = consumer(&broker.bootstrap, topic, PARTITIONS, settings)?;
    let deadline = start + PHASE_TIMEOUT;
    let (mut received, mut bytes, mut errors) = (0u64, 0u64, 0u64);
    let mut first_error = None;
    let mut first_message_after = None;
    let verbose = std::env::var("KAFKALAB_E2E_LOG").is_ok_and(|v| v == "1");
    let mut next_progress = start;
    let mut alive_check = Instant::now();
    while received < expected && Instant::now() < deadline {
        if alive_check.elapsed() > Duration::from_millis(200) {
            alive_check = Instant::now();
            if !procfs::is_running(&broker.pid) {
                first_error.get_or_insert_with(|| "the broker process exited".to_string());
                break;
            }
        }
        if verbose && Instant::now() >= next_progress {
            eprintln!("[{:9.3}s progress] received {received}", since_start());
            next_progress += Duration::from_millis(100);
        }
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                if first_message_after.is_none() {
                    first_message_after = Some(start.elapsed());
                }
                received += 1;
                bytes += m.payload_len() as u64;
            }
            Some(Err(e)) => {
                errors += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
            None => {}
        }
    }
    let elapsed = start.elapsed();
    let (broker1, self1) = (broker.snapshot(), self_cpu());
    let threads_after = procfs::cpu_by_thread_name(&broker.pid);
    drop(c);
    Ok(ConsumeOutcome {
        received,
        bytes,
        elapsed,
        first_message_after,
        errors,
        first_error,
        broker_cpu: broker1.cpu.since(&broker0.cpu),
        broker_detail: describe_broker(&broker0, &broker1),
        bench_cpu: self1.since(&self0),
        broker_threads: thread_delta(&threads_before, &threads_after),
    })
}

struct LatencyOutcome {
    broker_detail: String,
    sent: u64,
    received: u64,
    measured: u64,
    hist: Histogram<u64>,
    wall: Duration,
    broker_cpu: CpuTimes,
    bench_cpu: CpuTimes,
    delivery_failed: u64,
    producer_error: Option<String>,
}

/// Open-loop latency: `rate` records/s for `duration`, each carrying its intended send
/// time; the consumer records (receive time - intended send time), so a stalled producer
/// or broker is charged for the whole delay (no coordinated omission). The first second
/// is warm-up and not recorded.
fn latency_run(
    broker: &BrokerProcess,
    topic: &str,
    rate: u64,
    duration: Duration,
    settings: &[(&str, &str)],
) -> Result<LatencyOutcome, String> {
    const RECORD_SIZE: usize = 100;
    let warmup = Duration::from_secs(1);
    let total = rate * duration.as_secs();
    let interval_ns = 1_000_000_000 / rate;

    let c = consumer(&broker.bootstrap, topic, PARTITIONS, &[])?;
    let p = producer(&broker.bootstrap, settings)?;
    let _ = p
        .client()
        .fetch_metadata(Some(topic), Duration::from_secs(10));
    // Let the consumer resolve its start offsets and park its first fetch.
    let settle = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < settle {
        if let Some(Ok(_)) = c.poll(Duration::from_millis(50)) {
            return Err("latency topic is not empty".into());
        }
    }

    let (broker0, self0) = (broker.snapshot(), self_cpu());
    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let consumer_thread = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut hist =
                Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds");
            let (mut received, mut measured) = (0u64, 0u64);
            while received < total && !stop.load(Ordering::Relaxed) {
                if let Some(Ok(m)) = c.poll(Duration::from_millis(20)) {
                    let now = t0.elapsed();
                    received += 1;
                    let Some(payload) = m.payload() else { continue };
                    let Some(b) = payload.get(..8) else { continue };
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    let intended = Duration::from_nanos(u64::from_be_bytes(a));
                    if intended >= warmup {
                        measured += 1;
                        let us = now.saturating_sub(intended).as_micros() as u64;
                        hist.saturating_record(us.max(1));
                    }
                }
            }
            (received, measured, hist)
        })
    };

    let mut payload = vec![b'l'; RECORD_SIZE];
    let send_deadline = t0 + duration + PHASE_TIMEOUT;
    let mut sent = 0u64;
    let mut producer_error = None;
    while sent < total {
        let now = t0.elapsed().as_nanos() as u64;
        let due = (now / interval_ns + 1).min(total);
        while sent < due {
            let intended = sent * interval_ns;
            payload[..8].copy_from_slice(&intended.to_be_bytes());
            payload[8..16].copy_from_slice(&sent.to_be_bytes());
            if let Err(e) = send(&p, topic, &payload, send_deadline, &broker.pid) {
                producer_error = Some(e);
                break;
            }
            sent += 1;
        }
        if producer_error.is_some() {
            break;
        }
        p.poll(Duration::ZERO);
        let next = Duration::from_nanos(sent * interval_ns);
        if let Some(wait) = next.checked_sub(t0.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    wait_delivered(
        &p,
        sent,
        Instant::now() + Duration::from_secs(15),
        &broker.pid,
    );
    // Give the consumer until 15 s after the last send to see everything.
    let drain_deadline = Instant::now() + Duration::from_secs(15);
    while !consumer_thread.is_finished()
        && Instant::now() < drain_deadline
        && procfs::is_running(&broker.pid)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let wall = t0.elapsed();
    let (broker1, self1) = (broker.snapshot(), self_cpu());
    let (received, measured, hist) = consumer_thread
        .join()
        .map_err(|_| "consumer thread panicked".to_string())?;
    let delivery_failed = p.context().failed.load(Ordering::Relaxed);
    let producer_error = producer_error.or_else(|| p.context().first_error.lock().ok()?.clone());
    Ok(LatencyOutcome {
        sent,
        received,
        measured,
        hist,
        wall,
        broker_cpu: broker1.cpu.since(&broker0.cpu),
        broker_detail: describe_broker(&broker0, &broker1),
        bench_cpu: self1.since(&self0),
        delivery_failed,
        producer_error,
    })
}

// ---------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------

struct Row {
    scenario: String,
    figure: String,
    target: String,
    met: Option<bool>,
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    peak_rss: Vec<(&'static str, procfs::Memory, u64)>,
}

impl Report {
    fn row(&mut self, scenario: &str, figure: String, target: &str, met: Option<bool>) {
        let verdict = match met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "n/a",
        };
        println!("  => {scenario}: {figure} (target {target}): {verdict}");
        self.rows.push(Row {
            scenario: scenario.to_string(),
            figure,
            target: target.to_string(),
            met,
        });
    }

    fn failed(&mut self, scenario: &str, target: &str, error: &str) {
        println!("  => {scenario}: FAILED: {error}");
        self.rows.push(Row {
            scenario: scenario.to_string(),
            figure: format!("failed: {error}"),
            target: target.to_string(),
            met: Some(false),
        });
    }

    fn broker_done(&mut self, broker: &mut BrokerProcess) {
        let mem = broker.memory();
        let log_bytes = broker.log_bytes();
        println!(
            "  broker '{}': VmHWM {:.1} MiB, VmRSS {:.1} MiB, threads {}, segment bytes on disk {:.1} MiB",
            broker.label,
            mem.hwm_kib as f64 / 1024.0,
            mem.rss_kib as f64 / 1024.0,
            procfs::threads(&broker.pid).unwrap_or(0),
            log_bytes as f64 / 1048576.0
        );
        if let Some(how) = broker.exit_description() {
            println!(
                "  broker '{}' is no longer running ({how}; exit code 0 after a 'shutting down' line means something outside this bench sent it SIGTERM/SIGINT). stderr tail:\n{}",
                broker.label,
                broker.stderr_tail()
            );
            self.rows.push(Row {
                scenario: format!("(broker '{}' process)", broker.label),
                figure: format!("died during the run: {how}"),
                target: "stays up".into(),
                met: Some(false),
            });
        }
        self.peak_rss.push((broker.label, mem, log_bytes));
        broker.stop();
    }

    fn print(&self) {
        println!();
        println!("kafkalab e2e results");
        let w0 = self
            .rows
            .iter()
            .map(|r| r.scenario.len())
            .max()
            .unwrap_or(8)
            .max(8);
        let w1 = self
            .rows
            .iter()
            .map(|r| r.figure.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let w2 = self
            .rows
            .iter()
            .map(|r| r.target.len())
            .max()
            .unwrap_or(6)
            .max(6);
        println!(
            "| {:w0$} | {:w1$} | {:w2$} | met?   |",
            "scenario", "figure", "target"
        );
        println!(
            "|-{}-|-{}-|-{}-|--------|",
            "-".repeat(w0),
            "-".repeat(w1),
            "-".repeat(w2)
        );
        for r in &self.rows {
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "n/a",
            };
            println!(
                "| {:w0$} | {:w1$} | {:w2$} | {met:6} |",
                r.scenario, r.figure, r.target
            );
        }
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn cpu_line(label: &str, broker: CpuTimes, bench: CpuTimes, wall: Duration) {
    println!(
        "  {label}: broker cpu {:.2}s (user {:.2} sys {:.2}), bench process cpu {:.2}s (user {:.2} sys {:.2}), wall {:.2}s",
        broker.total(),
        broker.user,
        broker.system,
        bench.total(),
        bench.user,
        bench.system,
        wall.as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn fmt_list(v: &[f64], decimals: usize) -> String {
    v.iter()
        .map(|x| format!("{x:.decimals$}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_produce(o: &ProduceOutcome) {
    println!(
        "  delivered {}/{} ({} failed{}) in {:.3}s: {:.1} MB/s ({:.1} MiB/s), {:.0} records/s{}",
        o.delivered,
        o.records,
        o.failed,
        o.first_error
            .as_ref()
            .map_or(String::new(), |e| format!(", first error: {e}")),
        o.elapsed.as_secs_f64(),
        o.mb_per_sec(),
        o.mb_per_sec() * 1e6 / 1048576.0,
        o.records_per_sec(),
        if o.timed_out { " [TIMED OUT]" } else { "" }
    );
    cpu_line("cpu", o.broker_cpu, o.bench_cpu, o.elapsed);
    println!("  broker threads: {}", fmt_threads(&o.broker_threads));
    println!("  broker {}", o.broker_detail);
}

/// Prints one consume run; returns (records/s from assign, records/s from the first
/// record, time to the first record).
fn print_consume(o: &ConsumeOutcome, expected: u64) -> (f64, f64, Duration) {
    let rps = o.received as f64 / o.elapsed.as_secs_f64();
    let first = o.first_message_after.unwrap_or_default();
    let rps_from_first =
        o.received as f64 / o.elapsed.saturating_sub(first).as_secs_f64().max(1e-9);
    println!(
        "  received {}/{} ({:.1} MB payload) in {:.3}s: {:.0} records/s from the first record (first after {:.0} ms), {:.0} records/s from assign(); {} errors{}",
        o.received,
        expected,
        o.bytes as f64 / 1e6,
        o.elapsed.as_secs_f64(),
        rps_from_first,
        first.as_secs_f64() * 1000.0,
        rps,
        o.errors,
        o.first_error
            .as_ref()
            .map_or(String::new(), |e| format!(" (first: {e})"))
    );
    cpu_line("cpu", o.broker_cpu, o.bench_cpu, o.elapsed);
    println!("  broker threads: {}", fmt_threads(&o.broker_threads));
    println!("  broker {}", o.broker_detail);
    (rps, rps_from_first, first)
}

fn scenario_a(bin: &Path, report: &mut Report, reps: usize) -> Result<(), String> {
    const NAME: &str = "a. produce 200k x 1 KiB, acks=1, linger 5ms, 6 partitions";
    const TARGET: &str = ">= 900 MB/s";
    println!("\n{NAME} ({reps} runs, each to a new topic)");
    let mut broker = BrokerProcess::start(bin, "a")?;
    let settings = [("acks", "1"), ("linger.ms", "5")];
    let mut rates = Vec::new();
    let mut complete = true;
    for rep in 1..=reps {
        let topic = format!("e2e-a-{rep}");
        create_topic(&broker.bootstrap, &topic, PARTITIONS)?;
        match produce_burst(&broker, &topic, 200_000, 1024, &settings) {
            Ok(o) => {
                print_produce(&o);
                complete &= o.delivered == o.records && !o.timed_out;
                rates.push(o.mb_per_sec());
                if o.timed_out {
                    break;
                }
            }
            Err(e) => {
                report.failed(NAME, TARGET, &e);
                report.broker_done(&mut broker);
                return Ok(());
            }
        }
    }
    let mbs = median(rates.clone());
    report.row(
        NAME,
        format!(
            "{mbs:.0} MB/s median (runs: {}){}",
            fmt_list(&rates, 0),
            if complete { "" } else { " (incomplete)" }
        ),
        TARGET,
        Some(complete && mbs >= 900.0),
    );
    report.broker_done(&mut broker);
    Ok(())
}

/// g: the native producer (`kafkalab perf produce`, its own process) and librdkafka's
/// (the `rdkafka` crate, in this process) take turns against the same broker: the
/// same records, `acks=1`, `linger.ms=5`, each client's other defaults.
fn scenario_native(bin: &Path, report: &mut Report, reps: usize) -> Result<(), String> {
    const NAME: &str = "g. native producer vs rdkafka: 1M x 100 B, acks=1, linger 5ms";
    const TARGET: &str = ">= 1,000,000 records/s and >= 80% of rdkafka";
    const N: u64 = 1_000_000;
    println!("\n{NAME} ({reps} rounds, each client to a new topic per round)");
    let mut broker = BrokerProcess::start(bin, "g")?;
    let (mut native, mut librdkafka) = (Vec::new(), Vec::new());
    for rep in 1..=reps {
        let topic = format!("e2e-g-native-{rep}");
        create_topic(&broker.bootstrap, &topic, PARTITIONS)?;
        let out = Command::new(bin)
            .args(["perf", "produce", "--bootstrap-server", &broker.bootstrap])
            .args(["--topic", &topic, "--num-records", &N.to_string()])
            .args(["--record-size", "100", "--throughput", "-1"])
            .args(["--producer-props", "acks=1", "linger.ms=5"])
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run {} perf produce: {e}", bin.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let rate = text
            .lines()
            .rev()
            .find(|l| l.starts_with(&format!("{N} records sent,")))
            // "N records sent, R records/sec (...), ..."
            .and_then(|l| l.split(", ").nth(1)?.split(' ').next()?.parse::<f64>().ok());
        match rate {
            Some(r) if out.status.success() => {
                println!("  native  : {r:.0} records/s");
                native.push(r);
            }
            _ => {
                report.failed(NAME, TARGET, &format!("perf produce: {}", text.trim()));
                report.broker_done(&mut broker);
                return Ok(());
            }
        }
        let topic = format!("e2e-g-rdkafka-{rep}");
        create_topic(&broker.bootstrap, &topic, PARTITIONS)?;
        let o = produce_burst(
            &broker,
            &topic,
            N,
            100,
            &[("acks", "1"), ("linger.ms", "5")],
        )?;
        if o.delivered != o.records || o.timed_out {
            report.failed(NAME, TARGET, "the rdkafka run did not deliver every record");
            report.broker_done(&mut broker);
            return Ok(());
        }
        println!("  rdkafka : {:.0} records/s", o.records_per_sec());
        librdkafka.push(o.records_per_sec());
    }
    let (n, r) = (median(native.clone()), median(librdkafka.clone()));
    let ratio = if r > 0.0 { n / r } else { 0.0 };
    report.row(
        NAME,
        format!(
            "native {n:.0} records/s median (runs: {}), rdkafka {r:.0} (runs: {}): {:.0}%",
            fmt_list(&native, 0),
            fmt_list(&librdkafka, 0),
            100.0 * ratio
        ),
        TARGET,
        Some(n >= 1_000_000.0 && ratio >= 0.8),
    );
    report.broker_done(&mut broker);
    Ok(())
}

/// b then c on the same broker (each c run reads what one b run wrote).
fn scenario_bc(
    bin: &Path,
    report: &mut Report,
    run_b: bool,
    run_c: bool,
    reps: usize,
) -> Result<(), String> {
    const NAME_B: &str = "b. produce 1M x 100 B, acks=1, linger 5ms, batch.size 1MB";
    const TARGET_B: &str = "- (reported)";
    const NAME_B2: &str = "b. broker share of total CPU (broker+bench)";
    const TARGET_B2: &str = "< 25%";
    const NAME_C: &str = "c. consume 1M x 100 B from beginning, default settings";
    const TARGET_C: &str = ">= 2,000,000 records/s";
    const N: u64 = 1_000_000;
    let mut broker = BrokerProcess::start(bin, "b+c")?;
    println!("\n{NAME_B} ({reps} runs, each to a new topic)");
    let settings = [("acks", "1"), ("linger.ms", "5"), ("batch.size", "1000000")];
    let (mut rates, mut shares, mut produced) = (Vec::new(), Vec::new(), Vec::new());
    let (mut broker_cpu, mut total_cpu) = (0.0, 0.0);
    let mut complete = true;
    for rep in 1..=reps {
        let topic = format!("e2e-b-{rep}");
        create_topic(&broker.bootstrap, &topic, PARTITIONS)?;
        match produce_burst(&broker, &topic, N, 100, &settings) {
            Ok(o) => {
                print_produce(&o);
                let total = o.broker_cpu.total() + o.bench_cpu.total();
                let share = if total > 0.0 {
                    100.0 * o.broker_cpu.total() / total
                } else {
                    0.0
                };
                println!("  broker share of CPU: {share:.1}%");
                broker_cpu += o.broker_cpu.total();
                total_cpu += total;
                complete &= o.delivered == o.records && !o.timed_out;
                rates.push(o.records_per_sec());
                shares.push(share);
                produced.push((topic, o.delivered));
                if o.timed_out {
                    break;
                }
            }
            Err(e) => {
                report.failed(NAME_B, TARGET_B, &e);
                complete = false;
                break;
            }
        }
    }
    if run_b && !rates.is_empty() {
        let inc = if complete { "" } else { " (incomplete)" };
        report.row(
            NAME_B,
            format!(
                "{:.0} records/s median (runs: {}){inc}",
                median(rates.clone()),
                fmt_list(&rates, 0)
            ),
            TARGET_B,
            if complete { None } else { Some(false) },
        );
        let share = median(shares.clone());
        report.row(
            NAME_B2,
            format!(
                "{share:.1}% median (runs: {}; summed: broker {broker_cpu:.2}s of {total_cpu:.2}s){inc}",
                fmt_list(&shares, 1)
            ),
            TARGET_B2,
            Some(complete && share < 25.0),
        );
    }
    if run_c && !produced.is_empty() {
        println!(
            "\n{NAME_C} ({} runs, each a new consumer on one b topic)",
            produced.len()
        );
        let (mut rates, mut rates_assign, mut startup) = (Vec::new(), Vec::new(), Vec::new());
        let mut complete = true;
        for (topic, n) in &produced {
            match consume_all(&broker, topic, *n, &[]) {
                Ok(o) => {
                    let (rps, rps_from_first, first) = print_consume(&o, *n);
                    rates.push(rps_from_first);
                    rates_assign.push(rps);
                    startup.push(first.as_secs_f64() * 1000.0);
                    if o.received < *n {
                        complete = false;
                        break;
                    }
                    complete &= *n == N;
                }
                Err(e) => {
                    report.failed(NAME_C, TARGET_C, &e);
                    complete = false;
                    break;
                }
            }
        }
        if !rates.is_empty() {
            // Headline: first to last record. The time before the first record
            // (connections, ListOffsets; librdkafka retries the offset lookup after a
            // fixed 500 ms when the partition leader's connection is not up yet) is
            // client start-up, reported beside it.
            let rps = median(rates.clone());
            report.row(
                NAME_C,
                format!(
                    "{rps:.0} records/s median, first-to-last record (runs: {}; incl. start-up of {} ms: {}){}",
                    fmt_list(&rates, 0),
                    fmt_list(&startup, 0),
                    fmt_list(&rates_assign, 0),
                    if complete { "" } else { " (incomplete)" }
                ),
                TARGET_C,
                Some(complete && rps >= 2_000_000.0),
            );
        }
        // Diagnostic: with default settings librdkafka stops fetching for
        // fetch.queue.backoff.ms (1000 ms) whenever its local queue exceeds
        // queued.min.messages (100000), i.e. whenever the application polls slower than
        // the broker serves. Re-run once with a 10 ms backoff to show the rate without
        // those client-side pauses.
        const NAME_C2: &str = "c. (diagnostic) same, fetch.queue.backoff.ms=10";
        if let Some((topic, n)) = produced.first() {
            println!("\n{NAME_C2}");
            match consume_all(&broker, topic, *n, &[("fetch.queue.backoff.ms", "10")]) {
                Ok(o) => {
                    let (_, rps_from_first, first) = print_consume(&o, *n);
                    report.row(
                        NAME_C2,
                        format!(
                            "{rps_from_first:.0} records/s first-to-last record (start-up {:.0} ms)",
                            first.as_secs_f64() * 1000.0
                        ),
                        "- (diagnostic)",
                        None,
                    );
                }
                Err(e) => report.failed(NAME_C2, "-", &e),
            }
        }
    }
    report.broker_done(&mut broker);
    Ok(())
}

fn scenario_latency(
    bin: &Path,
    report: &mut Report,
    linger_zero: bool,
    secs: u64,
) -> Result<(), String> {
    let (label, name) = if linger_zero {
        (
            "e",
            "e. e2e latency 10k rec/s, acks=all, linger 0ms".to_string(),
        )
    } else {
        (
            "d",
            "d. e2e latency 10k rec/s, acks=all, linger 5ms".to_string(),
        )
    };
    println!("\n{name} ({secs}s, 100 B records, 6 partitions)");
    let mut broker = BrokerProcess::start(bin, label)?;
    let topic = format!("e2e-{label}");
    create_topic(&broker.bootstrap, &topic, PARTITIONS)?;
    let linger = if linger_zero { "0" } else { "5" };
    let settings = [("acks", "all"), ("linger.ms", linger)];
    match latency_run(
        &broker,
        &topic,
        10_000,
        Duration::from_secs(secs),
        &settings,
    ) {
        Ok(o) => {
            let h = &o.hist;
            let (p50, p99, p999, max) = (
                h.value_at_quantile(0.50),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.max(),
            );
            println!(
                "  sent {}, received {}, measured {} (after 1 s warm-up), delivery failures {}{}",
                o.sent,
                o.received,
                o.measured,
                o.delivery_failed,
                o.producer_error
                    .as_ref()
                    .map_or(String::new(), |e| format!(", producer error: {e}"))
            );
            println!(
                "  latency: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms, mean {:.2} ms",
                ms(p50),
                ms(h.value_at_quantile(0.90)),
                ms(p99),
                ms(p999),
                ms(max),
                h.mean() / 1000.0
            );
            cpu_line("cpu", o.broker_cpu, o.bench_cpu, o.wall);
            println!("  broker {}", o.broker_detail);
            let broker_pct = 100.0 * o.broker_cpu.total() / o.wall.as_secs_f64();
            let complete = o.received == o.sent && o.sent == 10_000 * secs && o.measured > 0;
            let inc = if complete { "" } else { " (incomplete)" };
            if linger_zero {
                report.row(
                    &format!("{name}: p99"),
                    format!(
                        "{:.2} ms (p50 {:.2}, p99.9 {:.2}){inc}",
                        ms(p99),
                        ms(p50),
                        ms(p999)
                    ),
                    "< 3 ms",
                    Some(complete && p99 < 3_000),
                );
                report.row(
                    &format!("{name}: broker CPU"),
                    format!(
                        "{broker_pct:.1}% of one core ({:.2}s in {:.1}s)",
                        o.broker_cpu.total(),
                        o.wall.as_secs_f64()
                    ),
                    "< 20%",
                    Some(broker_pct < 20.0),
                );
            } else {
                report.row(
                    &format!("{name}: p50"),
                    format!("{:.2} ms{inc}", ms(p50)),
                    "< 7 ms",
                    Some(complete && p50 < 7_000),
                );
                report.row(
                    &format!("{name}: p99"),
                    format!("{:.2} ms{inc}", ms(p99)),
                    "< 12 ms",
                    Some(complete && p99 < 12_000),
                );
                report.row(
                    &format!("{name}: p99.9"),
                    format!("{:.2} ms{inc}", ms(p999)),
                    "n/a (reported)",
                    None,
                );
                println!("  broker cpu: {broker_pct:.1}% of one core over the run");
            }
        }
        Err(e) => report.failed(&name, "see above", &e),
    }
    report.broker_done(&mut broker);
    Ok(())
}

fn main() {
    // `cargo bench` passes `--bench`; a plain filter argument is not supported.
    let selected = std::env::var("KAFKALAB_E2E").unwrap_or_else(|_| "a,b,c,d,e,g".into());
    let has = |s: &str| selected.split(',').any(|x| x.trim() == s);
    let reps: usize = std::env::var("KAFKALAB_E2E_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(1);
    let secs: u64 = std::env::var("KAFKALAB_E2E_LATENCY_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let bin = match broker_binary() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("e2e: cannot find or build the broker: {e}");
            std::process::exit(1);
        }
    };
    let age = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .map_or(String::new(), |d| format!(", built {}s ago", d.as_secs()));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "kafkalab e2e benchmarks: broker {}{age}; {cores} cores; rdkafka (librdkafka {})",
        bin.display(),
        rdkafka::util::get_rdkafka_version().1
    );
    let started = Instant::now();
    let mut report = Report::default();
    let mut run = |name: &str, f: &mut dyn FnMut(&mut Report) -> Result<(), String>| {
        if let Err(e) = f(&mut report) {
            report.failed(name, "-", &e);
        }
    };
    if has("a") {
        run("a", &mut |r| scenario_a(&bin, r, reps));
    }
    if has("b") || has("c") {
        run("b/c", &mut |r| {
            scenario_bc(&bin, r, has("b"), has("c"), reps)
        });
    }
    if has("g") {
        run("g", &mut |r| scenario_native(&bin, r, reps));
    }
    if has("d") {
        run("d", &mut |r| scenario_latency(&bin, r, false, secs));
    }
    if has("e") {
        run("e", &mut |r| scenario_latency(&bin, r, true, secs));
    }
    if !report.peak_rss.is_empty() {
        let (label, peak, _) = report
            .peak_rss
            .iter()
            .max_by_key(|(_, m, _)| m.hwm_kib)
            .copied()
            .unwrap_or(("-", procfs::Memory::default(), 0));
        let per: Vec<String> = report
            .peak_rss
            .iter()
            .map(|(l, m, _)| format!("{l}: {:.0}", m.hwm_kib as f64 / 1024.0))
            .collect();
        let on_disk = report.peak_rss.iter().any(|(_, _, b)| *b > 0);
        let mib = peak.hwm_kib as f64 / 1024.0;
        report.row(
            "f. broker peak RSS (VmHWM), max over the brokers above",
            format!(
                "{mib:.1} MiB (broker {label}; per broker MiB {}; storage: {})",
                per.join(", "),
                if on_disk {
                    "segment files"
                } else {
                    "no segment files, i.e. in memory"
                }
            ),
            "< 100 MB",
            Some(peak.hwm_kib * 1024 < 100_000_000),
        );
    }
    report.print();
    println!("\ne2e total time: {:.1}s", started.elapsed().as_secs_f64());
}
