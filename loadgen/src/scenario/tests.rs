//! Scenario-file tests: the shipped examples, error positions, defaults, round trips.

use std::path::PathBuf;
use std::time::Duration;

use super::*;

fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// Parses `text` expecting an error; returns (line, col, message) and checks Display.
fn error_at(text: &str) -> (usize, usize, String) {
    let e = parse("t.toml", text).expect_err("expected an error");
    let (line, col) = e.position().expect("error has a position");
    assert_eq!(
        e.to_string(),
        format!("t.toml:{line}:{col}: {}", e.message()),
        "Display is file:line:col: message"
    );
    (line, col, e.message())
}

fn ok(text: &str) -> Scenario {
    match parse("t.toml", text) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

const MINIMAL: &str = r#"
duration = "10s"

[[topics]]
name = "orders"

[[producers]]
topic = "orders"
rate = 100

[[consumers]]
group = "billing"
topic = "orders"
count = 3
"#;

#[test]
fn scenario_examples_parse() {
    let mut seen = Vec::new();
    let entries = std::fs::read_dir(scenarios_dir()).expect("scenarios/ exists");
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let s = match load(&path) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        assert!(!s.name.is_empty(), "{}: name", path.display());
        assert!(!s.about.is_empty(), "{}: about", path.display());
        assert!(!s.watch.is_empty(), "{}: watch", path.display());
        assert!(
            !s.expect.is_empty() || !s.sweep.expect.is_empty(),
            "{}: expectations",
            path.display()
        );
        seen.push(s.name.clone());
    }
    for name in [
        "batching",
        "batching-sweep",
        "session-timeout",
        "slow-consumer",
    ] {
        assert!(seen.iter().any(|n| n == name), "scenarios/{name}.toml");
    }
}

#[test]
fn scenario_session_timeout_example_content() {
    let s = load(&scenarios_dir().join("session-timeout.toml")).expect("parses");
    assert_eq!(*s.duration, Duration::from_secs(20));
    assert_eq!(s.seed, Some(7));
    assert_eq!(s.topics[0].partitions, 6);
    let c = &s.consumers[0];
    assert_eq!(c.count, 3);
    assert_eq!(c.config["session.timeout.ms"], "10000");
    assert_eq!(c.config["heartbeat.interval.ms"], "3000");
    let e = &s.events[0];
    assert_eq!(*e.kind, EventKind::CrashConsumer);
    assert_eq!(
        e.target.as_ref().map(|t| t.value.clone()),
        Some(Target {
            name: "billing".into(),
            index: Some(1)
        })
    );
    let metrics: Vec<&str> = s.expect.iter().map(|x| x.metric.as_str()).collect();
    assert_eq!(
        metrics,
        [
            "rebalances",
            "detection_s",
            "removals_session_timeout",
            "lost"
        ]
    );
    assert!(s.expect[1].eval(9.5));
}

#[test]
fn scenario_defaults() {
    let s = ok(MINIMAL);
    assert_eq!(s.name, "t");
    assert_eq!(*s.warmup, Duration::ZERO);
    assert_eq!(s.seed, None);
    assert_eq!(s.cluster.brokers, 1);
    assert!(s.cluster.bootstrap.is_none());
    let t = &s.topics[0];
    assert_eq!((t.partitions, *t.replication_factor), (1, 1));
    let p = &s.producers[0];
    assert_eq!(p.name.as_str(), "p0");
    assert_eq!(p.count, 1);
    assert_eq!(p.rate, Rate::PerSecond(100.0));
    assert_eq!(p.record_size, 100);
    assert_eq!(p.keys, Keys::None);
    assert_eq!(p.key_space, 10_000);
    assert_eq!(p.payload, Payload::Random);
    let c = &s.consumers[0];
    assert!(c.topic.is_none());
    assert_eq!(c.topics.len(), 1);
    assert_eq!(c.topics[0].as_str(), "orders");
    assert_eq!(c.processing, ProcessingModel::Fixed(Duration::ZERO));
    assert_eq!(c.processing_per, ProcessingPer::Record);
    assert!(s.events.is_empty() && s.expect.is_empty() && s.sweep.is_empty());
    assert_eq!(s.measured(), Duration::from_secs(10));
}

#[test]
fn scenario_full_file() {
    let s = ok(r#"
name = "all"
duration = "1m"
warmup = "5s"
seed = 42

[cluster]
brokers = 3
broker = { "group.initial.rebalance.delay.ms" = 0, "auto.create.topics.enable" = false }

[[topics]]
name = "a"
partitions = 6
replication_factor = 3
config = { "retention.ms" = 60000, "cleanup.policy" = "delete" }

[[topics]]
name = "b"

[[producers]]
topic = "a"
count = 2
rate = "max"
record_size = 1048576
keys = "zipf(1.2)"
key_space = 50
payload = "zeros"
config = { "linger.ms" = 5, acks = "all", "enable.idempotence" = true, "x.ratio" = 0.5, "bootstrap.servers" = ["h1:9092", "h2:9092"] }

[[producers]]
name = "bulk"
topic = "b"
rate = 2.5
keys = "sequential"
[producers.config]
linger.ms = 20
compression.type = "lz4"

[[consumers]]
group = "g"
topics = ["a", "b"]
processing = "exp(2ms)"
processing_per = "batch"

[[events]]
at = "30s"
do = "set-rate"
target = "bulk"
rate = 10

[[events]]
at = "10s"
do = "add-consumer"
target = "g"
count = 2

[[events]]
at = "12s"
do = "freeze-consumer"
target = "g/2"
for = "15s"

[[events]]
at = "40s"
do = "kill-broker"
target = 2

[[events]]
at = "41s"
do = "pause-broker"
target = "1"
for = "2s"

[[events]]
at = "42s"
do = "stop-producer"
target = "p0/1"

[expect]
lost = 0
detection_s = "9..12"
p99_e2e_ms = "< 50"
throughput_rps = 1.5

[sweep]
"producers.p0.config.linger.ms" = [0, 5, 20]
consumers.g.processing = ["1ms", "2ms"]
"#);
    assert_eq!(s.cluster.brokers, 3);
    assert_eq!(s.cluster.broker["group.initial.rebalance.delay.ms"], "0");
    assert_eq!(s.cluster.broker["auto.create.topics.enable"], "false");
    assert_eq!(s.topics[0].config["retention.ms"], "60000");
    let p0 = &s.producers[0];
    assert_eq!(p0.name.as_str(), "p0");
    assert_eq!(p0.rate, Rate::Max);
    assert_eq!(p0.keys, Keys::Zipf(1.2));
    assert_eq!(p0.payload, Payload::Zeros);
    assert_eq!(p0.config["linger.ms"], "5");
    assert_eq!(p0.config["acks"], "all");
    assert_eq!(p0.config["enable.idempotence"], "true");
    assert_eq!(p0.config["x.ratio"], "0.5");
    assert_eq!(p0.config["bootstrap.servers"], "h1:9092,h2:9092");
    let bulk = s.producer("bulk").expect("bulk");
    assert_eq!(bulk.rate.per_second(), Some(2.5));
    assert_eq!(bulk.config["linger.ms"], "20");
    assert_eq!(bulk.config["compression.type"], "lz4");
    assert_eq!(
        s.consumers[0].processing,
        ProcessingModel::Exp(Duration::from_millis(2))
    );
    assert_eq!(s.consumers[0].processing_per, ProcessingPer::Batch);
    // Events come out sorted by time.
    let kinds: Vec<EventKind> = s.events.iter().map(|e| *e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::AddConsumer,
            EventKind::FreezeConsumer,
            EventKind::SetRate,
            EventKind::KillBroker,
            EventKind::PauseBroker,
            EventKind::StopProducer
        ]
    );
    assert_eq!(s.events[0].count_or_one(), 2);
    assert_eq!(
        s.events[1].for_duration.as_deref(),
        Some(&Duration::from_secs(15))
    );
    assert_eq!(
        s.events[3].target.as_ref().and_then(|t| t.broker_id()),
        Some(2)
    );
    assert_eq!(s.expect[3].check.value, Check::Eq(1.5));
    let paths: Vec<&str> = s.sweep.axes.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(
        paths,
        ["producers.p0.config.linger.ms", "consumers.g.processing"]
    );
    assert_eq!(s.sweep.axes[0].values.len(), 3);
    assert_eq!(s.sweep.axes[0].values[1], toml::Value::Integer(5));

    // What serialising writes, parsing reads back to the same scenario.
    let text = toml::to_string(&s).expect("serialises");
    let again = parse("all.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(again, s);
}

#[test]
fn scenario_error_syntax_position() {
    let (line, col, msg) = error_at("duration = \"10s\"\n[[topics]\nname = \"a\"\n");
    assert_eq!((line, col), (2, 9), "{msg}");
    assert!(msg.contains("invalid table header"), "{msg}");
    let (line, col, _) = error_at("name = \"x\"\nduration = 10s\n");
    assert_eq!((line, col), (2, 14));
    let e = parse("t.toml", "a = \n").expect_err("syntax");
    assert!(matches!(e, ScenarioError::Syntax { .. }), "{e:?}");
}

#[test]
fn scenario_error_unknown_key_suggests() {
    let text = MINIMAL.replace("count = 3", "count = 3\nprocesing = \"2ms\"");
    let (line, col, msg) = error_at(&text);
    assert_eq!((line, col), (15, 1));
    assert!(
        msg.starts_with("unknown key 'procesing', expected one of: group, topic, topics, count, processing, processing_per, config"),
        "{msg}"
    );
    assert!(msg.ends_with("did you mean 'processing'?"), "{msg}");
    let e = parse("t.toml", &text).expect_err("unknown key");
    assert!(matches!(e, ScenarioError::Invalid { .. }), "{e:?}");

    // At the top level.
    let (line, col, msg) = error_at("duraton = \"5s\"\n");
    assert_eq!((line, col), (1, 1));
    assert!(msg.contains("did you mean 'duration'?"), "{msg}");

    // A Kafka property written beside the producer's own keys.
    let text = MINIMAL.replace("rate = 100", "rate = 100\n  linger.ms = 5");
    let (line, col, msg) = error_at(&text);
    assert_eq!((line, col), (10, 3));
    assert!(
        msg.contains("Kafka properties go under config, e.g. config = { \"linger.ms\" = ... }"),
        "{msg}"
    );
}

#[test]
fn scenario_error_bad_duration_position() {
    let text = MINIMAL.replace("duration = \"10s\"", "duration = \"10 sec\"");
    let (line, col, msg) = error_at(&text);
    assert_eq!((line, col), (2, 12));
    assert!(msg.contains("unknown unit 'sec'"), "{msg}");

    let text = MINIMAL.replace("duration = \"10s\"", "duration = 10");
    let (line, col, msg) = error_at(&text);
    assert_eq!((line, col), (2, 12));
    assert!(msg.contains("write \"10s\""), "{msg}");

    let text =
        format!("{MINIMAL}\n[[events]]\nat = \"5\"\ndo = \"add-consumer\"\ntarget = \"billing\"\n");
    let (line, col, msg) = error_at(&text);
    assert_eq!((line, col), (17, 6));
    assert!(msg.contains("needs a unit"), "{msg}");

    let text = MINIMAL.replace("count = 3", "count = 3\nprocessing = \"uniform(5ms,1ms)\"");
    let (line, col, msg) = error_at(&text);
    assert_eq!((line, col), (15, 14));
    assert!(msg.contains("above the upper bound"), "{msg}");
}

#[test]
fn scenario_error_bad_expectation() {
    let text = format!("{MINIMAL}\n[expect]\nlost = 0\n  rebalance = \">= 1\"\n");
    let (line, col, msg) = error_at(&text);
    assert_eq!((line, col), (18, 3));
    assert_eq!(
        msg,
        "unknown expectation 'rebalance'; did you mean 'rebalances'?"
    );

    let text = format!("{MINIMAL}\n[expect]\nlost = 0\nrebalances = \"at least 1\"\n");
    let (line, col, msg) = error_at(&text);
    assert_eq!((line, col), (18, 14));
    assert!(msg.contains("expected a check such as"), "{msg}");

    let text = format!("{MINIMAL}\n[expect]\nlost = false\n");
    let (line, col, _) = error_at(&text);
    assert_eq!((line, col), (17, 8));

    let text = format!("{MINIMAL}\n[expect]\ndetection_s = \"9..12\"\n");
    let (line, col, msg) = error_at(&text);
    assert_eq!((line, col), (17, 1));
    assert!(msg.contains("no such event"), "{msg}");
}

#[test]
fn scenario_error_event_unknown_group() {
    let text = format!(
        "{MINIMAL}\n[[events]]\nat = \"5s\"\ndo = \"crash-consumer\"\ntarget = \"biling/1\"\n"
    );
    let (line, col, msg) = error_at(&text);
    assert_eq!((line, col), (19, 10));
    assert_eq!(
        msg,
        "consumer group 'biling' is not declared in [[consumers]]; did you mean 'billing'?"
    );
}

#[test]
fn scenario_error_event_checks() {
    let event = |body: &str| format!("{MINIMAL}\n[[events]]\n{body}\n");
    let cases: &[(&str, (usize, usize), &str)] = &[
        (
            "at = \"10s\"\ndo = \"crash-consumer\"\ntarget = \"billing/0\"",
            (17, 6),
            "not before the end of the run",
        ),
        (
            "at = \"1s\"\ndo = \"crash-consumer\"\ntarget = \"billing/3\"",
            (19, 10),
            "has 3 member(s) at 1s (numbered 0 to 2), so there is no member 3",
        ),
        (
            "at = \"1s\"\ndo = \"crash-consumer\"\ntarget = \"billing\"",
            (19, 10),
            "targets one member: target = \"billing/0\"",
        ),
        (
            "at = \"1s\"\ndo = \"crash-consumer\"",
            (18, 6),
            "crash-consumer needs a target",
        ),
        (
            "at = \"1s\"\ndo = \"crash-consumer\"\ntarget = \"billing/0\"\nrate = 5",
            (20, 8),
            "'rate' does not apply to crash-consumer",
        ),
        (
            "at = \"1s\"\ndo = \"freeze-consumer\"\ntarget = \"billing/0\"",
            (18, 6),
            "freeze-consumer needs a duration: for = \"15s\"",
        ),
        (
            "at = \"1s\"\ndo = \"restart-consumer\"\ntarget = \"billing/0\"",
            (18, 6),
            "restart-consumer needs a duration: for = \"15s\"",
        ),
        (
            "at = \"1s\"\ndo = \"restart\"\ntarget = \"billing/0\"",
            (18, 6),
            "did you mean 'restart-consumer'?",
        ),
        (
            "at = \"1s\"\ndo = \"set-rate\"\ntarget = \"p1\"\nrate = 5",
            (19, 10),
            "producer 'p1' is not declared in [[producers]]; did you mean 'p0'?",
        ),
        (
            "at = \"1s\"\ndo = \"set-rate\"\ntarget = \"p0\"",
            (18, 6),
            "set-rate needs the new rate",
        ),
        (
            "at = \"1s\"\ndo = \"set-rate\"\ntarget = \"p0\"\nrate = 0",
            (20, 8),
            "rate must be above 0",
        ),
        (
            "at = \"1s\"\ndo = \"crash\"\ntarget = \"billing/0\"",
            (18, 6),
            "unknown event 'crash'; did you mean 'crash-consumer'?",
        ),
        (
            "at = \"1s\"\ndo = \"kill-broker\"\ntarget = 1",
            (19, 10),
            "there is no broker 1",
        ),
        (
            "at = \"1s\"\ndo = \"add-consumer\"\ntarget = \"billing/1\"",
            (19, 10),
            "add-consumer targets a group, not a member",
        ),
    ];
    for (body, pos, needle) in cases {
        let (line, col, msg) = error_at(&event(body));
        assert_eq!((line, col), *pos, "{body}: {msg}");
        assert!(msg.contains(needle), "{body}: {msg}");
    }

    // Members added by add-consumer can be targeted afterwards, not before; a crashed
    // member cannot crash again.
    let two = |first: &str, second: &str| {
        format!("{MINIMAL}\n[[events]]\n{first}\n\n[[events]]\n{second}\n")
    };
    ok(&two(
        "at = \"2s\"\ndo = \"add-consumer\"\ntarget = \"billing\"",
        "at = \"3s\"\ndo = \"crash-consumer\"\ntarget = \"billing/3\"",
    ));
    let (_, _, msg) = error_at(&two(
        "at = \"4s\"\ndo = \"add-consumer\"\ntarget = \"billing\"",
        "at = \"3s\"\ndo = \"crash-consumer\"\ntarget = \"billing/3\"",
    ));
    assert!(msg.contains("no member 3"), "{msg}");
    let (line, col, msg) = error_at(&two(
        "at = \"2s\"\ndo = \"crash-consumer\"\ntarget = \"billing/1\"",
        "at = \"3s\"\ndo = \"remove-consumer\"\ntarget = \"billing/1\"",
    ));
    assert_eq!((line, col), (24, 10));
    assert!(msg.contains("already gone (crash-consumer at 2s)"), "{msg}");
    // A restarted member is still there: it can be restarted again, or crashed.
    let s = ok(&two(
        "at = \"2s\"\ndo = \"restart-consumer\"\ntarget = \"billing/1\"\nfor = \"3s\"",
        "at = \"6s\"\ndo = \"crash-consumer\"\ntarget = \"billing/1\"",
    ));
    assert_eq!(*s.events[0].kind, EventKind::RestartConsumer);
    assert_eq!(
        s.events[0].for_duration.as_deref(),
        Some(&Duration::from_secs(3))
    );
}

#[test]
fn scenario_error_references_and_ranges() {
    let cases: &[(&str, &str, (usize, usize), &str)] = &[
        (
            "topic = \"orders\"\nrate",
            "topic = \"order\"\nrate",
            (8, 9),
            "topic 'order' is not declared in [[topics]]; did you mean 'orders'?",
        ),
        ("rate = 100", "rate = -5", (9, 8), "rate must be above 0"),
        ("rate = 100", "rate = \"100\"", (9, 8), "without quotes"),
        (
            "rate = 100",
            "rate = 100\nrecord_size = 2000000",
            (10, 15),
            "record_size (bytes) must be between 1 and 1048576",
        ),
        (
            "rate = 100",
            "rate = 100\nkeys = \"zipf\"",
            (10, 8),
            "zipf needs an exponent",
        ),
        (
            "rate = 100",
            "rate = 100\nkeys = \"zipf(-1)\"",
            (10, 8),
            "zipf exponent must be a number above 0",
        ),
        (
            "count = 3",
            "count = 0",
            (14, 9),
            "count must be at least 1",
        ),
        (
            "name = \"orders\"",
            "name = \"orders\"\nreplication_factor = 3",
            (6, 22),
            "more than the 1 broker(s)",
        ),
        (
            "duration = \"10s\"",
            "duration = \"10s\"\nwarmup = \"10s\"",
            (3, 10),
            "warmup (10s) must be shorter than duration (10s)",
        ),
        (
            "topic = \"orders\"\ncount",
            "topic = \"orders\"\ntopics = [\"orders\"]\ncount",
            (13, 9),
            "not both",
        ),
        (
            "group = \"billing\"\ntopic = \"orders\"",
            "group = \"billing\"",
            (12, 9),
            "need topic = \"...\" or topics = [...]",
        ),
        (
            "name = \"orders\"",
            "name = \"orders!\"",
            (5, 8),
            "contains '!'",
        ),
        ("rate = 100", "", (7, 1), "missing key 'rate'"),
    ];
    for (from, to, pos, needle) in cases {
        let text = MINIMAL.replacen(from, to, 1);
        assert_ne!(text, MINIMAL, "{from}");
        let (line, col, msg) = error_at(&text);
        assert_eq!((line, col), *pos, "{to}: {msg}");
        assert!(msg.contains(needle), "{to}: {msg}");
    }
}

#[test]
fn scenario_error_sweep_and_misc() {
    let (line, col, msg) = error_at(&format!("{MINIMAL}\n[sweep]\n\"producers.p0.rate\" = 5\n"));
    assert_eq!((line, col), (17, 23));
    assert!(msg.contains("a sweep is an array of values"), "{msg}");
    let (_, _, msg) = error_at(&format!("{MINIMAL}\n[sweep]\n\"producers.p0.rate\" = []\n"));
    assert!(msg.contains("at least one value"), "{msg}");
    let (line, col, msg) = error_at(&format!(
        "{MINIMAL}\n[[producers]]\nname = \"p0\"\ntopic = \"orders\"\nrate = 1\n"
    ));
    assert_eq!((line, col), (17, 8));
    assert!(msg.contains("two producers are named 'p0'"), "{msg}");
    let (line, col, msg) = error_at(&MINIMAL.replace(
        "[[producers]]",
        "[[producers]]\nconfig = { \"acks\" = { a = 1 }, \"acks.a\" = 2 }",
    ));
    assert_eq!((line, col), (8, 10));
    assert!(msg.contains("property 'acks.a' is given twice"), "{msg}");
    let (_, _, msg) = error_at("seed = -1\nduration = \"1s\"\n");
    assert!(msg.contains("seed must be at least 0"), "{msg}");
    let (_, _, msg) = error_at("name = 5\nduration = \"1s\"\n");
    assert_eq!(msg, "expected a string, found integer `5`");
}

#[test]
fn scenario_zipf_and_keys_parse() {
    assert_eq!(Keys::parse("zipf(1.2)"), Ok(Keys::Zipf(1.2)));
    assert_eq!(Keys::parse("zipf( 0.8 )"), Ok(Keys::Zipf(0.8)));
    assert_eq!(Keys::parse("uniform"), Ok(Keys::Uniform));
    assert_eq!(Keys::parse("sequential"), Ok(Keys::Sequential));
    assert_eq!(Keys::parse("none"), Ok(Keys::None));
    assert_eq!(Keys::Zipf(1.2).to_string(), "zipf(1.2)");
    assert!(Keys::parse("zipf(0)").is_err());
    assert!(Keys::parse("zipf(x)").is_err());
    assert!(Keys::parse("unifrom")
        .expect_err("typo")
        .contains("did you mean 'uniform'?"));
}

#[test]
fn scenario_targets_parse() {
    let t = |s: &str| Target::parse(s);
    assert_eq!(
        t("billing/1"),
        Ok(Target {
            name: "billing".into(),
            index: Some(1)
        })
    );
    assert_eq!(
        t("p0"),
        Ok(Target {
            name: "p0".into(),
            index: None
        })
    );
    assert_eq!(t("a/b").map(|t| t.name), Ok("a/b".into()));
    assert!(t("billing/").is_err());
    assert!(t("/1").is_err());
    assert!(t("").is_err());
    assert_eq!(t("0").ok().and_then(|t| t.broker_id()), Some(0));
    assert_eq!(
        t("billing/1").map(|t| t.to_string()),
        Ok("billing/1".into())
    );
}

#[test]
fn scenario_load_errors() {
    let e = load(&scenarios_dir().join("does-not-exist.toml")).expect_err("missing");
    assert!(matches!(e, ScenarioError::Io { .. }));
    assert!(
        e.to_string().contains("does-not-exist.toml: cannot read"),
        "{e}"
    );
    assert_eq!(e.position(), None);

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, b"duration = \"1s\"\nname = \"\xff\"\n").expect("write");
    let e = load(&path).expect_err("not utf-8");
    assert!(e.to_string().contains("not UTF-8"), "{e}");

    let path = dir.path().join("mine.toml");
    std::fs::write(&path, "duration = \"1s\"\n").expect("write");
    let s = load(&path).expect("loads");
    assert_eq!(s.name, "mine");
    std::fs::write(&path, "duration = \"1s\"\nwarmup = \"2s\"\n").expect("write");
    let e = load(&path).expect_err("warmup");
    assert_eq!(
        e.to_string(),
        format!(
            "{}:2:10: warmup (2s) must be shorter than duration (1s)",
            path.display()
        )
    );
}

#[test]
fn scenario_no_panic_on_odd_input() {
    for text in [
        "",
        "\u{feff}duration = \"1s\"",
        "duration = \"1s\"\n[[events]]\nat = \"\"\ndo = \"\"\n",
        "duration = \"99999999999999999999h\"",
        "duration = \"1s\"\n[expect]\n\"\" = 1\n",
        "duration = \"1s\"\n[sweep]\na.b.c = [1]\na.b = [2]\n",
        "duration = \"1s\"\n[cluster]\nbootstrap = \"\"\n",
        "duration = \"1s\"\ncluster = 5\n",
        "é = 1\n",
        "duration = \"1s\"\n[[topics]]\nname = \"ü\"\n",
    ] {
        let _ = parse("odd.toml", text);
    }
    let (line, col, _) = error_at("duration = \"1s\"\n[[topics]]\nname = \"ü\"\n");
    assert_eq!((line, col), (3, 8));
    let (line, col, _) = error_at("\"é\" = 1\n");
    assert_eq!((line, col), (1, 1));
    let (line, col, _) = error_at("x = \"é\"; y = 1\n");
    assert_eq!((line, col), (1, 8));
}

#[test]
fn scenario_readme_example_parses() {
    let readme = std::fs::read_to_string(scenarios_dir().join("README.md")).expect("README");
    let start = readme.find("```toml\n").expect("a toml example") + "```toml\n".len();
    let len = readme[start..].find("```").expect("closed");
    let s = parse("README.md", &readme[start..start + len]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.name, "session-timeout");
    assert_eq!(s.sweep.axes.len(), 1);
}

const SWEEP: &str = r#"
[sweep]
"producer.linger.ms" = [0, 5, 20]
producers.p0.config."batch.size" = [16384, 131072]
"producers.p0.rate" = [100, "max"]
repeats = 2

[[sweep.expect]]
metric = "records_per_request"
along = "producer.linger.ms"
trend = "rises"
ratio = ">= 4"
where = { "producers.p0.rate" = 100 }
"#;

#[test]
fn scenario_sweep_points_apply_their_settings() {
    let s = ok(&format!("{MINIMAL}{SWEEP}"));
    let paths: Vec<&str> = s.sweep.axes.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "producer.linger.ms",
            "producers.p0.config.batch.size",
            "producers.p0.rate"
        ]
    );
    assert_eq!(*s.sweep.repeats, 2);
    assert_eq!(s.sweep.short_names(), ["linger.ms", "batch.size", "rate"]);
    let points = s.sweep_points();
    assert_eq!(points.len(), 3 * 2 * 2);
    // The last axis varies fastest.
    assert_eq!(
        points[1].label(&s.sweep),
        "linger.ms=0, batch.size=16384, rate=max"
    );
    let run = s.with_point(&points[1]).expect("point");
    assert!(run.sweep.is_empty());
    assert_eq!(run.producers[0].config["linger.ms"], "0");
    assert_eq!(run.producers[0].config["batch.size"], "16384");
    assert_eq!(run.producers[0].rate, Rate::Max);
    let last = s.with_point(&points[10]).expect("point");
    assert_eq!(last.producers[0].config["linger.ms"], "20");
    assert_eq!(last.producers[0].rate, Rate::PerSecond(100.0));
    // No sweep: one point, the scenario itself.
    let plain = ok(MINIMAL);
    assert_eq!(plain.sweep_points().len(), 1);
    assert_eq!(
        plain.with_point(&plain.sweep_points()[0]).expect("same"),
        plain
    );

    let e = &s.sweep.expect[0];
    let SweepCheck::Trend { trend, .. } = &e.check else {
        panic!("a trend: {:?}", e.check);
    };
    assert_eq!(
        (e.metric.as_str(), **trend),
        ("records_per_request", Trend::Rises)
    );
    assert_eq!(
        e.filter.value,
        vec![("producers.p0.rate".to_string(), toml::Value::Integer(100))]
    );
    // Round trip through TOML.
    let text = toml::to_string(&s).expect("serialises");
    assert_eq!(
        parse("again.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}")),
        s
    );
}

#[test]
fn scenario_sweep_expectations_check_the_trend_per_line() {
    let s = ok(&format!("{MINIMAL}{SWEEP}"));
    let points = s.sweep_points();
    // records_per_request = linger+1 times 1 (small batches) or 2 (large), so it rises
    // along linger; at rate=max the filter leaves those points out.
    let metrics: Vec<std::collections::BTreeMap<String, f64>> = points
        .iter()
        .map(|p| {
            let linger = p.settings[0].1.as_integer().expect("int") as f64;
            let big = p.settings[1].1.as_integer() == Some(131072);
            [(
                "records_per_request".to_string(),
                (linger + 1.0) * if big { 2.0 } else { 1.0 },
            )]
            .into()
        })
        .collect();
    let out = s.sweep.expect[0].evaluate(&s.sweep, &points, &metrics);
    assert_eq!(out.len(), 2, "one line per batch.size at rate=100: {out:?}");
    assert!(out.iter().all(|o| o.passed), "{out:?}");
    assert_eq!(
        out[0].name,
        "records_per_request rises along linger.ms (batch.size=16384, rate=100)"
    );
    assert_eq!(out[0].check, "rises, last/first >= 4");
    assert_eq!(out[0].measured, serde_json::json!("1 → 6 → 21 (×21)"));
    // Falling values fail, and so does a missing metric.
    let falling: Vec<_> = metrics
        .iter()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), 100.0 - v)).collect())
        .collect();
    assert!(s.sweep.expect[0]
        .evaluate(&s.sweep, &points, &falling)
        .iter()
        .all(|o| !o.passed));
    let empty = vec![std::collections::BTreeMap::new(); points.len()];
    let out = s.sweep.expect[0].evaluate(&s.sweep, &points, &empty);
    assert!(
        out.iter().all(|o| !o.passed && o.measured.is_null()),
        "{out:?}"
    );
}

#[test]
fn scenario_sweep_value_checks_hold_for_each_selected_point() {
    let s = ok(&format!(
        "{MINIMAL}\n[sweep]\n\"producer.acks\" = [\"0\", \"1\", \"all\"]\n\
         \"producers.p0.rate\" = [100, 200]\n\n[[sweep.expect]]\nmetric = \"lost\"\n\
         value = \"= 0\"\nwhere = {{ \"producer.acks\" = \"all\" }}\n"
    ));
    let e = &s.sweep.expect[0];
    assert!(matches!(e.check, SweepCheck::Value(_)), "{:?}", e.check);
    let points = s.sweep_points();
    // lost: 50 with acks=0, 10 with acks=1, 0 with acks=all; rate 200 doubles it.
    let lost = |p: &SweepPoint| {
        let per_acks = match p.settings[0].1.as_str() {
            Some("0") => 50.0,
            Some("1") => 10.0,
            _ => 0.0,
        };
        per_acks
            * if p.settings[1].1.as_integer() == Some(200) {
                2.0
            } else {
                1.0
            }
    };
    let metrics: Vec<std::collections::BTreeMap<String, f64>> = points
        .iter()
        .map(|p| [("lost".to_string(), lost(p))].into())
        .collect();
    let out = e.evaluate(&s.sweep, &points, &metrics);
    assert_eq!(out.len(), 2, "one outcome per acks=all point: {out:?}");
    assert!(out.iter().all(|o| o.passed), "{out:?}");
    assert_eq!(out[0].name, "lost (acks=all, rate=100)");
    assert_eq!(out[0].check, "= 0");
    assert_eq!(out[0].measured, serde_json::json!("0"));
    // One point of acks=all losing a record fails that point only.
    let mut one_lost = metrics.clone();
    one_lost[5].insert("lost".into(), 1.0);
    let out = e.evaluate(&s.sweep, &points, &one_lost);
    assert_eq!(
        out.iter().map(|o| o.passed).collect::<Vec<_>>(),
        [true, false],
        "{out:?}"
    );
    // A missing metric fails.
    let empty = vec![std::collections::BTreeMap::new(); points.len()];
    assert!(e
        .evaluate(&s.sweep, &points, &empty)
        .iter()
        .all(|o| !o.passed && o.measured.is_null()));
    // Round trip through TOML keeps the form.
    let text = toml::to_string(&s).expect("serialises");
    assert_eq!(
        parse("again.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}")),
        s
    );
}

#[test]
fn scenario_sweep_errors_name_the_place() {
    let with = |sweep: &str| error_at(&format!("{MINIMAL}\n[sweep]\n{sweep}"));
    let (line, col, msg) = with("\"producers.p1.rate\" = [1, 2]\n");
    assert_eq!((line, col), (17, 1));
    assert!(
        msg.contains("producer 'p1' is not known; did you mean 'p0'?"),
        "{msg}"
    );
    let (_, _, msg) = with("\"producers.p0.rat\" = [1, 2]\n");
    assert!(
        msg.contains("'rat' cannot be swept here; did you mean 'rate'?"),
        "{msg}"
    );
    let (_, _, msg) = with("\"producer.linger.ms\" = [0, 0]\n");
    assert!(msg.contains("0 is listed twice"), "{msg}");
    let (_, _, msg) = with("\"producers.p0.rate\" = [1, -5]\n");
    assert!(
        msg.contains("sweep value -5 for 'producers.p0.rate'"),
        "{msg}"
    );
    let (_, _, msg) = with("\"consumers.billing.count\" = [1, \"two\"]\n");
    assert!(msg.contains("expected a whole number, found two"), "{msg}");
    let (_, _, msg) = with("\"produce.linger.ms\" = [1]\n");
    assert!(
        msg.contains("unknown section 'produce'; did you mean 'producer'?"),
        "{msg}"
    );
    let (_, _, msg) = with("repeats = 0\n\"producer.linger.ms\" = [1]\n");
    assert!(msg.contains("repeats must be between 1 and 100"), "{msg}");
    let expect = |e: &str| {
        with(&format!(
            "\"producer.linger.ms\" = [0, 20]\n[[sweep.expect]]\n{e}"
        ))
    };
    let (line, _, msg) = expect(
        "metric = \"records_per_requests\"\nalong = \"producer.linger.ms\"\ntrend = \"rises\"\n",
    );
    assert_eq!(line, 19);
    assert!(msg.contains("did you mean 'records_per_request'?"), "{msg}");
    let (line, _, msg) =
        expect("metric = \"lost\"\nalong = \"producer.linger\"\ntrend = \"rises\"\n");
    assert_eq!(line, 20);
    assert!(
        msg.contains("'producer.linger' is not swept; did you mean 'producer.linger.ms'?"),
        "{msg}"
    );
    let (_, _, msg) =
        expect("metric = \"lost\"\nalong = \"producer.linger.ms\"\ntrend = \"grows\"\n");
    assert!(
        msg.contains("unknown trend \"grows\" (expected rises or falls)"),
        "{msg}"
    );
    let (_, _, msg) = expect("metric = \"lost\"\nalong = \"producer.linger.ms\"\ntrend = \"rises\"\nwhere = { \"producer.linger.ms\" = 0 }\n");
    assert!(msg.contains("is the axis the trend runs along"), "{msg}");
    let (_, _, msg) =
        expect("metric = \"lost\"\nalong = \"producer.linger.ms\"\ntrend = \"rises\"\nfoo = 1\n");
    assert!(msg.contains("unknown key 'foo'"), "{msg}");
    let (_, _, msg) = expect("metric = \"lost\"\n");
    assert!(
        msg.contains("needs along + trend (a trend) or value"),
        "{msg}"
    );
    let (_, _, msg) = expect(
        "metric = \"lost\"\nalong = \"producer.linger.ms\"\ntrend = \"rises\"\nvalue = \"= 0\"\n",
    );
    assert!(
        msg.contains("either along + trend or value, not both"),
        "{msg}"
    );
    let (_, _, msg) = expect("metric = \"lost\"\nvalue = \"= 0\"\nratio = \">= 2\"\n");
    assert!(msg.contains("ratio goes with a trend"), "{msg}");
    let (_, _, msg) = expect("metric = \"lost\"\nvalue = \"about zero\"\n");
    assert!(msg.contains("about zero"), "{msg}");
    // A point that makes the scenario invalid: member 2 does not exist with 2 members.
    let (_, _, msg) = error_at(&format!(
        "{MINIMAL}\n[[events]]\nat = \"5s\"\ndo = \"crash-consumer\"\ntarget = \"billing/2\"\n\n[sweep]\n\"consumers.billing.count\" = [3, 2]\n"
    ));
    assert!(
        msg.contains("with count=2: group 'billing' has 2 member(s)"),
        "{msg}"
    );
}

#[test]
fn link_partition_and_disk_events_check_their_fields() {
    let with = |body: &str| format!("{MINIMAL}\n[cluster]\nbrokers = 3\n\n[[events]]\n{body}\n");
    let s = ok(&with(
        "at = \"1s\"\ndo = \"delay-link\"\nfrom = 1\nto = \"clients\"\nlatency = \"200ms\"\nfor = \"5s\"",
    ));
    let e = &s.events[0];
    assert_eq!(e.from.as_deref(), Some(&LinkEnd::Broker(1)));
    assert_eq!(e.to.as_deref(), Some(&LinkEnd::Clients));
    assert_eq!(e.latency.as_deref(), Some(&Duration::from_millis(200)));
    let s = ok(&with(
        "at = \"1s\"\ndo = \"partition-network\"\ngroups = [[0], [1, 2, \"clients\"]]",
    ));
    assert_eq!(
        s.events[0].groups.as_deref(),
        Some(&vec![
            vec![LinkEnd::Broker(0)],
            vec![LinkEnd::Broker(1), LinkEnd::Broker(2), LinkEnd::Clients]
        ])
    );
    ok(&with(
        "at = \"1s\"\ndo = \"loss-link\"\nfrom = 0\nto = 2\nloss = 0.1",
    ));
    ok(&with("at = \"1s\"\ndo = \"heal-network\""));
    ok(&with(
        "at = \"1s\"\ndo = \"slow-disk\"\ntarget = 2\nlatency = \"50ms\"",
    ));
    let cases: &[(&str, &str)] = &[
        (
            "at = \"1s\"\ndo = \"delay-link\"\nfrom = 1\nlatency = \"1s\"",
            "needs both ends",
        ),
        (
            "at = \"1s\"\ndo = \"delay-link\"\nfrom = 1\nto = 0",
            "needs a latency",
        ),
        (
            "at = \"1s\"\ndo = \"delay-link\"\nfrom = 1\nto = 3\nlatency = \"1s\"",
            "there is no broker 3",
        ),
        (
            "at = \"1s\"\ndo = \"delay-link\"\nfrom = 1\nto = 1\nlatency = \"1s\"",
            "are the same node",
        ),
        (
            "at = \"1s\"\ndo = \"loss-link\"\nfrom = 1\nto = 0\nloss = 1.5",
            "'loss' must be above 0",
        ),
        (
            "at = \"1s\"\ndo = \"partition-network\"\ngroups = [[0, 1]]",
            "at least two",
        ),
        (
            "at = \"1s\"\ndo = \"partition-network\"\ngroups = [[0], [0, 1]]",
            "in two groups",
        ),
        ("at = \"1s\"\ndo = \"partition-network\"", "needs its sides"),
        (
            "at = \"1s\"\ndo = \"heal-network\"\nfor = \"1s\"",
            "'for' does not apply",
        ),
        (
            "at = \"1s\"\ndo = \"heal-network\"\ntarget = 1",
            "'target' does not apply",
        ),
        (
            "at = \"1s\"\ndo = \"slow-disk\"\ntarget = 1",
            "needs a latency",
        ),
        (
            "at = \"1s\"\ndo = \"kill-broker\"\ntarget = 1\nlatency = \"1s\"",
            "'latency' does not apply",
        ),
        (
            "at = \"1s\"\ndo = \"delay-link\"\nfrom = \"x\"\nto = 0\nlatency = \"1s\"",
            "not a link end",
        ),
    ];
    for (body, needle) in cases {
        let (_, _, msg) = error_at(&with(body));
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    // Positions point at the offending value.
    let (line, col, _) = error_at(&with(
        "at = \"1s\"\ndo = \"loss-link\"\nfrom = 1\nto = 0\nloss = 2.0",
    ));
    let text = with("at = \"1s\"\ndo = \"loss-link\"\nfrom = 1\nto = 0\nloss = 2.0");
    let want = text
        .lines()
        .position(|l| l.starts_with("loss ="))
        .expect("line")
        + 1;
    assert_eq!((line, col), (want, 8));
}

#[test]
fn scenario_commit_modes_and_reset_offsets() {
    // Default: auto (enable.auto.commit decides).
    assert_eq!(ok(MINIMAL).consumers[0].commit, CommitMode::Auto);
    let s = ok(&MINIMAL.replace("count = 3", "count = 3\ncommit = \"before-processing\""));
    assert_eq!(s.consumers[0].commit, CommitMode::BeforeProcessing);
    let (line, _, msg) = error_at(&MINIMAL.replace("count = 3", "count = 3\ncommit = \"synch\""));
    assert_eq!(line, 15);
    assert!(
        msg.contains("unknown commit mode \"synch\"; did you mean 'sync'?"),
        "{msg}"
    );

    // reset-offsets: a group target and where to.
    let event = |body: &str| format!("{MINIMAL}\n[[events]]\nat = \"5s\"\n{body}\n");
    let s = ok(&event(
        "do = \"reset-offsets\"\ntarget = \"billing\"\noffsets = \"-4s\"",
    ));
    assert_eq!(*s.events[0].kind, EventKind::ResetOffsets);
    assert_eq!(
        s.events[0].offsets.as_deref(),
        Some(&ResetTo::Back(Duration::from_secs(4)))
    );
    let s = ok(&event(
        "do = \"reset-offsets\"\ntarget = \"billing\"\noffsets = 1500",
    ));
    assert_eq!(s.events[0].offsets.as_deref(), Some(&ResetTo::Offset(1500)));
    // A reset keeps the member count: billing/2 still exists afterwards.
    let s = ok(&format!(
        "{}\n[[events]]\nat = \"6s\"\ndo = \"crash-consumer\"\ntarget = \"billing/2\"\n",
        event("do = \"reset-offsets\"\ntarget = \"billing\"\noffsets = \"earliest\"")
    ));
    assert_eq!(s.events.len(), 2);
    let text = toml::to_string(&s).expect("serialises");
    assert_eq!(parse("again.toml", &text).expect("round trip"), s);
    for (body, want) in [
        (
            "do = \"reset-offsets\"\ntarget = \"billing\"",
            "reset-offsets needs where to",
        ),
        (
            "do = \"reset-offsets\"\ntarget = \"billing/1\"\noffsets = 0",
            "targets a group",
        ),
        (
            "do = \"crash-consumer\"\ntarget = \"billing/1\"\noffsets = 0",
            "'offsets' does not apply",
        ),
        (
            "do = \"reset-offsets\"\ntarget = \"billing\"\noffsets = -5",
            "an offset is 0 or more",
        ),
        (
            "do = \"reset-offsets\"\ntarget = \"billing\"\noffsets = \"5s\"",
            "a time back",
        ),
    ] {
        let (_, _, msg) = error_at(&event(body));
        assert!(msg.contains(want), "{body}: {msg}");
    }

    // consumers.<group>.commit is a sweep path.
    let s = ok(&format!(
        "{MINIMAL}\n[sweep]\n\"consumers.billing.commit\" = [\"auto\", \"sync\", \"before-processing\"]\n"
    ));
    let modes: Vec<CommitMode> = s
        .sweep_points()
        .iter()
        .map(|p| s.with_point(p).expect("point").consumers[0].commit)
        .collect();
    assert_eq!(
        modes,
        [
            CommitMode::Auto,
            CommitMode::Sync,
            CommitMode::BeforeProcessing
        ]
    );
    let e = parse(
        "t.toml",
        &format!("{MINIMAL}\n[sweep]\n\"consumers.billing.commit\" = [\"auto\", \"never\"]\n"),
    )
    .expect_err("bad mode");
    assert!(e.message().contains("unknown commit mode \"never\""), "{e}");
}

#[test]
fn a_topic_with_create_false_is_left_to_the_broker_and_takes_no_layout() {
    let s = ok(r#"
duration = "10s"

[[topics]]
name = "signups"
create = false

[[producers]]
topic = "signups"
rate = 10
"#);
    assert!(!*s.topics[0].create);
    assert!(*ok(MINIMAL).topics[0].create, "created by default");
    let (line, col, msg) = error_at(
        r#"
duration = "10s"

[[topics]]
name = "signups"
partitions = 3
create = false
"#,
    );
    assert_eq!((line, col), (7, 10));
    assert!(msg.contains("num.partitions"), "{msg}");
}

#[test]
fn cluster_brokers_is_a_setting_path_and_each_size_is_checked() {
    let base = r#"
duration = "10s"

[cluster]
brokers = 3

[[topics]]
name = "orders"
replication_factor = 3

[[producers]]
topic = "orders"
rate = 10
"#;
    let s = ok(&format!("{base}\n[sweep]\n\"cluster.brokers\" = [3, 4]\n"));
    let sizes: Vec<u32> = s
        .sweep_points()
        .iter()
        .map(|p| s.with_point(p).expect("point").cluster.brokers)
        .collect();
    assert_eq!(sizes, vec![3, 4]);
    // A size the topics do not fit is the sweep's error.
    let (_, _, msg) = error_at(&format!("{base}\n[sweep]\n\"cluster.brokers\" = [2, 3]\n"));
    assert!(msg.contains("replication_factor 3"), "{msg}");
    let (_, _, msg) = error_at(&format!("{base}\n[sweep]\n\"cluster.broker\" = [3, 4]\n"));
    assert!(
        msg.contains("only cluster.brokers and broker settings"),
        "{msg}"
    );
}

mod control;

#[test]
fn scenario_tombstones_share() {
    assert_eq!(*ok(MINIMAL).producers[0].tombstones, 0.0);
    let with = |line: &str| MINIMAL.replace("rate = 100", &format!("rate = 100\n{line}"));
    let s = ok(&with("keys = \"uniform\"\ntombstones = 0.1"));
    assert_eq!(*s.producers[0].tombstones, 0.1);
    let s = ok(&with("keys = \"uniform\"\ntombstones = 1"));
    assert_eq!(*s.producers[0].tombstones, 1.0);
    let (line, _, msg) = error_at(&with("keys = \"uniform\"\ntombstones = 1.5"));
    assert_eq!(line, 11);
    assert!(msg.contains("between 0 and 1"), "{msg}");
    let (line, _, msg) = error_at(&with("tombstones = 0.1"));
    assert_eq!(line, 10);
    assert!(msg.contains("tombstones need keys"), "{msg}");
}
