//! The controller listener's wire format: each message is a 4-byte big-endian length
//! and a JSON document ([`Message`]); every request gets exactly one answer on the same
//! connection. JSON keeps it readable in a packet capture and needs no schema tooling;
//! the images are small (a lab cluster's metadata).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::raft::Tag;
use super::store::StoredImage;
use crate::cluster::command::{Command, Reply};
use crate::cluster::metadata::MetadataError;
use crate::replication::BrokerId;

/// Largest frame accepted (a metadata image with many topics and groups fits).
const MAX_FRAME: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad frame: {0}")]
    Frame(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Message {
    // Between voters.
    VoteRequest {
        term: u64,
        candidate: BrokerId,
        last: Tag,
    },
    VoteReply {
        term: u64,
        granted: bool,
    },
    /// The leader's heartbeat, with its newest image when the voter lacks it.
    Append {
        term: u64,
        leader: BrokerId,
        committed: Option<Tag>,
        image: Option<Box<StoredImage>>,
    },
    AppendReply {
        term: u64,
        stored: Tag,
    },
    // From a node's broker to the active controller.
    Submit {
        command: Command,
    },
    Submitted {
        result: Result<Reply, MetadataError>,
        /// The committed image that holds the change (none when nothing changed):
        /// the sender waits for its node's copy to reach it (read-your-writes).
        at: Option<Tag>,
    },
    /// Broker liveness (Kafka's BrokerHeartbeat); registers the broker when needed.
    Heartbeat {
        node: BrokerId,
        host: String,
        port: u16,
        incarnation: u64,
    },
    HeartbeatOk,
    /// Sent to a non-leader: who leads, if known.
    NotLeader {
        leader: Option<BrokerId>,
    },
}

pub async fn write<W: AsyncWrite + Unpin>(w: &mut W, m: &Message) -> Result<(), TransportError> {
    let body = serde_json::to_vec(m).map_err(|e| TransportError::Frame(e.to_string()))?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&l| l as usize <= MAX_FRAME)
        .ok_or_else(|| TransportError::Frame(format!("{} bytes is too large", body.len())))?;
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&body);
    w.write_all(&buf).await?;
    Ok(())
}

pub async fn read<R: AsyncRead + Unpin>(r: &mut R) -> Result<Message, TransportError> {
    let len = r.read_u32().await? as usize;
    if len > MAX_FRAME {
        return Err(TransportError::Frame(format!("{len} bytes is too large")));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    serde_json::from_slice(&body).map_err(|e| TransportError::Frame(e.to_string()))
}

/// Sends `m` and waits up to `limit` for the answer.
pub async fn call<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    m: &Message,
    limit: Duration,
) -> Result<Message, TransportError> {
    tokio::time::timeout(limit, async {
        write(s, m).await?;
        read(s).await
    })
    .await
    .map_err(|_| TransportError::Timeout(limit))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_garbage_is_refused() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let m = Message::VoteRequest {
            term: 3,
            candidate: 1,
            last: Tag {
                term: 2,
                version: 8,
            },
        };
        write(&mut a, &m).await.expect("write");
        match read(&mut b).await.expect("read") {
            Message::VoteRequest {
                term,
                candidate,
                last,
            } => {
                assert_eq!((term, candidate, last.version), (3, 1, 8))
            }
            other => panic!("unexpected {other:?}"),
        }
        a.write_all(&[0, 0, 0, 3, b'{', b'x', b'}'])
            .await
            .expect("write");
        assert!(matches!(read(&mut b).await, Err(TransportError::Frame(_))));
        a.write_all(&u32::MAX.to_be_bytes()).await.expect("write");
        assert!(matches!(read(&mut b).await, Err(TransportError::Frame(_))));
    }
}
