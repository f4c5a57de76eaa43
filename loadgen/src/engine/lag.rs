//! The live view's cluster poller: once a second, over the Kafka protocol only (so it
//! shows the same against `--bootstrap-server`): Metadata for brokers, leaders and ISR;
//! ListOffsets (one request per leader) for log end offsets; OffsetFetch and
//! DescribeGroups per group for committed offsets, state, members and assignments.
//! Lag = log end offset − committed offset, as `kafka-consumer-groups --describe`.
//! Runs only when a view is attached; its own connections, so it never waits on the
//! load's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use parking_lot::Mutex;

use super::snapshot::{BrokerView, ClusterView, LagRow, MemberView, PartitionView, Polled};
use super::stats::Stats;
use crate::client::admin::Admin;
use crate::client::cluster::Metadata;
use crate::client::ClientError;

/// ListOffsets timestamp for "latest".
const LATEST: i64 = -1;

/// Polls until aborted. `groups`: each group and the topics it consumes.
pub(crate) async fn poll(
    bootstrap: String,
    topics: Vec<String>,
    groups: Vec<(String, Vec<String>)>,
    stats: Arc<Stats>,
    out: Arc<Mutex<Polled>>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut admin: Option<Admin> = None;
    loop {
        tick.tick().await;
        if admin.is_none() {
            match Admin::with_client_id(&bootstrap, "kafkalab-view").await {
                Ok(a) => admin = Some(a),
                Err(e) => {
                    out.lock().cluster.error = Some(e.to_string());
                    continue;
                }
            }
        }
        let Some(a) = &admin else { continue };
        match poll_once(a, &topics, &groups).await {
            Ok(mut p) => {
                p.cluster.polled_s = Some(stats.now_ns() as f64 / 1e9);
                *out.lock() = p;
            }
            Err(e) => out.lock().cluster.error = Some(e.to_string()),
        }
    }
}

async fn poll_once(
    admin: &Admin,
    topics: &[String],
    groups: &[(String, Vec<String>)],
) -> Result<Polled, ClientError> {
    let md = admin.cluster().refresh(topics).await?;
    let mut p = Polled {
        cluster: cluster_view(&md),
        ..Polled::default()
    };
    let ends = log_end_offsets(admin, &md).await?;
    for (group, group_topics) in groups {
        // A group the coordinator does not know yet is not an error for the view.
        let committed = admin.list_group_offsets(group).await.unwrap_or_default();
        for ((topic, partition), end) in &ends {
            if !group_topics.contains(topic) {
                continue;
            }
            p.lag.push(LagRow {
                group: group.clone(),
                topic: topic.clone(),
                partition: *partition,
                log_end: *end,
                committed: committed.get(&(topic.clone(), *partition)).copied(),
            });
        }
        if let Some(d) = admin
            .describe_groups(&[group.as_str()])
            .await
            .ok()
            .and_then(|d| d.into_iter().next())
        {
            let mut members: Vec<MemberView> = d
                .members
                .into_iter()
                .map(|m| MemberView {
                    client_id: m.client_id,
                    member_id: m.member_id,
                    instance_id: m.group_instance_id,
                    partitions: m
                        .assignment
                        .into_iter()
                        .flat_map(|(t, ps)| ps.into_iter().map(move |p| (t.clone(), p)))
                        .collect(),
                    note: None,
                })
                .collect();
            members.sort_by(|a, b| a.client_id.cmp(&b.client_id));
            p.groups
                .insert(group.clone(), (d.state, d.protocol, members));
        }
    }
    Ok(p)
}

fn cluster_view(md: &Metadata) -> ClusterView {
    ClusterView {
        cluster_id: md.cluster_id.clone(),
        controller: (md.controller >= 0).then_some(md.controller),
        brokers: md
            .brokers
            .iter()
            .map(|(id, addr)| BrokerView {
                id: *id,
                addr: addr.clone(),
            })
            .collect(),
        partitions: md
            .topics
            .values()
            .flat_map(|t| {
                t.partitions.iter().map(|p| PartitionView {
                    topic: t.name.clone(),
                    partition: p.partition,
                    leader: p.leader,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                    error_code: p.error_code,
                })
            })
            .collect(),
        polled_s: None,
        error: None,
    }
}

/// Log end offsets of every partition in `md`, one ListOffsets request per leader.
async fn log_end_offsets(
    admin: &Admin,
    md: &Metadata,
) -> Result<BTreeMap<(String, i32), i64>, ClientError> {
    let mut by_leader: BTreeMap<i32, BTreeMap<&str, Vec<i32>>> = BTreeMap::new();
    for t in md.topics.values() {
        for p in &t.partitions {
            if p.leader >= 0 {
                by_leader
                    .entry(p.leader)
                    .or_default()
                    .entry(t.name.as_str())
                    .or_default()
                    .push(p.partition);
            }
        }
    }
    let mut out = BTreeMap::new();
    for (leader, topics) in by_leader {
        let conn = admin.cluster().broker(leader).await?;
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(0)
            .with_topics(
                topics
                    .iter()
                    .map(|(t, ps)| {
                        ListOffsetsTopic::default()
                            .with_name(TopicName(StrBytes::from_string(t.to_string())))
                            .with_partitions(
                                ps.iter()
                                    .map(|p| {
                                        ListOffsetsPartition::default()
                                            .with_partition_index(*p)
                                            .with_current_leader_epoch(-1)
                                            .with_timestamp(LATEST)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let resp = conn.send(req).await?;
        for t in resp.topics {
            for p in t.partitions {
                if p.error_code == 0 && p.offset >= 0 {
                    out.insert((t.name.0.to_string(), p.partition_index), p.offset);
                }
            }
        }
    }
    Ok(out)
}
