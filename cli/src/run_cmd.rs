//! `kafkalab run <scenario>`: the main job. Starts the embedded broker (unless
//! `--bootstrap-server` points at a cluster), runs the scenario, prints the summary and
//! writes the report; exits non-zero when an expectation fails.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use std::time::Duration;

use kafkalab_broker::clock::SystemClock;
use kafkalab_broker::faults::control::{self, FaultCommand};
use kafkalab_broker::faults::inject;
use kafkalab_broker::faults::Node;
use kafkalab_broker::BrokerConfig;
use kafkalab_loadgen::engine::{self, RunOptions};
use kafkalab_loadgen::scenario::{self, LinkEnd};

mod sweep;

#[derive(Args, Clone)]
pub struct RunArgs {
    /// The scenario file (TOML), e.g. scenarios/session-timeout.toml.
    pub scenario: PathBuf,
    #[command(flatten)]
    pub opts: RunOpts,
}

/// How to run a scenario (`kafkalab run` and `kafkalab lessons NAME` take the same).
#[derive(Args, Clone)]
pub struct RunOpts {
    /// Run against this Kafka cluster instead of the embedded broker.
    #[arg(long = "bootstrap-server")]
    bootstrap_server: Option<String>,
    /// Seed for every random choice (default: the scenario's, else a fresh one).
    #[arg(long)]
    seed: Option<u64>,
    /// Where run reports are written.
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    /// Prometheus endpoint for the run (broker and client metrics together); when the
    /// address is taken a free port is used instead.
    #[arg(long, default_value = "127.0.0.1:9464")]
    metrics_listener: std::net::SocketAddr,
    /// Do not verify or time records: only to measure what measuring costs (the
    /// expectations that need measurements then fail).
    #[arg(long)]
    no_measure: bool,
    /// Seconds the metrics endpoint stays up after the run, so Prometheus scrapes the
    /// final phase and the expectations' results.
    #[arg(long, value_name = "SECONDS", default_value_t = 2)]
    metrics_linger: u64,
    /// Show the live view even when stdout does not look like a terminal.
    #[arg(long, conflicts_with_all = ["no_tui", "simulate"])]
    tui: bool,
    /// Plain progress lines instead of the live view (the default when stdout is not a
    /// terminal).
    #[arg(long)]
    no_tui: bool,
    /// Run the lesson's negative control: the scenario with its `[control]` applied
    /// (the change that undoes the lesson). An expectation must then fail (exit 1):
    /// the proof that the lesson's checks can fail.
    #[arg(long)]
    control: bool,
    /// Run in virtual time: the embedded broker(s) and the clients on one thread with a
    /// paused clock and an in-memory network, so time jumps whenever every task waits
    /// (a 45 s session timeout takes no wall time). The report says "simulated" and how
    /// much faster than real time the run went.
    #[arg(long, conflicts_with = "bootstrap_server")]
    simulate: bool,
}

/// Exit status: 0 all expectations held, 1 one failed, 2 the run could not happen.
pub fn main(args: RunArgs) -> u8 {
    let scenario = match scenario::load(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kafkalab: {e}");
            return 2;
        }
    };
    let scenario = if args.opts.control {
        match scenario.with_control() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("kafkalab: {}: {e}", args.scenario.display());
                return 2;
            }
        }
    } else {
        scenario
    };
    let seed = args
        .opts
        .seed
        .or(scenario.seed)
        .unwrap_or_else(rand::random);
    println!("kafkalab run {} — seed {seed}", scenario.name);
    if !scenario.about.is_empty() {
        println!("{}", scenario.about.trim());
    }
    if let Some(c) = &scenario.controlled {
        println!("control: {} (an expectation should now fail)", c.text());
    }
    let runtime = if args.opts.simulate {
        kafkalab_sim::runtime(seed)
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kafkalab: cannot start the async runtime: {e}");
            return 2;
        }
    };
    if !scenario.sweep.is_empty() {
        return sweep::main(&runtime, &scenario, &args, seed);
    }
    match runtime.block_on(run(&scenario, &args, seed, None)) {
        Ok(outcome) => {
            print!("{}", outcome.summary);
            u8::from(!outcome.passed)
        }
        Err(e) => {
            eprintln!("kafkalab: {e}");
            2
        }
    }
}

/// One run. `place` = (report root, stamp) overrides where the report goes (a sweep
/// point).
async fn run(
    scenario: &scenario::Scenario,
    args: &RunArgs,
    seed: u64,
    place: Option<(PathBuf, String)>,
) -> Result<engine::RunOutcome, String> {
    let (now, stamp) = wall_clock();
    let simulated_since = args.opts.simulate.then(std::time::Instant::now);
    // Installed for this run: every connect, bind and wall-clock read of the broker(s)
    // and the clients below goes to the simulated world.
    let _world = args.opts.simulate.then(|| {
        kafkalab_sim::World::new(
            kafkalab_sim::clock::EPOCH_MS,
            kafkalab_sim::LinkModel::default(),
        )
        .seeded(seed)
        .install()
    });
    let (report_root, stamp) = place.unwrap_or_else(|| (args.opts.report_dir.clone(), stamp));
    let mut embedded = None;
    let mut _log_dir = None;
    let bootstrap = match args
        .opts
        .bootstrap_server
        .clone()
        .or_else(|| scenario.cluster.bootstrap.as_ref().map(|b| b.to_string()))
    {
        Some(b) => b,
        None => {
            let dir = tempfile::Builder::new()
                .prefix("kafkalab-run-")
                .tempdir()
                .map_err(|e| format!("cannot create a log directory: {e}"))?;
            let mut overrides = vec![
                "listeners=PLAINTEXT://127.0.0.1:0".to_string(),
                // The run serves one endpoint with broker and client metrics together.
                "kafkalab.metrics.listener=".to_string(),
                format!("log.dirs={}", dir.path().display()),
            ];
            overrides.extend(
                scenario
                    .cluster
                    .broker
                    .iter()
                    .map(|(k, v)| format!("{k}={v}")),
            );
            let (config, warnings) = BrokerConfig::load(None, &overrides)
                .map_err(|e| format!("{}: [cluster.broker]: {e}", args.scenario.display()))?;
            for w in warnings {
                tracing::warn!("{w}");
            }
            // Faults need the cluster's fault control: a scenario with broker, link
            // or error events gets a one-node cluster rather than a plain broker.
            let faulted = scenario.events.iter().any(|e| e.kind.needs_faults());
            let addr = if scenario.cluster.brokers > 1 || faulted {
                let cluster = kafkalab_broker::Cluster::start(
                    scenario.cluster.brokers as usize,
                    &config,
                    dir.path(),
                    Arc::new(SystemClock),
                )
                .await
                .map_err(|e| e.to_string())?;
                println!(
                    "embedded cluster: {} brokers, kafka={}",
                    scenario.cluster.brokers,
                    cluster.bootstrap()
                );
                let addr = cluster.bootstrap();
                cluster.faults().reseed(seed);
                embedded = Some(Embedded::Cluster(ClusterFaults::start(cluster)));
                addr
            } else {
                // A simulated broker keeps its log in memory: no disk, nothing that
                // waits outside virtual time.
                let storage: Arc<dyn kafkalab_broker::storage::Storage> = if args.opts.simulate {
                    Arc::new(kafkalab_broker::storage::memory::MemoryStorage::default())
                } else {
                    crate::broker_cmd::open_storage(&config)
                };
                let running = kafkalab_broker::start(config, storage, Arc::new(SystemClock))
                    .await
                    .map_err(|e| e.to_string())?;
                println!("embedded broker: kafka={}", running.kafka_addr);
                let addr = running.kafka_addr.to_string();
                embedded = Some(Embedded::Single(running));
                addr
            };
            _log_dir = Some(dir);
            addr
        }
    };
    let registry = prometheus::Registry::new();
    let (stop_metrics, metrics_rx) = tokio::sync::watch::channel(false);
    let listener = match tokio::net::TcpListener::bind(args.opts.metrics_listener).await {
        Ok(l) => l,
        Err(_) => tokio::net::TcpListener::bind((args.opts.metrics_listener.ip(), 0))
            .await
            .map_err(|e| format!("cannot serve metrics: {e}"))?,
    };
    if let Ok(a) = listener.local_addr() {
        println!("metrics: http://{a}/metrics");
        if matches!(embedded, Some(Embedded::Cluster(_))) {
            println!("fault control: http://{a}/faults");
        }
    }
    let mut registries = vec![registry.clone()];
    let mut extra: Option<kafkalab_broker::http::Gather> = None;
    let mut faults: Option<Arc<dyn engine::BrokerFaults>> = None;
    let mut control = None;
    let refresh: kafkalab_broker::http::Refresh = match &embedded {
        Some(Embedded::Single(b)) => {
            registries.push(b.broker.registry.clone());
            let broker = b.broker.clone();
            Arc::new(move || broker.refresh_gauges())
        }
        Some(Embedded::Cluster(c)) => {
            let metrics = c.metrics.clone();
            extra = Some(Arc::new(move || metrics.gather()));
            faults = Some(c.clone());
            control = Some(c.control());
            Arc::new(|| {})
        }
        None => Arc::new(|| {}),
    };
    let metrics_task = tokio::spawn(kafkalab_broker::http::serve_with(
        listener, registries, refresh, extra, control, metrics_rx,
    ));
    let (view_hooks, view) = start_view(args)?.unzip();
    let outcome = engine::run(
        scenario,
        RunOptions {
            bootstrap,
            report_root,
            started_at: now,
            // The run's wall clock (virtual in a simulation): what record timestamps
            // and offset lookups by time are measured against.
            started_unix: Some(kafkalab_sim::clock::now_ms() as f64 / 1000.0),
            stamp,
            seed,
            progress: view_hooks.is_none(),
            registry: Some(registry),
            measure: !args.opts.no_measure,
            view: view_hooks,
            faults,
            simulated_since,
        },
    )
    .await
    .map_err(|e| e.to_string());
    // The terminal comes back before anything else is printed.
    if let Some(Err(e)) = view.map(|v| v.finish()) {
        eprintln!("kafkalab: live view: {e}");
    }
    crate::log_hold::release();
    tokio::time::sleep(std::time::Duration::from_secs(args.opts.metrics_linger)).await;
    let _ = stop_metrics.send(true);
    let _ = metrics_task.await;
    match embedded {
        Some(Embedded::Single(b)) => b.shutdown().await,
        Some(Embedded::Cluster(c)) => c.shutdown().await,
        None => {}
    }
    let outcome = outcome?;
    Ok(outcome)
}

type View = (
    engine::snapshot::ViewHooks,
    kafkalab_loadgen::view::ViewHandle,
);

/// The live view: with --tui, or when stdout and stdin are a terminal (unless --no-tui).
fn start_view(args: &RunArgs) -> Result<Option<View>, String> {
    use std::io::IsTerminal;
    let wanted = args.opts.tui
        || (!args.opts.no_tui
            && !args.opts.simulate
            && std::io::stdout().is_terminal()
            && std::io::stdin().is_terminal());
    if !wanted {
        return Ok(None);
    }
    let (hooks, end) = engine::snapshot::ViewHooks::channel();
    match kafkalab_loadgen::view::spawn(end) {
        Ok(handle) => {
            crate::log_hold::hold();
            Ok(Some((hooks, handle)))
        }
        Err(e) if args.opts.tui => Err(format!("--tui: cannot use the terminal: {e}")),
        Err(e) => {
            eprintln!("kafkalab: no live view ({e}); printing progress lines");
            Ok(None)
        }
    }
}

/// (RFC 3339 UTC time, directory stamp) of now. The CLI is the one place that reads
/// the wall clock for a run; the engine gets it as text.
fn wall_clock() -> (String, String) {
    let t = jiff::Timestamp::now();
    (
        t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        t.strftime("%Y%m%d-%H%M%S").to_string(),
    )
}

/// What `kafkalab run` started itself.
enum Embedded {
    Single(kafkalab_broker::RunningBroker),
    Cluster(Arc<ClusterFaults>),
}

/// The embedded cluster, owned by a task that carries out fault commands in order
/// (the scenario's events and the control endpoint's requests; kill and restart are
/// async, the engine only sends them).
struct ClusterFaults {
    tx: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedSender<Job>>>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<kafkalab_broker::Cluster>>>,
    metrics: kafkalab_broker::cluster::ClusterMetrics,
    faults: Arc<kafkalab_broker::faults::Faults>,
    nodes: Vec<i32>,
}

/// A command and where its result goes (the control endpoint waits for it).
type Job = (
    FaultCommand,
    Option<tokio::sync::oneshot::Sender<Result<String, String>>>,
);

impl ClusterFaults {
    fn start(mut cluster: kafkalab_broker::Cluster) -> Arc<ClusterFaults> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let metrics = cluster.metrics();
        let nodes = cluster.node_ids();
        let faults = cluster.faults().clone();
        let task = tokio::spawn(async move {
            while let Some((cmd, reply)) = rx.recv().await {
                let result = cluster
                    .execute(cmd.clone())
                    .await
                    .map(|_| format!("{cmd:?} applied"))
                    .map_err(|e| e.to_string());
                if let Err(e) = &result {
                    tracing::warn!("{cmd:?}: {e}");
                }
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
            cluster
        });
        Arc::new(ClusterFaults {
            tx: std::sync::Mutex::new(Some(tx)),
            task: std::sync::Mutex::new(Some(task)),
            metrics,
            faults,
            nodes,
        })
    }

    fn send(&self, job: Job) -> Result<(), String> {
        let sent = self
            .tx
            .lock()
            .ok()
            .and_then(|tx| tx.as_ref().map(|tx| tx.send(job).is_ok()));
        match sent {
            Some(true) => Ok(()),
            _ => Err("the embedded cluster has stopped".to_string()),
        }
    }

    /// Sends `cmd` now and, after `undo.0`, `undo.1`.
    fn send_for(
        &self,
        cmd: FaultCommand,
        undo: Option<(Duration, FaultCommand)>,
    ) -> Result<(), String> {
        self.send((cmd, None))?;
        if let Some((after, undo)) = undo {
            let tx = self.tx.lock().ok().and_then(|tx| tx.clone());
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                if let Some(tx) = tx {
                    let _ = tx.send((undo, None));
                }
            });
        }
        Ok(())
    }

    /// The control endpoint (`/faults...` on the run's metrics listener).
    fn control(self: &Arc<Self>) -> kafkalab_broker::http::Control {
        let me = self.clone();
        Arc::new(move |method: &str, target: &str| {
            let me = me.clone();
            let parsed = control::parse(method, target);
            Box::pin(async move {
                match parsed {
                    Ok(control::ControlRequest::Show) => (200, me.faults.view_json()),
                    Ok(control::ControlRequest::Apply(cmd)) => {
                        let (tx, rx) = tokio::sync::oneshot::channel();
                        if let Err(e) = me.send((cmd, Some(tx))) {
                            return (409, format!("{e}\n"));
                        }
                        match rx.await {
                            Ok(Ok(_)) => (200, me.faults.view_json()),
                            Ok(Err(e)) => (409, format!("{e}\n")),
                            Err(_) => (409, "the embedded cluster has stopped\n".to_string()),
                        }
                    }
                    Err(e @ control::ControlError::NotFound(_)) => (404, format!("{e}\n")),
                    Err(e @ control::ControlError::NeedsPost(_)) => (405, format!("{e}\n")),
                    Err(e) => (400, format!("{e}\n")),
                }
            })
        })
    }

    async fn shutdown(self: Arc<Self>) {
        // Closing the channel ends the task, which hands the cluster back.
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            if let Ok(cluster) = task.await {
                cluster.shutdown().await;
            }
        }
    }
}

fn link_node(end: LinkEnd) -> Node {
    match end {
        LinkEnd::Broker(id) => Node::Broker(id as i32),
        LinkEnd::Clients => Node::Clients,
    }
}

/// A fault command, and what undoes it after how long.
type FaultAndUndo = (FaultCommand, Option<(Duration, FaultCommand)>);

/// The cluster command for a scenario's fault, and what undoes it after its `for`.
fn commands(fault: &engine::BrokerFault) -> Result<FaultAndUndo, inject::InjectError> {
    use engine::BrokerFault as F;
    Ok(match fault {
        F::Kill { node } => (FaultCommand::Crash { node: *node }, None),
        F::Restart { node } => (FaultCommand::Restart { node: *node }, None),
        F::Pause { node, duration } => (
            FaultCommand::Pause {
                node: *node,
                duration: *duration,
            },
            None,
        ),
        F::Link {
            from,
            to,
            latency,
            loss,
            duration,
        } => {
            let (from, to) = (link_node(*from), link_node(*to));
            let set = FaultCommand::Link {
                from,
                to,
                latency: *latency,
                loss: *loss,
                blocked: None,
            };
            let undo = FaultCommand::Link {
                from,
                to,
                latency: latency.map(|_| Duration::ZERO),
                loss: loss.map(|_| 0.0),
                blocked: None,
            };
            (set, duration.map(|d| (d, undo)))
        }
        F::Partition { groups, duration } => (
            FaultCommand::Partition(
                groups
                    .iter()
                    .map(|g| g.iter().copied().map(link_node).collect())
                    .collect(),
            ),
            duration.map(|d| (d, FaultCommand::Partition(Vec::new()))),
        ),
        F::Heal => (FaultCommand::Heal, None),
        F::InjectError {
            api,
            error,
            count,
            topic,
            partition,
            node,
        } => {
            let rule = inject::api_by_name(api).and_then(|api| {
                Ok(inject::ErrorRule {
                    api,
                    code: inject::error_by_name(error)?,
                    remaining: *count,
                    topic: topic.clone(),
                    partition: *partition,
                    node: *node,
                })
            })?;
            (FaultCommand::InjectError(rule), None)
        }
        F::SlowDisk {
            node,
            latency,
            duration,
        } => (
            FaultCommand::SlowDisk {
                node: *node,
                latency: *latency,
            },
            duration.map(|d| {
                (
                    d,
                    FaultCommand::SlowDisk {
                        node: *node,
                        latency: Duration::ZERO,
                    },
                )
            }),
        ),
    })
}

impl engine::BrokerFaults for ClusterFaults {
    fn inject(&self, fault: engine::BrokerFault) -> Result<String, String> {
        let node = match &fault {
            engine::BrokerFault::Kill { node }
            | engine::BrokerFault::Restart { node }
            | engine::BrokerFault::Pause { node, .. }
            | engine::BrokerFault::SlowDisk { node, .. } => Some(*node),
            engine::BrokerFault::InjectError { node, .. } => *node,
            _ => None,
        };
        if let Some(node) = node.filter(|n| !self.nodes.contains(n)) {
            return Err(format!(
                "no broker {node} in the embedded cluster (nodes {:?})",
                self.nodes
            ));
        }
        let (cmd, undo) = commands(&fault).map_err(|e| e.to_string())?;
        self.send_for(cmd, undo)?;
        Ok(format!("{fault:?} sent to the embedded cluster"))
    }
}
