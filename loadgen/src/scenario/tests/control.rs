//! `[control]`: parsing, application (settings, dropped events, narrowed sweep axes),
//! and the errors a bad control gets.

use super::{error_at, ok};
use crate::scenario::SweepCheck;

const LESSON: &str = r#"
module = "groups"
setting = "session.timeout.ms"
duration = "20s"

[[topics]]
name = "orders"
partitions = 2

[[producers]]
name = "p0"
topic = "orders"
rate = 100
config = { "linger.ms" = 20 }

[[consumers]]
group = "billing"
topic = "orders"
count = 2

[[events]]
at = "5s"
do = "crash-consumer"
target = "billing/1"

[[events]]
name = "slowdown"
at = "6s"
do = "set-rate"
target = "p0"
rate = 10

[[events]]
at = "8s"
do = "set-rate"
target = "p0"
rate = 50

[expect]
detection_s = "7..13"
"#;

#[test]
fn settings_apply_and_events_drop_by_kind_or_name() {
    let text = format!(
        "{LESSON}\n[control]\nabout = \"no crash\"\ndrop_events = [\"crash-consumer\", \"slowdown\"]\n\
         \"producers.p0.config.linger.ms\" = 0\nconsumer.session.timeout.ms = 45000\n"
    );
    let s = ok(&text);
    assert_eq!(s.module.as_ref().map(|m| m.value.as_str()), Some("groups"));
    assert_eq!(s.setting, "session.timeout.ms");
    assert!(s.controlled.is_none());
    let c = s.with_control().expect("control applies");
    assert_eq!(c.name, "t-control");
    assert!(c.control.is_empty() && c.controlled.is_some());
    // The crash and the named set-rate are gone; the unnamed set-rate stays.
    assert_eq!(c.events.len(), 1);
    assert_eq!(c.events[0].kind.as_str(), "set-rate");
    assert_eq!(c.producers[0].config["linger.ms"], "0");
    assert_eq!(c.consumers[0].config["session.timeout.ms"], "45000");
    // detection_s stays: with its event gone it has no value and fails, as a control should.
    assert_eq!(c.expect.len(), 1);
    let text = c.controlled.as_ref().map(|c| c.text()).unwrap_or_default();
    assert_eq!(
        text,
        "producers.p0.config.linger.ms = 0; consumer.session.timeout.ms = 45000; \
         without crash-consumer, slowdown — no crash"
    );
    // The scenario as written keeps its events.
    assert_eq!(s.events.len(), 3);
}

#[test]
fn a_control_axis_narrows_the_sweep_and_its_where_then_fails() {
    let text = r#"
duration = "5s"
[[topics]]
name = "t"
[[producers]]
topic = "t"
rate = 100
[sweep]
"producer.acks" = ["0", "1", "all"]
[[sweep.expect]]
metric = "lost"
value = ">= 1"
where = { "producer.acks" = "1" }
[[sweep.expect]]
metric = "p50_produce_ms"
along = "producer.acks"
trend = "rises"
[control]
"producer.acks" = "all"
"#;
    let s = ok(text);
    let c = s.with_control().expect("control applies");
    assert_eq!(c.sweep.axes[0].values, vec![toml::Value::from("all")]);
    let points = c.sweep_points();
    assert_eq!(points.len(), 1);
    let metrics = vec![[("lost".to_string(), 5.0), ("p50_produce_ms".into(), 3.0)]
        .into_iter()
        .collect()];
    for e in &c.sweep.expect {
        let outcomes = e.evaluate(&c.sweep, &points, &metrics);
        assert!(!outcomes.is_empty());
        assert!(
            outcomes.iter().all(|o| !o.passed),
            "{:?} passed under the control: {outcomes:?}",
            matches!(e.check, SweepCheck::Trend { .. })
        );
    }
    // Without the control the same metrics would pass the value check.
    let points = s.sweep_points();
    let metrics: Vec<_> = points
        .iter()
        .map(|_| [("lost".to_string(), 5.0)].into_iter().collect())
        .collect();
    assert!(s.sweep.expect[0]
        .evaluate(&s.sweep, &points, &metrics)
        .iter()
        .all(|o| o.passed));
}

#[test]
fn bad_controls_are_reported_where_they_are_written() {
    let at = |control: &str| error_at(&format!("{LESSON}\n[control]\n{control}\n"));
    // The line after `[control]`.
    let first = format!("{LESSON}\n[control]\n").lines().count() + 1;

    let (line, col, msg) = at("\"producers.p9.config.linger.ms\" = 0");
    assert_eq!((line, col), (first, 1), "{msg}");
    assert!(
        msg.contains("[control]") && msg.contains("producer 'p9'"),
        "{msg}"
    );

    let (line, _, msg) = at("about = \"x\"\ndrop_events = [\"freeze-consumer\"]");
    assert_eq!(line, first + 1, "{msg}");
    assert!(
        msg.contains("no event is named or of kind 'freeze-consumer'"),
        "{msg}"
    );

    let (_, _, msg) = at("\"producer.linger.ms\" = [0, 5]");
    assert!(msg.contains("one value"), "{msg}");

    let (_, _, msg) = at("about = \"only words\"");
    assert!(msg.contains("only `about`"), "{msg}");

    let (_, _, msg) = at("\"producer.linger.ms\" = 0\nproducer.linger.ms = 1");
    assert!(
        msg.contains("set twice") || msg.contains("duplicate"),
        "{msg}"
    );
}

#[test]
fn event_names_are_unique_and_not_kinds() {
    let dup = LESSON.replace("at = \"8s\"", "name = \"slowdown\"\nat = \"8s\"");
    let (_, _, msg) = error_at(&dup);
    assert!(msg.contains("'slowdown' is used twice"), "{msg}");
    let kind = LESSON.replace("name = \"slowdown\"", "name = \"set-rate\"");
    let (_, _, msg) = error_at(&kind);
    assert!(msg.contains("is an event kind"), "{msg}");
}

#[test]
fn no_control_no_control_run() {
    let s = ok(LESSON);
    let e = s.with_control().expect_err("nothing to apply");
    assert!(e.contains("no [control] table"), "{e}");
}

#[test]
fn modules_are_checked() {
    let (line, col, msg) = error_at(&LESSON.replace("\"groups\"", "\"grups\""));
    assert_eq!((line, col), (2, 10), "{msg}");
    assert!(msg.contains("did you mean 'groups'"), "{msg}");
}

#[test]
fn scoped_expectations_name_entities_of_the_scenario() {
    let s = ok(&format!(
        "{LESSON}\n\"groups.billing.duplicates\" = 0\n\"producers.p0.records_per_request\" = \">= 20\"\n\
         \"producers.p0.produce_errors.NOT_ENOUGH_REPLICAS\" = \">= 1\"\n\"produce_errors.MESSAGE_TOO_LARGE\" = 0\n"
    ));
    assert_eq!(s.expect.len(), 5);
    let (_, _, msg) = error_at(&format!("{LESSON}\n\"groups.biling.duplicates\" = 0\n"));
    assert!(
        msg.contains("no consumer group 'biling'") && msg.contains("did you mean 'billing'"),
        "{msg}"
    );
    let (_, _, msg) = error_at(&format!("{LESSON}\n\"producers.p0.rebalances\" = 0\n"));
    assert!(msg.contains("names no producer metric"), "{msg}");
    let (_, _, msg) = error_at(&format!("{LESSON}\n\"produce_errors.not_upper\" = 0\n"));
    assert!(msg.contains("unknown expectation"), "{msg}");
    let (_, _, msg) = error_at(&format!("{LESSON}\ngroups.billing.lost = 0\n"));
    assert!(msg.contains("quote a dotted metric name"), "{msg}");
}
