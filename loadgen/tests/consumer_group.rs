//! Consumer groups with the native consumer against an in-process broker: assignment,
//! hand-over on close, crash detection after session.timeout.ms, leaving on
//! max.poll.interval.ms, cooperative-sticky incremental rebalancing, static membership.

mod consumer_support;

/// (Named so that `cargo test -p kafkalab-loadgen consumer` selects these tests.)
mod consumer {

    use std::collections::BTreeSet;
    use std::time::Duration;

    use super::consumer_support::*;
    use kafkalab_loadgen::client::consumer::ConsumerEvent;

    fn disjoint_cover(members: &[&Member], partitions: i32) -> bool {
        let mut all: Vec<i32> = members.iter().flat_map(|m| m.partitions()).collect();
        all.sort();
        all == (0..partitions).collect::<Vec<_>>()
    }

    fn revoked(m: &Member) -> Vec<Vec<(String, i32)>> {
        m.seen
            .lock()
            .events
            .iter()
            .filter_map(|e| match e {
                ConsumerEvent::Revoked { partitions, .. } => Some(partitions.clone()),
                _ => None,
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn three_consumers_get_two_partitions_each() {
        tokio::time::timeout(Duration::from_secs(40), async {
            let b = start_broker().await;
            create_topic(&b.addr, "t", 6).await;
            let mut ms = Vec::new();
            for _ in 0..3 {
                ms.push(Member::start(&b.addr, "t", group_config("three", &[]), false).await);
            }
            let refs: Vec<&Member> = ms.iter().collect();
            eventually(
                Duration::from_secs(20),
                "2 partitions each, disjoint",
                || refs.iter().all(|m| m.partitions().len() == 2) && disjoint_cover(&refs, 6),
            )
            .await;
            let ids: BTreeSet<Option<String>> =
                ms.iter().map(|m| m.seen.lock().member_id.clone()).collect();
            assert_eq!(ids.len(), 3);
            assert!(!ids.contains(&None));
            let gens: BTreeSet<i32> = ms.iter().map(|m| m.seen.lock().generation).collect();
            assert_eq!(gens.len(), 1, "one generation: {gens:?}");
            // Range (the default) gives contiguous ranges.
            for m in &ms {
                let p = m.partitions();
                assert_eq!(p[1], p[0] + 1, "{p:?}");
            }
            // Every partition's records reach exactly one member.
            for p in 0..6 {
                produce(&b.addr, "t", p, 10, 10).await;
            }
            eventually(Duration::from_secs(10), "60 records consumed", || {
                ms.iter()
                    .map(|m| m.seen.lock().records.len())
                    .sum::<usize>()
                    == 60
            })
            .await;
            for m in &ms {
                let own: BTreeSet<i32> = m.partitions().into_iter().collect();
                let s = m.seen.lock();
                assert!(s.records.iter().all(|(p, _, _)| own.contains(p)));
                assert!(s.errors.is_empty(), "{:?}", s.errors);
            }
            for m in &ms {
                m.send(Cmd::Close);
            }
        })
        .await
        .expect("test timed out");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_closing_consumer_hands_over_at_once() {
        tokio::time::timeout(Duration::from_secs(40), async {
            let b = start_broker().await;
            create_topic(&b.addr, "t", 4).await;
            // A session timeout far longer than the test: only LeaveGroup can be this quick.
            let cfg = || group_config("handover", &[("session.timeout.ms", "60000")]);
            let a = Member::start(&b.addr, "t", cfg(), false).await;
            let c = Member::start(&b.addr, "t", cfg(), false).await;
            eventually(Duration::from_secs(20), "2 + 2", || {
                a.partitions().len() == 2 && c.partitions().len() == 2
            })
            .await;
            let t0 = tokio::time::Instant::now();
            a.send(Cmd::Close);
            eventually(Duration::from_secs(10), "survivor owns all 4", || {
                c.partitions().len() == 4
            })
            .await;
            let took = t0.elapsed();
            assert!(took < Duration::from_secs(5), "hand-over took {took:?}");
            let s = a.seen.lock();
            assert!(s.stopped);
            assert!(s.events.iter().any(|e| matches!(
                e,
                ConsumerEvent::LeftGroup {
                    reason: "close",
                    ..
                }
            )));
            assert!(s.events.iter().any(
                |e| matches!(e, ConsumerEvent::Revoked { partitions, .. } if partitions.len() == 2)
            ));
            drop(s);
            c.send(Cmd::Close);
        })
        .await
        .expect("test timed out");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_crash_is_noticed_after_the_session_timeout() {
        tokio::time::timeout(Duration::from_secs(40), async {
            let b = start_broker().await;
            create_topic(&b.addr, "t", 4).await;
            let cfg = || {
                group_config(
                    "crash",
                    &[
                        ("session.timeout.ms", "6000"),
                        ("heartbeat.interval.ms", "500"),
                    ],
                )
            };
            let a = Member::start(&b.addr, "t", cfg(), false).await;
            let c = Member::start(&b.addr, "t", cfg(), false).await;
            eventually(Duration::from_secs(20), "2 + 2", || {
                a.partitions().len() == 2 && c.partitions().len() == 2
            })
            .await;
            let before = c.seen.lock().generation;
            let t0 = tokio::time::Instant::now();
            a.send(Cmd::Crash);
            eventually(Duration::from_secs(15), "survivor owns all 4", || {
                c.partitions().len() == 4
            })
            .await;
            let took = t0.elapsed();
            // Detection needs the whole session timeout (plus the broker's 50 ms timer and
            // the survivor's next heartbeat).
            assert!(
                took >= Duration::from_millis(5800),
                "detected after only {took:?}"
            );
            assert!(took < Duration::from_secs(9), "detected after {took:?}");
            assert!(c.seen.lock().generation > before);
            assert!(!a
                .seen
                .lock()
                .events
                .iter()
                .any(|e| matches!(e, ConsumerEvent::LeftGroup { .. })));
            c.send(Cmd::Close);
        })
        .await
        .expect("test timed out");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn exceeding_max_poll_interval_leaves_and_records_are_redelivered() {
        tokio::time::timeout(Duration::from_secs(40), async {
            let b = start_broker().await;
            create_topic(&b.addr, "t", 2).await;
            for p in 0..2 {
                produce(&b.addr, "t", p, 100, 10).await;
            }
            let cfg = || {
                group_config(
                    "slow",
                    &[
                        ("enable.auto.commit", "false"),
                        ("max.poll.interval.ms", "2000"),
                        ("max.poll.records", "20"),
                    ],
                )
            };
            // Both commit after every poll; the slow one's last batch stays uncommitted.
            let processing = Duration::from_millis(50);
            let slow = Member::start_with(&b.addr, "t", cfg(), true, processing).await;
            let other = Member::start_with(&b.addr, "t", cfg(), true, processing).await;
            eventually(Duration::from_secs(20), "1 + 1, both consuming", || {
                slow.partitions().len() == 1
                    && other.partitions().len() == 1
                    && !slow.seen.lock().records.is_empty()
            })
            .await;
            let slow_partition = slow.partitions()[0];
            let slow_generation = slow.seen.lock().generation;
            // Stop polling (processing takes 5 s) without committing what was just polled.
            slow.send(Cmd::StopPolling(Duration::from_secs(5)));
            tokio::time::sleep(Duration::from_millis(150)).await;
            let t0 = tokio::time::Instant::now();
            let seen_by_slow: BTreeSet<i64> = slow
                .seen
                .lock()
                .records
                .iter()
                .filter(|(p, _, _)| *p == slow_partition)
                .map(|(_, o, _)| *o)
                .collect();
            eventually(
                Duration::from_secs(10),
                "the other member takes over",
                || other.partitions().len() == 2,
            )
            .await;
            let took = t0.elapsed();
            assert!(took < Duration::from_secs(4), "left after {took:?}");
            // (The slow member's task records events once it polls again.)
            eventually(
                Duration::from_secs(10),
                "LeftGroup event on the slow member",
                || {
                    slow.seen.lock().events.iter().any(|e| {
                        matches!(
                            e,
                            ConsumerEvent::LeftGroup {
                                reason: "max.poll.interval.ms exceeded",
                                ..
                            }
                        )
                    })
                },
            )
            .await;
            // Redelivery: the other member reads the slow one's partition from its last
            // committed offset, so it sees at least the last batch the slow member polled.
            eventually(
                Duration::from_secs(10),
                "slow member's partition consumed to the end",
                || {
                    other
                        .seen
                        .lock()
                        .records
                        .iter()
                        .any(|(p, o, _)| *p == slow_partition && *o == 99)
                },
            )
            .await;
            let redelivered: BTreeSet<i64> = other
                .seen
                .lock()
                .records
                .iter()
                .filter(|(p, o, _)| *p == slow_partition && seen_by_slow.contains(o))
                .map(|(_, o, _)| *o)
                .collect();
            assert!(
                !redelivered.is_empty(),
                "no redelivery: slow saw {seen_by_slow:?}"
            );
            let last_slow = *seen_by_slow.iter().max().unwrap_or(&-1);
            assert!(
                redelivered.contains(&last_slow),
                "the uncommitted batch is redelivered"
            );
            // When the slow member polls again it rejoins; its old partitions were lost.
            // (Its recorded assignment is stale until it records a newer generation, and
            // it records events before the generation.)
            eventually(
                Duration::from_secs(15),
                "slow member back with one partition",
                || {
                    slow.seen.lock().generation > slow_generation
                        && slow.partitions().len() == 1
                        && other.partitions().len() == 1
                },
            )
            .await;
            let s = slow.seen.lock();
            assert!(s.events.iter().any(
                |e| matches!(e, ConsumerEvent::Lost { partitions, .. } if partitions.len() == 1)
            ));
            drop(s);
            slow.send(Cmd::Close);
            other.send(Cmd::Close);
        })
        .await
        .expect("test timed out");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cooperative_sticky_revokes_only_what_moves() {
        tokio::time::timeout(Duration::from_secs(40), async {
            let b = start_broker().await;
            create_topic(&b.addr, "t", 6).await;
            let cfg = || {
                group_config(
                    "coop",
                    &[("partition.assignment.strategy", "cooperative-sticky")],
                )
            };
            let a = Member::start(&b.addr, "t", cfg(), false).await;
            let c = Member::start(&b.addr, "t", cfg(), false).await;
            eventually(Duration::from_secs(20), "3 + 3", || {
                a.partitions().len() == 3 && c.partitions().len() == 3
            })
            .await;
            let a_before: BTreeSet<i32> = a.partitions().into_iter().collect();
            let c_before: BTreeSet<i32> = c.partitions().into_iter().collect();
            let a_revocations = revoked(&a).len();
            let c_revocations = revoked(&c).len();
            let d = Member::start(&b.addr, "t", cfg(), false).await;
            eventually(Duration::from_secs(20), "2 + 2 + 2", || {
                a.partitions().len() == 2
                    && c.partitions().len() == 2
                    && d.partitions().len() == 2
                    && disjoint_cover(&[&a, &c, &d], 6)
            })
            .await;
            // The old members kept two of their three partitions and revoked only one each.
            let a_after: BTreeSet<i32> = a.partitions().into_iter().collect();
            let c_after: BTreeSet<i32> = c.partitions().into_iter().collect();
            assert!(a_after.is_subset(&a_before), "{a_before:?} -> {a_after:?}");
            assert!(c_after.is_subset(&c_before), "{c_before:?} -> {c_after:?}");
            let new_a: Vec<Vec<(String, i32)>> = revoked(&a).split_off(a_revocations);
            let new_c: Vec<Vec<(String, i32)>> = revoked(&c).split_off(c_revocations);
            assert_eq!(new_a.concat().len(), 1, "a revoked {new_a:?}");
            assert_eq!(new_c.concat().len(), 1, "c revoked {new_c:?}");
            // The newcomer got the moved partitions in the second rebalance.
            let assigned_d: Vec<(String, i32)> = d
                .seen
                .lock()
                .events
                .iter()
                .filter_map(|e| match e {
                    ConsumerEvent::Assigned { partitions, .. } => Some(partitions.clone()),
                    _ => None,
                })
                .flatten()
                .collect();
            assert_eq!(assigned_d.len(), 2, "{assigned_d:?}");
            for m in [&a, &c, &d] {
                m.send(Cmd::Close);
            }
        })
        .await
        .expect("test timed out");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_static_member_closes_without_a_rebalance() {
        tokio::time::timeout(Duration::from_secs(40), async {
            let b = start_broker().await;
            create_topic(&b.addr, "t", 4).await;
            let cfg = |instance: &str| {
                group_config(
                    "static",
                    &[
                        ("group.instance.id", instance),
                        ("session.timeout.ms", "30000"),
                    ],
                )
            };
            let a = Member::start(&b.addr, "t", cfg("i-a"), false).await;
            let c = Member::start(&b.addr, "t", cfg("i-c"), false).await;
            eventually(Duration::from_secs(20), "2 + 2", || {
                a.partitions().len() == 2 && c.partitions().len() == 2
            })
            .await;
            let a_parts = a.partitions();
            let generation = c.seen.lock().generation;
            a.send(Cmd::Close);
            eventually(Duration::from_secs(5), "a closed", || a.seen.lock().stopped).await;
            // No LeaveGroup: the survivor keeps its two partitions and the generation.
            tokio::time::sleep(Duration::from_secs(2)).await;
            assert_eq!(c.partitions().len(), 2);
            assert_eq!(c.seen.lock().generation, generation);
            // The same instance comes back within the session and gets its partitions back.
            let a2 = Member::start(&b.addr, "t", cfg("i-a"), false).await;
            eventually(Duration::from_secs(10), "a back", || {
                a2.partitions() == a_parts
            })
            .await;
            assert_eq!(c.partitions().len(), 2);
            for m in [&a2, &c] {
                m.send(Cmd::Close);
            }
        })
        .await
        .expect("test timed out");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_frozen_member_is_evicted_and_rejoins() {
        tokio::time::timeout(Duration::from_secs(40), async {
            let b = start_broker().await;
            create_topic(&b.addr, "t", 2).await;
            let cfg = || {
                group_config(
                    "freeze",
                    &[
                        ("session.timeout.ms", "6000"),
                        ("heartbeat.interval.ms", "500"),
                    ],
                )
            };
            let a = Member::start(&b.addr, "t", cfg(), false).await;
            let c = Member::start(&b.addr, "t", cfg(), false).await;
            eventually(Duration::from_secs(20), "1 + 1", || {
                a.partitions().len() == 1 && c.partitions().len() == 1
            })
            .await;
            a.send(Cmd::Freeze(Duration::from_secs(8)));
            eventually(Duration::from_secs(12), "c owns both", || {
                c.partitions().len() == 2
            })
            .await;
            // After the freeze, a finds its generation gone, loses its partition, rejoins.
            eventually(Duration::from_secs(15), "1 + 1 again", || {
                a.partitions().len() == 1 && c.partitions().len() == 1
            })
            .await;
            assert!(a
                .seen
                .lock()
                .events
                .iter()
                .any(|e| matches!(e, ConsumerEvent::Lost { .. })));
            // It saw its own expiry (UNKNOWN_MEMBER_ID from the coordinator); the
            // member that stayed did not.
            let expired = |m: &Member| {
                m.seen.lock().events.iter().any(|e| {
                    matches!(e, ConsumerEvent::LeftGroup { reason, .. }
                        if *reason == kafkalab_loadgen::client::consumer::group::LEFT_SESSION_TIMEOUT)
                })
            };
            assert!(expired(&a), "a: no LeftGroup session timeout");
            assert!(!expired(&c), "c: LeftGroup session timeout");
            let m = a_metrics_ok(&a);
            assert!(m);
            for m in [&a, &c] {
                m.send(Cmd::Close);
            }
        })
        .await
        .expect("test timed out");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_topic_created_after_subscribing_gets_assigned() {
        tokio::time::timeout(Duration::from_secs(30), async {
            let b = start_broker().await;
            let a = Member::start(&b.addr, "later", group_config("later", &[]), false).await;
            eventually(Duration::from_secs(10), "joined", || {
                a.seen.lock().generation >= 1
            })
            .await;
            assert!(a.partitions().is_empty());
            create_topic(&b.addr, "later", 3).await;
            produce(&b.addr, "later", 2, 5, 10).await;
            eventually(
                Duration::from_secs(10),
                "3 partitions and the records",
                || a.partitions().len() == 3 && a.seen.lock().records.len() == 5,
            )
            .await;
            a.send(Cmd::Close);
        })
        .await
        .expect("test timed out");
    }

    /// Eager members commit (auto-commit) before revoking, so the next owner resumes
    /// where they stopped: no record is consumed twice in a graceful rebalance.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn eager_rebalance_commits_before_revoking() {
        tokio::time::timeout(Duration::from_secs(30), async {
            let b = start_broker().await;
            create_topic(&b.addr, "t", 2).await;
            for p in 0..2 {
                produce(&b.addr, "t", p, 50, 10).await;
            }
            // Auto-commit far in the future: only the commit before revocation counts.
            let cfg = || group_config("eager", &[("auto.commit.interval.ms", "600000")]);
            let a = Member::start(&b.addr, "t", cfg(), false).await;
            eventually(Duration::from_secs(10), "a consumed all", || {
                a.seen.lock().records.len() == 100
            })
            .await;
            let c = Member::start(&b.addr, "t", cfg(), false).await;
            eventually(Duration::from_secs(10), "1 + 1", || {
                a.partitions().len() == 1 && c.partitions().len() == 1
            })
            .await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let dup = c.seen.lock().records.len();
            assert_eq!(dup, 0, "the new owner re-consumed {dup} records");
            for m in [&a, &c] {
                m.send(Cmd::Close);
            }
        })
        .await
        .expect("test timed out");
    }

    fn a_metrics_ok(m: &Member) -> bool {
        m.seen.lock().errors.is_empty()
    }
}
