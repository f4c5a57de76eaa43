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

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kafkalab_benches::e2e::broker::*;
use kafkalab_benches::e2e::clients::*;
use kafkalab_benches::e2e::report::*;
use kafkalab_benches::e2e::*;
use kafkalab_benches::procfs;

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
