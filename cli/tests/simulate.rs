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
