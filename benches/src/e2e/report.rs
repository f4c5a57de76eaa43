//! The end-to-end bench's report: one row per measured figure next to its target.

use std::time::Duration;

use crate::procfs::{self, CpuTimes};

use super::broker::*;

pub struct Row {
    pub scenario: String,
    pub figure: String,
    pub target: String,
    pub met: Option<bool>,
}

#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub peak_rss: Vec<(&'static str, procfs::Memory, u64)>,
}

impl Report {
    pub fn row(&mut self, scenario: &str, figure: String, target: &str, met: Option<bool>) {
        let verdict = match met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "n/a",
        };
        println!("  => {scenario}: {figure} (target {target}): {verdict}");
        self.rows.push(Row {
            scenario: scenario.to_string(),
            figure,
            target: target.to_string(),
            met,
        });
    }

    pub fn failed(&mut self, scenario: &str, target: &str, error: &str) {
        println!("  => {scenario}: FAILED: {error}");
        self.rows.push(Row {
            scenario: scenario.to_string(),
            figure: format!("failed: {error}"),
            target: target.to_string(),
            met: Some(false),
        });
    }

    pub fn broker_done(&mut self, broker: &mut BrokerProcess) {
        let mem = broker.memory();
        let log_bytes = broker.log_bytes();
        println!(
            "  broker '{}': VmHWM {:.1} MiB, VmRSS {:.1} MiB, threads {}, segment bytes on disk {:.1} MiB",
            broker.label,
            mem.hwm_kib as f64 / 1024.0,
            mem.rss_kib as f64 / 1024.0,
            procfs::threads(&broker.pid).unwrap_or(0),
            log_bytes as f64 / 1048576.0
        );
        if let Some(how) = broker.exit_description() {
            println!(
                "  broker '{}' is no longer running ({how}; exit code 0 after a 'shutting down' line means something outside this bench sent it SIGTERM/SIGINT). stderr tail:\n{}",
                broker.label,
                broker.stderr_tail()
            );
            self.rows.push(Row {
                scenario: format!("(broker '{}' process)", broker.label),
                figure: format!("died during the run: {how}"),
                target: "stays up".into(),
                met: Some(false),
            });
        }
        self.peak_rss.push((broker.label, mem, log_bytes));
        broker.stop();
    }

    pub fn print(&self) {
        println!();
        println!("kafkalab e2e results");
        let w0 = self
            .rows
            .iter()
            .map(|r| r.scenario.len())
            .max()
            .unwrap_or(8)
            .max(8);
        let w1 = self
            .rows
            .iter()
            .map(|r| r.figure.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let w2 = self
            .rows
            .iter()
            .map(|r| r.target.len())
            .max()
            .unwrap_or(6)
            .max(6);
        println!(
            "| {:w0$} | {:w1$} | {:w2$} | met?   |",
            "scenario", "figure", "target"
        );
        println!(
            "|-{}-|-{}-|-{}-|--------|",
            "-".repeat(w0),
            "-".repeat(w1),
            "-".repeat(w2)
        );
        for r in &self.rows {
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "n/a",
            };
            println!(
                "| {:w0$} | {:w1$} | {:w2$} | {met:6} |",
                r.scenario, r.figure, r.target
            );
        }
    }
}

pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

pub fn cpu_line(label: &str, broker: CpuTimes, bench: CpuTimes, wall: Duration) {
    println!(
        "  {label}: broker cpu {:.2}s (user {:.2} sys {:.2}), bench process cpu {:.2}s (user {:.2} sys {:.2}), wall {:.2}s",
        broker.total(),
        broker.user,
        broker.system,
        bench.total(),
        bench.user,
        bench.system,
        wall.as_secs_f64()
    );
}
