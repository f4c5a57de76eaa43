//! The `report.json` model and the writer of a run's report directory.
//!
//! A run directory holds `report.json` (this model), one `<name>.hgrm` per latency
//! histogram (HdrHistogram percentile-distribution text, values in ms), and what
//! [`crate::report`] draws from them: the charts (`.svg`, `.png`), `index.html` and
//! `summary.md`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::latency::{LatencyRecorder, LatencySummary};
use super::ownership::OwnershipInterval;
use super::pause::PauseSummary;
use super::series::Series;
use super::verify::VerificationSummary;

/// Version of the `report.json` layout; bumped on incompatible changes.
pub const REPORT_FORMAT_VERSION: u32 = 1;

/// Settings that differ from the defaults, per producer and per consumer group.
/// Keys of the outer maps name the component ("orders#0", "billing"); inner maps hold
/// `setting -> value` as the scenario gave it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Per producer.
    pub producers: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    /// Per consumer group.
    pub consumer_groups: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    /// Broker / cluster settings.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub broker: BTreeMap<String, serde_json::Value>,
}

/// The outcome of one `[expect]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectationOutcome {
    /// Name (`lost`, `detection_s`, ...).
    pub name: String,
    /// The check as written (`">= 1"`, `"9..12"`).
    pub check: String,
    /// What the run measured (number, string, or null if it could not be measured).
    pub measured: serde_json::Value,
    /// Whether the check held.
    pub passed: bool,
}

/// Everything a run reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`REPORT_FORMAT_VERSION`].
    pub format_version: u32,
    /// Scenario name.
    pub scenario: String,
    /// The run's seed.
    pub seed: u64,
    /// Wall-clock start as the caller formats it (e.g. RFC 3339).
    pub started_at: String,
    /// Measured duration in seconds (after warm-up).
    pub duration_s: f64,
    /// Settings differing from defaults.
    pub settings: Settings,
    /// The `[control]` this run was made with (`kafkalab run --control`): what it
    /// changed and why that undoes the lesson.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
    /// Latency summaries by name ("produce", "e2e", ...), whole run.
    pub latency: BTreeMap<String, LatencySummary>,
    /// One verification result per consumer group.
    pub verification: Vec<VerificationSummary>,
    /// Rebalance pauses.
    pub pauses: PauseSummary,
    /// `[expect]` outcomes.
    pub expectations: Vec<ExpectationOutcome>,
    /// The one-second series.
    pub series: Series,
    /// Every `[expect]` metric the run measured (`records_per_request`, ...), whether
    /// or not the scenario checks it: what sweeps and comparisons tabulate.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
    /// Partition ownership intervals per member (the ownership chart).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ownership: Vec<OwnershipInterval>,
    /// The cluster per second as Metadata told it (kept when it listed several
    /// brokers: the broker / ISR chart).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster: Vec<super::ClusterSample>,
    /// Set when the run was simulated (`kafkalab run --simulate`): its figures are in
    /// virtual time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulated: Option<Simulated>,
}

/// How a simulated run's virtual time compares with the wall-clock time it took.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Simulated {
    /// Virtual seconds from the start of the scenario to its report.
    pub virtual_s: f64,
    /// Wall-clock seconds the same took on the host.
    pub wall_s: f64,
}

impl Simulated {
    /// How many times faster than real time the run went.
    pub fn speedup(&self) -> f64 {
        self.virtual_s / self.wall_s.max(1e-9)
    }

    /// "simulated: 600.0 s of virtual time in 4.2 s of wall time (143× real time)".
    pub fn describe(&self) -> String {
        format!(
            "simulated: {:.1} s of virtual time in {:.1} s of wall time ({:.0}× real time)",
            self.virtual_s,
            self.wall_s,
            self.speedup()
        )
    }
}

impl Report {
    /// An empty report for a run.
    pub fn new(scenario: impl Into<String>, seed: u64, started_at: impl Into<String>) -> Self {
        Self {
            format_version: REPORT_FORMAT_VERSION,
            scenario: scenario.into(),
            seed,
            started_at: started_at.into(),
            duration_s: 0.0,
            settings: Settings::default(),
            control: None,
            latency: BTreeMap::new(),
            verification: Vec::new(),
            pauses: PauseSummary::default(),
            expectations: Vec::new(),
            series: Series::default(),
            metrics: BTreeMap::new(),
            ownership: Vec::new(),
            cluster: Vec::new(),
            simulated: None,
        }
    }

    /// True when no expectation failed (also when there are none).
    pub fn passed(&self) -> bool {
        self.expectations.iter().all(|e| e.passed)
    }
}

/// Errors writing a report directory.
#[derive(Debug, Error)]
pub enum ReportError {
    /// A histogram name cannot be a file name.
    #[error(
        "histogram name {0:?} is not usable as a file name (use letters, digits, '-', '_', '.')"
    )]
    BadHistogramName(String),
    /// Two histograms share a name.
    #[error("histogram name {0:?} is used twice")]
    DuplicateHistogramName(String),
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Serialisation error.
    #[error("report.json: {0}")]
    Json(#[from] serde_json::Error),
    /// A report file that cannot be read back (`kafkalab report compare`).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A chart could not be drawn.
    #[error("chart {chart}: {message}")]
    Chart {
        /// The chart's file stem.
        chart: String,
        /// The drawing error.
        message: String,
    },
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `report.json` and `<name>.hgrm` for each histogram (its cumulative histogram)
/// into `dir`, creating it, then the charts, `index.html` and `summary.md`
/// ([`crate::report::write_run`]). Returns the files written. Names are checked before
/// anything is written.
pub fn write_report(
    dir: &Path,
    report: &Report,
    histograms: &[(&str, &LatencyRecorder)],
) -> Result<Vec<PathBuf>, ReportError> {
    let mut seen = std::collections::BTreeSet::new();
    for (name, _) in histograms {
        if !valid_name(name) {
            return Err(ReportError::BadHistogramName((*name).to_string()));
        }
        if !seen.insert(*name) {
            return Err(ReportError::DuplicateHistogramName((*name).to_string()));
        }
    }
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut written = Vec::with_capacity(histograms.len() + 1);

    let json_path = dir.join("report.json");
    let mut json = serde_json::to_vec_pretty(report)?;
    json.push(b'\n');
    fs::write(&json_path, json).map_err(io_err(&json_path))?;
    written.push(json_path);

    let mut hgrms = Vec::with_capacity(histograms.len());
    for (name, recorder) in histograms {
        let path = dir.join(format!("{name}.hgrm"));
        let file = fs::File::create(&path).map_err(io_err(&path))?;
        let mut out = BufWriter::new(file);
        recorder.write_hgrm(&mut out).map_err(io_err(&path))?;
        out.flush().map_err(io_err(&path))?;
        written.push(path);
        hgrms.push((name.to_string(), recorder.hgrm_string()));
    }
    written.extend(crate::report::write_run(dir, report, &hgrms)?);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::{PauseTracker, SecondSample, Verifier, VerifierConfig};

    fn sample_report() -> (Report, LatencyRecorder, LatencyRecorder) {
        let mut produce = LatencyRecorder::new();
        let mut e2e = LatencyRecorder::new();
        for i in 1..=1_000u64 {
            produce.record(i * 10_000);
            e2e.record(i * 50_000);
        }
        let mut r = Report::new("session-timeout", 7, "2025-01-01T00:00:00Z");
        r.duration_s = 60.0;
        r.settings.producers.insert(
            "orders#0".into(),
            [("linger.ms".to_string(), 5.into())].into(),
        );
        r.settings.consumer_groups.insert(
            "billing".into(),
            [("session.timeout.ms".to_string(), 10_000.into())].into(),
        );
        r.latency.insert("produce".into(), produce.summary());
        r.latency.insert("e2e".into(), e2e.summary());
        let mut v = Verifier::new("billing", VerifierConfig::new(1));
        v.acked(0, 0, 0, 0);
        r.verification.push(v.summary());
        let mut p = PauseTracker::new();
        p.rebalance_started("billing", "billing/0", 20_000_000_000);
        r.pauses = p.summary(30_000_000_000);
        r.series.push(SecondSample::new(0));
        r.series.mark(20_000_000_000, "crash billing/1");
        r.expectations.push(ExpectationOutcome {
            name: "lost".into(),
            check: "0".into(),
            measured: 1.into(),
            passed: false,
        });
        (r, produce, e2e)
    }

    #[test]
    fn writes_json_and_hgrm_files() {
        let (report, produce, e2e) = sample_report();
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("runs").join("session-timeout-7");
        let files =
            write_report(&dir, &report, &[("produce", &produce), ("e2e", &e2e)]).expect("write");
        // report.json, two .hgrm, index.html, summary.md, and an SVG and a PNG for the
        // throughput, latency and HDR charts (no group samples or ownership here).
        assert_eq!(files.len(), 3 + 2 + 2 * 3, "{files:?}");
        for f in [
            "index.html",
            "summary.md",
            "throughput.svg",
            "hdr.png",
            "latency.svg",
        ] {
            assert!(dir.join(f).exists(), "{f}");
        }
        let text = fs::read_to_string(dir.join("report.json")).expect("json");
        let back: Report = serde_json::from_str(&text).expect("parse");
        // Floats may differ in the last bit through text: compare the rest exactly.
        assert_eq!(
            (&back.scenario, back.seed, &back.started_at, &back.settings),
            (
                &report.scenario,
                report.seed,
                &report.started_at,
                &report.settings
            )
        );
        assert_eq!(back.verification, report.verification);
        assert_eq!(back.expectations, report.expectations);
        assert_eq!(back.series, report.series);
        let (a, b) = (&back.latency["e2e"], &report.latency["e2e"]);
        assert_eq!(a.count, b.count);
        assert!((a.p99_ms - b.p99_ms).abs() < 1e-9 && (a.mean_ms - b.mean_ms).abs() < 1e-9);
        assert_eq!(back.pauses.pauses.len(), 1);
        assert!(!back.passed());
        let value: serde_json::Value = serde_json::from_str(&text).expect("value");
        assert_eq!(value["format_version"], 1);
        assert_eq!(value["verification"][0]["lost"], 1);
        assert_eq!(value["settings"]["producers"]["orders#0"]["linger.ms"], 5);
        assert_eq!(value["pauses"]["pauses"][0]["completed"], false);
        assert_eq!(value["series"]["markers"][0]["at"], 20.0);
        let hgrm = fs::read_to_string(dir.join("produce.hgrm")).expect("hgrm");
        assert_eq!(hgrm, produce.hgrm_string());
        assert!(hgrm.contains("Total count    =         1000]"));
        assert!(dir.join("e2e.hgrm").exists());
    }

    #[test]
    fn rejects_bad_histogram_names_before_writing() {
        let (report, produce, _) = sample_report();
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("out");
        for bad in ["", "../x", "a/b", ".hidden", "sp ace"] {
            let err = write_report(&dir, &report, &[(bad, &produce)]).expect_err(bad);
            assert!(matches!(err, ReportError::BadHistogramName(_)), "{bad}");
        }
        let err = write_report(&dir, &report, &[("p", &produce), ("p", &produce)])
            .expect_err("duplicate");
        assert!(matches!(err, ReportError::DuplicateHistogramName(_)));
        assert!(!dir.exists(), "nothing written on a bad name");
    }

    #[test]
    fn io_errors_name_the_path() {
        let (report, _, _) = sample_report();
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("not-a-dir");
        fs::write(&file, b"x").expect("write");
        let err = write_report(&file.join("sub"), &report, &[]).expect_err("not a dir");
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
}
