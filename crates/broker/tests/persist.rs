//! Persistence in the running broker: state kept in a data directory
//! survives a shutdown and a start on the same directory; a damaged store
//! is a clear error. Raw packets from the codec over loopback; every wait
//! is bounded.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::BytesMut;
use mqttkit_broker::model::{Broker, Config};
use mqttkit_broker::{Builder, Running, STORE_FILE_NAME};
use mqttkit_codec::{
    Connect, Disconnect, DisconnectReasonCode, OwnedPacket, Packet, ProtocolVersion, PubAck,
    PubComp, PubRec, PubRel, Publish, QoS, StreamDecoder, Subscribe, Subscription,
};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::timeout;

mod common;
use common::Client;

const WAIT: Duration = Duration::from_secs(10);

impl Client {
    /// Connects; returns the client and Session Present.
    async fn connect(
        addr: SocketAddr,
        v: ProtocolVersion,
        id: &str,
        clean: bool,
    ) -> (Client, bool) {
        let s = TcpStream::connect(addr).await.unwrap();
        let mut c = Client {
            s,
            dec: StreamDecoder::with_version(v),
            v,
        };
        let mut connect = Connect::new(v, id);
        connect.clean_start = clean;
        if v.is_v5() && !clean {
            connect.properties.session_expiry_interval = Some(3600);
        }
        c.send(Packet::Connect((&connect).into())).await;
        let ack = c.recv().await;
        let Packet::ConnAck(a) = ack.packet() else {
            panic!("expected CONNACK: {ack:?}")
        };
        assert!(!a.reason_code.is_error(), "{a:?}");
        let present = a.session_present;
        (c, present)
    }

    async fn disconnect(mut self) {
        self.send(Packet::Disconnect(Disconnect::new(
            DisconnectReasonCode::NormalDisconnection,
        )))
        .await;
        // Wait for the broker to close, so the DISCONNECT is handled
        // before anything else happens.
        let mut buf = [0u8; 64];
        let _ = timeout(WAIT, self.s.read(&mut buf)).await;
    }
}

async fn start(dir: &Path) -> std::io::Result<Running> {
    Builder::default()
        .listen_tcp("127.0.0.1:0".parse().unwrap())
        .data_dir(dir)
        .start(Broker::new(Config::default()))
        .await
}

fn publish(topic: &str, payload: &[u8], qos: QoS, id: u16) -> OwnedPacket {
    let mut p = Publish::new(topic, payload);
    p.qos = qos;
    p.packet_id = (qos != QoS::AtMostOnce).then_some(id);
    let mut buf = BytesMut::new();
    Packet::Publish(p)
        .encode(ProtocolVersion::V5, &mut buf)
        .unwrap();
    OwnedPacket::from_bytes(buf.freeze(), ProtocolVersion::V5).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_messages_survive_a_restart_in_both_versions() {
    for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let dir = tempfile::tempdir().unwrap();
        let broker = start(dir.path()).await.unwrap();
        let addr = broker.tcp_addr();
        // A persistent subscriber, then away.
        let (mut sub, present) = Client::connect(addr, v, "sub", false).await;
        assert!(!present);
        let subs = [Subscription::new("t/#", QoS::ExactlyOnce)];
        sub.send(Packet::Subscribe(Subscribe::new(1, &subs))).await;
        assert!(matches!(sub.recv().await.packet(), Packet::SubAck(_)));
        sub.disconnect().await;

        // A persistent publisher: 20 QoS 1, 20 QoS 2 (completed), one QoS 2
        // whose PUBREL is never sent, one retained message.
        let (mut publ, _) = Client::connect(addr, v, "pub", false).await;
        let mut want = Vec::new();
        for i in 1..=41u16 {
            let qos = if i <= 20 {
                QoS::AtLeastOnce
            } else {
                QoS::ExactlyOnce
            };
            let payload = format!("m{i}");
            let p = publish("t/x", payload.as_bytes(), qos, i);
            publ.send(p.packet()).await;
            want.push(payload);
        }
        for i in 1..=41u16 {
            let ack = publ.recv().await;
            match ack.packet() {
                Packet::PubAck(a) if i <= 20 => assert_eq!(a.packet_id, i),
                Packet::PubRec(r) if i > 20 => {
                    assert_eq!(r.packet_id, i);
                    if i < 41 {
                        publ.send(Packet::PubRel(PubRel::new(i))).await;
                    }
                }
                other => panic!("ack {i}: {other:?}"),
            }
        }
        for _ in 21..41 {
            assert!(matches!(publ.recv().await.packet(), Packet::PubComp(_)));
        }
        let mut r = Publish::new("keep/me", b"retained");
        r.retain = true;
        publ.send(Packet::Publish(r)).await;
        publ.disconnect().await;
        broker.shutdown().await;

        // Same directory, new broker.
        let broker = start(dir.path()).await.unwrap();
        let addr = broker.tcp_addr();
        let (mut sub, present) = Client::connect(addr, v, "sub", false).await;
        assert!(present, "{v:?}: session restored");
        let mut got = Vec::new();
        while got.len() < want.len() {
            let m = sub.recv().await;
            match m.packet() {
                Packet::Publish(p) => {
                    got.push(String::from_utf8(p.payload.to_vec()).unwrap());
                    let id = p.packet_id.unwrap();
                    match p.qos {
                        QoS::AtLeastOnce => sub.send(Packet::PubAck(PubAck::new(id))).await,
                        QoS::ExactlyOnce => sub.send(Packet::PubRec(PubRec::new(id))).await,
                        QoS::AtMostOnce => panic!("QoS 0 delivery of a QoS 1/2 message"),
                    }
                }
                Packet::PubRel(r) => sub.send(Packet::PubComp(PubComp::new(r.packet_id))).await,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got, want, "{v:?}: every message, in order");

        // The publisher's unreleased QoS 2 id was remembered: its resend is
        // acknowledged and not delivered again.
        let (mut publ, present) = Client::connect(addr, v, "pub", false).await;
        assert!(present);
        let mut again = Publish::new("t/x", b"m41");
        again.qos = QoS::ExactlyOnce;
        again.packet_id = Some(41);
        again.dup = true;
        publ.send(Packet::Publish(again)).await;
        assert!(matches!(publ.recv().await.packet(), Packet::PubRec(r) if r.packet_id == 41));
        publ.send(Packet::PubRel(PubRel::new(41))).await;
        assert!(matches!(publ.recv().await.packet(), Packet::PubComp(r) if r.packet_id == 41));
        // A marker: the next thing the subscriber sees (after finishing the
        // QoS 2 exchanges) must be it, not a second m41.
        let marker = publish("t/marker", b"marker", QoS::AtMostOnce, 0);
        publ.send(marker.packet()).await;
        loop {
            let m = sub.recv().await;
            match m.packet() {
                Packet::PubRel(r) => sub.send(Packet::PubComp(PubComp::new(r.packet_id))).await,
                Packet::Publish(p) => {
                    assert_eq!(p.payload, b"marker", "{v:?}: nothing delivered twice");
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        // The retained message is there for a new subscriber.
        let (mut late, _) = Client::connect(addr, v, "late", true).await;
        let subs = [Subscription::new("keep/#", QoS::AtMostOnce)];
        late.send(Packet::Subscribe(Subscribe::new(1, &subs))).await;
        assert!(matches!(late.recv().await.packet(), Packet::SubAck(_)));
        let m = late.recv().await;
        assert!(
            matches!(m.packet(), Packet::Publish(p) if p.payload == b"retained" && p.retain),
            "{m:?}"
        );
        broker.shutdown().await;
    }
}

#[tokio::test]
async fn a_damaged_store_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // Not a database at all.
    std::fs::write(dir.path().join(STORE_FILE_NAME), vec![0x5au8; 8192]).unwrap();
    let e = start(dir.path()).await.expect_err("garbage store refused");
    let msg = e.to_string();
    assert!(
        msg.contains("data store") && msg.contains(STORE_FILE_NAME),
        "{msg}"
    );

    // A real store cut short.
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await.unwrap();
    let (mut c, _) = Client::connect(broker.tcp_addr(), ProtocolVersion::V3_1_1, "c", false).await;
    let subs = [Subscription::new("a", QoS::AtLeastOnce)];
    c.send(Packet::Subscribe(Subscribe::new(1, &subs))).await;
    assert!(matches!(c.recv().await.packet(), Packet::SubAck(_)));
    broker.shutdown().await;
    let path = dir.path().join(STORE_FILE_NAME);
    let len = std::fs::metadata(&path).unwrap().len();
    for keep in [0, 16, len / 2] {
        let data = std::fs::read(&path).unwrap();
        let cut = tempfile::tempdir().unwrap();
        std::fs::write(cut.path().join(STORE_FILE_NAME), &data[..keep as usize]).unwrap();
        match start(cut.path()).await {
            Err(e) => assert!(e.to_string().contains("data store"), "{e}"),
            // redb may recover a file whose tail is gone; then the broker
            // must work with it.
            Ok(b) => {
                let (c, _) =
                    Client::connect(b.tcp_addr(), ProtocolVersion::V3_1_1, "c", false).await;
                c.disconnect().await;
                b.shutdown().await;
            }
        }
    }
}

#[tokio::test]
async fn one_store_serves_one_broker() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path()).await.unwrap();
    let e = start(dir.path()).await.expect_err("second broker refused");
    assert!(e.to_string().contains("already in use"), "{e}");
    first.shutdown().await;
    // Free again once the first has stopped.
    start(dir.path()).await.unwrap().shutdown().await;
}

/// A core that keeps nothing: it cannot be given a data directory.
struct Stateless;

impl mqttkit_broker::Core for Stateless {
    fn connection_opened(&mut self, _: mqttkit_broker::ConnId, _: mqttkit_broker::Millis) {}
    fn bytes_received(&mut self, _: mqttkit_broker::ConnId, _: &[u8], _: mqttkit_broker::Millis) {}
    fn connection_lost(&mut self, _: mqttkit_broker::ConnId, _: mqttkit_broker::Millis) {}
    fn handle_timeout(&mut self, _: mqttkit_broker::Millis) {}
    fn poll_output(&mut self) -> Option<mqttkit_broker::Output> {
        None
    }
    fn next_deadline(&self) -> Option<mqttkit_broker::Millis> {
        None
    }
}

#[tokio::test]
async fn a_core_without_persistence_refuses_a_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let e = Builder::default()
        .listen_tcp("127.0.0.1:0".parse().unwrap())
        .data_dir(dir.path())
        .start(Stateless)
        .await
        .expect_err("refused");
    assert!(e.to_string().contains("cannot keep state"), "{e}");
}
