//! Connecting and listening: TCP on the host, the in-memory network in a simulation
//! (see the crate's documentation for how the choice is made).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{tcp, TcpListener, TcpStream};

use crate::mem::{MemListener, MemRead, MemStream, MemWrite};

/// A connection.
pub enum Stream {
    Tcp(TcpStream),
    Mem(MemStream),
}

/// The reading half of a [`Stream`].
pub enum ReadHalf {
    Tcp(tcp::OwnedReadHalf),
    Mem(MemRead),
}

/// The writing half of a [`Stream`].
pub enum WriteHalf {
    Tcp(tcp::OwnedWriteHalf),
    Mem(MemWrite),
}

/// Connects to `addr` ("host:port").
pub async fn connect(addr: &str) -> io::Result<Stream> {
    if let Some(r) = crate::with_world(|w| w.net.connect(port_of(addr)?)) {
        return r.map(Stream::Mem);
    }
    let s = TcpStream::connect(addr).await?;
    // Kafka requests are small and latency matters (as Kafka's clients and brokers set).
    let _ = s.set_nodelay(true);
    Ok(Stream::Tcp(s))
}

/// The port of "host:port" (the simulated network knows only ports: every node is on
/// one host).
fn port_of(addr: &str) -> io::Result<u16> {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("'{addr}' is not host:port"),
            )
        })
}

impl Stream {
    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        match self {
            Stream::Tcp(s) => {
                let (r, w) = s.into_split();
                (ReadHalf::Tcp(r), WriteHalf::Tcp(w))
            }
            Stream::Mem(s) => {
                let (r, w) = s.into_split();
                (ReadHalf::Mem(r), WriteHalf::Mem(w))
            }
        }
    }
}

/// A listening socket.
pub enum Listener {
    Tcp(TcpListener),
    Mem(MemListener),
}

impl Listener {
    /// Binds `addr` (port 0: any free port).
    pub async fn bind(addr: SocketAddr) -> io::Result<Listener> {
        if let Some(r) = crate::with_world(|w| w.net.bind(addr)) {
            return r.map(Listener::Mem);
        }
        TcpListener::bind(addr).await.map(Listener::Tcp)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr(),
            Listener::Mem(l) => Ok(l.local_addr()),
        }
    }

    /// The next connection and its peer's address.
    pub async fn accept(&mut self) -> io::Result<(Stream, SocketAddr)> {
        match self {
            Listener::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok((Stream::Tcp(s), peer))
            }
            Listener::Mem(l) => {
                let (s, peer) = l.accept().await?;
                Ok((Stream::Mem(s), peer))
            }
        }
    }
}

/// Implements AsyncRead / AsyncWrite for an enum by delegating to its variant.
macro_rules! delegate_io {
    ($ty:ident, read) => {
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $ty::Tcp(s) => Pin::new(s).poll_read(cx, buf),
                    $ty::Mem(s) => Pin::new(s).poll_read(cx, buf),
                }
            }
        }
    };
    ($ty:ident, write) => {
        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $ty::Tcp(s) => Pin::new(s).poll_write(cx, buf),
                    $ty::Mem(s) => Pin::new(s).poll_write(cx, buf),
                }
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $ty::Tcp(s) => Pin::new(s).poll_flush(cx),
                    $ty::Mem(s) => Pin::new(s).poll_flush(cx),
                }
            }
            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $ty::Tcp(s) => Pin::new(s).poll_shutdown(cx),
                    $ty::Mem(s) => Pin::new(s).poll_shutdown(cx),
                }
            }
        }
    };
}

delegate_io!(Stream, read);
delegate_io!(Stream, write);
delegate_io!(ReadHalf, read);
delegate_io!(WriteHalf, write);
