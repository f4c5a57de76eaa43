//! The report a real `kafkalab run` writes (charts as valid SVG and PNG with the
//! expected series, index.html, summary.md), a real sweep (one point per setting, the
//! combined report and its checks), and `kafkalab report compare` on two real runs.
//! Runs the binary on the embedded broker, on loopback; about 20 s.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kafkalab_loadgen::report;

/// Runs `kafkalab <args>`, killing it after `limit`.
fn kafkalab(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafkalab"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kafkalab");
    let deadline = Instant::now() + limit;
    // Drain the pipes on threads so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let o = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).map(|_| v)
    });
    let e = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut v).map(|_| v)
    });
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kafkalab {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: o.join().expect("stdout thread").expect("read stdout"),
        stderr: e.join().expect("stderr thread").expect("read stderr"),
    }
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The one directory under `root` (a run writes exactly one).
fn only_dir(root: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("read report root")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.into_iter().next().expect("one")
}

/// The texts of an SVG's `<text>` elements, trimmed.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_string())
        })
        .collect()
}

/// Reads `<dir>/<id>.svg` and `.png`, checks both are well-formed, returns the SVG.
fn chart(dir: &Path, id: &str) -> String {
    let svg = std::fs::read_to_string(dir.join(format!("{id}.svg")))
        .unwrap_or_else(|e| panic!("{id}.svg: {e}"));
    assert!(
        svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"),
        "{id}.svg"
    );
    for tag in ["text", "polyline", "rect", "line", "circle"] {
        let open = svg.matches(&format!("<{tag} ")).count();
        let closed = svg.matches(&format!("</{tag}>")).count() + svg.matches("/>").count();
        assert!(open <= closed, "{id}.svg: unclosed <{tag}>");
    }
    assert_eq!(
        svg.matches("<text").count(),
        svg.matches("</text>").count(),
        "{id}.svg"
    );
    let png =
        std::fs::read(dir.join(format!("{id}.png"))).unwrap_or_else(|e| panic!("{id}.png: {e}"));
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{id}.png signature");
    assert_eq!(&png[12..16], b"IHDR");
    let w = u32::from_be_bytes(png[16..20].try_into().expect("width"));
    let h = u32::from_be_bytes(png[20..24].try_into().expect("height"));
    assert_eq!((w, h), (960, 480), "{id}.png size");
    assert_eq!(
        &png[png.len() - 8..png.len() - 4],
        b"IEND",
        "{id}.png is complete"
    );
    svg
}

/// The data lines of a chart: 2-px polylines (segments and legend entries).
fn data_lines(svg: &str) -> usize {
    svg.lines()
        .filter(|l| l.starts_with("<polyline") && l.contains("stroke-width=\"2\""))
        .count()
}

const RUN: &str = r#"
name = "rebalance-report"
about = "test"
duration = "7s"
seed = 11

[cluster]
broker = { "group.initial.rebalance.delay.ms" = 0 }

[[topics]]
name = "orders"
partitions = 4

[[producers]]
topic = "orders"
rate = 1000

[[consumers]]
group = "billing"
topic = "orders"
count = 2
config = { "auto.offset.reset" = "earliest" }

[[events]]
at = "3s"
do = "remove-consumer"
target = "billing/1"

[expect]
lost = 0
"#;

const SWEEP: &str = r#"
name = "linger-sweep"
about = "test"
duration = "3s"
seed = 5

[[topics]]
name = "events"
partitions = 2

[[producers]]
name = "p0"
topic = "events"
rate = 2000
config = { "batch.size" = 16384 }

[expect]
p99_produce_ms = "< 5000"

[sweep]
"producer.linger.ms" = [0, 30]

[[sweep.expect]]
metric = "records_per_request"
along = "producer.linger.ms"
trend = "rises"
"#;

#[test]
fn run_sweep_and_compare_write_their_reports() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let common = [
        "--metrics-listener",
        "127.0.0.1:0",
        "--no-tui",
        "--report-dir",
    ];

    // One run: a member leaves at 3 s, so ownership moves and the group rebalances.
    let scenario = tmp.path().join("run.toml");
    std::fs::write(&scenario, RUN).expect("write scenario");
    let runs = tmp.path().join("runs");
    let runs_s = runs.display().to_string();
    let mut args = vec!["run", scenario.to_str().expect("utf-8 path")];
    args.extend(common);
    args.push(&runs_s);
    let out = kafkalab(&args, Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out));
    let dir = only_dir(&runs);
    for f in [
        "report.json",
        "produce.hgrm",
        "e2e.hgrm",
        "index.html",
        "summary.md",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing in {}", dir.display());
    }
    let t = chart(&dir, "throughput");
    let texts = svg_texts(&t);
    for want in ["produced", "consumed", "remove-consumer billing/1"] {
        assert!(
            texts.iter().any(|x| x == want),
            "throughput: {want} not in {texts:?}"
        );
    }
    assert!(
        data_lines(&t) >= 2 + 2,
        "two series and their legend entries"
    );
    let l = chart(&dir, "latency");
    let texts = svg_texts(&l);
    for want in [
        "produce p50",
        "produce p99",
        "produce p99.9",
        "end-to-end p50",
        "end-to-end p99",
        "end-to-end p99.9",
    ] {
        assert!(
            texts.iter().any(|x| x == want),
            "latency: {want} not in {texts:?}"
        );
    }
    assert!(data_lines(&l) >= 6 + 6);
    let h = chart(&dir, "hdr");
    let texts = svg_texts(&h);
    assert!(
        texts.iter().any(|x| x == "produce") && texts.iter().any(|x| x == "e2e"),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|x| x == "99%"),
        "percentile ticks: {texts:?}"
    );
    assert_eq!(data_lines(&h), 2 + 2, "one line per latency kind");
    let lag = chart(&dir, "lag");
    assert!(svg_texts(&lag).iter().any(|x| x == "billing"));
    let own = chart(&dir, "ownership");
    let texts = svg_texts(&own);
    for want in ["billing/0", "billing/1", "orders-0", "orders-3"] {
        assert!(
            texts.iter().any(|x| x == want),
            "ownership: {want} not in {texts:?}"
        );
    }
    // billing/0 takes over billing/1's partitions when it leaves.
    let guide = &texts[1];
    assert!(guide.contains("partition move(s)"), "{guide}");
    assert!(
        !dir.join("brokers.svg").exists(),
        "no broker chart for one node"
    );
    let html = std::fs::read_to_string(dir.join("index.html")).expect("index.html");
    assert_eq!(html.matches("<svg ").count(), 5, "charts inlined");
    assert!(!html.contains("src=\"http"), "self-contained");
    let md = std::fs::read_to_string(dir.join("summary.md")).expect("summary.md");
    assert!(
        md.contains("[svg](ownership.svg)") && md.contains("| PASS | lost |"),
        "{md}"
    );
    let (report, hgrms) = report::read_run(&dir).expect("report.json reads back");
    assert!(report.metrics.contains_key("records_per_request"));
    assert_eq!(hgrms.len(), 2);
    let left = report
        .ownership
        .iter()
        .filter(|i| i.member == "billing/1")
        .count();
    assert!(left >= 1, "billing/1 owned something before leaving");

    // A sweep: one point per setting, each a real run, and the combined report.
    let scenario = tmp.path().join("sweep.toml");
    std::fs::write(&scenario, SWEEP).expect("write sweep");
    let sweeps = tmp.path().join("sweeps");
    let sweeps_s = sweeps.display().to_string();
    let mut args = vec!["run", scenario.to_str().expect("utf-8 path")];
    args.extend(common);
    args.push(&sweeps_s);
    let out = kafkalab(&args, Duration::from_secs(60));
    let stdout = text(&out);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("point 2/2: linger.ms=30"), "{stdout}");
    assert!(
        stdout.contains("PASS records_per_request rises along linger.ms"),
        "{stdout}"
    );
    let sweep_dir = only_dir(&sweeps);
    let sweep = report::sweep::read_sweep(&sweep_dir).expect("sweep.json reads back");
    assert_eq!(sweep.points.len(), 2, "one point per setting");
    let mut point_dirs = Vec::new();
    let mut rpr = Vec::new();
    for (p, linger) in sweep.points.iter().zip(["0", "30"]) {
        assert_eq!(p.values, [linger]);
        assert_eq!(p.runs.len(), 1);
        let run = &p.runs[0];
        rpr.push(run.metrics["records_per_request"]);
        let d = sweep_dir.join(&run.dir);
        assert!(
            d.join("report.json").is_file() && d.join("throughput.svg").is_file(),
            "{}",
            d.display()
        );
        point_dirs.push(d);
    }
    assert!(rpr[1] > rpr[0], "linger 30 batches more: {rpr:?}");
    let trade = chart(&sweep_dir, "tradeoff");
    let texts = svg_texts(&trade);
    assert!(
        texts.iter().any(|x| x == "linger.ms=0") && texts.iter().any(|x| x == "linger.ms=30"),
        "{texts:?}"
    );
    assert_eq!(
        trade.matches("<circle").count(),
        2 + 1,
        "two points and one legend mark"
    );
    chart(&sweep_dir, "along-records_per_request");
    let html = std::fs::read_to_string(sweep_dir.join("index.html")).expect("sweep index.html");
    assert!(
        html.contains("Sweep expectations") && html.contains("Every point"),
        "sweep tables"
    );

    // compare on the sweep's two real runs.
    let cmp = tmp.path().join("cmp");
    let out = kafkalab(
        &[
            "report",
            "compare",
            point_dirs[0].to_str().expect("utf-8"),
            point_dirs[1].to_str().expect("utf-8"),
            "--out",
            cmp.to_str().expect("utf-8"),
        ],
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{}", text(&out));
    let hdr = chart(&cmp, "hdr");
    let texts = svg_texts(&hdr);
    assert!(
        texts.iter().any(|x| x == "A: produce") && texts.iter().any(|x| x == "B: produce"),
        "{texts:?}"
    );
    chart(&cmp, "throughput");
    let md = std::fs::read_to_string(cmp.join("summary.md")).expect("compare summary");
    assert!(
        md.contains("| linger.ms | 0 | 30 |"),
        "settings that differ: {md}"
    );
    assert!(md.contains("| records_per_request |"), "differences: {md}");

    // A directory that is not a report: a clear error and exit status 2.
    let missing = tmp.path().join("nope");
    let out = kafkalab(
        &[
            "report",
            "compare",
            missing.to_str().expect("utf-8"),
            point_dirs[0].to_str().expect("utf-8"),
        ],
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nope/report.json"),
        "{}",
        text(&out)
    );
}

/// A 3-node cluster whose broker 0 (leader of the one partition) is killed at 3 s and
/// restarted at 6 s.
const CLUSTER_RUN: &str = r#"
name = "cluster-chart"
duration = "9s"
warmup = "1s"
seed = 3

[cluster]
brokers = 3
broker = { "replica.lag.time.max.ms" = 1000 }

[[topics]]
name = "pay"
partitions = 1
replication_factor = 3

[[producers]]
name = "p"
topic = "pay"
rate = 300
config = { "acks" = "all" }

[[events]]
at = "3s"
do = "kill-broker"
target = "0"

[[events]]
at = "6s"
do = "restart-broker"
target = "0"
"#;

#[test]
fn a_multi_node_run_draws_the_broker_and_isr_chart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let scenario = tmp.path().join("cluster.toml");
    std::fs::write(&scenario, CLUSTER_RUN).expect("write scenario");
    let runs = tmp.path().join("runs");
    let runs_s = runs.display().to_string();
    let out = kafkalab(
        &[
            "run",
            scenario.to_str().expect("utf-8 path"),
            "--metrics-listener",
            "127.0.0.1:0",
            "--metrics-linger",
            "0",
            "--no-tui",
            "--report-dir",
            &runs_s,
        ],
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", text(&out));
    let dir = only_dir(&runs);
    let svg = chart(&dir, "cluster");
    let texts = svg_texts(&svg);
    for want in [
        "led by broker 0",
        "led by broker 1",
        "led by broker 2",
        "under-replicated",
        "offline",
        "kill-broker 0",
    ] {
        assert!(texts.iter().any(|x| x == want), "{want} not in {texts:?}");
    }
    // The leader died: leadership moved and the partition was under-replicated.
    let guide = texts
        .iter()
        .find(|t| t.contains("leadership move"))
        .expect("reading guide");
    assert!(!guide.starts_with("0 leadership"), "{guide}");
    assert!(guide.contains("under-replicated"), "{guide}");
    let html = std::fs::read_to_string(dir.join("index.html")).expect("index.html");
    assert!(
        html.contains("brokers and ISR"),
        "the page carries the chart"
    );
}
