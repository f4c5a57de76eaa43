//! Starting and stopping a broker: binds the Kafka and metrics listeners and runs the
//! periodic log cleanup.

use std::net::SocketAddr;
use std::sync::Arc;

use kafkalab_sim::net::Listener;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::broker::{Broker, BrokerError};
use crate::clock::Clock;
use crate::cluster::controller::Controller;
use crate::config::BrokerConfig;
use crate::storage::Storage;
use crate::{http, network};

pub struct RunningBroker {
    pub broker: Arc<Broker>,
    pub kafka_addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

async fn bind_tcp(addr: SocketAddr) -> Result<TcpListener, BrokerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| BrokerError::Bind {
            addr: addr.to_string(),
            source,
        })
}

/// The Kafka listener: on the run's network (TCP, or a simulation's). The metrics
/// endpoint is always TCP: Prometheus scrapes it from outside.
async fn bind(addr: SocketAddr) -> Result<Listener, BrokerError> {
    Listener::bind(addr)
        .await
        .map_err(|source| BrokerError::Bind {
            addr: addr.to_string(),
            source,
        })
}

/// Opens the broker on `storage` and starts serving.
pub async fn start(
    config: BrokerConfig,
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
) -> Result<RunningBroker, BrokerError> {
    start_node(config, storage, clock, None).await
}

/// Starts a broker that is a node of `cluster` (its replica manager runs beside the
/// listener), or a single-node broker when `cluster` is `None`.
pub async fn start_node(
    config: BrokerConfig,
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    cluster: Option<Arc<Controller>>,
) -> Result<RunningBroker, BrokerError> {
    let listener = bind(config.listener).await?;
    let kafka_addr = listener.local_addr().map_err(|source| BrokerError::Bind {
        addr: config.listener.to_string(),
        source,
    })?;
    let metrics_listener = match config.metrics_listener {
        Some(a) => Some(bind_tcp(a).await?),
        None => None,
    };
    let broker = Broker::open_node(config, storage, clock, cluster.clone())?;
    broker.set_bound_address(kafka_addr);
    let (shutdown, rx) = watch::channel(false);
    let mut tasks = Vec::new();
    if let Some(c) = &cluster {
        // Before serving: a group moved here is loaded on its first request.
        let store = crate::cluster::group_store::ClusterGroupStore {
            controller: c.clone(),
            node: broker.node_id(),
        };
        let writes = broker.groups.attach_store(Arc::new(store));
        tasks.push(tokio::spawn(crate::cluster::group_store::run_writer(
            c.clone(),
            writes,
            rx.clone(),
        )));
    }
    tasks.push(tokio::spawn(network::listener::accept_loop(
        broker.clone(),
        listener,
        rx.clone(),
    )));
    let mut metrics_addr = None;
    if let Some(l) = metrics_listener {
        metrics_addr = l.local_addr().ok();
        let b = broker.clone();
        let refresh: http::Refresh = Arc::new(move || b.refresh_gauges());
        tasks.push(tokio::spawn(http::serve(
            l,
            vec![broker.registry.clone()],
            refresh,
            rx.clone(),
        )));
    }
    tasks.push(tokio::spawn(group_timer_loop(broker.clone(), rx.clone())));
    if let Some(c) = cluster {
        tasks.push(tokio::spawn(crate::cluster::manager::run(
            broker.clone(),
            c,
            rx.clone(),
        )));
    }
    tasks.push(tokio::spawn(cleanup_loop(broker.clone(), rx)));
    Ok(RunningBroker {
        broker,
        kafka_addr,
        metrics_addr,
        shutdown,
        tasks,
    })
}

/// Group timers (session expiry, rebalance timeout, initial delay) at 50 ms resolution.
async fn group_timer_loop(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => broker.groups.tick(),
            _ = shutdown.changed() => break,
        }
    }
}

async fn cleanup_loop(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let period = std::time::Duration::from_millis(broker.config.retention_check_interval_ms.max(1));
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let b = broker.clone();
                // Retention and compaction do file I/O: keep them off the async workers.
                let _ = kafkalab_sim::offload(move || b.run_cleanup()).await;
            }
            _ = shutdown.changed() => break,
        }
    }
}

impl RunningBroker {
    /// Stops serving at once, as a crashed process would: the listener, every
    /// connection (requests in flight get no answer) and every background task are
    /// dropped, nothing is flushed. What the log files hold survives.
    pub async fn crash(self) {
        self.broker.mark_stopped();
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// Stops accepting, stops the background tasks and flushes every log.
    pub async fn shutdown(self) {
        self.broker.mark_stopped();
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        let b = self.broker.clone();
        let _ = kafkalab_sim::offload(move || b.flush_all()).await;
    }
}
