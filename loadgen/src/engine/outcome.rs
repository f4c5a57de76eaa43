//! From a finished run's measurements to the `[expect]` metrics, their verdicts, and the
//! text a person reads: progress lines and the final summary.

use std::collections::BTreeMap;
use std::path::Path;

use super::stats::Stats;
use crate::client::producer::ProducerMetricsSnapshot;
use crate::measure::{ClusterFigures, ExpectationOutcome, LatencyRecorder, Report, SecondSample, Series};
use crate::scenario::{EventKind, Scenario};

/// Every expectation metric the run could measure (see `scenario::KNOWN_METRICS`).
#[derive(Debug, Clone, Default)]
pub struct Measured(pub BTreeMap<&'static str, f64>);

impl Measured {
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.get(name).copied()
    }
}

pub fn measure(
    scenario: &Scenario,
    stats: &Stats,
    series: &Series,
    producers: &[ProducerMetricsSnapshot],
    measured_s: f64,
    after_warmup: (u64, u64),
) -> Measured {
    let mut m = BTreeMap::new();
    let verifications: Vec<_> = stats
        .verifiers
        .values()
        .map(|v| v.lock().summary())
        .collect();
    let sum = |f: &dyn Fn(&crate::measure::VerificationSummary) -> u64| {
        verifications.iter().map(f).sum::<u64>() as f64
    };
    m.insert("lost", sum(&|v| v.lost));
    m.insert("duplicates", sum(&|v| v.duplicates));
    m.insert("redelivered", sum(&|v| v.redelivered));
    m.insert("out_of_order", sum(&|v| v.out_of_order));
    m.insert("lost_to_retention", sum(&|v| v.lost_to_retention));
    // Has produce latency recovered by the end? The worst second of the last five.
    if let Some(p99) = series
        .seconds
        .iter()
        .rev()
        .take(5)
        .filter_map(|s| s.produce_latency.as_ref().map(|l| l.p99_ms))
        .reduce(f64::max)
    {
        m.insert("end_p99_produce_ms", p99);
    }
    m.insert("produce_throughput_rps", after_warmup.0 as f64 / measured_s);
    m.insert("throughput_rps", after_warmup.1 as f64 / measured_s);
    let requests: u64 = producers.iter().map(|p| p.requests).sum();
    let sent: u64 = producers.iter().map(|p| p.records_sent).sum();
    measure_so_far(
        &mut m,
        scenario,
        stats,
        series,
        (requests, sent),
        scenario.duration.as_secs_f64(),
    );
    Measured(m)
}

/// The metrics that mean the same mid-run as at the end (the live view shows them as
/// they go): record counts, latency percentiles, request rates over `elapsed_s`,
/// rebalances after warm-up, crash-to-rebalance detection, member removals, the longest
/// group pause and the highest lag.
pub(super) fn measure_so_far(
    m: &mut BTreeMap<&'static str, f64>,
    scenario: &Scenario,
    stats: &Stats,
    series: &Series,
    (requests, sent): (u64, u64),
    elapsed_s: f64,
) {
    m.insert("produced", stats.produced.total() as f64);
    m.insert("consumed", stats.consumed.total() as f64);
    let p = stats.produce_latency.lock().summary();
    let e = stats.e2e_latency.lock().summary();
    if p.count > 0 {
        m.insert("p50_produce_ms", p.p50_ms);
        m.insert("p99_produce_ms", p.p99_ms);
        m.insert("p999_produce_ms", p.p999_ms);
    }
    if e.count > 0 {
        m.insert("p50_e2e_ms", e.p50_ms);
        m.insert("p99_e2e_ms", e.p99_ms);
        m.insert("p999_e2e_ms", e.p999_ms);
    }
    if requests > 0 {
        m.insert("records_per_request", sent as f64 / requests as f64);
    }
    if elapsed_s > 0.5 {
        m.insert("requests_per_s", requests as f64 / elapsed_s);
    }
    let warmup_ns = scenario.warmup.as_nanos() as i64;
    let groups = stats.groups.lock();
    // A rebalance is a generation first seen after warm-up.
    let rebalances: usize = groups
        .values()
        .map(|g| g.generations.values().filter(|t| **t > warmup_ns).count())
        .sum();
    m.insert("rebalances", rebalances as f64);
    // Detection: from a crash/freeze to the first rejoin of the group after it.
    let detection = groups
        .values()
        .flat_map(|g| {
            g.faults.iter().filter_map(|f| {
                g.rebalance_starts
                    .iter()
                    .find(|t| **t > *f)
                    .map(|t| (t - f) as f64 / 1e9)
            })
        })
        .reduce(f64::max);
    if let Some(d) = detection {
        m.insert("detection_s", d);
    }
    let removals: u32 = groups
        .values()
        .map(|g| g.poll_timeouts + g.faults.len() as u32)
        .sum();
    m.insert("member_removals", removals as f64);
    drop(groups);
    let pauses = stats.pauses.lock().summary(stats.now_ns());
    m.insert("pause_s", pauses.longest_group_pause_ms / 1000.0);
    let max_lag = series
        .seconds
        .iter()
        .filter_map(|s| s.lag_max)
        .max()
        .unwrap_or(0);
    m.insert("max_lag", max_lag as f64);
}

/// What the once-a-second cluster samples show (nothing without several brokers).
pub fn measure_cluster(
    m: &mut Measured,
    scenario: &Scenario,
    samples: &[crate::measure::ClusterSample],
) {
    if samples.is_empty() {
        return;
    }
    let f = ClusterFigures::of(samples, last_fault_end_s(scenario));
    m.0.insert("max_under_replicated", f64::from(f.max_under_replicated));
    m.0.insert("leader_changes", f64::from(f.leader_changes));
    m.0.insert("no_controller_s", f64::from(f.no_controller_s));
    m.0.insert("offline_partitions_s", f64::from(f.offline_partitions_s));
    m.0.insert("max_offline_partitions", f64::from(f.max_offline_partitions));
    m.0.insert("isr_expands", f64::from(f.isr_expands));
    m.0.insert(
        "not_preferred_leaders_at_end",
        f64::from(f.not_preferred_at_end),
    );
    if let Some(s) = f.isr_full_s {
        m.0.insert("isr_full_s", s);
    }
}

/// When the scenario's last broker, link or disk fault ends, in seconds from the start:
/// a `restart-broker` or `heal-network` at its time, a `pause-broker` or a link / disk
/// fault with `for` after it. `None` when no fault ends during the run.
pub fn last_fault_end_s(scenario: &Scenario) -> Option<f64> {
    scenario
        .events
        .iter()
        .filter_map(|e| {
            let at = e.at.value.as_secs_f64();
            let for_s = e.for_duration.as_ref().map(|d| d.value.as_secs_f64());
            match e.kind.value {
                EventKind::RestartBroker | EventKind::HealNetwork => Some(at),
                EventKind::PauseBroker
                | EventKind::DelayLink
                | EventKind::LossLink
                | EventKind::PartitionNetwork
                | EventKind::SlowDisk => for_s.map(|f| at + f),
                _ => None,
            }
        })
        .filter(|end| *end < scenario.duration.as_secs_f64())
        .reduce(f64::max)
}

pub fn evaluate(scenario: &Scenario, measured: &Measured) -> Vec<ExpectationOutcome> {
    scenario
        .expect
        .iter()
        .map(|e| {
            let value = measured.get(e.metric.as_str());
            ExpectationOutcome {
                name: e.metric.to_string(),
                check: e.check.to_string(),
                measured: value.map_or(serde_json::Value::Null, |v| serde_json::json!(round3(v))),
                passed: value.is_some_and(|v| e.check.eval(v)),
            }
        })
        .collect()
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// A kafka-producer-perf-test style line for the last second.
pub fn progress_line(s: &SecondSample, produce: &LatencyRecorder, e2e: &LatencyRecorder) -> String {
    let p = produce.summary();
    let e = e2e.summary();
    format!(
        "[{:>5}s] {} records sent, {} acked, {} consumed in the last second; produce latency avg {:.2} ms, p99 {:.2} ms, max {:.2} ms; end-to-end p99 {:.2} ms; lag {}",
        s.t,
        s.produced,
        s.acked,
        s.consumed,
        p.mean_ms,
        p.p99_ms,
        p.max_ms,
        e.p99_ms,
        s.lag_max.unwrap_or(0)
    )
}

pub fn summary_text(
    scenario: &Scenario,
    report: &Report,
    measured: &Measured,
    dir: &Path,
) -> String {
    let mut out = String::new();
    let get = |k: &str| measured.get(k).unwrap_or(0.0);
    out.push_str(&format!(
        "\n== {} (seed {}) ==\n",
        scenario.name, report.seed
    ));
    if !scenario.watch.is_empty() {
        out.push_str(&format!("watch: {}\n", scenario.watch.trim()));
    }
    out.push_str(&format!(
        "produced {:.0}, consumed {:.0}; {:.0} records/s produced, {:.0} records/s consumed after warm-up\n",
        get("produced"),
        get("consumed"),
        get("produce_throughput_rps"),
        get("throughput_rps")
    ));
    for (name, s) in &report.latency {
        if s.count > 0 {
            out.push_str(&format!(
                "{name} latency: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms ({} samples)\n",
                s.p50_ms, s.p99_ms, s.p999_ms, s.max_ms, s.count
            ));
        }
    }
    let lost = match get("lost_to_retention") {
        r if r > 0.0 => format!(
            "{:.0} ({r:.0} of them lost to retention: deleted before the consumer got there)",
            get("lost")
        ),
        _ => format!("{:.0}", get("lost")),
    };
    out.push_str(&format!(
        "verification: lost {lost}, duplicates {:.0}, out of order {:.0}; rebalances {:.0}, longest group pause {:.2} s\n",
        get("duplicates"),
        get("out_of_order"),
        get("rebalances"),
        get("pause_s")
    ));
    if !report.expectations.is_empty() {
        out.push_str("expectations:\n");
        for e in &report.expectations {
            out.push_str(&format!(
                "  {} {} {}: measured {}\n",
                if e.passed { "PASS" } else { "FAIL" },
                e.name,
                e.check,
                e.measured
            ));
        }
    }
    out.push_str(&format!("report: {}\n", dir.display()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(events: &str) -> Scenario {
        let text = format!(
            "duration = \"20s\"\n[cluster]\nbrokers = 3\n[[topics]]\nname = \"t\"\n{events}"
        );
        crate::scenario::parse("t.toml", &text).expect("valid scenario")
    }

    #[test]
    fn the_last_fault_ends_at_a_restart_a_heal_or_after_its_for() {
        assert_eq!(last_fault_end_s(&scenario("")), None);
        // A kill alone never ends; a slow disk without `for` neither.
        let kill = "[[events]]\nat = \"2s\"\ndo = \"kill-broker\"\ntarget = 1\n";
        assert_eq!(last_fault_end_s(&scenario(kill)), None);
        let restart = "[[events]]\nat = \"6s\"\ndo = \"restart-broker\"\ntarget = 1\n";
        assert_eq!(
            last_fault_end_s(&scenario(&format!("{kill}{restart}"))),
            Some(6.0)
        );
        let slow = "[[events]]\nat = \"5s\"\ndo = \"slow-disk\"\ntarget = 2\nlatency = \"1s\"\nfor = \"8s\"\n";
        assert_eq!(
            last_fault_end_s(&scenario(&format!("{kill}{restart}{slow}"))),
            Some(13.0)
        );
        // A fault that would end after the run does not end in it.
        let long = "[[events]]\nat = \"5s\"\ndo = \"slow-disk\"\ntarget = 2\nlatency = \"1s\"\nfor = \"30s\"\n";
        assert_eq!(last_fault_end_s(&scenario(long)), None);
    }
}
