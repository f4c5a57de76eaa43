//! docs/metrics.md is generated from the metric tables in the code (broker, group
//! coordinator, producer, consumer, scenario); this test fails when the file is out of
//! date. Regenerate with `UPDATE_DOCS=1 cargo test -p kafkalab --test metrics_doc`.

/// name, type, labels, meaning, Kafka counterpart.
type Row = [&'static str; 5];

fn sections() -> Vec<(&'static str, Vec<Row>)> {
    use kafkalab_broker::{group, metrics};
    use kafkalab_loadgen::client::{consumer, producer};
    use kafkalab_loadgen::engine::scenario_metrics;
    vec![
        (
            "Broker",
            metrics::DOCS
                .iter()
                .map(|d| [d.name, d.kind, d.labels, d.help, d.kafka])
                .collect(),
        ),
        (
            "Consumer groups (coordinator)",
            group::metrics::DOCS
                .iter()
                .map(|d| [d.name, d.kind, d.labels, d.help, d.kafka])
                .collect(),
        ),
        (
            "Producer (native client)",
            producer::metrics::DOCS
                .iter()
                .map(|d| [d.name, d.kind, d.labels, d.help, d.kafka])
                .collect(),
        ),
        (
            "Consumer (native client)",
            consumer::metrics::DOCS
                .iter()
                .map(|d| [d.name, d.kind, d.labels, d.help, d.kafka])
                .collect(),
        ),
        (
            "Scenario run (`kafkalab run` only)",
            scenario_metrics::DOCS
                .iter()
                .map(|d| [d.name, d.kind, d.labels, d.help, d.kafka])
                .collect(),
        ),
    ]
}

/// Every label a metric may carry, with where its values come from: each is a closed
/// set or bounded by what the run (or the cluster) itself creates, never by traffic.
const LABELS: &[(&str, &str)] = &[
    ("api", "Kafka API name (`Produce`, `Fetch`, ...): the APIs the broker supports"),
    ("error", "Kafka error name (`REBALANCE_IN_PROGRESS`, ...): Kafka's error codes"),
    ("reason", "why a connection was closed: `malformed_frame`, `malformed_request`, `unsupported_version`, `unknown_api`"),
    ("topic", "the cluster's topics"),
    ("partition", "the topic's partition numbers"),
    ("group", "the cluster's consumer groups"),
    ("cause", "why a member left: `session_timeout`, `rebalance_timeout`, `leave`, `removed`"),
    ("state", "group state: `Empty`, `PreparingRebalance`, `CompletingRebalance`, `Stable`, `Dead`, `Assigning`, `Reconciling`"),
    ("client_id", "one per client instance (`client.id`; the run names them `<producer>-<n>`, `<group>-<n>`)"),
    ("scenario", "the scenario's `name`"),
    ("seed", "the run's seed"),
    ("phase", "`warm-up`, `measure`, `drain`, `done`"),
    ("kind", "timeline event kind: `add-consumer`, `remove-consumer`, `crash-consumer`, `freeze-consumer`, `stop-producer`, `start-producer`, `set-rate`, `kill-broker`, `restart-broker`, `pause-broker`, `delay-link`"),
    ("target", "an event's `target` as written in the scenario (`billing/1`, `p0`), empty when it has none"),
    ("expectation", "an `[expect]` entry's metric (`lost`, `rebalances`, ...)"),
    ("check", "an `[expect]` entry's check as written (`>= 1`, `9..12`)"),
    ("measure", "`produce` (intended send to acknowledgement) or `e2e` (intended send to consumption)"),
    ("percentile", "`p50`, `p99`, `p99.9`, `max`"),
    ("election", "how leadership changed: `clean` (from the ISR), `unclean` (outside it), `offline` (no leader), `preferred` (rebalance)"),
];

/// The unit of a metric, from its name: Prometheus names carry their base unit as a
/// suffix (`_seconds`, `_bytes`); the rest are counts of what the meaning says, or one
/// of a few dimensionless kinds.
fn unit(name: &str) -> &'static str {
    let base = name.strip_suffix("_total").unwrap_or(name);
    if base.ends_with("_timestamp_seconds") {
        "seconds (Unix time)"
    } else if base.contains("_seconds") {
        "seconds"
    } else if base.contains("_bytes") {
        "bytes"
    } else if base.ends_with("_rate") {
        "ratio"
    } else if base.ends_with("_offset") {
        "offset"
    } else if base.ends_with("_generation") {
        "generation id"
    } else if base.ends_with("_controller_id") {
        "node id"
    } else if base.ends_with("_up") {
        "1 or 0"
    } else if base.ends_with("_info") {
        "1 (the labels carry the information)"
    } else if base.ends_with("_phase") || base.ends_with("_status") {
        "state (see meaning)"
    } else {
        "count"
    }
}

fn render() -> String {
    let mut out = String::from(
        "# Metrics\n\nGenerated from the metric tables in the code (`broker/src/metrics.rs`, `broker/src/group/metrics.rs`,\n`loadgen/src/client/{producer,consumer}/metrics.rs`, `loadgen/src/engine/scenario_metrics.rs`); a test fails\nwhen this file is out of date. Regenerate with `UPDATE_DOCS=1 cargo test -p kafkalab --test metrics_doc`.\n\n`kafkalab broker` serves the broker and group metrics; `kafkalab run` serves all of them on one endpoint\n(the broker's only when it runs the embedded broker). Units are base units, named in the metric (`_seconds`,\n`_bytes`). Every latency histogram has the same buckets, 50 µs to 30 s, so `histogram_quantile` works on\neach and they aggregate across clients. The Grafana dashboards that use these metrics are in `dashboards/`.\n",
    );
    for (title, rows) in sections() {
        out.push_str(&format!("\n## {title}\n\n| metric | type | unit | labels | meaning | Kafka counterpart |\n|---|---|---|---|---|---|\n"));
        for [name, kind, labels, help, kafka] in rows {
            let labels = if labels.is_empty() { "—" } else { labels };
            let unit = unit(name);
            out.push_str(&format!(
                "| `{name}` | {kind} | {unit} | {labels} | {help} | `{kafka}` |\n"
            ));
        }
    }
    out.push_str("\n## Labels\n\nLabel values come from closed sets or from what the run or the cluster itself creates, never from\nrecord contents, so the number of series stays bounded.\n\n| label | values |\n|---|---|\n");
    for (label, values) in LABELS {
        out.push_str(&format!("| `{label}` | {values} |\n"));
    }
    out
}

#[test]
fn metrics_doc_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/metrics.md");
    let want = render();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).expect("write docs/metrics.md");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/metrics.md is out of date: run UPDATE_DOCS=1 cargo test -p kafkalab --test metrics_doc"
    );
}

#[test]
fn metric_names_follow_the_conventions() {
    let mut seen = std::collections::BTreeSet::new();
    for (_, rows) in sections() {
        for [name, kind, _, help, kafka] in rows {
            assert!(seen.insert(name), "{name} documented twice");
            assert!(name.starts_with("kafkalab_"), "{name}");
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "{name}: type {kind}"
            );
            assert_eq!(
                kind == "counter",
                name.ends_with("_total"),
                "{name}: `_total` is for counters and only counters"
            );
            if kind == "histogram" {
                let unit = unit(name);
                assert!(
                    unit != "count" || name.ends_with("_per_request"),
                    "{name}: a histogram's name states its unit"
                );
            }
            assert!(!help.is_empty(), "{name}: no meaning");
            assert!(
                !kafka.is_empty(),
                "{name}: no Kafka counterpart (say `(none)`)"
            );
        }
    }
}

#[test]
fn every_label_has_a_bounded_value_set() {
    for (_, rows) in sections() {
        for [name, _, labels, ..] in rows {
            for label in labels.split(',').map(str::trim).filter(|l| !l.is_empty()) {
                assert!(
                    LABELS.iter().any(|(l, _)| *l == label),
                    "{name}: label `{label}` is not in LABELS (say where its values come from and why they are bounded)"
                );
            }
        }
    }
}

#[test]
fn client_and_broker_latency_histograms_share_buckets_from_50us_to_30s() {
    let broker = kafkalab_broker::metrics::latency_buckets();
    let client = kafkalab_loadgen::client::producer::metrics::latency_buckets();
    assert_eq!(broker, client, "the two bucket lists drifted apart");
    assert_eq!(broker.first().copied(), Some(0.00005));
    assert_eq!(broker.last().copied(), Some(30.0));
    assert!(broker.windows(2).all(|w| w[0] < w[1]), "buckets ascend");
    // At least three buckets per decade, so histogram_quantile resolves each range.
    for decade in [1e-3, 1e-2, 1e-1, 1.0, 10.0] {
        let n = broker
            .iter()
            .filter(|&&b| b > decade / 10.0 && b <= decade)
            .count();
        assert!(n >= 3, "{n} buckets in ({}, {decade}]", decade / 10.0);
    }
}
