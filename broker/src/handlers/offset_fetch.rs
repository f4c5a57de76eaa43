//! OffsetFetch: committed positions of a group (v0-7) or of several groups (v8+);
//! offset -1 where nothing is committed.

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, RequestHeader, TopicName};

use super::s;
use crate::broker::Broker;
use crate::group::offsets::Committed;

type Wanted = Option<Vec<(String, Vec<i32>)>>;
/// Committed offsets per topic: (topic, [(partition, committed)]).
type Found = Vec<(String, Vec<(i32, Option<Committed>)>)>;

/// (topic, [(partition, committed)]) for the requested partitions, or all committed.
fn lookup(broker: &Broker, group: &str, wanted: Wanted) -> Found {
    if let Some(c) = broker.cluster() {
        // The cluster's shared copy: right whichever node coordinated the commits.
        let all = c.committed_offsets(group);
        return match wanted {
            Some(list) => list
                .into_iter()
                .map(|(t, ps)| {
                    let entries = ps
                        .into_iter()
                        .map(|p| (p, all.get(&(t.clone(), p)).cloned()))
                        .collect();
                    (t, entries)
                })
                .collect(),
            None => {
                let mut out: Found = Vec::new();
                for ((t, p), c) in all {
                    match out.last_mut() {
                        Some((last, entries)) if *last == t => entries.push((p, Some(c))),
                        _ => out.push((t, vec![(p, Some(c))])),
                    }
                }
                out
            }
        };
    }
    match wanted {
        Some(list) => list
            .into_iter()
            .map(|(t, ps)| {
                let entries = ps
                    .into_iter()
                    .map(|p| (p, broker.groups.offsets.get(group, &t, p)))
                    .collect();
                (t, entries)
            })
            .collect(),
        None => {
            let mut out: Found = Vec::new();
            for ((t, p), c) in broker.groups.offsets.group(group) {
                match out.last_mut() {
                    Some((last, entries)) if *last == t => entries.push((p, Some(c))),
                    _ => out.push((t, vec![(p, Some(c))])),
                }
            }
            out
        }
    }
}

pub async fn handle(
    broker: &Broker,
    h: &RequestHeader,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    if h.request_api_version >= 8 {
        let groups = req
            .groups
            .iter()
            .map(|g| {
                let wanted = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
                        .collect()
                });
                let topics = lookup(broker, g.group_id.0.as_str(), wanted)
                    .into_iter()
                    .map(|(t, entries)| {
                        OffsetFetchResponseTopics::default()
                            .with_name(TopicName(s(t)))
                            .with_partitions(
                                entries
                                    .into_iter()
                                    .map(|(p, c)| {
                                        let (offset, epoch, meta) = parts(c);
                                        OffsetFetchResponsePartitions::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(offset)
                                            .with_committed_leader_epoch(epoch)
                                            .with_metadata(meta)
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id.clone())
                    .with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let wanted = req.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    let topics = lookup(broker, req.group_id.0.as_str(), wanted)
        .into_iter()
        .map(|(t, entries)| {
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(s(t)))
                .with_partitions(
                    entries
                        .into_iter()
                        .map(|(p, c)| {
                            let (offset, epoch, meta) = parts(c);
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(offset)
                                .with_committed_leader_epoch(epoch)
                                .with_metadata(meta)
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}

fn parts(c: Option<Committed>) -> (i64, i32, Option<kafka_protocol::protocol::StrBytes>) {
    match c {
        Some(c) => (
            c.offset,
            c.leader_epoch,
            Some(s(c.metadata.unwrap_or_default())),
        ),
        None => (-1, -1, Some(s(""))),
    }
}
