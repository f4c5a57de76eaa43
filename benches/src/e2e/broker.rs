//! The broker binary as a separate process: found or built, started until its ready line,
//! read through `/proc` (CPU, memory, threads) and its metrics endpoint, stopped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::procfs::{self, CpuTimes};
use kafkalab_broker::ready::ReadyLine;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;

use super::*;

pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or(manifest.clone(), Path::to_path_buf)
}

/// Finds the broker binary, building it when missing (or when `KAFKALAB_REBUILD=1`).
pub fn broker_binary() -> Result<PathBuf, String> {
    if let Ok(bin) = std::env::var("KAFKALAB_BIN") {
        let p = PathBuf::from(bin);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("KAFKALAB_BIN={} does not exist", p.display()))
        };
    }
    let root = workspace_root();
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let bin = target.join("release").join("kafkalab");
    let rebuild = std::env::var("KAFKALAB_REBUILD").is_ok_and(|v| v == "1");
    if rebuild || !bin.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        eprintln!("e2e: building the broker: {cargo} build --release -p kafkalab");
        let status = Command::new(cargo)
            .args(["build", "--release", "-p", "kafkalab"])
            .current_dir(&root)
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err(format!(
                "cargo build --release -p kafkalab failed: {status}"
            ));
        }
    }
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("{} not found after building", bin.display()))
    }
}

pub struct BrokerProcess {
    pub label: &'static str,
    pub child: Child,
    pub pid: String,
    pub bootstrap: String,
    /// host:port of the broker's Prometheus endpoint.
    pub metrics: Option<String>,
    pub dir: tempfile::TempDir,
}

/// Broker counters at one moment: CPU and requests served per API.
pub struct BrokerSnapshot {
    pub cpu: CpuTimes,
    pub requests: Vec<(String, f64)>,
}

impl BrokerProcess {
    pub fn start(bin: &Path, label: &'static str) -> Result<BrokerProcess, String> {
        let dir = tempfile::Builder::new()
            .prefix("kafkalab-e2e-")
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let stderr = std::fs::File::create(dir.path().join("broker.stderr"))
            .map_err(|e| format!("stderr file: {e}"))?;
        let logs = dir.path().join("logs");
        let mut child = Command::new(bin)
            .arg("broker")
            .args(["--override", "listeners=PLAINTEXT://127.0.0.1:0"])
            .args(["--override", "kafkalab.metrics.listener=127.0.0.1:0"])
            .arg("--override")
            .arg(format!("log.dirs={}", logs.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let pid = child.id().to_string();
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    let _ = tx.send(line);
                    sent = true;
                }
            }
        });
        let mut proc = BrokerProcess {
            label,
            child,
            pid,
            bootstrap: String::new(),
            metrics: None,
            dir,
        };
        let line = match rx.recv_timeout(BROKER_START_TIMEOUT) {
            Ok(l) => l,
            Err(_) => {
                return Err(format!(
                "broker did not print its ready line within {BROKER_START_TIMEOUT:?}; stderr: {}",
                proc.stderr_tail()
            ))
            }
        };
        let ready =
            ReadyLine::parse(&line).ok_or_else(|| format!("unexpected ready line: {line}"))?;
        proc.bootstrap = ready.kafka;
        proc.metrics = ready.metrics;
        Ok(proc)
    }

    /// `kafkalab_broker_requests_total` per API, scraped from the metrics endpoint.
    pub fn requests(&self) -> Vec<(String, f64)> {
        use std::io::{Read, Write};
        let Some(addr) = &self.metrics else {
            return Vec::new();
        };
        let Ok(mut s) = std::net::TcpStream::connect(addr) else {
            return Vec::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let req = format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        if s.write_all(req.as_bytes()).is_err() {
            return Vec::new();
        }
        let mut body = String::new();
        let _ = s.read_to_string(&mut body);
        body.lines()
            .filter_map(|l| l.strip_prefix("kafkalab_broker_requests_total{api=\""))
            .filter_map(|rest| {
                let (api, value) = rest.split_once("\"}")?;
                Some((api.to_string(), value.trim().parse::<f64>().ok()?))
            })
            .collect()
    }

    pub fn snapshot(&self) -> BrokerSnapshot {
        BrokerSnapshot {
            cpu: self.cpu(),
            requests: self.requests(),
        }
    }

    pub fn cpu(&self) -> CpuTimes {
        procfs::cpu_times(&self.pid).unwrap_or_default()
    }

    pub fn memory(&self) -> procfs::Memory {
        procfs::memory(&self.pid).unwrap_or_default()
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// How the process ended, if it has.
    pub fn exit_description(&mut self) -> Option<String> {
        use std::os::unix::process::ExitStatusExt;
        let status = self.child.try_wait().ok()??;
        Some(match (status.code(), status.signal()) {
            (Some(c), _) => format!("exited with code {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            _ => format!("ended: {status}"),
        })
    }

    pub fn stderr_tail(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("broker.stderr")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// Bytes of segment files under log.dirs: tells whether the binary stores on disk.
    pub fn log_bytes(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            let Ok(entries) = std::fs::read_dir(p) else {
                return 0;
            };
            entries
                .flatten()
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() {
                        walk(&path)
                    } else if path.extension().is_some_and(|x| x == "log") {
                        e.metadata().map_or(0, |m| m.len())
                    } else {
                        0
                    }
                })
                .sum()
        }
        walk(&self.dir.path().join("logs"))
    }

    pub fn stop(&mut self) {
        if !self.alive() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------

pub fn self_cpu() -> CpuTimes {
    procfs::cpu_times("self").unwrap_or_default()
}

pub fn create_topic(bootstrap: &str, name: &str, partitions: i32) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(|e| format!("admin client: {e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = rt
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(20),
                admin.create_topics([&topic], &opts),
            )
            .await
        })
        .map_err(|_| format!("CreateTopics {name} timed out"))?
        .map_err(|e| format!("CreateTopics {name}: {e}"))?;
    for r in results {
        r.map_err(|(t, code)| format!("CreateTopics {t}: {code}"))?;
    }
    Ok(())
}

pub fn thread_delta(before: &[(String, f64)], after: &[(String, f64)]) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = after
        .iter()
        .map(|(n, t)| {
            let b = before.iter().find(|(bn, _)| bn == n).map_or(0.0, |x| x.1);
            (n.clone(), t - b)
        })
        .filter(|(_, t)| *t > 0.0)
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

/// Requests served and broker CPU per request between two snapshots.
pub fn describe_broker(before: &BrokerSnapshot, after: &BrokerSnapshot) -> String {
    let mut reqs: Vec<(String, f64)> = after
        .requests
        .iter()
        .map(|(api, n)| {
            let b = before
                .requests
                .iter()
                .find(|(a, _)| a == api)
                .map_or(0.0, |x| x.1);
            (api.clone(), n - b)
        })
        .filter(|(_, n)| *n > 0.0)
        .collect();
    reqs.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f64 = reqs.iter().map(|r| r.1).sum();
    let cpu = after.cpu.since(&before.cpu).total();
    let per_req = if total > 0.0 {
        format!(", {:.0} us broker CPU per request", cpu * 1e6 / total)
    } else {
        String::new()
    };
    format!(
        "requests {}{per_req}",
        reqs.iter()
            .map(|(a, n)| format!("{a} {n:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

pub fn fmt_threads(t: &[(String, f64)]) -> String {
    t.iter()
        .take(5)
        .map(|(n, s)| format!("{n} {s:.2}s"))
        .collect::<Vec<_>>()
        .join(", ")
}
