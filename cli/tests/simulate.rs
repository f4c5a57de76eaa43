//! `kafkalab run --simulate`: a lesson at Kafka's real defaults (session.timeout.ms
//! 45 s) runs in virtual time on the embedded broker, detects the crash when Kafka
//! would, marks its report simulated, and its control still fails.

use std::path::Path;
use std::process::Command;

fn kafkalab(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kafkalab"))
        .args(args)
        .output()
        .expect("run kafkalab");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The session-timeout lesson at Kafka's defaults: session.timeout.ms 45000,
/// heartbeat.interval.ms 3000, a 75 s run. In real time this takes over a minute.
const AT_DEFAULTS: &str = r#"
name = "session-timeout-defaults"
module = "groups"
setting = "session.timeout.ms"
about = "A consumer crashes; the broker notices after Kafka's default 45 s session timeout."
duration = "75s"
warmup = "5s"
seed = 11

[[topics]]
name = "orders"
partitions = 6

[[producers]]
topic = "orders"
rate = 200
record_size = 100
keys = "uniform"

[[consumers]]
group = "billing"
topic = "orders"
count = 3
config = { "auto.offset.reset" = "earliest" }

[[events]]
at = "10s"
do = "crash-consumer"
target = "billing/1"

[expect]
# Expiry 45 s after the last heartbeat (0-3 s before the crash); the survivors learn of
# it at their next heartbeat, up to 3 s later: (42 s, 48 s].
detection_s = "42..48"
removals_session_timeout = 1
lost = 0

[control]
about = "no crash: nothing to detect"
drop_events = ["crash-consumer"]
"#;

fn write_scenario(dir: &Path) -> String {
    let path = dir.join("session-timeout-defaults.toml");
    std::fs::write(&path, AT_DEFAULTS).expect("write scenario");
    path.display().to_string()
}

#[test]
fn a_lesson_at_kafkas_defaults_runs_in_virtual_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = write_scenario(dir.path());
    let reports = dir.path().join("reports");
    let reports_arg = reports.display().to_string();
    let (code, out, err) = kafkalab(&[
        "run",
        &scenario,
        "--simulate",
        "--no-tui",
        "--metrics-linger",
        "0",
        "--report-dir",
        &reports_arg,
    ]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("simulated: "),
        "the summary says simulated:\n{out}"
    );
    let run_dir = std::fs::read_dir(&reports)
        .expect("reports")
        .filter_map(Result::ok)
        .find(|e| e.path().join("report.json").exists())
        .expect("a run directory")
        .path();
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir.join("report.json")).expect("report.json"),
    )
    .expect("json");
    let virtual_s = json["simulated"]["virtual_s"]
        .as_f64()
        .expect("simulated.virtual_s");
    // The whole 75 s scenario passed in virtual time (the report comes after it).
    assert!(virtual_s >= 75.0, "virtual_s = {virtual_s}");
    assert!(json["simulated"]["wall_s"].as_f64().is_some());
    let detection = json["metrics"]["detection_s"]
        .as_f64()
        .expect("detection_s");
    assert!(
        (42.0..=48.0).contains(&detection),
        "detection_s = {detection}"
    );
    let html = std::fs::read_to_string(run_dir.join("index.html")).expect("index.html");
    assert!(
        html.contains("simulated: "),
        "the report page says simulated"
    );
}

#[test]
fn the_control_of_a_simulated_lesson_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = write_scenario(dir.path());
    let reports = dir.path().join("reports").display().to_string();
    let (code, out, err) = kafkalab(&[
        "run",
        &scenario,
        "--simulate",
        "--control",
        "--no-tui",
        "--metrics-linger",
        "0",
        "--report-dir",
        &reports,
    ]);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("FAIL removals_session_timeout = 1"), "{out}");
}

#[test]
fn simulate_cannot_point_at_a_real_cluster() {
    let (code, _, err) = kafkalab(&[
        "run",
        "scenarios/session-timeout.toml",
        "--simulate",
        "--bootstrap-server",
        "127.0.0.1:9092",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--simulate") && err.contains("--bootstrap-server"),
        "{err}"
    );
}

/// A simulated run's report, without what the wall clock decides (when it started,
/// how long it took on this machine).
fn simulated_report(scenario: &str, seed: &str, reports: &Path) -> serde_json::Value {
    let reports_arg = reports.display().to_string();
    let (code, out, err) = kafkalab(&[
        "run",
        scenario,
        "--simulate",
        "--seed",
        seed,
        "--no-tui",
        "--metrics-linger",
        "0",
        "--report-dir",
        &reports_arg,
    ]);
    assert_eq!(code, 0, "{scenario}: stdout:\n{out}\nstderr:\n{err}");
    let run_dir = std::fs::read_dir(reports)
        .expect("reports")
        .filter_map(Result::ok)
        .find(|e| e.path().join("report.json").exists())
        .expect("a run directory")
        .path();
    let mut json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir.join("report.json")).expect("report.json"),
    )
    .expect("json");
    let wall = json
        .as_object_mut()
        .expect("a report is an object")
        .remove("started_at");
    assert!(wall.is_some(), "report.json has started_at");
    let wall_s = json["simulated"]
        .as_object_mut()
        .expect("simulated")
        .remove("wall_s");
    assert!(wall_s.is_some(), "report.json has simulated.wall_s");
    json
}

/// The first difference between two JSON values, as a path and both sides.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => first_difference(p, q, &format!("{path}.{k}")),
                (p, q) => Some(format!("{path}.{k}: {p:?} vs {q:?}")),
            })
        }
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, &format!("{path}[{i}]")))
            .or_else(|| {
                (x.len() != y.len()).then(|| format!("{path}: {} vs {} elements", x.len(), y.len()))
            }),
        _ => (a != b).then(|| format!("{path}: {a} vs {b}")),
    }
}

/// Determinism (issue 13): one seed, the same report byte for byte, wall-clock
/// metadata aside; on the embedded broker and on a three-node cluster whose leader
/// crashes. A different seed gives a different run where the seed matters (the check
/// can fail).
#[test]
fn one_seed_gives_one_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let consumer_lesson = write_scenario(dir.path());
    let cluster_lesson = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/leader-crash.toml"
    );
    for (name, scenario) in [
        ("groups", consumer_lesson.as_str()),
        ("cluster", cluster_lesson),
    ] {
        let run = |seed: &str, n: usize| {
            simulated_report(
                scenario,
                seed,
                &dir.path().join(format!("{name}-{seed}-{n}")),
            )
        };
        let (a, b) = (run("5", 1), run("5", 2));
        if let Some(d) = first_difference(&a, &b, "") {
            panic!("{name}: two runs of seed 5 differ at {d}");
        }
        // The keys come from the seed in the groups lesson (the leader-crash lesson
        // draws nothing from it): another seed spreads them, and the metrics, otherwise.
        if name != "groups" {
            continue;
        }
        let c = run("6", 1);
        assert!(
            first_difference(&a["metrics"], &c["metrics"], "").is_some(),
            "{name}: seed 6 ran exactly as seed 5"
        );
    }
}
