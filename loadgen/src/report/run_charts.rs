//! The charts of one run, built from its `report.json` model and `.hgrm` texts, each
//! with a one-line reading guide computed from the data.

use std::collections::BTreeMap;

use super::chart::{wide, Bar, Chart, Line, Marker, Span, XAxis};
use super::hgrm;
use crate::measure::{OwnershipEnd, Report, SecondSample};

/// Latency kinds in the order they are drawn.
const KINDS: [(&str, &str); 2] = [("produce", "produce"), ("e2e", "end-to-end")];

/// Every chart the run has data for, in reading order. `hgrms` holds (kind, `.hgrm`
/// text). The broker / ISR chart is drawn when Metadata listed several brokers.
pub fn run_charts(report: &Report, hgrms: &[(String, String)]) -> Vec<Chart> {
    let mut out = vec![
        throughput(report),
        latency_over_time(report),
        hdr(hgrms, report),
    ];
    if let Some(c) = lag(report) {
        out.push(c);
    }
    if let Some(c) = ownership(report) {
        out.push(c);
    }
    if let Some(c) = cluster(report) {
        out.push(c);
    }
    out
}

/// Broker / ISR state over time: partitions each broker leads, under-replicated and
/// offline partitions, with the timeline's events marked.
fn cluster(report: &Report) -> Option<Chart> {
    let c = &report.cluster;
    if !c.iter().any(|s| s.brokers.len() > 1) {
        return None;
    }
    let ids: std::collections::BTreeSet<i32> =
        c.iter().flat_map(|s| s.leaders.keys().copied()).collect();
    let mut lines: Vec<Line> = ids
        .iter()
        .map(|id| {
            Line::from_gappy(
                format!("led by broker {id}"),
                c.iter().map(|s| {
                    // A broker Metadata no longer lists leads nothing: a gap, not 0.
                    (s.t as f64, s.leaders.get(id).map(|n| f64::from(*n)))
                }),
            )
        })
        .collect();
    lines.push(Line::from_gappy(
        "under-replicated",
        c.iter()
            .map(|s| (s.t as f64, Some(f64::from(s.under_replicated)))),
    ));
    lines.push(Line::from_gappy(
        "offline",
        c.iter().map(|s| (s.t as f64, Some(f64::from(s.offline)))),
    ));
    let moves: u32 = c.iter().map(|s| s.leader_changes).sum();
    // The first of the worst seconds (`max_by_key` keeps the last of equals).
    let worst = c
        .iter()
        .rev()
        .max_by_key(|s| (s.under_replicated, s.offline));
    let guide = match worst {
        Some(w) if w.under_replicated > 0 || w.offline > 0 => {
            let healed = c
                .iter()
                .find(|s| s.t > w.t && s.under_replicated == 0 && s.offline == 0)
                .map_or("not fully replicated again by the end".to_string(), |s| {
                    format!("fully replicated again at t={} s", s.t)
                });
            format!(
                "{moves} leadership move(s); worst at t={} s: {} of {} partitions under-replicated, {} offline; {healed}",
                w.t, w.under_replicated, w.partitions, w.offline
            )
        }
        _ => format!("{moves} leadership move(s); every partition fully replicated throughout"),
    };
    Some(Chart {
        id: "cluster".into(),
        title: format!("{}: brokers and ISR", report.scenario),
        guide,
        x_label: "seconds since start".into(),
        y_label: "partitions".into(),
        lines,
        markers: markers(report),
        ..Chart::default()
    })
}

fn secs(s: &SecondSample) -> f64 {
    s.t as f64
}

fn markers(report: &Report) -> Vec<Marker> {
    report
        .series
        .markers
        .iter()
        .map(|m| Marker {
            at: m.at,
            label: m.label.clone(),
        })
        .collect()
}

/// The rebalance pauses as shaded spans, labelled with the group-wide pause.
fn pause_spans(report: &Report) -> Vec<Span> {
    report
        .pauses
        .pauses
        .iter()
        .map(|p| Span {
            from: p.start_ms / 1000.0,
            to: p.end_ms / 1000.0,
            label: format!(
                "{} rebalance {:.1} s (all stopped {:.1} s)",
                p.group,
                p.duration_ms / 1000.0,
                p.group_pause_ms / 1000.0
            ),
        })
        .collect()
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = v.fold((0.0, 0u64), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// The last marker at or before `t`, for "x s after <event>".
fn event_before(report: &Report, t: f64) -> Option<(&str, f64)> {
    report
        .series
        .markers
        .iter()
        .rfind(|m| m.at <= t + 1.0 && m.label != "warm-up over")
        .map(|m| (m.label.as_str(), t - m.at))
}

fn throughput(report: &Report) -> Chart {
    let s = &report.series.seconds;
    let produced = Line::from_gappy(
        "produced",
        s.iter().map(|x| (secs(x), Some(x.produced as f64))),
    );
    let consumed = Line::from_gappy(
        "consumed",
        s.iter().map(|x| (secs(x), Some(x.consumed as f64))),
    );
    let has_consumers = s.iter().any(|x| x.consumed > 0);
    let avg_p = mean(s.iter().map(|x| x.produced as f64));
    let guide = if has_consumers && s.len() > 2 {
        // The lowest second from the first one with consumption (the group forming is
        // not a dip) to the one before the last (partial).
        let from = s.iter().position(|x| x.consumed > 0).unwrap_or(0) + 1;
        let inner = s.get(from..s.len() - 1).unwrap_or(&[]);
        let low = inner.iter().min_by_key(|x| x.consumed);
        let avg_c = mean(s.iter().map(|x| x.consumed as f64));
        match low {
            Some(low) => {
                let after = event_before(report, secs(low))
                    .map(|(l, d)| format!(", {d:.0} s after \"{l}\""))
                    .unwrap_or_default();
                format!(
                    "produced {avg_p:.0} records/s, consumed {avg_c:.0}/s on average; consumption fell to {}/s at t={} s{after}",
                    low.consumed, low.t
                )
            }
            None => format!("produced {avg_p:.0} records/s, consumed {avg_c:.0}/s on average"),
        }
    } else {
        let peak = s.iter().map(|x| x.produced).max().unwrap_or(0);
        format!("produced {avg_p:.0} records/s on average (peak second {peak}); no consumers")
    };
    let mut lines = vec![produced];
    if has_consumers {
        lines.push(consumed);
    }
    Chart {
        id: "throughput".into(),
        title: format!("{}: throughput", report.scenario),
        guide,
        x_label: "seconds since start".into(),
        y_label: "records/s".into(),
        lines,
        spans: pause_spans(report),
        markers: markers(report),
        ..Chart::default()
    }
}

fn latency_over_time(report: &Report) -> Chart {
    let s = &report.series.seconds;
    let mut lines = Vec::new();
    let mut worst: Option<(f64, u64, &str)> = None;
    for (kind, label) in KINDS {
        let pick = |x: &SecondSample| match kind {
            "produce" => x.produce_latency,
            _ => x.e2e_latency,
        };
        if s.iter().all(|x| pick(x).is_none()) {
            continue;
        }
        lines.push(Line::from_gappy(
            format!("{label} p50"),
            s.iter().map(|x| (secs(x), pick(x).map(|l| l.p50_ms))),
        ));
        lines.push(Line::from_gappy(
            format!("{label} p99"),
            s.iter().map(|x| (secs(x), pick(x).map(|l| l.p99_ms))),
        ));
        lines.push(Line::from_gappy(
            format!("{label} p99.9"),
            s.iter().map(|x| (secs(x), pick(x).map(|l| l.p999_ms))),
        ));
        for x in s {
            if let Some(l) = pick(x) {
                if worst.is_none_or(|(w, _, _)| l.p99_ms > w) {
                    worst = Some((l.p99_ms, x.t, label));
                }
            }
        }
    }
    let guide = match worst {
        Some((ms, t, label)) => {
            let whole = report
                .latency
                .get(if label == "produce" { "produce" } else { "e2e" })
                .map(|l| format!(" (whole-run p99 {:.1} ms)", l.p99_ms))
                .unwrap_or_default();
            let after = event_before(report, t as f64)
                .map(|(l, d)| format!(", {d:.0} s after \"{l}\""))
                .unwrap_or_default();
            format!("worst second: {label} p99 {ms:.1} ms at t={t} s{after}{whole}")
        }
        None => "no latency samples".into(),
    };
    Chart {
        id: "latency".into(),
        title: format!("{}: latency percentiles per second", report.scenario),
        guide,
        x_label: "seconds since start".into(),
        y_label: "ms".into(),
        y_log: wide(&lines),
        lines,
        spans: pause_spans(report),
        markers: markers(report),
        ..Chart::default()
    }
}

/// The HDR percentile plot: one line per `.hgrm`, x on 1/(1-p) in decades.
pub fn hdr(hgrms: &[(String, String)], report: &Report) -> Chart {
    let mut lines = Vec::new();
    let mut parts = Vec::new();
    for (name, text) in hgrms {
        let pts = hgrm::parse(text);
        let xy = hgrm::to_log_x(&pts);
        if xy.is_empty() {
            continue;
        }
        let at = |q: f64| pts.iter().find(|p| p.q >= q).map_or(0.0, |p| p.value_ms);
        let max = pts.last().map_or(0.0, |p| p.value_ms);
        parts.push(format!(
            "{name}: p50 {:.1}, p99 {:.1}, p99.9 {:.1}, max {max:.1} ms",
            at(0.5),
            at(0.99),
            at(0.999)
        ));
        lines.push(Line {
            name: name.clone(),
            segments: vec![xy],
            faint: false,
        });
    }
    Chart {
        id: "hdr".into(),
        title: format!(
            "{}: latency distribution (whole run after warm-up)",
            report.scenario
        ),
        guide: if parts.is_empty() {
            "no latency samples".into()
        } else {
            parts.join("; ")
        },
        x_label: "percentile (log scale on 1/(1-p))".into(),
        y_label: "ms".into(),
        x_axis: XAxis::PercentileLog,
        y_log: wide(&lines),
        lines,
        ..Chart::default()
    }
}

fn lag(report: &Report) -> Option<Chart> {
    let s = &report.series.seconds;
    let mut groups: BTreeMap<&str, Vec<(f64, Option<f64>)>> = BTreeMap::new();
    for x in s {
        for g in &x.groups {
            groups
                .entry(g.group.as_str())
                .or_default()
                .push((secs(x), g.lag_max.map(|l| l as f64)));
        }
    }
    if groups.is_empty() {
        return None;
    }
    let mut peak: Option<(f64, f64, &str)> = None;
    for (g, pts) in &groups {
        for (t, l) in pts {
            if let Some(l) = l {
                if peak.is_none_or(|(p, _, _)| *l > p) {
                    peak = Some((*l, *t, g));
                }
            }
        }
    }
    // The group forming (first join, before anything was consumed) is not the pause
    // a reader looks for: only rebalances of a running group compete for "longest".
    let first_consumed_ms = s
        .iter()
        .find(|x| x.consumed > 0)
        .map_or(f64::INFINITY, |x| x.t as f64 * 1000.0);
    let (running, forming): (Vec<_>, Vec<_>) = report
        .pauses
        .pauses
        .iter()
        .partition(|p| p.start_ms >= first_consumed_ms);
    let longest = running
        .into_iter()
        .max_by(|a, b| a.group_pause_ms.total_cmp(&b.group_pause_ms));
    let first_join = forming
        .into_iter()
        .max_by(|a, b| a.duration_ms.total_cmp(&b.duration_ms));
    let peak_text = match peak {
        Some((l, t, g)) if l > 0.0 => {
            // Where the climb to the peak began, and the event just before it.
            let pts = &groups[g];
            let peak_i = pts.iter().position(|(x, _)| *x == t).unwrap_or(0);
            let start = pts[..peak_i]
                .iter()
                .rposition(|(_, y)| y.is_none_or(|y| y <= l * 0.05))
                .map_or(pts[0].0, |i| pts[i].0);
            let cause = event_before(report, start)
                .map(|(label, _)| format!(" (after \"{label}\")"))
                .unwrap_or_default();
            format!("{g}'s lag rose from t={start:.0} s{cause} to {l:.0} records at t={t:.0} s")
        }
        _ => "the groups kept up: no lag".into(),
    };
    let guide = match longest {
        Some(p) if p.group_pause_ms < 100.0 => format!(
            "rebalances (shaded) stopped the whole group for at most {:.0} ms; {peak_text}",
            p.group_pause_ms
        ),
        Some(p) => format!(
            "the shaded gap is the stop-the-world pause: {:.1} s ({}, from t={:.1} s); {peak_text}",
            p.group_pause_ms / 1000.0,
            p.group,
            p.start_ms / 1000.0
        ),
        None => match first_join {
            Some(p) => format!(
                "no rebalance once consuming (forming the group took {:.1} s); {peak_text}",
                p.duration_ms / 1000.0
            ),
            None => format!("no rebalance; {peak_text}"),
        },
    };
    Some(Chart {
        id: "lag".into(),
        title: format!("{}: consumer lag per group", report.scenario),
        guide,
        x_label: "seconds since start".into(),
        y_label: "records behind".into(),
        lines: groups
            .into_iter()
            .map(|(g, pts)| Line::from_gappy(g, pts))
            .collect(),
        spans: pause_spans(report),
        markers: markers(report),
        ..Chart::default()
    })
}

fn ownership(report: &Report) -> Option<Chart> {
    let iv = &report.ownership;
    if iv.is_empty() {
        return None;
    }
    let several_groups = iv.iter().any(|i| i.group != iv[0].group);
    let row_name = |g: &str, t: &str, p: i32| {
        if several_groups {
            format!("{g} {t}-{p}")
        } else {
            format!("{t}-{p}")
        }
    };
    let mut rows: Vec<String> = Vec::new();
    let mut members: Vec<String> = Vec::new();
    let mut bars = Vec::new();
    for i in iv {
        let r = row_name(&i.group, &i.topic, i.partition);
        let row = rows.iter().position(|x| *x == r).unwrap_or_else(|| {
            rows.push(r.clone());
            rows.len() - 1
        });
        let series = members
            .iter()
            .position(|m| *m == i.member)
            .unwrap_or_else(|| {
                members.push(i.member.clone());
                members.len() - 1
            });
        bars.push(Bar {
            row,
            from: i.from_s,
            to: i.to_s,
            series,
        });
    }
    // Moves: a partition whose next interval has another owner; the longest stretch
    // without an owner between two intervals of one partition.
    let mut moves = 0;
    let mut orphan: Option<(f64, String, f64)> = None;
    // Members closing at the end of the run hand partitions around once more: not part
    // of the story.
    // The sampler's last tick is at the end of the run.
    let run_end = report.series.seconds.len().saturating_sub(1) as f64;
    for w in iv.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if (&a.group, &a.topic, a.partition) != (&b.group, &b.topic, b.partition)
            || b.from_s > run_end
        {
            continue;
        }
        if a.member != b.member {
            moves += 1;
        }
        let gap = b.from_s - a.to_s;
        if gap > 0.0 && orphan.as_ref().is_none_or(|(g, _, _)| gap > *g) {
            orphan = Some((gap, format!("{}-{}", a.topic, a.partition), a.to_s));
        }
    }
    // Owners that never gave their partitions up (crashed or frozen): the group kept
    // them assigned until a rebalance handed them to someone else.
    let mut held: BTreeMap<&str, (Vec<String>, f64)> = BTreeMap::new();
    for i in iv.iter().filter(|i| i.end == OwnershipEnd::Reassigned) {
        let e = held.entry(i.member.as_str()).or_insert((Vec::new(), 0.0));
        e.0.push(format!("{}-{}", i.topic, i.partition));
        e.1 = e.1.max(i.to_s);
    }
    let mut parts = vec![format!("{moves} partition move(s) between members")];
    for (member, (tps, until)) in held {
        parts.push(format!(
            "{member} never released {} (reassigned at t={until:.1} s)",
            tps.join(", ")
        ));
    }
    match orphan {
        Some((gap, tp, at)) if gap >= 0.1 => parts.push(format!(
            "longest with no owner: {tp}, {gap:.1} s from t={at:.1} s"
        )),
        _ => parts.push("no partition went without an owner for 0.1 s or more".into()),
    }
    let guide = parts.join("; ");
    Some(Chart {
        id: "ownership".into(),
        title: format!("{}: partition ownership per consumer", report.scenario),
        guide,
        x_label: "seconds since start".into(),
        y_label: String::new(),
        rows,
        bars,
        series_names: members,
        markers: markers(report),
        x_range: Some((0.0, report.series.seconds.len().max(1) as f64)),
        ..Chart::default()
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::measure::{
        GroupSample, IntervalLatency, LatencyRecorder, OwnershipTracker, PauseTracker,
    };

    /// A run of 20 s: 1000 records/s, a crash at 8 s, no consumption from 8 to 12 s,
    /// ownership moving from g/1 to g/0 at 12 s.
    pub(crate) fn sample() -> (Report, Vec<(String, String)>) {
        let mut r = Report::new("demo", 1, "2026-01-01T00:00:00Z");
        for t in 0..20u64 {
            let mut s = SecondSample::new(t);
            s.produced = 1000;
            s.acked = 1000;
            let paused = (8..12).contains(&t);
            s.consumed = if paused {
                0
            } else if t == 12 {
                5000
            } else {
                1000
            };
            let lat = IntervalLatency {
                count: 1000,
                p50_ms: 2.0,
                p99_ms: if t == 12 { 4100.0 } else { 5.0 },
                p999_ms: 8.0,
                max_ms: 9.0,
            };
            s.produce_latency = Some(lat);
            s.e2e_latency = (!paused).then_some(lat);
            s.groups.push(GroupSample {
                group: "g".into(),
                generation: Some(1),
                rebalancing: paused,
                lag_max: Some(if paused { (t - 7) as i64 * 1000 } else { 0 }),
            });
            r.series.push(s);
        }
        r.series.mark(8_000_000_000, "crash-consumer g/1");
        let mut p = PauseTracker::new();
        p.rebalance_started("g", "g/0", 8_000_000_000);
        p.assigned("g", "g/0", &[0, 1], 12_100_000_000);
        p.record_consumed("g", "g/0", 12_100_000_000);
        r.pauses = p.summary(20_000_000_000);
        let tp = |p: i32| ("orders".to_string(), p);
        let mut o = OwnershipTracker::new();
        o.assigned("g", "g/0", &[tp(0)], 1_000_000_000);
        o.assigned("g", "g/1", &[tp(1)], 1_000_000_000);
        o.revoked("g", "g/0", &[tp(0)], 8_500_000_000);
        o.assigned("g", "g/0", &[tp(0), tp(1)], 12_000_000_000);
        r.ownership = o.intervals(20_000_000_000);
        let mut produce = LatencyRecorder::new();
        let mut e2e = LatencyRecorder::new();
        for i in 1..=1000u64 {
            produce.record(i * 10_000);
            e2e.record(i * 30_000);
        }
        r.latency.insert("produce".into(), produce.summary());
        r.latency.insert("e2e".into(), e2e.summary());
        let h = vec![
            ("produce".to_string(), produce.hgrm_string()),
            ("e2e".to_string(), e2e.hgrm_string()),
        ];
        (r, h)
    }

    #[test]
    fn charts_and_their_guides_come_from_the_data() {
        let (r, h) = sample();
        let charts = run_charts(&r, &h);
        let ids: Vec<&str> = charts.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["throughput", "latency", "hdr", "lag", "ownership"]);
        let by = |id: &str| charts.iter().find(|c| c.id == id).expect("chart");

        let t = by("throughput");
        assert_eq!(t.lines.len(), 2);
        assert_eq!(t.markers[0].label, "crash-consumer g/1");
        assert!(
            t.guide
                .contains("consumption fell to 0/s at t=8 s, 0 s after \"crash-consumer g/1\""),
            "{}",
            t.guide
        );

        let l = by("latency");
        assert_eq!(l.lines.len(), 6);
        // e2e has a gap for the paused seconds: two segments.
        let e2e_p99 = l
            .lines
            .iter()
            .find(|x| x.name == "end-to-end p99")
            .expect("line");
        assert_eq!(e2e_p99.segments.len(), 2);
        assert!(
            l.guide
                .starts_with("worst second: produce p99 4100.0 ms at t=12 s"),
            "{}",
            l.guide
        );

        let hd = by("hdr");
        assert_eq!(hd.lines.len(), 2);
        assert!(hd.guide.contains("e2e: p50 15.0"), "{}", hd.guide);

        let lag = by("lag");
        assert_eq!(lag.spans.len(), 1);
        assert!(
            lag.guide
                .starts_with("the shaded gap is the stop-the-world pause: 4.1 s (g, from t=8.0 s)"),
            "{}",
            lag.guide
        );
        assert!(
            lag.guide.contains(
                "g's lag rose from t=7 s (after \"crash-consumer g/1\") to 4000 records at t=11 s"
            ),
            "{}",
            lag.guide
        );

        let o = by("ownership");
        assert_eq!(o.rows, ["orders-0", "orders-1"]);
        assert_eq!(o.series_names, ["g/0", "g/1"]);
        assert_eq!(o.bars.len(), 4);
        assert!(o.guide.starts_with("1 partition move(s)"), "{}", o.guide);
        assert!(
            o.guide.contains("orders-0, 3.5 s from t=8.5 s"),
            "{}",
            o.guide
        );
        assert!(
            o.guide
                .contains("g/1 never released orders-1 (reassigned at t=12.0 s)"),
            "{}",
            o.guide
        );
    }

    #[test]
    fn a_producer_only_run_has_no_lag_or_ownership_chart() {
        let mut r = Report::new("p", 1, "x");
        let mut s = SecondSample::new(0);
        s.produced = 10;
        r.series.push(s);
        let charts = run_charts(&r, &[]);
        assert_eq!(charts.len(), 3);
        assert!(
            charts[0].guide.contains("no consumers"),
            "{}",
            charts[0].guide
        );
        assert_eq!(charts[2].guide, "no latency samples");
    }

    #[test]
    fn the_broker_chart_follows_metadata_of_a_multi_node_cluster() {
        use crate::measure::{ClusterRecorder, PartitionState};
        let part = |partition, leader, isr: &[i32]| PartitionState {
            topic: "t".into(),
            partition,
            leader,
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
        };
        let mut rec = ClusterRecorder::default();
        for t in 0..4 {
            rec.record(
                t,
                1,
                &[1, 2, 3],
                &[part(0, 1, &[1, 2, 3]), part(1, 2, &[1, 2, 3])],
            );
        }
        // Broker 1 crashes at 4 s: partition 0 moves to 2; both under-replicated.
        for t in 4..8 {
            rec.record(t, 2, &[2, 3], &[part(0, 2, &[2, 3]), part(1, 2, &[2, 3])]);
        }
        for t in 8..10 {
            rec.record(
                t,
                2,
                &[1, 2, 3],
                &[part(0, 2, &[1, 2, 3]), part(1, 2, &[1, 2, 3])],
            );
        }
        let mut r = Report::new("faults", 1, "x");
        r.cluster = rec.samples().to_vec();
        let charts = run_charts(&r, &[]);
        let c = charts
            .iter()
            .find(|c| c.id == "cluster")
            .expect("broker chart");
        let names: Vec<&str> = c.lines.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "led by broker 1",
                "led by broker 2",
                "led by broker 3",
                "under-replicated",
                "offline"
            ]
        );
        // Broker 1 is missing from Metadata for 4 s: its line has a gap.
        assert_eq!(c.lines[0].segments.len(), 2);
        assert_eq!(
            c.guide,
            "1 leadership move(s); worst at t=4 s: 2 of 2 partitions under-replicated, 0 offline; fully replicated again at t=8 s"
        );
        // One broker only: no chart.
        r.cluster.iter_mut().for_each(|s| s.brokers.truncate(1));
        assert!(run_charts(&r, &[]).iter().all(|c| c.id != "cluster"));
    }
}
