//! Protocol tests over an in-memory pipe (no sockets): the broker serves any
//! AsyncRead + AsyncWrite, and time is tokio's, so long-poll waits run in virtual time.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use kafkalab_broker::clock::ManualClock;
use kafkalab_broker::config::TopicConfig;
use kafkalab_broker::record_batch::{build, BatchSpec};
use kafkalab_broker::storage::memory::MemoryStorage;
use kafkalab_broker::{Broker, BrokerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

struct Conn {
    io: DuplexStream,
    next_id: i32,
}

fn broker_with(pairs: &[(&str, &str)]) -> Arc<Broker> {
    let cfg = BrokerConfig::from_pairs(pairs).expect("config");
    Broker::open(
        cfg,
        Arc::new(MemoryStorage::new()),
        Arc::new(ManualClock::new(1_700_000_000_000)),
    )
    .expect("broker")
}

fn connect(broker: &Arc<Broker>) -> Conn {
    let (client, server) = tokio::io::duplex(1 << 20);
    tokio::spawn(kafkalab_broker::network::connection::serve(
        broker.clone(),
        server,
        "test".into(),
    ));
    Conn {
        io: client,
        next_id: 1,
    }
}

impl Conn {
    async fn send_raw(&mut self, frame: &[u8]) {
        self.io.write_all(frame).await.expect("write");
    }

    async fn read_frame(&mut self) -> Option<Bytes> {
        let mut len = [0u8; 4];
        self.io.read_exact(&mut len).await.ok()?;
        let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
        self.io.read_exact(&mut buf).await.ok()?;
        Some(Bytes::from(buf))
    }

    async fn call<Req, Resp>(&mut self, key: ApiKey, version: i16, req: &Req) -> Resp
    where
        Req: Encodable + HeaderVersion,
        Resp: Decodable + HeaderVersion,
    {
        let id = self.next_id;
        self.next_id += 1;
        let mut body = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(id)
            .with_client_id(Some(StrBytes::from_static_str("wire-test")))
            .encode(&mut body, Req::header_version(version))
            .expect("header");
        req.encode(&mut body, version).expect("body");
        let mut frame = BytesMut::new();
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        self.send_raw(&frame).await;
        let mut resp = self.read_frame().await.expect("response");
        let header =
            ResponseHeader::decode(&mut resp, Resp::header_version(version)).expect("resp header");
        assert_eq!(header.correlation_id, id);
        Resp::decode(&mut resp, version).expect("resp body")
    }
}

fn batch(producer_id: i64, base_seq: i32, n: usize, value_len: usize) -> Bytes {
    let spec = BatchSpec {
        producer_id,
        producer_epoch: if producer_id >= 0 { 0 } else { -1 },
        base_sequence: base_seq,
        ..BatchSpec::default()
    };
    let records = (0..n).map(|i| {
        (
            Some(Bytes::from(format!("k{i}"))),
            Some(Bytes::from(vec![b'v'; value_len])),
            1_700_000_000_000 + i as i64,
        )
    });
    build(&spec, records).expect("encode").freeze()
}

fn produce_req(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.into())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

async fn produce(c: &mut Conn, topic: &str, records: Bytes) -> (i16, i64) {
    let resp: ProduceResponse = c
        .call(ApiKey::Produce, 9, &produce_req(topic, 0, records, -1))
        .await;
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn fetch_req(topic: &str, offset: i64, min_bytes: i32, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(52_428_800)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.into())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1_048_576)])])
}

fn create(broker: &Broker, name: &str, config: &[(&str, &str)]) {
    let mut tc = TopicConfig::default();
    for (k, v) in config {
        tc.overrides.insert(k.to_string(), v.to_string());
    }
    broker
        .topics
        .create(&broker.config, name, 1, 1, tc, false)
        .expect("create");
}

#[tokio::test]
async fn unsupported_api_versions_gets_error_35_with_a_v0_body() {
    let broker = broker_with(&[]);
    let mut c = connect(&broker);
    // ApiVersions v127, correlation id 77, then a v0-style empty client id.
    let mut frame = BytesMut::new();
    frame.put_i32(10);
    frame.put_i16(18);
    frame.put_i16(127);
    frame.put_i32(77);
    frame.put_i16(-1);
    c.send_raw(&frame).await;
    let mut resp = c.read_frame().await.expect("answered");
    assert_eq!(resp.get_i32(), 77);
    let body = ApiVersionsResponse::decode(&mut resp, 0).expect("v0 body");
    assert_eq!(body.error_code, 35);
    let av = body
        .api_keys
        .iter()
        .find(|k| k.api_key == 18)
        .expect("lists ApiVersions");
    assert_eq!((av.min_version, av.max_version), (0, 4));
    // The connection stays usable: the client retries with a version we serve.
    let ok: ApiVersionsResponse = c
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(ok.error_code, 0);
    assert!(ok
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::Produce as i16));
}

#[tokio::test]
async fn oversized_or_malformed_frames_close_only_that_connection() {
    let broker = broker_with(&[("socket.request.max.bytes", "1000")]);
    let mut bad = connect(&broker);
    let mut good = connect(&broker);
    bad.send_raw(&[0x00, 0x10, 0x00, 0x00]).await; // 1 MiB > 1000: refused before reading it
    assert!(
        bad.read_frame().await.is_none(),
        "oversized frame closes the connection"
    );
    let mut garbage = connect(&broker);
    garbage
        .send_raw(&[0, 0, 0, 8, 0x7f, 0x7f, 1, 2, 3, 4, 5, 6])
        .await; // unknown API key 32639
    assert!(garbage.read_frame().await.is_none());
    let ok: ApiVersionsResponse = good
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(ok.error_code, 0);
    let errors = broker
        .metrics
        .connection_errors
        .with_label_values(&["malformed_frame"])
        .get()
        + broker
            .metrics
            .connection_errors
            .with_label_values(&["unknown_api"])
            .get();
    assert_eq!(errors, 2);
}

#[tokio::test]
async fn idempotent_duplicate_gets_same_offset_and_gap_is_out_of_order() {
    let broker = broker_with(&[]);
    create(&broker, "idem", &[]);
    let mut c = connect(&broker);
    assert_eq!(produce(&mut c, "idem", batch(5, 0, 3, 10)).await, (0, 0));
    assert_eq!(produce(&mut c, "idem", batch(5, 3, 2, 10)).await, (0, 3));
    // A retry of the first batch: same offset, nothing appended.
    assert_eq!(produce(&mut c, "idem", batch(5, 0, 3, 10)).await, (0, 0));
    assert_eq!(
        broker
            .topics
            .get("idem")
            .expect("topic")
            .partition(0)
            .expect("p0")
            .offsets()
            .1,
        5
    );
    // Sequence 9 after 4: a gap.
    assert_eq!(produce(&mut c, "idem", batch(5, 9, 1, 10)).await.0, 45);
    assert_eq!(produce(&mut c, "idem", batch(5, 5, 1, 10)).await, (0, 5));
}

#[tokio::test]
async fn batch_over_max_message_bytes_is_message_too_large() {
    let broker = broker_with(&[]);
    create(&broker, "small", &[("max.message.bytes", "1000")]);
    let mut c = connect(&broker);
    assert_eq!(produce(&mut c, "small", batch(-1, -1, 1, 2000)).await.0, 10);
    assert_eq!(
        produce(&mut c, "small", batch(-1, -1, 1, 100)).await,
        (0, 0)
    );
    assert_eq!(produce(&mut c, "nosuch", batch(-1, -1, 1, 100)).await.0, 3);
}

#[tokio::test]
async fn corrupt_batch_is_corrupt_message_and_connection_survives() {
    let broker = broker_with(&[]);
    create(&broker, "crc", &[]);
    let mut c = connect(&broker);
    let mut b = BytesMut::from(&batch(-1, -1, 2, 10)[..]);
    let last = b.len() - 1;
    b[last] ^= 0xff;
    assert_eq!(produce(&mut c, "crc", b.freeze()).await.0, 2);
    assert_eq!(produce(&mut c, "crc", batch(-1, -1, 1, 10)).await, (0, 0));
}

#[tokio::test]
async fn acks_zero_gets_no_response_but_appends() {
    let broker = broker_with(&[]);
    create(&broker, "fire", &[]);
    let mut c = connect(&broker);
    let id = c.next_id;
    let mut body = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(0)
        .with_request_api_version(9)
        .with_correlation_id(id)
        .encode(&mut body, ProduceRequest::header_version(9))
        .expect("header");
    produce_req("fire", 0, batch(-1, -1, 4, 10), 0)
        .encode(&mut body, 9)
        .expect("body");
    let mut frame = BytesMut::new();
    frame.put_i32(body.len() as i32);
    frame.extend_from_slice(&body);
    c.send_raw(&frame).await;
    c.next_id += 1;
    // The next response on the connection belongs to the next request.
    let v: ApiVersionsResponse = c
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(v.error_code, 0);
    assert_eq!(
        broker
            .topics
            .get("fire")
            .expect("topic")
            .partition(0)
            .expect("p0")
            .offsets()
            .1,
        4
    );
}

#[tokio::test(start_paused = true)]
async fn fetch_long_poll_answers_on_data_or_after_max_wait() {
    let broker = broker_with(&[]);
    create(&broker, "lp", &[]);
    let mut consumer = connect(&broker);
    let mut producer = connect(&broker);

    // Nothing to read: answered empty after max_wait (virtual time).
    let t0 = tokio::time::Instant::now();
    let empty: FetchResponse = consumer
        .call(ApiKey::Fetch, 11, &fetch_req("lp", 0, 1, 500))
        .await;
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_millis(600),
        "{waited:?}"
    );
    assert_eq!(
        empty.responses[0].partitions[0]
            .records
            .as_ref()
            .map_or(0, |r| r.len()),
        0
    );

    // Data arrives 100 ms into a 10 s wait: answered then, not at the deadline.
    let fetch = tokio::spawn(async move {
        let t = tokio::time::Instant::now();
        let r: FetchResponse = consumer
            .call(ApiKey::Fetch, 11, &fetch_req("lp", 0, 1, 10_000))
            .await;
        (r, t.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        produce(&mut producer, "lp", batch(-1, -1, 3, 10)).await,
        (0, 0)
    );
    let (resp, elapsed) = fetch.await.expect("fetch task");
    assert!(elapsed < Duration::from_millis(1000), "{elapsed:?}");
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.high_watermark, 3);
    let records = p.records.as_ref().expect("records");
    // The producer sent partitionLeaderEpoch -1; the leader stamps its epoch (0 on a
    // single node), which consumers see as each record's leader epoch.
    let header = kafkalab_broker::record_batch::BatchHeader::parse(records).expect("a batch");
    assert_eq!(header.partition_leader_epoch, 0);
}

#[tokio::test]
async fn fetch_out_of_range_offset_is_error_1() {
    let broker = broker_with(&[]);
    create(&broker, "oor", &[]);
    let mut c = connect(&broker);
    let r: FetchResponse = c.call(ApiKey::Fetch, 11, &fetch_req("oor", 42, 1, 0)).await;
    assert_eq!(r.responses[0].partitions[0].error_code, 1);
}
