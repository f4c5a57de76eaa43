//! Fetch with long polling: answered as soon as `min_bytes` are available, at the latest
//! after `max_wait_ms`. Honors `partition_max_bytes` and the response-wide `max_bytes`
//! (the first non-empty partition always gets at least one whole batch, so a consumer
//! never stalls on a batch larger than its limits — Kafka's KIP-74 rule).
//!
//! In a cluster only a partition's leader answers (NOT_LEADER_OR_FOLLOWER elsewhere).
//! A fetch with a replica id is a follower's: its fetch offset feeds the leader's ISR
//! state and it may read up to the log end; consumers read only below the high
//! watermark.

use bytes::Buf;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, RequestHeader};
use tokio::time::{sleep_until, Duration, Instant};

use crate::broker::Broker;
use crate::protocol::errors;
use crate::record_batch::BatchHeader;
use crate::storage::StorageError;

const API: &str = "Fetch";

pub async fn handle(broker: &Broker, _h: &RequestHeader, req: FetchRequest) -> FetchResponse {
    let start = Instant::now();
    let deadline = start + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let mut appends = broker.subscribe_appends();
    loop {
        // Mark the current append generation as seen *before* reading, so an append
        // between the read and the wait still wakes us.
        appends.borrow_and_update();
        let (resp, bytes, had_error) = read(broker, &req);
        let done = bytes >= req.min_bytes.max(0) as usize
            || had_error
            || req.max_wait_ms <= 0
            || Instant::now() >= deadline;
        if done {
            return finish(broker, resp, start);
        }
        tokio::select! {
            changed = appends.changed() => {
                if changed.is_err() {
                    return finish(broker, resp, start);
                }
            }
            _ = sleep_until(deadline) => {
                let (resp, _, _) = read(broker, &req);
                return finish(broker, resp, start);
            }
        }
    }
}

fn finish(broker: &Broker, resp: FetchResponse, start: Instant) -> FetchResponse {
    broker
        .metrics
        .fetch_wait
        .observe(start.elapsed().as_secs_f64());
    let mut bytes = 0u64;
    let mut records = 0u64;
    for t in &resp.responses {
        for p in &t.partitions {
            if p.error_code != 0 {
                broker.metrics.error(API, p.error_code);
            }
            if let Some(r) = &p.records {
                bytes += r.len() as u64;
                records += count_records(r);
            }
        }
    }
    broker.metrics.bytes_out.inc_by(bytes);
    broker.metrics.records_out.inc_by(records);
    resp
}

/// The whole batches of `records` that end at or below `end` (the high watermark is
/// always at a batch boundary: followers fetch whole batches).
fn below(records: bytes::Bytes, end: i64) -> bytes::Bytes {
    let mut keep = 0usize;
    let mut rest = &records[..];
    while let Ok(h) = BatchHeader::parse(rest) {
        if h.next_offset() > end || h.size > rest.len() {
            break;
        }
        keep += h.size;
        rest = &rest[h.size..];
    }
    records.slice(..keep)
}

fn count_records(mut buf: &[u8]) -> u64 {
    let mut n = 0;
    while let Ok(h) = BatchHeader::parse(buf) {
        n += h.record_count.max(0) as u64;
        if h.size > buf.len() {
            break;
        }
        buf.advance(h.size);
    }
    n
}

/// Reads every requested partition once: (response, bytes returned, any partition error).
fn read(broker: &Broker, req: &FetchRequest) -> (FetchResponse, usize, bool) {
    let mut remaining = if req.max_bytes > 0 {
        req.max_bytes as usize
    } else {
        usize::MAX
    };
    let mut total = 0usize;
    let mut had_error = false;
    let read_committed = req.isolation_level == 1;
    // A follower's fetch carries its node id (consumers send -1).
    let replica_id = (req.replica_id.0 >= 0).then_some(req.replica_id.0);
    // Kafka's DEBUGGING_CONSUMER_ID: any replica answers, up to its log end (tools
    // compare the replicas' logs with it).
    let debug = req.replica_id.0 == -2;
    let now = broker.clock.now_ms();
    let responses = req
        .topics
        .iter()
        .map(|ft| {
            let topic = broker.topics.get(ft.topic.0.as_str());
            let partitions = ft
                .partitions
                .iter()
                .map(|fp| {
                    let base = PartitionData::default()
                        .with_partition_index(fp.partition)
                        .with_high_watermark(-1)
                        .with_last_stable_offset(-1)
                        .with_log_start_offset(-1)
                        .with_preferred_read_replica(BrokerId(-1))
                        .with_aborted_transactions(read_committed.then(Vec::new));
                    let Some(partition) = topic.as_ref().and_then(|t| t.partition(fp.partition)) else {
                        had_error = true;
                        let code = match broker.cluster() {
                            Some(c) if c.read(|m| m.topics.contains_key(ft.topic.0.as_str())) => errors::NOT_LEADER_OR_FOLLOWER,
                            _ => errors::UNKNOWN_TOPIC_OR_PARTITION,
                        };
                        return base.with_error_code(code);
                    };
                    // Replication: only the leader serves; a follower's fetch offset is its
                    // log end offset, which moves the ISR and the high watermark.
                    let (single, changes) = {
                        let mut r = partition.replica.lock();
                        if !r.is_leader() && !debug {
                            had_error = true;
                            return base.with_error_code(errors::NOT_LEADER_OR_FOLLOWER);
                        }
                        let single = r.isr().is_none();
                        let changes = match (replica_id, r.isr_mut()) {
                            (Some(id), Some((isr, _))) => isr.on_follower_fetch(id, fp.fetch_offset, now),
                            _ => Vec::new(),
                        };
                        (single, changes)
                    };
                    if !changes.is_empty() {
                        crate::cluster::manager::apply_isr_changes(broker, &partition, &changes);
                    }
                    // Consumers see only committed records (below the high watermark).
                    let visible_end = (!single && replica_id.is_none() && !debug).then(|| partition.high_watermark());
                    let limit = (fp.partition_max_bytes.max(0) as usize).min(remaining).max(1);
                    let result = partition.read(fp.fetch_offset, limit).map(|mut r| {
                        if let Some(hw) = visible_end {
                            r.records = below(r.records, hw);
                        }
                        // Only the first partition with data may exceed the limits.
                        if total > 0 && r.records.len() > limit {
                            r.records = bytes::Bytes::new();
                        }
                        r
                    });
                    let hw_of = |end: i64| if single { end } else { partition.high_watermark() };
                    match result {
                        Ok(r) => {
                            let n = r.records.len();
                            total += n;
                            remaining = remaining.saturating_sub(n);
                            let hw = hw_of(r.log_end_offset);
                            base.with_high_watermark(hw)
                                .with_last_stable_offset(hw)
                                .with_log_start_offset(r.log_start_offset)
                                .with_records(Some(r.records))
                        }
                        Err(StorageError::OffsetOutOfRange { start, end, .. }) => {
                            had_error = true;
                            let hw = hw_of(end);
                            base.with_error_code(errors::OFFSET_OUT_OF_RANGE)
                                .with_high_watermark(hw)
                                .with_last_stable_offset(hw)
                                .with_log_start_offset(start)
                        }
                        Err(e) => {
                            had_error = true;
                            tracing::error!(topic = %ft.topic.0.as_str(), partition = fp.partition, "read failed: {e}");
                            base.with_error_code(errors::UNKNOWN_SERVER_ERROR)
                        }
                    }
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(ft.topic.clone())
                .with_topic_id(ft.topic_id)
                .with_partitions(partitions)
        })
        .collect();
    (
        FetchResponse::default().with_responses(responses),
        total,
        had_error,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record_batch::{self, BatchSpec};

    #[test]
    fn consumers_get_only_whole_batches_below_the_high_watermark() {
        let mut all = Vec::new();
        for base in [0i64, 3, 6] {
            let recs = (0..3i64).map(|i| (None, Some(bytes::Bytes::from_static(b"v")), i));
            let mut b = record_batch::build(&BatchSpec::default(), recs).expect("batch");
            record_batch::set_base_offset(&mut b, base);
            all.extend_from_slice(&b);
        }
        let all = bytes::Bytes::from(all);
        let ends = |b: &bytes::Bytes| -> Vec<i64> {
            record_batch::batches(b)
                .map(|r| r.expect("valid").0.next_offset())
                .collect()
        };
        assert_eq!(ends(&below(all.clone(), 9)), vec![3, 6, 9]);
        assert_eq!(ends(&below(all.clone(), 7)), vec![3, 6]);
        assert!(below(all, 2).is_empty());
    }
}
