//! Protocol codec benchmarks: Produce requests, ~1 MiB Fetch responses and Metadata,
//! each encoded and decoded with the `kafka-protocol` crate (the codec the broker uses),
//! plus the full broker path through `handlers::router::handle` on an in-process broker
//! with in-memory storage (decode + handler + encode).
//!
//! Run: `cargo bench -p kafkalab-benches --bench protocol`

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kafka_protocol::messages::{
    ApiKey, FetchResponse, MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse,
    RequestHeader,
};
use kafka_protocol::protocol::{decode_request_header_from_buffer, Decodable};
use kafkalab_benches::{
    batch_of_size, decode_response_wire, encode_batch, encode_request_wire, encode_response_wire,
    fetch_request, metadata_request_all, produce_request, request_frame, InProcessBroker,
    FETCH_VERSION, METADATA_VERSION, PRODUCE_VERSION,
};

/// Empty the in-memory log after this many appended bytes (outside the timed region).
const TRUNCATE_EVERY_BYTES: usize = 64 << 20;

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

/// Decodes a request frame (header + body) the way the router does.
fn decode_request<R: Decodable>(mut frame: Bytes) -> (RequestHeader, R) {
    let header = decode_request_header_from_buffer(&mut frame).expect("header");
    let body = R::decode(&mut frame, header.request_api_version).expect("body");
    (header, body)
}

fn produce(c: &mut Criterion) {
    let cases: Vec<(&str, Vec<Vec<u8>>, u64)> = vec![
        // One partition, one batch of 100 records x 100 B values.
        ("1x(100x100B)", vec![encode_batch(100, 100)], 100),
        // One partition, one 16 KiB batch of 16 ~1 KiB records.
        ("1x16KiB", vec![batch_of_size(16, 16 << 10)], 16),
        // Six partitions, one 16 KiB batch each (what a producer sends for a 6-partition
        // topic with batch.size=16384).
        ("6x16KiB", vec![batch_of_size(16, 16 << 10); 6], 96),
    ];
    let mut g = c.benchmark_group("produce_request");
    for (name, batches, records) in &cases {
        let req = produce_request("bench", batches, 1);
        let frame = request_frame(ApiKey::Produce, PRODUCE_VERSION, 1, &req);
        let record_bytes: usize = batches.iter().map(Vec::len).sum();
        g.throughput(Throughput::Bytes(record_bytes as u64));

        let mut out = BytesMut::with_capacity(frame.len() + 64);
        g.bench_with_input(BenchmarkId::new("encode", name), &req, |b, req| {
            b.iter(|| {
                out.clear();
                encode_request_wire(ApiKey::Produce, PRODUCE_VERSION, black_box(req), &mut out);
                black_box(out.len())
            })
        });
        g.bench_with_input(BenchmarkId::new("decode", name), &frame, |b, frame| {
            b.iter(|| {
                let (_, req): (_, ProduceRequest) = decode_request(black_box(frame.clone()));
                black_box(req)
            })
        });
        g.bench_with_input(
            BenchmarkId::new("decode+encode", name),
            &frame,
            |b, frame| {
                b.iter(|| {
                    let (_, req): (_, ProduceRequest) = decode_request(black_box(frame.clone()));
                    out.clear();
                    encode_request_wire(ApiKey::Produce, PRODUCE_VERSION, &req, &mut out);
                    black_box(out.len())
                })
            },
        );

        // Full broker path: decode, verify CRC, append to the in-memory log, encode the
        // response. Elements = records appended.
        let broker = InProcessBroker::new();
        broker.create_topic("bench", batches.len() as i32);
        let resp: ProduceResponse = decode_response_wire(
            broker.handle(frame.clone()).expect("response").freeze(),
            PRODUCE_VERSION,
        );
        for p in resp.responses.iter().flat_map(|t| &t.partition_responses) {
            assert_eq!(p.error_code, 0, "produce failed: {p:?}");
        }
        broker.truncate_topic("bench");
        g.throughput(Throughput::Elements(*records));
        g.bench_with_input(
            BenchmarkId::new("broker_handle_records", name),
            &frame,
            |b, frame| {
                b.iter_custom(|iters| {
                    let mut elapsed = Duration::ZERO;
                    let mut since_truncate = 0usize;
                    for _ in 0..iters {
                        let f = frame.clone();
                        let start = Instant::now();
                        let resp = broker.handle(f);
                        elapsed += start.elapsed();
                        black_box(resp);
                        since_truncate += record_bytes;
                        if since_truncate >= TRUNCATE_EVERY_BYTES {
                            broker.truncate_topic("bench");
                            since_truncate = 0;
                        }
                    }
                    broker.truncate_topic("bench");
                    elapsed
                })
            },
        );
    }
    g.finish();
}

fn fetch(c: &mut Criterion) {
    // 64 x 16 KiB batches = 1 MiB in one partition of an in-process broker.
    let broker = InProcessBroker::new();
    broker.create_topic("bench", 1);
    let batch = batch_of_size(16, 16 << 10);
    for _ in 0..64 {
        let req = produce_request("bench", std::slice::from_ref(&batch), 1);
        broker.handle(request_frame(ApiKey::Produce, PRODUCE_VERSION, 1, &req));
    }
    let fetch_req = fetch_request("bench", 1, 0, 1 << 20);
    let fetch_frame = request_frame(ApiKey::Fetch, FETCH_VERSION, 2, &fetch_req);
    let resp_frame = broker
        .handle(fetch_frame.clone())
        .expect("fetch response")
        .freeze();
    let resp: FetchResponse = decode_response_wire(resp_frame.clone(), FETCH_VERSION);
    let records_len: usize = resp
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .filter_map(|p| p.records.as_ref().map(Bytes::len))
        .sum();
    assert!(
        records_len >= (1 << 20) - (16 << 10),
        "fetch returned {records_len} bytes, expected ~1 MiB"
    );

    let mut g = c.benchmark_group("fetch_response");
    g.throughput(Throughput::Bytes(records_len as u64));
    let mut out = BytesMut::with_capacity(resp_frame.len() + 64);
    g.bench_function("encode/1MiB", |b| {
        b.iter(|| {
            out.clear();
            encode_response_wire(FETCH_VERSION, black_box(&resp), &mut out);
            black_box(out.len())
        })
    });
    g.bench_function("decode/1MiB", |b| {
        b.iter(|| {
            let r: FetchResponse =
                decode_response_wire(black_box(resp_frame.clone()), FETCH_VERSION);
            black_box(r)
        })
    });
    g.bench_function("decode+encode/1MiB", |b| {
        b.iter(|| {
            let r: FetchResponse =
                decode_response_wire(black_box(resp_frame.clone()), FETCH_VERSION);
            out.clear();
            encode_response_wire(FETCH_VERSION, &r, &mut out);
            black_box(out.len())
        })
    });
    // Full broker path: decode the Fetch request, read 1 MiB from the in-memory log,
    // encode the response.
    g.bench_function("broker_handle/1MiB", |b| {
        b.iter(|| black_box(broker.handle(fetch_frame.clone())))
    });
    g.finish();
}

fn metadata(c: &mut Criterion) {
    // 20 topics x 6 partitions, all-topics request (as a client's periodic refresh).
    let broker = InProcessBroker::new();
    for t in 0..20 {
        broker.create_topic(&format!("topic-{t:02}"), 6);
    }
    let req = metadata_request_all();
    let frame = request_frame(ApiKey::Metadata, METADATA_VERSION, 3, &req);
    let resp_frame = broker.handle(frame.clone()).expect("metadata").freeze();
    let resp: MetadataResponse = decode_response_wire(resp_frame.clone(), METADATA_VERSION);
    assert_eq!(resp.topics.len(), 20);

    let mut g = c.benchmark_group("metadata");
    g.throughput(Throughput::Elements(1));
    let mut out = BytesMut::with_capacity(resp_frame.len() + 64);
    g.bench_function("request_decode+encode", |b| {
        b.iter(|| {
            let (_, r): (_, MetadataRequest) = decode_request(black_box(frame.clone()));
            out.clear();
            encode_request_wire(ApiKey::Metadata, METADATA_VERSION, &r, &mut out);
            black_box(out.len())
        })
    });
    g.bench_function("response_encode/20x6", |b| {
        b.iter(|| {
            out.clear();
            encode_response_wire(METADATA_VERSION, black_box(&resp), &mut out);
            black_box(out.len())
        })
    });
    g.bench_function("response_decode/20x6", |b| {
        b.iter(|| {
            let r: MetadataResponse =
                decode_response_wire(black_box(resp_frame.clone()), METADATA_VERSION);
            black_box(r)
        })
    });
    g.bench_function("broker_handle/20x6", |b| {
        b.iter(|| black_box(broker.handle(frame.clone())))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = produce, fetch, metadata
}
criterion_main!(benches);
