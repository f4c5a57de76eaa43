//! `kafkalab report`: work with finished runs' report directories.
//! `compare A B` puts two runs side by side (overlaid charts, settings that differ, a
//! table of every metric's difference); `render DIR` redraws a run's charts and pages
//! from its `report.json` and `.hgrm` files (a sweep's from `sweep.json`).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use kafkalab_loadgen::report;

#[derive(Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    command: ReportCommand,
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Two runs side by side: charts overlaid (A solid, B lighter) and the differences.
    Compare {
        /// The first run's report directory (reports/<scenario>-<stamp>).
        a: PathBuf,
        /// The second run's report directory.
        b: PathBuf,
        /// Where to write the comparison (default: compare-<A>-vs-<B> beside A).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Redraw a run's (or a sweep's) charts, index.html and summary.md from its
    /// report.json and .hgrm files (sweep.json).
    Render {
        /// The run's or the sweep's report directory.
        dir: PathBuf,
    },
}

fn name(dir: &Path) -> String {
    dir.file_name()
        .map_or_else(|| "run".to_string(), |n| n.to_string_lossy().into_owned())
}

/// Exit status: 0 done, 2 a report could not be read or written.
pub fn main(args: ReportArgs) -> u8 {
    let result = match args.command {
        ReportCommand::Compare { a, b, out } => {
            let out = out.unwrap_or_else(|| {
                a.parent().unwrap_or(Path::new(".")).join(format!(
                    "compare-{}-vs-{}",
                    name(&a),
                    name(&b)
                ))
            });
            report::compare::write_compare(&a, &b, &out).map(|_| out)
        }
        ReportCommand::Render { dir } if dir.join("sweep.json").is_file() => {
            report::sweep::read_sweep(&dir)
                .and_then(|r| report::sweep::write_sweep(&dir, &r))
                .map(|_| dir)
        }
        ReportCommand::Render { dir } => report::read_run(&dir)
            .and_then(|(r, hgrms)| report::write_run(&dir, &r, &hgrms))
            .map(|_| dir),
    };
    match result {
        Ok(dir) => {
            println!("report: {}", dir.join("index.html").display());
            0
        }
        Err(e) => {
            eprintln!("kafkalab: {e}");
            2
        }
    }
}
