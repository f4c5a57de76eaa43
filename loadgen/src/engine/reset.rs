//! The `reset-offsets` event, as `kafka-consumer-groups.sh --reset-offsets --execute`:
//! Kafka only resets the offsets of an inactive group, so the group's live members are
//! closed (LeaveGroup; with auto-commit they commit first), the committed offset of
//! every partition of the group's topics is set from an admin client (OffsetCommit
//! outside the group protocol), and the members start again under the same names,
//! resuming from the new offsets.

use std::sync::Arc;
use std::time::Duration;

use super::{start_member, Groups, RunOptions, Stats};
use crate::client::admin::{Admin, OffsetSpec};
use crate::client::ClientError;
use crate::scenario::{ResetTo, Scenario};

/// Resets `group` to `to`; returns a note for the log, or why it could not.
pub(super) async fn reset_offsets(
    scenario: &Scenario,
    opts: &RunOptions,
    stats: &Arc<Stats>,
    groups: &mut Groups,
    group: &str,
    to: ResetTo,
) -> Result<String, String> {
    // 1. Stop the live members (crashed or removed ones stay gone).
    let live: Vec<usize> = {
        let Some(members) = groups.members.get_mut(group) else {
            return Err(format!("no group '{group}'"));
        };
        let mut live = Vec::new();
        for (i, slot) in members.iter_mut().enumerate() {
            if let Some(m) = slot.take() {
                let _ = m.commands.send(super::MemberCommand::Leave).await;
                let _ = tokio::time::timeout(Duration::from_secs(10), m.task).await;
                live.push(i);
            }
        }
        live
    };
    // 2. Move the committed offsets.
    let result = move_offsets(scenario, opts, stats, group, to).await;
    // 3. Start the members again, configured like the entries they came from.
    for i in &live {
        let Some(template) = template_of(scenario, group, *i) else {
            continue;
        };
        match start_member(opts, template, *i, stats, false, *scenario.duration).await {
            Ok(m) => {
                if let Some(slot) = groups.members.get_mut(group).and_then(|l| l.get_mut(*i)) {
                    *slot = Some(m);
                }
            }
            Err(e) => tracing::warn!("{group}/{i} could not start again: {e}"),
        }
    }
    let moved = result.map_err(|e| format!("offsets not reset: {e}"))?;
    Ok(format!(
        "{} member(s) restarted; offsets now {}",
        live.len(),
        moved
            .iter()
            .map(|(t, p, o)| format!("{t}-{p}={o}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// The `[[consumers]]` entry member `idx` of `group` was configured from: members are
/// numbered across the group's entries in file order; added ones follow the first.
fn template_of<'a>(
    scenario: &'a Scenario,
    group: &'a str,
    idx: usize,
) -> Option<&'a crate::scenario::Consumer> {
    let mut end = 0usize;
    for c in scenario.group(group) {
        end += c.count as usize;
        if idx < end {
            return Some(c);
        }
    }
    scenario.group(group).next()
}

async fn move_offsets(
    scenario: &Scenario,
    opts: &RunOptions,
    stats: &Stats,
    group: &str,
    to: ResetTo,
) -> Result<Vec<(String, i32, i64)>, ClientError> {
    let admin = Admin::new(&opts.bootstrap).await?;
    let mut topics: Vec<String> = scenario
        .group(group)
        .flat_map(|c| c.topics.iter().map(|t| t.to_string()))
        .collect();
    topics.sort();
    topics.dedup();
    // Records carry their producer's wall-clock time: "-10s" counts back from now.
    let now_ms = match opts.started_unix {
        Some(t) => (t * 1000.0) as i64 + stats.now_ns() / 1_000_000,
        None => kafkalab_sim::clock::now_ms(),
    };
    let mut offsets = Vec::new();
    for topic in &topics {
        let info = admin.describe_topics(&[topic.as_str()]).await?;
        let n = info.first().map_or(0, |i| i.partitions.len() as i32);
        for p in 0..n {
            let earliest = admin.list_offsets(topic, p, OffsetSpec::Earliest).await?.0;
            let latest = admin.list_offsets(topic, p, OffsetSpec::Latest).await?.0;
            let offset = match to {
                ResetTo::Earliest => earliest,
                ResetTo::Latest => latest,
                ResetTo::Offset(o) => o.clamp(earliest, latest),
                ResetTo::Back(d) => {
                    let ts = now_ms - d.as_millis() as i64;
                    match admin
                        .list_offsets(topic, p, OffsetSpec::Timestamp(ts))
                        .await?
                        .0
                    {
                        o if o < 0 => latest,
                        o => o,
                    }
                }
            };
            offsets.push((topic.clone(), p, offset));
        }
    }
    admin.alter_group_offsets(group, &offsets).await?;
    if let Some(c) = stats.offset_checks.get(group) {
        let mut c = c.lock();
        for (t, p, o) in &offsets {
            c.reset(stats.partition_id(t, *p), *o);
        }
    }
    Ok(offsets)
}
