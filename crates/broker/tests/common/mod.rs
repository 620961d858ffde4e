//! The raw test client the broker's integration tests share: packets
//! encoded and decoded with the codec over one TCP stream. Each test file
//! adds its own connect helpers in an `impl Client` block of its own.

use std::time::Duration;

use bytes::BytesMut;
use mqttkit_codec::{OwnedPacket, Packet, ProtocolVersion, StreamDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How long a test waits for a packet the broker owes it.
pub const RECV_WAIT: Duration = Duration::from_secs(10);

pub struct Client {
    pub s: TcpStream,
    pub dec: StreamDecoder,
    pub v: ProtocolVersion,
}

impl Client {
    pub async fn send(&mut self, p: Packet<'_>) {
        let mut buf = BytesMut::new();
        p.encode(self.v, &mut buf).unwrap();
        self.s.write_all(&buf).await.unwrap();
    }

    /// The next packet from the broker; panics when it closes the
    /// connection, sends an invalid packet or nothing within [`RECV_WAIT`].
    pub async fn recv(&mut self) -> OwnedPacket {
        timeout(RECV_WAIT, async {
            loop {
                if let Some(p) = self.dec.next_owned().expect("valid packet from the broker") {
                    return p;
                }
                let n = self.s.read_buf(self.dec.buffer_mut()).await.unwrap();
                assert!(n > 0, "broker closed the connection");
            }
        })
        .await
        .expect("packet in time")
    }
}
