//! The I/O layer with small fake cores: bytes in and out in order, closes
//! both ways, timers, the slow-consumer limit, the connection limit and
//! shutdown. Every wait is bounded.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use mqttkit_broker::{Builder, ConnId, Core, Limits, Millis, Output};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

/// Echoes bytes back; "close" makes it close the connection; "tick" asks
/// for a timer 50 ms later, which writes "tock"; "flood" sends 1 MiB.
#[derive(Default)]
struct Echo {
    out: Vec<Output>,
    timers: BTreeMap<Millis, ConnId>,
    lost: Vec<ConnId>,
}

impl Core for Echo {
    fn connection_opened(&mut self, conn: ConnId, _now: Millis) {
        self.out.push(Output::Send {
            conn,
            bytes: Bytes::from_static(b"hello\n"),
        });
    }
    fn bytes_received(&mut self, conn: ConnId, bytes: &[u8], now: Millis) {
        match bytes {
            b"close" => {
                self.out.push(Output::Send {
                    conn,
                    bytes: Bytes::from_static(b"bye\n"),
                });
                self.out.push(Output::Close { conn });
            }
            b"tick" => {
                self.timers.insert(now + 50, conn);
            }
            b"flood" => {
                for _ in 0..64 {
                    self.out.push(Output::Send {
                        conn,
                        bytes: Bytes::from(vec![b'x'; 16 << 10]),
                    });
                }
            }
            _ => self.out.push(Output::Send {
                conn,
                bytes: Bytes::copy_from_slice(bytes),
            }),
        }
    }
    fn connection_lost(&mut self, conn: ConnId, _now: Millis) {
        self.lost.push(conn);
    }
    fn handle_timeout(&mut self, now: Millis) {
        while let Some((&at, &conn)) = self.timers.iter().next() {
            if at > now {
                break;
            }
            self.timers.remove(&at);
            self.out.push(Output::Send {
                conn,
                bytes: Bytes::from_static(b"tock\n"),
            });
        }
    }
    fn poll_output(&mut self) -> Option<Output> {
        if self.out.is_empty() {
            None
        } else {
            Some(self.out.remove(0))
        }
    }
    fn next_deadline(&self) -> Option<Millis> {
        self.timers.keys().next().copied()
    }
}

async fn read_exact(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    timeout(WAIT, s.read_exact(&mut buf))
        .await
        .expect("read in time")
        .expect("read");
    buf
}

async fn read_to_end(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    timeout(WAIT, s.read_to_end(&mut buf))
        .await
        .expect("closed in time")
        .expect("read");
    buf
}

#[tokio::test]
async fn echo_close_and_timer() {
    let broker = Builder::default().start(Echo::default()).await.unwrap();
    let mut a = TcpStream::connect(broker.tcp_addr()).await.unwrap();
    let mut b = TcpStream::connect(broker.tcp_addr()).await.unwrap();
    assert_eq!(read_exact(&mut a, 6).await, b"hello\n");
    assert_eq!(read_exact(&mut b, 6).await, b"hello\n");
    a.write_all(b"ping").await.unwrap();
    assert_eq!(read_exact(&mut a, 4).await, b"ping");
    a.write_all(b"tick").await.unwrap();
    let started = std::time::Instant::now();
    assert_eq!(read_exact(&mut a, 5).await, b"tock\n");
    assert!(started.elapsed() >= Duration::from_millis(40));
    // The core closes `a`: its last words arrive, then end of stream;
    // `b` is untouched.
    a.write_all(b"close").await.unwrap();
    assert_eq!(read_to_end(&mut a).await, b"bye\n");
    b.write_all(b"still here").await.unwrap();
    assert_eq!(read_exact(&mut b, 10).await, b"still here");
    broker.shutdown().await;
    // Shutdown closes the remaining connection.
    assert_eq!(read_to_end(&mut b).await, b"");
}

#[tokio::test]
async fn a_client_that_does_not_read_is_disconnected() {
    let limits = Limits {
        max_queued_bytes: 256 << 10,
        ..Limits::default()
    };
    let broker = Builder::default()
        .limits(limits)
        .start(Echo::default())
        .await
        .unwrap();
    let mut slow = TcpStream::connect(broker.tcp_addr()).await.unwrap();
    assert_eq!(read_exact(&mut slow, 6).await, b"hello\n");
    // Each flood is 1 MiB; without reading, the socket buffers fill and
    // the queue passes the limit.
    for _ in 0..8 {
        if slow.write_all(b"flood").await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Reading now gets at most what was queued before the cut, then EOF
    // (or a reset).
    let mut total = 0usize;
    let mut buf = vec![0u8; 64 << 10];
    let end = timeout(WAIT, async {
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
    assert!(end.is_ok(), "connection was not closed");
    assert!(
        total < 8 << 20,
        "read {total} bytes: the queue was not limited"
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn connections_over_the_limit_are_refused() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let broker = Builder::default()
        .limits(limits)
        .start(Echo::default())
        .await
        .unwrap();
    let mut a = TcpStream::connect(broker.tcp_addr()).await.unwrap();
    let mut b = TcpStream::connect(broker.tcp_addr()).await.unwrap();
    assert_eq!(read_exact(&mut a, 6).await, b"hello\n");
    assert_eq!(read_exact(&mut b, 6).await, b"hello\n");
    let mut c = TcpStream::connect(broker.tcp_addr()).await.unwrap();
    assert_eq!(
        read_to_end(&mut c).await,
        b"",
        "third connection is closed at once"
    );
    drop(a);
    // Once one leaves, a new one gets in (the count drops when the
    // connection task ends: retry for a bounded time).
    let mut admitted = false;
    for _ in 0..50 {
        let mut d = TcpStream::connect(broker.tcp_addr()).await.unwrap();
        let mut buf = [0u8; 6];
        if let Ok(Ok(6)) = timeout(Duration::from_millis(200), d.read_exact(&mut buf)).await {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(admitted);
    broker.shutdown().await;
}
