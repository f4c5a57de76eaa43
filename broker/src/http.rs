//! A minimal HTTP/1.1 endpoint serving `GET /metrics` in the Prometheus text format.
//! Gauges that mirror log state are refreshed at scrape time, so they never drift.
//! With a [`Control`] hook it also serves the fault control endpoint (`/faults...`,
//! see [`crate::faults::control`]).

use std::sync::Arc;

use prometheus::proto::MetricFamily;
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Called before each scrape to fill gauges from live state.
pub type Refresh = Arc<dyn Fn() + Send + Sync>;

/// More metric families gathered at scrape time (e.g. the nodes of a cluster, whose
/// registries change when a node restarts).
pub type Gather = Arc<dyn Fn() -> Vec<MetricFamily> + Send + Sync>;

/// A control request's answer: (HTTP status code, JSON or text body).
pub type ControlFuture = std::pin::Pin<Box<dyn std::future::Future<Output = (u16, String)> + Send>>;

/// Handles `/faults...` requests: called with the method and the target (path and
/// query).
pub type Control = Arc<dyn Fn(&str, &str) -> ControlFuture + Send + Sync>;

const MAX_REQUEST: usize = 16 * 1024;

pub async fn serve(
    listener: TcpListener,
    registries: Vec<Registry>,
    refresh: Refresh,
    shutdown: watch::Receiver<bool>,
) {
    serve_with(listener, registries, refresh, None, None, shutdown).await
}

/// [`serve`] plus the families `extra` gathers at each scrape, and `control` for the
/// fault endpoint.
pub async fn serve_with(
    listener: TcpListener,
    registries: Vec<Registry>,
    refresh: Refresh,
    extra: Option<Gather>,
    control: Option<Control>,
    mut shutdown: watch::Receiver<bool>,
) {
    let registries = Arc::new(registries);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let registries = registries.clone();
                let refresh = refresh.clone();
                let extra = extra.clone();
                let control = control.clone();
                tokio::spawn(async move {
                    if let Err(e) = respond(stream, &registries, &refresh, extra.as_ref(), control.as_ref()).await {
                        tracing::debug!("metrics request failed: {e}");
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
    }
}

async fn respond(
    mut stream: TcpStream,
    registries: &[Registry],
    refresh: &Refresh,
    extra: Option<&Gather>,
    control: Option<&Control>,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() + n > MAX_REQUEST {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let path = words.next().unwrap_or("").to_string();
    let path = path.as_str();
    let faults_path =
        path == "/faults" || path.starts_with("/faults/") || path.starts_with("/faults?");
    let (status, content_type, body) = if let (true, Some(control)) = (faults_path, control) {
        let (code, body) = control(&method, path).await;
        let status = match code {
            200 => "200 OK",
            404 => "404 Not Found",
            405 => "405 Method Not Allowed",
            409 => "409 Conflict",
            _ => "400 Bad Request",
        };
        let kind = if body.starts_with('{') {
            "application/json"
        } else {
            "text/plain"
        };
        (status, kind.to_string(), body.into_bytes())
    } else if path == "/metrics" || path.starts_with("/metrics?") {
        refresh();
        let gathered = registries
            .iter()
            .flat_map(|r| r.gather())
            .chain(extra.map(|g| g()).unwrap_or_default());
        let families = merge(gathered);
        let mut out = Vec::new();
        let encoder = TextEncoder::new();
        match encoder.encode(&families, &mut out) {
            Ok(()) => ("200 OK", encoder.format_type().to_string(), out),
            Err(e) => (
                "500 Internal Server Error",
                "text/plain".into(),
                e.to_string().into_bytes(),
            ),
        }
    } else {
        (
            "404 Not Found",
            "text/plain".into(),
            b"try /metrics\n".to_vec(),
        )
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    stream.shutdown().await
}

/// One family per metric name, as the text format requires: the nodes of a cluster
/// register the same metrics, told apart by their `node` label.
pub fn merge(families: impl IntoIterator<Item = MetricFamily>) -> Vec<MetricFamily> {
    let mut out: Vec<MetricFamily> = Vec::new();
    for mut f in families {
        match out.iter_mut().find(|g| g.name() == f.name()) {
            Some(g) => g.mut_metric().append(f.mut_metric()),
            None => out.push(f),
        }
    }
    out
}
