//! `kafkalab produce`: a console producer, as `kafka-console-producer.sh`: one record
//! per stdin line, optionally `key<separator>value` (and headers), flushed at EOF.
//! Prints nothing on success; delivery errors go to stderr and make the exit status 1.
//!
//! ```text
//! $ printf 'k1:hello\nk2:world\n' | kafkalab produce --topic orders \
//!     --property parse.key=true --property key.separator=: --producer-property acks=all
//! ```

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use kafkalab_loadgen::client::producer::{Producer, ProducerRecord};
use kafkalab_loadgen::client::Role;
use tokio::sync::mpsc;

use super::{error_text, parse_kv, ClientSettings, ConnectArgs, Interrupt, ToolResult};

#[derive(Args, Debug)]
pub struct ProduceArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The topic to produce to.
    #[arg(long)]
    topic: String,
    /// Line reader setting (repeatable): parse.key, key.separator (default TAB),
    /// parse.headers, headers.delimiter (TAB), headers.separator (,),
    /// headers.key.separator (:), null.marker, ignore.error.
    #[arg(long = "property", value_name = "KEY=VALUE", value_parser = parse_kv)]
    property: Vec<(String, String)>,
    /// A producer setting (Kafka property name), e.g. acks=all (repeatable).
    #[arg(long = "producer-property", value_name = "KEY=VALUE", value_parser = parse_kv)]
    producer_property: Vec<(String, String)>,
    /// A producer properties file.
    #[arg(long = "producer.config", value_name = "FILE")]
    producer_config: Option<PathBuf>,
    /// Wait for each record's acknowledgement before reading the next line.
    #[arg(long)]
    sync: bool,
}

/// How a line becomes a record (Kafka's `LineMessageReader` settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFormat {
    pub parse_key: bool,
    pub key_separator: Vec<u8>,
    pub parse_headers: bool,
    pub headers_delimiter: Vec<u8>,
    pub headers_separator: Vec<u8>,
    pub headers_key_separator: Vec<u8>,
    pub null_marker: Option<Vec<u8>>,
    pub ignore_error: bool,
}

impl Default for LineFormat {
    fn default() -> Self {
        LineFormat {
            parse_key: false,
            key_separator: b"\t".to_vec(),
            parse_headers: false,
            headers_delimiter: b"\t".to_vec(),
            headers_separator: b",".to_vec(),
            headers_key_separator: b":".to_vec(),
            null_marker: None,
            ignore_error: false,
        }
    }
}

fn parse_bool(key: &str, v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!(
            "--property {key}: expected true or false, got '{v}'"
        )),
    }
}

impl LineFormat {
    pub fn from_properties(props: &[(String, String)]) -> Result<LineFormat, String> {
        let mut f = LineFormat::default();
        for (k, v) in props {
            let nonempty = |v: &str| -> Result<Vec<u8>, String> {
                if v.is_empty() {
                    Err(format!("--property {k}: must not be empty"))
                } else {
                    Ok(v.as_bytes().to_vec())
                }
            };
            match k.as_str() {
                "parse.key" => f.parse_key = parse_bool(k, v)?,
                "key.separator" => f.key_separator = nonempty(v)?,
                "parse.headers" => f.parse_headers = parse_bool(k, v)?,
                "headers.delimiter" => f.headers_delimiter = nonempty(v)?,
                "headers.separator" => f.headers_separator = nonempty(v)?,
                "headers.key.separator" => f.headers_key_separator = nonempty(v)?,
                "null.marker" => f.null_marker = Some(nonempty(v)?),
                "ignore.error" => f.ignore_error = parse_bool(k, v)?,
                other => {
                    return Err(format!(
                        "unknown --property '{other}'; expected parse.key, key.separator, parse.headers, headers.delimiter, headers.separator, headers.key.separator, null.marker or ignore.error"
                    ))
                }
            }
        }
        Ok(f)
    }

    fn nullable(&self, b: &[u8]) -> Option<Bytes> {
        match &self.null_marker {
            Some(m) if m.as_slice() == b => None,
            _ => Some(Bytes::copy_from_slice(b)),
        }
    }

    /// Turns one line (without its terminator) into (key, value, headers).
    /// `line_no` counts from 1, for error messages.
    #[allow(clippy::type_complexity)]
    pub fn parse(
        &self,
        line: &[u8],
        line_no: u64,
    ) -> Result<(Option<Bytes>, Option<Bytes>, Vec<(String, Bytes)>), String> {
        let mut rest = line;
        let mut headers = Vec::new();
        if self.parse_headers {
            match find(rest, &self.headers_delimiter) {
                Some(i) => {
                    let h = &rest[..i];
                    rest = &rest[i + self.headers_delimiter.len()..];
                    if !h.is_empty() {
                        for pair in split(h, &self.headers_separator) {
                            let (k, v) = match find(pair, &self.headers_key_separator) {
                                Some(j) => (
                                    &pair[..j],
                                    self.nullable(&pair[j + self.headers_key_separator.len()..]),
                                ),
                                None if self.ignore_error => (pair, None),
                                None => {
                                    return Err(format!(
                                        "No header key separator found in pair '{}' on line number {line_no}",
                                        String::from_utf8_lossy(pair)
                                    ))
                                }
                            };
                            headers.push((
                                String::from_utf8_lossy(k).into_owned(),
                                v.unwrap_or_default(),
                            ));
                        }
                    }
                }
                None if self.ignore_error => {}
                None => {
                    return Err(format!(
                        "No headers delimiter found on line number {line_no}: '{}'",
                        String::from_utf8_lossy(line)
                    ))
                }
            }
        }
        if self.parse_key {
            match find(rest, &self.key_separator) {
                Some(i) => Ok((
                    self.nullable(&rest[..i]),
                    self.nullable(&rest[i + self.key_separator.len()..]),
                    headers,
                )),
                None if self.ignore_error => Ok((None, self.nullable(rest), headers)),
                None => Err(format!(
                    "No key separator found on line number {line_no}: '{}'",
                    String::from_utf8_lossy(line)
                )),
            }
        } else {
            Ok((None, self.nullable(rest), headers))
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut hay: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while let Some(i) = find(hay, sep) {
        out.push(&hay[..i]);
        hay = &hay[i + sep.len()..];
    }
    out.push(hay);
    out
}

/// Reads stdin on a thread of its own (a blocking read never holds up the runtime),
/// one line (with its terminator) per message; the channel closes at EOF.
fn stdin_lines() -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(1024);
    std::thread::spawn(move || {
        let mut input = std::io::stdin().lock();
        loop {
            let mut buf = Vec::with_capacity(256);
            match input.read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) => {
                    if tx.blocking_send(Ok(buf)).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    rx
}

pub fn main(args: ProduceArgs) -> u8 {
    super::block_on(run(args))
}

async fn run(args: ProduceArgs) -> ToolResult {
    let format = LineFormat::from_properties(&args.property)?;
    let files: Vec<&std::path::Path> = args.producer_config.iter().map(|p| p.as_path()).collect();
    let settings = ClientSettings::gather(&args.connect, &files, &args.producer_property)?;
    let config = settings.client_config(Role::Producer)?;
    let producer = Producer::new(&settings.bootstrap, config)
        .await
        .map_err(|e| error_text(&e))?;
    let topic: Arc<str> = Arc::from(args.topic.as_str());
    let failed = Arc::new(AtomicU64::new(0));
    let mut lines = stdin_lines();
    let mut line_no = 0u64;
    let mut result = Ok(());
    let mut interrupt = Interrupt::install();
    loop {
        let buf = tokio::select! {
            l = lines.recv() => match l {
                Some(Ok(buf)) => buf,
                Some(Err(e)) => {
                    result = Err(format!("cannot read stdin: {e}"));
                    break;
                }
                None => break,
            },
            _ = interrupt.wait() => break,
        };
        line_no += 1;
        let mut line: &[u8] = &buf;
        if let Some(l) = line.strip_suffix(b"\n") {
            line = l;
        }
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        let (key, value, headers) = match format.parse(line, line_no) {
            Ok(r) => r,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        let key_len = key.as_ref().map_or(0, Bytes::len);
        let value_len = value.as_ref().map_or(0, Bytes::len);
        let record = ProducerRecord {
            topic: topic.clone(),
            partition: None,
            key,
            value,
            timestamp_ms: None,
            headers,
        };
        let t = topic.clone();
        let report = move |e: &kafkalab_loadgen::client::ClientError| {
            eprintln!(
                "Error when sending message to topic {t} with key: {key_len} bytes, value: {value_len} bytes with error: {}",
                error_text(e)
            );
        };
        if args.sync {
            let sent = tokio::select! {
                r = async { producer.send(record).await?.await } => r,
                _ = interrupt.wait() => break,
            };
            if let Err(e) = sent {
                report(&e);
                failed.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            let f = failed.clone();
            let queued = tokio::select! {
                r = producer.send_with(record, move |r| {
                    if let Err(e) = r {
                        report(&e);
                        f.fetch_add(1, Ordering::Relaxed);
                    }
                }) => r,
                _ = interrupt.wait() => break,
            };
            if let Err(e) = queued {
                result = Err(error_text(&e));
                break;
            }
        }
    }
    // Deliver what is queued (a second Ctrl-C exits at once).
    let flushed = producer.flush().await;
    producer.close(Duration::from_secs(5)).await;
    result?;
    flushed.map_err(|e| error_text(&e))?;
    match failed.load(Ordering::Relaxed) {
        0 => Ok(()),
        n => Err(format!("{n} record(s) could not be delivered")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn plain_lines_are_values() {
        let f = LineFormat::default();
        let (k, v, h) = f.parse(b"a\tb", 1).expect("ok");
        assert_eq!(k, None);
        assert_eq!(v.as_deref(), Some(&b"a\tb"[..]));
        assert!(h.is_empty());
    }

    #[test]
    fn keys_and_errors() {
        let f =
            LineFormat::from_properties(&props(&[("parse.key", "true"), ("key.separator", ":")]))
                .expect("ok");
        let (k, v, _) = f.parse(b"k1:v:1", 1).expect("ok");
        assert_eq!(k.as_deref(), Some(&b"k1"[..]));
        assert_eq!(v.as_deref(), Some(&b"v:1"[..]));
        let e = f.parse(b"novalue", 7).expect_err("no separator");
        assert!(e.contains("line number 7"), "{e}");
        let lenient =
            LineFormat::from_properties(&props(&[("parse.key", "true"), ("ignore.error", "true")]))
                .expect("ok");
        let (k, v, _) = lenient.parse(b"novalue", 1).expect("ok");
        assert_eq!((k, v.as_deref()), (None, Some(&b"novalue"[..])));
        assert!(LineFormat::from_properties(&props(&[("print.key", "true")])).is_err());
    }

    #[test]
    fn headers_and_null_marker() {
        let f = LineFormat::from_properties(&props(&[
            ("parse.key", "true"),
            ("parse.headers", "true"),
            ("null.marker", "NULL"),
        ]))
        .expect("ok");
        let (k, v, h) = f.parse(b"h1:x,h2:y\tNULL\tval", 1).expect("ok");
        assert_eq!(k, None);
        assert_eq!(v.as_deref(), Some(&b"val"[..]));
        assert_eq!(
            h,
            vec![
                ("h1".to_string(), Bytes::from_static(b"x")),
                ("h2".to_string(), Bytes::from_static(b"y"))
            ]
        );
    }
}
