//! The live view end to end: the real binary runs a scenario inside a detached tmux
//! session (a real pseudo-terminal), the test reads the screen with `capture-pane`,
//! presses `q`, and checks that the run stopped cleanly: terminal restored, summary
//! printed, report written. Needs tmux (scripts/test-all.sh installs it); the binary is
//! `$KAFKALAB_BIN` when set (e.g. target/release/kafkalab), else the one cargo built.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SCENARIO: &str = r#"
name = "tui-e2e"
duration = "40s"
warmup = "1s"
seed = 11

[[topics]]
name = "tui-orders"
partitions = 3

[[producers]]
topic = "tui-orders"
rate = 300
record_size = 128

[[consumers]]
group = "tuigroup"
topic = "tui-orders"
count = 2
config = { "session.timeout.ms" = 6000, "heartbeat.interval.ms" = 1000, "auto.offset.reset" = "earliest" }

[[events]]
at = "30s"
do = "crash-consumer"
target = "tuigroup/1"

[expect]
lost = 0
"#;

/// A private tmux server (its own socket), killed when dropped.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket);
        c
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "view"])
    }

    /// Polls the screen until `pred` holds; panics with the last screen after `limit`.
    fn wait_for(&self, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

fn binary() -> PathBuf {
    std::env::var_os("KAFKALAB_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_kafkalab")))
}

fn sh_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

#[test]
fn live_view_in_tmux_shows_the_panels_and_q_stops_the_run_with_a_report() {
    let tmux_ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        tmux_ok,
        "this test needs tmux (apt-get install tmux); scripts/test-all.sh installs it"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = dir.path().join("tui-e2e.toml");
    std::fs::write(&scenario, SCENARIO).expect("write scenario");
    let reports = dir.path().join("reports");
    let status = dir.path().join("status");
    let tmux = Tmux {
        socket: dir.path().join("tmux.sock"),
    };
    // After the run the shell prints the exit status and keeps the pane open, so the
    // restored screen with the summary can be read.
    let script = format!(
        "{} run {} --report-dir {} --metrics-listener 127.0.0.1:0; echo \"exit=$?\" > {}; echo run-exited; sleep 60",
        sh_quote(&binary()),
        sh_quote(&scenario),
        sh_quote(&reports),
        sh_quote(&status),
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "view",
        "-x",
        "160",
        "-y",
        "48",
        "sh",
        "-c",
        &script,
    ]);

    // Panels appear and fill with data: throughput, members with their assignment.
    let screen = tmux.wait_for("the panels with data", Duration::from_secs(30), |s| {
        s.contains("tuigroup-0") && s.contains("tuigroup-1") && s.contains("tui-orders-2")
    });
    for title in [
        "Throughput",
        "Latency",
        "Consumer groups",
        "Lag per partition",
        "Timeline",
        "Brokers",
        "Client settings",
    ] {
        assert!(screen.contains(title), "{title} missing:\n{screen}");
    }
    assert!(screen.contains("kafkalab run tui-e2e  seed 11"), "{screen}");
    assert!(screen.contains("crash-consumer tuigroup/1"), "{screen}");
    assert!(screen.contains("session.timeout.ms=6000"), "{screen}");
    assert!(
        screen.contains("node 1") || screen.contains("node 0"),
        "{screen}"
    );

    // Help, then a small window: one panel and how to reach the others.
    tmux.run(&["send-keys", "-t", "view", "?"]);
    tmux.wait_for("the help", Duration::from_secs(5), |s| {
        s.contains("close this help")
    });
    tmux.run(&["send-keys", "-t", "view", "Escape"]);
    tmux.run(&["resize-window", "-t", "view", "-x", "70", "-y", "20"]);
    tmux.wait_for("the small layout", Duration::from_secs(5), |s| {
        s.contains("tab: next panel (1/7)") && s.contains("Throughput") && !s.contains("Brokers")
    });
    tmux.run(&["send-keys", "-t", "view", "Tab"]);
    tmux.wait_for("the next panel", Duration::from_secs(5), |s| {
        s.contains("tab: next panel (2/7)") && s.contains("Latency")
    });
    tmux.run(&["resize-window", "-t", "view", "-x", "160", "-y", "48"]);

    // q: the run stops early, drains, writes the report, and the terminal comes back.
    tmux.run(&["send-keys", "-t", "view", "q"]);
    let done = tmux.wait_for("the run to exit", Duration::from_secs(40), |s| {
        s.contains("run-exited")
    });
    assert!(
        done.contains("== tui-e2e (seed 11) =="),
        "summary after the view:\n{done}"
    );
    assert!(done.contains("report: "), "{done}");
    assert!(
        !done.contains("Lag per partition"),
        "alternate screen left:\n{done}"
    );
    let code = std::fs::read_to_string(&status).expect("exit status file");
    assert!(
        matches!(code.trim(), "exit=0" | "exit=1"),
        "the run could not happen: {code}\n{done}"
    );
    let entries: Vec<PathBuf> = std::fs::read_dir(&reports)
        .expect("report root")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let json = std::fs::read_to_string(entries[0].join("report.json")).expect("report.json");
    // Stopped at q after a few seconds, not the scenario's 40 s.
    let duration_s = json_number(&json, "duration_s");
    assert!(
        duration_s > 0.0 && duration_s < 30.0,
        "duration_s {duration_s}"
    );
}

/// A top-level number in report.json (the cli crate has no JSON parser).
fn json_number(json: &str, key: &str) -> f64 {
    let quoted = format!("\"{key}\"");
    let at = json.find(&quoted).expect("key in report.json");
    let rest = json[at + quoted.len()..].trim_start();
    let rest = rest.strip_prefix(':').expect("a value").trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | 'e' | 'E' | '+')))
        .unwrap_or(rest.len());
    rest[..end].parse().expect("a number")
}
