//! A small harness for driving the broker core in tests: encoded packets
//! in, decoded packets out per connection, time advanced by hand.

use std::collections::HashMap;

use bytes::BytesMut;
use mqttkit_codec::{
    Connect, ConnectReasonCode, Decoder, OwnedPacket, Packet, ProtocolVersion, Publish, QoS,
    Subscribe, SubscribeReasonCode, Subscription,
};

use crate::{AllowAll, Authorizer, Broker, Config, ConnId, Output};

/// A broker and the clients around it, as seen from the network.
#[derive(Debug)]
pub struct World<A: Authorizer = AllowAll> {
    /// The broker under test.
    pub b: Broker<A>,
    /// The current time (ms).
    pub now: u64,
    versions: HashMap<ConnId, ProtocolVersion>,
    /// Packets received per connection, not yet taken.
    pub inbox: HashMap<ConnId, Vec<OwnedPacket>>,
    /// Connections the broker closed, in order.
    pub closed: Vec<ConnId>,
    /// Drop reports seen.
    pub dropped: usize,
}

impl World<AllowAll> {
    /// A world around a broker that allows everything.
    pub fn new(config: Config) -> Self {
        World::with_authorizer(config, AllowAll)
    }
}

impl<A: Authorizer> World<A> {
    /// A world around a broker consulting `auth`.
    pub fn with_authorizer(config: Config, auth: A) -> Self {
        World {
            b: Broker::with_authorizer(config, auth),
            now: 1_000,
            versions: HashMap::new(),
            inbox: HashMap::new(),
            closed: Vec::new(),
            dropped: 0,
        }
    }

    /// Collects the broker's outputs into inboxes, closes and drops.
    pub fn pump(&mut self) {
        while let Some(o) = self.b.poll_output() {
            match o {
                Output::Send { conn, bytes } => {
                    let v = self.versions[&conn];
                    let mut at = 0;
                    while at < bytes.len() {
                        let (_, n) = Decoder::new(v)
                            .decode(&bytes[at..])
                            .expect("broker sent a valid packet");
                        let p = OwnedPacket::from_bytes(bytes.slice(at..at + n), v).unwrap();
                        self.inbox.entry(conn).or_default().push(p);
                        at += n;
                    }
                }
                Output::Close { conn } => self.closed.push(conn),
                Output::Dropped { .. } => self.dropped += 1,
            }
        }
    }

    /// Opens connection `conn` speaking `v`.
    pub fn open(&mut self, conn: ConnId, v: ProtocolVersion) {
        self.versions.insert(conn, v);
        self.b.connection_opened(conn, self.now);
    }

    /// Encodes `p` and feeds it to the broker on `conn`.
    pub fn send(&mut self, conn: ConnId, p: Packet<'_>) {
        let v = self.versions[&conn];
        let mut buf = BytesMut::new();
        p.encode(v, &mut buf).unwrap();
        self.b.bytes_received(conn, &buf, self.now);
        self.pump();
    }

    /// Feeds raw bytes to the broker on `conn`.
    pub fn raw(&mut self, conn: ConnId, bytes: &[u8]) {
        self.b.bytes_received(conn, bytes, self.now);
        self.pump();
    }

    /// Takes the packets received on `conn`.
    pub fn take(&mut self, conn: ConnId) -> Vec<OwnedPacket> {
        self.inbox.remove(&conn).unwrap_or_default()
    }

    /// Opens `conn` and connects as `id` (Keep Alive 10 s; persistent 5.0
    /// sessions ask for one hour); returns Session Present. Packets after
    /// the CONNACK stay in the inbox.
    pub fn connect(&mut self, conn: ConnId, v: ProtocolVersion, id: &str, clean: bool) -> bool {
        self.open(conn, v);
        let mut c = Connect::new(v, id);
        c.clean_start = clean;
        c.keep_alive = 10;
        if v.is_v5() && !clean {
            c.properties.session_expiry_interval = Some(3600);
        }
        self.send(conn, Packet::Connect(mqttkit_codec::Lazy::new(&c)));
        let got = self.take(conn);
        let present = match got[0].packet() {
            Packet::ConnAck(a) => {
                assert_eq!(a.reason_code, ConnectReasonCode::Success);
                a.session_present
            }
            other => panic!("expected CONNACK, got {other:?}"),
        };
        // What a resumed session sends after CONNACK stays in the inbox.
        self.inbox.insert(conn, got[1..].to_vec());
        present
    }

    /// Subscribes `conn` to one filter; returns the SUBACK code.
    /// Retained messages sent after the SUBACK stay in the inbox.
    pub fn subscribe(&mut self, conn: ConnId, filter: &str, qos: QoS) -> SubscribeReasonCode {
        let subs = [Subscription::new(filter, qos)];
        self.send(conn, Packet::Subscribe(Subscribe::new(1, &subs)));
        let got = self.take(conn);
        let Packet::SubAck(a) = got[0].packet() else {
            panic!("expected SUBACK: {got:?}")
        };
        let code = a.reason_codes.iter().next().unwrap();
        // Retained messages that followed stay in the inbox.
        self.inbox.insert(conn, got[1..].to_vec());
        code
    }

    /// Publishes from `conn` (packet id `id` for QoS 1 and 2).
    pub fn publish(&mut self, conn: ConnId, topic: &str, payload: &[u8], qos: QoS, id: u16) {
        let mut p = Publish::new(topic, payload);
        p.qos = qos;
        p.packet_id = (qos != QoS::AtMostOnce).then_some(id);
        self.send(conn, Packet::Publish(p));
    }

    /// Advances time by `ms` and runs the broker's timers.
    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.b.handle_timeout(self.now);
        self.pump();
    }
}
