//! Consumer metrics, named after the Java consumer's (`records-consumed-total`,
//! `fetch-latency-avg`, `records-lag-max`, `rebalance-latency-avg`, ...).
//!
//! Every consumer owns its metrics and labels them with constant `client_id` and `group`
//! labels, so any number of consumers register into one registry (one series set per
//! consumer instance: bounded). Gauges that depend on "now" (`last heartbeat seconds
//! ago`) are computed at scrape time.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, Histogram, HistogramOpts, IntCounter, IntGauge, Opts, Registry};
use tokio::time::Instant;

use crate::client::producer::metrics::latency_buckets;
pub use crate::client::producer::metrics::MetricDoc;

const LABELS: &str = "client_id, group";

pub const DOCS: &[MetricDoc] = &[
    MetricDoc {
        name: "kafkalab_consumer_records_consumed_total",
        kind: "counter",
        labels: LABELS,
        help: "Records returned to the application by poll().",
        kafka: "consumer-fetch-manager-metrics records-consumed-total",
    },
    MetricDoc {
        name: "kafkalab_consumer_bytes_consumed_total",
        kind: "counter",
        labels: LABELS,
        help: "Bytes of record batches fetched for the assigned partitions (wire size).",
        kafka: "consumer-fetch-manager-metrics bytes-consumed-total",
    },
    MetricDoc {
        name: "kafkalab_consumer_fetch_latency_seconds",
        kind: "histogram",
        labels: LABELS,
        help: "Fetch request round trip, including the broker's long-poll wait (fetch.max.wait.ms).",
        kafka: "consumer-fetch-manager-metrics fetch-latency-avg/max",
    },
    MetricDoc {
        name: "kafkalab_consumer_records_lag_max",
        kind: "gauge",
        labels: LABELS,
        help: "Largest lag (high watermark minus position) over the assigned partitions, as of the latest fetches.",
        kafka: "consumer-fetch-manager-metrics records-lag-max",
    },
    MetricDoc {
        name: "kafkalab_consumer_rebalances_total",
        kind: "counter",
        labels: LABELS,
        help: "Rebalances this member completed (JoinGroup and SyncGroup succeeded).",
        kafka: "consumer-coordinator-metrics rebalance-total",
    },
    MetricDoc {
        name: "kafkalab_consumer_rebalance_latency_seconds",
        kind: "histogram",
        labels: LABELS,
        help: "Time from starting to rejoin to receiving the assignment: the member's stop-the-world pause under eager rebalancing.",
        kafka: "consumer-coordinator-metrics rebalance-latency-avg/max",
    },
    MetricDoc {
        name: "kafkalab_consumer_time_between_poll_seconds",
        kind: "histogram",
        labels: LABELS,
        help: "Time between successive poll() calls: the application's processing time per batch (compare with max.poll.interval.ms).",
        kafka: "consumer-metrics time-between-poll-avg/max",
    },
    MetricDoc {
        name: "kafkalab_consumer_commit_latency_seconds",
        kind: "histogram",
        labels: LABELS,
        help: "OffsetCommit round trip (sync, async and auto commits).",
        kafka: "consumer-coordinator-metrics commit-latency-avg/max",
    },
    MetricDoc {
        name: "kafkalab_consumer_heartbeat_total",
        kind: "counter",
        labels: LABELS,
        help: "Heartbeat responses received from the group coordinator.",
        kafka: "consumer-coordinator-metrics heartbeat-total",
    },
    MetricDoc {
        name: "kafkalab_consumer_last_heartbeat_seconds_ago",
        kind: "gauge",
        labels: LABELS,
        help: "Seconds since the last heartbeat response (computed at scrape time; -1 before the first).",
        kafka: "consumer-coordinator-metrics last-heartbeat-seconds-ago",
    },
    MetricDoc {
        name: "kafkalab_consumer_assigned_partitions",
        kind: "gauge",
        labels: LABELS,
        help: "Partitions currently assigned to this consumer.",
        kafka: "consumer-coordinator-metrics assigned-partitions",
    },
];

fn help(name: &str) -> &'static str {
    DOCS.iter().find(|d| d.name == name).map_or("", |d| d.help)
}

/// count / sum / max of one latency, for the snapshot's avg and max.
#[derive(Debug, Clone, Copy, Default)]
struct Stat {
    count: u64,
    sum: f64,
    max: f64,
}

impl Stat {
    fn add(&mut self, v: f64) {
        self.count += 1;
        self.sum += v;
        if v > self.max {
            self.max = v;
        }
    }
    fn avg(&self) -> Duration {
        if self.count == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(self.sum / self.count as f64)
        }
    }
    fn max(&self) -> Duration {
        Duration::from_secs_f64(self.max.max(0.0))
    }
}

#[derive(Default)]
struct Stats {
    fetch: Stat,
    rebalance: Stat,
    poll: Stat,
    commit: Stat,
    last_heartbeat: Option<Instant>,
}

/// The values behind the metrics, at one moment (the Java metric names in brackets).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumerMetricsSnapshot {
    /// [records-consumed-total]
    pub records_consumed_total: u64,
    /// [bytes-consumed-total]
    pub bytes_consumed_total: u64,
    /// [fetch-total]
    pub fetch_total: u64,
    /// [fetch-latency-avg]
    pub fetch_latency_avg: Duration,
    /// [fetch-latency-max]
    pub fetch_latency_max: Duration,
    /// [records-lag-max] (-1 before the first fetch)
    pub records_lag_max: i64,
    /// [rebalance-total]
    pub rebalance_total: u64,
    /// [rebalance-latency-avg]
    pub rebalance_latency_avg: Duration,
    /// [rebalance-latency-max]
    pub rebalance_latency_max: Duration,
    /// [time-between-poll-avg]
    pub time_between_poll_avg: Duration,
    /// [time-between-poll-max]
    pub time_between_poll_max: Duration,
    /// [commit-total]
    pub commit_total: u64,
    /// [commit-latency-avg]
    pub commit_latency_avg: Duration,
    /// [commit-latency-max]
    pub commit_latency_max: Duration,
    /// [heartbeat-total]
    pub heartbeat_total: u64,
    /// [last-heartbeat-seconds-ago] (None before the first heartbeat)
    pub last_heartbeat_ago: Option<Duration>,
    /// [assigned-partitions]
    pub assigned_partitions: usize,
}

/// One consumer's metrics; shared by the consumer and its background tasks.
pub struct ConsumerMetrics {
    records: IntCounter,
    bytes: IntCounter,
    fetch_latency: Histogram,
    lag_max: IntGauge,
    rebalances: IntCounter,
    rebalance_latency: Histogram,
    time_between_poll: Histogram,
    commit_latency: Histogram,
    heartbeats: IntCounter,
    last_heartbeat_ago: Gauge,
    assigned: IntGauge,
    stats: Mutex<Stats>,
    lag: AtomicI64,
    assigned_now: AtomicI64,
    records_now: AtomicU64,
}

impl ConsumerMetrics {
    pub fn new(client_id: &str, group: &str) -> ConsumerMetrics {
        let opts = |name: &str| {
            Opts::new(name, help(name))
                .const_label("client_id", client_id)
                .const_label("group", group)
        };
        let counter = |name: &str| IntCounter::with_opts(opts(name)).expect("valid metric");
        let gauge = |name: &str| IntGauge::with_opts(opts(name)).expect("valid metric");
        let histogram = |name: &str| {
            Histogram::with_opts(HistogramOpts::from(opts(name)).buckets(latency_buckets()))
                .expect("valid metric")
        };
        let lag_max = gauge("kafkalab_consumer_records_lag_max");
        lag_max.set(-1);
        ConsumerMetrics {
            records: counter("kafkalab_consumer_records_consumed_total"),
            bytes: counter("kafkalab_consumer_bytes_consumed_total"),
            fetch_latency: histogram("kafkalab_consumer_fetch_latency_seconds"),
            lag_max,
            rebalances: counter("kafkalab_consumer_rebalances_total"),
            rebalance_latency: histogram("kafkalab_consumer_rebalance_latency_seconds"),
            time_between_poll: histogram("kafkalab_consumer_time_between_poll_seconds"),
            commit_latency: histogram("kafkalab_consumer_commit_latency_seconds"),
            heartbeats: counter("kafkalab_consumer_heartbeat_total"),
            last_heartbeat_ago: Gauge::with_opts(opts(
                "kafkalab_consumer_last_heartbeat_seconds_ago",
            ))
            .expect("valid metric"),
            assigned: gauge("kafkalab_consumer_assigned_partitions"),
            stats: Mutex::new(Stats::default()),
            lag: AtomicI64::new(-1),
            assigned_now: AtomicI64::new(0),
            records_now: AtomicU64::new(0),
        }
    }

    pub fn records_consumed(&self, n: usize) {
        self.records.inc_by(n as u64);
        self.records_now.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn bytes_fetched(&self, n: usize) {
        self.bytes.inc_by(n as u64);
    }

    pub fn fetch_latency(&self, d: Duration) {
        let s = d.as_secs_f64();
        self.fetch_latency.observe(s);
        self.stats.lock().fetch.add(s);
    }

    pub fn set_lag_max(&self, lag: i64) {
        self.lag.store(lag, Ordering::Relaxed);
        self.lag_max.set(lag);
    }

    pub fn rebalance(&self, d: Duration) {
        let s = d.as_secs_f64();
        self.rebalances.inc();
        self.rebalance_latency.observe(s);
        self.stats.lock().rebalance.add(s);
    }

    pub fn time_between_poll(&self, d: Duration) {
        let s = d.as_secs_f64();
        self.time_between_poll.observe(s);
        self.stats.lock().poll.add(s);
    }

    pub fn commit(&self, d: Duration) {
        let s = d.as_secs_f64();
        self.commit_latency.observe(s);
        self.stats.lock().commit.add(s);
    }

    pub fn heartbeat(&self, at: Instant) {
        self.heartbeats.inc();
        self.stats.lock().last_heartbeat = Some(at);
    }

    pub fn set_assigned(&self, n: usize) {
        self.assigned.set(n as i64);
        self.assigned_now.store(n as i64, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> ConsumerMetricsSnapshot {
        let st = self.stats.lock();
        ConsumerMetricsSnapshot {
            records_consumed_total: self.records_now.load(Ordering::Relaxed),
            bytes_consumed_total: self.bytes.get(),
            fetch_total: st.fetch.count,
            fetch_latency_avg: st.fetch.avg(),
            fetch_latency_max: st.fetch.max(),
            records_lag_max: self.lag.load(Ordering::Relaxed),
            rebalance_total: st.rebalance.count,
            rebalance_latency_avg: st.rebalance.avg(),
            rebalance_latency_max: st.rebalance.max(),
            time_between_poll_avg: st.poll.avg(),
            time_between_poll_max: st.poll.max(),
            commit_total: st.commit.count,
            commit_latency_avg: st.commit.avg(),
            commit_latency_max: st.commit.max(),
            heartbeat_total: self.heartbeats.get(),
            last_heartbeat_ago: st
                .last_heartbeat
                .map(|t| Instant::now().saturating_duration_since(t)),
            assigned_partitions: self.assigned_now.load(Ordering::Relaxed).max(0) as usize,
        }
    }

    fn collectors(&self) -> [&dyn Collector; 11] {
        [
            &self.records,
            &self.bytes,
            &self.fetch_latency,
            &self.lag_max,
            &self.rebalances,
            &self.rebalance_latency,
            &self.time_between_poll,
            &self.commit_latency,
            &self.heartbeats,
            &self.last_heartbeat_ago,
            &self.assigned,
        ]
    }
}

/// The registry-facing view of one consumer's metrics.
pub(crate) struct ConsumerCollector(pub std::sync::Arc<ConsumerMetrics>);

impl Collector for ConsumerCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.0.collectors().iter().flat_map(|c| c.desc()).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let ago = self.0.stats.lock().last_heartbeat.map_or(-1.0, |t| {
            Instant::now().saturating_duration_since(t).as_secs_f64()
        });
        self.0.last_heartbeat_ago.set(ago);
        self.0
            .collectors()
            .iter()
            .flat_map(|c| c.collect())
            .collect()
    }
}

/// Registers `metrics` with `registry`.
pub(crate) fn register(
    metrics: &std::sync::Arc<ConsumerMetrics>,
    registry: &Registry,
) -> prometheus::Result<()> {
    registry.register(Box::new(ConsumerCollector(metrics.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn two_consumers_share_a_registry() {
        let r = Registry::new();
        let a = Arc::new(ConsumerMetrics::new("c-1", "g"));
        let b = Arc::new(ConsumerMetrics::new("c-2", "g"));
        register(&a, &r).expect("a");
        register(&b, &r).expect("b");
        a.records_consumed(5);
        a.fetch_latency(Duration::from_millis(2));
        a.heartbeat(Instant::now());
        let families = r.gather();
        let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
        for d in DOCS {
            assert!(names.contains(&d.name), "{} not exported", d.name);
        }
        let rec = families
            .iter()
            .find(|f| f.name() == "kafkalab_consumer_records_consumed_total")
            .expect("records");
        assert_eq!(rec.get_metric().len(), 2);
        let snap = a.snapshot();
        assert_eq!(snap.records_consumed_total, 5);
        assert_eq!(snap.fetch_total, 1);
        assert!(snap.last_heartbeat_ago.is_some());
        assert_eq!(b.snapshot().records_lag_max, -1);
    }
}
