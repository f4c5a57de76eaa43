//! Producer metrics, named after the Java client's `producer-metrics` group.
//!
//! One [`ProducerMetrics`] per producer instance; every series carries the constant
//! label `client_id` (one value per producer: a bounded set). Register it with
//! [`ProducerMetrics::register`]; two producers registered on one registry need
//! distinct `client.id`s, as JMX requires of the Java client.
//!
//! Nothing here is updated per record: counters move per batch, histograms per batch or
//! per request, so the metrics cost nothing measurable at a million records a second.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus::{Gauge, Histogram, HistogramOpts, IntCounter, IntGauge, Opts, Registry};

/// One metric's documentation row (for the docs generator).
#[derive(Debug, Clone, Copy)]
pub struct MetricDoc {
    pub name: &'static str,
    pub kind: &'static str,
    pub labels: &'static str,
    pub help: &'static str,
    /// The Java client metric (`producer-metrics` group) it corresponds to.
    pub kafka: &'static str,
}

pub const DOCS: &[MetricDoc] = &[
    MetricDoc {
        name: "kafkalab_producer_record_send_total",
        kind: "counter",
        labels: "client_id",
        help: "Records sent to brokers (counted when their batch is first sent; acks=0 included).",
        kafka: "producer-metrics record-send-total / record-send-rate",
    },
    MetricDoc {
        name: "kafkalab_producer_record_error_total",
        kind: "counter",
        labels: "client_id",
        help: "Records whose send finally failed (non-retriable error, retries or delivery.timeout.ms exhausted, producer closed).",
        kafka: "producer-metrics record-error-total / record-error-rate",
    },
    MetricDoc {
        name: "kafkalab_producer_record_retry_total",
        kind: "counter",
        labels: "client_id",
        help: "Records re-queued for another attempt after a retriable error.",
        kafka: "producer-metrics record-retry-total / record-retry-rate",
    },
    MetricDoc {
        name: "kafkalab_producer_batch_size_bytes",
        kind: "histogram",
        labels: "client_id",
        help: "Size of each record batch sent (after compression), in bytes.",
        kafka: "producer-metrics batch-size-avg / batch-size-max",
    },
    MetricDoc {
        name: "kafkalab_producer_records_per_request",
        kind: "histogram",
        labels: "client_id",
        help: "Records in each produce request.",
        kafka: "producer-metrics records-per-request-avg",
    },
    MetricDoc {
        name: "kafkalab_producer_record_queue_time_seconds",
        kind: "histogram",
        labels: "client_id",
        help: "Time a batch waited in the accumulator, from its first record to being drained into a request (linger.ms shows here).",
        kafka: "producer-metrics record-queue-time-avg / record-queue-time-max",
    },
    MetricDoc {
        name: "kafkalab_producer_request_latency_seconds",
        kind: "histogram",
        labels: "client_id",
        help: "Produce request latency, from handing the request to the connection to its response.",
        kafka: "producer-metrics request-latency-avg / request-latency-max",
    },
    MetricDoc {
        name: "kafkalab_producer_requests_total",
        kind: "counter",
        labels: "client_id",
        help: "Produce requests sent.",
        kafka: "producer-metrics request-total / request-rate",
    },
    MetricDoc {
        name: "kafkalab_producer_buffer_available_bytes",
        kind: "gauge",
        labels: "client_id",
        help: "buffer.memory not in use by queued or in-flight records.",
        kafka: "producer-metrics buffer-available-bytes",
    },
    MetricDoc {
        name: "kafkalab_producer_compression_rate",
        kind: "gauge",
        labels: "client_id",
        help: "Compressed over uncompressed size of the batches sent so far (1 without compression).",
        kafka: "producer-metrics compression-rate-avg",
    },
];

/// Latency buckets from 50 µs to 30 s, for every latency histogram of the load
/// generator's clients. The same list as the broker's `latency_buckets` (kept here so
/// the load generator does not depend on the broker crate; `cli/tests/metrics_doc.rs`
/// fails if the two drift apart), so client and broker latencies aggregate alike.
pub fn latency_buckets() -> Vec<f64> {
    vec![
        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075,
        0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0,
    ]
}

fn size_buckets() -> Vec<f64> {
    // 64 B .. 4 MiB, doubling.
    (6..=22).map(|e| f64::from(1u32 << e)).collect()
}

fn count_buckets() -> Vec<f64> {
    // 1 .. 65536 records, doubling.
    (0..=16).map(|e| f64::from(1u32 << e)).collect()
}

/// A snapshot of a producer's metrics for the live view and reports (Java names in
/// the field docs; "max" is over the producer's lifetime, not Java's 30 s window).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProducerMetricsSnapshot {
    /// record-send-total
    pub records_sent: u64,
    /// record-error-total
    pub record_errors: u64,
    /// record-retry-total
    pub record_retries: u64,
    /// request-total
    pub requests: u64,
    /// batch-size-avg (bytes)
    pub batch_size_avg: f64,
    /// batch-size-max (bytes)
    pub batch_size_max: u64,
    /// records-per-request-avg
    pub records_per_request_avg: f64,
    /// record-queue-time-avg (seconds)
    pub record_queue_time_avg: f64,
    /// record-queue-time-max (seconds)
    pub record_queue_time_max: f64,
    /// request-latency-avg (seconds)
    pub request_latency_avg: f64,
    /// request-latency-max (seconds)
    pub request_latency_max: f64,
    /// buffer-available-bytes
    pub buffer_available_bytes: i64,
    /// buffer-total-bytes
    pub buffer_total_bytes: i64,
    /// compression-rate-avg
    pub compression_rate_avg: f64,
    /// Bytes of record batches sent (compressed, as on the wire; first attempts only).
    pub batch_bytes_sent: u64,
    /// Records queued or in flight, not yet acknowledged or failed.
    pub incomplete_records: u64,
}

/// The producer's Prometheus metrics (one set per producer instance).
pub struct ProducerMetrics {
    pub record_send_total: IntCounter,
    pub record_error_total: IntCounter,
    pub record_retry_total: IntCounter,
    pub batch_size_bytes: Histogram,
    pub records_per_request: Histogram,
    pub record_queue_time_seconds: Histogram,
    pub request_latency_seconds: Histogram,
    pub requests_total: IntCounter,
    pub buffer_available_bytes: IntGauge,
    pub compression_rate: Gauge,
    buffer_total: i64,
    batch_size_max: AtomicU64,
    queue_time_max_ns: AtomicU64,
    request_latency_max_ns: AtomicU64,
    compressed_bytes: AtomicU64,
    uncompressed_bytes: AtomicU64,
}

fn counter(name: &str, help: &str, client_id: &str) -> IntCounter {
    IntCounter::with_opts(Opts::new(name, help).const_label("client_id", client_id))
        .unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

fn histogram(name: &str, help: &str, client_id: &str, buckets: Vec<f64>) -> Histogram {
    Histogram::with_opts(
        HistogramOpts::new(name, help)
            .const_label("client_id", client_id)
            .buckets(buckets),
    )
    .unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

fn help(name: &str) -> &'static str {
    DOCS.iter().find(|d| d.name == name).map_or("", |d| d.help)
}

impl ProducerMetrics {
    pub fn new(client_id: &str, buffer_memory: i64) -> ProducerMetrics {
        let c = |n: &str| counter(n, help(n), client_id);
        let h = |n: &str, b| histogram(n, help(n), client_id, b);
        let n = "kafkalab_producer_buffer_available_bytes";
        let buffer_available_bytes =
            IntGauge::with_opts(Opts::new(n, help(n)).const_label("client_id", client_id))
                .unwrap_or_else(|e| panic!("metric {n}: {e}"));
        buffer_available_bytes.set(buffer_memory);
        let n = "kafkalab_producer_compression_rate";
        let compression_rate =
            Gauge::with_opts(Opts::new(n, help(n)).const_label("client_id", client_id))
                .unwrap_or_else(|e| panic!("metric {n}: {e}"));
        compression_rate.set(1.0);
        ProducerMetrics {
            record_send_total: c("kafkalab_producer_record_send_total"),
            record_error_total: c("kafkalab_producer_record_error_total"),
            record_retry_total: c("kafkalab_producer_record_retry_total"),
            batch_size_bytes: h("kafkalab_producer_batch_size_bytes", size_buckets()),
            records_per_request: h("kafkalab_producer_records_per_request", count_buckets()),
            record_queue_time_seconds: h(
                "kafkalab_producer_record_queue_time_seconds",
                latency_buckets(),
            ),
            request_latency_seconds: h(
                "kafkalab_producer_request_latency_seconds",
                latency_buckets(),
            ),
            requests_total: c("kafkalab_producer_requests_total"),
            buffer_available_bytes,
            compression_rate,
            buffer_total: buffer_memory,
            batch_size_max: AtomicU64::new(0),
            queue_time_max_ns: AtomicU64::new(0),
            request_latency_max_ns: AtomicU64::new(0),
            compressed_bytes: AtomicU64::new(0),
            uncompressed_bytes: AtomicU64::new(0),
        }
    }

    /// Registers every series on `registry`.
    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.record_send_total.clone()))?;
        registry.register(Box::new(self.record_error_total.clone()))?;
        registry.register(Box::new(self.record_retry_total.clone()))?;
        registry.register(Box::new(self.batch_size_bytes.clone()))?;
        registry.register(Box::new(self.records_per_request.clone()))?;
        registry.register(Box::new(self.record_queue_time_seconds.clone()))?;
        registry.register(Box::new(self.request_latency_seconds.clone()))?;
        registry.register(Box::new(self.requests_total.clone()))?;
        registry.register(Box::new(self.buffer_available_bytes.clone()))?;
        registry.register(Box::new(self.compression_rate.clone()))?;
        Ok(())
    }

    /// A batch went into a request for the first time.
    pub(crate) fn batch_sent(&self, records: u64, size: usize, uncompressed: usize, queue_s: f64) {
        self.record_send_total.inc_by(records);
        self.batch_size_bytes.observe(size as f64);
        self.batch_size_max
            .fetch_max(size as u64, Ordering::Relaxed);
        self.record_queue_time_seconds.observe(queue_s);
        self.queue_time_max_ns
            .fetch_max((queue_s * 1e9) as u64, Ordering::Relaxed);
        let c = self
            .compressed_bytes
            .fetch_add(size as u64, Ordering::Relaxed)
            + size as u64;
        let u = self
            .uncompressed_bytes
            .fetch_add(uncompressed as u64, Ordering::Relaxed)
            + uncompressed as u64;
        if u > 0 {
            self.compression_rate.set(c as f64 / u as f64);
        }
    }

    pub(crate) fn request_sent(&self, records: u64) {
        self.requests_total.inc();
        self.records_per_request.observe(records as f64);
    }

    pub(crate) fn request_done(&self, latency_s: f64) {
        self.request_latency_seconds.observe(latency_s);
        self.request_latency_max_ns
            .fetch_max((latency_s * 1e9) as u64, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, incomplete_records: u64) -> ProducerMetricsSnapshot {
        let avg = |h: &Histogram| {
            let n = h.get_sample_count();
            if n == 0 {
                0.0
            } else {
                h.get_sample_sum() / n as f64
            }
        };
        ProducerMetricsSnapshot {
            records_sent: self.record_send_total.get(),
            record_errors: self.record_error_total.get(),
            record_retries: self.record_retry_total.get(),
            requests: self.requests_total.get(),
            batch_size_avg: avg(&self.batch_size_bytes),
            batch_size_max: self.batch_size_max.load(Ordering::Relaxed),
            records_per_request_avg: avg(&self.records_per_request),
            record_queue_time_avg: avg(&self.record_queue_time_seconds),
            record_queue_time_max: self.queue_time_max_ns.load(Ordering::Relaxed) as f64 / 1e9,
            request_latency_avg: avg(&self.request_latency_seconds),
            request_latency_max: self.request_latency_max_ns.load(Ordering::Relaxed) as f64 / 1e9,
            buffer_available_bytes: self.buffer_available_bytes.get(),
            buffer_total_bytes: self.buffer_total,
            compression_rate_avg: self.compression_rate.get(),
            batch_bytes_sent: self.compressed_bytes.load(Ordering::Relaxed),
            incomplete_records,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_with_client_id_and_documents_every_metric() {
        let registry = Registry::new();
        let a = ProducerMetrics::new("p-1", 1000);
        let b = ProducerMetrics::new("p-2", 1000);
        a.register(&registry).expect("first");
        b.register(&registry)
            .expect("a second client id is a new series");
        assert!(ProducerMetrics::new("p-1", 1).register(&registry).is_err());
        a.batch_sent(10, 500, 1000, 0.002);
        a.request_sent(10);
        let families = registry.gather();
        for d in DOCS {
            let f = families
                .iter()
                .find(|f| f.name() == d.name)
                .unwrap_or_else(|| panic!("{} not registered", d.name));
            assert_eq!(f.get_metric().len(), 2, "{}", d.name);
            assert!(!d.help.is_empty() && !d.kafka.is_empty());
        }
        assert_eq!(families.len(), DOCS.len());
        let s = a.snapshot(3);
        assert_eq!(s.records_sent, 10);
        assert_eq!(s.batch_size_max, 500);
        assert!((s.compression_rate_avg - 0.5).abs() < 1e-9);
        assert_eq!(s.incomplete_records, 3);
    }
}
