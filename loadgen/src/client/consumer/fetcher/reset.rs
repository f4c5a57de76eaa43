//! `auto.offset.reset`: positions looked up with ListOffsets (earliest or latest) when a
//! partition has no committed offset or its fetch offset fell out of range.

use std::collections::HashMap;
use std::sync::Arc;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use super::{code, Fetcher, Tp};
use crate::client::error::ClientError;

/// `auto.offset.reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetPolicy {
    Earliest,
    Latest,
    None,
}

impl ResetPolicy {
    pub fn parse(s: &str) -> Result<ResetPolicy, ClientError> {
        match s.trim() {
            "earliest" => Ok(ResetPolicy::Earliest),
            "latest" => Ok(ResetPolicy::Latest),
            "none" => Ok(ResetPolicy::None),
            other => Err(ClientError::Config(format!(
                "auto.offset.reset: expected earliest, latest or none, got '{other}'"
            ))),
        }
    }
}

/// A position moved by `auto.offset.reset` because the broker answered
/// OFFSET_OUT_OF_RANGE for it: the consumer was at `from` and continues at `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetReset {
    pub topic: String,
    pub partition: i32,
    pub from: i64,
    pub to: i64,
    pub policy: ResetPolicy,
}

impl Fetcher {
    /// The out-of-range resets since the last call, oldest first.
    pub fn take_resets(&mut self) -> Vec<OffsetReset> {
        std::mem::take(&mut self.resets)
    }

    /// Resets positions with `auto.offset.reset` (ListOffsets to each leader).
    pub async fn reset_positions(&mut self) -> Result<(), ClientError> {
        let now = Instant::now();
        let todo: Vec<Tp> = self
            .parts
            .iter()
            .filter(|(_, s)| s.needs_reset && s.retry_at.is_none_or(|t| t <= now))
            .map(|(tp, _)| tp.clone())
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        let timestamp = match self.cfg.reset {
            ResetPolicy::Earliest => -2,
            ResetPolicy::Latest => -1,
            ResetPolicy::None => {
                let tp = &todo[0];
                let oor = self.parts.get(tp).is_some_and(|s| s.out_of_range);
                return Err(if oor {
                    ClientError::kafka(
                        code::OFFSET_OUT_OF_RANGE,
                        Some(format!(
                            "fetch position out of range for {}-{} and auto.offset.reset=none",
                            tp.0, tp.1
                        )),
                    )
                } else {
                    ClientError::Other(format!(
                        "no committed offset for partition {}-{} and auto.offset.reset=none",
                        tp.0, tp.1
                    ))
                });
            }
        };
        let mut by_leader: HashMap<i32, Vec<Tp>> = HashMap::new();
        let mut unknown = false;
        for tp in todo {
            match self.cluster.leader(&tp.0, tp.1) {
                Some(l) => by_leader.entry(l).or_default().push(tp),
                None => {
                    unknown = true;
                    self.backoff(&tp);
                }
            }
        }
        if unknown {
            self.metadata_stale = true;
        }
        for (leader, tps) in by_leader {
            let mut topics: HashMap<Arc<str>, Vec<i32>> = HashMap::new();
            for (t, p) in &tps {
                topics.entry(t.clone()).or_default().push(*p);
            }
            let req = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_isolation_level(i8::from(self.cfg.read_committed))
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, ps)| {
                            ListOffsetsTopic::default()
                                .with_name(TopicName(StrBytes::from_string(t.to_string())))
                                .with_partitions(
                                    ps.into_iter()
                                        .map(|p| {
                                            ListOffsetsPartition::default()
                                                .with_partition_index(p)
                                                .with_current_leader_epoch(-1)
                                                .with_timestamp(timestamp)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            let resp = match self.cluster.broker(leader).await {
                Ok(conn) => tokio::time::timeout(self.cfg.request_timeout, conn.send(req))
                    .await
                    .unwrap_or(Err(ClientError::Timeout(self.cfg.request_timeout))),
                Err(e) => Err(e),
            };
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(leader, "ListOffsets failed: {e}");
                    self.metadata_stale = true;
                    for tp in &tps {
                        self.backoff(tp);
                    }
                    continue;
                }
            };
            for t in &resp.topics {
                for p in &t.partitions {
                    let tp = self.tp(t.name.0.as_str(), p.partition_index);
                    let Some(s) = self.parts.get_mut(&tp) else {
                        continue;
                    };
                    if !s.needs_reset {
                        continue;
                    }
                    if p.error_code != 0 || p.offset < 0 {
                        tracing::debug!(
                            topic = %tp.0,
                            partition = tp.1,
                            code = p.error_code,
                            "ListOffsets partition error"
                        );
                        self.metadata_stale = true;
                        self.backoff(&tp);
                        continue;
                    }
                    if s.out_of_range {
                        if let Some(from) = s.position {
                            self.resets.push(OffsetReset {
                                topic: tp.0.to_string(),
                                partition: tp.1,
                                from,
                                to: p.offset,
                                policy: self.cfg.reset,
                            });
                        }
                    }
                    s.needs_reset = false;
                    s.out_of_range = false;
                    s.position = Some(p.offset);
                    s.fetch_offset = p.offset;
                    s.epoch += 1;
                    s.buffered = 0;
                    s.retry_at = None;
                    self.completed.retain(|c| c.tp != tp);
                }
            }
        }
        Ok(())
    }

    pub(super) fn backoff(&mut self, tp: &Tp) {
        let at = Instant::now() + self.cfg.retry_backoff;
        if let Some(s) = self.parts.get_mut(tp) {
            s.retry_at = Some(at);
        }
    }

    pub fn needs_positions(&self) -> bool {
        self.parts.values().any(|s| s.needs_reset)
    }
}
