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

#[tokio::test]
async fn websocket_binary_messages_in_any_split() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    let broker = Builder::default()
        .listen_ws("127.0.0.1:0".parse().unwrap())
        .start(Echo::default())
        .await
        .unwrap();
    let addr = broker.addr_of(true, false).unwrap();
    let mut req = format!("ws://{addr}/mqtt").into_client_request().unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "mqtt".parse().unwrap());
    let (mut ws, resp) = timeout(WAIT, tokio_tungstenite::connect_async(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        resp.headers().get("Sec-WebSocket-Protocol").unwrap(),
        "mqtt"
    );
    let next = |m: Option<Result<Message, _>>| match m {
        Some(Ok(Message::Binary(b))) => b.to_vec(),
        other => panic!("expected a binary message, got {other:?}"),
    };
    assert_eq!(next(timeout(WAIT, ws.next()).await.unwrap()), b"hello\n");
    ws.send(Message::Binary(bytes::Bytes::from_static(b"abc")))
        .await
        .unwrap();
    assert_eq!(next(timeout(WAIT, ws.next()).await.unwrap()), b"abc");
    // A text message is not MQTT (MQTT-6.0.0-1): the connection is closed.
    ws.send(Message::Text("nope".into())).await.unwrap();
    let end = timeout(WAIT, async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(end.is_ok(), "text message did not close the connection");
    broker.shutdown().await;
}

#[tokio::test]
async fn tls_listener() {
    use std::sync::Arc;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let der = CertificateDer::from(cert.cert.der().to_vec());
    let key = PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let config = mqttkit_broker::tls_config(vec![der.clone()], key).unwrap();
    let broker = Builder::default()
        .listen_tls("127.0.0.1:0".parse().unwrap(), config)
        .start(Echo::default())
        .await
        .unwrap();
    let addr = broker.addr_of(false, true).unwrap();

    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let client = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = timeout(WAIT, connector.connect(name, tcp))
        .await
        .unwrap()
        .unwrap();
    let mut buf = [0u8; 6];
    timeout(WAIT, tls.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"hello\n");
    tls.write_all(b"secret").await.unwrap();
    timeout(WAIT, tls.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"secret");
    // A client speaking plain TCP to the TLS port gets nothing and is cut.
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00")
        .await
        .unwrap();
    let mut junk = Vec::new();
    let _ = timeout(WAIT, plain.read_to_end(&mut junk))
        .await
        .expect("cut in time");
    assert!(!junk.starts_with(b"hello"));
    broker.shutdown().await;
}
