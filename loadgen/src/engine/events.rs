//! A scenario's timed events as the run applies them: consumers added, crashed, paused
//! or slowed, producers paused, topics changed, broker faults injected (through
//! [`BrokerFaults`]), each noted in the run's timeline.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::consumer_task::MemberCommand;
use super::producer_task::ProducerControl;
use super::stats::Stats;
use super::{add_member, reset, BrokerFault, EngineError, Groups, Member, RunOptions};
use crate::client::admin::Admin;
use crate::scenario::{EventKind, Scenario};

#[allow(clippy::too_many_arguments)]
pub(super) async fn apply_event(
    ev: &crate::scenario::Event,
    scenario: &Scenario,
    opts: &RunOptions,
    admin: &Admin,
    stats: &Arc<Stats>,
    groups: &mut Groups,
    producers: &BTreeMap<String, Vec<watch::Sender<ProducerControl>>>,
    series: &mut crate::measure::Series,
) -> Result<(), EngineError> {
    let kind = *ev.kind;
    let target = ev.target.as_ref().map(|t| (**t).clone());
    let label = match &target {
        Some(t) => format!(
            "{} {}{}",
            kind.as_str(),
            t.name,
            t.index.map(|i| format!("/{i}")).unwrap_or_default()
        ),
        None => kind.as_str().to_string(),
    };
    let now = stats.now_ns();
    series.mark(now, label.clone());
    // With the live view on, events show in its timeline panel instead.
    if opts.progress {
        println!("[{:>6.1}s] event: {label}", now as f64 / 1e9);
    }
    let member = |groups: &mut Groups| -> Option<Member> {
        let t = target.as_ref()?;
        let list = groups.members.get_mut(&t.name)?;
        list.get_mut(t.index? as usize)?.take()
    };
    match kind {
        EventKind::AddConsumer => {
            // New members are configured like the group's first [[consumers]] entry.
            if let Some(template) = target.as_ref().and_then(|t| scenario.group(&t.name).next()) {
                for _ in 0..ev.count_or_one() {
                    add_member(groups, opts, template, stats, *scenario.duration).await?;
                }
            }
        }
        EventKind::RemoveConsumer | EventKind::CrashConsumer => {
            if let Some(m) = member(groups) {
                let crash = kind == EventKind::CrashConsumer;
                if let (true, Some(t)) = (crash, &target) {
                    if let Some(obs) = stats.groups.lock().get_mut(&t.name) {
                        obs.faults.push(now);
                        obs.crashes.push(now);
                    }
                }
                let _ = m
                    .commands
                    .send(if crash {
                        MemberCommand::Crash
                    } else {
                        MemberCommand::Leave
                    })
                    .await;
            }
        }
        EventKind::FreezeConsumer | EventKind::RestartConsumer => {
            let d = ev
                .for_duration
                .as_ref()
                .map_or(Duration::from_secs(10), |d| **d);
            if let Some(t) = &target {
                let command = if kind == EventKind::FreezeConsumer {
                    if let Some(g) = stats.groups.lock().get_mut(&t.name) {
                        g.faults.push(now);
                    }
                    MemberCommand::Freeze(d)
                } else {
                    MemberCommand::Restart(d)
                };
                if let Some(Some(m)) = groups
                    .members
                    .get(&t.name)
                    .and_then(|l| l.get(t.index.unwrap_or(0) as usize))
                {
                    let _ = m.commands.send(command).await;
                }
            }
        }
        EventKind::ResetOffsets => {
            let (Some(t), Some(to)) = (&target, ev.offsets.as_ref()) else {
                return Ok(());
            };
            let result =
                reset::reset_offsets(scenario, opts, stats, groups, &t.name, to.value).await;
            match result {
                Ok(note) if opts.progress => println!("           ({note})"),
                Ok(note) => tracing::info!("{label}: {note}"),
                Err(why) if opts.progress => println!("           ({why})"),
                Err(why) => tracing::warn!("{label}: {why}"),
            }
        }
        EventKind::StopProducer | EventKind::StartProducer | EventKind::SetRate => {
            let Some(t) = &target else { return Ok(()) };
            let Some(ctls) = producers.get(&t.name) else {
                return Ok(());
            };
            for (i, ctl) in ctls.iter().enumerate() {
                if t.index.is_some_and(|x| x as usize != i) {
                    continue;
                }
                ctl.send_modify(|c| match kind {
                    EventKind::StopProducer => c.running = false,
                    EventKind::StartProducer => c.running = true,
                    _ => c.rate = ev.rate.as_ref().and_then(|r| r.per_second()),
                });
            }
        }
        EventKind::KillBroker
        | EventKind::RestartBroker
        | EventKind::PauseBroker
        | EventKind::DelayLink
        | EventKind::LossLink
        | EventKind::PartitionNetwork
        | EventKind::HealNetwork
        | EventKind::SlowDisk
        | EventKind::InjectError => {
            let node = target.as_ref().and_then(|t| t.name.parse::<i32>().ok());
            let lasting = ev.for_duration.as_ref().map(|d| **d);
            let fault = match kind {
                EventKind::KillBroker => node.map(|node| BrokerFault::Kill { node }),
                EventKind::RestartBroker => node.map(|node| BrokerFault::Restart { node }),
                EventKind::PauseBroker => node.map(|node| BrokerFault::Pause {
                    node,
                    duration: lasting.unwrap_or(Duration::from_secs(10)),
                }),
                EventKind::SlowDisk => node.map(|node| BrokerFault::SlowDisk {
                    node,
                    latency: ev.latency.as_ref().map(|l| **l).unwrap_or_default(),
                    duration: lasting,
                }),
                EventKind::DelayLink | EventKind::LossLink => {
                    match (ev.from.as_ref(), ev.to.as_ref()) {
                        (Some(from), Some(to)) => Some(BrokerFault::Link {
                            from: **from,
                            to: **to,
                            latency: ev.latency.as_ref().map(|l| **l),
                            loss: ev.loss.as_ref().map(|l| **l),
                            duration: lasting,
                        }),
                        _ => None,
                    }
                }
                EventKind::PartitionNetwork => ev.groups.as_ref().map(|g| BrokerFault::Partition {
                    groups: g.value.clone(),
                    duration: lasting,
                }),
                EventKind::InjectError => match (&ev.api, &ev.error) {
                    (Some(api), Some(error)) => Some(BrokerFault::InjectError {
                        api: api.value.clone(),
                        error: error.value.clone(),
                        count: ev.count_or_one(),
                        topic: ev.topic.as_ref().map(|t| t.value.clone()),
                        partition: ev.partition.as_ref().map(|p| p.value as i32),
                        node,
                    }),
                    _ => None,
                },
                _ => Some(BrokerFault::Heal),
            };
            let result = match (&opts.faults, fault) {
                (None, _) => Err("broker, link and disk faults need the embedded cluster; not available with --bootstrap-server".to_string()),
                (Some(_), None) => Err("the event does not name its broker or link".to_string()),
                (Some(f), Some(fault)) => f.inject(fault),
            };
            report_note(opts, &label, result);
        }
        EventKind::AddPartitions => {
            let (Some(t), Some(total)) = (&target, &ev.count) else {
                return Ok(());
            };
            let result = admin
                .create_partitions(&t.name, total.value as i32)
                .await
                .map(|()| format!("topic {} has {} partitions", t.name, total.value))
                .map_err(|e| format!("CreatePartitions failed: {e}"));
            report_note(opts, &label, result);
        }
    }
    Ok(())
}

/// Prints (or logs) what an event did, or why it could not be done.
fn report_note(opts: &RunOptions, label: &str, result: Result<String, String>) {
    match result {
        Ok(note) if opts.progress => println!("           ({note})"),
        Ok(note) => tracing::info!("{label}: {note}"),
        Err(why) if opts.progress => println!("           ({why}; ignored)"),
        Err(why) => tracing::warn!("{label}: {why}; ignored"),
    }
}
