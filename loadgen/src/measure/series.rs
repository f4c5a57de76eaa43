//! The one-second time series of a run (for plots in the report and the live view).
//!
//! Once a second the run's collector reads its counters ([`IntervalCounter::take_interval`]),
//! the interval histograms ([`super::LatencyRecorder::take_interval`]), lag and group state,
//! and pushes one [`SecondSample`]; events become [`Marker`]s. The whole [`Series`] is
//! serialised into `report.json`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::latency::LatencySummary;
use super::verify::PartitionId;

/// A monotonically increasing counter shared by the tasks of a run (relaxed atomics:
/// one `fetch_add` per call), read as per-interval deltas by a single collector.
#[derive(Debug, Default)]
pub struct IntervalCounter {
    total: AtomicU64,
    taken: AtomicU64,
}

impl IntervalCounter {
    /// A zero counter.
    pub const fn new() -> Self {
        Self {
            total: AtomicU64::new(0),
            taken: AtomicU64::new(0),
        }
    }

    /// Adds `n` (batch your increments where you can).
    #[inline]
    pub fn add(&self, n: u64) {
        self.total.fetch_add(n, Ordering::Relaxed);
    }

    /// Everything added so far.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// What was added since the previous call (single collector).
    pub fn take_interval(&self) -> u64 {
        let now = self.total.load(Ordering::Relaxed);
        let before = self.taken.swap(now, Ordering::Relaxed);
        now.saturating_sub(before)
    }
}

/// Latency percentiles of one second, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct IntervalLatency {
    /// Samples in the second.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl IntervalLatency {
    /// The percentiles of an interval summary; `None` when it has no samples (so plots
    /// show a gap rather than a zero).
    pub fn from_summary(s: &LatencySummary) -> Option<Self> {
        (s.count > 0).then_some(Self {
            count: s.count,
            p50_ms: s.p50_ms,
            p99_ms: s.p99_ms,
            p999_ms: s.p999_ms,
            max_ms: s.max_ms,
        })
    }
}

/// Consumer lag of one partition for one group, at the end of the second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LagSample {
    /// Consumer group.
    pub group: String,
    /// Partition.
    pub partition: PartitionId,
    /// Log end offset minus the group's position.
    pub lag: i64,
}

/// State of one consumer group at the end of the second.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSample {
    /// Consumer group.
    pub group: String,
    /// Group generation (Kafka's generation id), if known.
    pub generation: Option<i32>,
    /// A rebalance is in progress.
    pub rebalancing: bool,
    /// Largest partition lag of the group (`records-lag-max`).
    pub lag_max: Option<i64>,
}

/// Everything measured during second `t` (covering `[t, t + 1)` s after the run start).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SecondSample {
    /// Seconds since the run start.
    pub t: u64,
    /// Records handed to producers.
    pub produced: u64,
    /// Records acknowledged.
    pub acked: u64,
    /// Records failed.
    #[serde(default)]
    pub failed: u64,
    /// Records consumed (all groups).
    pub consumed: u64,
    /// Produce latency (intended send to acknowledgement).
    pub produce_latency: Option<IntervalLatency>,
    /// End-to-end latency (intended send to consumption).
    pub e2e_latency: Option<IntervalLatency>,
    /// Largest consumer lag over all groups and partitions.
    pub lag_max: Option<i64>,
    /// Lag per group and partition, when the caller collects it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lag: Vec<LagSample>,
    /// Group states.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupSample>,
}

impl SecondSample {
    /// An empty sample for second `t`.
    pub fn new(t: u64) -> Self {
        Self {
            t,
            ..Self::default()
        }
    }
}

/// A labelled event on the time axis ("crash billing/1", "broker 2 killed").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// Seconds since the run start.
    pub at: f64,
    /// What happened.
    pub label: String,
}

/// The per-second samples and markers of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// One sample per second, `seconds[i].t == i`.
    pub seconds: Vec<SecondSample>,
    /// Events, in the order added.
    pub markers: Vec<Marker>,
}

impl Series {
    /// An empty series.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `sample` at index `sample.t`: seconds skipped (the collector was late) are
    /// filled with empty samples, a second pushed again replaces the earlier one.
    pub fn push(&mut self, sample: SecondSample) {
        let Ok(t) = usize::try_from(sample.t) else {
            return;
        };
        if t < self.seconds.len() {
            self.seconds[t] = sample;
            return;
        }
        while self.seconds.len() < t {
            let next = self.seconds.len() as u64;
            self.seconds.push(SecondSample::new(next));
        }
        self.seconds.push(sample);
    }

    /// Adds a marker at `at_ns` ns since the run start.
    pub fn mark(&mut self, at_ns: i64, label: impl Into<String>) {
        self.markers.push(Marker {
            at: at_ns as f64 / 1e9,
            label: label.into(),
        });
    }

    /// Totals over all seconds: (produced, acked, consumed).
    pub fn totals(&self) -> (u64, u64, u64) {
        self.seconds.iter().fold((0, 0, 0), |(p, a, c), s| {
            (p + s.produced, a + s.acked, c + s.consumed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::LatencyRecorder;

    #[test]
    fn counters_report_deltas() {
        let c = IntervalCounter::new();
        c.add(5);
        c.add(7);
        assert_eq!(c.take_interval(), 12);
        assert_eq!(c.take_interval(), 0);
        c.add(1);
        assert_eq!((c.total(), c.take_interval()), (13, 1));
    }

    #[test]
    fn series_fills_gaps_and_serializes() {
        let mut lat = LatencyRecorder::new();
        let mut s = Series::new();
        lat.record(2_000_000);
        let mut first = SecondSample::new(0);
        first.produced = 10;
        first.acked = 9;
        first.produce_latency = IntervalLatency::from_summary(&lat.take_interval());
        first.groups.push(GroupSample {
            group: "billing".into(),
            generation: Some(3),
            rebalancing: true,
            lag_max: Some(42),
        });
        first.lag.push(LagSample {
            group: "billing".into(),
            partition: 1,
            lag: 42,
        });
        first.lag_max = Some(42);
        s.push(first);
        let mut third = SecondSample::new(2);
        third.consumed = 8;
        third.e2e_latency = IntervalLatency::from_summary(&lat.take_interval());
        s.push(third);
        s.mark(20_500_000_000, "crash billing/1");
        assert_eq!(s.seconds.len(), 3);
        assert_eq!(s.seconds[1], SecondSample::new(1));
        assert_eq!(
            s.seconds[2].e2e_latency, None,
            "no samples: a gap, not zero"
        );
        assert_eq!(s.totals(), (10, 9, 8));
        let p = s.seconds[0].produce_latency.expect("latency");
        assert_eq!(p.count, 1);
        assert!((p.p50_ms - 2.0).abs() < 0.01);

        let json = serde_json::to_string(&s).expect("serialize");
        assert!(json.contains("\"at\":20.5"));
        assert!(json.contains("\"label\":\"crash billing/1\""));
        assert!(json.contains("\"rebalancing\":true"));
        let back: Series = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, s);
        // Replacing a second.
        let mut again = SecondSample::new(1);
        again.produced = 1;
        s.push(again);
        assert_eq!((s.seconds.len(), s.seconds[1].produced), (3, 1));
    }
}
