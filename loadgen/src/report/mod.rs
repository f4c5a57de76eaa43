//! Reports a person reads: charts (SVG and PNG, drawn with plotters), `index.html`
//! (self-contained) and `summary.md`, for one run, a sweep, and a comparison of two
//! runs. `report.json` and the `.hgrm` files ([`crate::measure::report`]) are the data;
//! everything here is derived from them, so an old report directory can be redrawn.
//!
//! * [`chart`]: a chart as data and its drawing; [`font`]: the bundled font.
//! * [`run_charts`]: the charts of one run, with their reading guides.
//! * [`hgrm`]: `.hgrm` files back into percentile points.
//! * [`table`], [`html`], [`summary`]: tables, `index.html`, `summary.md`.
//! * [`sweep`]: the combined report of a `[sweep]`.
//! * [`compare`]: two runs side by side.

pub mod chart;
pub mod compare;
mod font;
pub mod hgrm;
pub mod html;
pub mod label_layout;
pub mod run_charts;
pub mod summary;
pub mod sweep;
pub mod table;

use std::fs;
use std::path::{Path, PathBuf};

use crate::measure::Report;
pub use crate::measure::ReportError;
use chart::Chart;

pub(crate) fn write_file(path: &Path, bytes: impl AsRef<[u8]>) -> Result<PathBuf, ReportError> {
    fs::write(path, bytes).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(path.to_path_buf())
}

/// Writes `<id>.svg` and `<id>.png` for each chart into `dir`; returns the SVG texts
/// (for inlining) and the files written.
pub fn write_charts(
    dir: &Path,
    charts: &[Chart],
) -> Result<(Vec<String>, Vec<PathBuf>), ReportError> {
    let mut svgs = Vec::with_capacity(charts.len());
    let mut files = Vec::with_capacity(charts.len() * 2);
    for c in charts {
        let svg = c.to_svg()?;
        files.push(write_file(&dir.join(format!("{}.svg", c.id)), &svg)?);
        let png = dir.join(format!("{}.png", c.id));
        c.write_png(&png)?;
        files.push(png);
        svgs.push(svg);
    }
    Ok((svgs, files))
}

/// Writes `index.html`, `summary.md` and the charts in `dir` for `charts` and `tables`.
pub fn write_pages(
    dir: &Path,
    title: &str,
    meta: &[String],
    charts: &[Chart],
    tables: &[table::Table],
) -> Result<Vec<PathBuf>, ReportError> {
    let (svgs, mut files) = write_charts(dir, charts)?;
    let inline: Vec<(&Chart, &str)> = charts.iter().zip(svgs.iter().map(String::as_str)).collect();
    files.push(write_file(
        &dir.join("index.html"),
        html::page(title, meta, &inline, tables),
    )?);
    files.push(write_file(
        &dir.join("summary.md"),
        summary::markdown(title, meta, charts, tables),
    )?);
    Ok(files)
}

/// The context lines of a run.
pub fn run_meta(r: &Report) -> Vec<String> {
    let verdict = match (r.expectations.is_empty(), r.passed()) {
        (true, _) => "no expectations".to_string(),
        (false, true) => format!("all {} expectations held", r.expectations.len()),
        (false, false) => format!(
            "{} of {} expectations failed",
            r.expectations.iter().filter(|e| !e.passed).count(),
            r.expectations.len()
        ),
    };
    let mut meta = vec![format!(
        "seed {}, started {}, measured {:.1} s; {verdict}",
        r.seed, r.started_at, r.duration_s
    )];
    if let Some(s) = &r.simulated {
        meta.push(s.describe());
    }
    meta
}

/// Charts, `index.html` and `summary.md` of one run; `hgrms` holds (kind, `.hgrm`
/// text). Called by [`crate::measure::write_report`] after `report.json`.
pub fn write_run(
    dir: &Path,
    r: &Report,
    hgrms: &[(String, String)],
) -> Result<Vec<PathBuf>, ReportError> {
    let charts = run_charts::run_charts(r, hgrms);
    write_pages(
        dir,
        &format!("kafkalab run: {}", r.scenario),
        &run_meta(r),
        &charts,
        &table::run_tables(r),
    )
}

/// Reads a run directory back: `report.json` and every `<kind>.hgrm` (sorted by name).
pub fn read_run(dir: &Path) -> Result<(Report, Vec<(String, String)>), ReportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Io { path, source }
    };
    let json_path = dir.join("report.json");
    let text = fs::read_to_string(&json_path).map_err(io(&json_path))?;
    let report: Report = serde_json::from_str(&text).map_err(|e| ReportError::Parse {
        path: json_path.clone(),
        message: e.to_string(),
    })?;
    let mut hgrms = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.extension().is_some_and(|e| e == "hgrm") {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            hgrms.push((name, fs::read_to_string(&path).map_err(io(&path))?));
        }
    }
    // produce before e2e: the order the run writes them.
    hgrms.sort_by(|a, b| b.0.cmp(&a.0));
    Ok((report, hgrms))
}
