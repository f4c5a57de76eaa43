//! The in-memory network of a simulation: listeners by port, connections as two
//! one-way pipes. A write is queued with the time its last byte arrives (the link's
//! bandwidth and latency); a pump task per direction hands it to the reader at that
//! virtual time. Dropping an end closes the pipes as a socket close would: the peer
//! reads end-of-file, and its writes fail with `BrokenPipe`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::link::LinkModel;

/// Bytes a pipe buffers before its reader reads them (a socket's receive buffer).
const PIPE_BUFFER: usize = 4 << 20;
/// Bytes a writer may have queued on the link before its writes wait.
const QUEUE_LIMIT: usize = 4 << 20;
/// Ports handed to `bind(…:0)` and to connecting clients start here.
const FIRST_PORT: u16 = 30_000;

type Accepted = (MemStream, SocketAddr);

pub(crate) struct MemNetwork {
    link: LinkModel,
    listeners: RefCell<HashMap<u16, mpsc::UnboundedSender<Accepted>>>,
    next_port: Cell<u16>,
}

impl MemNetwork {
    pub(crate) fn new(link: LinkModel) -> Self {
        MemNetwork {
            link,
            listeners: RefCell::default(),
            next_port: Cell::new(FIRST_PORT),
        }
    }

    fn fresh_port(&self) -> u16 {
        let p = self.next_port.get();
        self.next_port.set(p.wrapping_add(1).max(FIRST_PORT));
        p
    }

    pub(crate) fn bind(&self, addr: SocketAddr) -> io::Result<MemListener> {
        let mut listeners = self.listeners.borrow_mut();
        let port = if addr.port() == 0 {
            let mut p = self.fresh_port();
            while listeners.get(&p).is_some_and(|t| !t.is_closed()) {
                p = self.fresh_port();
            }
            p
        } else {
            addr.port()
        };
        if listeners.get(&port).is_some_and(|t| !t.is_closed()) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("port {port} is in use in the simulated network"),
            ));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        listeners.insert(port, tx);
        Ok(MemListener {
            rx,
            addr: SocketAddr::new(addr.ip(), port),
        })
    }

    /// Connects to `port`: refused when nothing listens there (or the listener is gone,
    /// as after a crash).
    pub(crate) fn connect(&self, port: u16) -> io::Result<MemStream> {
        let refused = || {
            io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("nothing listens on port {port} in the simulated network"),
            )
        };
        let tx = self
            .listeners
            .borrow()
            .get(&port)
            .cloned()
            .ok_or_else(refused)?;
        let (mine, theirs) = pair(self.link);
        let me = SocketAddr::from((Ipv4Addr::LOCALHOST, self.fresh_port()));
        tx.send((theirs, me)).map_err(|_| refused())?;
        Ok(mine)
    }
}

pub struct MemListener {
    rx: mpsc::UnboundedReceiver<Accepted>,
    addr: SocketAddr,
}

impl MemListener {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub async fn accept(&mut self) -> io::Result<Accepted> {
        self.rx.recv().await.ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotConnected, "the simulated network is gone")
        })
    }
}

/// Two connected ends.
fn pair(link: LinkModel) -> (MemStream, MemStream) {
    let (a_read, b_write) = pipe(link);
    let (b_read, a_write) = pipe(link);
    (
        MemStream {
            read: a_read,
            write: a_write,
        },
        MemStream {
            read: b_read,
            write: b_write,
        },
    )
}

/// One direction: what `MemWrite` writes, `MemRead` reads after the link's delay.
fn pipe(link: LinkModel) -> (MemRead, MemWrite) {
    // A duplex pair used one way: unlike a simplex pipe, dropping either end closes it
    // (the reader sees end-of-file, the writer `BrokenPipe`), as a socket does.
    let (writer, reader) = tokio::io::duplex(PIPE_BUFFER);
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Mutex::default());
    tokio::spawn(pump(rx, writer, shared.clone()));
    (
        MemRead(reader),
        MemWrite {
            tx,
            shared,
            link,
            link_free_at: None,
        },
    )
}

#[derive(Default)]
struct Shared {
    /// Bytes written and not yet handed to the reader.
    queued: usize,
    /// The writer waiting for the queue to drain.
    waker: Option<Waker>,
    /// The reader is gone: writes fail.
    broken: bool,
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

enum Chunk {
    Data(Instant, Bytes),
    Shutdown,
}

async fn pump(
    mut rx: mpsc::UnboundedReceiver<Chunk>,
    mut out: DuplexStream,
    shared: Arc<Mutex<Shared>>,
) {
    while let Some(chunk) = rx.recv().await {
        match chunk {
            Chunk::Data(at, bytes) => {
                if at > Instant::now() {
                    tokio::time::sleep_until(at).await;
                }
                let ok = out.write_all(&bytes).await.is_ok();
                let mut s = lock(&shared);
                s.queued = s.queued.saturating_sub(bytes.len());
                s.broken |= !ok;
                if let Some(w) = s.waker.take() {
                    w.wake();
                }
                if !ok {
                    return;
                }
            }
            Chunk::Shutdown => {
                let _ = out.shutdown().await;
                return;
            }
        }
    }
}

pub struct MemStream {
    read: MemRead,
    write: MemWrite,
}

impl MemStream {
    pub fn into_split(self) -> (MemRead, MemWrite) {
        (self.read, self.write)
    }
}

pub struct MemRead(DuplexStream);

pub struct MemWrite {
    tx: mpsc::UnboundedSender<Chunk>,
    shared: Arc<Mutex<Shared>>,
    link: LinkModel,
    /// When the link finishes sending what was written before (bandwidth).
    link_free_at: Option<Instant>,
}

impl AsyncRead for MemRead {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for MemWrite {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        {
            let mut s = lock(&this.shared);
            if s.broken {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            if s.queued >= QUEUE_LIMIT {
                s.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            s.queued += buf.len();
        }
        let now = Instant::now();
        let start = this.link_free_at.map_or(now, |t| t.max(now));
        let sent = start + this.link.transmit(buf.len());
        this.link_free_at = Some(sent);
        let chunk = Chunk::Data(sent + this.link.latency, Bytes::copy_from_slice(buf));
        if this.tx.send(chunk).is_err() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = self.tx.send(Chunk::Shutdown);
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for MemStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for MemStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.write).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.write).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.write).poll_shutdown(cx)
    }
}
