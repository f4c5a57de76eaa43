//! The group's offset requests: OffsetCommit and OffsetFetch to the coordinator,
//! retried through coordinator moves until the request timeout.

use std::collections::BTreeMap;

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{
    ApiKey, GroupId, OffsetCommitRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use super::{code, is_coordinator_error, s, GroupShared};
use crate::client::error::ClientError;

/// OffsetCommit of `offsets` (topic, partition, next offset to consume) as member
/// `member` of `generation` (-1 / "" for a consumer outside the group protocol).
/// Retries coordinator errors until the request timeout.
pub(crate) async fn commit_offsets(
    g: &GroupShared,
    offsets: &[(String, i32, i64)],
    generation: i32,
    member: &str,
) -> Result<(), ClientError> {
    if offsets.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let deadline = started + g.cfg.request_timeout;
    let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (t, p, o) in offsets {
        topics.entry(t.as_str()).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(*p)
                .with_committed_offset(*o)
                .with_committed_leader_epoch(-1)
                .with_committed_metadata(Some(StrBytes::from_static_str(""))),
        );
    }
    let topics: Vec<OffsetCommitRequestTopic> = topics
        .into_iter()
        .map(|(t, ps)| {
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(s(t)))
                .with_partitions(ps)
        })
        .collect();
    loop {
        let mut req = OffsetCommitRequest::default()
            .with_group_id(GroupId(s(&g.cfg.group_id)))
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(s(member))
            .with_retention_time_ms(-1)
            .with_topics(topics.clone());
        let v = g
            .coordinator()
            .await
            .ok()
            .and_then(|c| c.version(ApiKey::OffsetCommit))
            .unwrap_or(0);
        if v >= 7 {
            req = req.with_group_instance_id(g.cfg.instance_id.as_deref().map(s));
        }
        let result = g.send(req, g.cfg.request_timeout).await;
        let code = match &result {
            Err(e) => {
                if e.is_retriable() && Instant::now() < deadline {
                    tokio::time::sleep(g.cfg.retry_backoff).await;
                    continue;
                }
                return Err(e.clone());
            }
            Ok(resp) => resp
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter())
                .map(|p| p.error_code)
                .find(|c| *c != 0)
                .unwrap_or(0),
        };
        match code {
            0 => {
                g.metrics.commit(started.elapsed());
                return Ok(());
            }
            c if is_coordinator_error(c) && Instant::now() < deadline => {
                g.coordinator_unknown();
                tokio::time::sleep(g.cfg.retry_backoff).await;
            }
            code::UNKNOWN_MEMBER_ID | code::ILLEGAL_GENERATION => {
                {
                    let mut st = g.state.lock();
                    if st.generation == generation && generation >= 0 {
                        st.reset(code == code::ILLEGAL_GENERATION);
                        if code == code::UNKNOWN_MEMBER_ID {
                            g.expired();
                        }
                    }
                }
                g.poll_wake.notify_one();
                return Err(ClientError::kafka(
                    code,
                    Some(
                        "commit cannot be completed since the group has already rebalanced and \
                         assigned the partitions to another member (CommitFailedException)"
                            .into(),
                    ),
                ));
            }
            code::REBALANCE_IN_PROGRESS => {
                {
                    let mut st = g.state.lock();
                    if st.generation == generation {
                        st.rejoin_needed = true;
                    }
                }
                g.poll_wake.notify_one();
                return Err(ClientError::kafka(
                    code,
                    Some("commit failed: the group is rebalancing; poll() to rejoin, then commit again".into()),
                ));
            }
            c => return Err(ClientError::kafka(c, None)),
        }
    }
}

/// OffsetFetch: the group's committed offsets for `partitions` (-1 where none).
pub(crate) async fn fetch_committed(
    g: &GroupShared,
    partitions: &[(String, i32)],
) -> Result<Vec<(String, i32, i64)>, ClientError> {
    let deadline = Instant::now() + g.cfg.request_timeout;
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in partitions {
        by_topic.entry(t.as_str()).or_default().push(*p);
    }
    loop {
        let conn = match g.coordinator().await {
            Ok(c) => c,
            Err(e) if e.is_retriable() && Instant::now() < deadline => {
                tokio::time::sleep(g.cfg.retry_backoff).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let v = conn.version(ApiKey::OffsetFetch).unwrap_or(0);
        let req = if v >= 8 {
            OffsetFetchRequest::default()
                .with_groups(vec![OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s(&g.cfg.group_id)))
                    .with_topics(Some(
                        by_topic
                            .iter()
                            .map(|(t, ps)| {
                                OffsetFetchRequestTopics::default()
                                    .with_name(TopicName(s(t)))
                                    .with_partition_indexes(ps.clone())
                            })
                            .collect(),
                    ))])
                .with_require_stable(true)
        } else {
            let r = OffsetFetchRequest::default()
                .with_group_id(GroupId(s(&g.cfg.group_id)))
                .with_topics(Some(
                    by_topic
                        .iter()
                        .map(|(t, ps)| {
                            OffsetFetchRequestTopic::default()
                                .with_name(TopicName(s(t)))
                                .with_partition_indexes(ps.clone())
                        })
                        .collect(),
                ));
            if v >= 7 {
                r.with_require_stable(true)
            } else {
                r
            }
        };
        let resp = match g.send(req, g.cfg.request_timeout).await {
            Ok(r) => r,
            Err(e) if e.is_retriable() && Instant::now() < deadline => {
                tokio::time::sleep(g.cfg.retry_backoff).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        let mut retry_code = 0i16;
        let mut group_code = resp.error_code;
        if v >= 8 {
            if let Some(grp) = resp.groups.first() {
                group_code = grp.error_code;
                for t in &grp.topics {
                    for p in &t.partitions {
                        if p.error_code == code::UNSTABLE_OFFSET_COMMIT {
                            retry_code = p.error_code;
                        }
                        out.push((
                            t.name.0.to_string(),
                            p.partition_index,
                            if p.error_code == 0 {
                                p.committed_offset
                            } else {
                                -1
                            },
                        ));
                    }
                }
            }
        } else {
            for t in &resp.topics {
                for p in &t.partitions {
                    if p.error_code == code::UNSTABLE_OFFSET_COMMIT {
                        retry_code = p.error_code;
                    }
                    out.push((
                        t.name.0.to_string(),
                        p.partition_index,
                        if p.error_code == 0 {
                            p.committed_offset
                        } else {
                            -1
                        },
                    ));
                }
            }
        }
        if group_code != 0 {
            if is_coordinator_error(group_code) {
                g.coordinator_unknown();
                retry_code = group_code;
            } else {
                return Err(ClientError::kafka(group_code, None));
            }
        }
        if retry_code != 0 {
            if Instant::now() < deadline {
                tokio::time::sleep(g.cfg.retry_backoff).await;
                continue;
            }
            return Err(ClientError::kafka(retry_code, None));
        }
        return Ok(out);
    }
}
