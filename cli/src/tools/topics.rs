//! `kafkalab topics`: list, describe, create, delete and alter topics, as
//! `kafka-topics.sh` does.
//!
//! ```text
//! (TAB-separated)
//! $ kafkalab topics --create --topic orders --partitions 6
//! Created topic orders.
//! $ kafkalab topics --describe --topic orders
//! Topic: orders    TopicId: 3Yq1Yb0fQ2W4uJ6pHqKx9A    PartitionCount: 6    ReplicationFactor: 1    Configs:
//!     Topic: orders    Partition: 0    Leader: 0    Replicas: 0    Isr: 0
//! ...
//! ```

use clap::{ArgGroup, Args};
use kafkalab_loadgen::client::admin::{Admin, AlterOp, NewTopic};
use kafkalab_loadgen::client::cluster::TopicInfo;

use super::{error_text, parse_kv, ClientSettings, ConnectArgs, ToolResult};

/// UNKNOWN_TOPIC_OR_PARTITION.
const UNKNOWN_TOPIC: i16 = 3;
/// TOPIC_ALREADY_EXISTS.
const TOPIC_EXISTS: i16 = 36;

#[derive(Args, Debug)]
#[command(group(
    ArgGroup::new("action")
        .required(true)
        .args(["list", "describe", "create", "delete", "alter"])
))]
pub struct TopicsArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// List all topics.
    #[arg(long)]
    list: bool,
    /// Describe the topic given with --topic (all topics without it).
    #[arg(long)]
    describe: bool,
    /// Create a topic.
    #[arg(long)]
    create: bool,
    /// Delete a topic.
    #[arg(long)]
    delete: bool,
    /// Change the partition count (--partitions) or configs (--config, --delete-config).
    #[arg(long)]
    alter: bool,
    /// The topic to create, describe, alter or delete.
    #[arg(long)]
    topic: Option<String>,
    /// Partitions of a new topic (default: the broker's num.partitions), or the new
    /// total with --alter (partitions can only be added).
    #[arg(long)]
    partitions: Option<i32>,
    /// Replication factor of a new topic (default: the broker's default.replication.factor).
    #[arg(long = "replication-factor")]
    replication_factor: Option<i16>,
    /// A topic config for --create or --alter, e.g. --config retention.ms=60000 (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_kv)]
    config: Vec<(String, String)>,
    /// A topic config to remove with --alter (repeatable).
    #[arg(long = "delete-config", value_name = "KEY")]
    delete_config: Vec<String>,
    /// With --create: succeed if the topic already exists.
    #[arg(long = "if-not-exists")]
    if_not_exists: bool,
    /// With --delete, --alter or --describe: succeed if the topic does not exist.
    #[arg(long = "if-exists")]
    if_exists: bool,
    /// Leave internal topics out of --list and --describe.
    #[arg(long = "exclude-internal")]
    exclude_internal: bool,
    /// With --describe: only partitions whose ISR is smaller than their replica set.
    #[arg(long = "under-replicated-partitions")]
    under_replicated_partitions: bool,
    /// With --describe: only partitions without a leader.
    #[arg(long = "unavailable-partitions")]
    unavailable_partitions: bool,
}

pub fn main(args: TopicsArgs) -> u8 {
    super::block_on(async move {
        run(args)
            .await
            .map_err(|e| format!("Error while executing topic command : {e}"))
    })
}

fn require_topic(args: &TopicsArgs, action: &str) -> Result<String, String> {
    match &args.topic {
        Some(t) if !t.is_empty() => Ok(t.clone()),
        _ => Err(format!("--topic is required with --{action}")),
    }
}

async fn run(args: TopicsArgs) -> ToolResult {
    let settings = ClientSettings::gather(&args.connect, &[], &[])?;
    let admin = settings.admin().await?;
    if args.list {
        for name in topic_names(&admin, args.exclude_internal).await? {
            println!("{name}");
        }
        Ok(())
    } else if args.describe {
        describe(&admin, &args).await
    } else if args.create {
        create(&admin, &args).await
    } else if args.delete {
        let topic = require_topic(&args, "delete")?;
        let mut results = admin
            .delete_topics(&[topic.as_str()])
            .await
            .map_err(|e| error_text(&e))?;
        match results.remove(&topic).unwrap_or(Ok(())) {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some(UNKNOWN_TOPIC) && args.if_exists => Ok(()),
            Err(e) if e.code() == Some(UNKNOWN_TOPIC) => Err(format!(
                "Topic '{topic}' does not exist as expected: {}",
                error_text(&e)
            )),
            Err(e) => Err(error_text(&e)),
        }
    } else {
        alter(&admin, &args).await
    }
}

/// All topic names, sorted; internal ones (as the cluster reports them) unless excluded.
async fn topic_names(admin: &Admin, exclude_internal: bool) -> Result<Vec<String>, String> {
    if exclude_internal {
        return admin.list_topics().await.map_err(|e| error_text(&e));
    }
    let md = admin
        .cluster()
        .refresh(&[])
        .await
        .map_err(|e| error_text(&e))?;
    Ok(md
        .topics
        .values()
        .filter(|t| t.error_code == 0)
        .map(|t| t.name.clone())
        .collect())
}

async fn create(admin: &Admin, args: &TopicsArgs) -> ToolResult {
    let topic = require_topic(args, "create")?;
    if let Some(p) = args.partitions {
        if p < 1 {
            return Err(format!("--partitions must be at least 1, got {p}"));
        }
    }
    if let Some(r) = args.replication_factor {
        if r < 1 {
            return Err(format!("--replication-factor must be at least 1, got {r}"));
        }
    }
    if topic.contains('.') || topic.contains('_') {
        eprintln!(
            "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. To avoid issues it is best to use either, but not both."
        );
    }
    let mut new = NewTopic::new(
        topic.clone(),
        args.partitions.unwrap_or(-1),
        args.replication_factor.unwrap_or(-1),
    );
    for (k, v) in &args.config {
        new = new.with_config(k.clone(), v.clone());
    }
    match admin.create_topic(new).await {
        Ok(()) => {
            println!("Created topic {topic}.");
            Ok(())
        }
        Err(e) if e.code() == Some(TOPIC_EXISTS) && args.if_not_exists => Ok(()),
        Err(e) => Err(error_text(&e)),
    }
}

async fn alter(admin: &Admin, args: &TopicsArgs) -> ToolResult {
    let topic = require_topic(args, "alter")?;
    if args.partitions.is_none() && args.config.is_empty() && args.delete_config.is_empty() {
        return Err("--alter needs --partitions, --config or --delete-config".into());
    }
    // Fail on an unknown topic first, as Kafka's tool does (with --if-exists: nothing).
    match admin.describe_topics(&[topic.as_str()]).await {
        Ok(_) => {}
        Err(e) if e.code() == Some(UNKNOWN_TOPIC) && args.if_exists => return Ok(()),
        Err(e) if e.code() == Some(UNKNOWN_TOPIC) => {
            return Err(format!(
                "Topic '{topic}' does not exist as expected: {}",
                error_text(&e)
            ))
        }
        Err(e) => return Err(error_text(&e)),
    }
    if !args.config.is_empty() || !args.delete_config.is_empty() {
        let mut ops: Vec<(&str, AlterOp)> = args
            .config
            .iter()
            .map(|(k, v)| (k.as_str(), AlterOp::Set(v.clone())))
            .collect();
        ops.extend(
            args.delete_config
                .iter()
                .map(|k| (k.as_str(), AlterOp::Delete)),
        );
        admin
            .alter_topic_configs(&topic, &ops)
            .await
            .map_err(|e| error_text(&e))?;
    }
    if let Some(n) = args.partitions {
        admin
            .create_partitions(&topic, n)
            .await
            .map_err(|e| error_text(&e))?;
    }
    Ok(())
}

async fn describe(admin: &Admin, args: &TopicsArgs) -> ToolResult {
    let names = match &args.topic {
        Some(t) => vec![t.clone()],
        None => topic_names(admin, args.exclude_internal).await?,
    };
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let topics = match admin.describe_topics(&refs).await {
        Ok(t) => t,
        Err(e) if e.code() == Some(UNKNOWN_TOPIC) && args.if_exists => return Ok(()),
        Err(e) if e.code() == Some(UNKNOWN_TOPIC) && args.topic.is_some() => {
            return Err(format!(
                "Topic '{}' does not exist as expected: {}",
                names[0],
                error_text(&e)
            ))
        }
        Err(e) => return Err(error_text(&e)),
    };
    let partition_filter = args.under_replicated_partitions || args.unavailable_partitions;
    let mut out = String::new();
    for t in &topics {
        if !partition_filter {
            let configs = match admin.describe_configs(&t.name).await {
                Ok(entries) => entries
                    .into_iter()
                    .filter(|c| !c.is_default)
                    .map(|c| {
                        let v = if c.sensitive {
                            "null".to_string()
                        } else {
                            c.value.unwrap_or_else(|| "null".into())
                        };
                        format!("{}={v}", c.name)
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                Err(e) => return Err(error_text(&e)),
            };
            out.push_str(&topic_line(t, &configs));
            out.push('\n');
        }
        for p in &t.partitions {
            let under = p.isr.len() < p.replicas.len();
            let unavailable = p.leader < 0;
            if partition_filter
                && !((args.under_replicated_partitions && under)
                    || (args.unavailable_partitions && unavailable))
            {
                continue;
            }
            let leader = if p.leader < 0 {
                "none".to_string()
            } else {
                p.leader.to_string()
            };
            out.push_str(&format!(
                "\tTopic: {}\tPartition: {}\tLeader: {leader}\tReplicas: {}\tIsr: {}\n",
                t.name,
                p.partition,
                join(&p.replicas),
                join(&p.isr)
            ));
        }
    }
    print!("{out}");
    Ok(())
}

fn topic_line(t: &TopicInfo, configs: &str) -> String {
    let rf = t.partitions.first().map_or(0, |p| p.replicas.len());
    format!(
        "Topic: {}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {rf}\tConfigs: {configs}",
        t.name,
        kafka_uuid(t.id.as_bytes()),
        t.partitions.len()
    )
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// A topic id as Kafka prints it (`Uuid.toString()`): URL-safe base64 of the 16 bytes,
/// without padding.
pub fn kafka_uuid(bytes: &[u8; 16]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_like_kafka() {
        assert_eq!(kafka_uuid(&[0; 16]), "AAAAAAAAAAAAAAAAAAAAAA");
        // Java: new Uuid(0x0123456789abcdefL, 0xfedcba9876543210L).toString()
        let bytes = [
            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54,
            0x32, 0x10,
        ];
        assert_eq!(kafka_uuid(&bytes), "ASNFZ4mrze_-3LqYdlQyEA");
    }
}
