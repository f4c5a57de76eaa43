//! The producer: partitioner, per-partition accumulator (batch.size, linger.ms), sender.
//!
//! A native async Kafka producer configured with the Java client's property names and
//! defaults ([`ClientConfig`] with [`Role::Producer`](crate::client::Role)).
//!
//! ```text
//! send() ──> partitioner ──> accumulator (one open batch per partition, encoded
//!            (murmur2 /       incrementally; closes at batch.size or linger.ms)
//!             sticky)                 │ drain: ready batches grouped per leader
//!                                     v
//!                              sender task ──> one ProduceRequest per broker,
//!                              (retries,        ≤ max.in.flight.requests.per.connection
//!                               idempotence)    pipelined on that broker's connection
//! ```
//!
//! Semantics that follow the Java client:
//! - `acks` 0 / 1 / all. With acks=0 nothing is acknowledged: records complete with
//!   offset -1 once written to the connection.
//! - `enable.idempotence` (default true): one InitProducerId, then producer id, epoch
//!   and per-partition sequence numbers in every batch; up to 5 requests in flight per
//!   connection keep their order (after an error a partition resends in sequence
//!   order); a duplicate answer resolves the batch with its original offset. Idempotence
//!   needs `acks=all`, `max.in.flight.requests.per.connection <= 5` and `retries > 0`.
//!   Java rejects a conflicting config when idempotence was set explicitly and silently
//!   disables idempotence when it was only the default. [`ClientConfig`] does not say
//!   which keys were set explicitly, so this producer always takes the second path
//!   (idempotence off, with a warning in the log).
//! - Retriable errors (NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, NOT_ENOUGH_REPLICAS,
//!   REQUEST_TIMED_OUT, UNKNOWN_TOPIC_OR_PARTITION, disconnects, ...) refresh metadata
//!   and retry after `retry.backoff.ms`, at most `retries` times and never past
//!   `delivery.timeout.ms` from the batch's creation, after which its records fail with
//!   [`ClientError::Timeout`]. Without idempotence and with more than one request in
//!   flight, a retried batch can land after a later one: Kafka's in-flight reordering.
//! - `buffer.memory` bounds the bytes of queued and in-flight records: `send` waits for
//!   space (at most `max.block.ms` = 60 s, Java's default, which is not a configurable
//!   key here). A record larger than `max.request.size` or `buffer.memory` fails at
//!   once with MESSAGE_TOO_LARGE (Java's RecordTooLargeException). `send` to a topic
//!   not in metadata waits for it up to the same 60 s.
//! - `delivery.timeout.ms` below `linger.ms + request.timeout.ms` is a config error
//!   when set explicitly; a default that is too small is raised to the sum (Java).
//! - Keyless partitioning: `partitioner.class` = `sticky` (default) or `round-robin`,
//!   see [`partitioner`].

pub mod accumulator;
pub mod batch;
pub mod delivery;
pub mod metrics;
pub mod partitioner;
pub mod sender;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::records::Compression;
use parking_lot::Mutex;
use tokio::sync::{oneshot, Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use self::accumulator::{AccConfig, Accumulator, AppendError, Completion};
use self::batch::{record_fixed_len, record_max_len, HEADER_LEN};
pub use self::delivery::{BatchDelivery, DeliveryListener, Tag};
pub use self::metrics::{MetricDoc, ProducerMetrics, ProducerMetricsSnapshot, DOCS};
pub use self::partitioner::KeylessStrategy;
use super::cluster::Cluster;
use super::config::ClientConfig;
use super::error::ClientError;

/// Java's `max.block.ms` default: how long `send` may wait for metadata or memory.
pub const MAX_BLOCK: Duration = Duration::from_secs(60);

/// A record to send.
#[derive(Debug, Clone)]
pub struct ProducerRecord {
    pub topic: Arc<str>,
    pub partition: Option<i32>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// CreateTime in ms since the epoch; `None` = now.
    pub timestamp_ms: Option<i64>,
    pub headers: Vec<(String, Bytes)>,
}

impl ProducerRecord {
    pub fn new(topic: impl Into<Arc<str>>, value: impl Into<Bytes>) -> ProducerRecord {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: Some(value.into()),
            timestamp_ms: None,
            headers: Vec::new(),
        }
    }

    pub fn with_key(mut self, key: impl Into<Bytes>) -> ProducerRecord {
        self.key = Some(key.into());
        self
    }

    pub fn with_partition(mut self, partition: i32) -> ProducerRecord {
        self.partition = Some(partition);
        self
    }

    pub fn with_timestamp(mut self, timestamp_ms: i64) -> ProducerRecord {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }

    pub fn with_header(
        mut self,
        key: impl Into<String>,
        value: impl Into<Bytes>,
    ) -> ProducerRecord {
        self.headers.push((key.into(), value.into()));
        self
    }
}

/// Where an acknowledged record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    pub topic: Arc<str>,
    pub partition: i32,
    /// -1 with acks=0.
    pub offset: i64,
    /// The record's CreateTime, or the broker's LogAppendTime when the topic uses it.
    pub timestamp_ms: i64,
}

/// Resolves when the record is acknowledged or has finally failed.
pub struct DeliveryFuture {
    rx: oneshot::Receiver<Result<RecordMetadata, ClientError>>,
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx).map(|r| {
            r.unwrap_or_else(|_| Err(ClientError::Other("the producer dropped the record".into())))
        })
    }
}

/// Parsed producer settings.
#[derive(Debug, Clone)]
pub struct ProducerSettings {
    pub client_id: String,
    pub acks: i16,
    pub linger: Duration,
    pub batch_size: usize,
    pub max_request_size: usize,
    pub buffer_memory: usize,
    pub max_in_flight: usize,
    pub idempotence: bool,
    pub retries: u32,
    pub retry_backoff: Duration,
    pub delivery_timeout: Duration,
    pub request_timeout: Duration,
    pub compression: Compression,
    pub ignore_keys: bool,
    pub keyless: KeylessStrategy,
    pub metadata_max_age: Duration,
}

impl ProducerSettings {
    /// Reads and checks the producer keys of `config`, resolving Java's implicit rules
    /// (idempotence prerequisites, delivery timeout floor).
    pub fn from_config(config: &ClientConfig) -> Result<ProducerSettings, ClientError> {
        if config.get("batch.size").is_empty() {
            return Err(ClientError::Config(
                "a producer needs a producer config (ClientConfig::producer())".into(),
            ));
        }
        let positive = |key: &str, min: i64| -> Result<i64, ClientError> {
            let v = config.int(key);
            if v < min {
                return Err(ClientError::Config(format!(
                    "{key}: must be at least {min}, got {v}"
                )));
            }
            Ok(v)
        };
        let acks = config.acks();
        let linger = Duration::from_millis(positive("linger.ms", 0)? as u64);
        let batch_size = positive("batch.size", 0)? as usize;
        let max_request_size = positive("max.request.size", 1)? as usize;
        let buffer_memory = positive("buffer.memory", 1)? as usize;
        let max_in_flight = positive("max.in.flight.requests.per.connection", 1)? as usize;
        let retries = positive("retries", 0)?.min(i64::from(u32::MAX)) as u32;
        let retry_backoff = Duration::from_millis(positive("retry.backoff.ms", 0)? as u64);
        let request_timeout = Duration::from_millis(positive("request.timeout.ms", 0)? as u64);
        let mut delivery_timeout =
            Duration::from_millis(positive("delivery.timeout.ms", 0)? as u64);
        let metadata_max_age = Duration::from_millis(positive("metadata.max.age.ms", 0)? as u64);
        if delivery_timeout < linger + request_timeout {
            if config.overrides().contains_key("delivery.timeout.ms") {
                return Err(ClientError::Config(format!(
                    "delivery.timeout.ms should be equal to or larger than linger.ms + request.timeout.ms ({} ms)",
                    (linger + request_timeout).as_millis()
                )));
            }
            delivery_timeout = linger + request_timeout;
        }
        let compression = match config.get("compression.type").as_str() {
            "gzip" => Compression::Gzip,
            "snappy" => Compression::Snappy,
            "lz4" => Compression::Lz4,
            "zstd" => Compression::Zstd,
            _ => Compression::None,
        };
        let mut idempotence = config.bool("enable.idempotence");
        if idempotence {
            let mut conflicts = Vec::new();
            if acks != -1 {
                conflicts.push(format!("acks={}", config.get("acks")));
            }
            if max_in_flight > 5 {
                conflicts.push(format!(
                    "max.in.flight.requests.per.connection={max_in_flight}"
                ));
            }
            if retries == 0 {
                conflicts.push("retries=0".to_string());
            }
            if !conflicts.is_empty() {
                tracing::warn!(
                    "enable.idempotence disabled: it needs acks=all, max.in.flight.requests.per.connection <= 5 and retries > 0, but {}",
                    conflicts.join(", ")
                );
                idempotence = false;
            }
        }
        Ok(ProducerSettings {
            client_id: config.get("client.id"),
            acks,
            linger,
            batch_size,
            max_request_size,
            buffer_memory,
            max_in_flight,
            idempotence,
            retries,
            retry_backoff,
            delivery_timeout,
            request_timeout,
            compression,
            ignore_keys: config.bool("partitioner.ignore.keys"),
            keyless: KeylessStrategy::parse(&config.get("partitioner.class"))?,
            metadata_max_age,
        })
    }
}

/// Wall-clock milliseconds for record timestamps, read through tokio's clock so that
/// paused (virtual) time moves record timestamps too. The system clock is read once,
/// at construction.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    base_ms: i64,
    base: Instant,
}

impl WallClock {
    /// The run's wall clock (the host's, or a simulated world's).
    pub fn system() -> WallClock {
        WallClock::starting_at(kafkalab_sim::clock::now_ms())
    }

    pub fn starting_at(base_ms: i64) -> WallClock {
        WallClock {
            base_ms,
            base: Instant::now(),
        }
    }

    #[inline]
    pub fn now_ms(&self) -> i64 {
        self.base_ms + self.base.elapsed().as_millis() as i64
    }
}

pub(crate) struct Inner {
    pub settings: ProducerSettings,
    pub cluster: Arc<Cluster>,
    pub acc: Accumulator,
    pub memory: Semaphore,
    pub mem_waiters: AtomicUsize,
    /// Wakes the sender.
    pub wake: Notify,
    /// Signalled when the last incomplete record completes.
    pub idle: Notify,
    pub flushing: AtomicUsize,
    pub closing: AtomicBool,
    pub abort: AtomicBool,
    pub metrics: ProducerMetrics,
    pub clock: WallClock,
    /// (producer id, epoch) of the idempotent producer; (-1, -1) otherwise.
    pub producer_id: Mutex<(i64, i16)>,
    /// Where batches of tagged records are reported.
    pub listener: std::sync::OnceLock<Arc<dyn DeliveryListener>>,
    sender: Mutex<Option<JoinHandle<()>>>,
}

impl Inner {
    /// Records completed: memory returned, flush waiters told when nothing is left.
    pub(crate) fn records_done(&self, records: usize, mem: usize) {
        if mem > 0 {
            self.memory.add_permits(mem);
        }
        let left = {
            let mut st = self.acc.state.lock();
            st.incomplete = st.incomplete.saturating_sub(records);
            st.incomplete
        };
        if left == 0 {
            self.idle.notify_waiters();
        }
    }
}

/// Closes the producer in the background when the last handle is dropped: queued
/// records are still delivered.
struct DropGuard(Arc<Inner>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.closing.store(true, Ordering::SeqCst);
        self.0.wake.notify_one();
    }
}

/// A Kafka producer. Cheap to clone; all clones share one accumulator and sender.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
    _guard: Arc<DropGuard>,
}

impl Producer {
    /// Connects to `bootstrap` (`bootstrap.servers`), fetches a producer id when
    /// idempotence is on, and starts the sender. Record partitioning randomness is
    /// seeded from `client.id`; use [`Producer::with_seed`] to tie it to a run's seed.
    pub async fn new(bootstrap: &str, config: ClientConfig) -> Result<Producer, ClientError> {
        let client_id = config.get("client.id");
        let seed = client_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        Producer::with_seed(bootstrap, config, seed).await
    }

    /// As [`Producer::new`], with the seed for the sticky partitioner's choices.
    pub async fn with_seed(
        bootstrap: &str,
        config: ClientConfig,
        seed: u64,
    ) -> Result<Producer, ClientError> {
        let mut settings = ProducerSettings::from_config(&config)?;
        let cluster = Cluster::new(bootstrap, &settings.client_id);
        let conn = cluster.any().await?;
        let mut producer_id = None;
        if settings.idempotence {
            if conn
                .version(kafka_protocol::messages::ApiKey::InitProducerId)
                .is_none()
            {
                tracing::warn!(
                    "enable.idempotence disabled: the broker does not serve InitProducerId"
                );
                settings.idempotence = false;
            } else {
                producer_id = Some(
                    sender::init_producer_id(
                        &cluster,
                        None,
                        settings.retry_backoff,
                        settings.request_timeout,
                    )
                    .await?,
                );
            }
        }
        let acc = Accumulator::new(
            AccConfig {
                batch_size: settings.batch_size,
                linger: settings.linger,
                delivery_timeout: settings.delivery_timeout,
                max_request_size: settings.max_request_size,
                keyless: settings.keyless,
                ignore_keys: settings.ignore_keys,
                idempotent: settings.idempotence,
                one_in_flight_per_partition: !settings.idempotence && settings.max_in_flight == 1,
            },
            seed,
        );
        let metrics = ProducerMetrics::new(&settings.client_id, settings.buffer_memory as i64);
        let inner = Arc::new(Inner {
            memory: Semaphore::new(settings.buffer_memory.min(Semaphore::MAX_PERMITS)),
            settings,
            cluster,
            acc,
            mem_waiters: AtomicUsize::new(0),
            wake: Notify::new(),
            idle: Notify::new(),
            flushing: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            abort: AtomicBool::new(false),
            metrics,
            clock: WallClock::system(),
            producer_id: Mutex::new((-1, -1)),
            listener: std::sync::OnceLock::new(),
            sender: Mutex::new(None),
        });
        if let Some(p) = producer_id {
            *inner.producer_id.lock() = p;
        }
        let handle = tokio::spawn(sender::run(inner.clone(), producer_id));
        *inner.sender.lock() = Some(handle);
        Ok(Producer {
            _guard: Arc::new(DropGuard(inner.clone())),
            inner,
        })
    }

    /// The settings in effect (after Java's implicit rules).
    pub fn settings(&self) -> &ProducerSettings {
        &self.inner.settings
    }

    /// The cluster view (metadata, connections) this producer uses.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.inner.cluster
    }

    /// The producer id and epoch in use (idempotent producer), if any.
    pub fn producer_id(&self) -> Option<(i64, i16)> {
        let p = sender::current_producer_id(&self.inner);
        (p.0 >= 0).then_some(p)
    }

    /// Queues a record; awaits only for `buffer.memory` back-pressure (or the first
    /// metadata of its topic). The returned future resolves on ack or final failure.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.enqueue(record, Completion::Oneshot(tx)).await?;
        Ok(DeliveryFuture { rx })
    }

    /// Queues a record and calls `callback` once with its outcome, on the producer's
    /// sender task (keep it short). Cheaper than [`Producer::send`]: no channel per
    /// record, and no allocation at all when the closure captures nothing.
    pub async fn send_with<F>(&self, record: ProducerRecord, callback: F) -> Result<(), ClientError>
    where
        F: FnOnce(Result<RecordMetadata, ClientError>) + Send + 'static,
    {
        self.enqueue(record, Completion::Callback(Box::new(callback)))
            .await
    }

    /// Queues a record whose outcome goes, with `tag`, to the listener set with
    /// [`Producer::set_delivery_listener`], once per batch (records sent this way
    /// before a listener is set are reported to nobody).
    pub async fn send_tagged(&self, record: ProducerRecord, tag: Tag) -> Result<(), ClientError> {
        self.enqueue(record, Completion::Tagged(tag)).await
    }

    /// Sets the listener for [`Producer::send_tagged`] records; only the first call
    /// takes effect (returns false otherwise).
    pub fn set_delivery_listener(&self, listener: Arc<dyn DeliveryListener>) -> bool {
        self.inner.listener.set(listener).is_ok()
    }

    /// Queues a record nobody waits for (failures still count in the metrics).
    pub async fn send_and_forget(&self, record: ProducerRecord) -> Result<(), ClientError> {
        self.enqueue(record, Completion::None).await
    }

    async fn enqueue(
        &self,
        record: ProducerRecord,
        completion: Completion,
    ) -> Result<(), ClientError> {
        let inner = &*self.inner;
        if inner.closing.load(Ordering::Relaxed) {
            return Err(ClientError::Other(
                "cannot send after the producer has been closed".into(),
            ));
        }
        let s = &inner.settings;
        let fixed = record_fixed_len(
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        );
        let max_len = record_max_len(fixed);
        let size = max_len + HEADER_LEN;
        if size > s.max_request_size || size > s.buffer_memory {
            return Err(ClientError::kafka(
                10,
                Some(format!(
                    "the record is {size} bytes when serialized, more than max.request.size ({}) or buffer.memory ({})",
                    s.max_request_size, s.buffer_memory
                )),
            ));
        }
        self.reserve_memory(max_len).await?;
        let timestamp = record.timestamp_ms.unwrap_or_else(|| inner.clock.now_ms());
        let mut completion = completion;
        let mut loaded = false;
        loop {
            match inner.acc.append(
                &record,
                timestamp,
                fixed,
                max_len,
                max_len,
                completion,
                Instant::now,
            ) {
                Ok((_, wake)) => {
                    if wake {
                        inner.wake.notify_one();
                    }
                    return Ok(());
                }
                Err((AppendError::UnknownTopic, c)) if !loaded => {
                    completion = c;
                    loaded = true;
                    if let Err(e) = self.load_topic(&record.topic).await {
                        inner.memory.add_permits(max_len);
                        return Err(e);
                    }
                }
                Err((AppendError::UnknownTopic, _)) => {
                    inner.memory.add_permits(max_len);
                    return Err(ClientError::kafka(
                        3,
                        Some(format!("topic {} is not known", record.topic)),
                    ));
                }
                Err((AppendError::Invalid(e), _)) => {
                    inner.memory.add_permits(max_len);
                    return Err(e);
                }
            }
        }
    }

    async fn reserve_memory(&self, bytes: usize) -> Result<(), ClientError> {
        let inner = &*self.inner;
        let n = bytes as u32;
        if let Ok(p) = inner.memory.try_acquire_many(n) {
            p.forget();
            return Ok(());
        }
        // Out of buffer.memory: make every batch ready (as Java does when threads wait
        // on the buffer pool) and wait for acknowledgements to free space.
        inner.mem_waiters.fetch_add(1, Ordering::SeqCst);
        inner.wake.notify_one();
        let r = tokio::time::timeout(MAX_BLOCK, inner.memory.acquire_many(n)).await;
        inner.mem_waiters.fetch_sub(1, Ordering::SeqCst);
        match r {
            Ok(Ok(p)) => {
                p.forget();
                Ok(())
            }
            Ok(Err(_)) => Err(ClientError::Other("the producer is closed".into())),
            Err(_) => Err(ClientError::Other(format!(
                "failed to allocate {bytes} bytes within max.block.ms ({} ms): buffer.memory is full",
                MAX_BLOCK.as_millis()
            ))),
        }
    }

    /// The topic's partition count, as Java's `partitionsFor`: waits (up to
    /// max.block.ms) until the topic is in metadata, asking with auto-creation allowed,
    /// so a broker with `auto.create.topics.enable` creates a missing topic.
    pub async fn partitions_for(&self, topic: &str) -> Result<i32, ClientError> {
        self.load_topic(topic).await?;
        Ok(self
            .inner
            .cluster
            .topic(topic)
            .map_or(0, |t| t.partitions.len() as i32))
    }

    /// The topic's partition count as this producer's metadata knows it now (what the
    /// default partitioner maps keys over), without waiting; `None` before the topic's
    /// first metadata. It grows when a metadata refresh (every `metadata.max.age.ms`,
    /// or after an error) finds partitions added.
    pub fn known_partitions(&self, topic: &str) -> Option<i32> {
        self.inner.acc.partition_count(topic)
    }

    /// A counter that moves whenever a topic became known or gained partitions: cheap
    /// to poll per record, to know when to ask [`Producer::known_partitions`] again.
    pub fn partition_growth(&self) -> u64 {
        self.inner.acc.growth()
    }

    /// Waits (up to max.block.ms) until the topic is in metadata, then registers it.
    async fn load_topic(&self, topic: &str) -> Result<(), ClientError> {
        let inner = &*self.inner;
        let deadline = Instant::now() + MAX_BLOCK;
        loop {
            let err = match inner.cluster.refresh_with(&[topic.to_string()], true).await {
                Ok(md) => match md.topics.get(topic) {
                    Some(t) if t.error_code == 0 && !t.partitions.is_empty() => {
                        let leaders = sender::leaders_of(t);
                        inner.acc.update_topic(topic, &leaders);
                        return Ok(());
                    }
                    Some(t) => {
                        ClientError::kafka(if t.error_code == 0 { 5 } else { t.error_code }, None)
                    }
                    None => ClientError::kafka(
                        3,
                        Some(format!("topic {topic} not present in metadata")),
                    ),
                },
                Err(e) => e,
            };
            if Instant::now() >= deadline || !(err.is_retriable() || err.code() == Some(3)) {
                return Err(match err {
                    ClientError::Kafka { code: 3, .. } => ClientError::kafka(
                        3,
                        Some(format!(
                            "topic {topic} not present in metadata after {} ms",
                            MAX_BLOCK.as_millis()
                        )),
                    ),
                    e => e,
                });
            }
            tokio::time::sleep(inner.settings.retry_backoff.max(Duration::from_millis(10))).await;
        }
    }

    /// Makes every queued record ready now (ignoring linger.ms) and waits until all of
    /// them, and any sent meanwhile, are acknowledged or failed.
    pub async fn flush(&self) -> Result<(), ClientError> {
        let inner = &*self.inner;
        struct Flushing<'a>(&'a AtomicUsize);
        impl Drop for Flushing<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        inner.flushing.fetch_add(1, Ordering::SeqCst);
        let _flushing = Flushing(&inner.flushing);
        loop {
            let idle = inner.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if inner.acc.incomplete() == 0 {
                return Ok(());
            }
            if inner
                .sender
                .lock()
                .as_ref()
                .is_some_and(|h| h.is_finished())
            {
                return Err(ClientError::Other(
                    "the producer's sender has stopped".into(),
                ));
            }
            inner.wake.notify_one();
            idle.await;
        }
    }

    /// Stops accepting records, delivers what is queued for up to `timeout`, then fails
    /// whatever is left and stops the sender (Java's `close(Duration)`).
    pub async fn close(self, timeout: Duration) {
        let inner = self.inner.clone();
        inner.closing.store(true, Ordering::SeqCst);
        inner.wake.notify_one();
        if tokio::time::timeout(timeout, self.flush()).await.is_err() {
            inner.abort.store(true, Ordering::SeqCst);
            inner.wake.notify_one();
        }
        let handle = inner.sender.lock().take();
        if let Some(h) = handle {
            let _ = h.await;
        }
    }

    /// The client metrics (register them with [`ProducerMetrics::register`]).
    pub fn prometheus(&self) -> &ProducerMetrics {
        &self.inner.metrics
    }

    /// A snapshot of the Java-named client metrics.
    pub fn metrics(&self) -> ProducerMetricsSnapshot {
        let inner = &*self.inner;
        inner
            .metrics
            .buffer_available_bytes
            .set(inner.memory.available_permits() as i64);
        inner.metrics.snapshot(inner.acc.incomplete() as u64)
    }
}
