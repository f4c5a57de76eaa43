//! The native consumer against an in-process broker: manual assignment, offset resets,
//! commits, and a throughput check (`--ignored`).

mod consumer_support;

/// (Named so that `cargo test -p kafkalab-loadgen consumer` selects these tests.)
mod consumer {

    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::consumer_support::*;
    use kafkalab_loadgen::client::consumer::Consumer;

    const LIMIT: Duration = Duration::from_secs(30);

    async fn poll_until(
        c: &mut Consumer,
        want: usize,
        max_per_poll: usize,
    ) -> Vec<(i32, i64, String)> {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while got.len() < want {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {want} records",
                got.len()
            );
            let recs = c.poll(Duration::from_millis(200)).await.expect("poll");
            assert!(
                recs.len() <= max_per_poll,
                "poll returned {} records",
                recs.len()
            );
            for r in recs {
                let v = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).to_string();
                got.push((r.partition, r.offset, v));
            }
        }
        got
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn assign_consumes_from_earliest_in_order() {
        tokio::time::timeout(LIMIT, async {
            let b = start_broker().await;
            create_topic(&b.addr, "t", 2).await;
            produce_batched(&b.addr, "t", 0, 1000, 20, 70).await;
            produce_batched(&b.addr, "t", 1, 500, 20, 33).await;
            let mut c = Consumer::new(
                &b.addr,
                config(&[
                    ("auto.offset.reset", "earliest"),
                    ("max.poll.records", "200"),
                ]),
            )
            .await
            .expect("consumer");
            c.assign(vec![("t".into(), 0), ("t".into(), 1)])
                .await
                .expect("assign");
            assert_eq!(
                c.assignment(),
                vec![("t".to_string(), 0), ("t".to_string(), 1)]
            );
            let got = poll_until(&mut c, 1500, 200).await;
            assert_eq!(got.len(), 1500);
            let mut next: BTreeMap<i32, i64> = BTreeMap::new();
            for (p, o, v) in &got {
                let n = next.entry(*p).or_insert(0);
                assert_eq!(o, n, "partition {p}: offsets in order, none skipped");
                assert!(v.starts_with(&format!("p{p}-{o}.")), "{v}");
                *n += 1;
            }
            assert_eq!(next[&0], 1000);
            assert_eq!(next[&1], 500);
            assert_eq!(c.position("t", 0), Some(1000));
            let m = c.metrics();
            assert_eq!(m.records_consumed_total, 1500);
            assert!(m.fetch_total >= 1);
            assert_eq!(m.assigned_partitions, 2);
            assert_eq!(m.records_lag_max, 0);
            // Nothing more: an empty poll after the timeout.
            assert!(c
                .poll(Duration::from_millis(150))
                .await
                .expect("poll")
                .is_empty());
            // New records arrive through the long poll.
            produce(&b.addr, "t", 1, 10, 20).await;
            let more = poll_until(&mut c, 10, 200).await;
            assert_eq!(more[0].1, 500);
            c.close().await.expect("close");
        })
        .await
        .expect("test timed out");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn latest_skips_existing_and_seek_rewinds() {
        tokio::time::timeout(LIMIT, async {
            let b = start_broker().await;
            create_topic(&b.addr, "t", 1).await;
            produce(&b.addr, "t", 0, 100, 10).await;
            let mut c = Consumer::new(&b.addr, config(&[("auto.offset.reset", "latest")]))
                .await
                .expect("consumer");
            c.assign(vec![("t".into(), 0)]).await.expect("assign");
            assert!(c
                .poll(Duration::from_millis(300))
                .await
                .expect("poll")
                .is_empty());
            assert_eq!(c.position("t", 0), Some(100));
            produce(&b.addr, "t", 0, 5, 10).await;
            let got = poll_until(&mut c, 5, 500).await;
            assert_eq!(
                got.iter().map(|r| r.1).collect::<Vec<_>>(),
                vec![100, 101, 102, 103, 104]
            );
            // seek into the middle of a batch: records below the position are skipped.
            c.seek("t", 0, 42);
            let got = poll_until(&mut c, 63, 500).await;
            assert_eq!(got[0].1, 42);
            assert_eq!(got.last().map(|r| r.1), Some(104));
            // Out of range: reset with auto.offset.reset (latest).
            c.seek("t", 0, 10_000);
            for _ in 0..20 {
                assert!(c
                    .poll(Duration::from_millis(200))
                    .await
                    .expect("poll")
                    .is_empty());
                if c.position("t", 0) != Some(10_000) {
                    break;
                }
            }
            assert_eq!(c.position("t", 0), Some(105));
            c.crash();
        })
        .await
        .expect("test timed out");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reset_none_without_committed_offset_is_an_error() {
        tokio::time::timeout(LIMIT, async {
            let b = start_broker().await;
            create_topic(&b.addr, "t", 1).await;
            let mut c = Consumer::new(
                &b.addr,
                config(&[("group.id", "g-none"), ("auto.offset.reset", "none")]),
            )
            .await
            .expect("consumer");
            c.assign(vec![("t".into(), 0)]).await.expect("assign");
            let err = c
                .poll(Duration::from_millis(300))
                .await
                .expect_err("no offset");
            assert!(err.to_string().contains("auto.offset.reset=none"), "{err}");
        })
        .await
        .expect("test timed out");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commit_then_a_new_consumer_resumes() {
        tokio::time::timeout(LIMIT, async {
            let b = start_broker().await;
            create_topic(&b.addr, "t", 1).await;
            produce(&b.addr, "t", 0, 1000, 10).await;
            let cfg = || {
                group_config(
                    "resume",
                    &[("enable.auto.commit", "false"), ("max.poll.records", "100")],
                )
            };
            let mut a = Consumer::new(&b.addr, cfg()).await.expect("a");
            a.subscribe(&["t".to_string()]);
            let got = poll_until(&mut a, 300, 100).await;
            assert_eq!(got.len(), 300);
            assert!(a.member_id().is_some());
            assert!(a.generation() >= 1);
            a.commit_sync().await.expect("commit");
            assert_eq!(a.metrics().commit_total, 1);
            // Records polled after the commit are not committed (no auto-commit).
            let _ = a.poll(Duration::from_millis(100)).await.expect("poll");
            a.close().await.expect("close");

            let mut c = Consumer::new(&b.addr, cfg()).await.expect("c");
            c.subscribe(&["t".to_string()]);
            let got = poll_until(&mut c, 1, 100).await;
            assert_eq!(got[0].1, 300, "resumes at the committed offset");

            // Manual assignment with the same group id also starts at the committed offset.
            let mut m = Consumer::new(&b.addr, config(&[("group.id", "resume")]))
                .await
                .expect("m");
            m.assign(vec![("t".into(), 0)]).await.expect("assign");
            let got = poll_until(&mut m, 1, 500).await;
            assert_eq!(got[0].1, 300);
            c.crash();
            m.crash();
        })
        .await
        .expect("test timed out");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn auto_commit_on_close() {
        tokio::time::timeout(LIMIT, async {
            let b = start_broker().await;
            create_topic(&b.addr, "t", 1).await;
            produce(&b.addr, "t", 0, 50, 10).await;
            let mut a = Consumer::new(&b.addr, group_config("auto", &[]))
                .await
                .expect("a");
            a.subscribe(&["t".to_string()]);
            poll_until(&mut a, 50, 500).await;
            a.close().await.expect("close");
            produce(&b.addr, "t", 0, 5, 10).await;
            let mut c = Consumer::new(&b.addr, group_config("auto", &[]))
                .await
                .expect("c");
            c.subscribe(&["t".to_string()]);
            let got = poll_until(&mut c, 5, 500).await;
            assert_eq!(got[0].1, 50);
            c.close().await.expect("close");
        })
        .await
        .expect("test timed out");
    }

    /// `cargo test --release -p kafkalab-loadgen --test consumer_basic -- --ignored --nocapture`
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn throughput_one_million_100_byte_records() {
        const N: usize = 1_000_000;
        let b = start_broker().await;
        for (topic, partitions) in [("tp1", 1), ("tp4", 4)] {
            create_topic(&b.addr, topic, partitions).await;
            for p in 0..partitions {
                produce_batched(&b.addr, topic, p, N / partitions as usize, 100, 1000).await;
            }
            let mut c = Consumer::new(&b.addr, config(&[("auto.offset.reset", "earliest")]))
                .await
                .expect("consumer");
            c.assign((0..partitions).map(|p| (topic.to_string(), p)).collect())
                .await
                .expect("assign");
            let start = std::time::Instant::now();
            let mut n = 0usize;
            let mut bytes = 0usize;
            while n < N {
                let recs = c.poll(Duration::from_secs(1)).await.expect("poll");
                assert!(!recs.is_empty(), "stalled at {n}");
                n += recs.len();
                bytes += recs
                    .iter()
                    .map(|r| r.value.as_ref().map_or(0, |v| v.len()))
                    .sum::<usize>();
            }
            let secs = start.elapsed().as_secs_f64();
            let m = c.metrics();
            println!(
            "{topic} ({partitions} partition(s)): {n} records of 100 B in {secs:.3} s = {:.0} records/s, {:.1} MB/s of values; {} fetches, fetch latency avg {:?}",
            n as f64 / secs,
            bytes as f64 / secs / 1e6,
            m.fetch_total,
            m.fetch_latency_avg,
        );
            c.crash();
        }
    }
}
