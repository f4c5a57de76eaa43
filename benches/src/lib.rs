//! Shared helpers for the kafkalab benchmarks (the benches themselves live in
//! `benches/benches`): record batches and request frames built with the `kafka-protocol`
//! crate, an in-process broker for driving `handlers::router::handle`, and small
//! `/proc` readers used by the end-to-end bench to measure the broker process.

pub mod e2e;
pub mod procfs;

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, MetadataRequest, ProduceRequest, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{
    encode_request_header_into_buffer, Decodable, Encodable, HeaderVersion, StrBytes,
};
use kafkalab_broker::clock::SystemClock;
use kafkalab_broker::config::TopicConfig;
use kafkalab_broker::storage::memory::MemoryStorage;
use kafkalab_broker::storage::Storage;
use kafkalab_broker::{Broker, BrokerConfig};

/// Produce version used by the codec benches (flexible versions, as librdkafka 2.x sends).
pub const PRODUCE_VERSION: i16 = 9;
/// Highest Fetch version the broker serves (topic names, not ids).
pub const FETCH_VERSION: i16 = 12;
/// Highest Metadata version the broker serves.
pub const METADATA_VERSION: i16 = 12;

/// Encodes one uncompressed v2 record batch of `count` records with `value_len`-byte
/// values (no key, no producer id), base offset 0.
pub fn encode_batch(count: usize, value_len: usize) -> Vec<u8> {
    encode_batch_with(count, value_len, 0)
}

/// As [`encode_batch`], with `last_extra` more value bytes in the last record.
fn encode_batch_with(count: usize, value_len: usize, last_extra: usize) -> Vec<u8> {
    let value = Bytes::from(vec![b'v'; value_len]);
    let last = Bytes::from(vec![b'v'; value_len + last_extra]);
    let records = (0..count).map(|i| {
        let v = if i + 1 == count {
            last.clone()
        } else {
            value.clone()
        };
        (None, Some(v), 1_700_000_000_000 + i as i64)
    });
    kafkalab_broker::record_batch::build(
        &kafkalab_broker::record_batch::BatchSpec::default(),
        records,
    )
    .expect("encoding an in-memory record batch cannot fail")
    .to_vec()
}

/// A batch of `count` records whose total encoded size is `total_bytes` (exactly, unless
/// varint length steps make that impossible; then the largest size below it).
pub fn batch_of_size(count: usize, total_bytes: usize) -> Vec<u8> {
    let count = count.max(1);
    // Largest equal value length whose batch fits.
    let mut value_len =
        total_bytes.saturating_sub(kafkalab_broker::record_batch::HEADER_LEN) / count;
    while value_len > 0 && encode_batch(count, value_len).len() > total_bytes {
        value_len -= 1;
    }
    // Give the remainder to the last record.
    let base = encode_batch(count, value_len);
    let mut extra = total_bytes.saturating_sub(base.len());
    loop {
        let b = encode_batch_with(count, value_len, extra);
        if b.len() <= total_bytes || extra == 0 {
            return b;
        }
        extra -= 1;
    }
}

/// Builds a request frame as the broker's network layer hands it to the router: the
/// request header and body, without the 4-byte size prefix.
pub fn request_frame<R: Encodable + HeaderVersion>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &R,
) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("kafkalab-bench")));
    let size = body.compute_size(version).expect("size of request");
    let mut buf = BytesMut::with_capacity(size + 64);
    encode_request_header_into_buffer(&mut buf, &header).expect("encode request header");
    body.encode(&mut buf, version).expect("encode request body");
    buf.freeze()
}

/// Encodes a request the way a client puts it on the wire (size prefix included).
pub fn encode_request_wire<R: Encodable + HeaderVersion>(
    api: ApiKey,
    version: i16,
    body: &R,
    out: &mut BytesMut,
) {
    let start = out.len();
    out.put_i32(0);
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("kafkalab-bench")));
    encode_request_header_into_buffer(out, &header).expect("encode request header");
    body.encode(out, version).expect("encode request body");
    let len = (out.len() - start - 4) as i32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Encodes a response as the broker does (size prefix, response header, body).
pub fn encode_response_wire<R: Encodable + HeaderVersion>(
    version: i16,
    body: &R,
    out: &mut BytesMut,
) {
    let start = out.len();
    out.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(7)
        .encode(out, R::header_version(version))
        .expect("encode response header");
    body.encode(out, version).expect("encode response body");
    let len = (out.len() - start - 4) as i32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Decodes a size-prefixed response frame (as written by the broker).
pub fn decode_response_wire<R: Decodable + HeaderVersion>(mut frame: Bytes, version: i16) -> R {
    let _ = bytes::Buf::get_i32(&mut frame);
    ResponseHeader::decode(&mut frame, R::header_version(version)).expect("response header");
    R::decode(&mut frame, version).expect("response body")
}

/// A Produce request with one batch per partition for one topic.
pub fn produce_request(topic: &str, batches: &[Vec<u8>], acks: i16) -> ProduceRequest {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    let partitions = batches
        .iter()
        .enumerate()
        .map(|(i, b)| {
            PartitionProduceData::default()
                .with_index(i as i32)
                .with_records(Some(Bytes::copy_from_slice(b)))
        })
        .collect();
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(partitions)])
}

/// A Fetch request reading `partitions` partitions of `topic` from `offset`, returning at
/// once (max_wait 0).
pub fn fetch_request(
    topic: &str,
    partitions: i32,
    offset: i64,
    partition_max_bytes: i32,
) -> FetchRequest {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(52_428_800)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(
                (0..partitions)
                    .map(|p| {
                        FetchPartition::default()
                            .with_partition(p)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(partition_max_bytes)
                    })
                    .collect(),
            )])
}

/// A Metadata request for all topics (`None`).
pub fn metadata_request_all() -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(None)
        .with_allow_auto_topic_creation(false)
}

pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// A broker in this process on [`MemoryStorage`] (no listener), for calling the router.
pub struct InProcessBroker {
    pub broker: Arc<Broker>,
    pub runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl InProcessBroker {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let log_dir = dir.path().display().to_string();
        let config = BrokerConfig::from_pairs(&[
            ("log.dirs", log_dir.as_str()),
            ("listeners", "PLAINTEXT://127.0.0.1:0"),
        ])
        .expect("broker config");
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let broker = Broker::open(config, storage, Arc::new(SystemClock)).expect("open broker");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        InProcessBroker {
            broker,
            runtime,
            _dir: dir,
        }
    }

    pub fn create_topic(&self, name: &str, partitions: i32) {
        self.broker
            .topics
            .create(
                &self.broker.config,
                name,
                partitions,
                1,
                TopicConfig::default(),
                false,
            )
            .expect("create topic");
    }

    /// Empties every partition of `topic` (keeps memory bounded in long append loops).
    pub fn truncate_topic(&self, name: &str) {
        if let Some(t) = self.broker.topics.get(name) {
            for p in t.partitions() {
                p.with_log(|log| log.delete()).expect("delete log");
            }
        }
    }

    /// Runs one request frame through the router; returns the response frame.
    pub fn handle(&self, frame: Bytes) -> Option<BytesMut> {
        self.runtime
            .block_on(kafkalab_broker::handlers::router::handle(
                &self.broker,
                frame,
                "127.0.0.1:1",
            ))
            .expect("router")
    }
}

impl Default for InProcessBroker {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{FetchResponse, MetadataResponse, ProduceResponse};

    #[test]
    fn batch_of_size_is_exact() {
        assert_eq!(batch_of_size(10, 1024).len(), 1024);
        assert_eq!(batch_of_size(16, 16 << 10).len(), 16 << 10);
    }

    #[test]
    fn router_round_trip() {
        let b = InProcessBroker::new();
        b.create_topic("t", 2);
        let batch = encode_batch(100, 100);
        let req = produce_request("t", &[batch.clone(), batch.clone()], 1);
        let resp = b
            .handle(request_frame(ApiKey::Produce, PRODUCE_VERSION, 1, &req))
            .expect("produce response");
        let resp: ProduceResponse = decode_response_wire(resp.freeze(), PRODUCE_VERSION);
        for p in resp.responses.iter().flat_map(|t| &t.partition_responses) {
            assert_eq!(p.error_code, 0, "{p:?}");
        }
        let fetch = fetch_request("t", 2, 0, 1 << 20);
        let resp = b
            .handle(request_frame(ApiKey::Fetch, FETCH_VERSION, 2, &fetch))
            .expect("fetch response");
        let resp: FetchResponse = decode_response_wire(resp.freeze(), FETCH_VERSION);
        let parts: Vec<_> = resp.responses.iter().flat_map(|t| &t.partitions).collect();
        assert_eq!(parts.len(), 2);
        for p in parts {
            assert_eq!(p.error_code, 0, "{p:?}");
            assert_eq!(p.records.as_ref().map(Bytes::len), Some(batch.len()));
        }
        let md = b
            .handle(request_frame(
                ApiKey::Metadata,
                METADATA_VERSION,
                3,
                &metadata_request_all(),
            ))
            .expect("metadata response");
        let md: MetadataResponse = decode_response_wire(md.freeze(), METADATA_VERSION);
        assert_eq!(md.topics.len(), 1);
    }
}
