//! `kafkalab run` on a scenario with a `[sweep]`: every point (each combination of
//! values, `repeats` times) is an ordinary run — its own embedded broker, so no point
//! inherits another's backlog — with its report under `points/`; then the combined
//! report (tradeoff charts, a table of every point, the `[[sweep.expect]]` checks).

use std::path::Path;

use kafkalab_loadgen::engine::RunOutcome;
use kafkalab_loadgen::report::sweep::{
    points_table, write_sweep, PointResult, PointRun, SweepAxisInfo, SweepReport,
    SWEEP_FORMAT_VERSION,
};
use kafkalab_loadgen::scenario::{value_text, Scenario};
use tokio::runtime::Runtime;

use super::RunArgs;

/// `[####------]`: how far through the sweep.
fn bar(done: usize, total: usize) -> String {
    const WIDTH: usize = 20;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    format!("[{}{}]", "#".repeat(filled), "-".repeat(WIDTH - filled))
}

fn point_run(o: &RunOutcome, dir: &Path, repeat: u32, seed: u64) -> PointRun {
    PointRun {
        repeat,
        seed,
        dir: o
            .report_dir
            .strip_prefix(dir)
            .unwrap_or(&o.report_dir)
            .display()
            .to_string(),
        metrics: o.report.metrics.clone(),
        passed: o.passed,
    }
}

/// One line after each point: what it measured.
fn point_line(run: &PointRun) -> String {
    let m = |k: &str| run.metrics.get(k).copied();
    let f = |v: Option<f64>, d: usize| v.map_or("–".to_string(), |v| format!("{v:.d$}"));
    format!(
        "    {} records/s acked, produce p50 {} ms p99 {} ms, e2e p99 {} ms, {} records/request, {} requests/s, lost {}; expectations {}",
        f(m("produce_throughput_rps"), 0),
        f(m("p50_produce_ms"), 2),
        f(m("p99_produce_ms"), 2),
        f(m("p99_e2e_ms"), 2),
        f(m("records_per_request"), 1),
        f(m("requests_per_s"), 0),
        f(m("lost"), 0),
        if run.passed { "held" } else { "FAILED" }
    )
}

/// Runs every point and writes the combined report. Exit status as for one run: 0 when
/// every point's `[expect]` and every sweep expectation held, 1 when one failed, 2 when
/// a point could not run.
pub fn main(runtime: &Runtime, scenario: &Scenario, args: &RunArgs, seed: u64) -> u8 {
    let (started_at, stamp) = super::wall_clock();
    let dir = args
        .opts
        .report_dir
        .join(format!("{}-{}", scenario.name, stamp));
    let points = scenario.sweep_points();
    let repeats = *scenario.sweep.repeats;
    let total = points.len() * repeats as usize;
    println!(
        "sweep: {} point(s) × {repeats} repeat(s) = {total} runs of {}; report {}",
        points.len(),
        kafkalab_loadgen::scenario::format_duration(*scenario.duration),
        dir.display()
    );
    // Points print one line each; a live view per point would only flicker.
    let mut point_args = args.clone();
    point_args.opts.tui = false;
    point_args.opts.no_tui = true;
    let names = scenario.sweep.short_names();
    let mut results = Vec::with_capacity(points.len());
    let mut done = 0;
    for p in &points {
        let label = p.label(&scenario.sweep);
        let run_scenario = match scenario.with_point(p) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("kafkalab: {}: point {label}: {e}", args.scenario.display());
                return 2;
            }
        };
        let mut runs = Vec::with_capacity(repeats as usize);
        for repeat in 1..=repeats {
            // Points of one repeat share a seed (same random choices, so they differ
            // only in the swept settings); repeats differ.
            let run_seed = seed.wrapping_add(u64::from(repeat - 1));
            println!(
                "{} point {}/{}: {label}{}",
                bar(done, total),
                p.index + 1,
                points.len(),
                if repeats > 1 {
                    format!(" (repeat {repeat}/{repeats}, seed {run_seed})")
                } else {
                    String::new()
                }
            );
            let place = (dir.join("points"), format!("{:02}-r{repeat}", p.index));
            let outcome = runtime.block_on(super::run(
                &run_scenario,
                &point_args,
                run_seed,
                Some(place),
            ));
            match outcome {
                Ok(o) => {
                    let run = point_run(&o, &dir, repeat, run_seed);
                    println!("{}", point_line(&run));
                    runs.push(run);
                }
                Err(e) => {
                    eprintln!("kafkalab: point {label}: {e}");
                    return 2;
                }
            }
            done += 1;
        }
        results.push(PointResult {
            index: p.index,
            label,
            values: p.settings.iter().map(|(_, v)| value_text(v)).collect(),
            runs,
        });
    }
    let means: Vec<_> = results.iter().map(PointResult::mean_metrics).collect();
    let expectations = scenario
        .sweep
        .expect
        .iter()
        .flat_map(|e| e.evaluate(&scenario.sweep, &points, &means))
        .collect();
    let report = SweepReport {
        format_version: SWEEP_FORMAT_VERSION,
        scenario: scenario.name.clone(),
        seed,
        started_at,
        axes: scenario
            .sweep
            .axes
            .iter()
            .zip(names)
            .map(|(a, name)| SweepAxisInfo {
                path: a.path.value.clone(),
                name,
                values: a.values.iter().map(value_text).collect(),
            })
            .collect(),
        repeats,
        points: results,
        expectations,
    };
    println!("{} {total}/{total} runs done", bar(total, total));
    if let Err(e) = write_sweep(&dir, &report) {
        eprintln!("kafkalab: cannot write the sweep report: {e}");
        return 2;
    }
    println!("\n{}", points_table(&report).to_markdown().trim_end());
    if !report.expectations.is_empty() {
        println!("\nsweep expectations:");
        for e in &report.expectations {
            let measured = e
                .measured
                .as_str()
                .map_or_else(|| e.measured.to_string(), str::to_string);
            println!(
                "  {} {}: {}; measured {measured}",
                if e.passed { "PASS" } else { "FAIL" },
                e.name,
                e.check
            );
        }
    }
    println!("report: {}", dir.display());
    u8::from(!report.passed())
}

#[cfg(test)]
mod tests {
    use super::bar;

    #[test]
    fn the_bar_fills_with_progress() {
        assert_eq!(bar(0, 4), format!("[{}]", "-".repeat(20)));
        assert_eq!(bar(1, 4), format!("[{}{}]", "#".repeat(5), "-".repeat(15)));
        assert_eq!(bar(4, 4), format!("[{}]", "#".repeat(20)));
        assert_eq!(bar(0, 0), format!("[{}]", "#".repeat(20)));
    }
}
