//! Samples the cluster once a second through Metadata (its own connection, so it never
//! waits on the load's), for the report's broker / ISR chart.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::task::JoinHandle;

use super::stats::Stats;
use crate::client::admin::Admin;
use crate::measure::{ClusterRecorder, PartitionState};

pub(crate) struct ClusterWatch {
    task: JoinHandle<()>,
    recorder: Arc<Mutex<ClusterRecorder>>,
}

impl ClusterWatch {
    pub fn start(bootstrap: &str, topics: Vec<String>, stats: Arc<Stats>) -> ClusterWatch {
        let recorder = Arc::new(Mutex::new(ClusterRecorder::default()));
        let task = tokio::spawn(watch(
            bootstrap.to_string(),
            topics,
            stats,
            recorder.clone(),
        ));
        ClusterWatch { task, recorder }
    }

    /// Stops sampling; the samples, when Metadata ever listed several brokers.
    pub fn finish(&self) -> Vec<crate::measure::ClusterSample> {
        self.task.abort();
        let r = self.recorder.lock();
        if ClusterRecorder::multi_node(r.samples()) {
            r.samples().to_vec()
        } else {
            Vec::new()
        }
    }
}

impl Drop for ClusterWatch {
    /// (A run that ends in an error stops sampling too.)
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn watch(
    bootstrap: String,
    topics: Vec<String>,
    stats: Arc<Stats>,
    recorder: Arc<Mutex<ClusterRecorder>>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut admin: Option<Admin> = None;
    loop {
        tick.tick().await;
        if admin.is_none() {
            admin = Admin::with_client_id(&bootstrap, "kafkalab-watch")
                .await
                .ok();
        }
        let Some(a) = &admin else { continue };
        // A failed poll leaves a gap in the samples rather than a made-up state.
        let Ok(md) = a.cluster().refresh(&topics).await else {
            continue;
        };
        let brokers: Vec<i32> = md.brokers.keys().copied().collect();
        let partitions: Vec<PartitionState> = md
            .topics
            .values()
            .flat_map(|t| {
                t.partitions.iter().map(|p| PartitionState {
                    topic: t.name.clone(),
                    partition: p.partition,
                    leader: p.leader,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                })
            })
            .collect();
        let t = (stats.now_ns() as f64 / 1e9).round() as u64;
        recorder
            .lock()
            .record(t, md.controller, &brokers, &partitions);
    }
}
