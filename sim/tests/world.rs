//! The simulated world: its network carries bytes at the link model's pace in virtual
//! time, refuses connections nobody listens for, closes like a socket, and its clock
//! reads virtual time; without a world the same calls use TCP and the system clock.

use std::net::SocketAddr;
use std::time::Duration;

use kafkalab_sim::net::{connect, Listener};
use kafkalab_sim::{clock, LinkModel, World};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

const LINK: LinkModel = LinkModel {
    latency: Duration::from_millis(5),
    bandwidth: Some(1_000_000),
};

#[tokio::test(start_paused = true)]
async fn bytes_arrive_after_the_links_latency_and_transmission_time() {
    let _world = World::new(1_000, LINK).install();
    assert!(kafkalab_sim::simulated());
    let mut listener = Listener::bind(any_port()).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut client = connect(&addr.to_string()).await.expect("connect");
    let (mut server, _peer) = listener.accept().await.expect("accept");
    let start = Instant::now();
    client.write_all(&[7u8; 10_000]).await.expect("write");
    let mut got = vec![0u8; 10_000];
    server.read_exact(&mut got).await.expect("read");
    // 10,000 bytes at 1 MB/s take 10 ms, then 5 ms of latency.
    assert_eq!(start.elapsed(), Duration::from_millis(15));
    assert!(got.iter().all(|&b| b == 7));
    // And back: the other direction has its own link.
    server.write_all(b"pong").await.expect("write back");
    let mut pong = [0u8; 4];
    client.read_exact(&mut pong).await.expect("read back");
    assert_eq!(&pong, b"pong");
}

#[tokio::test(start_paused = true)]
async fn a_closed_end_reads_as_end_of_file_and_refuses_writes() {
    let _world = World::new(0, LinkModel::default()).install();
    let mut listener = Listener::bind(any_port()).await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let client = connect(&addr).await.expect("connect");
    let (server, _) = listener.accept().await.expect("accept");
    drop(client);
    let (mut r, mut w) = server.into_split();
    let mut buf = [0u8; 8];
    assert_eq!(r.read(&mut buf).await.expect("eof"), 0);
    // The first write may be queued before the pump sees the reader is gone; a later
    // one fails as on a reset socket.
    let mut failed = false;
    for _ in 0..3 {
        if w.write_all(b"x").await.is_err() {
            failed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(failed, "writes to a closed peer must fail");
}

#[tokio::test(start_paused = true)]
async fn nothing_listening_means_refused_and_a_port_is_bound_once() {
    let _world = World::new(0, LinkModel::default()).install();
    let e = connect("127.0.0.1:9").await.err().expect("refused");
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
    let listener = Listener::bind(any_port()).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let again = Listener::bind(addr).await.err().expect("in use");
    assert_eq!(again.kind(), std::io::ErrorKind::AddrInUse);
    // A listener that is gone (a crashed broker) frees its port and refuses.
    drop(listener);
    assert_eq!(
        connect(&addr.to_string()).await.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::ConnectionRefused)
    );
    assert!(Listener::bind(addr).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn the_wall_clock_reads_virtual_time() {
    let _world = World::new(1_700_000_000_000, LinkModel::default()).install();
    assert_eq!(clock::now_ms(), 1_700_000_000_000);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(clock::now_ms(), 1_700_000_000_000 + 3_600_000);
}

#[tokio::test]
async fn without_a_world_the_host_is_used() {
    assert!(!kafkalab_sim::simulated());
    let mut listener = Listener::bind(any_port()).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    assert_ne!(addr.port(), 0);
    let mut client = connect(&addr.to_string()).await.expect("tcp connect");
    let (mut server, _) = listener.accept().await.expect("accept");
    client.write_all(b"hi").await.expect("write");
    let mut buf = [0u8; 2];
    server.read_exact(&mut buf).await.expect("read");
    assert_eq!(&buf, b"hi");
    let before = clock::system_ms();
    assert!((clock::now_ms() - before).abs() < 60_000);
}

#[tokio::test(start_paused = true)]
async fn the_guard_uninstalls_the_world() {
    {
        let _world = World::new(0, LinkModel::default()).install();
        assert!(kafkalab_sim::simulated());
    }
    assert!(!kafkalab_sim::simulated());
}

/// Ids and incarnations drawn in a world repeat with its seed and change with another;
/// on the host they come from the operating system.
#[tokio::test(start_paused = true)]
async fn a_worlds_random_choices_follow_its_seed() {
    let draw = |seed: u64| {
        let _world = World::new(0, LinkModel::default()).seeded(seed).install();
        (kafkalab_sim::random::u64(), kafkalab_sim::random::uuid())
    };
    let (a, b, c) = (draw(3), draw(3), draw(4));
    assert_eq!(a, b);
    assert_ne!(a.0, c.0);
    assert_ne!(a.1, c.1);
    assert_eq!(a.1.get_version_num(), 4);
    assert_ne!(kafkalab_sim::random::uuid(), kafkalab_sim::random::uuid());
}
