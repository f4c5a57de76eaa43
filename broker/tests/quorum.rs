//! The networked controller quorum without brokers: three voters on loopback in one
//! runtime, changes sent through `QuorumClient`. A change is visible on every voter's
//! copy once committed, survives the loss of the active controller, stops without a
//! majority (NOT_CONTROLLER after the request timeout) and resumes when a voter
//! restarts from its stored state.
//!
//! Run: `cargo test -p kafkalab-broker --test quorum`

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kafkalab_broker::clock::SystemClock;
use kafkalab_broker::cluster::command::{Command, MetadataWriter};
use kafkalab_broker::cluster::controller::Controller;
use kafkalab_broker::cluster::metadata::MetadataError;
use kafkalab_broker::quorum::client::QuorumClient;
use kafkalab_broker::quorum::node::{self, QuorumConfig, QuorumNode};
use kafkalab_broker::BrokerConfig;
use tokio::net::TcpListener;

struct Voter {
    view: Arc<Controller>,
    node: Option<QuorumNode>,
}

struct Quorum {
    dir: tempfile::TempDir,
    voters: BTreeMap<i32, SocketAddr>,
    nodes: BTreeMap<i32, Voter>,
}

fn config() -> BrokerConfig {
    BrokerConfig::from_pairs(&[]).expect("config")
}

impl Quorum {
    async fn start() -> Quorum {
        let mut voters = BTreeMap::new();
        let mut listeners = BTreeMap::new();
        for id in 0..3 {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            voters.insert(id, l.local_addr().expect("addr"));
            listeners.insert(id, l);
        }
        let mut q = Quorum {
            dir: tempfile::tempdir().expect("tempdir"),
            voters,
            nodes: BTreeMap::new(),
        };
        for (id, l) in listeners {
            q.run(id, l);
        }
        q
    }

    /// Runs voter `id` on `listener` from its directory (a restart reads its state).
    fn run(&mut self, id: i32, listener: TcpListener) {
        let view = Controller::new(&[0, 1, 2], config(), "test".into()).expect("view");
        // A node's copy, as in a process: its contact with a controller is the voter's.
        view.set_remote(
            Arc::new(QuorumClient::new(
                self.voters.clone(),
                Duration::from_secs(2),
            )),
            1,
        );
        let node = node::start(
            QuorumConfig {
                id,
                voters: self.voters.clone(),
                election_timeout: Duration::from_millis(200),
                session_timeout: Duration::from_secs(60),
                log_dir: self.dir.path().join(format!("voter-{id}")),
            },
            kafkalab_sim::net::Listener::Tcp(listener),
            view.clone(),
            config(),
            "test".into(),
            Arc::new(SystemClock),
        )
        .expect("voter starts");
        self.nodes.insert(
            id,
            Voter {
                view,
                node: Some(node),
            },
        );
    }

    async fn stop(&mut self, id: i32) {
        let v = self.nodes.get_mut(&id).expect("voter");
        if let Some(n) = v.node.take() {
            n.stop().await;
        }
    }

    async fn restart(&mut self, id: i32) {
        let l = TcpListener::bind(self.voters[&id]).await.expect("rebind");
        self.run(id, l);
    }

    fn client(&self, deadline: Duration) -> QuorumClient {
        QuorumClient::new(self.voters.clone(), deadline)
    }

    fn view(&self, id: i32) -> &Arc<Controller> {
        &self.nodes[&id].view
    }
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(tokio::time::Instant::now() < until, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn register(id: i32) -> Command {
    Command::RegisterNode {
        id,
        host: "127.0.0.1".into(),
        port: 9000 + id as u16,
        incarnation: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_commit_on_a_majority_survive_failover_and_stop_without_one() {
    let mut q = Quorum::start().await;
    let client = q.client(Duration::from_secs(5));
    for id in 0..3 {
        client.submit(register(id)).await.expect("registered");
    }
    // Committed: every voter's copy names the three brokers alive.
    for id in 0..3 {
        let view = q.view(id).clone();
        eventually("three live brokers on every copy", || {
            view.read(|m| m.live_nodes().len()) == 3
        })
        .await;
    }
    let first = client
        .submit(Command::AllocateProducerId)
        .await
        .expect("producer id")
        .producer_id()
        .expect("an id");
    let leader = q
        .view(0)
        .read(|m| m.quorum.controller)
        .expect("an active controller");

    // The active controller goes: another is elected with everything committed.
    q.stop(leader).await;
    let next = client
        .submit(Command::AllocateProducerId)
        .await
        .expect("producer id after failover")
        .producer_id()
        .expect("an id");
    assert!(next > first, "{next} after {first}: an id handed out twice");
    let survivor = (0..3).find(|&i| i != leader).expect("a survivor");
    let view = q.view(survivor).clone();
    eventually("a new controller", || {
        view.read(|m| m.quorum.controller)
            .is_some_and(|c| c != leader)
    })
    .await;

    // Two of three gone: no majority, no change; the client gets NOT_CONTROLLER.
    let other = (0..3)
        .find(|&i| i != leader && i != survivor)
        .expect("other");
    q.stop(other).await;
    let short = q.client(Duration::from_millis(1500));
    let err = short
        .submit(Command::AllocateProducerId)
        .await
        .expect_err("no majority");
    assert_eq!(err, MetadataError::NoController);
    eventually("the survivor knows it has no controller", || {
        !q.view(survivor).has_controller()
    })
    .await;

    // A voter restarts from its stored state: a majority again, changes resume and
    // nothing committed was lost.
    q.restart(other).await;
    let again = client
        .submit(Command::AllocateProducerId)
        .await
        .expect("producer id once a majority is back")
        .producer_id()
        .expect("an id");
    assert!(again > next, "{again} after {next}");
    let view = q.view(other).clone();
    eventually("the restarted voter's copy is current", || {
        view.read(|m| m.live_nodes().len()) == 3
    })
    .await;
    for id in [survivor, other] {
        q.stop(id).await;
    }
}
