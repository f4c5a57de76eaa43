//! Shared by the integration tests: a `kafkalab broker` child process on ephemeral
//! ports in a fresh `log.dirs`, killed when dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kafkalab_broker::ready::ReadyLine;

const READY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Broker {
    child: Child,
    pub bootstrap: String,
    _dir: tempfile::TempDir,
    stderr_path: std::path::PathBuf,
}

impl Broker {
    pub fn start(overrides: &[(&str, &str)]) -> Broker {
        let dir = tempfile::tempdir().expect("tempdir");
        let log_dir = dir.path().join("logs");
        let stderr_path = dir.path().join("broker-stderr.log");
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kafkalab"));
        cmd.arg("broker");
        let base = [
            ("listeners", "PLAINTEXT://127.0.0.1:0".to_string()),
            ("kafkalab.metrics.listener", "127.0.0.1:0".to_string()),
            ("log.dirs", log_dir.display().to_string()),
        ];
        for (k, v) in base.iter() {
            cmd.arg("--override").arg(format!("{k}={v}"));
        }
        for (k, v) in overrides {
            cmd.arg("--override").arg(format!("{k}={v}"));
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("spawn kafkalab broker");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            // keep draining stdout for the broker's whole life
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + READY_TIMEOUT;
        let bootstrap = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => match ReadyLine::parse(&line) {
                    Some(ready) => break ready.kafka,
                    None => continue,
                },
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "broker not ready ({e:?}); stderr:\n{}",
                        std::fs::read_to_string(&stderr_path).unwrap_or_default()
                    );
                }
            }
        };
        Broker {
            child,
            bootstrap,
            _dir: dir,
            stderr_path,
        }
    }

    pub fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "broker exited ({status}); stderr:\n{}",
                std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
            );
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
