//! The line `kafkalab broker` prints on stdout once it serves, and its parser: scripts,
//! tests and benchmarks start the broker on port 0 and learn its addresses from it.
//!
//! `kafkalab broker 1 ready: kafka=127.0.0.1:40123 metrics=http://127.0.0.1:40124/metrics
//! log.dirs=/tmp/x controller=127.0.0.1:40125` (one line; `metrics=off` when the
//! endpoint is disabled; `controller=` only for a controller voter).

use std::fmt;

/// What the ready line tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyLine {
    pub node: i32,
    /// host:port of the Kafka listener.
    pub kafka: String,
    /// host:port of the Prometheus endpoint (`None`: disabled).
    pub metrics: Option<String>,
    pub log_dirs: String,
    /// host:port of the controller quorum listener, on a controller voter.
    pub controller: Option<String>,
}

const PREFIX: &str = "kafkalab broker ";
const READY: &str = " ready: ";

impl fmt::Display for ReadyLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}{}{READY}kafka={} metrics=",
            self.node, self.kafka
        )?;
        match &self.metrics {
            Some(m) => write!(f, "http://{m}/metrics")?,
            None => f.write_str("off")?,
        }
        write!(f, " log.dirs={}", self.log_dirs)?;
        if let Some(c) = &self.controller {
            write!(f, " controller={c}")?;
        }
        Ok(())
    }
}

impl ReadyLine {
    /// The ready line's fields; `None` for any other line.
    pub fn parse(line: &str) -> Option<ReadyLine> {
        let (node, rest) = line.trim_end().strip_prefix(PREFIX)?.split_once(READY)?;
        let node = node.parse().ok()?;
        let (kafka, rest) = rest.strip_prefix("kafka=")?.split_once(" metrics=")?;
        let (metrics, rest) = rest.split_once(" log.dirs=")?;
        let metrics = match metrics {
            "off" => None,
            m => Some(
                m.strip_prefix("http://")?
                    .strip_suffix("/metrics")?
                    .to_string(),
            ),
        };
        // log.dirs may hold spaces: it runs to the controller field, if any.
        let (log_dirs, controller) = match rest.rsplit_once(" controller=") {
            Some((dirs, c)) => (dirs, Some(c.to_string())),
            None => (rest, None),
        };
        Some(ReadyLine {
            node,
            kafka: kafka.to_string(),
            metrics,
            log_dirs: log_dirs.to_string(),
            controller,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_and_parses_both_forms() {
        let single = ReadyLine {
            node: 0,
            kafka: "127.0.0.1:9092".into(),
            metrics: Some("127.0.0.1:9464".into()),
            log_dirs: "/tmp/a dir".into(),
            controller: None,
        };
        let text = single.to_string();
        assert_eq!(
            text,
            "kafkalab broker 0 ready: kafka=127.0.0.1:9092 \
             metrics=http://127.0.0.1:9464/metrics log.dirs=/tmp/a dir"
        );
        assert_eq!(ReadyLine::parse(&text), Some(single));
        let voter = ReadyLine {
            node: 2,
            kafka: "127.0.0.1:1".into(),
            metrics: None,
            log_dirs: "/x".into(),
            controller: Some("127.0.0.1:2".into()),
        };
        let text = voter.to_string();
        assert_eq!(
            text,
            "kafkalab broker 2 ready: kafka=127.0.0.1:1 metrics=off log.dirs=/x \
             controller=127.0.0.1:2"
        );
        assert_eq!(ReadyLine::parse(&format!("{text}\n")), Some(voter));
    }

    #[test]
    fn other_lines_are_not_ready_lines() {
        for line in [
            "",
            "embedded broker: kafka=127.0.0.1:9092",
            "kafkalab broker x ready: kafka=a metrics=off log.dirs=/x",
            "kafkalab broker 1 ready: metrics=off log.dirs=/x",
            "kafkalab broker 1 ready: kafka=a metrics=ftp://b log.dirs=/x",
        ] {
            assert_eq!(ReadyLine::parse(line), None, "{line}");
        }
    }
}
