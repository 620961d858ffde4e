//! Idle plain-TCP connections go to the parker thread and come back:
//! deliveries, keep-alive expiry and QoS 1 flows must not notice.

use std::time::Duration;

use mqttkit_broker::model::{Broker, Config};
use mqttkit_broker::{Builder, Limits, Running};
use mqttkit_codec::{
    Connect, Packet, ProtocolVersion, PubAck, Publish, QoS, StreamDecoder, Subscribe, Subscription,
};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::timeout;

mod common;
use common::Client;

const V: ProtocolVersion = ProtocolVersion::V3_1_1;

impl Client {
    async fn connect(addr: std::net::SocketAddr, id: &str, keep_alive: u16) -> Client {
        let s = TcpStream::connect(addr).await.unwrap();
        let mut c = Client {
            s,
            dec: StreamDecoder::with_version(V),
            v: V,
        };
        let mut connect = Connect::new(V, id);
        connect.keep_alive = keep_alive;
        c.send(Packet::Connect((&connect).into())).await;
        let ack = c.recv().await;
        assert!(matches!(ack.packet(), Packet::ConnAck(_)), "{ack:?}");
        c
    }

    async fn subscribe(&mut self, filter: &str, qos: QoS) {
        let subs = [Subscription::new(filter, qos)];
        self.send(Packet::Subscribe(Subscribe::new(1, &subs))).await;
        let ack = self.recv().await;
        assert!(matches!(ack.packet(), Packet::SubAck(_)), "{ack:?}");
    }

    /// Publishes at QoS 1 and waits for the PUBACK.
    async fn publish1(&mut self, topic: &str, payload: &[u8], id: u16) {
        let mut p = Publish::new(topic, payload);
        p.qos = QoS::AtLeastOnce;
        p.packet_id = Some(id);
        self.send(Packet::Publish(p)).await;
        let ack = self.recv().await;
        assert!(
            matches!(ack.packet(), Packet::PubAck(a) if a.packet_id == id),
            "{ack:?}"
        );
    }

    /// The next PUBLISH: (payload, packet id).
    async fn recv_publish(&mut self) -> (Vec<u8>, Option<u16>) {
        let m = self.recv().await;
        let Packet::Publish(p) = m.packet() else {
            panic!("expected PUBLISH, got {m:?}")
        };
        (p.payload.to_vec(), p.packet_id)
    }
}

/// A reference broker that parks connections after 100 ms without traffic.
async fn broker() -> Running {
    broker_parking_after(Duration::from_millis(100)).await
}

async fn broker_parking_after(idle: Duration) -> Running {
    let limits = Limits {
        park_after: Some(idle),
        ..Limits::default()
    };
    Builder::default()
        .listen_tcp("127.0.0.1:0".parse().unwrap())
        .limits(limits)
        .start(Broker::new(Config::default()))
        .await
        .unwrap()
}

/// Waits (10 s at most) until exactly `n` connections are parked.
async fn wait_parked(broker: &Running, n: usize) {
    for _ in 0..1000 {
        if broker.parked_connections() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{} connections parked, expected {n}",
        broker.parked_connections()
    );
}

#[tokio::test]
async fn a_parked_connection_receives_a_publish_routed_to_it() {
    let broker = broker().await;
    let mut sub = Client::connect(broker.tcp_addr(), "sub", 0).await;
    sub.subscribe("p/#", QoS::AtLeastOnce).await;
    wait_parked(&broker, 1).await;
    let mut publ = Client::connect(broker.tcp_addr(), "pub", 0).await;
    // QoS 0 and QoS 1 both reach the parked subscriber.
    publ.send(Packet::Publish(Publish::new("p/0", b"zero")))
        .await;
    publ.publish1("p/1", b"one", 7).await;
    assert_eq!(sub.recv_publish().await, (b"zero".to_vec(), None));
    let (payload, id) = sub.recv_publish().await;
    assert_eq!(payload, b"one");
    sub.send(Packet::PubAck(PubAck::new(id.expect("QoS 1 has an id"))))
        .await;
    // Both go idle again, and come back again.
    wait_parked(&broker, 2).await;
    publ.publish1("p/2", b"two", 8).await;
    assert_eq!(sub.recv_publish().await.0, b"two");
    broker.shutdown().await;
}

#[tokio::test]
async fn keep_alive_expiry_closes_a_parked_connection() {
    let broker = broker().await;
    // Keep Alive 1 s: the broker closes after 1.5 s of silence
    // (MQTT-3.1.2-24), long after the connection was parked.
    let mut c = Client::connect(broker.tcp_addr(), "quiet", 1).await;
    wait_parked(&broker, 1).await;
    let mut rest = Vec::new();
    let end = timeout(Duration::from_secs(10), c.s.read_to_end(&mut rest)).await;
    assert!(end.is_ok(), "the parked connection was not closed");
    assert!(rest.is_empty(), "nothing but the close: {rest:?}");
    wait_parked(&broker, 0).await;
    // The broker still serves.
    let mut other = Client::connect(broker.tcp_addr(), "other", 0).await;
    other.publish1("x", b"y", 1).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn busy_parked_busy_keeps_the_qos1_flow_intact() {
    // Parked after 1 s idle: long enough that right after a burst both
    // connections are still in tasks.
    let broker = broker_parking_after(Duration::from_secs(1)).await;
    let mut sub = Client::connect(broker.tcp_addr(), "flow-sub", 0).await;
    sub.subscribe("flow", QoS::AtLeastOnce).await;
    let mut publ = Client::connect(broker.tcp_addr(), "flow-pub", 0).await;
    let mut seen_ids = Vec::new();
    let mut next = 0u32;
    for round in 0..3 {
        for _ in 0..50 {
            next += 1;
            publ.publish1("flow", &next.to_be_bytes(), (next % 60000 + 1) as u16)
                .await;
        }
        // Every message once, in order; the last one of the round stays
        // unacknowledged while both connections are parked.
        let first = next - 49;
        let mut last_id = None;
        for want in first..=next {
            let (payload, id) = sub.recv_publish().await;
            assert_eq!(payload, want.to_be_bytes(), "round {round}: in order, once");
            let id = id.expect("QoS 1 has an id");
            if want < next {
                sub.send(Packet::PubAck(PubAck::new(id))).await;
            } else {
                last_id = Some(id);
            }
            seen_ids.push(id);
        }
        // 50 exchanges are more than the parker serves itself: both went
        // to tasks.
        assert_eq!(
            broker.parked_connections(),
            0,
            "round {round}: busy connections parked"
        );
        wait_parked(&broker, 2).await;
        // Acknowledged from parked: the in-flight slot is freed, and no
        // message comes again.
        sub.send(Packet::PubAck(PubAck::new(last_id.unwrap())))
            .await;
    }
    // Nothing was resent: one more message is the next to arrive.
    next += 1;
    publ.publish1("flow", &next.to_be_bytes(), 1).await;
    let (payload, id) = sub.recv_publish().await;
    assert_eq!(payload, next.to_be_bytes());
    sub.send(Packet::PubAck(PubAck::new(id.unwrap()))).await;
    assert_eq!(seen_ids.len(), 150);
    broker.shutdown().await;
}

#[tokio::test]
async fn many_idle_connections_all_receive_a_message() {
    const N: usize = 200;
    let broker = broker().await;
    let mut subs = Vec::with_capacity(N);
    for i in 0..N {
        let mut c = Client::connect(broker.tcp_addr(), &format!("many{i}"), 60).await;
        c.subscribe("all/news", QoS::AtMostOnce).await;
        subs.push(c);
    }
    wait_parked(&broker, N).await;
    let mut publ = Client::connect(broker.tcp_addr(), "many-pub", 0).await;
    publ.publish1("all/news", b"hello", 1).await;
    for (i, s) in subs.iter_mut().enumerate() {
        let (payload, _) = s.recv_publish().await;
        assert_eq!(payload, b"hello", "subscriber {i}");
    }
    // All idle again; a second message reaches them all too.
    wait_parked(&broker, N + 1).await;
    publ.publish1("all/news", b"again", 2).await;
    for (i, s) in subs.iter_mut().enumerate() {
        let (payload, _) = s.recv_publish().await;
        assert_eq!(payload, b"again", "subscriber {i}");
    }
    broker.shutdown().await;
    // Shutdown closes parked connections too.
    for s in &mut subs {
        let mut rest = Vec::new();
        let end = timeout(Duration::from_secs(10), s.s.read_to_end(&mut rest)).await;
        assert!(end.is_ok(), "a connection stayed open after shutdown");
    }
}

#[tokio::test]
async fn light_traffic_is_served_without_a_task() {
    // A connection in a task would stay there for 10 s: any resume shows.
    let broker = broker_parking_after(Duration::from_secs(10)).await;
    let mut sub = Client::connect(broker.tcp_addr(), "light-sub", 0).await;
    sub.subscribe("light", QoS::AtLeastOnce).await;
    wait_parked(&broker, 1).await;
    let mut publ = Client::connect(broker.tcp_addr(), "light-pub", 0).await;
    wait_parked(&broker, 2).await;
    for i in 1..=3u16 {
        publ.publish1("light", &i.to_be_bytes(), i).await;
        let (payload, id) = sub.recv_publish().await;
        assert_eq!(payload, i.to_be_bytes());
        sub.send(Packet::PubAck(PubAck::new(id.unwrap()))).await;
    }
    // CONNECT, SUBSCRIBE, PUBLISH, PUBACK and deliveries all went
    // through the parker.
    assert_eq!(broker.parked_connections(), 2);
    broker.shutdown().await;
}
