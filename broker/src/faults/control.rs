//! Fault commands, and the HTTP control endpoint's spelling of them:
//!
//! | request | command |
//! |---|---|
//! | `GET /faults` | the current rules as JSON |
//! | `POST /faults/link?from=1&to=0&latency_ms=200&loss=0.1&blocked=false` | set a directed link's rule (fields left out keep their value) |
//! | `POST /faults/link/clear?from=1&to=0` | clear a link's rule |
//! | `POST /faults/partition?groups=0\|1,2` | partition the network |
//! | `POST /faults/heal` | end the partition and clear every link rule and slow disk |
//! | `POST /faults/disk?node=1&latency_ms=50` | slow a node's disk (0 clears) |
//! | `POST /faults/crash?node=1`, `/faults/restart?node=1`, `/faults/pause?node=1&ms=5000` | node faults |
//! | `POST /faults/error?api=produce&error=NOT_LEADER_OR_FOLLOWER&count=3&topic=orders&partition=0&node=1` | answer the next `count` (default 1) requests of `api` (`produce`, `fetch`) with the Kafka error; `topic`, `partition`, `node` optional |

use std::collections::BTreeSet;
use std::time::Duration;

use super::inject::{api_by_name, error_by_name, ErrorRule, InjectError};
use super::link::{parse_groups, LinkError, Node};
use crate::replication::BrokerId;

/// One fault to apply to a cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultCommand {
    Link {
        from: Node,
        to: Node,
        latency: Option<Duration>,
        loss: Option<f64>,
        blocked: Option<bool>,
    },
    ClearLink {
        from: Node,
        to: Node,
    },
    Partition(Vec<BTreeSet<Node>>),
    Heal,
    SlowDisk {
        node: BrokerId,
        latency: Duration,
    },
    Crash {
        node: BrokerId,
    },
    Restart {
        node: BrokerId,
    },
    Pause {
        node: BrokerId,
        duration: Duration,
    },
    /// Answer the next requests a rule matches with a Kafka error.
    InjectError(ErrorRule),
}

/// A control request, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlRequest {
    Show,
    Apply(FaultCommand),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ControlError {
    #[error("not found: {0} (try GET /faults)")]
    NotFound(String),
    #[error("{0} needs POST")]
    NeedsPost(String),
    #[error("missing parameter '{0}'")]
    Missing(&'static str),
    #[error("parameter '{name}': '{value}' is not {expected}")]
    Bad {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    Inject(#[from] InjectError),
}

fn query(target: &str) -> Vec<(&str, &str)> {
    target
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
        .collect()
}

/// Undoes `%XX` escapes (`|` arrives as `%7C` from some clients).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn need(&self, name: &'static str) -> Result<&str, ControlError> {
        self.get(name).ok_or(ControlError::Missing(name))
    }
    fn node(&self, name: &'static str) -> Result<Node, ControlError> {
        Ok(self.need(name)?.parse::<Node>()?)
    }
    fn broker(&self, name: &'static str) -> Result<BrokerId, ControlError> {
        let v = self.need(name)?;
        v.trim()
            .parse::<BrokerId>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or(ControlError::Bad {
                name,
                value: v.to_string(),
                expected: "a broker id",
            })
    }
    fn millis(&self, name: &'static str) -> Result<Option<Duration>, ControlError> {
        self.get(name)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|_| ControlError::Bad {
                        name,
                        value: v.to_string(),
                        expected: "a whole number of milliseconds",
                    })
            })
            .transpose()
    }
    fn parse<T: std::str::FromStr>(
        &self,
        name: &'static str,
        expected: &'static str,
    ) -> Result<Option<T>, ControlError> {
        self.get(name)
            .map(|v| {
                v.trim().parse::<T>().map_err(|_| ControlError::Bad {
                    name,
                    value: v.to_string(),
                    expected,
                })
            })
            .transpose()
    }
}

/// Parses `method` and `target` (path and query) of a control request.
pub fn parse(method: &str, target: &str) -> Result<ControlRequest, ControlError> {
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    let p = Params(
        query(target)
            .into_iter()
            .map(|(k, v)| (unescape(k), unescape(v)))
            .collect(),
    );
    let path = path.trim_end_matches('/');
    if path == "/faults" && method == "GET" {
        return Ok(ControlRequest::Show);
    }
    let cmd = match path {
        "/faults/link" => FaultCommand::Link {
            from: p.node("from")?,
            to: p.node("to")?,
            latency: p.millis("latency_ms")?,
            loss: p.parse("loss", "a probability between 0 and 1")?,
            blocked: p.parse("blocked", "true or false")?,
        },
        "/faults/link/clear" => FaultCommand::ClearLink {
            from: p.node("from")?,
            to: p.node("to")?,
        },
        "/faults/partition" => FaultCommand::Partition(parse_groups(p.need("groups")?)?),
        "/faults/heal" => FaultCommand::Heal,
        "/faults/disk" => FaultCommand::SlowDisk {
            node: p.broker("node")?,
            latency: p
                .millis("latency_ms")?
                .ok_or(ControlError::Missing("latency_ms"))?,
        },
        "/faults/crash" => FaultCommand::Crash {
            node: p.broker("node")?,
        },
        "/faults/restart" => FaultCommand::Restart {
            node: p.broker("node")?,
        },
        "/faults/pause" => FaultCommand::Pause {
            node: p.broker("node")?,
            duration: p.millis("ms")?.ok_or(ControlError::Missing("ms"))?,
        },
        "/faults/error" => FaultCommand::InjectError(ErrorRule {
            api: api_by_name(p.need("api")?)?,
            code: error_by_name(p.need("error")?)?,
            remaining: p.parse("count", "a whole number")?.unwrap_or(1),
            topic: p.get("topic").map(str::to_string),
            partition: p.parse("partition", "a partition number")?,
            node: p.get("node").map(|_| p.broker("node")).transpose()?,
        }),
        other => return Err(ControlError::NotFound(other.to_string())),
    };
    if method != "POST" {
        return Err(ControlError::NeedsPost(path.to_string()));
    }
    Ok(ControlRequest::Apply(cmd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_into_commands() {
        assert_eq!(parse("GET", "/faults"), Ok(ControlRequest::Show));
        assert_eq!(
            parse("POST", "/faults/link?from=1&to=0&latency_ms=200"),
            Ok(ControlRequest::Apply(FaultCommand::Link {
                from: Node::Broker(1),
                to: Node::Broker(0),
                latency: Some(Duration::from_millis(200)),
                loss: None,
                blocked: None,
            }))
        );
        assert_eq!(
            parse("POST", "/faults/partition?groups=0%7C1,2"),
            Ok(ControlRequest::Apply(FaultCommand::Partition(vec![
                [Node::Broker(0)].into(),
                [Node::Broker(1), Node::Broker(2)].into()
            ])))
        );
        assert_eq!(
            parse("POST", "/faults/crash?node=1"),
            Ok(ControlRequest::Apply(FaultCommand::Crash { node: 1 }))
        );
        assert_eq!(
            parse("GET", "/faults/heal"),
            Err(ControlError::NeedsPost("/faults/heal".into()))
        );
        assert_eq!(
            parse("POST", "/faults/crash"),
            Err(ControlError::Missing("node"))
        );
        assert!(matches!(
            parse("POST", "/faults/link?from=x&to=0"),
            Err(ControlError::Link(LinkError::BadNode(_)))
        ));
        assert_eq!(
            parse(
                "POST",
                "/faults/error?api=produce&error=NOT_LEADER_OR_FOLLOWER&count=3&topic=orders&partition=2"
            ),
            Ok(ControlRequest::Apply(FaultCommand::InjectError(ErrorRule {
                api: kafka_protocol::messages::ApiKey::Produce,
                code: crate::protocol::errors::NOT_LEADER_OR_FOLLOWER,
                remaining: 3,
                topic: Some("orders".into()),
                partition: Some(2),
                node: None,
            })))
        );
        assert!(matches!(
            parse("POST", "/faults/error?api=produce&error=NOT_A_LEADER"),
            Err(ControlError::Inject(InjectError::UnknownError(_)))
        ));
        assert!(matches!(
            parse("POST", "/faults/error?api=metadata&error=REQUEST_TIMED_OUT"),
            Err(ControlError::Inject(InjectError::UnknownApi(_)))
        ));
        assert!(matches!(
            parse("POST", "/faults/nope"),
            Err(ControlError::NotFound(_))
        ));
    }
}
