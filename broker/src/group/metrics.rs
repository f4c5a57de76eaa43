//! Group-coordinator metrics: every rebalance, expiry, heartbeat and commit, and
//! per-group gauges (state, members, generation, committed offsets, lag) filled at
//! scrape time.

use std::collections::BTreeMap;

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
};

use super::coordinator::GroupSnapshot;
use super::offsets::Committed;
use super::state::{GroupEvent, GroupState};
use crate::metrics::{latency_buckets, MetricDoc};

pub const DOCS: &[MetricDoc] = &[
    MetricDoc { name: "kafkalab_group_rebalances_total", kind: "counter", labels: "group", help: "Rebalances completed (PreparingRebalance to Stable or Empty).", kafka: "consumer-coordinator-metrics rebalance-total" },
    MetricDoc { name: "kafkalab_group_rebalance_duration_seconds", kind: "histogram", labels: "group", help: "Rebalance duration from PreparingRebalance to Stable: the stop-the-world pause as the coordinator sees it.", kafka: "consumer-coordinator-metrics rebalance-latency-avg/max" },
    MetricDoc { name: "kafkalab_group_member_joins_total", kind: "counter", labels: "group", help: "Members added to a group.", kafka: "(none)" },
    MetricDoc { name: "kafkalab_group_member_removals_total", kind: "counter", labels: "group, cause", help: "Members removed, by cause: session_timeout, rebalance_timeout, leave, removed.", kafka: "(none; broker log 'Member ... has left group')" },
    MetricDoc { name: "kafkalab_group_heartbeats_total", kind: "counter", labels: "", help: "Heartbeat requests handled.", kafka: "consumer-coordinator-metrics heartbeat-total" },
    MetricDoc { name: "kafkalab_group_offset_commits_total", kind: "counter", labels: "", help: "Partition offsets committed.", kafka: "kafka.server:type=group-coordinator-metrics,name=offset-commit-count" },
    MetricDoc { name: "kafkalab_groups", kind: "gauge", labels: "state", help: "Groups by state (classic states; Assigning/Reconciling for consumer-protocol groups).", kafka: "kafka.coordinator.group:type=GroupMetadataManager,name=NumGroups{Stable,PreparingRebalance,...}" },
    MetricDoc { name: "kafkalab_group_members", kind: "gauge", labels: "group", help: "Current members of a group.", kafka: "(kafka-consumer-groups --describe --members)" },
    MetricDoc { name: "kafkalab_group_generation", kind: "gauge", labels: "group", help: "Current generation id of a group.", kafka: "(kafka-consumer-groups --describe --state)" },
    MetricDoc { name: "kafkalab_group_committed_offset", kind: "gauge", labels: "group, topic, partition", help: "Last committed offset.", kafka: "(kafka-consumer-groups --describe CURRENT-OFFSET)" },
    MetricDoc { name: "kafkalab_group_lag", kind: "gauge", labels: "group, topic, partition", help: "Log end offset minus committed offset.", kafka: "(kafka-consumer-groups --describe LAG; consumer records-lag)" },
];

#[derive(Clone)]
pub struct GroupMetrics {
    pub rebalances: IntCounterVec,
    pub rebalance_duration: HistogramVec,
    pub joins: IntCounterVec,
    pub removals: IntCounterVec,
    pub heartbeats: IntCounter,
    pub commits: IntCounter,
    pub groups: IntGaugeVec,
    pub members: IntGaugeVec,
    pub generation: IntGaugeVec,
    pub committed: IntGaugeVec,
    pub lag: IntGaugeVec,
}

fn opts(name: &str) -> Opts {
    Opts::new(
        name,
        DOCS.iter().find(|d| d.name == name).map_or("", |d| d.help),
    )
}

impl GroupMetrics {
    pub fn new() -> Self {
        let cv = |n: &str, l: &[&str]| IntCounterVec::new(opts(n), l).expect("valid metric");
        let gv = |n: &str, l: &[&str]| IntGaugeVec::new(opts(n), l).expect("valid metric");
        let gtp = &["group", "topic", "partition"];
        GroupMetrics {
            rebalances: cv("kafkalab_group_rebalances_total", &["group"]),
            rebalance_duration: HistogramVec::new(
                HistogramOpts::from(opts("kafkalab_group_rebalance_duration_seconds"))
                    .buckets(latency_buckets()),
                &["group"],
            )
            .expect("valid metric"),
            joins: cv("kafkalab_group_member_joins_total", &["group"]),
            removals: cv("kafkalab_group_member_removals_total", &["group", "cause"]),
            heartbeats: IntCounter::with_opts(opts("kafkalab_group_heartbeats_total"))
                .expect("valid metric"),
            commits: IntCounter::with_opts(opts("kafkalab_group_offset_commits_total"))
                .expect("valid metric"),
            groups: gv("kafkalab_groups", &["state"]),
            members: gv("kafkalab_group_members", &["group"]),
            generation: gv("kafkalab_group_generation", &["group"]),
            committed: gv("kafkalab_group_committed_offset", gtp),
            lag: gv("kafkalab_group_lag", gtp),
        }
    }

    pub fn register(&self, r: &Registry) -> prometheus::Result<()> {
        r.register(Box::new(self.rebalances.clone()))?;
        r.register(Box::new(self.rebalance_duration.clone()))?;
        r.register(Box::new(self.joins.clone()))?;
        r.register(Box::new(self.removals.clone()))?;
        r.register(Box::new(self.heartbeats.clone()))?;
        r.register(Box::new(self.commits.clone()))?;
        r.register(Box::new(self.groups.clone()))?;
        r.register(Box::new(self.members.clone()))?;
        r.register(Box::new(self.generation.clone()))?;
        r.register(Box::new(self.committed.clone()))?;
        r.register(Box::new(self.lag.clone()))?;
        Ok(())
    }

    pub fn observe(&self, group: &str, event: &GroupEvent) {
        match event {
            GroupEvent::MemberJoined { .. } => self.joins.with_label_values(&[group]).inc(),
            GroupEvent::MemberLeft { cause, .. } => self
                .removals
                .with_label_values(&[group, cause.name()])
                .inc(),
            GroupEvent::Stable { duration_ms, .. } => {
                self.rebalances.with_label_values(&[group]).inc();
                self.rebalance_duration
                    .with_label_values(&[group])
                    .observe(*duration_ms as f64 / 1000.0);
            }
            GroupEvent::RebalanceStarted { .. } | GroupEvent::StateChanged { .. } => {}
        }
    }

    pub fn refresh(
        &self,
        groups: &[GroupSnapshot],
        offsets: impl Fn(&str) -> BTreeMap<(String, i32), Committed>,
        log_end_offset: impl Fn(&str, i32) -> Option<i64>,
    ) {
        self.groups.reset();
        self.members.reset();
        self.generation.reset();
        self.committed.reset();
        self.lag.reset();
        for s in GroupState::ALL {
            self.groups.with_label_values(&[s.name()]).set(0);
        }
        for g in groups {
            self.groups.with_label_values(&[g.state_name]).inc();
            self.members
                .with_label_values(&[&g.id])
                .set(g.members.len() as i64);
            self.generation
                .with_label_values(&[&g.id])
                .set(g.generation_id as i64);
            for ((topic, partition), c) in offsets(&g.id) {
                let p = partition.to_string();
                let labels = [g.id.as_str(), topic.as_str(), p.as_str()];
                self.committed.with_label_values(&labels).set(c.offset);
                if let Some(end) = log_end_offset(&topic, partition) {
                    self.lag
                        .with_label_values(&labels)
                        .set((end - c.offset).max(0));
                }
            }
        }
    }
}

impl Default for GroupMetrics {
    fn default() -> Self {
        Self::new()
    }
}
