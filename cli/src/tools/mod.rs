//! The Kafka CLI tools on kafkalab's native client: `topics`, `produce`, `consume`,
//! `groups` and `perf`. They speak the Kafka protocol only, so they work against any
//! Kafka cluster, and take the flags of the Apache Kafka tools they mirror
//! (`kafka-topics.sh`, `kafka-console-producer.sh`, `kafka-console-consumer.sh`,
//! `kafka-consumer-groups.sh`, `kafka-producer-perf-test.sh`,
//! `kafka-consumer-perf-test.sh`).
//!
//! This module holds what the tools share: the connection flags, client properties
//! (`--producer-property k=v`, `--consumer-property k=v`, `--command-config file`,
//! parsed in one place), the async runtime, and how errors are printed.

pub mod consume;
pub mod groups;
pub mod perf;
pub mod produce;
pub mod topics;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use kafkalab_broker::config::properties;
use kafkalab_loadgen::client::admin::Admin;
use kafkalab_loadgen::client::{ClientConfig, ClientError, Role};

/// The bootstrap address when neither `--bootstrap-server` nor a config file gives one.
pub const DEFAULT_BOOTSTRAP: &str = "127.0.0.1:9092";

/// Where to connect and the `--command-config` file: flattened into every tool.
#[derive(Args, Debug, Clone)]
pub struct ConnectArgs {
    /// The Kafka server(s) to connect to, host:port[,host:port...] [default: 127.0.0.1:9092,
    /// or bootstrap.servers from a config file].
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT")]
    pub bootstrap_server: Option<String>,
    /// A properties file with client settings (Kafka property names, `key=value` lines).
    #[arg(long = "command-config", value_name = "FILE")]
    pub command_config: Option<PathBuf>,
}

/// A tool's failure: the text printed on stderr (the exit status is 1).
pub type ToolResult = Result<(), String>;

/// Parses `key=value` (clap value parser for every `--*-property`, `--property` and
/// `--config` flag).
pub fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected key=value, got '{s}'")),
    }
}

/// Reads a Java `.properties` file with the broker's parser (Java's rules; a bad escape
/// is reported as `file:line:col`).
pub fn load_properties(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    properties::parse_map(&path.display().to_string(), &text).map_err(|e| e.to_string())
}

/// Client settings gathered from config files (in order) then `key=value` flags (later
/// wins, as in Kafka's tools), with the bootstrap address resolved: the flag, else
/// `bootstrap.servers` from the settings, else [`DEFAULT_BOOTSTRAP`].
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub bootstrap: String,
    /// Everything but `bootstrap.servers`.
    pub properties: BTreeMap<String, String>,
}

impl ClientSettings {
    pub fn gather(
        connect: &ConnectArgs,
        extra_files: &[&Path],
        properties: &[(String, String)],
    ) -> Result<ClientSettings, String> {
        let mut map = BTreeMap::new();
        for file in connect
            .command_config
            .iter()
            .map(PathBuf::as_path)
            .chain(extra_files.iter().copied())
        {
            map.extend(load_properties(file)?);
        }
        map.extend(properties.iter().cloned());
        let from_props = map.remove("bootstrap.servers");
        let bootstrap = connect
            .bootstrap_server
            .clone()
            .or(from_props)
            .unwrap_or_else(|| DEFAULT_BOOTSTRAP.to_string());
        if bootstrap.trim().is_empty() {
            return Err("--bootstrap-server: empty address".into());
        }
        Ok(ClientSettings {
            bootstrap,
            properties: map,
        })
    }

    /// A producer or consumer config; unknown keys are an error naming the closest one.
    pub fn client_config(&self, role: Role) -> Result<ClientConfig, String> {
        ClientConfig::new(role, &self.properties).map_err(|e| e.to_string())
    }

    /// An admin client. It understands `client.id`, `request.timeout.ms` and
    /// `default.api.timeout.ms`; any other key is an error (a security setting this
    /// client cannot honour must not be silently dropped).
    pub async fn admin(&self) -> Result<Admin, String> {
        const KNOWN: &[&str] = &["client.id", "request.timeout.ms", "default.api.timeout.ms"];
        for key in self.properties.keys() {
            if !KNOWN.contains(&key.as_str()) {
                return Err(format!(
                    "unknown admin property '{key}'; the native admin client supports {}",
                    KNOWN.join(", ")
                ));
            }
        }
        let client_id = self
            .properties
            .get("client.id")
            .map_or("kafkalab-admin", String::as_str);
        let mut admin = Admin::with_client_id(&self.bootstrap, client_id)
            .await
            .map_err(|e| error_text(&e))?;
        for key in ["request.timeout.ms", "default.api.timeout.ms"] {
            if let Some(v) = self.properties.get(key) {
                let ms: u64 = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("{key}: expected an integer, got '{v}'"))?;
                admin.timeout = Duration::from_millis(ms);
            }
        }
        Ok(admin)
    }
}

/// A client error as the tools print it: Kafka errors by their protocol name
/// (`TOPIC_ALREADY_EXISTS (36): Topic 't' already exists.`).
pub fn error_text(e: &ClientError) -> String {
    match e {
        ClientError::Kafka { code, message, .. } => {
            let name = e.kafka_error_name().unwrap_or_default();
            match message {
                Some(m) if !m.is_empty() => format!("{name} ({code}): {m}"),
                _ => format!("{name} ({code})"),
            }
        }
        other => other.to_string(),
    }
}

/// Runs a tool's async body on a fresh runtime; prints its error and returns the exit
/// status (0 success, 1 failure).
pub fn block_on<F>(body: F) -> u8
where
    F: Future<Output = ToolResult>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kafkalab: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(body) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// Ctrl-C handling of the console tools: the first Ctrl-C asks the tool to stop
/// gracefully (flush, commit, leave the group), a second one exits at once (status
/// 130). Must be called inside the runtime.
#[derive(Clone)]
pub struct Interrupt(tokio::sync::watch::Receiver<bool>);

impl Interrupt {
    pub fn install() -> Interrupt {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_err() {
                // No signal handling: never report an interrupt.
                std::future::pending::<()>().await;
            }
            let _ = tx.send(true);
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted twice: exiting without waiting");
                std::process::exit(130);
            }
        });
        Interrupt(rx)
    }

    /// Resolves once Ctrl-C was pressed (at once if it already was).
    pub async fn wait(&mut self) {
        if self.0.wait_for(|v| *v).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Formats rows as left-aligned columns separated by a space (the last column is not
/// padded), as Kafka's tools print tables.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        let cells: Vec<&str> = cells.collect();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                let pad = widths[i].saturating_sub(c.chars().count());
                s.push_str(c);
                s.push_str(&" ".repeat(pad + 1));
            }
        }
        s
    };
    let mut out = line(&mut header.iter().copied());
    out.push('\n');
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values() {
        assert_eq!(
            parse_kv("acks=all").ok(),
            Some(("acks".to_string(), "all".to_string()))
        );
        assert_eq!(
            parse_kv("key.separator==").ok(),
            Some(("key.separator".to_string(), "=".to_string()))
        );
        assert!(parse_kv("acks").is_err());
        assert!(parse_kv("=x").is_err());
    }

    #[test]
    fn command_config_errors_name_file_line_col() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("client.properties");
        std::fs::write(&path, "acks=all\nclient.id=\\\n  a\\u12\n").expect("write");
        let connect = ConnectArgs {
            bootstrap_server: None,
            command_config: Some(path.clone()),
        };
        let err = ClientSettings::gather(&connect, &[], &[]).expect_err("bad escape");
        assert_eq!(
            err,
            format!("{}:3:4: malformed \\uxxxx escape '\\u12'", path.display())
        );
        std::fs::write(&path, "acks all\nclient.id=\\\n  a\\u0062\n").expect("write");
        let s = ClientSettings::gather(&connect, &[], &[]).expect("parses");
        assert_eq!(s.properties["acks"], "all");
        assert_eq!(s.properties["client.id"], "ab");
    }

    #[test]
    fn settings_precedence() {
        let connect = ConnectArgs {
            bootstrap_server: None,
            command_config: None,
        };
        let s =
            ClientSettings::gather(&connect, &[], &[("bootstrap.servers".into(), "k:1".into())])
                .expect("ok");
        assert_eq!(s.bootstrap, "k:1");
        assert!(s.properties.is_empty());
        let s = ClientSettings::gather(&connect, &[], &[]).expect("ok");
        assert_eq!(s.bootstrap, DEFAULT_BOOTSTRAP);
        let flag = ConnectArgs {
            bootstrap_server: Some("f:2".into()),
            command_config: None,
        };
        let s = ClientSettings::gather(
            &flag,
            &[],
            &[
                ("bootstrap.servers".into(), "k:1".into()),
                ("acks".into(), "1".into()),
            ],
        )
        .expect("ok");
        assert_eq!(s.bootstrap, "f:2");
        assert!(s.client_config(Role::Producer).is_ok());
        assert!(s.client_config(Role::Consumer).is_err());
    }

    #[test]
    fn error_names() {
        assert_eq!(
            kafkalab_loadgen::client::error::upper_snake("TopicAlreadyExists"),
            "TOPIC_ALREADY_EXISTS"
        );
        let e = ClientError::kafka(36, Some("Topic 't' already exists.".into()));
        assert_eq!(
            error_text(&e),
            "TOPIC_ALREADY_EXISTS (36): Topic 't' already exists."
        );
        assert_eq!(
            error_text(&ClientError::kafka(69, None)),
            "GROUP_ID_NOT_FOUND (69)"
        );
    }

    #[test]
    fn tables() {
        let t = table(
            &["A", "BB", "C"],
            &[vec!["xxx".into(), "y".into(), "z".into()]],
        );
        assert_eq!(t, "A   BB C\nxxx y  z\n");
    }
}
