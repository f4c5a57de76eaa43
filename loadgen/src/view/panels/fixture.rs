//! A mid-run snapshot of the session-timeout scenario, and a renderer to text.

use std::sync::Arc;

use ratatui::backend::TestBackend;
use ratatui::{Frame, Terminal};

use crate::engine::snapshot::*;
use crate::measure::IntervalLatency;

/// Renders with `draw` on a `w`×`h` test terminal; the screen as lines of text.
pub fn render(w: u16, h: u16, draw: impl FnOnce(&mut Frame)) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    t.draw(draw).expect("draw");
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn lat(p50: f64, p99: f64) -> Option<IntervalLatency> {
    Some(IntervalLatency {
        count: 1000,
        p50_ms: p50,
        p99_ms: p99,
        p999_ms: p99 * 1.5,
        max_ms: p99 * 2.0,
    })
}

fn member(id: &str, parts: &[i32], note: Option<&str>) -> MemberView {
    MemberView {
        client_id: id.into(),
        member_id: format!("{id}-5d1c"),
        instance_id: None,
        partitions: parts.iter().map(|p| ("orders".to_string(), *p)).collect(),
        note: note.map(String::from),
    }
}

pub fn snapshot() -> RunSnapshot {
    let seconds = (0..30)
        .map(|t| SecondPoint {
            t,
            acked: 1000,
            consumed: if (20..28).contains(&t) { 667 } else { 1000 },
            failed: 0,
            produce: lat(1.2, 3.4),
            e2e: if t < 28 {
                lat(2.0, 5.0 + t as f64)
            } else {
                lat(2.0, 9000.0)
            },
            lag_max: Some(if t >= 20 { (t as i64 - 19) * 333 } else { 3 }),
        })
        .collect();
    let lag = (0..6)
        .map(|p| LagRow {
            group: "billing".into(),
            topic: "orders".into(),
            partition: p,
            log_end: 5000,
            committed: Some(if p == 2 || p == 3 { 2000 } else { 4990 }),
        })
        .collect();
    RunSnapshot {
        scenario: "session-timeout".into(),
        seed: 7,
        bootstrap: "127.0.0.1:40001".into(),
        phase: Phase::Measuring,
        stopped_early: false,
        elapsed_s: 30.2,
        duration_s: 45.0,
        warmup_s: 5.0,
        totals: Totals {
            produced: 30_000,
            acked: 30_000,
            failed: 0,
            consumed: 27_336,
        },
        seconds,
        groups: vec![GroupView {
            name: "billing".into(),
            state: Some("PreparingRebalance".into()),
            protocol: Some("range".into()),
            generation: Some(1),
            rebalancing: true,
            members: vec![
                member("billing-0", &[0, 1], None),
                member("billing-1", &[2, 3], Some("crashed at 20.0s")),
                member("billing-2", &[4, 5], None),
            ],
            pauses: vec![PauseSpan {
                start_s: 28.0,
                end_s: 30.2,
                group_pause_s: 2.2,
                completed: false,
            }],
            faults: vec![20.0],
            consumed: 27_336,
        }],
        lag,
        cluster: ClusterView {
            cluster_id: Some("kafkalab-cluster".into()),
            controller: Some(0),
            brokers: vec![BrokerView {
                id: 0,
                addr: "127.0.0.1:40001".into(),
            }],
            partitions: (0..6)
                .map(|p| PartitionView {
                    topic: "orders".into(),
                    partition: p,
                    leader: 0,
                    replicas: vec![0],
                    isr: vec![0],
                    error_code: 0,
                })
                .collect(),
            polled_s: Some(29.9),
            error: None,
        },
        events: vec![
            EventView {
                at_s: 20.0,
                label: "crash-consumer billing/1".into(),
                done: true,
                note: None,
            },
            EventView {
                at_s: 40.0,
                label: "add-consumer billing".into(),
                done: false,
                note: None,
            },
        ],
        expectations: vec![
            ExpectationView {
                metric: "rebalances".into(),
                check: ">= 1".into(),
                value: Some(0.0),
                status: ExpectStatus::NotMet,
            },
            ExpectationView {
                metric: "detection_s".into(),
                check: "7..13".into(),
                value: Some(8.1),
                status: ExpectStatus::Holds,
            },
            ExpectationView {
                metric: "lost".into(),
                check: "= 0".into(),
                value: None,
                status: ExpectStatus::AtEnd,
            },
        ],
        settings: Arc::new(vec![
            ClientSettings {
                kind: "producer",
                name: "p0".into(),
                count: 1,
                entries: vec![
                    ("acks".into(), "all".into(), true),
                    ("linger.ms".into(), "5".into(), false),
                ],
            },
            ClientSettings {
                kind: "group",
                name: "billing".into(),
                count: 3,
                entries: vec![
                    ("session.timeout.ms".into(), "10000".into(), true),
                    ("heartbeat.interval.ms".into(), "3000".into(), true),
                ],
            },
        ]),
        report_dir: None,
    }
}
