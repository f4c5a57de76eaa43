//! The combined report of a `[sweep]`: `sweep.json` (every point's metrics, every
//! repeat), the tradeoff chart (throughput against p99 latency, one labelled point per
//! setting, error bars across repeats), one chart per key metric along the first swept
//! setting, and a table of every point. Each point's own run report sits in
//! `points/<scenario>-<NN>-r<R>/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::chart::{wide, Chart, Line, Point};
use super::table::{num, Table};
use super::ReportError;
use crate::measure::ExpectationOutcome;

/// Version of the `sweep.json` layout.
pub const SWEEP_FORMAT_VERSION: u32 = 1;

/// One swept setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepAxisInfo {
    /// As written in the scenario.
    pub path: String,
    /// Short name for labels (`linger.ms`).
    pub name: String,
    /// The values, as text, in file order.
    pub values: Vec<String>,
}

/// One run of one point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointRun {
    /// 1-based.
    pub repeat: u32,
    pub seed: u64,
    /// The run's report directory, relative to the sweep's.
    pub dir: String,
    /// Every metric the run measured (`Report::metrics`).
    pub metrics: BTreeMap<String, f64>,
    /// The scenario's `[expect]` held.
    pub passed: bool,
}

/// One combination of settings and its runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointResult {
    pub index: usize,
    /// `linger.ms=5, batch.size=16384`.
    pub label: String,
    /// One value per axis, in axis order.
    pub values: Vec<String>,
    pub runs: Vec<PointRun>,
}

impl PointResult {
    fn samples(&self, metric: &str) -> Vec<f64> {
        self.runs
            .iter()
            .filter_map(|r| r.metrics.get(metric).copied())
            .filter(|v| v.is_finite())
            .collect()
    }

    /// Mean over the repeats that measured it.
    pub fn mean(&self, metric: &str) -> Option<f64> {
        let v = self.samples(metric);
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    }

    /// (min, max) over the repeats, when there are several.
    pub fn spread(&self, metric: &str) -> Option<(f64, f64)> {
        let v = self.samples(metric);
        (v.len() > 1).then(|| {
            (
                v.iter().copied().fold(f64::INFINITY, f64::min),
                v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            )
        })
    }

    /// Every metric's mean over the repeats.
    pub fn mean_metrics(&self) -> BTreeMap<String, f64> {
        let names: std::collections::BTreeSet<&String> =
            self.runs.iter().flat_map(|r| r.metrics.keys()).collect();
        names
            .into_iter()
            .filter_map(|n| self.mean(n).map(|m| (n.clone(), m)))
            .collect()
    }
}

/// Everything a sweep reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    pub format_version: u32,
    pub scenario: String,
    pub seed: u64,
    pub started_at: String,
    pub axes: Vec<SweepAxisInfo>,
    pub repeats: u32,
    pub points: Vec<PointResult>,
    /// `[[sweep.expect]]` outcomes.
    pub expectations: Vec<ExpectationOutcome>,
}

impl SweepReport {
    /// Every point run met the scenario's `[expect]` and every sweep expectation held.
    pub fn passed(&self) -> bool {
        self.points.iter().all(|p| p.runs.iter().all(|r| r.passed))
            && self.expectations.iter().all(|e| e.passed)
    }

    /// Whether any point measured `metric`.
    fn has(&self, metric: &str) -> bool {
        self.points.iter().any(|p| p.mean(metric).is_some())
    }

    /// The throughput and p99 metrics the tradeoff uses: consumed and end-to-end when
    /// the scenario consumes, produced and produce latency otherwise.
    fn tradeoff_metrics(&self) -> (&'static str, &'static str) {
        let consumes = self
            .points
            .iter()
            .any(|p| p.mean("throughput_rps").is_some_and(|v| v > 0.0));
        if consumes && self.has("p99_e2e_ms") {
            ("throughput_rps", "p99_e2e_ms")
        } else {
            ("produce_throughput_rps", "p99_produce_ms")
        }
    }

    /// The label of the other axes' values (the series a point belongs to).
    fn series_of(&self, p: &PointResult) -> String {
        self.axes
            .iter()
            .zip(&p.values)
            .skip(1)
            .map(|(a, v)| format!("{}={v}", a.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn series_names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for p in &self.points {
            let s = self.series_of(p);
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }
}

fn metric_label(m: &str) -> &str {
    match m {
        "throughput_rps" => "consumed records/s",
        "produce_throughput_rps" => "acknowledged records/s",
        "p99_e2e_ms" => "end-to-end p99 (ms)",
        "p99_produce_ms" => "produce p99 (ms)",
        "records_per_request" => "records per produce request",
        "requests_per_s" => "produce requests/s",
        other => other,
    }
}

/// Throughput against p99: one labelled point per setting, error bars over repeats.
pub fn tradeoff_chart(r: &SweepReport) -> Chart {
    let (tx, ty) = r.tradeoff_metrics();
    let names = r.series_names();
    let first = r.axes.first().map_or("", |a| a.name.as_str());
    let mut points = Vec::new();
    for p in &r.points {
        let (Some(x), Some(y)) = (p.mean(tx), p.mean(ty)) else {
            continue;
        };
        let series = names.iter().position(|n| *n == r.series_of(p)).unwrap_or(0);
        points.push(Point {
            x,
            y,
            x_err: p.spread(tx),
            y_err: p.spread(ty),
            label: format!("{first}={}", p.values.first().map_or("", String::as_str)),
            series,
        });
    }
    let best_latency = r
        .points
        .iter()
        .filter_map(|p| Some((p, p.mean(ty)?, p.mean(tx)?)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let best_throughput = r
        .points
        .iter()
        .filter_map(|p| Some((p, p.mean(tx)?, p.mean(ty)?)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let guide = match (best_latency, best_throughput) {
        (Some((pl, l, lt)), Some((pt, t, tl))) => format!(
            "lowest p99: {} ({} ms at {}/s); highest throughput: {} ({}/s at p99 {} ms)",
            pl.label,
            num(l, 1),
            num(lt, 0),
            pt.label,
            num(t, 0),
            num(tl, 1)
        ),
        _ => "no point measured both throughput and latency".into(),
    };
    // A fixed rate next to "max" spans decades: log x keeps both legible.
    let (lo, hi) = points
        .iter()
        .filter(|p| p.x > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), p| {
            (lo.min(p.x), hi.max(p.x))
        });
    Chart {
        id: "tradeoff".into(),
        x_log: hi / lo > 20.0,
        title: format!("{}: throughput against p99 latency", r.scenario),
        guide,
        x_label: metric_label(tx).into(),
        y_label: metric_label(ty).into(),
        points,
        series_names: if names.iter().all(String::is_empty) {
            vec!["setting".into()]
        } else {
            names
        },
        ..Chart::default()
    }
}

/// `metric` along the first swept setting, one line per combination of the others.
/// x is the setting's value when every value is a number, else its position.
pub fn along_chart(r: &SweepReport, metric: &str) -> Option<Chart> {
    if !r.has(metric) {
        return None;
    }
    let axis = r.axes.first()?;
    let numeric: Option<Vec<f64>> = axis.values.iter().map(|v| v.parse::<f64>().ok()).collect();
    let x_of = |v: &str| -> Option<f64> {
        let i = axis.values.iter().position(|x| x == v)?;
        Some(numeric.as_ref().map_or(i as f64, |n| n[i]))
    };
    let mut lines = Vec::new();
    let mut change: Option<String> = None;
    for name in r.series_names() {
        let pts: Vec<(f64, Option<f64>)> = r
            .points
            .iter()
            .filter(|p| r.series_of(p) == name)
            .filter_map(|p| Some((x_of(p.values.first()?)?, p.mean(metric))))
            .collect();
        let known: Vec<f64> = pts.iter().filter_map(|(_, y)| *y).collect();
        if change.is_none() && known.len() >= 2 {
            let (a, b) = (known[0], known[known.len() - 1]);
            let how = if a > 0.0 {
                format!("×{}", num(b / a, 2))
            } else {
                format!("{} → {}", num(a, 2), num(b, 2))
            };
            change = Some(format!(
                "{} {} → {}: {} {how} ({} → {}){}",
                axis.name,
                axis.values[0],
                axis.values[axis.values.len() - 1],
                metric,
                num(a, 2),
                num(b, 2),
                if name.is_empty() {
                    String::new()
                } else {
                    format!(" at {name}")
                }
            ));
        }
        lines.push(Line::from_gappy(
            if name.is_empty() {
                metric.to_string()
            } else {
                name
            },
            pts,
        ));
    }
    Some(Chart {
        id: format!("along-{metric}"),
        title: format!("{}: {} by {}", r.scenario, metric_label(metric), axis.name),
        guide: change.unwrap_or_else(|| format!("{metric} was measured at one setting only")),
        x_label: if numeric.is_some() {
            axis.name.clone()
        } else {
            format!("{} ({})", axis.name, axis.values.join(", "))
        },
        y_label: metric_label(metric).into(),
        y_log: wide(&lines),
        lines,
        ..Chart::default()
    })
}

/// Every chart of a sweep.
pub fn sweep_charts(r: &SweepReport) -> Vec<Chart> {
    let (_, ty) = r.tradeoff_metrics();
    let mut out = vec![tradeoff_chart(r)];
    for m in [ty, "records_per_request", "requests_per_s"] {
        out.extend(along_chart(r, m));
    }
    out
}

/// The table of every point (means over repeats).
pub fn points_table(r: &SweepReport) -> Table {
    const METRICS: [(&str, &str, usize); 7] = [
        ("produce_throughput_rps", "acked/s", 0),
        ("p50_produce_ms", "produce p50 ms", 2),
        ("p99_produce_ms", "produce p99 ms", 2),
        ("p99_e2e_ms", "e2e p99 ms", 2),
        ("records_per_request", "records/request", 1),
        ("requests_per_s", "requests/s", 0),
        ("lost", "lost", 0),
    ];
    let mut head: Vec<&str> = vec!["#"];
    head.extend(r.axes.iter().map(|a| a.name.as_str()));
    head.extend(METRICS.iter().map(|m| m.1));
    head.extend(["expect", "report"]);
    let mut t = Table::new(
        "Every point (mean over repeats; min–max in brackets)",
        &head,
    );
    for p in &r.points {
        let mut row = vec![p.index.to_string()];
        row.extend(p.values.iter().cloned());
        for (m, _, digits) in METRICS {
            row.push(match (p.mean(m), p.spread(m)) {
                (Some(v), Some((lo, hi))) => format!(
                    "{} [{}–{}]",
                    num(v, digits),
                    num(lo, digits),
                    num(hi, digits)
                ),
                (Some(v), None) => num(v, digits),
                _ => "–".into(),
            });
        }
        let passed = p.runs.iter().filter(|x| x.passed).count();
        row.push(if passed == p.runs.len() {
            "PASS".into()
        } else {
            format!("{passed}/{} passed", p.runs.len())
        });
        row.push(
            p.runs
                .iter()
                .map(|x| format!("{}/index.html", x.dir))
                .collect::<Vec<_>>()
                .join(" "),
        );
        t.row(row);
    }
    t
}

fn expectations_table(r: &SweepReport) -> Option<Table> {
    if r.expectations.is_empty() {
        return None;
    }
    let mut t = Table::new(
        "Sweep expectations",
        &["", "expectation", "check", "measured"],
    );
    for e in &r.expectations {
        let measured = e
            .measured
            .as_str()
            .map_or_else(|| e.measured.to_string(), str::to_string);
        t.row(vec![
            if e.passed { "PASS" } else { "FAIL" }.into(),
            e.name.clone(),
            e.check.clone(),
            measured,
        ]);
    }
    Some(t)
}

/// Writes `sweep.json`, the charts, `index.html` and `summary.md` into `dir`.
pub fn write_sweep(dir: &Path, r: &SweepReport) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut json = serde_json::to_vec_pretty(r)?;
    json.push(b'\n');
    let mut files = vec![super::write_file(&dir.join("sweep.json"), json)?];
    let charts = sweep_charts(r);
    let mut tables: Vec<Table> = expectations_table(r).into_iter().collect();
    tables.push(points_table(r));
    let runs: usize = r.points.iter().map(|p| p.runs.len()).sum();
    let meta = vec![
        format!(
            "seed {}, started {}; {} points × {} repeat(s) = {runs} runs; {}",
            r.seed,
            r.started_at,
            r.points.len(),
            r.repeats,
            if r.passed() {
                "every check held"
            } else {
                "some checks failed"
            }
        ),
        format!(
            "swept: {}",
            r.axes
                .iter()
                .map(|a| format!("{} = [{}]", a.path, a.values.join(", ")))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    ];
    files.extend(super::write_pages(
        dir,
        &format!("kafkalab sweep: {}", r.scenario),
        &meta,
        &charts,
        &tables,
    )?);
    Ok(files)
}

/// Reads a sweep directory's `sweep.json` back.
pub fn read_sweep(dir: &Path) -> Result<SweepReport, ReportError> {
    let path = dir.join("sweep.json");
    let text = std::fs::read_to_string(&path).map_err(|source| ReportError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ReportError::Parse {
        path,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::chart::svg_texts;

    fn report() -> SweepReport {
        let mut points = Vec::new();
        let mut index = 0;
        for batch in ["16384", "131072"] {
            for (i, linger) in ["0", "5", "20"].iter().enumerate() {
                let runs = (1..=2u32)
                    .map(|repeat| {
                        let jitter = f64::from(repeat) * 0.1;
                        PointRun {
                            repeat,
                            seed: 1,
                            dir: format!("points/x-{index:02}-r{repeat}"),
                            metrics: [
                                ("produce_throughput_rps".to_string(), 5000.0 + jitter),
                                ("p99_produce_ms".to_string(), 1.0 + 10.0 * i as f64 + jitter),
                                ("records_per_request".to_string(), 2.0 * (1 + 10 * i) as f64),
                                ("requests_per_s".to_string(), 2500.0 / (1 + 10 * i) as f64),
                            ]
                            .into(),
                            passed: true,
                        }
                    })
                    .collect();
                points.push(PointResult {
                    index,
                    label: format!("linger.ms={linger}, batch.size={batch}"),
                    values: vec![linger.to_string(), batch.to_string()],
                    runs,
                });
                index += 1;
            }
        }
        SweepReport {
            format_version: SWEEP_FORMAT_VERSION,
            scenario: "batching-sweep".into(),
            seed: 1,
            started_at: "t".into(),
            axes: vec![
                SweepAxisInfo {
                    path: "producer.linger.ms".into(),
                    name: "linger.ms".into(),
                    values: vec!["0".into(), "5".into(), "20".into()],
                },
                SweepAxisInfo {
                    path: "producer.batch.size".into(),
                    name: "batch.size".into(),
                    values: vec!["16384".into(), "131072".into()],
                },
            ],
            repeats: 2,
            points,
            expectations: Vec::new(),
        }
    }

    #[test]
    fn tradeoff_has_one_labelled_point_per_setting_with_error_bars() {
        let r = report();
        let c = tradeoff_chart(&r);
        assert_eq!(c.points.len(), 6);
        assert_eq!(c.series_names, ["batch.size=16384", "batch.size=131072"]);
        let p = &c.points[2];
        assert_eq!(p.label, "linger.ms=20");
        assert!((p.y - 21.15).abs() < 1e-9, "{p:?}");
        assert_eq!(p.y_err, Some((21.1, 21.2)));
        assert!(
            c.guide
                .starts_with("lowest p99: linger.ms=0, batch.size=16384 (1.1 ms at 5000/s)"),
            "{}",
            c.guide
        );
        let svg = c.to_svg().expect("svg");
        let texts = svg_texts(&svg);
        for label in ["linger.ms=0", "linger.ms=5", "linger.ms=20"] {
            assert_eq!(
                texts.iter().filter(|t| *t == label).count(),
                2,
                "{label}: {texts:?}"
            );
        }
        assert_eq!(
            svg.matches("<circle").count(),
            6 + 2,
            "6 points and 2 legend marks"
        );
        // Fixed rate next to "max": a log x axis.
        assert!(!c.x_log);
        let mut mixed = r.clone();
        for p in mixed.points.iter_mut().skip(3) {
            for run in &mut p.runs {
                run.metrics.insert("produce_throughput_rps".into(), 2e6);
            }
        }
        let c = tradeoff_chart(&mixed);
        assert!(c.x_log);
        assert_eq!(c.to_svg().expect("svg").matches("<circle").count(), 6 + 2);
    }

    #[test]
    fn along_charts_and_the_table_cover_every_point() {
        let r = report();
        let charts = sweep_charts(&r);
        let ids: Vec<&str> = charts.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "tradeoff",
                "along-p99_produce_ms",
                "along-records_per_request",
                "along-requests_per_s"
            ]
        );
        let rpr = &charts[2];
        assert_eq!(rpr.lines.len(), 2);
        assert_eq!(
            rpr.lines[0].segments[0],
            vec![(0.0, 2.0), (5.0, 22.0), (20.0, 42.0)]
        );
        assert_eq!(
            rpr.guide,
            "linger.ms 0 → 20: records_per_request ×21 (2 → 42) at batch.size=16384"
        );
        let t = points_table(&r);
        assert_eq!(t.rows.len(), 6);
        assert_eq!(t.rows[2][3], "5000 [5000–5000]");
        assert_eq!(t.rows[2][4], "–", "no p50 in these runs");
        assert_eq!(t.rows[2][5], "21.15 [21.1–21.2]");
        assert_eq!(t.rows[2][10], "PASS");

        let tmp = tempfile::tempdir().expect("tempdir");
        let files = write_sweep(tmp.path(), &r).expect("write");
        assert_eq!(files.len(), 1 + 4 * 2 + 2);
        let back = read_sweep(tmp.path()).expect("read back");
        assert_eq!(back.points.len(), 6);
        let html = std::fs::read_to_string(tmp.path().join("index.html")).expect("html");
        assert_eq!(html.matches("<svg").count(), 4);
        assert!(html.contains("points/x-05-r2/index.html"));
    }
}
