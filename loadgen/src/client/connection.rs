//! One connection to one broker: negotiates API versions, then carries pipelined
//! requests. A writer task assigns correlation ids and writes frames; a reader task
//! matches responses (Kafka answers in order on a connection) to their waiters.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::{mpsc, oneshot, Notify};

use super::error::ClientError;

/// Highest version this client implements per API (it must also be one the
/// `kafka-protocol` crate encodes). Chosen versions are min(this, broker max).
fn client_max(key: ApiKey) -> i16 {
    match key {
        ApiKey::Produce => 9,
        ApiKey::Fetch => 12,
        ApiKey::ListOffsets => 7,
        ApiKey::Metadata => 12,
        ApiKey::ApiVersions => 3,
        ApiKey::FindCoordinator => 4,
        ApiKey::JoinGroup => 9,
        ApiKey::SyncGroup => 5,
        ApiKey::Heartbeat => 4,
        ApiKey::LeaveGroup => 5,
        ApiKey::OffsetCommit => 8,
        ApiKey::OffsetFetch => 8,
        ApiKey::InitProducerId => 4,
        _ => key.valid_versions().max,
    }
}

struct Pending {
    correlation_id: i32,
    header_version: i16,
    reply: Option<oneshot::Sender<Result<Bytes, ClientError>>>,
}

struct Outgoing {
    frame: BytesMut,
    header_version: i16,
    reply: Option<oneshot::Sender<Result<Bytes, ClientError>>>,
}

/// A connection; cheap to clone (all clones share the socket).
#[derive(Clone)]
pub struct Connection {
    pub addr: String,
    tx: mpsc::Sender<Outgoing>,
    versions: Arc<HashMap<i16, (i16, i16)>>,
    client_id: Arc<str>,
}

impl Connection {
    /// Connects and negotiates versions with ApiVersions (retrying with v0 when the
    /// broker answers UNSUPPORTED_VERSION, as Kafka clients do).
    pub async fn connect(addr: &str, client_id: &str) -> Result<Connection, ClientError> {
        let stream = kafkalab_sim::net::connect(addr)
            .await
            .map_err(|e| ClientError::Connect {
                addr: addr.to_string(),
                message: e.to_string(),
            })?;
        let (r, w) = stream.into_split();
        let (tx, rx) = mpsc::channel::<Outgoing>(1024);
        let inflight: Arc<Mutex<VecDeque<Pending>>> = Arc::default();
        // The reader signals the writer when the socket is gone, so the connection
        // stops reporting itself open and new requests fail at once.
        let read_closed = Arc::new(Notify::new());
        tokio::spawn(write_loop(
            addr.to_string(),
            BufWriter::with_capacity(256 * 1024, w),
            rx,
            inflight.clone(),
            read_closed.clone(),
        ));
        tokio::spawn(read_loop(
            addr.to_string(),
            BufReader::with_capacity(256 * 1024, r),
            inflight,
            read_closed,
        ));
        let mut conn = Connection {
            addr: addr.to_string(),
            tx,
            versions: Arc::new(HashMap::new()),
            client_id: client_id.into(),
        };
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("kafkalab"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut resp: ApiVersionsResponse = conn.send_version(req.clone(), 3).await?;
        if resp.error_code == 35 {
            resp = conn.send_version(req, 0).await?;
        }
        super::error::check(resp.error_code, None)?;
        conn.versions = Arc::new(
            resp.api_keys
                .iter()
                .map(|k| (k.api_key, (k.min_version, k.max_version)))
                .collect(),
        );
        Ok(conn)
    }

    /// The version this connection uses for `key`, if the broker serves one we speak.
    pub fn version(&self, key: ApiKey) -> Option<i16> {
        let (lo, hi) = *self.versions.get(&(key as i16))?;
        let crate_range = key.valid_versions();
        let v = hi.min(client_max(key)).min(crate_range.max);
        (v >= lo.max(crate_range.min)).then_some(v)
    }

    /// Sends a request at the negotiated version and waits for its response.
    pub async fn send<R: Request>(&self, req: R) -> Result<R::Response, ClientError> {
        let key = ApiKey::try_from(R::KEY)
            .map_err(|_| ClientError::Protocol(format!("unknown api key {}", R::KEY)))?;
        let version = self.version(key).ok_or(ClientError::UnsupportedApi {
            addr: self.addr.clone(),
            api: api_name(key),
        })?;
        self.send_version(req, version).await
    }

    /// Sends a request at an explicit version.
    pub async fn send_version<R: Request>(
        &self,
        req: R,
        version: i16,
    ) -> Result<R::Response, ClientError> {
        let (frame, header_version) = self.encode(&req, version)?;
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Outgoing {
                frame,
                header_version,
                reply: Some(reply),
            })
            .await
            .map_err(|_| self.closed("writer stopped"))?;
        let mut body = rx.await.map_err(|_| self.closed("connection dropped"))??;
        <R::Response as Decodable>::decode(&mut body, version)
            .map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// Sends a request that gets no response (Produce with acks=0).
    pub async fn send_no_response<R: Request>(&self, req: R) -> Result<(), ClientError> {
        let key = ApiKey::try_from(R::KEY)
            .map_err(|_| ClientError::Protocol("unknown api key".into()))?;
        let version = self.version(key).ok_or(ClientError::UnsupportedApi {
            addr: self.addr.clone(),
            api: api_name(key),
        })?;
        let (frame, header_version) = self.encode(&req, version)?;
        self.tx
            .send(Outgoing {
                frame,
                header_version,
                reply: None,
            })
            .await
            .map_err(|_| self.closed("writer stopped"))
    }

    /// Whether the connection's tasks are still running.
    pub fn is_open(&self) -> bool {
        !self.tx.is_closed()
    }

    fn closed(&self, message: &str) -> ClientError {
        ClientError::Disconnected {
            addr: self.addr.clone(),
            message: message.to_string(),
        }
    }

    fn encode<R: Request>(&self, req: &R, version: i16) -> Result<(BytesMut, i16), ClientError> {
        let mut frame = BytesMut::with_capacity(64 + req.compute_size(version).unwrap_or(0));
        frame.put_i32(0);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_client_id(Some(StrBytes::from_string(self.client_id.to_string())));
        header
            .encode(&mut frame, R::header_version(version))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        req.encode(&mut frame, version)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok((
            frame,
            <R::Response as HeaderVersion>::header_version(version),
        ))
    }
}

fn api_name(key: ApiKey) -> &'static str {
    match key {
        ApiKey::Produce => "Produce",
        ApiKey::Fetch => "Fetch",
        ApiKey::Metadata => "Metadata",
        ApiKey::ListOffsets => "ListOffsets",
        ApiKey::FindCoordinator => "FindCoordinator",
        ApiKey::JoinGroup => "JoinGroup",
        ApiKey::SyncGroup => "SyncGroup",
        ApiKey::Heartbeat => "Heartbeat",
        ApiKey::LeaveGroup => "LeaveGroup",
        ApiKey::OffsetCommit => "OffsetCommit",
        ApiKey::OffsetFetch => "OffsetFetch",
        ApiKey::InitProducerId => "InitProducerId",
        ApiKey::CreateTopics => "CreateTopics",
        ApiKey::DeleteTopics => "DeleteTopics",
        _ => "an API",
    }
}

async fn write_loop(
    addr: String,
    mut w: BufWriter<kafkalab_sim::net::WriteHalf>,
    mut rx: mpsc::Receiver<Outgoing>,
    inflight: Arc<Mutex<VecDeque<Pending>>>,
    read_closed: Arc<Notify>,
) {
    let mut next_id: i32 = 0;
    loop {
        let first = tokio::select! {
            m = rx.recv() => match m {
                Some(m) => m,
                None => return,
            },
            _ = read_closed.notified() => {
                fail_all(&inflight, &addr, "connection closed by the peer");
                return;
            }
        };
        let mut batch = vec![first];
        // Coalesce whatever else is queued into one write.
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
            if batch.len() >= 64 {
                break;
            }
        }
        for mut out in batch {
            next_id = next_id.wrapping_add(1);
            let len = (out.frame.len() - 4) as i32;
            out.frame[..4].copy_from_slice(&len.to_be_bytes());
            // The correlation id sits right after api key (2) and version (2).
            out.frame[8..12].copy_from_slice(&next_id.to_be_bytes());
            if out.reply.is_some() {
                inflight.lock().push_back(Pending {
                    correlation_id: next_id,
                    header_version: out.header_version,
                    reply: out.reply,
                });
            }
            if let Err(e) = w.write_all(&out.frame).await {
                tracing::debug!(%addr, "write failed: {e}");
                fail_all(&inflight, &addr, &e.to_string());
                return;
            }
        }
        if let Err(e) = w.flush().await {
            tracing::debug!(%addr, "flush failed: {e}");
            fail_all(&inflight, &addr, &e.to_string());
            return;
        }
    }
}

fn fail_all(inflight: &Mutex<VecDeque<Pending>>, addr: &str, message: &str) {
    for p in inflight.lock().drain(..) {
        if let Some(r) = p.reply {
            let _ = r.send(Err(ClientError::Disconnected {
                addr: addr.to_string(),
                message: message.to_string(),
            }));
        }
    }
}

/// Tells the writer that the reader has stopped, however it returns.
struct NotifyOnDrop(Arc<Notify>);

impl Drop for NotifyOnDrop {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

async fn read_loop(
    addr: String,
    mut r: BufReader<kafkalab_sim::net::ReadHalf>,
    inflight: Arc<Mutex<VecDeque<Pending>>>,
    read_closed: Arc<Notify>,
) {
    let _closed = NotifyOnDrop(read_closed);
    loop {
        let len = match r.read_i32().await {
            Ok(n) if n >= 4 => n as usize,
            Ok(n) => {
                fail_all(&inflight, &addr, &format!("bad frame size {n}"));
                return;
            }
            Err(e) => {
                fail_all(&inflight, &addr, &e.to_string());
                return;
            }
        };
        let mut buf = BytesMut::zeroed(len);
        if let Err(e) = r.read_exact(&mut buf).await {
            fail_all(&inflight, &addr, &e.to_string());
            return;
        }
        let mut body = buf.freeze();
        let correlation_id = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        let pending = {
            let mut q = inflight.lock();
            match q.front() {
                Some(p) if p.correlation_id == correlation_id => q.pop_front(),
                _ => None,
            }
        };
        let Some(p) = pending else {
            fail_all(
                &inflight,
                &addr,
                &format!("unexpected correlation id {correlation_id}"),
            );
            return;
        };
        let decoded = ResponseHeader::decode(&mut body, p.header_version).map(|_| body.clone());
        if let Some(reply) = p.reply {
            let _ = reply.send(decoded.map_err(|e| ClientError::Protocol(e.to_string())));
        }
    }
}
