//! The KIP-848 consumer group protocol (`group.protocol=consumer`) with the native
//! consumer against an in-process broker: incremental hand-over as members join, the
//! leave heartbeat on close, and fencing (UNKNOWN_MEMBER_ID: partitions lost, rejoin
//! with epoch 0).

mod consumer_support;

/// (Named so that `cargo test -p kafkalab-loadgen consumer` selects these tests.)
mod consumer_kip848 {

    use std::collections::BTreeSet;
    use std::time::Duration;

    use super::consumer_support::*;
    use kafkalab_loadgen::client::consumer::{Consumer, ConsumerEvent};

    fn kip848_config(group: &str) -> kafkalab_loadgen::client::ClientConfig {
        group_config(group, &[("group.protocol", "consumer")])
    }

    /// A broker whose consumer groups heartbeat every 200 ms and expire after 3 s.
    async fn broker() -> TestBroker {
        start_broker_with(&[
            ("group.consumer.heartbeat.interval.ms", "200"),
            ("group.consumer.session.timeout.ms", "3000"),
        ])
        .await
    }

    fn events_of(m: &Member, pick: fn(&ConsumerEvent) -> Option<usize>) -> Vec<usize> {
        m.seen.lock().events.iter().filter_map(pick).collect()
    }

    fn revoked(e: &ConsumerEvent) -> Option<usize> {
        match e {
            ConsumerEvent::Revoked { partitions, .. } => Some(partitions.len()),
            _ => None,
        }
    }

    fn lost(e: &ConsumerEvent) -> Option<usize> {
        match e {
            ConsumerEvent::Lost { partitions, .. } => Some(partitions.len()),
            _ => None,
        }
    }

    fn joins(e: &ConsumerEvent) -> Option<usize> {
        matches!(e, ConsumerEvent::JoinStarted { .. }).then_some(1)
    }

    fn cover(members: &[&Member]) -> Vec<i32> {
        let mut all: Vec<i32> = members.iter().flat_map(|m| m.partitions()).collect();
        all.sort();
        all
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn members_keep_their_partitions_and_revoke_only_what_moves() {
        tokio::time::timeout(Duration::from_secs(60), async {
            let b = broker().await;
            create_topic(&b.addr, "t", 6).await;
            let a = Member::start(&b.addr, "t", kip848_config("kip848"), true).await;
            eventually(Duration::from_secs(15), "a owns all 6", || {
                a.partitions().len() == 6
            })
            .await;
            let epoch_a = a.seen.lock().generation;
            assert!(epoch_a > 0, "member epoch {epoch_a}");
            let c = Member::start(&b.addr, "t", kip848_config("kip848"), true).await;
            eventually(Duration::from_secs(15), "3 + 3", || {
                a.partitions().len() == 3
                    && c.partitions().len() == 3
                    && cover(&[&a, &c]) == (0..6).collect::<Vec<_>>()
            })
            .await;
            // a gave up exactly the three that moved, in one revocation, and kept the rest.
            assert_eq!(events_of(&a, revoked), vec![3]);
            let d = Member::start(&b.addr, "t", kip848_config("kip848"), true).await;
            eventually(Duration::from_secs(15), "2 + 2 + 2", || {
                [&a, &c, &d].iter().all(|m| m.partitions().len() == 2)
                    && cover(&[&a, &c, &d]) == (0..6).collect::<Vec<_>>()
            })
            .await;
            assert_eq!(events_of(&a, revoked), vec![3, 1]);
            assert_eq!(events_of(&c, revoked), vec![1]);
            // Nobody rejoined or lost anything: one join per member, no group-wide stop.
            for m in [&a, &c, &d] {
                assert_eq!(events_of(m, joins).len(), 1);
                assert!(events_of(m, lost).is_empty());
                assert!(
                    m.seen.lock().errors.is_empty(),
                    "{:?}",
                    m.seen.lock().errors
                );
            }
            let epochs: BTreeSet<i32> = [&a, &c, &d]
                .iter()
                .map(|m| m.seen.lock().generation)
                .collect();
            assert!(
                epochs.iter().all(|e| *e > epoch_a),
                "epochs {epochs:?} after {epoch_a}"
            );
            // Every partition's records reach exactly one member, and commits (with the
            // member epoch) are accepted.
            for p in 0..6 {
                produce(&b.addr, "t", p, 10, 10).await;
            }
            eventually(Duration::from_secs(15), "60 records", || {
                [&a, &c, &d]
                    .iter()
                    .map(|m| m.seen.lock().records.len())
                    .sum::<usize>()
                    == 60
            })
            .await;
            for m in [&a, &c, &d] {
                let mine: BTreeSet<i32> = m.partitions().into_iter().collect();
                assert!(m
                    .seen
                    .lock()
                    .records
                    .iter()
                    .all(|(p, _, _)| mine.contains(p)));
                assert!(
                    m.seen.lock().errors.is_empty(),
                    "{:?}",
                    m.seen.lock().errors
                );
            }
            // Closing sends the leave heartbeat: d's partitions move at once, long before
            // the 3 s session timeout would.
            let closed = tokio::time::Instant::now();
            d.send(Cmd::Close);
            eventually(Duration::from_secs(15), "3 + 3 after d left", || {
                a.partitions().len() == 3 && c.partitions().len() == 3
            })
            .await;
            assert!(
                closed.elapsed() < Duration::from_millis(2500),
                "{:?}",
                closed.elapsed()
            );
            assert!(d.seen.lock().events.iter().any(|e| matches!(
                e,
                ConsumerEvent::LeftGroup {
                    reason: "close",
                    ..
                }
            )));
        })
        .await
        .expect("test timed out");
    }

    // In virtual time: on the host this test was flaky (CI 2026-12-08: 1 join instead
    // of 2; in other runs no Lost event), its cause not found (issue 15). Simulated, the
    // freeze, the session expiry and the rejoin come in the same order every run.
    #[test]
    fn a_fenced_member_loses_its_partitions_and_rejoins_with_epoch_zero() {
        simulated(a_fenced_member())
    }

    async fn a_fenced_member() {
        tokio::time::timeout(Duration::from_secs(60), async {
            let b = broker().await;
            create_topic(&b.addr, "t", 4).await;
            let a = Member::start(&b.addr, "t", kip848_config("fenced"), false).await;
            let c = Member::start(&b.addr, "t", kip848_config("fenced"), false).await;
            eventually(Duration::from_secs(15), "2 + 2", || {
                a.partitions().len() == 2 && c.partitions().len() == 2
            })
            .await;
            // A process pause longer than the broker's session timeout (3 s): the
            // coordinator removes a and gives its partitions to c.
            a.send(Cmd::Freeze(Duration::from_secs(5)));
            eventually(Duration::from_secs(15), "c owns all 4", || {
                c.partitions().len() == 4
            })
            .await;
            // When a wakes, its heartbeat is answered UNKNOWN_MEMBER_ID: it reports its
            // partitions lost and rejoins (epoch 0); the group rebalances
            // back to 2 + 2.
            eventually(Duration::from_secs(20), "2 + 2 again", || {
                a.partitions().len() == 2 && c.partitions().len() == 2
            })
            .await;
            assert_eq!(events_of(&a, lost), vec![2], "a's 2 partitions are lost");
            assert_eq!(events_of(&a, joins).len(), 2);
            assert!(a.seen.lock().events.iter().any(|e| matches!(
                e,
                ConsumerEvent::LeftGroup {
                    reason: "session timed out",
                    ..
                }
            )));
            assert!(events_of(&c, lost).is_empty());
        })
        .await
        .expect("test timed out");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unknown_remote_assignor_is_a_fatal_error() {
        tokio::time::timeout(Duration::from_secs(30), async {
            let b = broker().await;
            create_topic(&b.addr, "t", 2).await;
            let cfg = group_config(
                "bad-assignor",
                &[
                    ("group.protocol", "consumer"),
                    ("group.remote.assignor", "nope"),
                ],
            );
            let mut consumer = Consumer::new(&b.addr, cfg).await.expect("consumer");
            consumer.subscribe(&["t".to_string()]);
            let err = loop {
                match consumer.poll(Duration::from_millis(100)).await {
                    Ok(records) => assert!(records.is_empty()),
                    Err(e) => break e,
                }
            };
            assert_eq!(
                err.kafka_error_name().as_deref(),
                Some("UNSUPPORTED_ASSIGNOR"),
                "{err}"
            );
            assert!(consumer.assignment().is_empty());
        })
        .await
        .expect("test timed out");
    }
}
