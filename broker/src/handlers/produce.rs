//! Produce: validates each partition's record batch (CRC, size, one batch per partition,
//! keys on compacted topics), checks idempotent sequences, recompresses when the topic's
//! `compression.type` asks for it, and appends. With one broker the leader is the whole
//! ISR, so acks=1 and acks=all are both answered after the local append; acks=0 gets no
//! response at all, as in Kafka.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, RequestHeader};
use kafka_protocol::records::{
    Compression, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
};

use super::s;
use crate::broker::Broker;
use crate::config::{CompressionType, EffectiveTopicConfig};
use crate::partition::Appended;
use crate::protocol::errors;
use crate::record_batch::{self, BatchError, BatchHeader, Codec};
use crate::topics::Topic;

const API: &str = "Produce";

pub async fn handle(
    broker: &Broker,
    _h: &RequestHeader,
    req: ProduceRequest,
) -> Option<ProduceResponse> {
    let acks = req.acks;
    let now = broker.clock.now_ms();
    let mut appended_any = false;
    let responses = req
        .topic_data
        .into_iter()
        .map(|td| {
            let topic = broker.topics.get(td.name.0.as_str());
            let partition_responses = td
                .partition_data
                .into_iter()
                .map(|pd| {
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
                            None => Err((errors::UNKNOWN_TOPIC_OR_PARTITION, None)),
                            Some(t) => produce_partition(broker, t, pd.index, pd.records, now),
                        }
                    };
                    let resp = PartitionProduceResponse::default().with_index(pd.index);
                    match result {
                        Ok((base_offset, log_start, append_time)) => {
                            appended_any = true;
                            resp.with_base_offset(base_offset)
                                .with_log_start_offset(log_start)
                                .with_log_append_time_ms(append_time)
                        }
                        Err((code, message)) => {
                            broker.metrics.error(API, code);
                            resp.with_error_code(code)
                                .with_base_offset(-1)
                                .with_log_start_offset(-1)
                                .with_log_append_time_ms(-1)
                                .with_error_message(message.map(s))
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
        broker.notify_append();
    }
    if acks == 0 {
        return None;
    }
    Some(ProduceResponse::default().with_responses(responses))
}

type PartitionResult = Result<(i64, i64, i64), (i16, Option<String>)>;

/// Returns (base offset, log start offset, log append time or -1).
fn produce_partition(
    broker: &Broker,
    topic: &Topic,
    index: i32,
    records: Option<Bytes>,
    now: i64,
) -> PartitionResult {
    let partition = topic
        .partition(index)
        .ok_or((errors::UNKNOWN_TOPIC_OR_PARTITION, None))?;
    let records = records.ok_or((errors::INVALID_RECORD, Some("no record batch".into())))?;
    let config = topic.effective();
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
    let header = BatchHeader::parse(&batch).map_err(batch_error)?;
    match partition.append(&mut batch, &header, now) {
        Ok(Appended::New(info)) => {
            broker.metrics.bytes_in.inc_by(batch.len() as u64);
            broker
                .metrics
                .records_in
                .inc_by(header.record_count.max(0) as u64);
            let (start, _) = partition.offsets();
            Ok((info.base_offset, start, append_time))
        }
        Ok(Appended::Duplicate(base_offset)) => {
            broker.metrics.produce_duplicates.inc();
            let (start, _) = partition.offsets();
            Ok((base_offset, start, append_time))
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
