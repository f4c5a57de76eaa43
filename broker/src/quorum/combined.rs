//! One process of a cluster of separate processes: a broker and a controller voter
//! (KRaft's `process.roles=broker,controller`). The voter runs on this node's address
//! in `controller.quorum.voters`; the broker reads the node's local copy of the
//! committed metadata and writes through [`QuorumClient`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kafkalab_sim::net::Listener;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::client::{run_heartbeats, run_isr_sync, QuorumClient};
use super::node::{self, QuorumConfig, QuorumNode};
use super::store::StoreError;
use crate::broker::BrokerError;
use crate::clock::Clock;
use crate::cluster::command::{Command, MetadataWriter};
use crate::cluster::controller::Controller;
use crate::config::{BrokerConfig, BrokerKey};
use crate::http;
use crate::replication::BrokerId;
use crate::server::{start_node, RunningBroker};
use crate::storage::Storage;

#[derive(Debug, thiserror::Error)]
pub enum CombinedError {
    #[error("controller.quorum.voters: {0}")]
    Voters(String),
    #[error("process.roles: only 'broker,controller' (combined mode) is supported, got '{0}'")]
    Roles(String),
    #[error("node.id {0} is not one of the controller.quorum.voters")]
    NotAVoter(BrokerId),
    #[error("cannot listen for the controller quorum on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("controller quorum state: {0}")]
    Store(#[from] StoreError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

/// `0@127.0.0.1:19090,1@127.0.0.1:19091,...` → id → address.
pub fn parse_voters(s: &str) -> Result<BTreeMap<BrokerId, SocketAddr>, String> {
    let mut out = BTreeMap::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (id, addr) = item
            .split_once('@')
            .ok_or_else(|| format!("expected id@host:port, got '{item}'"))?;
        let id: BrokerId = id
            .trim()
            .parse()
            .ok()
            .filter(|i| *i >= 0)
            .ok_or_else(|| format!("bad voter id in '{item}'"))?;
        let addr = addr.trim().replace("localhost", "127.0.0.1");
        let addr: SocketAddr = addr
            .parse()
            .map_err(|_| format!("expected an IP address and port in '{item}'"))?;
        if out.insert(id, addr).is_some() {
            return Err(format!("voter {id} is listed twice"));
        }
    }
    if out.is_empty() {
        return Err("no voters".into());
    }
    Ok(out)
}

/// A running broker + voter process.
pub struct CombinedNode {
    pub running: RunningBroker,
    pub controller_addr: SocketAddr,
    /// The Prometheus endpoint (broker and controller metrics), if enabled.
    pub metrics_addr: Option<SocketAddr>,
    pub controller: Arc<Controller>,
    client: Arc<QuorumClient>,
    quorum: QuorumNode,
    tasks: Vec<JoinHandle<()>>,
    metrics_stop: watch::Sender<bool>,
}

/// The same cluster id on every voter, stable across restarts: derived from the voter
/// list (FNV-1a).
fn cluster_id(voters: &BTreeMap<BrokerId, SocketAddr>) -> String {
    let text: String = voters.iter().map(|(i, a)| format!("{i}@{a},")).collect();
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("kafkalab-{h:013x}")
}

fn ms(config: &BrokerConfig, key: BrokerKey) -> Duration {
    Duration::from_millis(config.int(key).max(1) as u64)
}

/// Starts the voter and the broker. `incarnation` tells this start of the process from
/// earlier ones (the CLI passes the wall-clock time).
pub async fn start(
    config: BrokerConfig,
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    incarnation: u64,
) -> Result<CombinedNode, CombinedError> {
    let voters = parse_voters(&config.get(BrokerKey::ControllerQuorumVoters))
        .map_err(CombinedError::Voters)?;
    let roles = config.get(BrokerKey::ProcessRoles);
    let mut r: Vec<&str> = roles
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    r.sort_unstable();
    if !r.is_empty() && r != ["broker", "controller"] {
        return Err(CombinedError::Roles(roles));
    }
    let id = config.node_id;
    let addr = *voters.get(&id).ok_or(CombinedError::NotAVoter(id))?;
    // Kafka's `listeners=...,CONTROLLER://host:port` may name it too: it must agree.
    let names = config.get(BrokerKey::ControllerListenerNames);
    for item in config.get(BrokerKey::Listeners).split(',').map(str::trim) {
        let Some((scheme, at)) = item.split_once("://") else {
            continue;
        };
        if names.split(',').any(|n| n.trim() == scheme) {
            let at: Option<SocketAddr> = at.replace("localhost", "127.0.0.1").parse().ok();
            if at != Some(addr) {
                return Err(CombinedError::Voters(format!(
                    "listener {item} is not node {id}'s voter address {addr}"
                )));
            }
        }
    }
    let listener = Listener::bind(addr)
        .await
        .map_err(|source| CombinedError::Bind { addr, source })?;
    let controller_addr = listener
        .local_addr()
        .map_err(|source| CombinedError::Bind { addr, source })?;
    let ids: Vec<BrokerId> = voters.keys().copied().collect();
    let cluster_id = cluster_id(&voters);
    let view = Controller::new(&ids, config.clone(), cluster_id.clone())?;
    let client = Arc::new(QuorumClient::new(
        voters.clone(),
        ms(&config, BrokerKey::ControllerQuorumRequestTimeoutMs),
    ));
    view.set_remote(client.clone(), incarnation);
    client.set_view(&view);
    let session = ms(&config, BrokerKey::BrokerSessionTimeoutMs);
    let quorum = node::start(
        QuorumConfig {
            id,
            voters,
            election_timeout: ms(&config, BrokerKey::ControllerQuorumElectionTimeoutMs),
            session_timeout: session,
            log_dir: config.log_dir.clone(),
        },
        listener,
        view.clone(),
        config.clone(),
        cluster_id,
        clock.clone(),
    )?;
    let heartbeat = ms(&config, BrokerKey::BrokerHeartbeatIntervalMs).min(session / 3);
    // The metrics endpoint serves the broker's and the controller's families, so it is
    // bound here rather than by the broker.
    let metrics_listener = match config.metrics_listener {
        Some(a) => match TcpListener::bind(a).await {
            Ok(l) => Some(l),
            Err(source) => {
                quorum.stop().await;
                return Err(BrokerError::Bind {
                    addr: a.to_string(),
                    source,
                }
                .into());
            }
        },
        None => None,
    };
    let mut broker_config = config;
    broker_config.metrics_listener = None;
    let running = match start_node(broker_config, storage, clock, Some(view.clone())).await {
        Ok(r) => r,
        Err(e) => {
            quorum.stop().await;
            return Err(e.into());
        }
    };
    let (metrics_stop, metrics_rx) = watch::channel(false);
    let mut metrics_addr = None;
    let mut tasks = Vec::new();
    if let Some(l) = metrics_listener {
        metrics_addr = l.local_addr().ok();
        let b = running.broker.clone();
        let refresh: http::Refresh = Arc::new(move || b.refresh_gauges());
        tasks.push(tokio::spawn(http::serve(
            l,
            vec![running.broker.registry.clone(), view.registry.clone()],
            refresh,
            metrics_rx,
        )));
    }
    tasks.extend([
        tokio::spawn(run_heartbeats(
            client.clone(),
            id,
            running.broker.advertised(),
            incarnation,
            heartbeat,
        )),
        tokio::spawn(run_isr_sync(view.clone(), id)),
    ]);
    Ok(CombinedNode {
        running,
        controller_addr,
        metrics_addr,
        controller: view,
        client,
        quorum,
        tasks,
        metrics_stop,
    })
}

impl CombinedNode {
    /// A controlled shutdown: stops heartbeating and asks the controller to fence this
    /// broker at once (its partitions get new leaders now, not after
    /// `broker.session.timeout.ms`; without a controller it gives up after
    /// `controller.quorum.request.timeout.ms`), then stops the broker (flushing its
    /// logs) and the voter.
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.metrics_stop.send(true);
        let id = self.running.broker.node_id();
        if let Err(e) = self.client.submit(Command::FenceNode { id }).await {
            tracing::warn!(node = id, "controlled shutdown: not fenced ({e})");
        }
        self.running.shutdown().await;
        self.quorum.stop().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voters_parse_and_bad_lists_say_why() {
        let v = parse_voters("0@127.0.0.1:19090, 1@localhost:19091").expect("valid");
        assert_eq!(v.len(), 2);
        assert_eq!(v[&1].port(), 19091);
        for (bad, why) in [
            ("", "no voters"),
            ("0127.0.0.1:1", "expected id@host:port"),
            ("x@127.0.0.1:1", "bad voter id"),
            ("0@somehost:1", "IP address"),
            ("0@127.0.0.1:1,0@127.0.0.1:2", "twice"),
        ] {
            let e = parse_voters(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
