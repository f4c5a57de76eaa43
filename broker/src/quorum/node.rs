//! One voter of the controller quorum, run inside a node's process: it serves the
//! controller listener, takes part in elections ([`super::raft`]), stores images
//! ([`super::store`]) and installs committed ones into the node's local
//! [`Controller`] copy. While it leads it is the active controller: it applies the
//! brokers' [`Command`]s to its own working copy (`sm`, a [`Controller`] of its own),
//! ships each resulting image to the voters and answers once a majority stored it; it
//! registers brokers from their heartbeats and fences those whose heartbeats stop for
//! `broker.session.timeout.ms` (their partitions get new leaders, as in one process).
//!
//! One task owns all state; connections and per-peer senders talk to it through
//! channels, so no lock is held across the network.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kafkalab_sim::net::{self, Listener, Stream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::raft::{Action, Raft, Tag};
use super::store::{Persisted, Store, StoreError, StoredImage};
use super::transport::{self, Message};
use crate::clock::Clock;
use crate::cluster::command::Command;
use crate::cluster::controller::{Controller, MetadataImage};
use crate::cluster::metadata::MetadataError;
use crate::config::BrokerConfig;
use crate::replication::BrokerId;

/// How a voter is set up.
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    pub id: BrokerId,
    /// Every voter's controller listener (`controller.quorum.voters`).
    pub voters: BTreeMap<BrokerId, SocketAddr>,
    /// `controller.quorum.election.timeout.ms`.
    pub election_timeout: Duration,
    /// `broker.session.timeout.ms`.
    pub session_timeout: Duration,
    pub log_dir: PathBuf,
}

/// A running voter; dropping it does not stop it, [`QuorumNode::stop`] does.
pub struct QuorumNode {
    task: JoinHandle<()>,
    accept: JoinHandle<()>,
    shutdown: watch::Sender<bool>,
}

impl QuorumNode {
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        self.accept.abort();
        let _ = self.task.await;
    }
}

enum Event {
    Inbound(Message, oneshot::Sender<Message>),
    Peer(BrokerId, Message),
}

/// Starts the voter on `listener` (its address in `voters`). `view` is the node's
/// local copy of the committed metadata; `base` the broker configuration the active
/// controller applies topic defaults from.
pub fn start(
    cfg: QuorumConfig,
    listener: Listener,
    view: Arc<Controller>,
    base: BrokerConfig,
    cluster_id: String,
    clock: Arc<dyn Clock>,
) -> Result<QuorumNode, StoreError> {
    let store = Store::new(&cfg.log_dir);
    let persisted = store.load()?;
    let (events_tx, events) = mpsc::channel(256);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let accept = tokio::spawn(accept_loop(listener, events_tx.clone()));
    let mut peers = BTreeMap::new();
    for (&id, &addr) in &cfg.voters {
        if id != cfg.id {
            let (tx, rx) = mpsc::channel(4);
            tokio::spawn(peer_loop(
                id,
                addr,
                rx,
                events_tx.clone(),
                cfg.election_timeout,
            ));
            peers.insert(id, tx);
        }
    }
    let ids: Vec<BrokerId> = cfg.voters.keys().copied().collect();
    let now = Instant::now();
    let raft = Raft::new(
        cfg.id,
        &ids,
        cfg.election_timeout,
        (persisted.term, persisted.voted_for, persisted.tag()),
        now,
    );
    tracing::info!(
        node = cfg.id,
        term = persisted.term,
        stored = ?persisted.tag(),
        "controller quorum voter starting"
    );
    let voter = Voter {
        cfg,
        raft,
        store,
        persisted,
        view,
        base,
        cluster_id,
        clock,
        sm: None,
        uncommitted: BTreeMap::new(),
        pending: Vec::new(),
        seen: BTreeMap::new(),
        installed: None,
        peers,
    };
    let task = tokio::spawn(voter.run(events, shutdown_rx));
    Ok(QuorumNode {
        task,
        accept,
        shutdown,
    })
}

async fn accept_loop(mut listener: Listener, events: mpsc::Sender<Event>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        tokio::spawn(serve(stream, events.clone()));
    }
}

/// One inbound connection: each request goes to the voter, its answer back.
async fn serve(mut stream: Stream, events: mpsc::Sender<Event>) {
    loop {
        let msg = match transport::read(&mut stream).await {
            Ok(m) => m,
            Err(e) => {
                tracing::trace!("controller connection closed: {e}");
                return;
            }
        };
        let (tx, rx) = oneshot::channel();
        if events.send(Event::Inbound(msg, tx)).await.is_err() {
            return;
        }
        // The voter dropped it (stopping): close.
        let Ok(reply) = rx.await else { return };
        if transport::write(&mut stream, &reply).await.is_err() {
            return;
        }
    }
}

/// Sends the voter's messages to one peer, one at a time, and hands back the answers.
async fn peer_loop(
    peer: BrokerId,
    addr: SocketAddr,
    mut outbox: mpsc::Receiver<Message>,
    events: mpsc::Sender<Event>,
    limit: Duration,
) {
    let mut conn: Option<Stream> = None;
    while let Some(msg) = outbox.recv().await {
        let mut stream = match conn.take() {
            Some(s) => s,
            None => match tokio::time::timeout(limit, net::connect(&addr.to_string())).await {
                Ok(Ok(s)) => s,
                _ => continue,
            },
        };
        match transport::call(&mut stream, &msg, limit).await {
            Ok(reply) => {
                conn = Some(stream);
                if events.send(Event::Peer(peer, reply)).await.is_err() {
                    return;
                }
            }
            Err(e) => tracing::trace!(peer, "controller peer unreachable: {e}"),
        }
    }
}

struct Voter {
    cfg: QuorumConfig,
    raft: Raft,
    store: Store,
    persisted: Persisted,
    view: Arc<Controller>,
    base: BrokerConfig,
    cluster_id: String,
    clock: Arc<dyn Clock>,
    /// The active controller's working copy (newest image, committed or not).
    sm: Option<Arc<Controller>>,
    /// The leader's images not yet committed, by tag.
    uncommitted: BTreeMap<Tag, MetadataImage>,
    /// Commands waiting for their image to commit: (tag, answer, result).
    pending: Vec<(Tag, oneshot::Sender<Message>, Message)>,
    /// Leader: each broker's last heartbeat and incarnation.
    seen: BTreeMap<BrokerId, (Instant, u64)>,
    /// The tag installed into the node's view.
    installed: Option<Tag>,
    peers: BTreeMap<BrokerId, mpsc::Sender<Message>>,
}

impl Voter {
    async fn run(mut self, mut events: mpsc::Receiver<Event>, mut shutdown: watch::Receiver<bool>) {
        // Heartbeats (and timer checks) ten times per election timeout.
        let mut tick =
            tokio::time::interval((self.cfg.election_timeout / 10).max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(Event::Inbound(m, reply)) => self.on_inbound(m, reply),
                    Some(Event::Peer(from, m)) => self.on_peer(from, m),
                    None => break,
                },
                _ = tick.tick() => self.on_tick(),
                _ = shutdown.changed() => break,
            }
        }
        self.view.set_contact(false);
    }

    fn persist(&mut self) {
        // The write ends with an fsync: on a multi-threaded runtime the other tasks
        // (the broker's connections) move to another worker meanwhile.
        let save = || self.store.save(&self.persisted);
        let saved = match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(save),
            _ => save(),
        };
        if let Err(e) = saved {
            // Answering without the state on disk could break the election rules
            // after a crash; the voter goes on (the lab keeps running) but says so.
            tracing::error!(node = self.cfg.id, "cannot store the quorum state: {e}");
        }
    }

    /// Stores term and vote when the election rules changed them.
    fn persist_term(&mut self) {
        if (self.raft.term, self.raft.voted_for) != (self.persisted.term, self.persisted.voted_for)
        {
            self.persisted.term = self.raft.term;
            self.persisted.voted_for = self.raft.voted_for;
            self.persist();
        }
    }

    fn send(&self, peer: BrokerId, m: Message) {
        if let Some(tx) = self.peers.get(&peer) {
            // Full: that peer is slow or gone; the next heartbeat carries the news.
            let _ = tx.try_send(m);
        }
    }

    fn act(&mut self, actions: impl IntoIterator<Item = Action>) {
        for a in actions {
            match a {
                Action::RequestVotes { term, last } => {
                    tracing::info!(node = self.cfg.id, term, "standing for controller election");
                    for &p in self.peers.keys() {
                        self.send(
                            p,
                            Message::VoteRequest {
                                term,
                                candidate: self.cfg.id,
                                last,
                            },
                        );
                    }
                }
                Action::BecameLeader { term } => self.lead(term),
                Action::SteppedDown => {
                    self.view.set_contact(false);
                    if self.sm.take().is_some() {
                        tracing::info!(
                            node = self.cfg.id,
                            term = self.raft.term,
                            "no longer the active controller"
                        );
                    }
                    self.uncommitted.clear();
                    for (_, reply, _) in self.pending.drain(..) {
                        let _ = reply.send(Message::NotLeader { leader: None });
                    }
                }
            }
        }
    }

    /// Won an election: load the stored image into a working copy, record the new
    /// controller (electing partition leaders where needed) and ship that image.
    fn lead(&mut self, term: u64) {
        tracing::info!(node = self.cfg.id, term, "active controller");
        let ids: Vec<BrokerId> = self.cfg.voters.keys().copied().collect();
        // Its elections count in this node's controller metrics.
        let sm = Controller::with_metrics(
            &ids,
            self.base.clone(),
            self.cluster_id.clone(),
            self.view.metrics.clone(),
            prometheus::Registry::new(),
        );
        if let Some(img) = &self.persisted.image {
            sm.install(img.image.clone());
        }
        sm.set_elected(self.cfg.id, term);
        // Every registered broker gets a full session to heartbeat the new controller.
        let now = Instant::now();
        self.seen = sm.read(|m| {
            m.nodes
                .values()
                .filter(|n| n.alive)
                .map(|n| (n.id, (now, n.incarnation)))
                .collect()
        });
        self.sm = Some(sm);
        self.view.set_contact(true);
        self.propose();
    }

    /// Leader: stores the working copy as a new image and ships it.
    fn propose(&mut self) -> Option<Tag> {
        let sm = self.sm.as_ref()?;
        let image = sm.export();
        let now = Instant::now();
        let tag = self.raft.propose(now, self.raft.last.version + 1);
        self.uncommitted.insert(tag, image.clone());
        self.persisted.term = self.raft.term;
        self.persisted.voted_for = self.raft.voted_for;
        self.persisted.image = Some(StoredImage { tag, image });
        self.persist();
        // The leader's own copy counts toward the majority.
        let (committed, _) = self
            .raft
            .on_append_reply(now, self.cfg.id, self.raft.term, tag);
        if let Some(c) = committed {
            self.commit(c);
        }
        self.broadcast();
        Some(tag)
    }

    fn broadcast(&self) {
        if !self.raft.is_leader() {
            return;
        }
        for &p in self.peers.keys() {
            let image = if self.raft.needs_image(p) {
                self.persisted.image.clone().map(Box::new)
            } else {
                None
            };
            self.send(
                p,
                Message::Append {
                    term: self.raft.term,
                    leader: self.cfg.id,
                    committed: self.raft.committed,
                    image,
                },
            );
        }
    }

    /// Leader: everything up to `c` is committed.
    fn commit(&mut self, c: Tag) {
        if let Some(image) = self.uncommitted.remove(&c) {
            self.view.install_at(image, c.version);
            self.installed = Some(c);
        }
        self.uncommitted.retain(|t, _| *t > c);
        let (done, waiting): (Vec<_>, Vec<_>) =
            self.pending.drain(..).partition(|(t, _, _)| *t <= c);
        self.pending = waiting;
        for (_, reply, answer) in done {
            let _ = reply.send(answer);
        }
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        let actions = self.raft.tick(now);
        self.persist_term();
        self.act(actions);
        self.view.set_contact(self.raft.in_contact(now));
        if !self.raft.is_leader() {
            return;
        }
        let Some(sm) = self.sm.clone() else { return };
        let mut changed = false;
        // Fence brokers whose heartbeats stopped.
        let alive: Vec<BrokerId> = sm.read(|m| m.live_nodes().iter().map(|n| n.id).collect());
        for id in alive {
            let last = self.seen.get(&id).map(|&(at, _)| at);
            if last.is_none_or(|at| now.saturating_duration_since(at) >= self.cfg.session_timeout) {
                tracing::info!(
                    node = id,
                    "broker fenced: no heartbeat for broker.session.timeout.ms"
                );
                sm.node_down(id);
                self.seen.remove(&id);
                changed = true;
            }
        }
        if !sm
            .maybe_rebalance(self.cfg.id, self.clock.now_ms())
            .is_empty()
        {
            changed = true;
        }
        if changed {
            self.propose();
        } else {
            self.broadcast();
        }
    }

    fn on_inbound(&mut self, m: Message, reply: oneshot::Sender<Message>) {
        let now = Instant::now();
        match m {
            Message::VoteRequest {
                term,
                candidate,
                last,
            } => {
                let (granted, term, action) = self.raft.on_vote_request(now, candidate, term, last);
                self.persist_term();
                self.act(action);
                let _ = reply.send(Message::VoteReply { term, granted });
            }
            Message::Append {
                term,
                leader,
                committed,
                image,
            } => {
                let tag = image.as_ref().map(|i| i.tag);
                let (out, action) = self.raft.on_append(now, leader, term, tag, committed);
                self.act(action);
                if out.store {
                    self.persisted.image = image.map(|i| *i);
                    self.persisted.term = self.raft.term;
                    self.persisted.voted_for = self.raft.voted_for;
                    self.persist();
                } else {
                    self.persist_term();
                }
                if out.install && self.installed != Some(self.raft.last) {
                    if let Some(img) = &self.persisted.image {
                        self.view.install_at(img.image.clone(), img.tag.version);
                        self.installed = Some(img.tag);
                    }
                }
                self.view.set_contact(self.raft.in_contact(now));
                let _ = reply.send(Message::AppendReply {
                    term: self.raft.term,
                    stored: self.raft.last,
                });
            }
            Message::Submit { command } => self.on_submit(command, reply),
            Message::Heartbeat {
                node,
                host,
                port,
                incarnation,
            } => self.on_heartbeat(node, host, port, incarnation, reply),
            other => {
                tracing::debug!("unexpected request on the controller listener: {other:?}");
                let _ = reply.send(Message::NotLeader {
                    leader: self.raft.leader,
                });
            }
        }
    }

    fn not_leader(&self) -> Message {
        Message::NotLeader {
            leader: self.raft.leader.filter(|&l| l != self.cfg.id),
        }
    }

    fn on_submit(&mut self, command: Command, reply: oneshot::Sender<Message>) {
        let Some(sm) = self.sm.clone().filter(|_| self.raft.is_leader()) else {
            let _ = reply.send(self.not_leader());
            return;
        };
        let read_only = command.is_read_only();
        if let Command::RegisterNode {
            id, incarnation, ..
        } = &command
        {
            // A registration is a sign of life: its session starts now.
            self.seen.insert(*id, (Instant::now(), *incarnation));
        }
        let result = sm.apply(command);
        if read_only || result.is_err() {
            let _ = reply.send(Message::Submitted { result, at: None });
            return;
        }
        match self.propose() {
            Some(tag) => {
                let answer = Message::Submitted {
                    result,
                    at: Some(tag),
                };
                if self.raft.committed.is_some_and(|c| c >= tag) {
                    let _ = reply.send(answer);
                } else {
                    self.pending.push((tag, reply, answer));
                }
            }
            None => {
                let _ = reply.send(Message::Submitted {
                    result: Err(MetadataError::NoController),
                    at: None,
                });
            }
        }
    }

    fn on_heartbeat(
        &mut self,
        node: BrokerId,
        host: String,
        port: u16,
        incarnation: u64,
        reply: oneshot::Sender<Message>,
    ) {
        let Some(sm) = self.sm.clone().filter(|_| self.raft.is_leader()) else {
            let _ = reply.send(self.not_leader());
            return;
        };
        self.seen.insert(node, (Instant::now(), incarnation));
        let registered = sm.read(|m| {
            m.nodes.get(&node).map(|n| {
                (
                    n.alive,
                    n.incarnation == incarnation && n.host == host && n.port == port,
                )
            })
        });
        let mut changed = false;
        if registered == Some((true, false)) {
            // A new start of the process (or a new address): the old one is fenced
            // first, so its partitions move before the new start registers.
            tracing::info!(node, "broker restarted: fencing its previous incarnation");
            sm.node_down(node);
            changed = true;
        }
        if registered != Some((true, true)) {
            tracing::info!(node, %host, port, "broker registered");
            sm.register(node, host, port, incarnation);
            changed = true;
        }
        if changed {
            self.propose();
        }
        let _ = reply.send(Message::HeartbeatOk);
    }

    fn on_peer(&mut self, from: BrokerId, m: Message) {
        let now = Instant::now();
        match m {
            Message::VoteReply { term, granted } => {
                let action = self.raft.on_vote_reply(now, from, term, granted);
                self.persist_term();
                self.act(action);
            }
            Message::AppendReply { term, stored } => {
                let (committed, action) = self.raft.on_append_reply(now, from, term, stored);
                self.persist_term();
                self.act(action);
                if let Some(c) = committed {
                    self.commit(c);
                    // Tell the voters at once, so their brokers see it soon.
                    self.broadcast();
                }
            }
            other => tracing::debug!(peer = from, "unexpected answer: {other:?}"),
        }
    }
}
