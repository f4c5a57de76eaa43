//! `kafkalab lessons`: the curriculum. Without a name it prints every lesson by module
//! (the setting it teaches, the checks that prove it, the control that undoes it, the
//! file); with a name it runs that lesson as `kafkalab run` would.

use std::path::{Path, PathBuf};

use clap::Args;

use kafkalab_loadgen::scenario::{self, Module, Scenario, SweepCheck};

use crate::run_cmd::{self, RunArgs, RunOpts};

#[derive(Args, Clone)]
pub struct LessonsArgs {
    /// A lesson to run (its name or file name without .toml); without one, the
    /// curriculum is printed.
    name: Option<String>,
    /// Where the lesson files are.
    #[arg(long, default_value = "scenarios")]
    dir: PathBuf,
    /// Print the curriculum as the Markdown table of scenarios/README.md.
    #[arg(long)]
    markdown: bool,
    #[command(flatten)]
    run: RunOpts,
}

/// A lesson file and what it says of itself.
struct Lesson {
    file: PathBuf,
    scenario: Scenario,
}

impl Lesson {
    fn module(&self) -> Option<Module> {
        self.scenario.module.as_ref().map(|m| m.value)
    }

    /// The checks that prove the lesson: `[expect]` entries and `[[sweep.expect]]`
    /// claims, as written.
    fn proof(&self) -> Vec<String> {
        let s = &self.scenario;
        let mut out: Vec<String> = s
            .expect
            .iter()
            .map(|e| format!("{} {}", e.metric.as_str(), e.check))
            .collect();
        for e in &s.sweep.expect {
            let filter = e
                .filter
                .iter()
                .map(|(p, v)| format!("{}={}", short(p), scenario::value_text(v)))
                .collect::<Vec<_>>();
            let claim = match &e.check {
                SweepCheck::Trend { along, trend, .. } => {
                    format!(
                        "{} {} along {}",
                        e.metric.value,
                        trend.value.as_str(),
                        short(along)
                    )
                }
                SweepCheck::Value(c) => format!("{} {}", e.metric.value, c.value),
            };
            out.push(if filter.is_empty() {
                claim
            } else {
                format!("{claim} ({})", filter.join(", "))
            });
        }
        out
    }
}

/// `acks` for `producer.acks`, `linger.ms` for `producers.p0.config.linger.ms`.
fn short(path: &str) -> &str {
    for marker in [".config.", ".broker."] {
        if let Some((_, key)) = path.split_once(marker) {
            return key;
        }
    }
    match path.split_once('.') {
        Some(("producer" | "consumer", key)) => key,
        _ => path,
    }
}

/// Every scenario file in `dir`, parsed, in file-name order.
fn load_all(dir: &Path) -> Result<Vec<Lesson>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let scenario = scenario::load(&file).map_err(|e| e.to_string())?;
            Ok(Lesson { file, scenario })
        })
        .collect()
}

pub fn main(args: LessonsArgs) -> u8 {
    let lessons = match load_all(&args.dir) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("kafkalab: {e}");
            return 2;
        }
    };
    let Some(name) = &args.name else {
        print!(
            "{}",
            if args.markdown {
                markdown(&lessons, &args.dir)
            } else {
                listing(&lessons)
            }
        );
        return 0;
    };
    let found = lessons.iter().find(|l| {
        l.scenario.name == *name || l.file.file_stem().is_some_and(|s| s == name.as_str())
    });
    match found {
        Some(l) => run_cmd::main(RunArgs {
            scenario: l.file.clone(),
            opts: args.run.clone(),
        }),
        None => {
            let names = lessons.iter().map(|l| l.scenario.name.as_str());
            let hint = scenario::did_you_mean(name, names.clone());
            eprintln!(
                "kafkalab: no lesson '{name}' in {}{hint} (lessons: {})",
                args.dir.display(),
                names.collect::<Vec<_>>().join(", ")
            );
            2
        }
    }
}

/// The lessons grouped by module, in curriculum order; files without a module last.
fn by_module(lessons: &[Lesson]) -> Vec<(Option<Module>, Vec<&Lesson>)> {
    let mut out: Vec<(Option<Module>, Vec<&Lesson>)> = Module::ALL
        .iter()
        .map(|m| {
            (
                Some(*m),
                lessons.iter().filter(|l| l.module() == Some(*m)).collect(),
            )
        })
        .collect();
    out.push((
        None,
        lessons.iter().filter(|l| l.module().is_none()).collect(),
    ));
    out.retain(|(_, l)| !l.is_empty());
    out
}

fn listing(lessons: &[Lesson]) -> String {
    let mut out = String::new();
    let groups = by_module(lessons);
    let modules = groups.iter().filter(|(m, _)| m.is_some()).count();
    let count: usize = groups
        .iter()
        .filter(|(m, _)| m.is_some())
        .map(|(_, l)| l.len())
        .sum();
    out.push_str(&format!(
        "{count} lessons in {modules} modules; `kafkalab lessons NAME` runs one, \
         `--control` runs its negative control\n"
    ));
    for (module, list) in groups {
        let title = module.map_or("Scenarios outside the curriculum", |m| m.title());
        out.push_str(&format!("\n{title}\n"));
        for l in list {
            let s = &l.scenario;
            let setting = if s.setting.is_empty() {
                String::new()
            } else {
                format!(" — {}", s.setting)
            };
            out.push_str(&format!("  {}{setting}\n", s.name));
            out.push_str(&format!("      proves:  {}\n", l.proof().join("; ")));
            if !s.control.is_empty() {
                out.push_str(&format!("      control: {}\n", s.control.describe()));
            }
            out.push_str(&format!("      file:    {}\n", l.file.display()));
        }
    }
    out
}

/// Where `scripts/lesson-examples.sh` puts each lesson's example chart, relative to the
/// lessons' directory (`scenarios/`).
const EXAMPLES: &str = "../reports/examples";

fn markdown(lessons: &[Lesson], dir: &std::path::Path) -> String {
    let mut out = String::from(
        "| module | lesson | setting | what proves it | control (must fail) | example |\n|---|---|---|---|---|---|\n",
    );
    for (module, list) in by_module(lessons) {
        let title = module.map_or("—", |m| m.title());
        for l in list {
            let s = &l.scenario;
            let file = l
                .file
                .file_name()
                .map_or(String::new(), |f| f.to_string_lossy().into_owned());
            // The example chart, when one is committed.
            let chart = format!("{EXAMPLES}/{}.svg", s.name);
            let example = if dir.join(&chart).is_file() {
                format!("[chart]({chart})")
            } else {
                "—".to_string()
            };
            out.push_str(&format!(
                "| {title} | [`{}`]({file}) | {} | {} | {} | {example} |\n",
                s.name,
                cell(&s.setting),
                cell(&l.proof().join("; ")),
                cell(&s.control.describe())
            ));
        }
    }
    out
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    let t = text.replace('|', "\\|");
    if t.is_empty() {
        "—".into()
    } else {
        format!("`{}`", t.replace('`', ""))
    }
}
