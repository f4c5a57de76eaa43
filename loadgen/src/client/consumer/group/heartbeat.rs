//! The classic protocol's heartbeat task (KIP-62): runs apart from `poll()`, keeps the
//! session alive with a Heartbeat every `heartbeat.interval.ms` while the member is
//! stable, notices rebalances and removals, and enforces `max.poll.interval.ms`.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::{ApiKey, GroupId, HeartbeatRequest};
use tokio::time::Instant;

use super::{code, is_coordinator_error, leave_group, s, GroupShared, Phase, LEFT_POLL_TIMEOUT};
use crate::client::consumer::ConsumerEvent;
use crate::client::error::ClientError;

/// The heartbeat task: heartbeats every `heartbeat.interval.ms` while the member is
/// stable, and enforces `max.poll.interval.ms`. Ends on a fatal error or when aborted.
pub(crate) async fn heartbeat_loop(g: Arc<GroupShared>) {
    enum Act {
        Sleep(Option<Instant>),
        Heartbeat(String, i32),
        PollTimeout(String),
    }
    let interval = g.cfg.heartbeat_interval;
    let mut seen: (String, i32) = (String::new(), -1);
    let mut next_hb = Instant::now() + interval;
    loop {
        let now = Instant::now();
        let act = {
            let mut st = g.state.lock();
            if st.fatal.is_some() {
                return;
            }
            match st.frozen_until {
                Some(f) if f > now => Act::Sleep(Some(f)),
                _ => {
                    st.frozen_until = None;
                    if st.phase != Phase::Stable {
                        Act::Sleep(None)
                    } else {
                        let poll_deadline = st.last_poll + g.cfg.max_poll_interval;
                        if (st.member_id.as_str(), st.generation) != (seen.0.as_str(), seen.1) {
                            // A new generation: the heartbeat timer restarts.
                            seen = (st.member_id.clone(), st.generation);
                            next_hb = now + interval;
                        }
                        if now >= poll_deadline {
                            let member = st.member_id.clone();
                            st.reset(false);
                            Act::PollTimeout(member)
                        } else if now >= next_hb {
                            Act::Heartbeat(st.member_id.clone(), st.generation)
                        } else {
                            Act::Sleep(Some(next_hb.min(poll_deadline)))
                        }
                    }
                }
            }
        };
        match act {
            Act::Sleep(until) => match until {
                Some(t) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(t) => {}
                        _ = g.hb_wake.notified() => {}
                    }
                }
                None => g.hb_wake.notified().await,
            },
            Act::PollTimeout(member) => {
                tracing::warn!(
                    group = %g.cfg.group_id,
                    member = %member,
                    "consumer poll timeout has expired: the time between subsequent calls to poll() \
                     was longer than max.poll.interval.ms ({:?}); leaving the group",
                    g.cfg.max_poll_interval
                );
                g.emit(ConsumerEvent::LeftGroup {
                    reason: LEFT_POLL_TIMEOUT,
                    at: Instant::now(),
                });
                g.poll_wake.notify_one();
                if !g.is_static() {
                    if let Err(e) =
                        leave_group(&g, &member, "consumer poll timeout has expired").await
                    {
                        tracing::debug!(group = %g.cfg.group_id, "LeaveGroup failed: {e}");
                    }
                }
            }
            Act::Heartbeat(member, generation) => {
                next_hb = now + interval;
                heartbeat_once(&g, &member, generation, &mut next_hb).await;
            }
        }
    }
}

async fn heartbeat_once(g: &GroupShared, member: &str, generation: i32, next_hb: &mut Instant) {
    let req = HeartbeatRequest::default()
        .with_group_id(GroupId(s(&g.cfg.group_id)))
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_group_instance_id(g.cfg.instance_id.as_deref().map(s));
    let req = match g.coordinator().await {
        Ok(c) if c.version(ApiKey::Heartbeat).unwrap_or(0) < 3 => req.with_group_instance_id(None),
        _ => req,
    };
    let timeout = g
        .cfg
        .request_timeout
        .min(Duration::from_millis(g.cfg.session_timeout_ms.max(1) as u64));
    let result = g.send(req, timeout).await;
    let now = Instant::now();
    let mut st = g.state.lock();
    if st.phase != Phase::Stable || st.generation != generation || st.member_id != member {
        // A rebalance or reset happened meanwhile: this answer is about the past.
        return;
    }
    match result {
        Err(e) => {
            tracing::debug!(group = %g.cfg.group_id, "heartbeat failed: {e}");
            g.coordinator_unknown();
            *next_hb = now + g.cfg.retry_backoff;
        }
        Ok(resp) => {
            g.metrics.heartbeat(now);
            match resp.error_code {
                0 => {}
                code::REBALANCE_IN_PROGRESS => {
                    if !st.rejoin_needed {
                        tracing::debug!(group = %g.cfg.group_id, "rebalance in progress: rejoin on the next poll");
                    }
                    st.rejoin_needed = true;
                    g.poll_wake.notify_one();
                }
                code::UNKNOWN_MEMBER_ID | code::ILLEGAL_GENERATION => {
                    tracing::info!(
                        group = %g.cfg.group_id,
                        code = resp.error_code,
                        "heartbeat: generation lost; partitions are lost, rejoining on the next poll"
                    );
                    st.reset(resp.error_code == code::ILLEGAL_GENERATION);
                    if resp.error_code == code::UNKNOWN_MEMBER_ID {
                        g.expired();
                    }
                    g.poll_wake.notify_one();
                }
                code::FENCED_INSTANCE_ID => {
                    st.fatal = Some(ClientError::kafka(code::FENCED_INSTANCE_ID, None));
                    st.phase = Phase::Unjoined;
                    g.poll_wake.notify_one();
                }
                c if is_coordinator_error(c) => {
                    g.coordinator_unknown();
                    *next_hb = now + g.cfg.retry_backoff;
                }
                c => {
                    tracing::warn!(group = %g.cfg.group_id, code = c, "unexpected heartbeat error");
                    *next_hb = now + g.cfg.retry_backoff;
                }
            }
        }
    }
}
