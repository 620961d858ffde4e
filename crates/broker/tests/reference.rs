//! The reference broker over real sockets: a subscriber and a publisher on
//! loopback, raw packets from the codec.

use mqttkit_broker::model::{Broker, Config};
use mqttkit_broker::Builder;
use mqttkit_codec::{
    Connect, Packet, ProtocolVersion, PubAck, Publish, QoS, StreamDecoder, Subscribe, Subscription,
};
use tokio::net::TcpStream;

mod common;
use common::Client;

impl Client {
    async fn connect(addr: std::net::SocketAddr, v: ProtocolVersion, id: &str) -> Client {
        let s = TcpStream::connect(addr).await.unwrap();
        let mut c = Client {
            s,
            dec: StreamDecoder::with_version(v),
            v,
        };
        c.send(Packet::Connect((&Connect::new(v, id)).into())).await;
        let ack = c.recv().await;
        assert!(matches!(ack.packet(), Packet::ConnAck(_)), "{ack:?}");
        c
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
