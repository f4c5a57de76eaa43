//! One producer instance: open-loop load at the scenario's rate (latency measured from
//! each record's *intended* send time, so a stall shows in the percentiles instead of
//! silently lowering the rate), or closed-loop as fast as the client accepts (`max`).

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::watch;
use tokio::time::Instant;

use super::keys::{is_tombstone, KeyGen};
use super::stats::Stats;
use crate::client::producer::partitioner::partition_for_key;
use crate::client::producer::{BatchDelivery, DeliveryListener, Producer, ProducerRecord, Tag};
use crate::client::ClientError;
use crate::measure::{Filler, PayloadFormat, PayloadHeader};
use crate::scenario::{Keys, Payload};

/// What the timeline can change while a producer runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProducerControl {
    pub running: bool,
    /// Records per second; `None` = as fast as possible.
    pub rate: Option<f64>,
}

pub struct ProducerSpec {
    pub index: u32,
    pub topic: String,
    pub partitions: i32,
    pub record_size: usize,
    pub keys: Keys,
    pub key_space: u64,
    pub payload: Payload,
    /// Share of keyed records sent as tombstones (null value).
    pub tombstones: f64,
    pub seed: u64,
}

/// Runs until `stop` turns true, then flushes.
pub async fn run(
    producer: Producer,
    mut spec: ProducerSpec,
    stats: Arc<Stats>,
    mut control: watch::Receiver<ProducerControl>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ClientError> {
    producer.set_delivery_listener(Arc::new(Acks {
        stats: stats.clone(),
        producer: spec.index,
        topic: spec.topic.clone(),
    }));
    let format =
        PayloadFormat::new(spec.record_size).map_err(|e| ClientError::Config(e.to_string()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    // Random payloads are fresh bytes per record: windows of a shared pool would repeat
    // within a batch, and a codec would find the repeats.
    let zeros = Filler::zeros(format.filler_len());
    let mut fresh = vec![0u8; format.filler_len()];
    let mut payload_rng = SmallRng::seed_from_u64(spec.seed ^ 0x7061_796c_6f61_6400);
    if spec.partitions == 0 {
        // A topic the runner did not create: its partitions are whatever the broker
        // gave it when this lookup (a producer's Metadata request) created it.
        // (Java's producer blocks its first send up to max.block.ms the same way.)
        tokio::select! {
            n = producer.partitions_for(&spec.topic) => spec.partitions = n?,
            _ = stop.changed() => return Ok(()),
        }
    }
    let mut keys = KeyGen::new(spec.keys, spec.key_space);
    let mut seqs = vec![0u64; spec.partitions.max(1) as usize];
    let mut pids: Vec<u32> = (0..spec.partitions.max(1))
        .map(|p| stats.partition_id(&spec.topic, p))
        .collect();
    // Partitions added to the topic reach this producer with its next metadata refresh
    // (metadata.max.age.ms, or after an error); from then on keys map over the new count,
    // as the Java client's default partitioner does.
    let mut growth = producer.partition_growth();
    let topic: Arc<str> = spec.topic.as_str().into();
    let mut round_robin: i32 = rng_start(&mut rng, spec.partitions);
    let mut ctl = *control.borrow();
    let mut next_send = Instant::now();
    let mut buf = BytesMut::with_capacity(spec.record_size * 64);
    loop {
        if *stop.borrow() {
            break;
        }
        let new = *control.borrow_and_update();
        if new != ctl {
            if new.rate != ctl.rate || (new.running && !ctl.running) {
                next_send = Instant::now();
            }
            ctl = new;
        }
        if !ctl.running {
            tokio::select! {
                _ = control.changed() => continue,
                _ = stop.changed() => continue,
            }
        }
        let intended = match ctl.rate {
            Some(rate) => {
                let at = next_send;
                next_send += Duration::from_secs_f64(1.0 / rate.max(1e-6));
                if at > Instant::now() {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = stop.changed() => continue,
                        _ = control.changed() => {}
                    }
                }
                at
            }
            None => Instant::now(),
        };
        let g = producer.partition_growth();
        if g != growth {
            growth = g;
            let known = producer.known_partitions(&spec.topic).unwrap_or(0);
            if known > spec.partitions {
                spec.partitions = known;
                seqs.resize(known as usize, 0);
                pids = (0..known)
                    .map(|p| stats.partition_id(&spec.topic, p))
                    .collect();
            }
        }
        let key = keys.next(&mut rng);
        let partition = match &key {
            Some(k) => partition_for_key(k, spec.partitions),
            None => {
                round_robin = (round_robin + 1) % spec.partitions.max(1);
                round_robin
            }
        };
        if let Some(k) = key
            .as_ref()
            .filter(|_| is_tombstone(spec.tombstones, &mut rng))
        {
            // A tombstone has no value, so no kafkalab header: it is not verified or
            // timed (the consumer side counts it in its key checks).
            let mut record = ProducerRecord::new(topic.clone(), Bytes::new())
                .with_partition(partition)
                .with_key(k.clone());
            record.value = None;
            if let Err(e) = producer.send_and_forget(record).await {
                tracing::warn!(producer = spec.index, "tombstone send failed: {e}");
            }
            continue;
        }
        let seq = seqs[partition as usize];
        seqs[partition as usize] += 1;
        let intended_ns = stats.ns_of(intended);
        let header = PayloadHeader {
            run_id: stats.run_id,
            producer: spec.index,
            seq,
            intended_ns,
        };
        if buf.capacity() < spec.record_size {
            buf.reserve(spec.record_size * 64);
        }
        let filler: &[u8] = match spec.payload {
            Payload::Zeros => zeros.for_record(spec.index, seq),
            Payload::Random => {
                payload_rng.fill_bytes(&mut fresh);
                &fresh
            }
        };
        format.encode_to(&mut buf, &header, filler);
        let value = buf.split().freeze();
        let mut record = ProducerRecord::new(topic.clone(), value).with_partition(partition);
        if let Some(k) = key {
            record = record.with_key(k);
        }
        let pid = pids.get(partition as usize).copied().unwrap_or(u32::MAX);
        stats.produced.add(1);
        if let Err(e) = producer
            .send_tagged(record, Tag(seq, intended_ns as u64))
            .await
        {
            stats.on_fail(spec.index, pid, seq, &super::stats::failure_name(&e));
            tracing::warn!(producer = spec.index, "send failed: {e}");
        }
        if ctl.rate.is_none() && seq.is_multiple_of(256) {
            tokio::task::yield_now().await;
        }
    }
    producer.flush().await
}

fn rng_start(rng: &mut ChaCha8Rng, partitions: i32) -> i32 {
    use rand::Rng;
    rng.random_range(0..partitions.max(1))
}

/// Hands each acknowledged or failed batch to the run's stats (verification, latency).
struct Acks {
    stats: Arc<Stats>,
    producer: u32,
    topic: String,
}

impl DeliveryListener for Acks {
    fn delivered(&self, batch: &BatchDelivery<'_>) {
        // The scenario's producers each write one topic.
        let pid = if batch.topic == self.topic {
            self.stats.partition_id(&self.topic, batch.partition)
        } else {
            u32::MAX
        };
        match batch.result {
            Ok(()) => self.stats.on_acked_batch(self.producer, pid, batch.records),
            Err(e) => self.stats.on_failed_batch(
                self.producer,
                pid,
                batch.records,
                &super::stats::failure_name(e),
            ),
        }
    }
}
