//! Broker metrics (Prometheus). Names follow `kafkalab_broker_*`, base units, `_total`
//! on counters; each is documented with the Kafka JMX metric it corresponds to.
//! Per-partition gauges are filled at scrape time from the logs so they never drift.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// Latency buckets from 50 µs to 30 s, dense enough for `histogram_quantile`.
pub fn latency_buckets() -> Vec<f64> {
    vec![
        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075,
        0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0,
    ]
}

/// One metric's documentation row (for docs/metrics.md).
pub struct MetricDoc {
    pub name: &'static str,
    pub kind: &'static str,
    pub labels: &'static str,
    pub help: &'static str,
    pub kafka: &'static str,
}

macro_rules! doc {
    ($name:expr, $kind:expr, $labels:expr, $help:expr, $kafka:expr) => {
        MetricDoc {
            name: $name,
            kind: $kind,
            labels: $labels,
            help: $help,
            kafka: $kafka,
        }
    };
}

pub const DOCS: &[MetricDoc] = &[
    doc!(
        "kafkalab_broker_requests_total",
        "counter",
        "api",
        "Requests handled, by API.",
        "kafka.network:type=RequestMetrics,name=RequestsPerSec"
    ),
    doc!(
        "kafkalab_broker_request_errors_total",
        "counter",
        "api, error",
        "Error codes returned (per partition or resource), by API and Kafka error name.",
        "kafka.network:type=RequestMetrics,name=ErrorsPerSec"
    ),
    doc!(
        "kafkalab_broker_request_duration_seconds",
        "histogram",
        "api",
        "Time from a request's arrival to its response being ready, by API.",
        "kafka.network:type=RequestMetrics,name=TotalTimeMs"
    ),
    doc!(
        "kafkalab_broker_bytes_in_total",
        "counter",
        "",
        "Record-batch bytes appended by producers.",
        "kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec"
    ),
    doc!(
        "kafkalab_broker_bytes_out_total",
        "counter",
        "",
        "Record-batch bytes returned to fetchers.",
        "kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec"
    ),
    doc!(
        "kafkalab_broker_records_in_total",
        "counter",
        "",
        "Records appended.",
        "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec"
    ),
    doc!(
        "kafkalab_broker_records_out_total",
        "counter",
        "",
        "Records returned to fetchers (counted per batch header).",
        "(none; derived from BytesOutPerSec)"
    ),
    doc!(
        "kafkalab_broker_produce_duplicates_total",
        "counter",
        "",
        "Idempotent-producer retries recognised as duplicates and not appended again.",
        "(none)"
    ),
    doc!(
        "kafkalab_broker_connections",
        "gauge",
        "",
        "Open client connections.",
        "kafka.server:type=socket-server-metrics,name=connection-count"
    ),
    doc!(
        "kafkalab_broker_connections_total",
        "counter",
        "",
        "Connections accepted.",
        "kafka.server:type=socket-server-metrics,name=connection-creation-total"
    ),
    doc!(
        "kafkalab_broker_connection_errors_total",
        "counter",
        "reason",
        "Connections closed because of a malformed or oversized frame or an unsupported request.",
        "(none; Kafka logs these)"
    ),
    doc!(
        "kafkalab_broker_fetch_wait_seconds",
        "histogram",
        "",
        "Time fetch requests spent parked waiting for fetch.min.bytes.",
        "kafka.network:type=RequestMetrics,name=RemoteTimeMs,request=Fetch"
    ),
    doc!(
        "kafkalab_broker_log_size_bytes",
        "gauge",
        "topic, partition",
        "Size of the partition's log on disk.",
        "kafka.log:type=Log,name=Size"
    ),
    doc!(
        "kafkalab_broker_log_end_offset",
        "gauge",
        "topic, partition",
        "Next offset to be written.",
        "kafka.log:type=Log,name=LogEndOffset"
    ),
    doc!(
        "kafkalab_broker_log_start_offset",
        "gauge",
        "topic, partition",
        "First offset still in the log.",
        "kafka.log:type=Log,name=LogStartOffset"
    ),
    doc!(
        "kafkalab_broker_log_segments",
        "gauge",
        "topic, partition",
        "Segments in the partition's log.",
        "kafka.log:type=Log,name=NumLogSegments"
    ),
    doc!(
        "kafkalab_broker_log_cleanup_bytes_total",
        "counter",
        "",
        "Bytes removed by retention and compaction.",
        "kafka.log:type=LogCleaner,name=... / LogManager deletions"
    ),
    doc!(
        "kafkalab_broker_topics",
        "gauge",
        "",
        "Topics.",
        "kafka.controller:type=KafkaController,name=GlobalTopicCount"
    ),
    doc!(
        "kafkalab_broker_partitions",
        "gauge",
        "",
        "Partitions.",
        "kafka.server:type=ReplicaManager,name=PartitionCount"
    ),    doc!(
        "kafkalab_broker_leader_partitions",
        "gauge",
        "",
        "Partitions this node leads (all of them on a single-node broker).",
        "kafka.server:type=ReplicaManager,name=LeaderCount"
    ),
    doc!(
        "kafkalab_broker_under_replicated_partitions",
        "gauge",
        "",
        "Partitions this node leads whose ISR is smaller than their replica set.",
        "kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions"
    ),
    doc!(
        "kafkalab_broker_under_min_isr_partitions",
        "gauge",
        "",
        "Partitions this node leads whose ISR is smaller than min.insync.replicas (acks=all produce fails).",
        "kafka.server:type=ReplicaManager,name=UnderMinIsrPartitionCount"
    ),
    doc!(
        "kafkalab_broker_isr_shrinks_total",
        "counter",
        "",
        "Followers removed from an ISR by this node as leader (lagging longer than replica.lag.time.max.ms).",
        "kafka.server:type=ReplicaManager,name=IsrShrinksPerSec"
    ),
    doc!(
        "kafkalab_broker_isr_expands_total",
        "counter",
        "",
        "Followers added back to an ISR by this node as leader (caught up to the high watermark).",
        "kafka.server:type=ReplicaManager,name=IsrExpandsPerSec"
    ),
    doc!(
        "kafkalab_broker_replica_max_lag_records",
        "gauge",
        "",
        "Largest follower lag in records over the partitions this node leads.",
        "kafka.server:type=ReplicaFetcherManager,name=MaxLag,clientId=Replica"
    ),
    doc!(
        "kafkalab_broker_replica_max_lag_seconds",
        "gauge",
        "",
        "Longest time a follower of a partition this node leads has not been caught up (it leaves the ISR past replica.lag.time.max.ms).",
        "(none; Kafka tracks it per replica as lastCaughtUpTimeMs)"
    ),
    doc!(
        "kafkalab_controller_leader_elections_total",
        "counter",
        "election",
        "Partition leader elections: clean (a lost leader replaced from the ISR), unclean (from outside it; records may be lost), offline (no leader left), preferred (auto.leader.rebalance moved leadership back).",
        "kafka.controller:type=ControllerStats,name=LeaderElectionRateAndTimeMs / UncleanLeaderElectionsPerSec / PreferredReplicaImbalanceCount"
    ),
    doc!(
        "kafkalab_controller_offline_partitions",
        "gauge",
        "",
        "Partitions without a leader.",
        "kafka.controller:type=KafkaController,name=OfflinePartitionsCount"
    ),
    doc!(
        "kafkalab_controller_active_controller_id",
        "gauge",
        "",
        "Node id of the active controller; -1 while no majority of the voters is up.",
        "kafka.controller:type=KafkaController,name=ActiveControllerCount"
    ),
    doc!(
        "kafkalab_controller_quorum_voters",
        "gauge",
        "",
        "Voters in the controller quorum.",
        "kafka.server:type=raft-metrics,name=number-of-voters"
    ),
    doc!(
        "kafkalab_controller_quorum_majority_up",
        "gauge",
        "",
        "1 while a majority of the voters is up (metadata changes and elections possible), else 0.",
        "(none; derived from raft-metrics current-state)"
    ),
    doc!(
        "kafkalab_controller_live_brokers",
        "gauge",
        "",
        "Registered brokers that are up.",
        "kafka.controller:type=KafkaController,name=ActiveBrokerCount"
    ),
];

/// Handles for one API, resolved once so the request path does no label lookups.
#[derive(Clone)]
pub struct ApiMetrics {
    pub requests: IntCounter,
    pub duration: Histogram,
}

#[derive(Clone)]
pub struct BrokerMetrics {
    /// Indexed by API key.
    per_api: std::sync::Arc<Vec<Option<ApiMetrics>>>,
    pub requests: IntCounterVec,
    pub request_errors: IntCounterVec,
    pub request_duration: HistogramVec,
    pub bytes_in: IntCounter,
    pub bytes_out: IntCounter,
    pub records_in: IntCounter,
    pub records_out: IntCounter,
    pub produce_duplicates: IntCounter,
    pub connections: IntGauge,
    pub connections_total: IntCounter,
    pub connection_errors: IntCounterVec,
    pub fetch_wait: Histogram,
    pub log_size: IntGaugeVec,
    pub log_end_offset: IntGaugeVec,
    pub log_start_offset: IntGaugeVec,
    pub log_segments: IntGaugeVec,
    pub cleanup_bytes: IntCounter,
    pub topics: IntGauge,
    pub partitions: IntGauge,
    pub leader_partitions: IntGauge,
    pub under_replicated: IntGauge,
    pub under_min_isr: IntGauge,
    pub isr_shrinks: IntCounter,
    pub isr_expands: IntCounter,
    pub replica_max_lag: IntGauge,
    pub replica_max_lag_seconds: prometheus::Gauge,
}

pub(crate) fn help(name: &str) -> &'static str {
    DOCS.iter().find(|d| d.name == name).map_or("", |d| d.help)
}

fn opts(name: &str) -> Opts {
    Opts::new(name, help(name))
}

impl BrokerMetrics {
    pub fn new() -> Self {
        let tp = &["topic", "partition"];
        let counter = |n: &str| IntCounter::with_opts(opts(n)).expect("valid metric");
        let gauge = |n: &str| IntGauge::with_opts(opts(n)).expect("valid metric");
        let gauge_vec = |n: &str| IntGaugeVec::new(opts(n), tp).expect("valid metric");
        let requests = IntCounterVec::new(opts("kafkalab_broker_requests_total"), &["api"])
            .expect("valid metric");
        let request_duration = HistogramVec::new(
            HistogramOpts::from(opts("kafkalab_broker_request_duration_seconds"))
                .buckets(latency_buckets()),
            &["api"],
        )
        .expect("valid metric");
        let mut per_api = Vec::new();
        for (key, _, _) in crate::protocol::versions::all() {
            let idx = key as usize;
            if per_api.len() <= idx {
                per_api.resize(idx + 1, None);
            }
            let label = crate::protocol::versions::api_label(key);
            per_api[idx] = Some(ApiMetrics {
                requests: requests.with_label_values(&[label]),
                duration: request_duration.with_label_values(&[label]),
            });
        }
        BrokerMetrics {
            per_api: std::sync::Arc::new(per_api),
            requests,
            request_errors: IntCounterVec::new(
                opts("kafkalab_broker_request_errors_total"),
                &["api", "error"],
            )
            .expect("valid metric"),
            request_duration,
            bytes_in: counter("kafkalab_broker_bytes_in_total"),
            bytes_out: counter("kafkalab_broker_bytes_out_total"),
            records_in: counter("kafkalab_broker_records_in_total"),
            records_out: counter("kafkalab_broker_records_out_total"),
            produce_duplicates: counter("kafkalab_broker_produce_duplicates_total"),
            connections: gauge("kafkalab_broker_connections"),
            connections_total: counter("kafkalab_broker_connections_total"),
            connection_errors: IntCounterVec::new(
                opts("kafkalab_broker_connection_errors_total"),
                &["reason"],
            )
            .expect("valid metric"),
            fetch_wait: Histogram::with_opts(
                HistogramOpts::from(opts("kafkalab_broker_fetch_wait_seconds"))
                    .buckets(latency_buckets()),
            )
            .expect("valid metric"),
            log_size: gauge_vec("kafkalab_broker_log_size_bytes"),
            log_end_offset: gauge_vec("kafkalab_broker_log_end_offset"),
            log_start_offset: gauge_vec("kafkalab_broker_log_start_offset"),
            log_segments: gauge_vec("kafkalab_broker_log_segments"),
            cleanup_bytes: counter("kafkalab_broker_log_cleanup_bytes_total"),
            topics: gauge("kafkalab_broker_topics"),
            partitions: gauge("kafkalab_broker_partitions"),
            leader_partitions: gauge("kafkalab_broker_leader_partitions"),
            under_replicated: gauge("kafkalab_broker_under_replicated_partitions"),
            under_min_isr: gauge("kafkalab_broker_under_min_isr_partitions"),
            isr_shrinks: counter("kafkalab_broker_isr_shrinks_total"),
            isr_expands: counter("kafkalab_broker_isr_expands_total"),
            replica_max_lag: gauge("kafkalab_broker_replica_max_lag_records"),
            replica_max_lag_seconds: prometheus::Gauge::with_opts(opts(
                "kafkalab_broker_replica_max_lag_seconds",
            ))
            .expect("valid metric"),
        }
    }

    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.requests.clone()))?;
        registry.register(Box::new(self.request_errors.clone()))?;
        registry.register(Box::new(self.request_duration.clone()))?;
        registry.register(Box::new(self.bytes_in.clone()))?;
        registry.register(Box::new(self.bytes_out.clone()))?;
        registry.register(Box::new(self.records_in.clone()))?;
        registry.register(Box::new(self.records_out.clone()))?;
        registry.register(Box::new(self.produce_duplicates.clone()))?;
        registry.register(Box::new(self.connections.clone()))?;
        registry.register(Box::new(self.connections_total.clone()))?;
        registry.register(Box::new(self.connection_errors.clone()))?;
        registry.register(Box::new(self.fetch_wait.clone()))?;
        registry.register(Box::new(self.log_size.clone()))?;
        registry.register(Box::new(self.log_end_offset.clone()))?;
        registry.register(Box::new(self.log_start_offset.clone()))?;
        registry.register(Box::new(self.log_segments.clone()))?;
        registry.register(Box::new(self.cleanup_bytes.clone()))?;
        registry.register(Box::new(self.topics.clone()))?;
        registry.register(Box::new(self.partitions.clone()))?;
        registry.register(Box::new(self.leader_partitions.clone()))?;
        registry.register(Box::new(self.under_replicated.clone()))?;
        registry.register(Box::new(self.under_min_isr.clone()))?;
        registry.register(Box::new(self.isr_shrinks.clone()))?;
        registry.register(Box::new(self.isr_expands.clone()))?;
        registry.register(Box::new(self.replica_max_lag.clone()))?;
        registry.register(Box::new(self.replica_max_lag_seconds.clone()))?;
        Ok(())
    }

    /// Pre-resolved request counter and latency histogram of an API.
    pub fn api(&self, key: kafka_protocol::messages::ApiKey) -> Option<&ApiMetrics> {
        self.per_api.get(key as usize).and_then(Option::as_ref)
    }

    /// Counts a non-zero error code returned by `api`.
    pub fn error(&self, api: &str, code: i16) {
        if code != 0 {
            self.request_errors
                .with_label_values(&[api, crate::protocol::errors::name(code)])
                .inc();
        }
    }
}

impl Default for BrokerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_metric_is_documented() {
        let registry = Registry::new();
        let m = BrokerMetrics::new();
        m.register(&registry).expect("register");
        m.requests.with_label_values(&["Produce"]).inc();
        m.request_errors
            .with_label_values(&["Produce", "NONE"])
            .inc();
        m.request_duration
            .with_label_values(&["Produce"])
            .observe(0.001);
        m.connection_errors
            .with_label_values(&["malformed_frame"])
            .inc();
        for g in [
            &m.log_size,
            &m.log_end_offset,
            &m.log_start_offset,
            &m.log_segments,
        ] {
            g.with_label_values(&["t", "0"]).set(1);
        }
        let c = crate::cluster::controller::ControllerMetrics::new().expect("metrics");
        c.register(&registry).expect("register controller metrics");
        c.leader_elections.with_label_values(&["clean"]).inc();
        let names: Vec<String> = registry
            .gather()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        assert_eq!(names.len(), DOCS.len());
        for d in DOCS {
            assert!(
                names.iter().any(|n| n == d.name),
                "{} documented but not registered",
                d.name
            );
        }
    }
}
