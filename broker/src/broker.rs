//! The broker's shared state: configuration, topics, producer ids, metrics, the clock,
//! and the append signal that wakes parked fetches. Handlers take `&Broker`.

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use prometheus::Registry;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::cluster::controller::Controller;
use crate::config::{BrokerConfig, BrokerKey};
use crate::group::consumer_group::ConsumerGroupConfig;
use crate::group::state::GroupConfig;
use crate::group::GroupCoordinator;
use crate::metrics::BrokerMetrics;
use crate::storage::{Storage, StorageError};
use crate::topics::TopicRegistry;

const PRODUCER_ID_FILE: &str = "producer-ids";
const CLUSTER_ID_FILE: &str = "cluster-id";
/// Producer ids are reserved in blocks so the file is written once per block.
const PRODUCER_ID_BLOCK: i64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

struct ProducerIds {
    next: i64,
    reserved_until: i64,
}

pub struct Broker {
    pub config: BrokerConfig,
    pub topics: TopicRegistry,
    pub groups: GroupCoordinator,
    pub metrics: BrokerMetrics,
    pub registry: Registry,
    pub clock: Arc<dyn Clock>,
    pub cluster_id: String,
    storage: Arc<dyn Storage>,
    producer_ids: Mutex<ProducerIds>,
    appended: watch::Sender<u64>,
    advertised: RwLock<(String, u16)>,
    /// The cluster this node belongs to; `None` for a single-node broker.
    cluster: Option<Arc<Controller>>,
    /// A stop-the-world pause (fault injection): nothing is served while true.
    paused: watch::Sender<bool>,
    /// Crashed or shut down: this instance serves nothing any more.
    stopped: std::sync::atomic::AtomicBool,
}

impl Broker {
    /// Opens the broker's state from `storage`, recovering every partition log.
    pub fn open(
        config: BrokerConfig,
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Broker>, BrokerError> {
        Self::open_node(config, storage, clock, None)
    }

    /// Opens a node of `cluster` (or a single-node broker when `None`). A cluster
    /// node's partitions start without a role (no produce or fetch served) until the
    /// controller's metadata gives them one, with the high watermarks checkpointed on
    /// this node before it stopped.
    pub fn open_node(
        config: BrokerConfig,
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        cluster: Option<Arc<Controller>>,
    ) -> Result<Arc<Broker>, BrokerError> {
        let topics = TopicRegistry::open(storage.clone(), &config, cluster.is_some())?;
        if cluster.is_some() {
            crate::cluster::checkpoint::restore(storage.as_ref(), &topics)?;
        }
        let groups = GroupCoordinator::open(
            storage.as_ref(),
            GroupConfig {
                min_session_timeout_ms: config.int(BrokerKey::GroupMinSessionTimeoutMs) as i32,
                max_session_timeout_ms: config.int(BrokerKey::GroupMaxSessionTimeoutMs) as i32,
                initial_rebalance_delay_ms: config.int(BrokerKey::GroupInitialRebalanceDelayMs),
                max_size: config.int(BrokerKey::GroupMaxSize) as usize,
            },
            ConsumerGroupConfig {
                session_timeout_ms: config.int(BrokerKey::GroupConsumerSessionTimeoutMs),
                heartbeat_interval_ms: config.int(BrokerKey::GroupConsumerHeartbeatIntervalMs)
                    as i32,
                max_size: config.int(BrokerKey::GroupConsumerMaxSize) as usize,
            },
            config.int(BrokerKey::OffsetsRetentionMinutes) * 60_000,
            clock.clone(),
        )?;
        let metrics = BrokerMetrics::new();
        // A cluster's nodes are scraped together: each labels its series with its id.
        let registry = match cluster {
            Some(_) => Registry::new_custom(
                None,
                Some(std::collections::HashMap::from([(
                    "node".to_string(),
                    config.node_id.to_string(),
                )])),
            )?,
            None => Registry::new(),
        };
        metrics.register(&registry)?;
        groups.metrics.register(&registry)?;
        let cluster_id = match (&cluster, storage.read_meta(CLUSTER_ID_FILE)?) {
            (Some(c), _) => c.cluster_id.clone(),
            (None, Some(b)) => String::from_utf8_lossy(&b).trim().to_string(),
            (None, None) => {
                let id = kafkalab_sim::random::uuid().simple().to_string()[..22].to_string();
                storage.write_meta(CLUSTER_ID_FILE, id.as_bytes())?;
                id
            }
        };
        let next = match storage.read_meta(PRODUCER_ID_FILE)? {
            Some(b) => String::from_utf8_lossy(&b).trim().parse().unwrap_or(0),
            None => 0,
        };
        let advertised = config
            .advertised
            .clone()
            .unwrap_or_else(|| (config.listener.ip().to_string(), config.listener.port()));
        Ok(Arc::new(Broker {
            config,
            topics,
            groups,
            metrics,
            registry,
            clock,
            cluster_id,
            storage,
            producer_ids: Mutex::new(ProducerIds {
                next,
                reserved_until: next,
            }),
            appended: watch::channel(0).0,
            advertised: RwLock::new(advertised),
            cluster,
            paused: watch::channel(false).0,
            stopped: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// Freezes (`true`) or thaws the node: requests, replica fetches and background
    /// replication work wait while frozen, like a process stopped by a long GC pause.
    pub fn set_paused(&self, paused: bool) {
        self.paused.send_replace(paused);
    }

    pub fn mark_stopped(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// Returns once the node is not paused.
    pub async fn wait_unpaused(&self) {
        let mut rx = self.paused.subscribe();
        let _ = rx.wait_for(|p| !*p).await;
    }

    /// The controller of the cluster this node is part of (`None`: single node).
    pub fn cluster(&self) -> Option<&Arc<Controller>> {
        self.cluster.as_ref()
    }

    /// The injected faults of this node's cluster (none for a single broker).
    pub fn faults(&self) -> Option<&Arc<crate::faults::Faults>> {
        self.cluster.as_ref().map(|c| &c.faults)
    }

    /// Extra latency of one append on this node's (slowed) disk.
    pub fn disk_latency(&self) -> std::time::Duration {
        self.faults()
            .map(|f| f.disk_latency(self.node_id()))
            .unwrap_or_default()
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }

    /// The host and port clients are told to connect to.
    pub fn advertised(&self) -> (String, u16) {
        self.advertised.read().clone()
    }

    /// Called once the listener is bound (port 0 becomes the real port).
    pub fn set_bound_address(&self, addr: std::net::SocketAddr) {
        if self.config.advertised.is_none() {
            *self.advertised.write() = (addr.ip().to_string(), addr.port());
        }
    }

    /// A new producer id, unique across restarts (reserved in persisted blocks).
    pub fn allocate_producer_id(&self) -> Result<i64, StorageError> {
        if let Some(c) = &self.cluster {
            return Ok(c.allocate_producer_id());
        }
        let mut ids = self.producer_ids.lock();
        if ids.next >= ids.reserved_until {
            let until = ids.next + PRODUCER_ID_BLOCK;
            self.storage
                .write_meta(PRODUCER_ID_FILE, until.to_string().as_bytes())?;
            ids.reserved_until = until;
        }
        let id = ids.next;
        ids.next += 1;
        Ok(id)
    }

    /// Wakes fetches parked waiting for data.
    pub fn notify_append(&self) {
        self.appended.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe_appends(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// Runs retention and compaction on every partition once.
    pub fn run_cleanup(&self) {
        self.groups.expire_offsets();
        let now = self.clock.now_ms();
        for topic in self.topics.all() {
            let log_config = topic.effective().log.clone();
            for p in topic.partitions() {
                match p.with_log(|log| log.cleanup(&log_config, now)) {
                    Ok(out) => self.metrics.cleanup_bytes.inc_by(out.bytes_removed),
                    Err(e) => {
                        tracing::warn!(topic = %topic.name, partition = p.index, "log cleanup failed: {e}")
                    }
                }
            }
        }
    }

    /// Makes every partition durable (clean shutdown).
    pub fn flush_all(&self) {
        if let Err(e) = self.groups.offsets.flush() {
            tracing::warn!("flushing committed offsets failed: {e}");
        }
        for topic in self.topics.all() {
            for p in topic.partitions() {
                if let Err(e) = p.with_log(|log| log.flush()) {
                    tracing::warn!(topic = %topic.name, partition = p.index, "flush failed: {e}");
                }
            }
        }
    }

    /// Fills the per-partition gauges from the logs (called at scrape time).
    pub fn refresh_gauges(&self) {
        let m = &self.metrics;
        m.log_size.reset();
        m.log_end_offset.reset();
        m.log_start_offset.reset();
        m.log_segments.reset();
        let topics = self.topics.all();
        let mut partitions = 0;
        let (mut leading, mut under_replicated, mut under_min_isr, mut max_lag) = (0, 0, 0, 0);
        let mut max_lag_ms = 0;
        let now = self.clock.now_ms();
        for topic in &topics {
            let min_isr = topic.effective().min_insync_replicas.max(1) as usize;
            for p in topic.partitions() {
                partitions += 1;
                {
                    let r = p.replica.lock();
                    leading += i64::from(r.is_leader());
                    if let Some(isr) = r.isr() {
                        let behind = isr.out_of_sync();
                        under_replicated += i64::from(!behind.is_empty());
                        under_min_isr += i64::from(isr.isr().len() < min_isr);
                        for f in behind.iter().chain(isr.isr()) {
                            if let Some((records, ms)) = isr.lag(*f, now) {
                                max_lag = max_lag.max(records);
                                max_lag_ms = max_lag_ms.max(ms);
                            }
                        }
                    }
                }
                let idx = p.index.to_string();
                let labels = [&*topic.name, idx.as_str()];
                p.inspect(|log| {
                    m.log_size
                        .with_label_values(&labels)
                        .set(log.size_bytes() as i64);
                    m.log_end_offset
                        .with_label_values(&labels)
                        .set(log.log_end_offset());
                    m.log_start_offset
                        .with_label_values(&labels)
                        .set(log.log_start_offset());
                    m.log_segments
                        .with_label_values(&labels)
                        .set(log.segment_count() as i64);
                });
            }
        }
        m.topics.set(topics.len() as i64);
        m.partitions.set(partitions);
        m.leader_partitions.set(leading);
        m.under_replicated.set(under_replicated);
        m.under_min_isr.set(under_min_isr);
        m.replica_max_lag.set(max_lag);
        m.replica_max_lag_seconds.set(max_lag_ms as f64 / 1000.0);
        self.groups.refresh_gauges(|topic, partition| {
            self.topics
                .get(topic)
                .and_then(|t| t.partition(partition))
                .map(|p| p.offsets().1)
        });
    }
}
