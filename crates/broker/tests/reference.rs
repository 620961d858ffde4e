//! The reference broker over real sockets: a subscriber and a publisher on
//! loopback, raw packets from the codec.

use std::time::Duration;

use bytes::BytesMut;
use mqttkit_broker::model::{Broker, Config};
use mqttkit_broker::Builder;
use mqttkit_codec::{
    Connect, OwnedPacket, Packet, ProtocolVersion, PubAck, Publish, QoS, StreamDecoder, Subscribe,
    Subscription,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

struct Client {
    s: TcpStream,
    dec: StreamDecoder,
    v: ProtocolVersion,
}

impl Client {
    async fn connect(addr: std::net::SocketAddr, v: ProtocolVersion, id: &str) -> Client {
        let s = TcpStream::connect(addr).await.unwrap();
        let mut c = Client {
            s,
            dec: StreamDecoder::with_version(v),
            v,
        };
        c.send(Packet::Connect(Connect::new(v, id))).await;
        let ack = c.recv().await;
        assert!(matches!(ack.packet(), Packet::ConnAck(_)), "{ack:?}");
        c
    }

    async fn send(&mut self, p: Packet<'_>) {
        let mut buf = BytesMut::new();
        p.encode(self.v, &mut buf).unwrap();
        self.s.write_all(&buf).await.unwrap();
    }

    async fn recv(&mut self) -> OwnedPacket {
        timeout(WAIT, async {
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

#[tokio::test]
async fn publish_and_subscribe_over_tcp_in_both_versions() {
    let broker = Builder::default()
        .start(Broker::new(Config::default()))
        .await
        .unwrap();
    for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut sub = Client::connect(broker.tcp_addr(), v, "sub").await;
        let mut publ = Client::connect(broker.tcp_addr(), v, "pub").await;
        let subs = [Subscription::new("t/#", QoS::AtLeastOnce)];
        sub.send(Packet::Subscribe(Subscribe::new(1, &subs))).await;
        assert!(matches!(sub.recv().await.packet(), Packet::SubAck(_)));
        for i in 1..=100u16 {
            let payload = i.to_be_bytes();
            let mut p = Publish::new("t/x", &payload);
            p.qos = QoS::AtLeastOnce;
            p.packet_id = Some(i);
            publ.send(Packet::Publish(p)).await;
        }
        for i in 1..=100u16 {
            let ack = publ.recv().await;
            assert!(matches!(ack.packet(), Packet::PubAck(a) if a.packet_id == i));
            let m = sub.recv().await;
            let Packet::Publish(p) = m.packet() else {
                panic!("{m:?}")
            };
            assert_eq!(p.payload, i.to_be_bytes(), "in order");
            sub.send(Packet::PubAck(PubAck::new(p.packet_id.unwrap())))
                .await;
        }
    }
    broker.shutdown().await;
}
