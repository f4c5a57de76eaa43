//! `kafkalab perf produce` and `kafkalab perf consume`: the throughput tests of
//! `kafka-producer-perf-test.sh` and `kafka-consumer-perf-test.sh`, printing the same
//! lines.
//!
//! ```text
//! $ kafkalab perf produce --topic t --num-records 100000 --record-size 100 --throughput -1
//! 100000 records sent, 98231.827112 records/sec (9.37 MB/sec), 3.12 ms avg latency, 21.40 ms max latency, 2 ms 50th, 8 ms 95th, 14 ms 99th, 20 ms 99.9th.
//! $ kafkalab perf consume --topic t --messages 100000
//! start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
//! 2025-01-01 10:00:00:000, 2025-01-01 10:00:04:000, 9.5367, 2.3842, 100000, 25000.0000, 3005, 995, 9.5846, 100502.5126
//! ```
//!
//! Latency (producer) is recorded in an HdrHistogram. With a `--throughput` target the
//! records follow a schedule and each one's latency counts from its *intended* send
//! time, so a producer that falls behind shows it (coordinated omission corrected);
//! Kafka's tool counts from the `send()` call. With `--throughput -1` both count from
//! the `send()` call. Dates print in UTC.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::{Args, Subcommand};
use hdrhistogram::Histogram;
use kafkalab_loadgen::client::consumer::{Consumer, ConsumerEvent};
use kafkalab_loadgen::client::producer::partitioner::SplitMix64;
use kafkalab_loadgen::client::producer::{Producer, ProducerRecord};
use kafkalab_loadgen::client::Role;
use tokio::time::Instant;

use super::{error_text, parse_kv, ClientSettings, ConnectArgs, ToolResult};

const MB: f64 = 1024.0 * 1024.0;

#[derive(Args, Debug)]
pub struct PerfArgs {
    #[command(subcommand)]
    command: PerfCommand,
}

#[derive(Subcommand, Debug)]
enum PerfCommand {
    /// Producer throughput and latency (kafka-producer-perf-test).
    Produce(ProducePerfArgs),
    /// Consumer throughput (kafka-consumer-perf-test).
    Consume(ConsumePerfArgs),
}

#[derive(Args, Debug)]
pub struct ProducePerfArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The topic to produce to.
    #[arg(long)]
    topic: String,
    /// How many records to send.
    #[arg(long = "num-records")]
    num_records: u64,
    /// Value size in bytes (random upper-case letters, as Kafka's tool sends).
    #[arg(long = "record-size", required_unless_present = "payload_file")]
    record_size: Option<usize>,
    /// Target records/sec; -1 for no limit.
    #[arg(long, allow_negative_numbers = true)]
    throughput: f64,
    /// Producer settings, e.g. --producer-props acks=1 linger.ms=10.
    #[arg(long = "producer-props", value_name = "KEY=VALUE", num_args = 1.., value_parser = parse_kv)]
    producer_props: Vec<(String, String)>,
    /// A producer setting (repeatable).
    #[arg(long = "producer-property", value_name = "KEY=VALUE", value_parser = parse_kv)]
    producer_property: Vec<(String, String)>,
    /// A producer properties file.
    #[arg(long = "producer.config", value_name = "FILE")]
    producer_config: Option<PathBuf>,
    /// Values are read from this file, split at --payload-delimiter, and chosen at
    /// random per record.
    #[arg(long = "payload-file", conflicts_with = "record_size")]
    payload_file: Option<PathBuf>,
    /// The delimiter between payloads in --payload-file.
    #[arg(long = "payload-delimiter", default_value = "\n")]
    payload_delimiter: String,
    /// Seed of the payload bytes and payload choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args, Debug)]
pub struct ConsumePerfArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The topic to consume.
    #[arg(long)]
    topic: String,
    /// How many records to consume.
    #[arg(long)]
    messages: u64,
    /// The consumer group (default: perf-consumer-NNNNN).
    #[arg(long)]
    group: Option<String>,
    /// Start at the end of the log when the group has no committed offset (default:
    /// the beginning).
    #[arg(long = "from-latest")]
    from_latest: bool,
    /// Give up when no record arrived for this many ms.
    #[arg(long, default_value_t = 10_000)]
    timeout: u64,
    /// Print progress every --reporting-interval instead of one summary line.
    #[arg(long = "show-detailed-stats")]
    show_detailed_stats: bool,
    /// Interval of --show-detailed-stats, ms.
    #[arg(long = "reporting-interval", default_value_t = 5_000)]
    reporting_interval: u64,
    /// Do not print the header line.
    #[arg(long = "hide-header")]
    hide_header: bool,
    /// A consumer setting (repeatable).
    #[arg(long = "consumer-property", value_name = "KEY=VALUE", value_parser = parse_kv)]
    consumer_property: Vec<(String, String)>,
    /// A consumer properties file.
    #[arg(long = "consumer.config", value_name = "FILE")]
    consumer_config: Option<PathBuf>,
}

pub fn main(args: PerfArgs) -> u8 {
    match args.command {
        PerfCommand::Produce(a) => super::block_on(produce(a)),
        PerfCommand::Consume(a) => super::block_on(consume(a)),
    }
}

// ---------------------------------------------------------------------------
// producer
// ---------------------------------------------------------------------------

/// Completed-record statistics shared with the delivery callbacks.
struct Stats {
    hist: Histogram<u64>,
    count: u64,
    bytes: u64,
    latency_sum_us: u64,
    max_us: u64,
    window_start: Instant,
    window_count: u64,
    window_bytes: u64,
    window_latency_sum_us: u64,
    window_max_us: u64,
    errors: u64,
}

impl Stats {
    fn new(now: Instant) -> Result<Stats, String> {
        Ok(Stats {
            // 1 µs .. 1 h, 3 significant digits.
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .map_err(|e| format!("histogram: {e}"))?,
            count: 0,
            bytes: 0,
            latency_sum_us: 0,
            max_us: 0,
            window_start: now,
            window_count: 0,
            window_bytes: 0,
            window_latency_sum_us: 0,
            window_max_us: 0,
            errors: 0,
        })
    }

    fn record(&mut self, latency: Duration, bytes: usize) {
        let us = latency.as_micros().min(u128::from(u64::MAX)) as u64;
        self.hist.saturating_record(us.max(1));
        self.count += 1;
        self.bytes += bytes as u64;
        self.latency_sum_us += us;
        self.max_us = self.max_us.max(us);
        self.window_count += 1;
        self.window_bytes += bytes as u64;
        self.window_latency_sum_us += us;
        self.window_max_us = self.window_max_us.max(us);
    }

    /// The 5-second line, and a new window.
    fn window_line(&mut self, now: Instant) -> Option<String> {
        let elapsed = now
            .saturating_duration_since(self.window_start)
            .as_secs_f64();
        let line = (self.window_count > 0 && elapsed > 0.0).then(|| {
            format!(
                "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
                self.window_count,
                self.window_count as f64 / elapsed,
                self.window_bytes as f64 / MB / elapsed,
                self.window_latency_sum_us as f64 / self.window_count as f64 / 1000.0,
                self.window_max_us as f64 / 1000.0,
            )
        });
        self.window_start = now;
        self.window_count = 0;
        self.window_bytes = 0;
        self.window_latency_sum_us = 0;
        self.window_max_us = 0;
        line
    }

    fn final_line(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let avg_ms = if self.count == 0 {
            0.0
        } else {
            self.latency_sum_us as f64 / self.count as f64 / 1000.0
        };
        let pct = |q: f64| {
            if self.count == 0 {
                0
            } else {
                self.hist.value_at_quantile(q) / 1000
            }
        };
        format!(
            "{} records sent, {:.6} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.count,
            self.count as f64 / secs,
            self.bytes as f64 / MB / secs,
            avg_ms,
            self.max_us as f64 / 1000.0,
            pct(0.5),
            pct(0.95),
            pct(0.99),
            pct(0.999),
        )
    }
}

fn lock(stats: &Mutex<Stats>) -> MutexGuard<'_, Stats> {
    stats
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Kafka's payload: random upper-case letters.
fn letters(size: usize, rng: &mut SplitMix64) -> Bytes {
    let v: Vec<u8> = (0..size).map(|_| b'A' + rng.below(26) as u8).collect();
    Bytes::from(v)
}

fn read_payloads(path: &Path, delimiter: &str) -> Result<Vec<Bytes>, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&text);
    let delimiter = if delimiter.is_empty() {
        "\n"
    } else {
        delimiter
    };
    let payloads: Vec<Bytes> = text
        .split(delimiter)
        .filter(|p| !p.is_empty())
        .map(|p| Bytes::copy_from_slice(p.as_bytes()))
        .collect();
    if payloads.is_empty() {
        return Err(format!("{}: no payloads", path.display()));
    }
    Ok(payloads)
}

async fn produce(args: ProducePerfArgs) -> ToolResult {
    let mut props = args.producer_props.clone();
    props.extend(args.producer_property.iter().cloned());
    let files: Vec<&Path> = args.producer_config.iter().map(|p| p.as_path()).collect();
    let settings = ClientSettings::gather(&args.connect, &files, &props)?;
    let config = settings.client_config(Role::Producer)?;
    if args.throughput == 0.0 || args.throughput.is_nan() {
        return Err("--throughput must be positive, or -1 for no limit".into());
    }
    let mut rng = SplitMix64::new(args.seed);
    let payloads = match &args.payload_file {
        Some(path) => {
            println!("Reading payloads from: {}", path.display());
            let p = read_payloads(path, &args.payload_delimiter)?;
            println!("Number of messages read: {}", p.len());
            p
        }
        None => vec![letters(args.record_size.unwrap_or(0), &mut rng)],
    };
    let producer = Producer::new(&settings.bootstrap, config)
        .await
        .map_err(|e| error_text(&e))?;
    let topic: Arc<str> = Arc::from(args.topic.as_str());
    let start = Instant::now();
    let stats = Arc::new(Mutex::new(Stats::new(start)?));
    let reporter = {
        let stats = stats.clone();
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval_at(start + Duration::from_secs(5), Duration::from_secs(5));
            loop {
                tick.tick().await;
                let line = lock(&stats).window_line(Instant::now());
                if let Some(line) = line {
                    println!("{line}");
                }
            }
        })
    };
    let interval = (args.throughput > 0.0).then(|| Duration::from_secs_f64(1.0 / args.throughput));
    let mut result = Ok(());
    for i in 0..args.num_records {
        let value = if payloads.len() == 1 {
            payloads[0].clone()
        } else {
            payloads[rng.below(payloads.len())].clone()
        };
        let size = value.len();
        let t0 = match interval {
            Some(iv) => {
                let intended = start + iv.mul_f64(i as f64);
                if intended > Instant::now() {
                    tokio::time::sleep_until(intended).await;
                }
                intended
            }
            None => Instant::now(),
        };
        let st = stats.clone();
        let record = ProducerRecord::new(topic.clone(), value);
        let sent = producer
            .send_with(record, move |r| {
                let mut s = lock(&st);
                match r {
                    Ok(_) => s.record(t0.elapsed(), size),
                    Err(e) => {
                        s.errors += 1;
                        if s.errors <= 10 {
                            eprintln!("Error when sending a record: {}", error_text(&e));
                        }
                    }
                }
            })
            .await;
        if let Err(e) = sent {
            result = Err(error_text(&e));
            break;
        }
    }
    let flushed = producer.flush().await;
    let elapsed = start.elapsed();
    producer.close(Duration::from_secs(5)).await;
    reporter.abort();
    result?;
    flushed.map_err(|e| error_text(&e))?;
    let s = lock(&stats);
    println!("{}", s.final_line(elapsed));
    match s.errors {
        0 => Ok(()),
        n => Err(format!("{n} record(s) could not be delivered")),
    }
}

// ---------------------------------------------------------------------------
// consumer
// ---------------------------------------------------------------------------

/// Milliseconds since the epoch as `yyyy-MM-dd HH:mm:ss:SSS` (UTC), Kafka's default
/// `--date-format`.
/// Times beyond jiff's range (years -9999 to 9999, less a day at each end) print as
/// the bare number.
pub fn format_ms(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%S:%3f").to_string(),
        Err(_) => ms.to_string(),
    }
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

const SUMMARY_HEADER: &str = "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec";
const DETAILED_HEADER: &str = "time, threadId, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec";

/// One summary line (Kafka's `ConsumerPerformance` columns).
pub fn summary_line(
    start_ms: i64,
    end_ms: i64,
    bytes: u64,
    messages: u64,
    rebalance_ms: i64,
) -> String {
    let elapsed_s = ((end_ms - start_ms) as f64 / 1000.0).max(1e-9);
    let mb = bytes as f64 / MB;
    let fetch_ms = (end_ms - start_ms - rebalance_ms).max(0);
    let fetch_s = (fetch_ms as f64 / 1000.0).max(1e-9);
    format!(
        "{}, {}, {:.4}, {:.4}, {}, {:.4}, {}, {}, {:.4}, {:.4}",
        format_ms(start_ms),
        format_ms(end_ms),
        mb,
        mb / elapsed_s,
        messages,
        messages as f64 / elapsed_s,
        rebalance_ms,
        fetch_ms,
        mb / fetch_s,
        messages as f64 / fetch_s
    )
}

/// Join time so far: from the test start (then from each rejoin) to each assignment.
#[derive(Debug, Default)]
struct JoinClock {
    joining_since: Option<Instant>,
    total: Duration,
}

impl JoinClock {
    fn on_event(&mut self, e: &ConsumerEvent) {
        match e {
            ConsumerEvent::JoinStarted { at } => {
                self.joining_since.get_or_insert(*at);
            }
            ConsumerEvent::Assigned { at, .. } => {
                if let Some(s) = self.joining_since.take() {
                    self.total += at.saturating_duration_since(s);
                }
            }
            _ => {}
        }
    }
}

async fn consume(args: ConsumePerfArgs) -> ToolResult {
    let files: Vec<&Path> = args.consumer_config.iter().map(|p| p.as_path()).collect();
    let mut settings = ClientSettings::gather(&args.connect, &files, &args.consumer_property)?;
    let group = match (&args.group, settings.properties.get("group.id")) {
        (Some(g), _) => g.clone(),
        (None, Some(g)) if !g.is_empty() => g.clone(),
        _ => format!("perf-consumer-{}", wall_ms().rem_euclid(100_000)),
    };
    settings.properties.insert("group.id".into(), group);
    settings
        .properties
        .entry("auto.offset.reset".into())
        .or_insert_with(|| {
            if args.from_latest {
                "latest".into()
            } else {
                "earliest".into()
            }
        });
    let config = settings.client_config(Role::Consumer)?;
    let mut consumer = Consumer::new(&settings.bootstrap, config)
        .await
        .map_err(|e| error_text(&e))?;
    let mut events = consumer.events();
    if !args.hide_header {
        println!(
            "{}",
            if args.show_detailed_stats {
                DETAILED_HEADER
            } else {
                SUMMARY_HEADER
            }
        );
    }
    let start = Instant::now();
    let start_ms = wall_ms();
    let mut join = JoinClock {
        joining_since: Some(start),
        total: Duration::ZERO,
    };
    consumer.subscribe(std::slice::from_ref(&args.topic));
    let timeout = Duration::from_millis(args.timeout);
    let interval = Duration::from_millis(args.reporting_interval.max(1));
    let (mut messages, mut bytes) = (0u64, 0u64);
    let (mut last_messages, mut last_bytes) = (0u64, 0u64);
    let mut last_report = start;
    let mut last_report_ms = start_ms;
    let mut last_join = Duration::ZERO;
    let mut last_consumed = start;
    let mut timed_out = false;
    while messages < args.messages {
        if last_consumed.elapsed() > timeout {
            timed_out = true;
            break;
        }
        let records = consumer
            .poll(Duration::from_millis(100))
            .await
            .map_err(|e| error_text(&e))?;
        while let Ok(e) = events.try_recv() {
            join.on_event(&e);
        }
        if !records.is_empty() {
            last_consumed = Instant::now();
        }
        for r in &records {
            messages += 1;
            bytes += (r.key.as_ref().map_or(0, Bytes::len) + r.value.as_ref().map_or(0, Bytes::len))
                as u64;
        }
        if args.show_detailed_stats && last_report.elapsed() >= interval {
            let now_ms = wall_ms();
            let elapsed_ms = (now_ms - last_report_ms).max(1);
            let join_ms = join.total.saturating_sub(last_join).as_millis() as i64;
            let fetch_ms = (elapsed_ms - join_ms).max(1);
            let interval_mb = (bytes - last_bytes) as f64 / MB;
            let interval_msgs = (messages - last_messages) as f64;
            println!(
                "{}, 0, {:.4}, {:.4}, {}, {:.4}, {}, {}, {:.4}, {:.4}",
                format_ms(now_ms),
                bytes as f64 / MB,
                interval_mb * 1000.0 / elapsed_ms as f64,
                messages,
                interval_msgs * 1000.0 / elapsed_ms as f64,
                join_ms,
                fetch_ms,
                interval_mb * 1000.0 / fetch_ms as f64,
                interval_msgs * 1000.0 / fetch_ms as f64,
            );
            last_report = Instant::now();
            last_report_ms = now_ms;
            last_bytes = bytes;
            last_messages = messages;
            last_join = join.total;
        }
    }
    // Without a record in the last `timeout`, the run ended with the last record.
    let end_ms = if timed_out {
        start_ms + last_consumed.saturating_duration_since(start).as_millis() as i64
    } else {
        wall_ms()
    };
    if let Err(e) = consumer.close().await {
        eprintln!("WARN closing the consumer: {}", error_text(&e));
    }
    if timed_out {
        eprintln!(
            "WARNING: Exiting before consuming the expected number of messages: timeout ({} ms) exceeded. You can use the --timeout option to increase the timeout.",
            args.timeout
        );
    }
    if !args.show_detailed_stats {
        println!(
            "{}",
            summary_line(
                start_ms,
                end_ms,
                bytes,
                messages,
                join.total.as_millis() as i64
            )
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_ms(0), "1970-01-01 00:00:00:000");
        assert_eq!(format_ms(951_782_400_000), "2000-02-29 00:00:00:000");
        assert_eq!(format_ms(1_700_000_000_123), "2023-11-14 22:13:20:123");
        assert_eq!(format_ms(-1), "1969-12-31 23:59:59:999");
    }

    #[test]
    fn times_beyond_the_calendar_print_as_numbers() {
        assert_eq!(format_ms(253_402_207_199_999), "9999-12-30 21:59:59:999");
        assert_eq!(format_ms(253_402_300_799_999), "253402300799999");
        assert_eq!(format_ms(i64::MAX), i64::MAX.to_string());
    }

    #[test]
    fn summary() {
        let line = summary_line(0, 4000, 10 * 1024 * 1024, 1000, 1000);
        assert_eq!(
            line,
            "1970-01-01 00:00:00:000, 1970-01-01 00:00:04:000, 10.0000, 2.5000, 1000, 250.0000, 1000, 3000, 3.3333, 333.3333"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn producer_lines() {
        let start = Instant::now();
        let mut s = Stats::new(start).expect("histogram");
        for ms in 1..=100u64 {
            s.record(Duration::from_millis(ms), 1024);
        }
        let line = s
            .window_line(start + Duration::from_secs(5))
            .expect("a window");
        assert_eq!(
            line,
            "100 records sent, 20.0 records/sec (0.02 MB/sec), 50.5 ms avg latency, 100.0 ms max latency."
        );
        assert!(s.window_line(start + Duration::from_secs(10)).is_none());
        assert_eq!(
            s.final_line(Duration::from_secs(10)),
            "100 records sent, 10.000000 records/sec (0.01 MB/sec), 50.50 ms avg latency, 100.00 ms max latency, 50 ms 50th, 95 ms 95th, 99 ms 99th, 100 ms 99.9th."
        );
    }
}
