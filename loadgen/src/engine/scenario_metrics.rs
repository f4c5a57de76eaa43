//! Scenario metrics: what the run is doing, on the same endpoint as the broker and
//! client metrics, so Grafana can show the phase, draw the timeline events as
//! annotations and list the expectations.
//!
//! Every label value comes from the scenario file (its name, seed, event kinds and
//! targets, `[expect]` entries) or from a closed set (phases, event kinds, latency
//! measures): bounded by construction.
//!
//! The engine reads no wall clock: event timestamps are the Unix time the CLI read just
//! before the run (`RunOptions::started_unix`) plus the elapsed `tokio::time::Instant`,
//! so an event is stamped when it happened, not up to a few seconds early.

use prometheus::{GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry};
use tokio::time::Instant;

use crate::client::producer::metrics::MetricDoc;
use crate::measure::{ExpectationOutcome, IntervalLatency, SecondSample};
use crate::scenario::{Event, EventKind, Scenario};

pub const DOCS: &[MetricDoc] = &[
    MetricDoc {
        name: "kafkalab_scenario_info",
        kind: "gauge",
        labels: "scenario, seed",
        help: "Always 1 while a scenario runs; the labels name the scenario and the seed that replays it.",
        kafka: "(none; like the app-info MBean: kafka.producer:type=app-info)",
    },
    MetricDoc {
        name: "kafkalab_scenario_phase",
        kind: "gauge",
        labels: "phase",
        help: "1 for the run's current phase, 0 for the others: warm-up (not measured), measure, drain (producers stopped, consumers catching up), done.",
        kafka: "(none)",
    },
    MetricDoc {
        name: "kafkalab_scenario_events_total",
        kind: "counter",
        labels: "kind",
        help: "Timeline events applied, by kind (crash-consumer, add-consumer, set-rate, kill-broker, ...).",
        kafka: "(none)",
    },
    MetricDoc {
        name: "kafkalab_scenario_last_event_timestamp_seconds",
        kind: "gauge",
        labels: "kind, target",
        help: "Unix time of the latest event of this kind and target (Grafana annotations use the value as the event time).",
        kafka: "(none)",
    },
    MetricDoc {
        name: "kafkalab_scenario_expectation_status",
        kind: "gauge",
        labels: "expectation, check",
        help: "An [expect] entry: -1 until the run ends and evaluates it, then 1 when it held and 0 when it failed.",
        kafka: "(none)",
    },
    MetricDoc {
        name: "kafkalab_scenario_latency_seconds",
        kind: "gauge",
        labels: "measure, percentile",
        help: "Percentiles of the last second's latency from the run's hdrhistograms, measured from each record's intended send time (coordinated omission corrected): measure=produce (to acknowledgement) or e2e (to consumption); percentile p50, p99, p99.9, max. Not a summary: the percentiles are of the last second only. No sample in a second: the series is absent.",
        kafka: "(producer-metrics request-latency-avg/max is the closest; Kafka has no end-to-end metric)",
    },
];

/// The phases of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    WarmUp,
    Measure,
    Drain,
    Done,
}

impl Phase {
    pub const ALL: [Phase; 4] = [Phase::WarmUp, Phase::Measure, Phase::Drain, Phase::Done];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::WarmUp => "warm-up",
            Phase::Measure => "measure",
            Phase::Drain => "drain",
            Phase::Done => "done",
        }
    }
}

/// The metrics of one run; every method does nothing when the run has no registry.
pub struct ScenarioMetrics {
    inner: Option<Inner>,
}

struct Inner {
    phase: IntGaugeVec,
    events: IntCounterVec,
    last_event: GaugeVec,
    expectations: IntGaugeVec,
    latency: GaugeVec,
    /// Unix seconds at `started`.
    started_unix: f64,
    started: Instant,
}

fn metric_opts(name: &str) -> Opts {
    Opts::new(
        name,
        DOCS.iter().find(|d| d.name == name).map_or("", |d| d.help),
    )
}

impl ScenarioMetrics {
    /// Registers the run's metrics on `registry` (if any): info, phase (warm-up, or
    /// measure without a warm-up), an event counter at 0 for every kind, and every
    /// expectation as not yet evaluated. `started_at` is the run's RFC 3339 start time.
    pub fn start(
        registry: Option<&Registry>,
        scenario: &Scenario,
        seed: u64,
        started_unix: Option<f64>,
        started_at: &str,
    ) -> ScenarioMetrics {
        let Some(registry) = registry else {
            return ScenarioMetrics { inner: None };
        };
        let started_unix = started_unix.or_else(|| unix_seconds(started_at));
        let metrics = match Inner::register(registry, scenario, seed, started_unix) {
            Ok(inner) => ScenarioMetrics { inner: Some(inner) },
            Err(e) => {
                tracing::warn!("scenario metrics not registered: {e}");
                ScenarioMetrics { inner: None }
            }
        };
        metrics.phase(if scenario.warmup.is_zero() {
            Phase::Measure
        } else {
            Phase::WarmUp
        });
        metrics
    }

    pub fn phase(&self, phase: Phase) {
        if let Some(m) = &self.inner {
            for p in Phase::ALL {
                m.phase
                    .with_label_values(&[p.as_str()])
                    .set(i64::from(p == phase));
            }
        }
    }

    /// A timeline event is being applied now.
    pub fn event(&self, ev: &Event) {
        let Some(m) = &self.inner else { return };
        let kind = ev.kind.as_str();
        let target = ev
            .target
            .as_ref()
            .map(|t| match t.index {
                Some(i) => format!("{}/{i}", t.name),
                None => t.name.to_string(),
            })
            .unwrap_or_default();
        m.events.with_label_values(&[kind]).inc();
        let at = m.started_unix + m.started.elapsed().as_secs_f64();
        m.last_event.with_label_values(&[kind, &target]).set(at);
    }

    /// The latency percentiles of the second just sampled.
    pub fn second(&self, sample: &SecondSample) {
        let Some(m) = &self.inner else { return };
        for (measure, latency) in [
            ("produce", &sample.produce_latency),
            ("e2e", &sample.e2e_latency),
        ] {
            set_latency(&m.latency, measure, latency.as_ref());
        }
    }

    /// The run is over: the evaluated `[expect]` entries replace the not-yet-evaluated
    /// ones, and the phase becomes done.
    pub fn finish(&self, outcomes: &[ExpectationOutcome]) {
        let Some(m) = &self.inner else { return };
        m.expectations.reset();
        for o in outcomes {
            m.expectations
                .with_label_values(&[&o.name, &o.check])
                .set(i64::from(o.passed));
        }
        self.phase(Phase::Done);
    }
}

fn set_latency(gauges: &GaugeVec, measure: &str, latency: Option<&IntervalLatency>) {
    let percentiles = |l: &IntervalLatency| {
        [
            ("p50", l.p50_ms),
            ("p99", l.p99_ms),
            ("p99.9", l.p999_ms),
            ("max", l.max_ms),
        ]
    };
    match latency {
        Some(l) => {
            for (q, ms) in percentiles(l) {
                gauges.with_label_values(&[measure, q]).set(ms / 1000.0);
            }
        }
        // A second without samples (a stall, a stopped producer) leaves a gap rather
        // than repeating the previous second's figure.
        None => {
            for (q, _) in percentiles(&IntervalLatency::default()) {
                let _ = gauges.remove_label_values(&[measure, q]);
            }
        }
    }
}

impl Inner {
    fn register(
        registry: &Registry,
        scenario: &Scenario,
        seed: u64,
        started_unix: Option<f64>,
    ) -> prometheus::Result<Inner> {
        let info = IntGaugeVec::new(metric_opts("kafkalab_scenario_info"), &["scenario", "seed"])?;
        info.with_label_values(&[scenario.name.as_str(), &seed.to_string()])
            .set(1);
        let inner = Inner {
            phase: IntGaugeVec::new(metric_opts("kafkalab_scenario_phase"), &["phase"])?,
            events: IntCounterVec::new(metric_opts("kafkalab_scenario_events_total"), &["kind"])?,
            last_event: GaugeVec::new(
                metric_opts("kafkalab_scenario_last_event_timestamp_seconds"),
                &["kind", "target"],
            )?,
            expectations: IntGaugeVec::new(
                metric_opts("kafkalab_scenario_expectation_status"),
                &["expectation", "check"],
            )?,
            latency: GaugeVec::new(
                metric_opts("kafkalab_scenario_latency_seconds"),
                &["measure", "percentile"],
            )?,
            started_unix: started_unix.unwrap_or(0.0),
            started: Instant::now(),
        };
        for k in EventKind::ALL {
            inner.events.with_label_values(&[k.as_str()]);
        }
        for e in &scenario.expect {
            inner
                .expectations
                .with_label_values(&[e.metric.as_str(), &e.check.to_string()])
                .set(-1);
        }
        registry.register(Box::new(info))?;
        registry.register(Box::new(inner.phase.clone()))?;
        registry.register(Box::new(inner.events.clone()))?;
        registry.register(Box::new(inner.last_event.clone()))?;
        registry.register(Box::new(inner.expectations.clone()))?;
        registry.register(Box::new(inner.latency.clone()))?;
        if started_unix.is_none() {
            tracing::warn!("no run start time: event timestamps count from 1970");
        }
        Ok(inner)
    }
}

/// Unix seconds of an RFC 3339 UTC time as the CLI writes it (`2026-11-25T08:15:00Z`).
fn unix_seconds(s: &str) -> Option<f64> {
    s.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_second() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STARTED_AT: &str = "2026-11-25T08:15:00Z";

    fn scenario() -> Scenario {
        crate::scenario::parse(
            "s.toml",
            r#"
name = "s"
duration = "10s"
warmup = "2s"
[[topics]]
name = "t"
[[producers]]
topic = "t"
rate = 10
[[consumers]]
group = "g"
topic = "t"
count = 2
[[events]]
at = "3s"
do = "crash-consumer"
target = "g/1"
[expect]
lost = 0
rebalances = ">= 1"
"#,
        )
        .expect("valid scenario")
    }

    fn value(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let families = registry.gather();
        let f = families.iter().find(|f| f.name() == name)?;
        let m = f.get_metric().iter().find(|m| {
            labels.iter().all(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == *k && l.value() == *v)
            })
        })?;
        Some(match f.get_field_type() {
            prometheus::proto::MetricType::COUNTER => m.get_counter().get_value(),
            _ => m.get_gauge().get_value(),
        })
    }

    #[test]
    fn unix_seconds_inverts_the_cli_format() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(unix_seconds("2000-03-01T00:00:01Z"), Some(951_868_801.0));
        assert_eq!(unix_seconds("2026-11-25T08:15:00Z"), Some(1_795_594_500.0));
        assert_eq!(unix_seconds("2024-02-29T23:59:59Z"), Some(1_709_251_199.0));
        assert_eq!(unix_seconds("2026-13-01T00:00:00Z"), None);
        assert_eq!(unix_seconds("yesterday"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_exports_info_phase_events_and_expectations() {
        let registry = Registry::new();
        let s = scenario();
        let m = ScenarioMetrics::start(Some(&registry), &s, 42, None, STARTED_AT);
        let info = [("scenario", "s"), ("seed", "42")];
        assert_eq!(value(&registry, "kafkalab_scenario_info", &info), Some(1.0));
        let phase = |p: &str| value(&registry, "kafkalab_scenario_phase", &[("phase", p)]);
        assert_eq!(phase("warm-up"), Some(1.0));
        assert_eq!(phase("measure"), Some(0.0));
        // Every kind is there from the start, at 0, so rates have a baseline.
        let events = |k: &str| value(&registry, "kafkalab_scenario_events_total", &[("kind", k)]);
        assert_eq!(events("kill-broker"), Some(0.0));
        let status = |e: &str| {
            value(
                &registry,
                "kafkalab_scenario_expectation_status",
                &[("expectation", e)],
            )
        };
        assert_eq!(status("rebalances"), Some(-1.0));

        tokio::time::advance(std::time::Duration::from_millis(3500)).await;
        m.phase(Phase::Measure);
        m.event(&s.events[0]);
        assert_eq!(events("crash-consumer"), Some(1.0));
        let at = value(
            &registry,
            "kafkalab_scenario_last_event_timestamp_seconds",
            &[("kind", "crash-consumer"), ("target", "g/1")],
        )
        .expect("timestamp");
        assert!((at - 1_795_594_503.5).abs() < 1e-3, "{at}");
        assert_eq!(phase("warm-up"), Some(0.0));
        assert_eq!(phase("measure"), Some(1.0));

        let mut sample = SecondSample::new(4);
        sample.e2e_latency = Some(IntervalLatency {
            count: 10,
            p50_ms: 2.0,
            p99_ms: 9.0,
            p999_ms: 9.5,
            max_ms: 10.0,
        });
        m.second(&sample);
        let lat = |measure: &str, q: &str| {
            value(
                &registry,
                "kafkalab_scenario_latency_seconds",
                &[("measure", measure), ("percentile", q)],
            )
        };
        assert_eq!(lat("e2e", "p99"), Some(0.009));
        assert_eq!(lat("produce", "p99"), None);
        m.second(&SecondSample::new(5));
        assert_eq!(lat("e2e", "p99"), None, "a second without samples is a gap");
        m.second(&sample);

        m.finish(&[ExpectationOutcome {
            name: "rebalances".into(),
            check: ">= 1".into(),
            measured: serde_json::json!(2),
            passed: true,
        }]);
        assert_eq!(status("rebalances"), Some(1.0));
        assert_eq!(status("lost"), None, "only the evaluated entries remain");
        assert_eq!(phase("done"), Some(1.0));

        let names: Vec<String> = registry
            .gather()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        for d in DOCS {
            assert!(names.iter().any(|n| n == d.name), "{} not exported", d.name);
        }
        assert_eq!(names.len(), DOCS.len(), "{names:?}");
    }

    #[test]
    fn without_a_registry_nothing_happens() {
        let s = scenario();
        let m = ScenarioMetrics::start(None, &s, 42, None, STARTED_AT);
        m.phase(Phase::Measure);
        m.event(&s.events[0]);
        assert!(m.inner.is_none());
    }
}
