//! What the live view sees of a run: plain data the engine publishes once a second (and
//! after each timeline event) on a `watch` channel, behind an `Arc`, so the view only
//! ever clones a pointer and never touches the engine's locks. The view is a reader:
//! nothing here feeds back into the measurements, apart from the stop request (`q`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::stats::Stats;
use crate::client::producer::Producer;
use crate::client::{ClientConfig, Role};
use crate::measure::{IntervalLatency, Report, Series};
use crate::scenario::{EventKind, Scenario};

/// Seconds of history a snapshot carries (the widest sparkline fits in it).
pub const HISTORY_S: usize = 600;

/// The engine's end of the view channel (`RunOptions::view`).
pub struct ViewHooks {
    pub snapshots: watch::Sender<Arc<RunSnapshot>>,
    /// Becomes `true` when the view asks the run to stop early.
    pub stop: watch::Receiver<bool>,
}

/// The view's end of the channel.
pub struct ViewEnd {
    pub snapshots: watch::Receiver<Arc<RunSnapshot>>,
    pub stop: watch::Sender<bool>,
}

impl ViewHooks {
    /// A connected pair.
    pub fn channel() -> (ViewHooks, ViewEnd) {
        let (snap_tx, snap_rx) = watch::channel(Arc::new(RunSnapshot::default()));
        let (stop_tx, stop_rx) = watch::channel(false);
        (
            ViewHooks {
                snapshots: snap_tx,
                stop: stop_rx,
            },
            ViewEnd {
                snapshots: snap_rx,
                stop: stop_tx,
            },
        )
    }
}

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    #[default]
    Starting,
    WarmUp,
    Measuring,
    /// Producers stopped; waiting for the groups to consume what was acknowledged.
    Draining,
    /// Report written.
    Done,
}

impl Phase {
    pub fn running(warm: bool) -> Phase {
        if warm {
            Phase::Measuring
        } else {
            Phase::WarmUp
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::WarmUp => "warm-up",
            Phase::Measuring => "measuring",
            Phase::Draining => "draining",
            Phase::Done => "done",
        }
    }
}

/// Everything the view draws, at one instant.
#[derive(Debug, Clone, Default)]
pub struct RunSnapshot {
    pub scenario: String,
    pub seed: u64,
    pub bootstrap: String,
    pub phase: Phase,
    /// The user stopped the run before its end.
    pub stopped_early: bool,
    pub elapsed_s: f64,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub totals: Totals,
    /// The last [`HISTORY_S`] one-second samples, oldest first.
    pub seconds: Vec<SecondPoint>,
    pub groups: Vec<GroupView>,
    /// Per group and partition, from the cluster (log end − committed offset).
    pub lag: Vec<LagRow>,
    pub cluster: ClusterView,
    pub events: Vec<EventView>,
    pub expectations: Vec<ExpectationView>,
    /// Key client settings per producer entry and consumer group.
    pub settings: Arc<Vec<ClientSettings>>,
    /// Set once the report is written.
    pub report_dir: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub produced: u64,
    pub acked: u64,
    pub failed: u64,
    pub consumed: u64,
}

/// One second of the run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SecondPoint {
    pub t: u64,
    pub acked: u64,
    pub consumed: u64,
    pub failed: u64,
    pub produce: Option<IntervalLatency>,
    pub e2e: Option<IntervalLatency>,
    pub lag_max: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupView {
    pub name: String,
    /// The coordinator's state (DescribeGroups), once polled.
    pub state: Option<String>,
    /// The assignor the group agreed on.
    pub protocol: Option<String>,
    /// Latest generation a member reported.
    pub generation: Option<i32>,
    /// Some member is paused by a rebalance.
    pub rebalancing: bool,
    pub members: Vec<MemberView>,
    /// Rebalance pauses so far (open ones end at `elapsed_s`).
    pub pauses: Vec<PauseSpan>,
    /// Crash / freeze events on this group (s).
    pub faults: Vec<f64>,
    pub consumed: u64,
}

/// A member as the coordinator describes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberView {
    pub client_id: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub partitions: Vec<(String, i32)>,
    /// What the timeline did to the client behind it ("crashed at 20.0s").
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PauseSpan {
    pub start_s: f64,
    pub end_s: f64,
    /// Longest stretch in the episode with no record consumed by the group.
    pub group_pause_s: f64,
    pub completed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LagRow {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub log_end: i64,
    /// `None`: the group has committed nothing for the partition yet.
    pub committed: Option<i64>,
}

impl LagRow {
    pub fn lag(&self) -> Option<i64> {
        self.committed.map(|c| (self.log_end - c).max(0))
    }
}

/// What Metadata says about the cluster; nothing else.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterView {
    pub cluster_id: Option<String>,
    pub controller: Option<i32>,
    pub brokers: Vec<BrokerView>,
    pub partitions: Vec<PartitionView>,
    /// When the last successful poll finished (s since the run start).
    pub polled_s: Option<f64>,
    /// The last poll's failure, if it failed.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerView {
    pub id: i32,
    pub addr: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionView {
    pub topic: String,
    pub partition: i32,
    /// -1: no leader.
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub error_code: i16,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventView {
    pub at_s: f64,
    pub label: String,
    pub done: bool,
    /// E.g. why the event has no effect in this version.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpectStatus {
    /// Measured so far, the check holds.
    Holds,
    /// Measured so far, the check does not hold (yet).
    NotMet,
    /// Only known after the drain (loss, duplicates, order).
    #[default]
    AtEnd,
    /// Nothing measured yet.
    NoData,
    /// Final verdicts.
    Passed,
    Failed,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExpectationView {
    pub metric: String,
    pub check: String,
    pub value: Option<f64>,
    pub status: ExpectStatus,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientSettings {
    /// "producer" or "group".
    pub kind: &'static str,
    pub name: String,
    /// Instances (producers) or members at the start (groups).
    pub count: u32,
    /// (key, effective value, set by the scenario).
    pub entries: Vec<(String, String, bool)>,
}

/// The settings that most often explain what a run shows.
const PRODUCER_KEYS: &[&str] = &[
    "acks",
    "linger.ms",
    "batch.size",
    "compression.type",
    "enable.idempotence",
    "max.in.flight.requests.per.connection",
];
const CONSUMER_KEYS: &[&str] = &[
    "group.protocol",
    "partition.assignment.strategy",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "max.poll.records",
    "enable.auto.commit",
    "auto.offset.reset",
];

fn entries(
    role: Role,
    props: &BTreeMap<String, String>,
    keys: &[&str],
) -> Vec<(String, String, bool)> {
    let Ok(cfg) = ClientConfig::new(role, props) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String, bool)> = keys
        .iter()
        .map(|k| (k.to_string(), cfg.get(k), props.contains_key(*k)))
        .collect();
    // Whatever else the scenario sets is key to it too.
    for (k, v) in props {
        if !keys.contains(&k.as_str()) && k != "client.id" && k != "group.id" {
            out.push((k.clone(), v.clone(), true));
        }
    }
    out
}

/// Key settings of every producer entry and consumer group of `scenario`.
pub fn client_settings(scenario: &Scenario) -> Vec<ClientSettings> {
    let mut out = Vec::new();
    for p in &scenario.producers {
        out.push(ClientSettings {
            kind: "producer",
            name: p.name.to_string(),
            count: p.count,
            entries: entries(Role::Producer, &p.config, PRODUCER_KEYS),
        });
    }
    for g in scenario.group_names() {
        let mut entry = ClientSettings {
            kind: "group",
            name: g.to_string(),
            ..ClientSettings::default()
        };
        for c in scenario.group(g) {
            entry.count += c.count;
            if entry.entries.is_empty() {
                entry.entries = entries(Role::Consumer, &c.config, CONSUMER_KEYS);
            }
        }
        out.push(entry);
    }
    out
}

/// What the cluster poller ([`super::lag`]) last saw.
#[derive(Debug, Clone, Default)]
pub struct Polled {
    pub cluster: ClusterView,
    pub lag: Vec<LagRow>,
    /// group -> (state, protocol, members).
    pub groups: BTreeMap<String, (String, String, Vec<MemberView>)>,
}

/// Builds and publishes snapshots for the engine; owns the cluster poller.
pub(crate) struct Publisher {
    tx: watch::Sender<Arc<RunSnapshot>>,
    stop: watch::Receiver<bool>,
    base: RunSnapshot,
    scenario: Scenario,
    polled: Arc<Mutex<Polled>>,
    poller: JoinHandle<()>,
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

/// Resolves once the view asked to stop; never when there is no view (or it is gone).
pub(crate) async fn stop_requested(stop: &mut Option<watch::Receiver<bool>>) {
    match stop {
        Some(rx) => {
            if rx.wait_for(|s| *s).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

impl Publisher {
    pub(crate) fn start(
        hooks: &ViewHooks,
        scenario: &Scenario,
        bootstrap: &str,
        seed: u64,
        stats: &Arc<Stats>,
    ) -> Publisher {
        let events = scenario
            .events
            .iter()
            .map(|e| {
                let kind = *e.kind;
                let target = e.target.as_ref().map(|t| {
                    format!(
                        " {}{}",
                        t.name,
                        t.index.map(|i| format!("/{i}")).unwrap_or_default()
                    )
                });
                let extra = match (&e.for_duration, &e.rate) {
                    (Some(d), _) => format!(" for {:.0}s", d.as_secs_f64()),
                    (_, Some(r)) => match r.per_second() {
                        Some(r) => format!(" to {r:.0}/s"),
                        None => " to max".into(),
                    },
                    _ => String::new(),
                };
                EventView {
                    at_s: e.at.as_secs_f64(),
                    label: format!("{}{}{extra}", kind.as_str(), target.unwrap_or_default()),
                    done: false,
                    note: matches!(
                        kind,
                        EventKind::KillBroker
                            | EventKind::RestartBroker
                            | EventKind::PauseBroker
                            | EventKind::DelayLink
                    )
                    .then(|| "needs a multi-broker cluster; ignored".to_string()),
                }
            })
            .collect();
        let base = RunSnapshot {
            scenario: scenario.name.clone(),
            seed,
            bootstrap: bootstrap.to_string(),
            duration_s: scenario.duration.as_secs_f64(),
            warmup_s: scenario.warmup.as_secs_f64(),
            events,
            settings: Arc::new(client_settings(scenario)),
            ..RunSnapshot::default()
        };
        let polled = Arc::new(Mutex::new(Polled::default()));
        let topics = scenario.topics.iter().map(|t| t.name.to_string()).collect();
        let groups = scenario
            .group_names()
            .into_iter()
            .map(|g| {
                let mut topics: Vec<String> = scenario
                    .group(g)
                    .flat_map(|c| c.topics.iter().map(|t| t.to_string()))
                    .collect();
                topics.sort();
                topics.dedup();
                (g.to_string(), topics)
            })
            .collect();
        let poller = tokio::spawn(super::lag::poll(
            bootstrap.to_string(),
            topics,
            groups,
            stats.clone(),
            polled.clone(),
        ));
        Publisher {
            tx: hooks.snapshots.clone(),
            stop: hooks.stop.clone(),
            base,
            scenario: scenario.clone(),
            polled,
            poller,
        }
    }

    /// Publishes the run's state now. `baseline` is (acked, consumed) at the end of the
    /// warm-up, as the engine counts throughput.
    pub(crate) fn publish(
        &self,
        stats: &Stats,
        series: &Series,
        phase: Phase,
        baseline: (u64, u64),
        producers: &[Producer],
    ) {
        let snap = self.build(stats, series, phase, baseline, producers);
        self.tx.send_replace(Arc::new(snap));
    }

    /// The final snapshot: the report's verdicts and where it was written.
    pub(crate) fn finish(&self, report: &Report, dir: &Path) {
        let mut snap = (**self.tx.borrow()).clone();
        snap.phase = Phase::Done;
        snap.stopped_early = *self.stop.borrow();
        snap.report_dir = Some(dir.display().to_string());
        snap.expectations = report
            .expectations
            .iter()
            .map(|e| ExpectationView {
                metric: e.name.clone(),
                check: e.check.clone(),
                value: e.measured.as_f64(),
                status: if e.passed {
                    ExpectStatus::Passed
                } else {
                    ExpectStatus::Failed
                },
            })
            .collect();
        self.tx.send_replace(Arc::new(snap));
    }

    fn build(
        &self,
        stats: &Stats,
        series: &Series,
        phase: Phase,
        baseline: (u64, u64),
        producers: &[Producer],
    ) -> RunSnapshot {
        let now_ns = stats.now_ns();
        let elapsed_s = now_ns as f64 / 1e9;
        let mut snap = self.base.clone();
        snap.phase = phase;
        snap.stopped_early = *self.stop.borrow();
        snap.elapsed_s = elapsed_s;
        snap.totals = Totals {
            produced: stats.produced.total(),
            acked: stats.acked.total(),
            failed: stats.failed.total(),
            consumed: stats.consumed.total(),
        };
        let from = series.seconds.len().saturating_sub(HISTORY_S);
        snap.seconds = series.seconds[from..]
            .iter()
            .map(|s| SecondPoint {
                t: s.t,
                acked: s.acked,
                consumed: s.consumed,
                failed: s.failed,
                produce: s.produce_latency,
                e2e: s.e2e_latency,
                lag_max: s.lag_max,
            })
            .collect();
        for e in &mut snap.events {
            e.done = e.at_s * 1e9 <= now_ns as f64 && phase != Phase::Starting;
        }
        let pauses = stats.pauses.lock().summary(now_ns);
        let polled = self.polled.lock().clone();
        let obs = stats.groups.lock().clone();
        let in_rebalance: BTreeMap<&String, bool> = {
            let p = stats.pauses.lock();
            obs.keys().map(|g| (g, p.in_rebalance(g))).collect()
        };
        for (name, g) in &obs {
            let (state, protocol, mut members) = polled
                .groups
                .get(name)
                .cloned()
                .map_or((None, None, Vec::new()), |(s, p, m)| (Some(s), Some(p), m));
            for m in &mut members {
                m.note = member_note(&snap.events, name, &m.client_id);
            }
            snap.groups.push(GroupView {
                name: name.clone(),
                state,
                protocol,
                generation: g.generations.keys().next_back().copied(),
                rebalancing: in_rebalance.get(name).copied().unwrap_or(false),
                members,
                pauses: pauses
                    .pauses
                    .iter()
                    .filter(|p| &p.group == name)
                    .map(|p| PauseSpan {
                        start_s: p.start_ms / 1e3,
                        end_s: p.end_ms / 1e3,
                        group_pause_s: p.group_pause_ms / 1e3,
                        completed: p.completed,
                    })
                    .collect(),
                faults: g.faults.iter().map(|t| *t as f64 / 1e9).collect(),
                consumed: g.consumed,
            });
        }
        snap.lag = polled.lag;
        snap.cluster = polled.cluster;
        let live = LiveMeasures::take(&self.scenario, stats, series, phase, baseline, producers);
        snap.expectations = self
            .scenario
            .expect
            .iter()
            .map(|e| {
                let metric = e.metric.to_string();
                let (value, status) = match live.get(&metric) {
                    Live::AtEnd => (None, ExpectStatus::AtEnd),
                    Live::NoData => (None, ExpectStatus::NoData),
                    Live::Now(v) => (
                        Some(v),
                        if e.eval(v) {
                            ExpectStatus::Holds
                        } else {
                            ExpectStatus::NotMet
                        },
                    ),
                };
                ExpectationView {
                    metric,
                    check: e.check.to_string(),
                    value,
                    status,
                }
            })
            .collect();
        snap
    }
}

/// "crashed at 20.0s" for the client an event targeted (clients are `<group>-<index>`).
fn member_note(events: &[EventView], group: &str, client_id: &str) -> Option<String> {
    let index = client_id.strip_prefix(group)?.strip_prefix('-')?;
    let target = format!(" {group}/{index}");
    events
        .iter()
        .rev()
        .filter(|e| e.done)
        .find(|e| e.label.contains(&format!("{target} ")) || e.label.ends_with(&target))
        .and_then(|e| {
            let what = e.label.split(' ').next()?;
            let verb = match what {
                "crash-consumer" => "crashed",
                "freeze-consumer" => "frozen",
                "remove-consumer" => "left",
                "restart-consumer" => "restarted",
                _ => return None,
            };
            Some(format!("{verb} at {:.1}s", e.at_s))
        })
}

enum Live {
    Now(f64),
    AtEnd,
    NoData,
}

/// The `[expect]` metrics that can be read cheaply while the run goes on, with the
/// definitions `outcome::measure` applies at the end. Verification (loss, duplicates,
/// order) settles only after the drain: records in flight are not lost yet.
struct LiveMeasures(BTreeMap<String, f64>);

impl LiveMeasures {
    fn take(
        scenario: &Scenario,
        stats: &Stats,
        series: &Series,
        phase: Phase,
        baseline: (u64, u64),
        producers: &[Producer],
    ) -> LiveMeasures {
        let mut m = BTreeMap::new();
        let now_s = stats.now_ns() as f64 / 1e9;
        let measured_s = now_s - scenario.warmup.as_secs_f64();
        if phase == Phase::Measuring && measured_s > 0.5 {
            m.insert(
                "produce_throughput_rps".into(),
                stats.acked.total().saturating_sub(baseline.0) as f64 / measured_s,
            );
            m.insert(
                "throughput_rps".into(),
                stats.consumed.total().saturating_sub(baseline.1) as f64 / measured_s,
            );
        }
        let requests_sent = producers
            .iter()
            .map(|p| p.metrics())
            .fold((0, 0), |a, s| (a.0 + s.requests, a.1 + s.records_sent));
        super::outcome::measure_so_far(&mut m, scenario, stats, series, requests_sent, now_s);
        LiveMeasures(m)
    }

    fn get(&self, metric: &str) -> Live {
        match metric {
            "lost"
            | "duplicates"
            | "out_of_order"
            | "redelivered"
            | "poll_skips"
            | "commits_backwards"
            | "unprocessed"
            | "replayed"
            | "keys_remapped"
            | "records_per_key"
            | "tombstones"
            | "max_tombstone_age_s" => Live::AtEnd,
            _ => self.0.get(metric).map_or(Live::NoData, |v| Live::Now(*v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_needs_a_commit() {
        let mut r = LagRow {
            group: "g".into(),
            topic: "t".into(),
            partition: 0,
            log_end: 100,
            committed: None,
        };
        assert_eq!(r.lag(), None);
        r.committed = Some(60);
        assert_eq!(r.lag(), Some(40));
    }

    #[test]
    fn member_notes_follow_the_timeline() {
        let ev = |label: &str, done| EventView {
            at_s: 20.0,
            label: label.into(),
            done,
            note: None,
        };
        let events = vec![
            ev("crash-consumer billing/1", true),
            ev("freeze-consumer billing/11 for 5s", false),
        ];
        assert_eq!(
            member_note(&events, "billing", "billing-1").as_deref(),
            Some("crashed at 20.0s")
        );
        assert_eq!(
            member_note(&events, "billing", "billing-11"),
            None,
            "not yet"
        );
        assert_eq!(member_note(&events, "billing", "billing-0"), None);
    }

    #[test]
    fn settings_show_defaults_and_what_the_scenario_set() {
        let s = crate::scenario::parse(
            "x.toml",
            "duration = \"10s\"\n[[topics]]\nname = \"t\"\npartitions = 1\n\
             [[producers]]\ntopic = \"t\"\nrate = 10\nconfig = { \"linger.ms\" = 20 }\n\
             [[consumers]]\ngroup = \"g\"\ntopic = \"t\"\ncount = 2\n\
             config = { \"session.timeout.ms\" = 10000, \"fetch.min.bytes\" = 1 }\n",
        )
        .expect("valid scenario");
        let settings = client_settings(&s);
        assert_eq!(settings.len(), 2);
        let p = &settings[0];
        assert_eq!(p.kind, "producer");
        assert!(p.entries.contains(&("linger.ms".into(), "20".into(), true)));
        assert!(p.entries.contains(&("acks".into(), "all".into(), false)));
        let g = &settings[1];
        assert_eq!((g.kind, g.name.as_str(), g.count), ("group", "g", 2));
        assert!(g
            .entries
            .contains(&("session.timeout.ms".into(), "10000".into(), true)));
        assert!(g
            .entries
            .contains(&("fetch.min.bytes".into(), "1".into(), true)));
    }
}
