//! The scenario engine: creates the topics, starts producers and consumer groups,
//! plays the timeline, samples a one-second series, then drains, verifies every record,
//! checks the `[expect]` table and writes the report. It speaks only the Kafka protocol
//! (through [`crate::client`]), so the same scenario runs against any cluster.

mod cluster_watch;
mod consumer_task;
mod events;
mod group_outcome;
mod keys;
mod lag;
mod outcome;
mod producer_task;
mod reset;
pub mod scenario_metrics;
pub mod snapshot;
mod stats;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::admin::{Admin, NewTopic};
use crate::client::producer::Producer;
use crate::client::{ClientConfig, ClientError, Role};
use crate::measure::{write_report, IntervalLatency, LatencyRecorder, Report, SecondSample};
use crate::scenario::{LinkEnd, Scenario};
use consumer_task::{MemberCommand, MemberSpec};
use events::apply_event;
pub use outcome::Measured;
use producer_task::{ProducerControl, ProducerSpec};
use stats::Stats;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("{0}")]
    Setup(String),
    #[error("cannot write the report: {0}")]
    Report(String),
}

pub struct RunOptions {
    /// `bootstrap.servers` of the cluster to run against.
    pub bootstrap: String,
    /// Where `<scenario>-<stamp>/` report directories go.
    pub report_root: PathBuf,
    /// Wall-clock start, formatted by the caller (the engine reads no wall clock).
    pub started_at: String,
    /// The wall clock as Unix seconds, read by the caller just before [`run`]: event
    /// timestamps (Grafana annotations) count from it. `None`: `started_at`, which is
    /// whole seconds and taken before the embedded broker started, so up to a few
    /// seconds early.
    pub started_unix: Option<f64>,
    /// Directory-name stamp, e.g. `20261125-081500`.
    pub stamp: String,
    /// The run's seed (printed first; every random choice derives from it).
    pub seed: u64,
    /// Print progress lines every few seconds.
    pub progress: bool,
    /// Where the clients register their metrics (served by the caller's endpoint).
    pub registry: Option<prometheus::Registry>,
    /// Verify and time every record (off only to measure the cost of measuring).
    pub measure: bool,
    /// The live view: snapshots out, an early stop in (`None`: no view).
    pub view: Option<snapshot::ViewHooks>,
    /// Broker faults (`kill-broker`, `restart-broker`, ...): only an embedded cluster
    /// can take them; `None` against `--bootstrap-server`.
    pub faults: Option<Arc<dyn BrokerFaults>>,
    /// A simulated run (virtual time): the host's instant it began, read by the
    /// caller, so the report can say how much faster than real time it went.
    pub simulated_since: Option<std::time::Instant>,
}

/// A broker fault a scenario event asks for. A `duration` of `None` keeps the fault
/// until another event undoes it.
#[derive(Debug, Clone, PartialEq)]
pub enum BrokerFault {
    /// The node stops at once (connections dropped, nothing flushed).
    Kill { node: i32 },
    /// A killed node starts again from its logs.
    Restart { node: i32 },
    /// The node answers nothing for `duration`.
    Pause { node: i32, duration: Duration },
    /// Added one-way latency and/or loss (TCP retransmissions) on `from → to`.
    Link {
        from: LinkEnd,
        to: LinkEnd,
        latency: Option<Duration>,
        loss: Option<f64>,
        duration: Option<Duration>,
    },
    /// The network splits into `groups`.
    Partition {
        groups: Vec<Vec<LinkEnd>>,
        duration: Option<Duration>,
    },
    /// Every link fault, partition and slow disk ends.
    Heal,
    /// Each append on the node's disk takes `latency` longer.
    SlowDisk {
        node: i32,
        latency: Duration,
        duration: Option<Duration>,
    },
    /// The next `count` requests of `api` (`produce`, `fetch`; only those for `topic`
    /// / `partition` if given, only on `node` if given) are answered with the Kafka
    /// error named `error` and not handled.
    InjectError {
        api: String,
        error: String,
        count: u32,
        topic: Option<String>,
        partition: Option<i32>,
        node: Option<i32>,
    },
}

/// Injects broker faults. The engine only speaks the Kafka protocol, so whoever runs
/// the brokers (the CLI's embedded cluster) implements this.
pub trait BrokerFaults: Send + Sync {
    /// Starts the fault; `Ok` with a note for the log, `Err` with why it cannot be done.
    fn inject(&self, fault: BrokerFault) -> Result<String, String>;
}

pub struct RunOutcome {
    pub report: Report,
    pub report_dir: PathBuf,
    pub passed: bool,
    pub summary: String,
}

struct Member {
    commands: mpsc::Sender<MemberCommand>,
    task: JoinHandle<Result<(), ClientError>>,
}

struct Groups {
    members: BTreeMap<String, Vec<Option<Member>>>,
}

/// Runs a scenario to the end.
pub async fn run(scenario: &Scenario, opts: RunOptions) -> Result<RunOutcome, EngineError> {
    let began = Instant::now();
    let run_metrics = scenario_metrics::ScenarioMetrics::start(
        opts.registry.as_ref(),
        scenario,
        opts.seed,
        opts.started_unix,
        &opts.started_at,
    );
    let admin = Admin::new(&opts.bootstrap).await?;
    create_topics(&admin, scenario).await?;
    let mut partitions = HashMap::new();
    let mut counts = HashMap::new();
    for t in &scenario.topics {
        // A topic the runner does not create has no partitions yet: its producers look
        // them up when they start, and a block of ids waits for them.
        let n = if *t.create {
            let info = admin.describe_topics(&[t.name.as_str()]).await?;
            let n = info.first().map_or(0, |i| i.partitions.len() as i32);
            counts.insert(t.name.to_string(), n);
            // Ids for the partitions add-partitions events will add, too.
            n.max(scenario.partitions_reached(&t.name).map_or(0, |c| c as i32))
        } else {
            UNCREATED_TOPIC_PARTITION_IDS
        };
        for p in 0..n {
            let id = partitions.len() as u32;
            partitions.insert((t.name.to_string(), p), id);
        }
    }
    let group_names: Vec<String> = scenario
        .group_names()
        .into_iter()
        .map(String::from)
        .collect();
    // Tells this run's records from those of earlier runs in the same topics (another
    // run with the same seed included, e.g. the points of a sweep against a real
    // cluster): the seed mixed with the start time, the run's own clock's when given
    // (virtual in a simulation, so one seed gives one run id).
    let started = match opts.started_unix {
        Some(s) => format!("{s:.3}"),
        None => opts.started_at.clone(),
    };
    let run_id = started
        .bytes()
        .fold((opts.seed as u32) ^ ((opts.seed >> 32) as u32), |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
    let producer_entries: Vec<(String, u32)> = scenario
        .producers
        .iter()
        .map(|p| (p.name.to_string(), p.count))
        .collect();
    let stats = Arc::new(Stats::new(
        run_id,
        opts.measure,
        &group_names,
        &producer_entries,
        partitions,
    ));
    let cluster_watch = cluster_watch::ClusterWatch::start(
        &opts.bootstrap,
        scenario.topics.iter().map(|t| t.name.to_string()).collect(),
        stats.clone(),
    );
    let (stop_tx, stop_rx) = watch::channel(false);

    // Consumers first, so they are in their groups when records start flowing.
    let mut groups = Groups {
        members: BTreeMap::new(),
    };
    let mut settings = crate::measure::Settings::default();
    for c in &scenario.consumers {
        let group = c.group.to_string();
        let cfg = consumer_config(c, &group)?;
        settings
            .consumer_groups
            .entry(group.clone())
            .or_default()
            .extend(
                cfg.overrides()
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v))),
            );
        for _ in 0..c.count {
            add_member(&mut groups, &opts, c, &stats, *scenario.duration).await?;
        }
    }
    // Producers.
    let mut producers: BTreeMap<String, Vec<watch::Sender<ProducerControl>>> = BTreeMap::new();
    let mut producer_tasks = Vec::new();
    let mut producer_handles = Vec::new();
    let mut index = 0u32;
    for p in &scenario.producers {
        let cfg = ClientConfig::new(Role::Producer, &p.config)?;
        settings.producers.insert(
            p.name.to_string(),
            cfg.overrides()
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect(),
        );
        for _ in 0..p.count {
            let mut cfg_i = p.config.clone();
            cfg_i.insert("client.id".into(), format!("{}-{}", p.name.as_str(), index));
            let producer =
                Producer::new(&opts.bootstrap, ClientConfig::new(Role::Producer, &cfg_i)?).await?;
            if let Some(r) = &opts.registry {
                if let Err(e) = producer.prometheus().register(r) {
                    tracing::warn!("producer metrics not registered: {e}");
                }
            }
            let (ctl_tx, ctl_rx) = watch::channel(ProducerControl {
                running: true,
                rate: p.rate.per_second(),
            });
            let spec = ProducerSpec {
                index,
                topic: p.topic.to_string(),
                // Unknown (0) for a topic the runner did not create.
                partitions: counts.get(p.topic.as_str()).copied().unwrap_or(0),
                record_size: p.record_size as usize,
                keys: p.keys,
                key_space: p.key_space,
                payload: p.payload,
                tombstones: *p.tombstones,
                seed: opts.seed.wrapping_add(1000 + index as u64),
            };
            producer_handles.push(producer.clone());
            producer_tasks.push(tokio::spawn(producer_task::run(
                producer,
                spec,
                stats.clone(),
                ctl_rx,
                stop_rx.clone(),
            )));
            producers
                .entry(p.name.to_string())
                .or_default()
                .push(ctl_tx);
            index += 1;
        }
    }

    // Timeline, sampling and progress until the end.
    let start = stats.epoch();
    let warmup_end = start + *scenario.warmup;
    let end = start + *scenario.duration;
    let mut events = scenario.events.iter().peekable();
    let mut series = crate::measure::Series::new();
    let mut tick = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    let mut produce_interval = LatencyRecorder::new();
    let mut e2e_interval = LatencyRecorder::new();
    let mut warm = scenario.warmup.is_zero();
    if warm {
        stats.measuring.store(true, Ordering::Relaxed);
    }
    let mut baseline = (0u64, 0u64);
    let view = opts
        .view
        .as_ref()
        .map(|h| snapshot::Publisher::start(h, scenario, &opts.bootstrap, opts.seed, &stats));
    let mut view_stop = opts.view.as_ref().map(|h| h.stop.clone());
    let mut stopped_early = false;
    loop {
        let next_event = events.peek().map(|e| start + *e.at);
        // Biased: what falls on one instant (which virtual time makes common) goes in
        // timeline order, an event before that second's sample, the last second's
        // sample before the end, whatever the seed.
        tokio::select! {
            biased;
            _ = async { match next_event { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                if let Some(ev) = events.next() {
                    run_metrics.event(ev);
                    apply_event(ev, scenario, &opts, &admin, &stats, &mut groups, &producers, &mut series).await?;
                    if let Some(v) = &view {
                        v.publish(&stats, &series, snapshot::Phase::running(warm), baseline, &producer_handles);
                    }
                }
            }
            _ = tick.tick() => {
                if !warm && Instant::now() >= warmup_end {
                    warm = true;
                    stats.produce_latency.lock().reset();
                    stats.e2e_latency.lock().reset();
                    stats.measuring.store(true, Ordering::Relaxed);
                    baseline = (stats.acked.total(), stats.consumed.total());
                    series.mark(stats.now_ns(), "warm-up over");
                    run_metrics.phase(scenario_metrics::Phase::Measure);
                }
                let sample = sample_second(&stats, &mut series, &mut produce_interval, &mut e2e_interval);
                run_metrics.second(&sample);
                if opts.progress && sample.t.is_multiple_of(5) {
                    println!("{}", outcome::progress_line(&sample, &produce_interval, &e2e_interval));
                }
                if let Some(v) = &view {
                    v.publish(&stats, &series, snapshot::Phase::running(warm), baseline, &producer_handles);
                }
            }
            _ = snapshot::stop_requested(&mut view_stop) => {
                stopped_early = true;
                break;
            }
            _ = tokio::time::sleep_until(end) => break,
        }
    }
    let measured_s = if stopped_early {
        Instant::now().saturating_duration_since(warmup_end)
    } else {
        scenario.measured()
    }
    .as_secs_f64()
    .max(1e-9);
    if let Some(v) = &view {
        v.publish(
            &stats,
            &series,
            snapshot::Phase::Draining,
            baseline,
            &producer_handles,
        );
    }
    let after_warmup = (
        stats.acked.total() - baseline.0,
        stats.consumed.total() - baseline.1,
    );

    // Stop producing, let the groups catch up, then close everyone cleanly.
    run_metrics.phase(scenario_metrics::Phase::Drain);
    let _ = stop_tx.send(true);
    for t in producer_tasks {
        match tokio::time::timeout(Duration::from_secs(30), t).await {
            Ok(Ok(Err(e))) => tracing::warn!("producer: {e}"),
            Ok(Err(e)) => tracing::warn!("producer task: {e}"),
            _ => {}
        }
    }
    drain(&stats, &group_names).await;
    let producer_metrics: Vec<_> = producer_handles.iter().map(|p| p.metrics()).collect();
    for p in producer_handles {
        p.close(Duration::from_secs(5)).await;
    }
    for members in groups.members.values_mut() {
        for m in members.iter_mut().flatten() {
            let _ = m.commands.send(MemberCommand::Stop).await;
        }
    }
    for members in groups.members.into_values() {
        for m in members.into_iter().flatten() {
            let _ = tokio::time::timeout(Duration::from_secs(10), m.task).await;
        }
    }

    let cluster_samples = cluster_watch.finish();
    let mut measured = outcome::measure(
        scenario,
        &stats,
        &series,
        &producer_metrics,
        measured_s,
        after_warmup,
    );
    outcome::measure_cluster(&mut measured, scenario, &cluster_samples);
    measured.0.insert(
        "topic_partitions".into(),
        topic_partitions(&admin, scenario).await as f64,
    );
    let mut report = Report::new(scenario.name.clone(), opts.seed, opts.started_at.clone());
    report.duration_s = measured_s;
    report.settings = settings;
    report.control = scenario.controlled.as_ref().map(|c| c.text());
    report
        .latency
        .insert("produce".into(), stats.produce_latency.lock().summary());
    report
        .latency
        .insert("e2e".into(), stats.e2e_latency.lock().summary());
    report.verification = stats
        .verifiers
        .values()
        .map(|v| v.lock().summary())
        .collect();
    report.pauses = stats.pauses.lock().summary(stats.now_ns());
    report.expectations = outcome::evaluate(scenario, &measured);
    run_metrics.finish(&report.expectations);
    report.series = series;
    report.metrics = measured
        .0
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    report.ownership = stats.ownership.lock().intervals(stats.now_ns());
    report.cluster = cluster_samples;
    report.simulated = opts.simulated_since.map(|wall| crate::measure::Simulated {
        virtual_s: began.elapsed().as_secs_f64(),
        wall_s: wall.elapsed().as_secs_f64(),
    });
    let report_dir = opts
        .report_root
        .join(format!("{}-{}", scenario.name, opts.stamp));
    {
        let produce = stats.produce_latency.lock();
        let e2e = stats.e2e_latency.lock();
        write_report(
            &report_dir,
            &report,
            &[("produce", &produce), ("e2e", &e2e)],
        )
        .map_err(|e| EngineError::Report(e.to_string()))?;
    }
    if let Some(v) = &view {
        v.finish(&report, &report_dir);
    }
    let summary = outcome::summary_text(scenario, &report, &measured, &report_dir);
    Ok(RunOutcome {
        passed: report.passed(),
        report,
        report_dir,
        summary,
    })
}

/// Partition ids reserved for a topic the runner does not create (`create = false`):
/// partitions beyond them are not verified.
const UNCREATED_TOPIC_PARTITION_IDS: i32 = 1024;

/// Partitions of the scenario's topics as Metadata lists them now (a topic that does not
/// exist counts 0).
async fn topic_partitions(admin: &Admin, scenario: &Scenario) -> usize {
    let mut n = 0;
    for t in &scenario.topics {
        let names = [t.name.as_str()];
        let describe = admin.describe_topics(&names);
        if let Ok(Ok(info)) = tokio::time::timeout(Duration::from_secs(5), describe).await {
            n += info.first().map_or(0, |i| i.partitions.len());
        }
    }
    n
}

async fn create_topics(admin: &Admin, scenario: &Scenario) -> Result<(), EngineError> {
    let topics: Vec<NewTopic> = scenario
        .topics
        .iter()
        .filter(|t| *t.create)
        .map(|t| NewTopic {
            name: t.name.to_string(),
            partitions: t.partitions as i32,
            replication_factor: *t.replication_factor as i16,
            configs: t.config.clone().into_iter().collect(),
        })
        .collect();
    for (_, r) in admin.create_topics(&topics, false).await? {
        match r {
            // A topic left by an earlier run against the same cluster is fine: records
            // carry the run id, so old ones are told apart.
            Err(e) if e.code() == Some(36) => {}
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
    }
    Ok(())
}

fn consumer_config(
    c: &crate::scenario::Consumer,
    group: &str,
) -> Result<ClientConfig, ClientError> {
    ClientConfig::new(Role::Consumer, &member_properties(c, group))
}

/// The Kafka properties of a member of `c`: its `config` with `group.id`, and
/// `enable.auto.commit=false` when the entry's commit mode commits explicitly.
fn member_properties(c: &crate::scenario::Consumer, group: &str) -> crate::scenario::Properties {
    let mut cfg = c.config.clone();
    cfg.insert("group.id".into(), group.to_string());
    if let Some(auto) = c.commit.auto_commit_override() {
        cfg.insert("enable.auto.commit".into(), auto.to_string());
    }
    cfg
}

/// Starts one member configured like `template` (a `[[consumers]]` entry); it measures
/// until `measure_until` (the scenario's duration).
async fn add_member(
    groups: &mut Groups,
    opts: &RunOptions,
    template: &crate::scenario::Consumer,
    stats: &Arc<Stats>,
    measure_until: Duration,
) -> Result<(), EngineError> {
    let members = groups
        .members
        .entry(template.group.to_string())
        .or_default();
    let member = start_member(opts, template, members.len(), stats, true, measure_until).await?;
    members.push(Some(member));
    Ok(())
}

/// Starts member `idx` of the template's group. `register`: its metrics go to the
/// run's registry (a member restarted under the same client id cannot register again;
/// its predecessor's series stay).
async fn start_member(
    opts: &RunOptions,
    template: &crate::scenario::Consumer,
    idx: usize,
    stats: &Arc<Stats>,
    register: bool,
    measure_until: Duration,
) -> Result<Member, EngineError> {
    let group = template.group.as_str();
    let mut cfg = member_properties(template, group);
    cfg.insert("client.id".into(), format!("{group}-{idx}"));
    let static_member = cfg.get("group.instance.id").is_some_and(|v| !v.is_empty());
    if static_member {
        let base = cfg.get("group.instance.id").cloned().unwrap_or_default();
        cfg.insert("group.instance.id".into(), format!("{base}-{idx}"));
    }
    let setup = consumer_task::ConsumerSetup {
        bootstrap: opts.bootstrap.clone(),
        config: ClientConfig::new(Role::Consumer, &cfg)?,
        topics: template.topics.iter().map(|t| t.to_string()).collect(),
        registry: opts.registry.clone().filter(|_| register),
    };
    let consumer = setup.start().await?;
    let (tx, rx) = mpsc::channel(8);
    let spec = MemberSpec {
        group: group.to_string(),
        member: format!("{group}/{idx}"),
        processing: template.processing,
        processing_per: template.processing_per,
        commit: template.commit,
        seed: opts
            .seed
            .wrapping_add(idx as u64 * 7919)
            .wrapping_add(group.len() as u64),
        static_member,
        measure_until: measure_until.as_nanos() as i64,
    };
    let task = tokio::spawn(consumer_task::run(setup, consumer, spec, stats.clone(), rx));
    Ok(Member { commands: tx, task })
}

fn sample_second(
    stats: &Stats,
    series: &mut crate::measure::Series,
    produce_interval: &mut LatencyRecorder,
    e2e_interval: &mut LatencyRecorder,
) -> SecondSample {
    let t = (stats.now_ns() as f64 / 1e9).round() as u64;
    let mut s = SecondSample::new(t);
    s.produced = stats.produced.take_interval();
    s.acked = stats.acked.take_interval();
    s.failed = stats.failed.take_interval();
    s.consumed = stats.consumed.take_interval();
    *produce_interval = LatencyRecorder::new();
    *e2e_interval = LatencyRecorder::new();
    stats
        .produce_latency
        .lock()
        .drain_interval_into(produce_interval);
    stats.e2e_latency.lock().drain_interval_into(e2e_interval);
    s.produce_latency = IntervalLatency::from_summary(&produce_interval.summary());
    s.e2e_latency = IntervalLatency::from_summary(&e2e_interval.summary());
    let acked = stats.acked.total() as i64;
    let in_rebalance: Vec<(String, bool)> = {
        let pauses = stats.pauses.lock();
        stats
            .groups
            .lock()
            .keys()
            .map(|g| (g.clone(), pauses.in_rebalance(g)))
            .collect()
    };
    let groups = stats.groups.lock();
    let mut lag_max = None;
    for (name, rebalancing) in in_rebalance {
        let Some(g) = groups.get(&name) else { continue };
        let lag = (acked - g.consumed as i64).max(0);
        lag_max = Some(lag_max.map_or(lag, |m: i64| m.max(lag)));
        s.groups.push(crate::measure::GroupSample {
            group: name,
            generation: g.generations.keys().next_back().copied(),
            rebalancing,
            lag_max: Some(lag),
        });
    }
    s.lag_max = lag_max;
    drop(groups);
    series.push(s.clone());
    s
}

/// Waits until every group has consumed every acknowledged record at least once (or
/// 20 s pass), so records still in flight at the end are not counted as lost.
async fn drain(stats: &Stats, groups: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && !groups.is_empty() {
        let behind = if stats.measure {
            stats.verifiers.values().any(|v| {
                let s = v.lock().summary();
                s.unique_consumed + s.failed < s.acked
            })
        } else {
            let acked = stats.acked.total();
            stats.groups.lock().values().any(|g| g.consumed < acked)
        };
        if !behind {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
