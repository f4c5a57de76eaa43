//! The record accumulator: one queue of batches per partition.
//!
//! `send` appends a record to its partition's open batch, encoding it straight into the
//! batch buffer ([`BatchBuilder`]). A batch closes when the next record would take it
//! past `batch.size` (or it reaches it), or when the sender drains it after `linger.ms`
//! since its first record; flush, close and `buffer.memory` waiters make every open
//! batch ready at once, as in the Java client. Closed batches wait in per-partition FIFO
//! order; retried batches go back in creation order.
//!
//! Everything lives under one mutex that is held for a few hundred nanoseconds per
//! record and once per drain; the sender does the slow work (header, compression,
//! network) outside it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio::time::{Duration, Instant};

use super::batch::{BatchBuilder, HEADER_LEN};
use super::partitioner::{partition_for_key, pick_other, KeylessStrategy, SplitMix64};
use super::{ProducerRecord, RecordMetadata};
use crate::client::error::ClientError;

/// How a record's outcome is reported.
pub(crate) enum Completion {
    None,
    Oneshot(oneshot::Sender<Result<RecordMetadata, ClientError>>),
    Callback(Box<dyn FnOnce(Result<RecordMetadata, ClientError>) + Send>),
    /// Reported per batch to the producer's [`DeliveryListener`](super::DeliveryListener).
    Tagged(super::Tag),
}

impl Completion {
    #[inline]
    pub(crate) fn complete(self, result: Result<RecordMetadata, ClientError>) {
        match self {
            Completion::None | Completion::Tagged(_) => {}
            Completion::Oneshot(tx) => {
                let _ = tx.send(result);
            }
            Completion::Callback(f) => f(result),
        }
    }
}

/// A batch of records for one partition.
pub(crate) struct Batch {
    pub topic: Arc<str>,
    pub partition: i32,
    /// Creation order within the producer (retries are re-queued in this order).
    pub batch_no: u64,
    /// The open encoder, until the sender closes the batch.
    pub builder: Option<BatchBuilder>,
    /// The closed batch as sent (kept for retries).
    pub data: Option<Bytes>,
    pub uncompressed: usize,
    /// Per record: its timestamp and how to report it.
    pub records: Vec<(i64, Completion)>,
    pub created: Instant,
    /// `created + delivery.timeout.ms`.
    pub deadline: Instant,
    /// `buffer.memory` bytes held until the batch completes.
    pub mem: usize,
    pub attempts: u32,
    /// Base sequence (idempotent producer), assigned when first drained.
    pub seq: Option<i32>,
    pub retry_at: Option<Instant>,
    pub sent_once: bool,
}

impl Batch {
    pub fn count(&self) -> usize {
        self.records.len()
    }

    /// Bytes this batch adds to a request.
    pub fn wire_size(&self) -> usize {
        match (&self.data, &self.builder) {
            (Some(d), _) => d.len(),
            (None, Some(b)) => b.size(),
            (None, None) => HEADER_LEN,
        }
    }
}

#[derive(Default)]
pub(crate) struct PartitionQueue {
    open: Option<Batch>,
    queue: VecDeque<Batch>,
    /// Batches of this partition in flight.
    pub in_flight: u32,
    /// After an error (idempotent producer): send nothing more until every in-flight
    /// batch of the partition has come back, then resend in order.
    pub needs_sync: bool,
    pub next_seq: i32,
    /// Sequence following the last acknowledged batch.
    pub acked_next_seq: i32,
}

pub(crate) struct TopicQueues {
    pub name: Arc<str>,
    pub partitions: Vec<PartitionQueue>,
    /// Partitions with a leader (keyless records go only there).
    pub available: Vec<i32>,
    sticky: Option<i32>,
    round_robin: u32,
}

/// Static accumulator settings.
#[derive(Debug, Clone)]
pub(crate) struct AccConfig {
    pub batch_size: usize,
    pub linger: Duration,
    pub delivery_timeout: Duration,
    pub max_request_size: usize,
    pub keyless: KeylessStrategy,
    pub ignore_keys: bool,
    pub idempotent: bool,
    /// `max.in.flight.requests.per.connection == 1` without idempotence: keep order by
    /// sending one batch per partition at a time (Java's "guaranteeMessageOrder").
    pub one_in_flight_per_partition: bool,
}

pub(crate) struct AccState {
    pub topics: Vec<TopicQueues>,
    index: HashMap<Arc<str>, usize>,
    last: Option<(Arc<str>, usize)>,
    rng: SplitMix64,
    next_batch_no: u64,
    /// Records appended and not yet completed.
    pub incomplete: usize,
    /// When the sender will wake up on its own (so appends need not wake it).
    pub sender_wakeup: Option<Instant>,
    /// Where the next drain starts, rotating so that no partition is always last
    /// when `max.request.size` cuts a request short (Java's `drainIndex`).
    drain_start: usize,
}

/// Why an append could not happen.
pub(crate) enum AppendError {
    /// The topic's partition count is not known yet: load metadata and retry.
    UnknownTopic,
    Invalid(ClientError),
}

pub(crate) struct Accumulator {
    pub config: AccConfig,
    pub state: Mutex<AccState>,
    /// Bumped whenever a topic is added or gains partitions, so that callers can
    /// notice a new partition count without taking the lock.
    growth: AtomicU64,
}

/// What the sender gets from one drain pass.
#[derive(Default)]
pub(crate) struct Drained {
    /// Per leader node, the batches of one request (one batch per partition).
    pub by_node: Vec<(i32, Vec<Batch>)>,
    /// Batches whose delivery timeout passed while queued.
    pub expired: Vec<Batch>,
    /// An expired batch had been sent before (its sequence numbers are now a gap).
    pub expired_with_sequence: bool,
    /// Some partition with data has no known leader.
    pub unknown_leader: bool,
    pub next_wakeup: Option<Instant>,
}

fn min_time(a: Option<Instant>, b: Instant) -> Option<Instant> {
    Some(a.map_or(b, |a| a.min(b)))
}

impl Accumulator {
    pub fn new(config: AccConfig, seed: u64) -> Accumulator {
        Accumulator {
            config,
            state: Mutex::new(AccState {
                topics: Vec::new(),
                index: HashMap::new(),
                last: None,
                rng: SplitMix64::new(seed),
                next_batch_no: 0,
                incomplete: 0,
                sender_wakeup: None,
                drain_start: 0,
            }),
            growth: AtomicU64::new(0),
        }
    }

    /// How many times a topic was added or grew (see [`Accumulator::partition_count`]).
    pub fn growth(&self) -> u64 {
        self.growth.load(Ordering::Acquire)
    }

    /// The partition count the partitioner uses for `name` (from the last metadata),
    /// if the topic is known.
    pub fn partition_count(&self, name: &str) -> Option<i32> {
        let st = self.state.lock();
        st.index
            .get(name)
            .map(|&i| st.topics[i].partitions.len() as i32)
    }

    /// Appends one record. Returns (partition, whether the sender should be woken).
    /// `fixed` is the record's position-independent encoded size and `max_len` its
    /// upper bound ([`super::batch::record_max_len`]); `mem` is what it holds of
    /// `buffer.memory`.
    #[allow(clippy::too_many_arguments)]
    pub fn append(
        &self,
        record: &ProducerRecord,
        timestamp: i64,
        fixed: usize,
        max_len: usize,
        mem: usize,
        completion: Completion,
        now: impl Fn() -> Instant,
    ) -> Result<(i32, bool), (AppendError, Completion)> {
        let cfg = &self.config;
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let ti = match &st.last {
            Some((name, i)) if Arc::ptr_eq(name, &record.topic) || **name == *record.topic => *i,
            _ => match st.index.get(&*record.topic) {
                Some(&i) => {
                    st.last = Some((st.topics[i].name.clone(), i));
                    i
                }
                None => return Err((AppendError::UnknownTopic, completion)),
            },
        };
        let topic = &mut st.topics[ti];
        let n = topic.partitions.len() as i32;
        let batch_size = cfg.batch_size;
        let partition = match (record.partition, &record.key) {
            (Some(p), _) => {
                if p < 0 || p >= n {
                    return Err((
                        AppendError::Invalid(ClientError::kafka(
                            3,
                            Some(format!(
                                "partition {p} of topic {} is not in [0, {n})",
                                topic.name
                            )),
                        )),
                        completion,
                    ));
                }
                p
            }
            (None, Some(key)) if !cfg.ignore_keys => partition_for_key(key, n),
            _ => match cfg.keyless {
                KeylessStrategy::RoundRobin => {
                    let i = topic.round_robin as usize;
                    topic.round_robin = topic.round_robin.wrapping_add(1);
                    if topic.available.is_empty() {
                        (i % n.max(1) as usize) as i32
                    } else {
                        topic.available[i % topic.available.len()]
                    }
                }
                KeylessStrategy::Sticky => {
                    let fits = |p: i32| {
                        topic.partitions[p as usize]
                            .open
                            .as_ref()
                            .and_then(|b| b.builder.as_ref())
                            .is_some_and(|b| b.count() == 0 || b.size() + max_len <= batch_size)
                    };
                    match topic.sticky {
                        Some(p) if p < n && fits(p) => p,
                        prev => {
                            let p = pick_other(&mut st.rng, &topic.available, n, prev);
                            topic.sticky = Some(p);
                            p
                        }
                    }
                }
            },
        };
        let pq = &mut topic.partitions[partition as usize];
        let mut wake = false;
        // Close the open batch if this record does not fit.
        if let Some(open) = &pq.open {
            let b = open.builder.as_ref();
            if b.is_some_and(|b| b.count() > 0 && b.size() + max_len > batch_size) {
                if let Some(full) = pq.open.take() {
                    pq.queue.push_back(full);
                    wake = true;
                }
            }
        }
        let open = match &mut pq.open {
            Some(b) => b,
            None => {
                let created = now();
                let no = st.next_batch_no;
                st.next_batch_no += 1;
                let linger_at = created + cfg.linger;
                if st.sender_wakeup.is_none_or(|w| w > linger_at) {
                    wake = true;
                }
                pq.open.insert(Batch {
                    topic: topic.name.clone(),
                    partition,
                    batch_no: no,
                    builder: Some(BatchBuilder::with_capacity(
                        batch_size.max(HEADER_LEN + max_len),
                    )),
                    data: None,
                    uncompressed: 0,
                    records: Vec::with_capacity((batch_size / max_len.max(1)).clamp(1, 1024)),
                    created,
                    deadline: created + cfg.delivery_timeout,
                    mem: 0,
                    attempts: 0,
                    seq: None,
                    retry_at: None,
                    sent_once: false,
                })
            }
        };
        if let Some(b) = open.builder.as_mut() {
            b.append(
                timestamp,
                record.key.as_deref(),
                record.value.as_deref(),
                &record.headers,
                fixed,
            );
            open.records.push((timestamp, completion));
            open.mem += mem;
            if b.size() >= batch_size {
                if let Some(full) = pq.open.take() {
                    pq.queue.push_back(full);
                    wake = true;
                }
            }
        }
        st.incomplete += 1;
        Ok((partition, wake))
    }

    /// Adds a topic (or grows it when partitions were added) from metadata.
    /// `leaders[i]` is partition i's leader (-1 when none).
    pub fn update_topic(&self, name: &str, leaders: &[i32]) {
        let mut st = self.state.lock();
        let i = match st.index.get(name) {
            Some(&i) => i,
            None => {
                let name: Arc<str> = Arc::from(name);
                st.topics.push(TopicQueues {
                    name: name.clone(),
                    partitions: Vec::new(),
                    available: Vec::new(),
                    sticky: None,
                    round_robin: 0,
                });
                let i = st.topics.len() - 1;
                st.index.insert(name, i);
                i
            }
        };
        let t = &mut st.topics[i];
        let before = t.partitions.len();
        while t.partitions.len() < leaders.len() {
            t.partitions.push(PartitionQueue::default());
        }
        if t.partitions.len() > before {
            self.growth.fetch_add(1, Ordering::Release);
        }
        t.available = leaders
            .iter()
            .enumerate()
            .filter(|(_, l)| **l >= 0)
            .map(|(p, _)| p as i32)
            .collect();
    }

    pub fn topic_names(&self) -> Vec<String> {
        self.state
            .lock()
            .topics
            .iter()
            .map(|t| t.name.to_string())
            .collect()
    }

    pub fn incomplete(&self) -> usize {
        self.state.lock().incomplete
    }

    /// Collects ready batches. `leader(topic, partition)` gives a partition's leader,
    /// `has_room(node)` whether another request may go to that node; `force` makes open
    /// batches ready regardless of `linger.ms`; `can_send` is false while the idempotent
    /// producer has no usable producer id.
    pub fn drain(
        &self,
        now: Instant,
        force: bool,
        can_send: bool,
        leader: impl Fn(&str, i32) -> Option<i32>,
        has_room: impl Fn(i32) -> bool,
    ) -> Drained {
        let cfg = &self.config;
        let mut out = Drained::default();
        let mut sizes: Vec<(i32, usize)> = Vec::new();
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let start = st.drain_start;
        st.drain_start = st.drain_start.wrapping_add(1);
        let topic_count = st.topics.len();
        for ti in 0..topic_count {
            let topic = &mut st.topics[(ti + start) % topic_count];
            let n = topic.partitions.len();
            for pi in 0..n {
                let p = ((pi + start) % n) as i32;
                let pq = &mut topic.partitions[p as usize];
                // Delivery timeout of queued batches (oldest first).
                while pq.queue.front().is_some_and(|b| b.deadline <= now) {
                    if let Some(b) = pq.queue.pop_front() {
                        out.expired_with_sequence |= b.seq.is_some();
                        out.expired.push(b);
                    }
                }
                if pq.queue.is_empty() && pq.open.as_ref().is_some_and(|b| b.deadline <= now) {
                    if let Some(b) = pq.open.take() {
                        out.expired.push(b);
                    }
                }
                if let Some(open) = &pq.open {
                    let linger_at = open.created + cfg.linger;
                    if force || linger_at <= now {
                        // As in Java, a batch closes when it is sent: while the partition
                        // must wait (a batch ahead of it, no leader, no free in-flight
                        // slot) the open batch keeps taking records up to batch.size,
                        // rather than many small batches queueing behind a slow ack.
                        let leader_now = leader(&topic.name, p);
                        let sendable = pq.queue.is_empty()
                            && (can_send || !cfg.idempotent)
                            && !(pq.in_flight > 0
                                && ((cfg.idempotent && pq.needs_sync)
                                    || cfg.one_in_flight_per_partition))
                            && leader_now.is_some_and(|node| {
                                sizes.iter().any(|(n, _)| *n == node) || has_room(node)
                            });
                        if force || sendable {
                            if let Some(b) = pq.open.take() {
                                pq.queue.push_back(b);
                            }
                        } else {
                            out.unknown_leader |= leader_now.is_none();
                            out.next_wakeup = min_time(out.next_wakeup, open.deadline);
                        }
                    } else {
                        out.next_wakeup = min_time(out.next_wakeup, linger_at);
                        out.next_wakeup = min_time(out.next_wakeup, open.deadline);
                    }
                }
                let Some(front) = pq.queue.front() else {
                    continue;
                };
                out.next_wakeup = min_time(out.next_wakeup, front.deadline);
                if let Some(at) = front.retry_at {
                    if at > now {
                        out.next_wakeup = min_time(out.next_wakeup, at);
                        continue;
                    }
                }
                if !can_send && cfg.idempotent {
                    continue;
                }
                if pq.in_flight > 0
                    && ((cfg.idempotent && pq.needs_sync) || cfg.one_in_flight_per_partition)
                {
                    continue;
                }
                let Some(node) = leader(&topic.name, p) else {
                    out.unknown_leader = true;
                    continue;
                };
                let size = front.wire_size();
                let slot = match sizes.iter().position(|(n, _)| *n == node) {
                    Some(i) => {
                        if sizes[i].1 + size > cfg.max_request_size {
                            // Goes in the next request to this node, if it has room.
                            out.next_wakeup = Some(now);
                            continue;
                        }
                        i
                    }
                    None => {
                        if !has_room(node) {
                            continue;
                        }
                        sizes.push((node, 0));
                        out.by_node.push((node, Vec::new()));
                        sizes.len() - 1
                    }
                };
                let Some(mut b) = pq.queue.pop_front() else {
                    continue;
                };
                sizes[slot].1 += size;
                if cfg.idempotent {
                    if pq.in_flight == 0 {
                        pq.needs_sync = false;
                    }
                    if b.seq.is_none() {
                        b.seq = Some(pq.next_seq);
                        pq.next_seq = next_sequence(pq.next_seq, b.count());
                    }
                }
                pq.in_flight += 1;
                out.by_node[slot].1.push(b);
                if !pq.queue.is_empty() {
                    // More to send for this partition: come back right away.
                    out.next_wakeup = Some(now);
                }
            }
        }
        st.sender_wakeup = out.next_wakeup;
        out
    }

    /// Every queued (not in-flight) batch, removed (close with a deadline, abort).
    pub fn take_all_queued(&self) -> Vec<Batch> {
        let mut st = self.state.lock();
        let mut all = Vec::new();
        for t in st.topics.iter_mut() {
            for pq in t.partitions.iter_mut() {
                all.extend(pq.queue.drain(..));
                all.extend(pq.open.take());
            }
        }
        all
    }

    /// Whether nothing is queued (in-flight batches are not counted).
    pub fn is_empty(&self) -> bool {
        let st = self.state.lock();
        st.topics.iter().all(|t| {
            t.partitions
                .iter()
                .all(|p| p.queue.is_empty() && p.open.is_none())
        })
    }
}

impl AccState {
    pub fn partition_mut(&mut self, topic: &str, partition: i32) -> Option<&mut PartitionQueue> {
        let i = *self.index.get(topic)?;
        self.topics[i].partitions.get_mut(partition as usize)
    }

    /// Puts a batch back for another attempt, in creation order.
    pub fn requeue(&mut self, batch: Batch) {
        let Some(pq) = self.partition_mut(&batch.topic, batch.partition) else {
            return;
        };
        let at = pq.queue.partition_point(|b| b.batch_no < batch.batch_no);
        pq.queue.insert(at, batch);
    }

    /// A new producer id or epoch: sequences restart at 0 everywhere, queued batches
    /// get new sequences when next drained, and no partition sends again until its
    /// in-flight batches (of the old epoch) have come back.
    pub fn reset_sequences(&mut self) {
        for t in self.topics.iter_mut() {
            for pq in t.partitions.iter_mut() {
                pq.next_seq = 0;
                pq.acked_next_seq = 0;
                pq.needs_sync = true;
                for b in pq.queue.iter_mut() {
                    b.seq = None;
                }
            }
        }
    }
}

/// The sequence after a batch of `count` records starting at `seq` (wraps to 0 after
/// `i32::MAX`, as Kafka's sequences do).
pub(crate) fn next_sequence(seq: i32, count: usize) -> i32 {
    ((i64::from(seq) + count as i64) % (i64::from(i32::MAX) + 1)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::producer::batch::{record_fixed_len, record_max_len};

    fn acc(batch_size: usize, idempotent: bool) -> Accumulator {
        let a = Accumulator::new(
            AccConfig {
                batch_size,
                linger: Duration::from_millis(5),
                delivery_timeout: Duration::from_secs(120),
                max_request_size: 1 << 20,
                keyless: KeylessStrategy::Sticky,
                ignore_keys: false,
                idempotent,
                one_in_flight_per_partition: false,
            },
            1,
        );
        a.update_topic("t", &[0, 0, 0, 0]);
        a
    }

    fn append(a: &Accumulator, rec: &ProducerRecord, now: Instant) -> (i32, bool) {
        let fixed = record_fixed_len(rec.key.as_deref(), rec.value.as_deref(), &rec.headers);
        let max = record_max_len(fixed);
        match a.append(rec, 0, fixed, max, max, Completion::None, || now) {
            Ok(r) => r,
            Err(_) => panic!("append failed"),
        }
    }

    fn drain(a: &Accumulator, now: Instant) -> Vec<Batch> {
        a.drain(now, false, true, |_, _| Some(0), |_| true)
            .by_node
            .into_iter()
            .flat_map(|(_, b)| b)
            .collect()
    }

    /// Partitions added (seen in metadata): the count grows, `growth` says so, and
    /// keyed records are mapped over the new count (murmur2 mod 8, not mod 4).
    #[test]
    fn growth_remaps_keys() {
        let a = acc(1_000_000, false);
        assert_eq!(a.partition_count("t"), Some(4));
        assert_eq!(a.partition_count("other"), None);
        let g0 = a.growth();
        a.update_topic("t", &[0, 0, 0, 0]);
        assert_eq!(a.growth(), g0, "same count: no growth");
        let now = Instant::now();
        let keys: Vec<String> = (0..200).map(|k| format!("key-{k}")).collect();
        let before: Vec<i32> = keys
            .iter()
            .map(|k| append(&a, &ProducerRecord::new("t", "v").with_key(k.clone()), now).0)
            .collect();
        a.update_topic("t", &[0; 8]);
        assert!(a.growth() > g0);
        assert_eq!(a.partition_count("t"), Some(8));
        let mut moved = 0;
        for (k, old) in keys.iter().zip(before) {
            let p = append(&a, &ProducerRecord::new("t", "v").with_key(k.clone()), now).0;
            assert_eq!(p, partition_for_key(k.as_bytes(), 8));
            assert_eq!(old, partition_for_key(k.as_bytes(), 4));
            moved += usize::from(p != old);
        }
        // h mod 8 differs from h mod 4 exactly when bit 2 of h is set: about half.
        assert!((60..140).contains(&moved), "{moved} of 200 keys moved");
    }

    #[test]
    fn unknown_topic_and_bad_partition() {
        let a = acc(1000, false);
        let rec = ProducerRecord::new("other", "v");
        let fixed = record_fixed_len(None, Some(b"v"), &[]);
        let max = record_max_len(fixed);
        let now = Instant::now();
        assert!(matches!(
            a.append(&rec, 0, fixed, max, max, Completion::None, || now),
            Err((AppendError::UnknownTopic, _))
        ));
        let rec = ProducerRecord::new("t", "v").with_partition(4);
        assert!(matches!(
            a.append(&rec, 0, fixed, max, max, Completion::None, || now),
            Err((AppendError::Invalid(_), _))
        ));
    }

    #[test]
    fn batches_close_at_batch_size_or_after_linger() {
        let a = acc(1000, false);
        let now = Instant::now();
        let rec = ProducerRecord::new("t", vec![0u8; 100]).with_partition(1);
        let mut woken = 0;
        for _ in 0..20 {
            let (p, wake) = append(&a, &rec, now);
            assert_eq!(p, 1);
            woken += usize::from(wake);
        }
        // ~8 records of ~110 B per 1000 B batch: two full batches, one open.
        let ready = drain(&a, now);
        assert_eq!(ready.len(), 1, "one batch per partition per request");
        assert!(ready[0].count() >= 7 && ready[0].wire_size() <= 1000);
        assert!(woken >= 2, "full batches wake the sender");
        let second = drain(&a, now);
        assert_eq!(second.len(), 1);
        // The open batch waits for linger.ms ...
        let d = a.drain(now, false, true, |_, _| Some(0), |_| true);
        assert!(d.by_node.is_empty());
        assert_eq!(d.next_wakeup, Some(now + Duration::from_millis(5)));
        // ... or goes at once when forced (flush).
        let forced = a.drain(now, true, true, |_, _| Some(0), |_| true);
        let n: usize = forced
            .by_node
            .iter()
            .flat_map(|(_, b)| b)
            .map(Batch::count)
            .sum();
        assert_eq!(n + ready[0].count() + second[0].count(), 20);
        assert!(a.is_empty());
        assert_eq!(a.incomplete(), 20);
    }

    #[test]
    fn a_lingered_batch_keeps_filling_while_the_node_has_no_room() {
        let a = acc(1000, false);
        let t0 = Instant::now();
        let rec = ProducerRecord::new("t", vec![0u8; 100]).with_partition(0);
        append(&a, &rec, t0);
        let later = t0 + Duration::from_millis(50);
        // Past linger.ms, but every in-flight slot is taken: nothing is sent and the
        // batch stays open (no wake-up at the past linger time: that would spin) ...
        let d = a.drain(later, false, true, |_, _| Some(0), |_| false);
        assert!(d.by_node.is_empty());
        assert!(
            d.next_wakeup.is_some_and(|w| w > later),
            "{:?}",
            d.next_wakeup
        );
        // ... so the records that arrive meanwhile join it.
        for _ in 0..4 {
            append(&a, &rec, later);
        }
        let sent = drain(&a, later);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].count(), 5, "one batch of five, not five of one");
        // Without a leader it stays open too, and asks for metadata.
        append(&a, &rec, later);
        let d = a.drain(
            later + Duration::from_millis(10),
            false,
            true,
            |_, _| None,
            |_| true,
        );
        assert!(d.by_node.is_empty() && d.unknown_leader);
        assert_eq!(drain(&a, later + Duration::from_millis(10))[0].count(), 1);
    }

    #[test]
    fn sticky_switches_when_the_batch_closes() {
        let a = acc(1000, false);
        let now = Instant::now();
        let rec = ProducerRecord::new("t", vec![0u8; 100]);
        let (first, _) = append(&a, &rec, now);
        for _ in 0..6 {
            assert_eq!(
                append(&a, &rec, now).0,
                first,
                "sticks while the batch fills"
            );
        }
        let mut seen = vec![first];
        let mut last = first;
        for _ in 0..200 {
            let (p, _) = append(&a, &rec, now);
            if p != last {
                seen.push(p);
                last = p;
            }
        }
        assert!(seen.len() > 5, "moves on after each full batch: {seen:?}");
        assert!(seen.windows(2).all(|w| w[0] != w[1]));
        // Keyed records ignore the sticky partition.
        let keyed = ProducerRecord::new("t", "v").with_key("21");
        assert_eq!(append(&a, &keyed, now).0, partition_for_key(b"21", 4));
    }

    #[test]
    fn idempotent_sequences_and_resend_in_order() {
        let a = acc(300, true);
        let now = Instant::now();
        let rec = ProducerRecord::new("t", vec![0u8; 100]).with_partition(0);
        for _ in 0..9 {
            append(&a, &rec, now);
        }
        let b1 = drain(&a, now).pop().expect("b1");
        let b2 = drain(&a, now).pop().expect("b2");
        assert_eq!(b1.seq, Some(0));
        assert_eq!(b2.seq, Some(b1.count() as i32));
        // b1 fails: it goes back to the front; nothing of the partition is sent while b2
        // is still in flight.
        {
            let mut st = a.state.lock();
            let pq = st.partition_mut("t", 0).expect("partition");
            pq.in_flight -= 1;
            pq.needs_sync = true;
            st.requeue(b1);
        }
        assert!(drain(&a, now).is_empty(), "wait for in-flight batches");
        // b2 comes back failed too; now b1 goes first, then b2, with their sequences.
        {
            let mut st = a.state.lock();
            st.partition_mut("t", 0).expect("partition").in_flight -= 1;
            st.requeue(b2);
        }
        let again1 = drain(&a, now).pop().expect("b1 again");
        assert_eq!(again1.seq, Some(0));
        let again2 = drain(&a, now).pop().expect("b2 again, pipelined");
        assert_eq!(again2.seq, Some(again1.count() as i32));
        // An epoch bump restarts sequences for batches not yet sent.
        a.state.lock().reset_sequences();
        let rest = a.drain(now, true, true, |_, _| Some(0), |_| true);
        assert!(
            rest.by_node.is_empty(),
            "in-flight batches of the old epoch first"
        );
    }

    #[test]
    fn requests_respect_max_request_size_and_node_room() {
        let mut a = acc(1000, false);
        a.config.max_request_size = 1500;
        let now = Instant::now();
        for p in 0..4 {
            let rec = ProducerRecord::new("t", vec![0u8; 900]).with_partition(p);
            append(&a, &rec, now);
        }
        let d = a.drain(now, true, true, |_, _| Some(7), |_| true);
        assert_eq!(d.by_node.len(), 1);
        assert_eq!(d.by_node[0].0, 7);
        assert_eq!(
            d.by_node[0].1.len(),
            1,
            "a second 900 B batch would pass 1500 B"
        );
        assert_eq!(
            d.next_wakeup,
            Some(now),
            "the rest goes in the next request"
        );
        let none = a.drain(now, true, true, |_, _| Some(7), |_| false);
        assert!(none.by_node.is_empty(), "no room on the node");
        let unknown = a.drain(now, true, true, |_, _| None, |_| true);
        assert!(unknown.unknown_leader);
    }

    #[test]
    fn sequences_wrap() {
        assert_eq!(next_sequence(i32::MAX, 1), 0);
        assert_eq!(next_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(next_sequence(5, 10), 15);
    }
}
