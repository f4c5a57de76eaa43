//! The sender: one task per producer that drains ready batches from the accumulator,
//! groups them per partition leader into one ProduceRequest per broker, and keeps at
//! most `max.in.flight.requests.per.connection` requests in flight on each broker's
//! (pipelined) connection, like the Java client's single Sender thread over its
//! NetworkClient. Responses come back as events; the sender completes records, retries
//! retriable failures after `retry.backoff.ms` (refreshing metadata to re-route),
//! expires batches past `delivery.timeout.ms`, and runs the idempotent producer's
//! bookkeeping (sequence numbers, resend in order, epoch bump after a sequence gap).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, ProduceRequest, ProduceResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::accumulator::{next_sequence, Batch, Completion};
use super::batch::{close, restamp, stamp_of};
use super::delivery::{BatchDelivery, Tag};
use super::{Inner, RecordMetadata};
use crate::client::cluster::{Cluster, TopicInfo};
use crate::client::connection::Connection;
use crate::client::error::{check, ClientError};

const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const UNKNOWN_PRODUCER_ID: i16 = 59;

/// Leaders of a topic's partitions, indexed by partition (-1: none).
pub(crate) fn leaders_of(t: &TopicInfo) -> Vec<i32> {
    let n = t
        .partitions
        .iter()
        .map(|p| p.partition + 1)
        .max()
        .unwrap_or(0)
        .max(0) as usize;
    let mut leaders = vec![-1; n];
    for p in &t.partitions {
        if p.partition >= 0 {
            leaders[p.partition as usize] = if p.error_code == 0 || p.leader >= 0 {
                p.leader
            } else {
                -1
            };
        }
    }
    leaders
}

/// InitProducerId for an idempotent producer (no transactional id). With `current`,
/// asks for an epoch bump of that id (KIP-360, InitProducerId v3+); otherwise, or on an
/// older broker, for a new id. Retriable errors are retried until `timeout`.
pub(crate) async fn init_producer_id(
    cluster: &Cluster,
    current: Option<(i64, i16)>,
    backoff: Duration,
    timeout: Duration,
) -> Result<(i64, i16), ClientError> {
    let deadline = Instant::now() + timeout;
    loop {
        let attempt = async {
            let conn = cluster.any().await?;
            let v = conn
                .version(ApiKey::InitProducerId)
                .ok_or(ClientError::UnsupportedApi {
                    addr: conn.addr.clone(),
                    api: "InitProducerId",
                })?;
            let mut req = InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1);
            if let Some((pid, epoch)) = current {
                if v >= 3 && epoch < i16::MAX - 1 {
                    req = req
                        .with_producer_id(ProducerId(pid))
                        .with_producer_epoch(epoch);
                }
            }
            let resp = conn.send(req).await?;
            check(resp.error_code, None)?;
            Ok::<_, ClientError>((resp.producer_id.0, resp.producer_epoch))
        };
        match attempt.await {
            Ok(p) => return Ok(p),
            Err(e) if e.is_retriable() && Instant::now() < deadline => {
                tokio::time::sleep(backoff.max(Duration::from_millis(10))).await;
            }
            Err(e) => return Err(e),
        }
    }
}

pub(crate) fn current_producer_id(inner: &Inner) -> (i64, i16) {
    *inner.producer_id.lock()
}

enum Event {
    Metadata(Result<(), ClientError>),
    ProducerId(Result<(i64, i16), ClientError>),
    Connected(i32, Result<Connection, ClientError>),
}

type SendResult = Result<Option<ProduceResponse>, ClientError>;
type SendFuture = Pin<Box<dyn Future<Output = SendResult> + Send>>;

struct InFlight {
    node: i32,
    batches: Vec<Batch>,
    sent_at: Instant,
    future: SendFuture,
    /// Not polled yet: the request is not on the connection yet.
    fresh: bool,
}

/// (base offset, log append time) or the batch's final error.
type BatchResult = Result<(i64, i64), ClientError>;

enum Outcome {
    Acked {
        base_offset: i64,
        append_time: i64,
    },
    /// Retriable; `reset` asks for a new producer epoch first.
    Retry {
        error: ClientError,
        reset: bool,
    },
    OutOfOrder(ClientError),
    Fail(ClientError),
}

struct Sender {
    inner: Arc<Inner>,
    tx: mpsc::UnboundedSender<Event>,
    pid: (i64, i16),
    pid_pending: bool,
    /// Requests in flight, in the order they were handed to their connections. Their
    /// futures are polled by this task (at most nodes x max.in.flight of them), so a
    /// request reaches its connection in drain order, never reordered by a scheduler.
    inflight: Vec<InFlight>,
    node_inflight: HashMap<i32, usize>,
    conns: HashMap<i32, Connection>,
    connecting: HashSet<i32>,
    /// No reconnect attempt to the node before this (after a failed one).
    reconnect_at: HashMap<i32, Instant>,
    refresh_running: bool,
    refresh_wanted: bool,
    last_refresh: Instant,
    /// Reused per request: topic names as wire strings.
    topic_names: HashMap<Arc<str>, StrBytes>,
}

/// The sender task. Ends when the producer is closed and everything is delivered, or
/// at once (failing what is left) when a close deadline passes.
pub(crate) async fn run(inner: Arc<Inner>, producer_id: Option<(i64, i16)>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut s = Sender {
        pid: producer_id.unwrap_or((-1, -1)),
        pid_pending: false,
        inner: inner.clone(),
        tx,
        inflight: Vec::new(),
        node_inflight: HashMap::new(),
        conns: HashMap::new(),
        connecting: HashSet::new(),
        reconnect_at: HashMap::new(),
        refresh_running: false,
        refresh_wanted: false,
        last_refresh: Instant::now(),
        topic_names: HashMap::new(),
    };
    let settings = &inner.settings;
    loop {
        if inner.abort.load(Ordering::SeqCst) {
            s.abort_all();
            break;
        }
        let now = Instant::now();
        s.maybe_refresh(now);
        let closing = inner.closing.load(Ordering::SeqCst);
        let force = closing
            || inner.flushing.load(Ordering::SeqCst) > 0
            || inner.mem_waiters.load(Ordering::SeqCst) > 0;
        let can_send = !settings.idempotence || (!s.pid_pending && s.pid.0 >= 0);
        let unconnected = RefCell::new(Vec::new());
        let drained = {
            let node_inflight = &s.node_inflight;
            let conns = &s.conns;
            let max = settings.max_in_flight;
            let cluster = &inner.cluster;
            inner.acc.drain(
                now,
                force,
                can_send,
                |t, p| cluster.leader(t, p),
                |node| match conns.get(&node) {
                    Some(c) if c.is_open() => node_inflight.get(&node).copied().unwrap_or(0) < max,
                    _ => {
                        unconnected.borrow_mut().push(node);
                        false
                    }
                },
            )
        };
        let mut next_wakeup = drained.next_wakeup;
        for node in unconnected.into_inner() {
            if let Some(at) = s.connect(node, now) {
                next_wakeup = Some(next_wakeup.map_or(at, |w| w.min(at)));
            }
        }
        if !drained.expired.is_empty() {
            s.expire(drained.expired);
            if drained.expired_with_sequence {
                s.reset_producer_epoch();
            }
        }
        if drained.unknown_leader {
            s.refresh_wanted = true;
            s.maybe_refresh(now);
        }
        let dispatched = !drained.by_node.is_empty();
        for (node, batches) in drained.by_node {
            s.dispatch(node, batches, now);
        }
        if dispatched {
            // Put the new requests on their connections now, in order.
            let done = std::future::poll_fn(|cx| Poll::Ready(s.poll_inflight(cx, true))).await;
            s.finish(done);
        }
        if closing && s.inflight.is_empty() && inner.acc.is_empty() {
            break;
        }
        let mut deadline = next_wakeup;
        if !s.refresh_running {
            let age = s.last_refresh + settings.metadata_max_age;
            deadline = Some(deadline.map_or(age, |d| d.min(age)));
            if s.refresh_wanted {
                let at = s.last_refresh + settings.retry_backoff;
                deadline = Some(deadline.map_or(at, |d| d.min(at)));
            }
        }
        let sleep_to = deadline.unwrap_or_else(|| now + Duration::from_secs(3600));
        let has_inflight = !s.inflight.is_empty();
        tokio::select! {
            biased;
            done = std::future::poll_fn(|cx| {
                let done = s.poll_inflight(cx, false);
                if done.is_empty() { Poll::Pending } else { Poll::Ready(done) }
            }), if has_inflight => s.finish(done),
            ev = rx.recv() => {
                if let Some(ev) = ev {
                    s.handle(ev, now);
                    while let Ok(ev) = rx.try_recv() {
                        s.handle(ev, now);
                    }
                }
            }
            _ = inner.wake.notified() => {}
            _ = tokio::time::sleep_until(sleep_to) => {}
        }
        inner
            .metrics
            .buffer_available_bytes
            .set(inner.memory.available_permits() as i64);
    }
    // Whatever slipped in after the last check (a send racing with close).
    let left = inner.acc.take_all_queued();
    s.fail_batches(left, ClientError::Other("the producer was closed".into()));
}

impl Sender {
    fn handle(&mut self, ev: Event, now: Instant) {
        match ev {
            Event::Metadata(r) => {
                self.refresh_running = false;
                match r {
                    Ok(()) => {
                        let inner = &self.inner;
                        for name in inner.acc.topic_names() {
                            if let Some(t) = inner.cluster.topic(&name) {
                                inner.acc.update_topic(&name, &leaders_of(&t));
                            }
                        }
                    }
                    Err(e) => {
                        tracing::debug!("metadata refresh failed: {e}");
                        self.refresh_wanted = true;
                    }
                }
            }
            Event::ProducerId(r) => match r {
                Ok(p) => {
                    self.pid = p;
                    *self.inner.producer_id.lock() = p;
                    self.inner.acc.state.lock().reset_sequences();
                    self.pid_pending = false;
                }
                Err(e) => {
                    tracing::warn!("InitProducerId failed, retrying: {e}");
                    self.pid_pending = false;
                    self.reset_producer_epoch();
                }
            },
            Event::Connected(node, r) => {
                self.connecting.remove(&node);
                match r {
                    Ok(c) => {
                        self.reconnect_at.remove(&node);
                        self.conns.insert(node, c);
                    }
                    Err(e) => {
                        tracing::debug!(node, "cannot connect: {e}");
                        self.reconnect_at
                            .insert(node, now + self.inner.settings.retry_backoff);
                        self.refresh_wanted = true;
                    }
                }
            }
        }
    }

    /// Starts connecting to `node` unless under way or backing off; returns when to
    /// try again if backing off.
    fn connect(&mut self, node: i32, now: Instant) -> Option<Instant> {
        if self.connecting.contains(&node) {
            return None;
        }
        if let Some(at) = self.reconnect_at.get(&node) {
            if *at > now {
                return Some(*at);
            }
        }
        self.conns.remove(&node);
        self.connecting.insert(node);
        let cluster = self.inner.cluster.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let r = cluster.broker(node).await;
            let _ = tx.send(Event::Connected(node, r));
        });
        None
    }

    /// Polls in-flight requests (only the fresh ones with `fresh_only`) and removes
    /// those that completed.
    fn poll_inflight(
        &mut self,
        cx: &mut Context<'_>,
        fresh_only: bool,
    ) -> Vec<(InFlight, SendResult)> {
        let mut done = Vec::new();
        let mut i = 0;
        while i < self.inflight.len() {
            let f = &mut self.inflight[i];
            if fresh_only && !f.fresh {
                i += 1;
                continue;
            }
            f.fresh = false;
            match f.future.as_mut().poll(cx) {
                Poll::Ready(r) => {
                    let f = self.inflight.remove(i);
                    done.push((f, r));
                }
                Poll::Pending => i += 1,
            }
        }
        done
    }

    fn finish(&mut self, done: Vec<(InFlight, SendResult)>) {
        for (f, r) in done {
            self.on_response(f, r);
        }
    }

    fn maybe_refresh(&mut self, now: Instant) {
        let s = &self.inner.settings;
        if self.refresh_running {
            return;
        }
        let wanted = self.refresh_wanted && now >= self.last_refresh + s.retry_backoff;
        let aged = now >= self.last_refresh + s.metadata_max_age;
        if !wanted && !aged {
            return;
        }
        self.refresh_running = true;
        self.refresh_wanted = false;
        self.last_refresh = now;
        let topics = self.inner.acc.topic_names();
        let cluster = self.inner.cluster.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let r = cluster.refresh(&topics).await.map(|_| ());
            let _ = tx.send(Event::Metadata(r));
        });
    }

    /// Bumps the producer epoch (or gets a new id) after a sequence gap.
    fn reset_producer_epoch(&mut self) {
        if !self.inner.settings.idempotence || self.pid_pending {
            return;
        }
        self.pid_pending = true;
        let cluster = self.inner.cluster.clone();
        let tx = self.tx.clone();
        let current = (self.pid.0 >= 0).then_some(self.pid);
        let s = &self.inner.settings;
        let (backoff, timeout) = (s.retry_backoff, s.request_timeout);
        tokio::spawn(async move {
            let r = init_producer_id(&cluster, current, backoff, timeout).await;
            if r.is_err() {
                tokio::time::sleep(backoff.max(Duration::from_millis(50))).await;
            }
            let _ = tx.send(Event::ProducerId(r));
        });
    }

    fn topic_name(&mut self, topic: &Arc<str>) -> StrBytes {
        if let Some(n) = self.topic_names.get(topic) {
            return n.clone();
        }
        let n = StrBytes::from_string(topic.to_string());
        self.topic_names.insert(topic.clone(), n.clone());
        n
    }

    fn dispatch(&mut self, node: i32, batches: Vec<Batch>, now: Instant) {
        let inner = self.inner.clone();
        let s = &inner.settings;
        let (pid, epoch) = if s.idempotence { self.pid } else { (-1, -1) };
        let mut ready = Vec::with_capacity(batches.len());
        let mut failed = Vec::new();
        for mut b in batches {
            let seq = if s.idempotence {
                b.seq.unwrap_or(-1)
            } else {
                -1
            };
            let data = match (b.data.take(), b.builder.take()) {
                (Some(d), _) => {
                    if stamp_of(&d) == Some((pid, epoch, seq)) {
                        Ok(d)
                    } else {
                        restamp(&d, pid, epoch, seq)
                    }
                }
                (None, Some(builder)) => {
                    close(builder, s.compression, pid, epoch, seq).map(|(d, u)| {
                        b.uncompressed = u;
                        d
                    })
                }
                (None, None) => Err(ClientError::Other("empty batch".into())),
            };
            match data {
                Ok(d) => {
                    if !b.sent_once {
                        b.sent_once = true;
                        inner.metrics.batch_sent(
                            b.count() as u64,
                            d.len(),
                            b.uncompressed,
                            now.saturating_duration_since(b.created).as_secs_f64(),
                        );
                    }
                    b.data = Some(d);
                    ready.push(b);
                }
                Err(e) => failed.push((b, e)),
            }
        }
        if !failed.is_empty() {
            let mut done = Vec::new();
            {
                let mut st = inner.acc.state.lock();
                for (b, e) in failed {
                    if let Some(pq) = st.partition_mut(&b.topic, b.partition) {
                        pq.in_flight = pq.in_flight.saturating_sub(1);
                    }
                    done.push((b, Err(e)));
                }
            }
            self.complete(done);
        }
        if ready.is_empty() {
            return;
        }
        let mut topic_data: Vec<TopicProduceData> = Vec::new();
        let mut records = 0usize;
        for b in &ready {
            records += b.count();
            let same = topic_data.last().is_some_and(|t| *t.name.0 == *b.topic);
            if !same {
                let name = self.topic_name(&b.topic);
                topic_data.push(TopicProduceData::default().with_name(TopicName(name)));
            }
            if let Some(t) = topic_data.last_mut() {
                t.partition_data.push(
                    PartitionProduceData::default()
                        .with_index(b.partition)
                        .with_records(b.data.clone()),
                );
            }
        }
        let timeout_ms = s.request_timeout.as_millis().min(i32::MAX as u128) as i32;
        let req = ProduceRequest::default()
            .with_transactional_id(None)
            .with_acks(s.acks)
            .with_timeout_ms(timeout_ms)
            .with_topic_data(topic_data);
        let Some(conn) = self.conns.get(&node).cloned() else {
            // Cannot happen (drain only picks connected nodes); retry the batches.
            let e = ClientError::Other(format!("no connection to broker {node}"));
            let outcomes = ready
                .into_iter()
                .map(|b| {
                    (
                        b,
                        Outcome::Retry {
                            error: e.clone(),
                            reset: false,
                        },
                    )
                })
                .collect();
            self.apply(outcomes);
            return;
        };
        inner.metrics.request_sent(records as u64);
        let request_timeout = s.request_timeout;
        let future: SendFuture = if s.acks == 0 {
            Box::pin(async move { conn.send_no_response(req).await.map(|()| None) })
        } else {
            Box::pin(async move {
                match tokio::time::timeout(request_timeout, conn.send(req)).await {
                    Ok(r) => r.map(Some),
                    Err(_) => Err(ClientError::Timeout(request_timeout)),
                }
            })
        };
        self.inflight.push(InFlight {
            node,
            batches: ready,
            sent_at: now,
            future,
            fresh: true,
        });
        *self.node_inflight.entry(node).or_default() += 1;
    }

    fn on_response(&mut self, inf: InFlight, result: SendResult) {
        if let Some(n) = self.node_inflight.get_mut(&inf.node) {
            *n = n.saturating_sub(1);
        }
        let latency = inf.sent_at.elapsed();
        let idempotent = self.inner.settings.idempotence;
        let mut outcomes = Vec::with_capacity(inf.batches.len());
        match result {
            Err(e) => {
                if e.is_retriable() {
                    self.refresh_wanted = true;
                    tracing::debug!(node = inf.node, "produce request failed: {e}");
                }
                for b in inf.batches {
                    let o = if e.is_retriable() {
                        Outcome::Retry {
                            error: e.clone(),
                            reset: false,
                        }
                    } else {
                        Outcome::Fail(e.clone())
                    };
                    outcomes.push((b, o));
                }
            }
            Ok(None) => {
                for b in inf.batches {
                    outcomes.push((
                        b,
                        Outcome::Acked {
                            base_offset: -1,
                            append_time: -1,
                        },
                    ));
                }
            }
            Ok(Some(resp)) => {
                self.inner.metrics.request_done(latency.as_secs_f64());
                for (i, b) in inf.batches.into_iter().enumerate() {
                    let o = match find_partition(&resp, i, &b) {
                        None => Outcome::Retry {
                            error: ClientError::Protocol(format!(
                                "no response for {}-{}",
                                b.topic, b.partition
                            )),
                            reset: false,
                        },
                        Some(pr) => self.classify(pr, &b, idempotent),
                    };
                    outcomes.push((b, o));
                }
            }
        }
        self.apply(outcomes);
    }

    fn classify(&mut self, pr: &PartitionProduceResponse, b: &Batch, idempotent: bool) -> Outcome {
        let code = pr.error_code;
        let acked = Outcome::Acked {
            base_offset: pr.base_offset,
            append_time: pr.log_append_time_ms,
        };
        if code == 0 {
            return acked;
        }
        let error = ClientError::kafka(code, pr.error_message.as_ref().map(|m| m.to_string()));
        if idempotent {
            match code {
                // Already written: resolve with the original offset the broker returns.
                DUPLICATE_SEQUENCE_NUMBER => return acked,
                OUT_OF_ORDER_SEQUENCE_NUMBER => return Outcome::OutOfOrder(error),
                INVALID_PRODUCER_EPOCH | UNKNOWN_PRODUCER_ID => {
                    // A batch stamped with an older epoch just needs resending.
                    let stamped = b
                        .data
                        .as_ref()
                        .and_then(|d| stamp_of(d))
                        .map_or(-1, |s| s.1);
                    return Outcome::Retry {
                        error,
                        reset: stamped >= self.pid.1,
                    };
                }
                _ => {}
            }
        }
        if error.is_retriable() {
            self.refresh_wanted = true;
            Outcome::Retry {
                error,
                reset: false,
            }
        } else {
            Outcome::Fail(error)
        }
    }

    /// Applies response outcomes: bookkeeping under the accumulator lock, then record
    /// completions outside it.
    fn apply(&mut self, outcomes: Vec<(Batch, Outcome)>) {
        let inner = self.inner.clone();
        let s = &inner.settings;
        let now = Instant::now();
        let mut done = Vec::with_capacity(outcomes.len());
        let mut reset = false;
        let mut retried_records = 0u64;
        {
            let mut st = inner.acc.state.lock();
            for (mut b, outcome) in outcomes {
                let pq = st.partition_mut(&b.topic, b.partition);
                let (retry, error) = match outcome {
                    Outcome::Acked {
                        base_offset,
                        append_time,
                    } => {
                        if let Some(pq) = pq {
                            pq.in_flight = pq.in_flight.saturating_sub(1);
                            if let Some(seq) = b.seq {
                                pq.acked_next_seq = next_sequence(seq, b.count());
                            }
                        }
                        done.push((b, Ok((base_offset, append_time))));
                        continue;
                    }
                    Outcome::Fail(e) => {
                        if let Some(pq) = pq {
                            pq.in_flight = pq.in_flight.saturating_sub(1);
                        }
                        done.push((b, Err(e)));
                        continue;
                    }
                    Outcome::Retry { error, reset: r } => {
                        reset |= r;
                        if let Some(pq) = pq {
                            pq.in_flight = pq.in_flight.saturating_sub(1);
                            pq.needs_sync = true;
                        }
                        (true, error)
                    }
                    Outcome::OutOfOrder(error) => {
                        if let Some(pq) = pq {
                            pq.in_flight = pq.in_flight.saturating_sub(1);
                            pq.needs_sync = true;
                            // Everything before this batch was acknowledged, yet the
                            // broker expects another sequence: its state for us is
                            // gone. Start a new epoch.
                            if b.seq == Some(pq.acked_next_seq) {
                                reset = true;
                            }
                        }
                        (true, error)
                    }
                };
                debug_assert!(retry);
                if b.attempts >= s.retries {
                    done.push((b, Err(error)));
                } else if now >= b.deadline {
                    done.push((b, Err(ClientError::Timeout(s.delivery_timeout))));
                } else {
                    b.attempts += 1;
                    b.retry_at = Some(now + s.retry_backoff);
                    retried_records += b.count() as u64;
                    let stamped = b.data.as_ref().and_then(|d| stamp_of(d));
                    if stamped.is_some_and(|(p, e, _)| (p, e) != self.pid) {
                        b.seq = None;
                    }
                    st.requeue(b);
                }
            }
        }
        if retried_records > 0 {
            inner.metrics.record_retry_total.inc_by(retried_records);
        }
        if reset {
            self.reset_producer_epoch();
        }
        self.complete(done);
    }

    /// Completes records (outside the accumulator lock) and returns their memory.
    fn complete(&self, done: Vec<(Batch, BatchResult)>) {
        let mut records = 0usize;
        let mut mem = 0usize;
        let listener = self.inner.listener.get();
        let mut tagged: Vec<(i64, Tag)> = Vec::new();
        for (b, result) in done {
            records += b.count();
            mem += b.mem;
            let partition = b.partition;
            let needs_topic = b
                .records
                .iter()
                .any(|(_, c)| matches!(c, Completion::Oneshot(_) | Completion::Callback(_)));
            tagged.clear();
            match &result {
                Ok((base, append_time)) => {
                    let (base, append_time) = (*base, *append_time);
                    // A fresh Arc per batch keeps this core from bouncing the record
                    // topic's reference count with the sending task's core.
                    let topic: Option<Arc<str>> = needs_topic.then(|| Arc::from(&*b.topic));
                    for (i, (ts, c)) in b.records.into_iter().enumerate() {
                        let offset = if base >= 0 { base + i as i64 } else { -1 };
                        match (c, &topic) {
                            (Completion::None, _) => {}
                            (Completion::Tagged(t), _) => tagged.push((offset, t)),
                            (c, Some(topic)) => c.complete(Ok(RecordMetadata {
                                topic: topic.clone(),
                                partition,
                                offset,
                                timestamp_ms: if append_time >= 0 { append_time } else { ts },
                            })),
                            (_, None) => {}
                        }
                    }
                }
                Err(e) => {
                    // Counted before any waiter learns of the failure, so a caller that
                    // saw its records fail also sees them in the metrics.
                    self.inner
                        .metrics
                        .record_error_total
                        .inc_by(b.count() as u64);
                    tracing::debug!(topic = %b.topic, partition, records = b.count(), "batch failed: {e}");
                    for (_, c) in b.records {
                        match c {
                            Completion::Tagged(t) => tagged.push((-1, t)),
                            c => c.complete(Err(e.clone())),
                        }
                    }
                }
            }
            if let (Some(l), false) = (listener, tagged.is_empty()) {
                l.delivered(&BatchDelivery {
                    topic: &b.topic,
                    partition,
                    result: result.as_ref().map(|_| ()),
                    records: &tagged,
                });
            }
        }
        self.inner.records_done(records, mem);
    }

    fn expire(&mut self, batches: Vec<Batch>) {
        let e = ClientError::Timeout(self.inner.settings.delivery_timeout);
        self.fail_batches(batches, e);
    }

    fn fail_batches(&self, batches: Vec<Batch>, e: ClientError) {
        if batches.is_empty() {
            return;
        }
        self.complete(batches.into_iter().map(|b| (b, Err(e.clone()))).collect());
    }

    fn abort_all(&mut self) {
        let e = ClientError::Other(
            "the producer was closed before these records were delivered".into(),
        );
        let mut all = self.inner.acc.take_all_queued();
        for inf in self.inflight.drain(..) {
            all.extend(inf.batches);
        }
        self.fail_batches(all, e);
    }
}

/// The response for batch `b`, which was the `i`-th of its request (responses usually
/// come in request order).
fn find_partition<'a>(
    resp: &'a ProduceResponse,
    i: usize,
    b: &Batch,
) -> Option<&'a PartitionProduceResponse> {
    let mut k = 0;
    for t in &resp.responses {
        if *t.name.0 != *b.topic {
            k += t.partition_responses.len();
            continue;
        }
        if let Some(pr) = i
            .checked_sub(k)
            .and_then(|j| t.partition_responses.get(j))
            .filter(|pr| pr.index == b.partition)
        {
            return Some(pr);
        }
        if let Some(pr) = t
            .partition_responses
            .iter()
            .find(|pr| pr.index == b.partition)
        {
            return Some(pr);
        }
        k += t.partition_responses.len();
    }
    None
}
