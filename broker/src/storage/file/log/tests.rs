use super::*;
use crate::storage::compaction::tests::batch_with;
use crate::storage::decode_records;
use kafka_protocol::records::Compression;
use std::collections::HashMap;
use std::io::Write;

fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 300,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

/// A batch of `n` keyless 100-byte records with timestamps `ts`, `ts + 1`, ...
fn batch(n: usize, ts: i64) -> Vec<u8> {
    let value = "v".repeat(100);
    let recs: Vec<_> = (0..n)
        .map(|i| (None, Some(value.as_str()), ts + i as i64))
        .collect();
    batch_with(0, &recs, -1, Compression::None)
}

fn open(dir: &Path, config: &LogConfig) -> FileLog {
    FileLog::open(dir.join("t-0"), config).expect("open")
}

/// Appends `count` batches of 3 records (timestamps 1000 + offset); returns their sizes.
fn fill(log: &mut FileLog, count: usize) -> Vec<usize> {
    (0..count)
        .map(|_| {
            let mut b = batch(3, 1000 + log.log_end_offset());
            let len = b.len();
            log.append(&mut b, 0).expect("append");
            len
        })
        .collect()
}

/// Offsets of every record in a read result.
fn offsets(bytes: &[u8]) -> Vec<i64> {
    decode_records(bytes)
        .expect("decode")
        .iter()
        .map(|r| r.offset)
        .collect()
}

#[test]
fn truncation_drops_whole_batches_across_segments_and_survives_reopen() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = small_config();
    let mut log = open(dir.path(), &cfg);
    fill(&mut log, 20); // 60 records over several 2 KiB segments
    let segments = log.segment_count();
    assert!(segments > 3, "{segments}");
    // Offset 31 lies inside the batch [30, 32]: that batch goes as a whole.
    log.truncate_to(31).expect("truncate");
    assert_eq!(log.log_end_offset(), 30);
    assert!(log.segment_count() < segments);
    let mut bases = Vec::new();
    log.for_each_batch(0, &mut |h| bases.push(h.base_offset))
        .expect("scan");
    assert_eq!(bases, (0..10).map(|i| i * 3).collect::<Vec<_>>());
    // Appends continue at the new end, and everything survives a reopen.
    fill(&mut log, 1);
    assert_eq!(log.log_end_offset(), 33);
    drop(log);
    let mut log = open(dir.path(), &cfg);
    assert_eq!(log.log_end_offset(), 33);
    // At a segment boundary and at the very start.
    log.truncate_to(0).expect("truncate all");
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    fill(&mut log, 2);
    assert_eq!(log.log_end_offset(), 6);
    log.truncate_to(99).expect("beyond the end is a no-op");
    assert_eq!(log.log_end_offset(), 6);
}

fn headers(bytes: &[u8]) -> Vec<BatchHeader> {
    record_batch::batches(bytes)
        .map(|r| r.expect("valid batch").0)
        .collect()
}

fn seg_path(dir: &Path, base: i64) -> PathBuf {
    dir.join("t-0").join(segment::log_file_name(base))
}

#[test]
fn round_trip_across_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), &small_config());
    let sizes = fill(&mut log, 40);
    assert_eq!(log.log_end_offset(), 120);
    assert!(log.segment_count() > 5, "{} segments", log.segment_count());
    assert_eq!(log.size_bytes(), sizes.iter().sum::<usize>() as u64);
    for base in log.segment_base_offsets() {
        assert!(seg_path(dir.path(), base).exists());
    }
    // Read everything back sequentially.
    let mut offset = 0;
    let mut seen = Vec::new();
    while offset < log.log_end_offset() {
        let r = log.read(offset, 1000).expect("read");
        assert!(!r.records.is_empty());
        assert!(r.records.len() <= 1000);
        let hs = headers(&r.records);
        assert_eq!(hs[0].base_offset, offset);
        seen.extend(offsets(&r.records));
        offset = hs.last().expect("batch").next_offset();
    }
    assert_eq!(seen, (0..120).collect::<Vec<_>>());
    let end = log.read(120, 1000).expect("read at end");
    assert!(end.records.is_empty());
    assert_eq!((end.log_start_offset, end.log_end_offset), (0, 120));
    assert!(matches!(
        log.read(121, 1000),
        Err(StorageError::OffsetOutOfRange { offset: 121, .. })
    ));
}

#[test]
fn read_from_any_offset_returns_the_containing_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), &small_config());
    fill(&mut log, 40);
    // Random access (no cache help), including offsets inside batches.
    for offset in (0..120).rev().chain(0..120) {
        let r = log.read(offset, 1).expect("read");
        let hs = headers(&r.records);
        assert_eq!(hs.len(), 1, "max_bytes 1 still returns one whole batch");
        assert!(hs[0].base_offset <= offset && offset <= hs[0].last_offset());
        assert_eq!(hs[0].base_offset, offset / 3 * 3);
    }
}

#[test]
fn max_bytes_is_honoured_with_whole_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), &LogConfig::default());
    let sizes = fill(&mut log, 10);
    let one = sizes[0];
    for (max, expect) in [
        (0, 1),
        (one - 1, 1),
        (one, 1),
        (2 * one - 1, 1),
        (2 * one, 2),
    ] {
        let r = log.read(0, max).expect("read");
        assert_eq!(headers(&r.records).len(), expect, "max_bytes {max}");
        assert_eq!(r.records.len(), expect * one);
    }
    let r = log.read(4, 1 << 20).expect("read");
    assert_eq!(headers(&r.records).len(), 9);
    assert_eq!(offsets(&r.records)[0], 3);
}

#[test]
fn big_batch_larger_than_max_bytes_and_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), &small_config());
    fill(&mut log, 2);
    let mut big = batch(40, 5000); // ~4.5 KB, more than segment.bytes
    log.append(&mut big, 0).expect("append");
    fill(&mut log, 2);
    let r = log.read(7, 100).expect("read");
    assert_eq!(r.records.len(), big.len());
    assert_eq!(offsets(&r.records).len(), 40);
    // Continuing after the big batch (cache hit at its end).
    let r = log.read(46, 100).expect("read");
    assert_eq!(headers(&r.records)[0].base_offset, 46);
}

#[test]
fn sequential_and_interleaved_readers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), &small_config());
    fill(&mut log, 30);
    let (mut a, mut b) = (0i64, 45i64);
    let mut got_a = Vec::new();
    let mut got_b = Vec::new();
    while a < 90 || b < 90 {
        for (pos, got) in [(&mut a, &mut got_a), (&mut b, &mut got_b)] {
            if *pos < 90 {
                let r = log.read(*pos, 700).expect("read");
                let o = offsets(&r.records);
                got.extend(o.iter().copied().filter(|x| *x >= *pos));
                *pos = headers(&r.records).last().expect("batch").next_offset();
            }
        }
        // Appends in between do not disturb the cached positions.
        fill(&mut log, 1);
    }
    assert_eq!(got_a, (0..90).collect::<Vec<_>>());
    assert_eq!(got_b, (45..90).collect::<Vec<_>>());
    // A reader that reached the end of the active segment continues after a roll.
    let end = log.log_end_offset();
    let r = log.read(end - 3, 1 << 20).expect("read");
    assert_eq!(offsets(&r.records), vec![end - 3, end - 2, end - 1]);
    let before = log.segment_count();
    fill(&mut log, 10);
    assert!(log.segment_count() > before);
    let r = log.read(end, 1 << 20).expect("read");
    assert_eq!(offsets(&r.records)[0], end);
}

#[test]
fn restart_recovers_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = small_config();
    let (segments, size, index_files) = {
        let mut log = open(dir.path(), &config);
        fill(&mut log, 40);
        log.flush().expect("flush");
        let idx: Vec<Vec<u8>> = log
            .segment_base_offsets()
            .iter()
            .map(|b| {
                std::fs::read(dir.path().join("t-0").join(segment::index_file_name(*b)))
                    .expect("index")
            })
            .collect();
        (log.segment_base_offsets(), log.size_bytes(), idx)
    };
    let mut log = open(dir.path(), &config);
    assert_eq!(log.segment_base_offsets(), segments);
    assert_eq!(log.size_bytes(), size);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 120));
    assert!(index_files.iter().any(|i| !i.is_empty()));
    for (b, before) in segments.iter().zip(&index_files) {
        let now = std::fs::read(dir.path().join("t-0").join(segment::index_file_name(*b)))
            .expect("index");
        assert_eq!(&now, before, "index of a clean log is left alone");
    }
    let r = log.read(0, 1 << 20).expect("read");
    assert_eq!(offsets(&r.records)[0], 0);
    let info = fill(&mut log, 1);
    assert_eq!(info.len(), 1);
    assert_eq!(log.log_end_offset(), 123);
}

#[test]
fn torn_tail_is_truncated_and_appends_continue() {
    for garbage in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = small_config();
        let (last_base, good_len, last_batch) = {
            let mut log = open(dir.path(), &config);
            let sizes = fill(&mut log, 10);
            let last = *log.segment_base_offsets().last().expect("segment");
            let len = log.last().expect("active").size();
            (last, len, sizes[9] as u64)
        };
        let path = seg_path(dir.path(), last_base);
        if garbage {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .expect("open");
            f.write_all(&[0xAB; 333]).expect("garbage");
        } else {
            // Cut the last batch in half.
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .expect("open");
            f.set_len(good_len - 100).expect("truncate");
        }
        let mut log = open(dir.path(), &config);
        let expected_end = if garbage { 30 } else { 27 };
        assert_eq!(log.log_end_offset(), expected_end, "garbage={garbage}");
        let file_len = std::fs::metadata(&path).expect("meta").len();
        let expected_len = if garbage {
            good_len
        } else {
            good_len - last_batch
        };
        assert_eq!(file_len, expected_len);
        assert_eq!(log.last().expect("active").size(), expected_len);
        let mut b = batch(2, 1);
        let info = log.append(&mut b, 0).expect("append");
        assert_eq!(info.base_offset, expected_end);
        drop(log);
        let log = open(dir.path(), &config);
        assert_eq!(log.log_end_offset(), expected_end + 2);
        let all: Vec<i64> = {
            let mut v = Vec::new();
            log.for_each_batch(0, &mut |h| v.extend(h.base_offset..=h.last_offset()))
                .expect("scan");
            v
        };
        assert_eq!(all, (0..expected_end + 2).collect::<Vec<_>>());
    }
}

#[test]
fn crc_mismatch_truncates_from_that_batch_and_drops_later_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = small_config();
    let bases = {
        let mut log = open(dir.path(), &config);
        fill(&mut log, 40);
        log.segment_base_offsets()
    };
    assert!(bases.len() > 4);
    // Flip a byte in the second batch of the third segment.
    let victim = bases[2];
    let path = seg_path(dir.path(), victim);
    let mut bytes = std::fs::read(&path).expect("read");
    let first = BatchHeader::parse(&bytes).expect("header");
    let at = first.size + 70;
    bytes[at] ^= 0x40;
    std::fs::write(&path, &bytes).expect("write");

    let mut log = open(dir.path(), &config);
    assert_eq!(log.segment_base_offsets(), bases[..3].to_vec());
    assert_eq!(log.log_end_offset(), victim + 3);
    assert_eq!(
        std::fs::metadata(&path).expect("meta").len(),
        first.size as u64
    );
    for b in &bases[3..] {
        assert!(!seg_path(dir.path(), *b).exists());
        assert!(!dir
            .path()
            .join("t-0")
            .join(segment::index_file_name(*b))
            .exists());
    }
    let info = log.append(&mut batch(1, 1), 0).expect("append");
    assert_eq!(info.base_offset, victim + 3);
}

#[test]
fn index_deleted_or_corrupt_is_rebuilt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = small_config();
    let (bases, entries) = {
        let mut log = open(dir.path(), &config);
        fill(&mut log, 40);
        let e: Vec<Vec<_>> = log
            .segments
            .iter()
            .map(|s| s.index_entries().to_vec())
            .collect();
        (log.segment_base_offsets(), e)
    };
    assert!(entries[0].len() > 1);
    let index_path = |b: i64| dir.path().join("t-0").join(segment::index_file_name(b));
    std::fs::remove_file(index_path(bases[0])).expect("rm");
    std::fs::write(index_path(bases[1]), [7u8; 13]).expect("garbage");
    std::fs::write(index_path(bases[2]), [0u8; 16]).expect("wrong entries");
    let log = open(dir.path(), &config);
    for (i, b) in bases.iter().enumerate() {
        assert_eq!(log.segments[i].index_entries(), entries[i].as_slice());
        let on_disk =
            super::super::index::parse_entries(&std::fs::read(index_path(*b)).expect("index"))
                .expect("whole entries");
        assert_eq!(on_disk, entries[i]);
    }
    for offset in 0..120 {
        let r = log.read(offset, 1).expect("read");
        assert_eq!(headers(&r.records)[0].base_offset, offset / 3 * 3);
    }
}

#[test]
fn garbage_files_never_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = small_config();
    let logdir = dir.path().join("t-0");
    std::fs::create_dir_all(&logdir).expect("mkdir");
    std::fs::write(logdir.join(segment::log_file_name(0)), vec![0u8; 5000]).expect("w");
    std::fs::write(logdir.join(segment::log_file_name(7)), [0xFFu8; 61]).expect("w");
    std::fs::write(logdir.join(segment::index_file_name(99)), [1u8; 8]).expect("w");
    std::fs::write(logdir.join("00000000000000000000.log.cleaned"), b"x").expect("w");
    std::fs::write(logdir.join("leader-epoch-checkpoint"), b"0\n").expect("w");
    let mut log = open(dir.path(), &config);
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.segment_count(), 1);
    assert!(!logdir.join(segment::log_file_name(7)).exists());
    assert!(!logdir.join(segment::index_file_name(99)).exists());
    assert!(!logdir.join("00000000000000000000.log.cleaned").exists());
    assert!(logdir.join("leader-epoch-checkpoint").exists());
    log.append(&mut batch(2, 1), 0).expect("append");
    assert_eq!(
        log.read(0, 10).expect("read").records.len(),
        batch(2, 1).len()
    );
}

#[test]
fn rolls_on_segment_ms_and_index_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        segment_ms: 1000,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), &config);
    log.append(&mut batch(1, 1), 10_000).expect("append");
    log.append(&mut batch(1, 1), 11_000).expect("append");
    assert_eq!(log.segment_count(), 1);
    log.append(&mut batch(1, 1), 11_001).expect("append");
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);
    log.append(&mut batch(1, 1), 12_000).expect("append");
    assert_eq!(log.segment_count(), 2);

    log.set_config(&LogConfig {
        index_interval_bytes: 0,
        segment_index_bytes: 16,
        ..LogConfig::default()
    });
    for _ in 0..4 {
        log.append(&mut batch(1, 1), 12_000).expect("append");
    }
    // An entry for every batch but the first of a segment; two fit, the third rolls.
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 6]);
}

#[test]
fn retention_by_time_deletes_only_closed_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), &small_config());
    for i in 0..30 {
        // Batch i has timestamps 1000 * i ..
        log.append(&mut batch(3, 1000 * i), 0).expect("append");
    }
    let bases = log.segment_base_offsets();
    let config = LogConfig {
        retention_ms: 10_000,
        ..small_config()
    };
    // Everything younger than retention: nothing goes.
    let out = log.cleanup(&config, 10_000).expect("cleanup");
    assert_eq!(out, CleanupOutcome::default());
    // Segments whose newest record is older than 15_000 - 10_000.
    let out = log.cleanup(&config, 15_000).expect("cleanup");
    let remaining = log.segment_base_offsets();
    assert!(out.segments_deleted >= 1);
    assert_eq!(remaining, bases[out.segments_deleted as usize..].to_vec());
    assert_eq!(log.log_start_offset(), remaining[0]);
    for s in &log.segments[1..] {
        assert!(s.max_timestamp() > 0);
    }
    assert!(log.segments[0].max_timestamp() >= 5000);
    assert!(!seg_path(dir.path(), bases[0]).exists());
    assert!(matches!(
        log.read(0, 100),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    let r = log.read(log.log_start_offset(), 100).expect("read");
    assert_eq!(offsets(&r.records)[0], remaining[0]);
    // Far in the future: every closed segment goes, the active one stays.
    let out2 = log.cleanup(&config, 1_000_000).expect("cleanup");
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_start_offset(), *bases.last().expect("active"));
    assert_eq!(
        (out.records_removed + out2.records_removed) as i64,
        log.log_start_offset()
    );
    assert_eq!(log.log_end_offset(), 90);
    // And it survives a restart.
    drop(log);
    let log = open(dir.path(), &small_config());
    assert_eq!(log.log_start_offset(), *bases.last().expect("active"));
}

#[test]
fn retention_by_bytes_keeps_at_least_retention_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), &small_config());
    fill(&mut log, 40);
    let before = log.size_bytes();
    let sizes: Vec<u64> = log.segments.iter().map(Segment::size).collect();
    let limit = before - sizes[0] - sizes[1] - 10;
    let config = LogConfig {
        retention_bytes: limit as i64,
        ..small_config()
    };
    let out = log.cleanup(&config, 0).expect("cleanup");
    // Deleting a third segment would go below the limit.
    assert_eq!(out.segments_deleted, 2);
    assert_eq!(out.bytes_removed, sizes[0] + sizes[1]);
    assert_eq!(log.size_bytes(), before - sizes[0] - sizes[1]);
    assert_eq!(log.log_start_offset(), log.segment_base_offsets()[0]);
    // Zero: only the active segment is left.
    let config = LogConfig {
        retention_bytes: 0,
        ..small_config()
    };
    log.cleanup(&config, 0).expect("cleanup");
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.size_bytes(), sizes.last().copied().expect("active"));
}

fn compact_config() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        index_interval_bytes: 100,
        retention_ms: -1,
        delete_retention_ms: 1000,
        cleanup_policy: crate::storage::CleanupPolicy {
            delete: false,
            compact: true,
        },
        ..LogConfig::default()
    }
}

/// Every record (offset, key, value) and the latest value per key.
type Visible = (
    Vec<(i64, String, Option<String>)>,
    HashMap<String, Option<String>>,
);

fn visible(log: &FileLog) -> Visible {
    let mut all = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let r = log.read(offset, 1 << 20).expect("read");
        if r.records.is_empty() {
            break;
        }
        for rec in decode_records(&r.records).expect("decode") {
            let key = String::from_utf8_lossy(rec.key.as_deref().unwrap_or(b"")).into_owned();
            let value = rec.value.map(|v| String::from_utf8_lossy(&v).into_owned());
            all.push((rec.offset, key, value));
        }
        offset = headers(&r.records).last().expect("batch").next_offset();
    }
    let mut latest = HashMap::new();
    for (_, k, v) in &all {
        latest.insert(k.clone(), v.clone());
    }
    (all, latest)
}

#[test]
fn compaction_keeps_latest_per_key_and_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = compact_config();
    let mut log = open(dir.path(), &config);
    let mut expected: HashMap<String, (i64, Option<String>)> = HashMap::new();
    for i in 0..60i64 {
        let key = format!("key{}", i % 5);
        let value = format!("value{i}");
        // key0's last record (in the active segment for now) is a tombstone.
        let v = if i == 55 { None } else { Some(value.as_str()) };
        let mut b = batch_with(
            0,
            &[(Some(key.as_str()), v, 100 + i)],
            -1,
            Compression::None,
        );
        let info = log.append(&mut b, 0).expect("append");
        expected.insert(key, (info.base_offset, v.map(str::to_string)));
    }
    assert!(log.segment_count() > 3);
    let (before_all, before_latest) = visible(&log);
    let size_before = log.size_bytes();
    let out = log.cleanup(&config, 200).expect("cleanup");
    assert!(out.records_removed > 40, "{out:?}");
    assert!(log.size_bytes() < size_before);
    assert_eq!(size_before - log.size_bytes(), out.bytes_removed);
    let (after_all, after_latest) = visible(&log);
    assert_eq!(
        after_latest, before_latest,
        "latest value of every key survives"
    );
    // Offsets are unchanged: every surviving record is the same record as before.
    for rec in &after_all {
        assert!(before_all.contains(rec), "{rec:?}");
    }
    // Closed segments hold only the latest record per key.
    for (k, (offset, value)) in &expected {
        assert!(after_all.contains(&(*offset, k.clone(), value.clone())));
        assert_eq!(
            after_all.iter().filter(|(_, kk, _)| kk == k).count(),
            1,
            "{k}"
        );
    }
    assert_eq!(log.log_end_offset(), 60);
    assert_eq!(log.log_start_offset(), 0);
    // Reads from any offset work over the gaps.
    for offset in 0..60 {
        let r = log.read(offset, 1).expect("read");
        let h = headers(&r.records)[0];
        assert!(h.last_offset() >= offset);
    }
    // Nothing new: a second pass is skipped.
    assert_eq!(
        log.cleanup(&config, 300).expect("cleanup"),
        CleanupOutcome::default()
    );
    // Once delete.retention.ms has passed, the tombstone goes too, if it is in a closed
    // segment; push it there by appending more.
    for i in 0..10i64 {
        let mut b = batch_with(
            0,
            &[(Some("other"), Some("x"), 300 + i)],
            -1,
            Compression::None,
        );
        log.append(&mut b, 0).expect("append");
    }
    let out = log.cleanup(&config, 5000).expect("cleanup");
    let (all, latest) = visible(&log);
    assert!(out.records_removed >= 5, "{out:?}");
    assert!(!latest.contains_key("key0"), "old tombstone removed");
    assert_eq!(latest.get("key1"), before_latest.get("key1"));
    assert!(all.iter().all(|(o, k, _)| k != "key0" && *o != 55));
    // Survives a restart.
    let end = log.log_end_offset();
    let size = log.size_bytes();
    drop(log);
    let log = open(dir.path(), &config);
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(log.size_bytes(), size);
    assert_eq!(visible(&log).0, all);
    assert_eq!(
        log.segments[0].size(),
        0,
        "emptied first segment kept for the log start"
    );
}

#[test]
fn offset_and_max_timestamp_lookups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), &small_config());
    assert_eq!(log.offset_for_timestamp(0).expect("lookup"), None);
    assert_eq!(log.max_timestamp().expect("max"), None);
    // Batch i: offsets 3i..3i+2 with timestamps 10_000 + 10 * (3i + j); one batch has
    // an outlier.
    for i in 0..40i64 {
        let recs: Vec<(Option<&str>, Option<&str>, i64)> = (0..3)
            .map(|j| {
                let ts = if i == 17 && j == 1 {
                    999_999
                } else {
                    10_000 + 10 * (3 * i + j)
                };
                (None, Some("x"), ts)
            })
            .collect();
        log.append(&mut batch_with(0, &recs, -1, Compression::None), 0)
            .expect("append");
    }
    assert!(log.segment_count() > 1);
    let ts_of = |o: i64| if o == 52 { 999_999 } else { 10_000 + 10 * o };
    let brute = |target: i64| {
        (0..120i64)
            .find(|o| ts_of(*o) >= target)
            .map(|o| (o, ts_of(o)))
    };
    for offset in 0..120i64 {
        for target in [10_000 + 10 * offset, 10_000 + 10 * offset - 5] {
            assert_eq!(
                log.offset_for_timestamp(target).expect("lookup"),
                brute(target),
                "target {target}"
            );
        }
    }
    assert_eq!(
        log.offset_for_timestamp(0).expect("lookup"),
        Some((0, 10_000))
    );
    assert_eq!(
        log.offset_for_timestamp(999_999).expect("lookup"),
        Some((52, 999_999))
    );
    assert_eq!(log.offset_for_timestamp(1_000_000).expect("lookup"), None);
    assert_eq!(log.max_timestamp().expect("max"), Some((52, 999_999)));
}

#[test]
fn for_each_batch_from_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), &small_config());
    fill(&mut log, 20);
    let mut bases = Vec::new();
    log.for_each_batch(31, &mut |h| bases.push(h.base_offset))
        .expect("scan");
    assert_eq!(bases, (30..60).step_by(3).collect::<Vec<_>>());
    bases.clear();
    log.for_each_batch(60, &mut |h| bases.push(h.base_offset))
        .expect("scan");
    assert!(bases.is_empty());
}

#[test]
fn flush_messages_and_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        flush_messages: 4,
        ..small_config()
    };
    let mut log = open(dir.path(), &config);
    fill(&mut log, 1);
    assert_eq!(log.unflushed_records, 3);
    fill(&mut log, 1);
    assert_eq!(log.unflushed_records, 0);
    fill(&mut log, 20);
    log.delete().expect("delete");
    assert_eq!(log.segment_count(), 1);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (66, 66));
    assert_eq!(log.size_bytes(), 0);
    assert!(log.read(66, 100).expect("read").records.is_empty());
    let files: Vec<_> = std::fs::read_dir(dir.path().join("t-0"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf8"))
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    let info = log.append(&mut batch(1, 1), 0).expect("append");
    assert_eq!(info.base_offset, 66);
    drop(log);
    let log = open(dir.path(), &config);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (66, 67));
}

#[test]
fn rejects_a_slice_that_is_not_one_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), &small_config());
    let mut two = batch(1, 1);
    two.extend(batch(1, 1));
    assert!(log.append(&mut two, 0).is_err());
    assert!(log.append(&mut [0u8; 10], 0).is_err());
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
}
