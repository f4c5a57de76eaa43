//! From a finished run's measurements to the `[expect]` metrics, their verdicts, and the
//! text a person reads: progress lines and the final summary.

use std::collections::BTreeMap;
use std::path::Path;

use super::group_outcome::Window;
use super::stats::Stats;
use crate::client::producer::ProducerMetricsSnapshot;
use crate::measure::{
    ClusterFigures, ExpectationOutcome, LatencyRecorder, Report, SecondSample, Series,
};
use crate::scenario::{EventKind, Scenario};

/// Every expectation metric the run could measure (see `scenario::KNOWN_METRICS`).
#[derive(Debug, Clone, Default)]
pub struct Measured(pub BTreeMap<String, f64>);

impl Measured {
    pub fn get(&self, name: &str) -> Option<f64> {
        crate::scenario::lookup(&self.0, name)
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
    m.insert("lost".into(), sum(&|v| v.lost));
    m.insert("duplicates".into(), sum(&|v| v.duplicates));
    m.insert("redelivered".into(), sum(&|v| v.redelivered));
    m.insert("out_of_order".into(), sum(&|v| v.out_of_order));
    measure_offsets(&mut m, stats);
    measure_keys(&mut m, stats);
    m.insert(
        "produce_throughput_rps".into(),
        after_warmup.0 as f64 / measured_s,
    );
    m.insert("throughput_rps".into(), after_warmup.1 as f64 / measured_s);
    m.insert("lost_to_retention".into(), sum(&|v| v.lost_to_retention));
    // Has produce latency recovered by the end? The worst second of the last five.
    if let Some(p99) = series
        .seconds
        .iter()
        .rev()
        .take(5)
        .filter_map(|s| s.produce_latency.as_ref().map(|l| l.p99_ms))
        .reduce(f64::max)
    {
        m.insert("end_p99_produce_ms".into(), p99);
    }
    let requests: u64 = producers.iter().map(|p| p.requests).sum();
    let sent: u64 = producers.iter().map(|p| p.records_sent).sum();
    measure_producers(&mut m, scenario, stats, producers);
    measure_groups(&mut m, scenario, stats, &verifications);
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
    m: &mut BTreeMap<String, f64>,
    scenario: &Scenario,
    stats: &Stats,
    series: &Series,
    (requests, sent): (u64, u64),
    elapsed_s: f64,
) {
    m.insert("produced".into(), stats.produced.total() as f64);
    m.insert("consumed".into(), stats.consumed.total() as f64);
    let p = stats.produce_latency.lock().summary();
    let e = stats.e2e_latency.lock().summary();
    if p.count > 0 {
        m.insert("p50_produce_ms".into(), p.p50_ms);
        m.insert("p99_produce_ms".into(), p.p99_ms);
        m.insert("p999_produce_ms".into(), p.p999_ms);
    }
    if e.count > 0 {
        m.insert("p50_e2e_ms".into(), e.p50_ms);
        m.insert("p99_e2e_ms".into(), e.p99_ms);
        m.insert("p999_e2e_ms".into(), e.p999_ms);
    }
    if requests > 0 {
        m.insert("records_per_request".into(), sent as f64 / requests as f64);
    }
    if elapsed_s > 0.5 {
        m.insert("requests_per_s".into(), requests as f64 / elapsed_s);
    }
    let warmup_ns = scenario.warmup.as_nanos() as i64;
    let groups = stats.groups.lock();
    // A rebalance is a generation first seen after warm-up.
    let rebalances: usize = groups
        .values()
        .map(|g| g.generations.values().filter(|t| **t > warmup_ns).count())
        .sum();
    m.insert("rebalances".into(), rebalances as f64);
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
        m.insert("detection_s".into(), d);
    }
    let pauses = stats.pauses.lock().summary(stats.now_ns());
    m.insert("pause_s".into(), running_pause_s(&pauses, &groups, None));
    drop(groups);
    measure_members(m, scenario, stats);
    let max_lag = series
        .seconds
        .iter()
        .filter_map(|s| s.lag_max)
        .max()
        .unwrap_or(0);
    m.insert("max_lag".into(), max_lag as f64);
}

/// The longest group-wide pause of a running group, seconds (of `only` that group, or
/// any): an episode that began before its group had consumed anything is the group
/// forming (`group.initial.rebalance.delay.ms` and the first join), not a rebalance.
fn running_pause_s(
    pauses: &crate::measure::PauseSummary,
    groups: &BTreeMap<String, super::stats::GroupObs>,
    only: Option<&str>,
) -> f64 {
    pauses
        .pauses
        .iter()
        .filter(|p| only.is_none_or(|g| p.group == g))
        .filter(|p| {
            groups
                .get(&p.group)
                .and_then(|g| g.first_consumed_ns)
                .is_some_and(|first| p.start_ms * 1e6 >= first as f64)
        })
        .map(|p| p.group_pause_ms / 1000.0)
        .fold(0.0, f64::max)
}

/// Per `[[producers]]` entry (`producers.<name>.<metric>`), and the run-wide error and
/// retry counts.
fn measure_producers(
    m: &mut BTreeMap<String, f64>,
    scenario: &Scenario,
    stats: &Stats,
    instances: &[ProducerMetricsSnapshot],
) {
    let elapsed_s = scenario.duration.as_secs_f64();
    let mut all_errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut all_retries = 0u64;
    let skews = stats.acked_per_partition();
    for (entry, obs) in stats.producers.iter().enumerate() {
        let mine: Vec<&ProducerMetricsSnapshot> = instances
            .iter()
            .enumerate()
            .filter(|(i, _)| stats.producer_entry_of(*i as u32) == Some(entry))
            .map(|(_, p)| p)
            .collect();
        let sent: u64 = mine.iter().map(|p| p.records_sent).sum();
        let requests: u64 = mine.iter().map(|p| p.requests).sum();
        let retries: u64 = mine.iter().map(|p| p.record_retries).sum();
        let key = |metric: &str| format!("producers.{}.{metric}", obs.name);
        m.insert(key("produced"), sent as f64);
        if requests > 0 {
            m.insert(key("records_per_request"), sent as f64 / requests as f64);
        }
        if elapsed_s > 0.5 {
            m.insert(key("requests_per_s"), requests as f64 / elapsed_s);
        }
        let lat = obs.latency.lock().summary();
        if lat.count > 0 {
            m.insert(key("p50_produce_ms"), lat.p50_ms);
            m.insert(key("p99_produce_ms"), lat.p99_ms);
            m.insert(key("p999_produce_ms"), lat.p999_ms);
        }
        let errors = obs.errors.lock().clone();
        m.insert(key("produce_errors"), errors.values().sum::<u64>() as f64);
        for (name, n) in errors {
            m.insert(key(&format!("produce_errors.{name}")), n as f64);
            *all_errors.entry(name).or_default() += n;
        }
        m.insert(key("retries"), retries as f64);
        all_retries += retries;
        let bytes: u64 = mine.iter().map(|p| p.batch_bytes_sent).sum();
        if sent > 0 {
            m.insert(key("produce_bytes_per_record"), bytes as f64 / sent as f64);
        }
        if let Some(skew) = skews.get(&entry).and_then(|per| super::stats::skew(per)) {
            m.insert(key("partition_skew"), skew);
        }
    }
    let sent: u64 = instances.iter().map(|p| p.records_sent).sum();
    let bytes: u64 = instances.iter().map(|p| p.batch_bytes_sent).sum();
    if sent > 0 {
        m.insert(
            "produce_bytes_per_record".into(),
            bytes as f64 / sent as f64,
        );
    }
    // The most skewed producer.
    if let Some(skew) = skews
        .values()
        .filter_map(|per| super::stats::skew(per))
        .reduce(f64::max)
    {
        m.insert("partition_skew".into(), skew);
    }
    m.insert(
        "produce_errors".into(),
        all_errors.values().sum::<u64>() as f64,
    );
    for (name, n) in all_errors {
        m.insert(format!("produce_errors.{name}"), n as f64);
    }
    m.insert("retries".into(), all_retries as f64);
}

/// Per consumer group (`groups.<group>.<metric>`).
fn measure_groups(
    m: &mut BTreeMap<String, f64>,
    scenario: &Scenario,
    stats: &Stats,
    verifications: &[crate::measure::VerificationSummary],
) {
    let warmup_ns = scenario.warmup.as_nanos() as i64;
    let pauses = stats.pauses.lock().summary(stats.now_ns());
    let groups = stats.groups.lock();
    for (name, g) in groups.iter() {
        let key = |metric: &str| format!("groups.{name}.{metric}");
        if let Some(v) = verifications.iter().find(|v| v.group == *name) {
            m.insert(key("lost"), v.lost as f64);
            m.insert(key("duplicates"), v.duplicates as f64);
            m.insert(key("out_of_order"), v.out_of_order as f64);
            m.insert(key("redelivered"), v.redelivered as f64);
        }
        m.insert(key("consumed"), g.consumed as f64);
        let rebalances = g.generations.values().filter(|t| **t > warmup_ns).count();
        m.insert(key("rebalances"), rebalances as f64);
        m.insert(
            key("pause_s"),
            running_pause_s(&pauses, &groups, Some(name)),
        );
    }
}

/// The offset checks (poll skips, commits backwards, unprocessed and replayed records):
/// summed over the groups, and per group as `groups.<g>.<metric>`.
fn measure_offsets(m: &mut BTreeMap<String, f64>, stats: &Stats) {
    let mut total = crate::measure::OffsetCheckSummary::default();
    for (group, c) in &stats.offset_checks {
        let c = c.lock().summary();
        for (metric, v) in [
            ("poll_skips", c.poll_skips),
            ("commits_backwards", c.commits_backwards),
            ("unprocessed", c.unprocessed),
            ("replayed", c.replayed),
        ] {
            m.insert(format!("groups.{group}.{metric}"), v as f64);
        }
        total.poll_skips += c.poll_skips;
        total.commits_backwards += c.commits_backwards;
        total.unprocessed += c.unprocessed;
        total.replayed += c.replayed;
    }
    m.insert("poll_skips".into(), total.poll_skips as f64);
    m.insert("commits_backwards".into(), total.commits_backwards as f64);
    m.insert("unprocessed".into(), total.unprocessed as f64);
    m.insert("replayed".into(), total.replayed as f64);
}

/// What the groups saw of keys (see [`crate::measure::keys`]): per group as
/// `groups.<g>.<metric>`, and over the groups (summed; the oldest tombstone's age is
/// the largest). `records_per_key` and `max_tombstone_age_s` have no value without
/// keys or tombstones.
fn measure_keys(m: &mut BTreeMap<String, f64>, stats: &Stats) {
    let mut total = crate::measure::KeyCheckSummary::default();
    let put = |m: &mut BTreeMap<String, f64>, prefix: &str, k: &crate::measure::KeyCheckSummary| {
        m.insert(format!("{prefix}keys_remapped"), k.keys_remapped as f64);
        m.insert(format!("{prefix}tombstones"), k.tombstones as f64);
        if let Some(r) = k.records_per_key() {
            m.insert(format!("{prefix}records_per_key"), r);
        }
        if let Some(a) = k.max_tombstone_age_ms {
            m.insert(format!("{prefix}max_tombstone_age_s"), a as f64 / 1000.0);
        }
    };
    for (group, k) in &stats.key_checks {
        let k = k.lock().summary();
        put(m, &format!("groups.{group}."), &k);
        total.keys += k.keys;
        total.keyed_records += k.keyed_records;
        total.keys_remapped += k.keys_remapped;
        total.tombstones += k.tombstones;
        total.max_tombstone_age_ms = total.max_tombstone_age_ms.max(k.max_tombstone_age_ms);
    }
    put(m, "", &total);
}

/// Removals by cause, revocations, member pauses and how the members shared the
/// records, over the measured part (see [`super::group_outcome`]): per group
/// (`groups.<group>.<metric>`) and over all groups (summed, or the largest).
fn measure_members(m: &mut BTreeMap<String, f64>, scenario: &Scenario, stats: &Stats) {
    let w = Window {
        from: scenario.warmup.as_nanos() as i64,
        to: scenario.duration.as_nanos() as i64,
    };
    let owned = stats.ownership.lock().intervals(stats.now_ns());
    let groups = stats.groups.lock();
    let mut all: BTreeMap<&'static str, f64> = BTreeMap::new();
    for (name, g) in groups.iter() {
        let r = g.log.removal_counts(w, &g.crashes, &g.rebalance_starts);
        let (revoked, max_revoked) = g.log.revoked(w);
        let a = g.log.activity(name, &owned, w);
        let f = f64::from;
        let mut mine = vec![
            (
                "member_removals",
                f(r.session_timeout + r.poll_timeout + r.leave),
                false,
            ),
            ("removals_session_timeout", f(r.session_timeout), false),
            ("removals_poll_timeout", f(r.poll_timeout), false),
            ("removals_leave", f(r.leave), false),
            ("false_expiries", f(r.false_expiries), false),
            ("revoked_partitions", f(revoked), false),
            ("max_revoked_per_rebalance", f(max_revoked), true),
            (
                "max_member_pause_s",
                g.log.longest_member_pause() as f64 / 1e9,
                true,
            ),
            ("idle_members", f(a.idle), false),
        ];
        if let Some(skew) = a.skew {
            mine.push(("member_skew", skew, true));
        }
        for (metric, v, largest) in mine {
            m.insert(format!("groups.{name}.{metric}"), v);
            let total = all.entry(metric).or_insert(if largest { v } else { 0.0 });
            *total = if largest { total.max(v) } else { *total + v };
        }
    }
    // Every group-less metric has a value, member_skew only with members that consumed.
    for metric in [
        "member_removals",
        "removals_session_timeout",
        "removals_poll_timeout",
        "removals_leave",
        "false_expiries",
        "revoked_partitions",
        "max_revoked_per_rebalance",
        "max_member_pause_s",
        "idle_members",
    ] {
        all.entry(metric).or_insert(0.0);
    }
    for (metric, v) in all {
        m.insert(metric.to_string(), v);
    }
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
    m.0.insert(
        "max_under_replicated".into(),
        f64::from(f.max_under_replicated),
    );
    m.0.insert("leader_changes".into(), f64::from(f.leader_changes));
    m.0.insert("no_controller_s".into(), f64::from(f.no_controller_s));
    m.0.insert(
        "offline_partitions_s".into(),
        f64::from(f.offline_partitions_s),
    );
    m.0.insert(
        "max_offline_partitions".into(),
        f64::from(f.max_offline_partitions),
    );
    m.0.insert("isr_expands".into(), f64::from(f.isr_expands));
    m.0.insert(
        "not_preferred_leaders_at_end".into(),
        f64::from(f.not_preferred_at_end),
    );
    if let Some(s) = f.isr_full_s {
        m.0.insert("isr_full_s".into(), s);
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
    if let Some(s) = &report.simulated {
        out.push_str(&format!("{}\n", s.describe()));
    }
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
        "verification: lost {lost}, duplicates {:.0}, out of order {:.0}; rebalances {:.0}, longest pause of a running group {:.2} s\n",
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
    use std::collections::HashMap;

    use super::*;
    use crate::client::producer::Tag;

    const SCENARIO: &str = r#"
duration = "10s"
[[topics]]
name = "t"
[[producers]]
name = "fast"
topic = "t"
rate = 10
[[producers]]
name = "big"
topic = "t"
count = 2
rate = 10
[[consumers]]
group = "billing"
topic = "t"
[expect]
"producers.big.produce_errors.MESSAGE_TOO_LARGE" = ">= 3"
"producers.fast.produce_errors.MESSAGE_TOO_LARGE" = 0
"producers.fast.records_per_request" = ">= 4"
"groups.billing.consumed" = 0
"produce_errors" = 3
"retries" = 7
"#;

    #[test]
    fn scoped_metrics_count_per_entry_and_in_all() {
        let scenario = crate::scenario::parse("t.toml", SCENARIO).expect("valid");
        let partitions: HashMap<(String, i32), u32> = [(("t".to_string(), 0), 0)].into();
        let stats = Stats::new(
            1,
            true,
            &["billing".to_string()],
            &[("fast".into(), 1), ("big".into(), 2)],
            partitions,
        );
        // Instance 2 is big's second instance.
        let failed: Vec<(i64, Tag)> = (0..3).map(|i| (-1, Tag(i, 0))).collect();
        stats.on_failed_batch(2, 0, &failed, "MESSAGE_TOO_LARGE");
        let snap = |sent, requests, retries| ProducerMetricsSnapshot {
            records_sent: sent,
            requests,
            record_retries: retries,
            ..Default::default()
        };
        let instances = [snap(40, 8, 0), snap(10, 10, 3), snap(0, 0, 4)];
        let m = measure(
            &scenario,
            &stats,
            &Series::default(),
            &instances,
            10.0,
            (0, 0),
        );
        assert_eq!(m.get("producers.big.produce_errors"), Some(3.0));
        assert_eq!(
            m.get("producers.big.produce_errors.MESSAGE_TOO_LARGE"),
            Some(3.0)
        );
        // Never counted for fast: 0, not "no value".
        assert_eq!(
            m.get("producers.fast.produce_errors.MESSAGE_TOO_LARGE"),
            Some(0.0)
        );
        assert_eq!(m.get("producers.fast.records_per_request"), Some(5.0));
        assert_eq!(m.get("producers.big.records_per_request"), Some(1.0));
        assert_eq!(m.get("producers.big.retries"), Some(7.0));
        assert_eq!(m.get("produce_errors.MESSAGE_TOO_LARGE"), Some(3.0));
        assert_eq!(m.get("groups.billing.consumed"), Some(0.0));
        assert_eq!(m.get("groups.billing.lost"), Some(0.0));
        let outcomes = evaluate(&scenario, &m);
        assert!(outcomes.iter().all(|o| o.passed), "{outcomes:?}");
        // And the same checks fail on other figures.
        let other = [snap(10, 8, 0), snap(10, 10, 0), snap(0, 0, 0)];
        let stats2 = Stats::new(
            1,
            true,
            &["billing".to_string()],
            &[("fast".into(), 1), ("big".into(), 2)],
            HashMap::new(),
        );
        let m = measure(&scenario, &stats2, &Series::default(), &other, 10.0, (0, 0));
        let outcomes = evaluate(&scenario, &m);
        let failed: Vec<&str> = outcomes
            .iter()
            .filter(|o| !o.passed)
            .map(|o| o.name.as_str())
            .collect();
        assert_eq!(
            failed,
            [
                "producers.big.produce_errors.MESSAGE_TOO_LARGE",
                "producers.fast.records_per_request",
                "produce_errors",
                "retries"
            ]
        );
    }

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
