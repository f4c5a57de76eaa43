//! librdkafka (the `rdkafka` crate) clients driven by the end-to-end bench: produce bursts,
//! consume-all runs and the open-loop latency run, with their log and delivery contexts.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::procfs::{self, CpuTimes};
use hdrhistogram::Histogram;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use super::broker::*;
use super::*;

/// Seconds since the bench started, for log lines.
pub fn since_start() -> f64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// librdkafka log lines: warnings and errors are printed (at most 5 per client) unless
/// `KAFKALAB_E2E_LOG=1`, which prints everything (use with `KAFKALAB_E2E_RDKAFKA_DEBUG`).
pub fn print_log(role: &str, printed: &AtomicU64, level: RDKafkaLogLevel, fac: &str, msg: &str) {
    let all = std::env::var("KAFKALAB_E2E_LOG").is_ok_and(|v| v == "1");
    if all
        || ((level as i32) <= (RDKafkaLogLevel::Warning as i32)
            && printed.fetch_add(1, Ordering::Relaxed) < 5)
    {
        eprintln!("[{:9.3}s {role} {level:?}] {fac}: {msg}", since_start());
    }
}

/// Applies `KAFKALAB_E2E_RDKAFKA_DEBUG` (librdkafka's `debug` contexts, e.g. `fetch,msg`).
pub fn apply_debug(cfg: &mut ClientConfig) {
    cfg.set_log_level(RDKafkaLogLevel::Warning);
    if let Ok(d) = std::env::var("KAFKALAB_E2E_RDKAFKA_DEBUG") {
        cfg.set("debug", d);
        cfg.set_log_level(RDKafkaLogLevel::Debug);
    }
}

#[derive(Default)]
pub struct ConsumerLog {
    pub printed: AtomicU64,
}

impl ClientContext for ConsumerLog {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        print_log("consumer", &self.printed, level, fac, msg);
    }
}

impl ConsumerContext for ConsumerLog {}

#[derive(Default)]
pub struct DeliveryCounter {
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    pub first_error: Mutex<Option<String>>,
    pub printed: AtomicU64,
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
    pub fn done(&self) -> u64 {
        self.ok.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed)
    }
}

pub fn producer(
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
pub fn send(
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
pub fn wait_delivered(
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

pub struct ProduceOutcome {
    pub broker_detail: String,
    pub records: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    pub delivered: u64,
    pub failed: u64,
    pub first_error: Option<String>,
    pub timed_out: bool,
    pub broker_cpu: CpuTimes,
    pub bench_cpu: CpuTimes,
    pub broker_threads: Vec<(String, f64)>,
}

impl ProduceOutcome {
    pub fn records_per_sec(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64()
    }
    pub fn mb_per_sec(&self) -> f64 {
        self.delivered as f64 * (self.bytes as f64 / self.records as f64)
            / self.elapsed.as_secs_f64()
            / 1e6
    }
}

pub fn produce_burst(
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

pub type Consumer = BaseConsumer<ConsumerLog>;

pub fn consumer(
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

pub struct ConsumeOutcome {
    pub broker_detail: String,
    pub received: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    pub first_message_after: Option<Duration>,
    pub errors: u64,
    pub first_error: Option<String>,
    pub broker_cpu: CpuTimes,
    pub bench_cpu: CpuTimes,
    pub broker_threads: Vec<(String, f64)>,
}

pub fn consume_all(
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

pub struct LatencyOutcome {
    pub broker_detail: String,
    pub sent: u64,
    pub received: u64,
    pub measured: u64,
    pub hist: Histogram<u64>,
    pub wall: Duration,
    pub broker_cpu: CpuTimes,
    pub bench_cpu: CpuTimes,
    pub delivery_failed: u64,
    pub producer_error: Option<String>,
}

/// Open-loop latency: `rate` records/s for `duration`, each carrying its intended send
/// time; the consumer records (receive time - intended send time), so a stalled producer
/// or broker is charged for the whole delay (no coordinated omission). The first second
/// is warm-up and not recorded.
pub fn latency_run(
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
