//! Produce: validates each partition's record batch (CRC, size, one batch per partition,
//! keys on compacted topics), checks idempotent sequences, recompresses when the topic's
//! `compression.type` asks for it, and appends. acks=0 gets no response at all, as in
//! Kafka; acks=1 is answered after the leader's append. acks=all is refused with
//! NOT_ENOUGH_REPLICAS when the ISR is below `min.insync.replicas`, else answered once
//! the high watermark covers the batch (at most `timeout_ms`: REQUEST_TIMED_OUT). A
//! single-node broker is its own whole ISR, so there acks=all is answered at once too.
//! In a cluster only the partition's leader takes writes (NOT_LEADER_OR_FOLLOWER).

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, RequestHeader};
use kafka_protocol::records::{
    Compression, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
};

use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::{sleep_until, Duration, Instant};

use super::s;
use crate::broker::Broker;
use crate::config::{CompressionType, EffectiveTopicConfig};
use crate::partition::Appended;
use crate::partition::Partition;
use crate::protocol::errors;
use crate::record_batch::{self, BatchError, BatchHeader, Codec};
use crate::replication::isr::AcksAllCheck;
use crate::topics::Topic;

const API: &str = "Produce";

pub async fn handle(
    broker: &Broker,
    _h: &RequestHeader,
    req: ProduceRequest,
) -> Option<ProduceResponse> {
    let acks = req.acks;
    let now = broker.clock.now_ms();
    // Subscribed before appending, so no high-watermark move is missed while waiting.
    let mut changes = broker.subscribe_appends();
    let mut appended_any = false;
    let mut waits: Vec<Wait> = Vec::new();
    let mut responses: Vec<TopicProduceResponse> = req
        .topic_data
        .into_iter()
        .enumerate()
        .map(|(ti, td)| {
            let topic = broker.topics.get(td.name.0.as_str());
            let partition_responses = td
                .partition_data
                .into_iter()
                .enumerate()
                .map(|(pi, pd)| {
                    let result = if !matches!(acks, -1..=1) {
                        Err((errors::INVALID_REQUIRED_ACKS, None))
                    } else if req
                        .transactional_id
                        .as_ref()
                        .is_some_and(|t| !t.0.is_empty())
                    {
                        Err((errors::TRANSACTIONAL_ID_AUTHORIZATION_FAILED, None))
                    } else {
                        match &topic {
                            None => Err((unknown_topic(broker, td.name.0.as_str()), None)),
                            Some(t) => {
                                produce_partition(broker, t, pd.index, pd.records, acks, now)
                            }
                        }
                    };
                    let resp = PartitionProduceResponse::default().with_index(pd.index);
                    match result {
                        Ok(ok) => {
                            appended_any = true;
                            if let Some((partition, end_offset, min_isr)) = ok.wait {
                                waits.push(Wait {
                                    at: (ti, pi),
                                    partition,
                                    end_offset,
                                    min_isr,
                                    code: None,
                                });
                            }
                            resp.with_base_offset(ok.base_offset)
                                .with_log_start_offset(ok.log_start)
                                .with_log_append_time_ms(ok.append_time)
                        }
                        Err((code, message)) => {
                            broker.metrics.error(API, code);
                            failed(resp, code, message)
                        }
                    }
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(td.name)
                .with_partition_responses(partition_responses)
        })
        .collect();
    if appended_any {
        // A slowed disk (injected fault): the append's write + fsync takes longer.
        let slow = broker.disk_latency();
        if !slow.is_zero() {
            tokio::time::sleep(slow).await;
        }
        broker.notify_append();
    }
    if !waits.is_empty() {
        let timeout = Duration::from_millis(req.timeout_ms.max(0) as u64);
        wait_for_replicas(&mut waits, &mut changes, Instant::now() + timeout).await;
        for w in waits {
            let code = w.code.unwrap_or(errors::REQUEST_TIMED_OUT);
            if code == 0 {
                continue;
            }
            broker.metrics.error(API, code);
            if let Some(p) = responses
                .get_mut(w.at.0)
                .and_then(|t| t.partition_responses.get_mut(w.at.1))
            {
                *p = failed(
                    PartitionProduceResponse::default().with_index(p.index),
                    code,
                    None,
                );
            }
        }
    }
    if acks == 0 {
        return None;
    }
    Some(ProduceResponse::default().with_responses(responses))
}

fn failed(
    resp: PartitionProduceResponse,
    code: i16,
    message: Option<String>,
) -> PartitionProduceResponse {
    resp.with_error_code(code)
        .with_base_offset(-1)
        .with_log_start_offset(-1)
        .with_log_append_time_ms(-1)
        .with_error_message(message.map(s))
}

/// A topic this node does not have: in a cluster it may exist with its replicas
/// elsewhere (or not be created here yet), so the client should refresh its metadata.
fn unknown_topic(broker: &Broker, name: &str) -> i16 {
    match broker.cluster() {
        Some(c) if c.read(|m| m.topics.contains_key(name)) => errors::NOT_LEADER_OR_FOLLOWER,
        _ => errors::UNKNOWN_TOPIC_OR_PARTITION,
    }
}

/// An acks=all append waiting for the high watermark to reach its end.
struct Wait {
    /// (topic, partition) index in the response.
    at: (usize, usize),
    partition: Arc<Partition>,
    end_offset: i64,
    min_isr: usize,
    /// The answer once known (0 = committed).
    code: Option<i16>,
}

/// Waits until every append is committed (or fails) or the deadline passes. An append
/// committed while the ISR is below `min.insync.replicas` gets
/// NOT_ENOUGH_REPLICAS_AFTER_APPEND (Kafka's rule: it is in the log, but fewer
/// replicas than required have it); a leader that lost leadership answers
/// NOT_LEADER_OR_FOLLOWER.
async fn wait_for_replicas(
    waits: &mut [Wait],
    changes: &mut watch::Receiver<u64>,
    deadline: Instant,
) {
    loop {
        changes.borrow_and_update();
        let mut pending = false;
        for w in waits.iter_mut().filter(|w| w.code.is_none()) {
            let r = w.partition.replica.lock();
            if !r.is_leader() {
                w.code = Some(errors::NOT_LEADER_OR_FOLLOWER);
            } else if let Some(isr) = r.isr() {
                if isr.is_committed(w.end_offset) {
                    w.code = Some(if isr.isr().len() < w.min_isr {
                        errors::NOT_ENOUGH_REPLICAS_AFTER_APPEND
                    } else {
                        0
                    });
                } else {
                    pending = true;
                }
            } else {
                w.code = Some(0);
            }
        }
        if !pending {
            return;
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = sleep_until(deadline) => return,
        }
    }
}

type PartitionResult = Result<Produced, (i16, Option<String>)>;

struct Produced {
    base_offset: i64,
    log_start: i64,
    /// Log append time or -1.
    append_time: i64,
    /// acks=all on a replicated leader: (partition, end offset to be committed,
    /// min.insync.replicas).
    wait: Option<(Arc<Partition>, i64, usize)>,
}

fn produce_partition(
    broker: &Broker,
    topic: &Topic,
    index: i32,
    records: Option<Bytes>,
    acks: i16,
    now: i64,
) -> PartitionResult {
    let partition = topic
        .partition(index)
        .ok_or((errors::UNKNOWN_TOPIC_OR_PARTITION, None))?;
    let records = records.ok_or((errors::INVALID_RECORD, Some("no record batch".into())))?;
    let config = topic.effective();
    let min_isr = config.min_insync_replicas.max(1) as usize;
    let (replicated, leader_epoch) = {
        let r = partition.replica.lock();
        if !r.is_leader() {
            return Err((errors::NOT_LEADER_OR_FOLLOWER, None));
        }
        if acks == -1 {
            if let Some(AcksAllCheck::NotEnoughReplicas { isr, min }) =
                r.isr().map(|i| i.check_acks_all(min_isr))
            {
                return Err((
                    errors::NOT_ENOUGH_REPLICAS,
                    Some(format!(
                        "The size of the current ISR {isr} is insufficient to satisfy the min.isr requirement of {min} for partition {}-{index}",
                        topic.name
                    )),
                ));
            }
        }
        (r.isr().is_some(), r.leader_epoch())
    };
    let header = BatchHeader::parse_verified(&records).map_err(batch_error)?;
    if header.size != records.len() {
        return Err((
            errors::INVALID_RECORD,
            Some("produce requests v3+ must carry exactly one record batch per partition".into()),
        ));
    }
    if header.size > config.max_message_bytes {
        return Err((
            errors::MESSAGE_TOO_LARGE,
            Some(format!(
                "record batch of {} bytes exceeds max.message.bytes {}",
                header.size, config.max_message_bytes
            )),
        ));
    }
    if config.log.cleanup_policy.compact {
        require_keys(&records)?;
    }
    let mut batch = match target_codec(&config, header.codec()) {
        Some(target) => recompress(&records, target)?,
        None => BytesMut::from(&records[..]),
    };
    let mut append_time = -1;
    if config.log_append_time {
        record_batch::set_log_append_time(&mut batch, now).map_err(batch_error)?;
        append_time = now;
    }
    // Followers, later leaders and consumers see which epoch wrote the batch (not under
    // the CRC); a single node is epoch 0, as a one-broker Kafka is.
    record_batch::set_partition_leader_epoch(&mut batch, leader_epoch);
    let header = BatchHeader::parse(&batch).map_err(batch_error)?;
    let wait = |end: i64| (replicated && acks == -1).then(|| (partition.clone(), end, min_isr));
    match partition.append(&mut batch, &header, now) {
        Ok(Appended::New(info)) => {
            broker.metrics.bytes_in.inc_by(batch.len() as u64);
            broker
                .metrics
                .records_in
                .inc_by(header.record_count.max(0) as u64);
            let end = info.last_offset + 1;
            if let Some((isr, _)) = partition.replica.lock().isr_mut() {
                // A high-watermark move is announced by the caller's notify_append.
                isr.on_leader_append(end);
            }
            let (start, _) = partition.offsets();
            Ok(Produced {
                base_offset: info.base_offset,
                log_start: start,
                append_time,
                wait: wait(end),
            })
        }
        Ok(Appended::Duplicate(base_offset)) => {
            broker.metrics.produce_duplicates.inc();
            let (start, _) = partition.offsets();
            Ok(Produced {
                base_offset,
                log_start: start,
                append_time,
                // A retry is answered once its first offset is committed.
                wait: wait(base_offset + 1),
            })
        }
        Err(e) => {
            if e.code() == errors::UNKNOWN_SERVER_ERROR {
                tracing::error!(topic = %topic.name, partition = index, "append failed: {e}");
            }
            Err((e.code(), Some(e.to_string())))
        }
    }
}

fn batch_error(e: BatchError) -> (i16, Option<String>) {
    let code = match e {
        BatchError::UnsupportedMagic(_) => errors::UNSUPPORTED_FOR_MESSAGE_FORMAT,
        _ => errors::CORRUPT_MESSAGE,
    };
    (code, Some(e.to_string()))
}

/// The codec to rewrite into, or `None` to store the batch as the producer sent it.
fn target_codec(config: &EffectiveTopicConfig, current: Codec) -> Option<Compression> {
    let (target, codec) = match config.compression {
        CompressionType::Producer => return None,
        CompressionType::Uncompressed => (Compression::None, Codec::None),
        CompressionType::Gzip => (Compression::Gzip, Codec::Gzip),
        CompressionType::Snappy => (Compression::Snappy, Codec::Snappy),
        CompressionType::Lz4 => (Compression::Lz4, Codec::Lz4),
        CompressionType::Zstd => (Compression::Zstd, Codec::Zstd),
    };
    (codec != current).then_some(target)
}

fn decode(records: &Bytes) -> Result<Vec<kafka_protocol::records::Record>, (i16, Option<String>)> {
    let mut buf = records.clone();
    RecordBatchDecoder::decode(&mut buf)
        .map(|set| set.records)
        .map_err(|e| {
            (
                errors::CORRUPT_MESSAGE,
                Some(format!("cannot decode record batch: {e}")),
            )
        })
}

fn require_keys(records: &Bytes) -> Result<(), (i16, Option<String>)> {
    if decode(records)?.iter().any(|r| r.key.is_none()) {
        return Err((
            errors::INVALID_RECORD,
            Some("Compacted topic cannot accept message without key.".into()),
        ));
    }
    Ok(())
}

/// Re-encodes a batch with the topic's codec (broker-side `compression.type`).
fn recompress(records: &Bytes, target: Compression) -> Result<BytesMut, (i16, Option<String>)> {
    let decoded = decode(records)?;
    let mut out = BytesMut::with_capacity(records.len());
    RecordBatchEncoder::encode(
        &mut out,
        decoded.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: target,
        },
    )
    .map_err(|e| {
        (
            errors::UNKNOWN_SERVER_ERROR,
            Some(format!("recompression failed: {e}")),
        )
    })?;
    Ok(out)
}
