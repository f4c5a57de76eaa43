//! Two runs side by side (`kafkalab report compare A B`): the run charts with both
//! runs overlaid (A solid, B lighter), the settings that differ, and a table of every
//! metric with its difference and ratio. Reads only the two report directories.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::chart::{Chart, Line, Marker, Span};
use super::run_charts::run_charts;
use super::table::{num, Table};
use super::ReportError;
use crate::measure::Report;

/// One run of the comparison, read from its report directory.
#[derive(Debug, Clone)]
pub struct Side {
    /// The directory's name (`batching-20261125-101500`).
    pub name: String,
    pub report: Report,
    /// (kind, `.hgrm` text).
    pub hgrms: Vec<(String, String)>,
}

impl Side {
    /// Reads `dir` (`report.json` and the `.hgrm` files).
    pub fn read(dir: &Path) -> Result<Side, ReportError> {
        let (report, hgrms) = super::read_run(dir)?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        Ok(Side {
            name,
            report,
            hgrms,
        })
    }

    fn p99(&self, kind: &str) -> Option<f64> {
        self.report
            .latency
            .get(kind)
            .filter(|l| l.count > 0)
            .map(|l| l.p99_ms)
    }
}

fn prefixed(lines: &[Line], tag: &str, faint: bool, keep: impl Fn(&Line) -> bool) -> Vec<Line> {
    lines
        .iter()
        .filter(|l| keep(l))
        .map(|l| Line {
            name: format!("{tag}: {}", l.name),
            segments: l.segments.clone(),
            faint,
        })
        .collect()
}

fn ratio_text(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a > 0.0 => format!(" (B/A ×{})", num(b / a, 2)),
        _ => String::new(),
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| num(v, digits))
}

fn mean_rate(r: &Report, pick: fn(&crate::measure::SecondSample) -> u64) -> f64 {
    let s = &r.series.seconds;
    if s.is_empty() {
        0.0
    } else {
        s.iter().map(|x| pick(x) as f64).sum::<f64>() / s.len() as f64
    }
}

/// The overlaid charts: throughput, p99 over time, HDR, lag (where either run has it).
pub fn compare_charts(a: &Side, b: &Side) -> Vec<Chart> {
    let ca = run_charts(&a.report, &a.hgrms);
    let cb = run_charts(&b.report, &b.hgrms);
    let mut out = Vec::new();
    for id in ["throughput", "latency", "hdr", "lag"] {
        let (x, y) = (
            ca.iter().find(|c| c.id == id),
            cb.iter().find(|c| c.id == id),
        );
        let Some(base) = x.or(y) else { continue };
        // Per-second percentiles: only p99, or twelve lines would hide each other.
        let keep = |l: &Line| id != "latency" || l.name.ends_with(" p99");
        let mut lines = Vec::new();
        let mut spans: Vec<Span> = Vec::new();
        let mut markers: Vec<Marker> = Vec::new();
        for (tag, c, faint) in [("A", x, false), ("B", y, true)] {
            let Some(c) = c else { continue };
            lines.extend(prefixed(&c.lines, tag, faint, keep));
            spans.extend(c.spans.iter().map(|s| Span {
                label: format!("{tag}: {}", s.label),
                ..s.clone()
            }));
            markers.extend(
                c.markers
                    .iter()
                    .filter(|m| m.label != "warm-up over")
                    .map(|m| Marker {
                        at: m.at,
                        label: format!("{tag}: {}", m.label),
                    }),
            );
        }
        let guide = match id {
            "throughput" => format!(
                "produced A {}/s, B {}/s; consumed A {}/s, B {}/s (means per second)",
                num(mean_rate(&a.report, |s| s.produced), 0),
                num(mean_rate(&b.report, |s| s.produced), 0),
                num(mean_rate(&a.report, |s| s.consumed), 0),
                num(mean_rate(&b.report, |s| s.consumed), 0)
            ),
            "lag" => format!(
                "longest group pause: A {} s, B {} s",
                num(a.report.pauses.longest_group_pause_ms / 1000.0, 1),
                num(b.report.pauses.longest_group_pause_ms / 1000.0, 1)
            ),
            _ => {
                let kind = if a.p99("e2e").is_some() || b.p99("e2e").is_some() {
                    "e2e"
                } else {
                    "produce"
                };
                let (pa, pb) = (a.p99(kind), b.p99(kind));
                format!(
                    "whole-run {kind} p99: A {} ms, B {} ms{}",
                    opt(pa, 2),
                    opt(pb, 2),
                    ratio_text(pa, pb)
                )
            }
        };
        out.push(Chart {
            id: id.to_string(),
            title: format!(
                "A vs B: {}",
                base.title
                    .split_once(": ")
                    .map_or(base.title.as_str(), |t| t.1)
            ),
            guide,
            lines,
            spans,
            markers,
            ..base.clone()
        });
    }
    out
}

/// The metric's value for the differences table: measured metrics, latency maxima,
/// and totals (for reports written before metrics were recorded).
fn metrics_of(r: &Report) -> BTreeMap<String, f64> {
    let mut m = r.metrics.clone();
    for (kind, l) in &r.latency {
        if l.count > 0 {
            m.entry(format!("p99_{kind}_ms")).or_insert(l.p99_ms);
            m.insert(format!("max_{kind}_ms"), l.max_ms);
        }
    }
    let (produced, _, consumed) = r.series.totals();
    m.entry("produced".into()).or_insert(produced as f64);
    m.entry("consumed".into()).or_insert(consumed as f64);
    m.insert("duration_s".into(), r.duration_s);
    m
}

/// Every metric of either run: A, B, B − A and B / A.
pub fn differences_table(a: &Side, b: &Side) -> Table {
    let (ma, mb) = (metrics_of(&a.report), metrics_of(&b.report));
    let names: BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
    let mut t = Table::new("Differences", &["metric", "A", "B", "B − A", "B / A"]);
    for n in names {
        let (va, vb) = (ma.get(n).copied(), mb.get(n).copied());
        let (diff, ratio) = match (va, vb) {
            (Some(x), Some(y)) => (
                num(y - x, 3),
                if x != 0.0 {
                    format!("×{}", num(y / x, 3))
                } else {
                    "–".into()
                },
            ),
            _ => ("–".into(), "–".into()),
        };
        t.row(vec![n.clone(), opt(va, 3), opt(vb, 3), diff, ratio]);
    }
    t
}

/// Settings that differ between the runs (component, setting, A, B).
pub fn settings_table(a: &Side, b: &Side) -> Table {
    let flat = |r: &Report| -> BTreeMap<(String, String), String> {
        let mut out = BTreeMap::new();
        let text = |v: &serde_json::Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
        for (who, map) in &r.settings.producers {
            for (k, v) in map {
                out.insert((format!("producer {who}"), k.clone()), text(v));
            }
        }
        for (who, map) in &r.settings.consumer_groups {
            for (k, v) in map {
                out.insert((format!("group {who}"), k.clone()), text(v));
            }
        }
        for (k, v) in &r.settings.broker {
            out.insert(("broker".into(), k.clone()), text(v));
        }
        out
    };
    let (fa, fb) = (flat(&a.report), flat(&b.report));
    let keys: BTreeSet<&(String, String)> = fa.keys().chain(fb.keys()).collect();
    let mut t = Table::new("Settings that differ", &["component", "setting", "A", "B"]);
    for k in keys {
        let (x, y) = (fa.get(k), fb.get(k));
        if x != y {
            let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(default)".into());
            t.row(vec![k.0.clone(), k.1.clone(), show(x), show(y)]);
        }
    }
    t
}

/// Reads runs `a` and `b` and writes the comparison into `out`: the overlaid charts,
/// `index.html` and `summary.md`.
pub fn write_compare(a: &Path, b: &Path, out: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let (sa, sb) = (Side::read(a)?, Side::read(b)?);
    std::fs::create_dir_all(out).map_err(|source| ReportError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let charts = compare_charts(&sa, &sb);
    let mut tables = Vec::new();
    let settings = settings_table(&sa, &sb);
    if !settings.rows.is_empty() {
        tables.push(settings);
    }
    tables.push(differences_table(&sa, &sb));
    let meta = vec![
        format!(
            "A = {} ({}, seed {}, started {})",
            sa.name, sa.report.scenario, sa.report.seed, sa.report.started_at
        ),
        format!(
            "B = {} ({}, seed {}, started {})",
            sb.name, sb.report.scenario, sb.report.seed, sb.report.started_at
        ),
    ];
    super::write_pages(
        out,
        &format!("kafkalab compare: {} vs {}", sa.name, sb.name),
        &meta,
        &charts,
        &tables,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::{write_report, LatencyRecorder};
    use crate::report::chart::svg_texts;
    use crate::report::run_charts::tests::sample;

    #[test]
    fn overlays_both_runs_and_tabulates_differences() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (mut ra, _) = sample();
        ra.metrics.insert("records_per_request".into(), 2.0);
        ra.settings
            .producers
            .insert("p0".into(), [("linger.ms".to_string(), "0".into())].into());
        let mut rb = ra.clone();
        rb.metrics.insert("records_per_request".into(), 24.0);
        rb.settings
            .producers
            .insert("p0".into(), [("linger.ms".to_string(), "20".into())].into());
        let (mut pa, mut pb) = (LatencyRecorder::new(), LatencyRecorder::new());
        for i in 1..=1000u64 {
            pa.record(i * 1_000);
            pb.record(i * 3_000);
        }
        let (da, db) = (tmp.path().join("run-a"), tmp.path().join("run-b"));
        ra.latency.insert("produce".into(), pa.summary());
        write_report(&da, &ra, &[("produce", &pa)]).expect("a");
        rb.latency.insert("produce".into(), pb.summary());
        write_report(&db, &rb, &[("produce", &pb)]).expect("b");

        let out = tmp.path().join("cmp");
        let files = write_compare(&da, &db, &out).expect("compare");
        // throughput, latency, hdr, lag: SVG + PNG each, index.html, summary.md.
        assert_eq!(files.len(), 4 * 2 + 2, "{files:?}");
        let hdr = std::fs::read_to_string(out.join("hdr.svg")).expect("hdr");
        let texts = svg_texts(&hdr);
        assert!(
            texts.iter().any(|t| t == "A: produce") && texts.iter().any(|t| t == "B: produce"),
            "{texts:?}"
        );
        let lat = std::fs::read_to_string(out.join("latency.svg")).expect("latency");
        let names: Vec<String> = svg_texts(&lat)
            .into_iter()
            .filter(|t| t.starts_with("A: ") || t.starts_with("B: "))
            .collect();
        assert!(
            names.contains(&"A: produce p99".to_string())
                && names.contains(&"B: end-to-end p99".to_string()),
            "{names:?}"
        );
        assert!(
            !names.iter().any(|n| n.ends_with("p50")),
            "only p99 lines: {names:?}"
        );

        let (sa, sb) = (Side::read(&da).expect("a"), Side::read(&db).expect("b"));
        let t = differences_table(&sa, &sb);
        let row = t
            .rows
            .iter()
            .find(|r| r[0] == "records_per_request")
            .expect("row");
        assert_eq!(row[1..], ["2", "24", "22", "×12"]);
        let p99 = t
            .rows
            .iter()
            .find(|r| r[0] == "max_produce_ms")
            .expect("max row");
        // HDR buckets: 3 ms vs 1 ms within the histogram's precision.
        let ratio: f64 = p99[4].trim_start_matches('×').parse().expect("a ratio");
        assert!((ratio - 3.0).abs() < 0.01, "{ratio}");
        let s = settings_table(&sa, &sb);
        assert_eq!(
            s.rows,
            vec![vec![
                "producer p0".to_string(),
                "linger.ms".into(),
                "0".into(),
                "20".into()
            ]]
        );
        let md = std::fs::read_to_string(out.join("summary.md")).expect("md");
        assert!(md.contains("A = run-a (demo"), "{md}");
        assert!(Side::read(&tmp.path().join("missing")).is_err());
    }
}
