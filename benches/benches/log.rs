//! Partition log benchmarks: appending and sequentially reading 1 KiB record batches
//! (10 records each) on the in-memory storage and on the file storage (segment files in
//! a temporary directory; reads are served from the page cache).
//!
//! Run: `cargo bench -p kafkalab-benches --bench log`

use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kafkalab_benches::batch_of_size;
use kafkalab_broker::storage::file::FileStorage;
use kafkalab_broker::storage::memory::MemoryStorage;
use kafkalab_broker::storage::{LogConfig, PartitionLog, Storage};

const BATCH_BYTES: usize = 1024;
const RECORDS_PER_BATCH: usize = 10;
/// Empty the log after this many appended bytes (outside the timed region) so a long
/// measurement does not fill memory or disk.
const TRUNCATE_EVERY_BYTES: u64 = 256 << 20;
/// Size of the log the read benches scan, wrapping around at its end.
const READ_LOG_BYTES: usize = 32 << 20;

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

struct Backend {
    name: &'static str,
    storage: Box<dyn Storage>,
    _dir: Option<tempfile::TempDir>,
}

fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().expect("tempdir");
    vec![
        Backend {
            name: "memory",
            storage: Box::new(MemoryStorage::new()),
            _dir: None,
        },
        Backend {
            name: "file",
            storage: Box::new(FileStorage::new(dir.path().join("logs"))),
            _dir: Some(dir),
        },
    ]
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn append(c: &mut Criterion) {
    let batch = batch_of_size(RECORDS_PER_BATCH, BATCH_BYTES);
    assert_eq!(batch.len(), BATCH_BYTES);
    let mut g = c.benchmark_group("log_append");
    g.throughput(Throughput::Bytes(BATCH_BYTES as u64));
    for backend in backends() {
        let mut log = backend
            .storage
            .open("append", 0, &LogConfig::default())
            .expect("open log");
        let mut buf = batch.clone();
        let now = now_ms();
        g.bench_function(BenchmarkId::new(backend.name, "1KiB"), |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                let mut appended = 0u64;
                let mut start = Instant::now();
                for _ in 0..iters {
                    black_box(log.append(&mut buf, now).expect("append"));
                    appended += BATCH_BYTES as u64;
                    if appended >= TRUNCATE_EVERY_BYTES {
                        elapsed += start.elapsed();
                        log.delete().expect("delete");
                        appended = 0;
                        start = Instant::now();
                    }
                }
                elapsed += start.elapsed();
                log.delete().expect("delete");
                elapsed
            })
        });
    }
    g.finish();
}

fn fill(log: &mut dyn PartitionLog, batch: &[u8], bytes: usize) {
    let mut buf = batch.to_vec();
    let now = now_ms();
    for _ in 0..bytes / batch.len() {
        log.append(&mut buf, now).expect("append");
    }
    log.flush().expect("flush");
}

fn read(c: &mut Criterion) {
    let batch = batch_of_size(RECORDS_PER_BATCH, BATCH_BYTES);
    let mut g = c.benchmark_group("log_read_sequential");
    for backend in backends() {
        let mut log = backend
            .storage
            .open("read", 0, &LogConfig::default())
            .expect("open log");
        fill(log.as_mut(), &batch, READ_LOG_BYTES);
        let end = log.log_end_offset();

        // One batch per read (max_bytes smaller than a batch: Kafka returns one whole batch).
        g.throughput(Throughput::Bytes(BATCH_BYTES as u64));
        g.bench_function(BenchmarkId::new(backend.name, "1KiB_per_read"), |b| {
            let mut offset = 0i64;
            b.iter(|| {
                let r = log.read(offset, 1).expect("read");
                debug_assert_eq!(r.records.len(), BATCH_BYTES);
                offset += RECORDS_PER_BATCH as i64;
                if offset >= end {
                    offset = 0;
                }
                black_box(r)
            })
        });

        // 1 MiB per read, as a fetch with max.partition.fetch.bytes=1 MiB does.
        g.throughput(Throughput::Bytes(1 << 20));
        g.bench_function(BenchmarkId::new(backend.name, "1MiB_per_read"), |b| {
            let mut offset = 0i64;
            b.iter(|| {
                let r = log.read(offset, 1 << 20).expect("read");
                offset += (r.records.len() / BATCH_BYTES * RECORDS_PER_BATCH) as i64;
                if offset + ((1 << 20) / BATCH_BYTES * RECORDS_PER_BATCH) as i64 > end {
                    offset = 0;
                }
                black_box(r)
            })
        });
        log.delete().expect("delete");
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = append, read
}
criterion_main!(benches);
