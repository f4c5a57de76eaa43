//! `kafkalab consume`: a console consumer, as `kafka-console-consumer.sh`. Prints each
//! record's value (optionally timestamp, partition, offset and key, separated as
//! Kafka's `DefaultMessageFormatter` does), then `Processed a total of N messages` on
//! stderr. Stops after `--max-messages`, after `--timeout-ms` without a record, or on
//! Ctrl-C.
//!
//! With `--group` (or `group.id` in the consumer properties) the consumer joins the
//! group and commits as configured. Without a group it assigns itself every partition
//! of the topic (or the one given with `--partition`) and commits nothing; Kafka's tool
//! joins a throw-away `console-consumer-NNNNN` group instead, which leaves a group
//! behind on the cluster and waits for `group.initial.rebalance.delay.ms`.
//!
//! ```text
//! (columns are TAB-separated)
//! $ kafkalab consume --topic orders --from-beginning --max-messages 2 \
//!     --property print.key=true --property print.partition=true --property print.offset=true
//! Partition:3    Offset:0    k1    hello
//! Partition:0    Offset:0    k2    world
//! Processed a total of 2 messages
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use kafkalab_loadgen::client::admin::OffsetSpec;
use kafkalab_loadgen::client::consumer::{Consumer, ConsumerRecord};
use kafkalab_loadgen::client::{Cluster, Role};
use tokio::time::Instant;

use super::{error_text, parse_kv, ClientSettings, ConnectArgs, Interrupt, ToolResult};

#[derive(Args, Debug)]
pub struct ConsumeArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The topic to consume.
    #[arg(long)]
    topic: String,
    /// Start with the earliest record when there is no committed offset
    /// (auto.offset.reset=earliest); the default is to wait for new records.
    #[arg(long = "from-beginning")]
    from_beginning: bool,
    /// Consume only this partition (manual assignment).
    #[arg(long)]
    partition: Option<i32>,
    /// With --partition: where to start, earliest, latest or an offset (default: the
    /// committed offset with a group, else earliest with --from-beginning, else latest).
    #[arg(long)]
    offset: Option<String>,
    /// The consumer group to join (and commit offsets for).
    #[arg(long)]
    group: Option<String>,
    /// Exit after this many records.
    #[arg(long = "max-messages")]
    max_messages: Option<u64>,
    /// Exit when no record arrived for this long (default: run until Ctrl-C).
    #[arg(long = "timeout-ms")]
    timeout_ms: Option<u64>,
    /// Output setting (repeatable): print.key, print.value, print.partition,
    /// print.offset, print.timestamp (false/true), key.separator (TAB), line.separator
    /// (newline), null.literal ("null").
    #[arg(long = "property", value_name = "KEY=VALUE", value_parser = parse_kv)]
    property: Vec<(String, String)>,
    /// A consumer setting (Kafka property name), e.g. max.poll.records=100 (repeatable).
    #[arg(long = "consumer-property", value_name = "KEY=VALUE", value_parser = parse_kv)]
    consumer_property: Vec<(String, String)>,
    /// A consumer properties file.
    #[arg(long = "consumer.config", value_name = "FILE")]
    consumer_config: Option<PathBuf>,
    /// read_uncommitted or read_committed.
    #[arg(long = "isolation-level")]
    isolation_level: Option<String>,
}

/// Kafka's `DefaultMessageFormatter` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formatter {
    pub print_timestamp: bool,
    pub print_partition: bool,
    pub print_offset: bool,
    pub print_key: bool,
    pub print_value: bool,
    pub key_separator: Vec<u8>,
    pub line_separator: Vec<u8>,
    pub null_literal: Vec<u8>,
}

impl Default for Formatter {
    fn default() -> Self {
        Formatter {
            print_timestamp: false,
            print_partition: false,
            print_offset: false,
            print_key: false,
            print_value: true,
            key_separator: b"\t".to_vec(),
            line_separator: b"\n".to_vec(),
            null_literal: b"null".to_vec(),
        }
    }
}

fn flag(key: &str, v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!(
            "--property {key}: expected true or false, got '{v}'"
        )),
    }
}

impl Formatter {
    pub fn from_properties(props: &[(String, String)]) -> Result<Formatter, String> {
        let mut f = Formatter::default();
        for (k, v) in props {
            match k.as_str() {
                "print.timestamp" => f.print_timestamp = flag(k, v)?,
                "print.partition" => f.print_partition = flag(k, v)?,
                "print.offset" => f.print_offset = flag(k, v)?,
                "print.key" => f.print_key = flag(k, v)?,
                "print.value" => f.print_value = flag(k, v)?,
                "key.separator" => f.key_separator = v.as_bytes().to_vec(),
                "line.separator" => f.line_separator = v.as_bytes().to_vec(),
                "null.literal" => f.null_literal = v.as_bytes().to_vec(),
                "print.headers" => {
                    return Err(
                        "--property print.headers: not supported (the native consumer does not expose record headers)"
                            .into(),
                    )
                }
                other => {
                    return Err(format!(
                        "unknown --property '{other}'; expected print.key, print.value, print.partition, print.offset, print.timestamp, key.separator, line.separator or null.literal"
                    ))
                }
            }
        }
        Ok(f)
    }

    /// Appends one record: each printed field followed by `key.separator`, the last
    /// by `line.separator`, as Kafka's formatter writes them.
    pub fn write(&self, r: &ConsumerRecord, out: &mut Vec<u8>) {
        let mut fields: Vec<Vec<u8>> = Vec::with_capacity(5);
        if self.print_timestamp {
            fields.push(if r.timestamp_ms >= 0 {
                // The native consumer does not report the timestamp type.
                format!("CreateTime:{}", r.timestamp_ms).into_bytes()
            } else {
                b"NO_TIMESTAMP".to_vec()
            });
        }
        if self.print_partition {
            fields.push(format!("Partition:{}", r.partition).into_bytes());
        }
        if self.print_offset {
            fields.push(format!("Offset:{}", r.offset).into_bytes());
        }
        let bytes_or_null = |b: &Option<bytes::Bytes>| {
            b.as_ref()
                .map_or_else(|| self.null_literal.clone(), |b| b.to_vec())
        };
        if self.print_key {
            fields.push(bytes_or_null(&r.key));
        }
        if self.print_value {
            fields.push(bytes_or_null(&r.value));
        }
        let n = fields.len();
        for (i, f) in fields.into_iter().enumerate() {
            out.extend_from_slice(&f);
            if i + 1 < n {
                out.extend_from_slice(&self.key_separator);
            } else {
                out.extend_from_slice(&self.line_separator);
            }
        }
    }
}

/// Where a manually assigned partition starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartAt {
    Earliest,
    Latest,
    Offset(i64),
}

fn parse_offset(s: &str) -> Result<StartAt, String> {
    match s.trim() {
        "earliest" => Ok(StartAt::Earliest),
        "latest" => Ok(StartAt::Latest),
        n => match n.parse::<i64>() {
            Ok(o) if o >= 0 => Ok(StartAt::Offset(o)),
            _ => Err(format!(
                "--offset: expected earliest, latest or a non-negative offset, got '{s}'"
            )),
        },
    }
}

pub fn main(args: ConsumeArgs) -> u8 {
    super::block_on(run(args))
}

/// The consumer properties with --group, --from-beginning and --isolation-level
/// applied; conflicting settings are errors, as in Kafka's tool.
fn consumer_properties(args: &ConsumeArgs, props: &mut BTreeMap<String, String>) -> ToolResult {
    if let Some(g) = &args.group {
        if let Some(other) = props.get("group.id").filter(|o| *o != g) {
            return Err(format!(
                "The group ids provided in different places (directly using '--group' ({g}), via '--consumer-property' or '--consumer.config' ({other})) do not match."
            ));
        }
        props.insert("group.id".into(), g.clone());
    }
    if args.from_beginning {
        match props.get("auto.offset.reset").map(String::as_str) {
            None | Some("earliest") => {
                props.insert("auto.offset.reset".into(), "earliest".into());
            }
            Some(other) => {
                return Err(format!(
                    "Can't simultaneously specify --from-beginning and 'auto.offset.reset={other}', as they conflict."
                ))
            }
        }
    }
    if let Some(level) = &args.isolation_level {
        props.insert("isolation.level".into(), level.clone());
    }
    Ok(())
}

async fn run(args: ConsumeArgs) -> ToolResult {
    let format = Formatter::from_properties(&args.property)?;
    let start_at = args.offset.as_deref().map(parse_offset).transpose()?;
    if start_at.is_some() && args.partition.is_none() {
        return Err("--offset needs --partition".into());
    }
    if args.max_messages == Some(0) {
        eprintln!("Processed a total of 0 messages");
        return Ok(());
    }
    let files: Vec<&std::path::Path> = args.consumer_config.iter().map(|p| p.as_path()).collect();
    let mut settings = ClientSettings::gather(&args.connect, &files, &args.consumer_property)?;
    consumer_properties(&args, &mut settings.properties)?;
    let grouped = settings
        .properties
        .get("group.id")
        .is_some_and(|g| !g.trim().is_empty());
    let config = settings.client_config(Role::Consumer)?;
    let mut consumer = Consumer::new(&settings.bootstrap, config)
        .await
        .map_err(|e| error_text(&e))?;
    let started = Instant::now();
    let idle_limit = args.timeout_ms.map(Duration::from_millis);
    let mut interrupt = Interrupt::install();

    // Assignment.
    match args.partition {
        Some(p) => {
            consumer
                .assign(vec![(args.topic.clone(), p)])
                .await
                .map_err(|e| error_text(&e))?;
            if let Some(at) = start_at {
                let offset = match at {
                    StartAt::Offset(o) => o,
                    StartAt::Earliest | StartAt::Latest => {
                        let settings = ClientSettings {
                            bootstrap: settings.bootstrap.clone(),
                            properties: BTreeMap::new(),
                        };
                        let admin = settings.admin().await?;
                        let spec = if at == StartAt::Earliest {
                            OffsetSpec::Earliest
                        } else {
                            OffsetSpec::Latest
                        };
                        admin
                            .list_offsets(&args.topic, p, spec)
                            .await
                            .map_err(|e| error_text(&e))?
                            .0
                    }
                };
                consumer.seek(&args.topic, p, offset);
            }
        }
        None if grouped => consumer.subscribe(std::slice::from_ref(&args.topic)),
        None => {
            let cluster = Cluster::new(&settings.bootstrap, "kafkalab-console-consumer-metadata");
            let mut warned = false;
            let partitions = loop {
                match cluster.refresh(std::slice::from_ref(&args.topic)).await {
                    Ok(md) => match md.topics.get(&args.topic) {
                        Some(t) if t.error_code == 0 && !t.partitions.is_empty() => {
                            break t.partitions.iter().map(|p| p.partition).collect::<Vec<_>>()
                        }
                        _ => {}
                    },
                    Err(e) => return Err(error_text(&e)),
                }
                if !warned {
                    eprintln!(
                        "WARN topic '{}' does not exist (yet); waiting for it",
                        args.topic
                    );
                    warned = true;
                }
                if idle_limit.is_some_and(|l| started.elapsed() >= l) {
                    eprintln!("Processed a total of 0 messages");
                    return Ok(());
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = interrupt.wait() => {
                        eprintln!("Processed a total of 0 messages");
                        return Ok(());
                    }
                }
            };
            consumer
                .assign(
                    partitions
                        .into_iter()
                        .map(|p| (args.topic.clone(), p))
                        .collect(),
                )
                .await
                .map_err(|e| error_text(&e))?;
        }
    }

    let mut printed: u64 = 0;
    let mut last_record = Instant::now();
    let mut out = Vec::with_capacity(64 * 1024);
    let stdout = std::io::stdout();
    let mut result: ToolResult = Ok(());
    loop {
        let wait = match idle_limit {
            Some(limit) => {
                let left = limit.saturating_sub(last_record.elapsed());
                if left.is_zero() {
                    break;
                }
                left.min(Duration::from_secs(1))
            }
            None => Duration::from_secs(1),
        };
        let records = tokio::select! {
            r = consumer.poll(wait) => match r {
                Ok(r) => r,
                Err(e) => {
                    result = Err(error_text(&e));
                    break;
                }
            },
            _ = interrupt.wait() => break,
        };
        if records.is_empty() {
            continue;
        }
        last_record = Instant::now();
        out.clear();
        let mut unprinted: Option<usize> = None;
        for (i, r) in records.iter().enumerate() {
            if args.max_messages.is_some_and(|m| printed >= m) {
                unprinted = Some(i);
                break;
            }
            format.write(r, &mut out);
            printed += 1;
        }
        let mut lock = stdout.lock();
        if lock.write_all(&out).and_then(|()| lock.flush()).is_err() {
            // A closed pipe (`| head`): stop quietly.
            break;
        }
        drop(lock);
        if let Some(i) = unprinted {
            // Rewind the partitions whose records were not printed, so that a group
            // commits only what was consumed.
            let mut first: BTreeMap<(&str, i32), i64> = BTreeMap::new();
            for r in &records[i..] {
                first.entry((&r.topic, r.partition)).or_insert(r.offset);
            }
            for ((t, p), o) in first {
                consumer.seek(t, p, o);
            }
            break;
        }
        if args.max_messages.is_some_and(|m| printed >= m) {
            break;
        }
    }
    if let Err(e) = consumer.close().await {
        if grouped {
            eprintln!("WARN closing the consumer: {}", error_text(&e));
        }
    }
    eprintln!("Processed a total of {printed} messages");
    result
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn record() -> ConsumerRecord {
        ConsumerRecord {
            topic: Arc::from("t"),
            partition: 2,
            offset: 17,
            timestamp_ms: 1_700_000_000_000,
            key: None,
            value: Some(bytes::Bytes::from_static(b"v")),
        }
    }

    fn props(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn formats_like_kafka() {
        let mut out = Vec::new();
        Formatter::default().write(&record(), &mut out);
        assert_eq!(out, b"v\n");
        let f = Formatter::from_properties(&props(&[
            ("print.key", "true"),
            ("print.offset", "true"),
            ("print.partition", "true"),
            ("print.timestamp", "true"),
        ]))
        .expect("ok");
        out.clear();
        f.write(&record(), &mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "CreateTime:1700000000000\tPartition:2\tOffset:17\tnull\tv\n"
        );
        let f = Formatter::from_properties(&props(&[
            ("print.key", "true"),
            ("print.value", "false"),
            ("null.literal", "-"),
        ]))
        .expect("ok");
        out.clear();
        f.write(&record(), &mut out);
        assert_eq!(out, b"-\n");
        assert!(Formatter::from_properties(&props(&[("parse.key", "true")])).is_err());
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("earliest"), Ok(StartAt::Earliest));
        assert_eq!(parse_offset("42"), Ok(StartAt::Offset(42)));
        assert!(parse_offset("-1").is_err());
    }
}
