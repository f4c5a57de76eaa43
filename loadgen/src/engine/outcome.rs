//! From a finished run's measurements to the `[expect]` metrics, their verdicts, and the
//! text a person reads: progress lines and the final summary.

use std::collections::BTreeMap;
use std::path::Path;

use super::group_outcome::{Removals, Window};
use super::stats::Stats;
use crate::client::producer::ProducerMetricsSnapshot;
use crate::measure::{ExpectationOutcome, LatencyRecorder, Report, SecondSample, Series};
use crate::scenario::Scenario;

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
    drop(groups);
    measure_members(m, scenario, stats);
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

/// Removals by cause, revocations, member pauses and how the members shared the
/// records, over the measured part (see [`super::group_outcome`]); summed (or the
/// largest) over the groups.
fn measure_members(m: &mut BTreeMap<&'static str, f64>, scenario: &Scenario, stats: &Stats) {
    let w = Window {
        from: scenario.warmup.as_nanos() as i64,
        to: scenario.duration.as_nanos() as i64,
    };
    let owned = stats.ownership.lock().intervals(stats.now_ns());
    let groups = stats.groups.lock();
    let mut removals = Removals::default();
    let (mut revoked, mut max_revoked, mut pause, mut idle) = (0, 0, 0, 0);
    let mut skew: Option<f64> = None;
    for (name, g) in groups.iter() {
        let r = g.log.removal_counts(w, &g.crashes, &g.rebalance_starts);
        removals.session_timeout += r.session_timeout;
        removals.poll_timeout += r.poll_timeout;
        removals.leave += r.leave;
        removals.false_expiries += r.false_expiries;
        let (total, most) = g.log.revoked(w);
        revoked += total;
        max_revoked = max_revoked.max(most);
        pause = pause.max(g.log.longest_member_pause());
        let a = g.log.activity(name, &owned, w);
        idle += a.idle;
        skew = match (skew, a.skew) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        };
    }
    let f = f64::from;
    m.insert(
        "member_removals",
        f(removals.session_timeout + removals.poll_timeout + removals.leave),
    );
    m.insert("removals_session_timeout", f(removals.session_timeout));
    m.insert("removals_poll_timeout", f(removals.poll_timeout));
    m.insert("removals_leave", f(removals.leave));
    m.insert("false_expiries", f(removals.false_expiries));
    m.insert("revoked_partitions", f(revoked));
    m.insert("max_revoked_per_rebalance", f(max_revoked));
    m.insert("max_member_pause_s", pause as f64 / 1e9);
    m.insert("idle_members", f(idle));
    if let Some(s) = skew {
        m.insert("member_skew", s);
    }
}

/// What the once-a-second cluster samples show (nothing without several brokers).
pub fn measure_cluster(m: &mut Measured, samples: &[crate::measure::ClusterSample]) {
    if samples.is_empty() {
        return;
    }
    let max_urp = samples
        .iter()
        .map(|s| s.under_replicated)
        .max()
        .unwrap_or(0);
    let moves: u32 = samples.iter().map(|s| s.leader_changes).sum();
    m.0.insert("max_under_replicated", f64::from(max_urp));
    m.0.insert("leader_changes", f64::from(moves));
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
    out.push_str(&format!(
        "verification: lost {:.0}, duplicates {:.0}, out of order {:.0}; rebalances {:.0}, longest group pause {:.2} s\n",
        get("lost"),
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
