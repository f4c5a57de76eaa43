//! docs/metrics.md is generated from the metric tables in the code (broker, group
//! coordinator, producer, consumer); this test fails when the file is out of date.
//! Regenerate with `UPDATE_DOCS=1 cargo test -p kafkalab --test metrics_doc`.

type Row = [&'static str; 5];

fn sections() -> Vec<(&'static str, Vec<Row>)> {
    use kafkalab_broker::{group, metrics};
    use kafkalab_loadgen::client::{consumer, producer};
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
    ]
}

fn render() -> String {
    let mut out = String::from(
        "# Metrics\n\nGenerated from the metric tables in the code (`broker/src/metrics.rs`, `broker/src/group/metrics.rs`,\n`loadgen/src/client/{producer,consumer}/metrics.rs`); a test fails when this file is out of date.\nRegenerate with `UPDATE_DOCS=1 cargo test -p kafkalab --test metrics_doc`.\n\n`kafkalab broker` serves the broker and group metrics; `kafkalab run` serves all of them on one endpoint.\nLabel values come from closed sets (API names, error names, causes) or from the run's own topics, groups and clients.\n",
    );
    for (title, rows) in sections() {
        out.push_str(&format!("\n## {title}\n\n| metric | type | labels | meaning | Kafka counterpart |\n|---|---|---|---|---|\n"));
        for [name, kind, labels, help, kafka] in rows {
            let labels = if labels.is_empty() { "—" } else { labels };
            out.push_str(&format!(
                "| `{name}` | {kind} | {labels} | {help} | `{kafka}` |\n"
            ));
        }
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
    for (_, rows) in sections() {
        for [name, kind, ..] in rows {
            assert!(name.starts_with("kafkalab_"), "{name}");
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter without _total: {name}");
            }
        }
    }
}
