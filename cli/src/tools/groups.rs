//! `kafkalab groups`: list, describe and delete consumer groups, as
//! `kafka-consumer-groups.sh` does.
//!
//! ```text
//! $ kafkalab groups --describe --group billing
//!
//! GROUP   TOPIC  PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID          HOST       CLIENT-ID
//! billing orders 0         1200           1250           50  kafkalab-consumer-1-… /127.0.0.1 kafkalab-consumer-1
//! ```

use std::collections::{BTreeMap, BTreeSet};

use clap::{ArgGroup, Args};
use kafkalab_loadgen::client::admin::{Admin, GroupDescription, OffsetSpec};

use super::{error_text, table, ClientSettings, ConnectArgs, ToolResult};

#[derive(Args, Debug)]
#[command(group(
    ArgGroup::new("action")
        .required(true)
        .args(["list", "describe", "delete"])
))]
pub struct GroupsArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// List all consumer groups (with --state: and their states).
    #[arg(long)]
    list: bool,
    /// Describe the group(s): committed offsets, log-end offsets and lag per partition
    /// (or members with --members, the group state with --state).
    #[arg(long)]
    describe: bool,
    /// Delete the group(s) (they must have no active members).
    #[arg(long)]
    delete: bool,
    /// The consumer group (repeatable).
    #[arg(long)]
    group: Vec<String>,
    /// Apply --describe or --delete to every group.
    #[arg(long = "all-groups")]
    all_groups: bool,
    /// With --describe: the members and their assigned partitions.
    #[arg(long, conflicts_with = "state")]
    members: bool,
    /// With --describe: coordinator, assignment strategy, state and member count; with
    /// --list: each group's state.
    #[arg(long)]
    state: bool,
    /// With --describe: offsets per partition (the default).
    #[arg(long, conflicts_with_all = ["members", "state"])]
    offsets: bool,
    /// Accepted for compatibility (the assignment is always shown with --members).
    #[arg(long)]
    verbose: bool,
}

pub fn main(args: GroupsArgs) -> u8 {
    super::block_on(run(args))
}

async fn run(args: GroupsArgs) -> ToolResult {
    let settings = ClientSettings::gather(&args.connect, &[], &[])?;
    let admin = settings.admin().await?;
    if args.list {
        return list(&admin, args.state).await;
    }
    let groups = if args.all_groups {
        admin
            .list_groups()
            .await
            .map_err(|e| error_text(&e))?
            .into_iter()
            .map(|g| g.group_id)
            .collect()
    } else if args.group.is_empty() {
        return Err(format!(
            "--{} needs --group or --all-groups",
            if args.delete { "delete" } else { "describe" }
        ));
    } else {
        args.group.clone()
    };
    if args.delete {
        return delete(&admin, &groups).await;
    }
    let mut failed = 0;
    for g in &groups {
        let r = if args.members {
            describe_members(&admin, g).await
        } else if args.state {
            describe_state(&admin, g).await
        } else {
            describe_offsets(&admin, g).await
        };
        if let Err(e) = r {
            if groups.len() == 1 {
                return Err(e);
            }
            eprintln!("{e}");
            failed += 1;
        }
    }
    match failed {
        0 => Ok(()),
        n => Err(format!(
            "{n} of {} groups could not be described",
            groups.len()
        )),
    }
}

async fn list(admin: &Admin, with_state: bool) -> ToolResult {
    let groups = admin.list_groups().await.map_err(|e| error_text(&e))?;
    if !with_state {
        for g in groups {
            println!("{}", g.group_id);
        }
        return Ok(());
    }
    let mut rows = Vec::with_capacity(groups.len());
    for g in groups {
        let state = match g.state {
            Some(s) => s,
            None => admin
                .describe_groups(&[g.group_id.as_str()])
                .await
                .map_err(|e| error_text(&e))?
                .into_iter()
                .next()
                .map_or_else(|| "Unknown".into(), |d| d.state),
        };
        rows.push(vec![g.group_id, state]);
    }
    print!("{}", table(&["GROUP", "STATE"], &rows));
    Ok(())
}

/// DescribeGroups for one group; `Err` is the message to print when it does not exist.
async fn describe_one(
    admin: &Admin,
    group: &str,
) -> Result<(GroupDescription, BTreeMap<(String, i32), i64>), String> {
    let d = admin
        .describe_groups(&[group])
        .await
        .map_err(|e| {
            format!(
                "Error: Executing consumer group command failed: {}",
                error_text(&e)
            )
        })?
        .into_iter()
        .next()
        .ok_or_else(|| format!("Error: Consumer group '{group}' does not exist."))?;
    let offsets = admin.list_group_offsets(group).await.map_err(|e| {
        format!(
            "Error: Executing consumer group command failed: {}",
            error_text(&e)
        )
    })?;
    if d.state == "Dead"
        || (d.members.is_empty()
            && offsets.is_empty()
            && d.state == "Empty"
            && d.protocol_type.is_empty())
    {
        return Err(format!("Error: Consumer group '{group}' does not exist."));
    }
    Ok((d, offsets))
}

fn state_note(d: &GroupDescription) {
    match d.state.as_str() {
        "PreparingRebalance" | "CompletingRebalance" | "AssigningRebalance" | "Reconciling" => {
            println!("\nWarning: Consumer group '{}' is rebalancing.", d.group_id)
        }
        _ if d.members.is_empty() => {
            println!("\nConsumer group '{}' has no active members.", d.group_id)
        }
        _ => {}
    }
}

async fn describe_offsets(admin: &Admin, group: &str) -> ToolResult {
    let (d, committed) = describe_one(admin, group).await?;
    state_note(&d);
    // (topic, partition) -> (consumer id, host, client id)
    let mut owner: BTreeMap<(String, i32), (String, String, String)> = BTreeMap::new();
    let mut idle_members = Vec::new();
    for m in &d.members {
        let mut any = false;
        for (t, parts) in &m.assignment {
            for p in parts {
                any = true;
                owner.insert(
                    (t.clone(), *p),
                    (
                        m.member_id.clone(),
                        m.client_host.clone(),
                        m.client_id.clone(),
                    ),
                );
            }
        }
        if !any {
            idle_members.push(m);
        }
    }
    let partitions: BTreeSet<(String, i32)> =
        committed.keys().chain(owner.keys()).cloned().collect();
    let mut rows = Vec::new();
    for (t, p) in &partitions {
        let end = match admin.list_offsets(t, *p, OffsetSpec::Latest).await {
            Ok((o, _)) => Some(o),
            Err(e) => {
                eprintln!("Warning: no log-end offset for {t}-{p}: {}", error_text(&e));
                None
            }
        };
        let current = committed.get(&(t.clone(), *p)).copied();
        let lag = match (current, end) {
            (Some(c), Some(e)) => (e - c).max(0).to_string(),
            _ => "-".into(),
        };
        let (cid, host, client) = owner
            .get(&(t.clone(), *p))
            .cloned()
            .unwrap_or_else(|| ("-".into(), "-".into(), "-".into()));
        rows.push(vec![
            d.group_id.clone(),
            t.clone(),
            p.to_string(),
            current.map_or_else(|| "-".into(), |c| c.to_string()),
            end.map_or_else(|| "-".into(), |e| e.to_string()),
            lag,
            cid,
            host,
            client,
        ]);
    }
    for m in idle_members {
        rows.push(vec![
            d.group_id.clone(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            m.member_id.clone(),
            m.client_host.clone(),
            m.client_id.clone(),
        ]);
    }
    println!();
    print!(
        "{}",
        table(
            &[
                "GROUP",
                "TOPIC",
                "PARTITION",
                "CURRENT-OFFSET",
                "LOG-END-OFFSET",
                "LAG",
                "CONSUMER-ID",
                "HOST",
                "CLIENT-ID",
            ],
            &rows
        )
    );
    Ok(())
}

async fn describe_members(admin: &Admin, group: &str) -> ToolResult {
    let (d, _) = describe_one(admin, group).await?;
    state_note(&d);
    let rows: Vec<Vec<String>> = d
        .members
        .iter()
        .map(|m| {
            let count: usize = m.assignment.values().map(Vec::len).sum();
            let assignment = if count == 0 {
                "-".to_string()
            } else {
                m.assignment
                    .iter()
                    .filter(|(_, ps)| !ps.is_empty())
                    .map(|(t, ps)| {
                        let mut ps = ps.clone();
                        ps.sort_unstable();
                        let list: Vec<String> = ps.iter().map(i32::to_string).collect();
                        format!("{t}({})", list.join(","))
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            };
            vec![
                d.group_id.clone(),
                m.member_id.clone(),
                m.client_host.clone(),
                m.client_id.clone(),
                count.to_string(),
                assignment,
            ]
        })
        .collect();
    if !rows.is_empty() {
        println!();
        print!(
            "{}",
            table(
                &[
                    "GROUP",
                    "CONSUMER-ID",
                    "HOST",
                    "CLIENT-ID",
                    "#PARTITIONS",
                    "ASSIGNMENT",
                ],
                &rows
            )
        );
    }
    Ok(())
}

async fn describe_state(admin: &Admin, group: &str) -> ToolResult {
    let (d, _) = describe_one(admin, group).await?;
    let addr = admin
        .cluster()
        .metadata()
        .brokers
        .get(&d.coordinator)
        .cloned()
        .unwrap_or_else(|| "-".into());
    let strategy = if d.protocol.is_empty() {
        "-".to_string()
    } else {
        d.protocol.clone()
    };
    println!();
    print!(
        "{}",
        table(
            &[
                "GROUP",
                "COORDINATOR (ID)",
                "ASSIGNMENT-STRATEGY",
                "STATE",
                "#MEMBERS",
            ],
            &[vec![
                d.group_id.clone(),
                format!("{addr} ({})", d.coordinator),
                strategy,
                d.state.clone(),
                d.members.len().to_string(),
            ]]
        )
    );
    Ok(())
}

async fn delete(admin: &Admin, groups: &[String]) -> ToolResult {
    let refs: Vec<&str> = groups.iter().map(String::as_str).collect();
    let results = admin.delete_groups(&refs).await.map_err(|e| {
        format!(
            "Error: Deletion of consumer groups failed: {}",
            error_text(&e)
        )
    })?;
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for g in groups {
        match results.get(g) {
            Some(Ok(())) => ok.push(format!("'{g}'")),
            Some(Err(e)) => failed.push(format!(
                "* Group '{g}' could not be deleted due to: {}",
                error_text(e)
            )),
            None => failed.push(format!("* Group '{g}' could not be deleted: no result")),
        }
    }
    if failed.is_empty() {
        println!(
            "Deletion of requested consumer groups ({}) was successful.",
            ok.join(", ")
        );
        return Ok(());
    }
    if !ok.is_empty() {
        println!(
            "These consumer groups were deleted successfully: {}",
            ok.join(", ")
        );
    }
    Err(format!(
        "Deletion of some consumer groups failed:\n{}",
        failed.join("\n")
    ))
}
