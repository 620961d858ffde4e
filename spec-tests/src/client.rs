//! Client statements checked on the model's client session
//! (`mqttkit_model::Client`) against a scripted server. Each function
//! checks one statement for one version; `tests/model_client_*.rs` name
//! them by statement id.

use mqttkit_codec::{
    Auth, AuthReasonCode, ConnAck, ConnAckProperties, ConnectReasonCode, Decoder, Lazy,
    OwnedPacket, Packet, ProtocolVersion, PubAck, PubComp, PubRec, PubRel, Publish,
    PublishProperties, QoS, Role,
};
use mqttkit_model::{Client, ClientConfig, ClientError, ClientEvent, CloseReason};

/// A client and the server side of its connection.
#[derive(Debug)]
pub struct Pair {
    /// The client under test.
    pub c: Client,
    /// Time in ms.
    pub now: u64,
    v: ProtocolVersion,
}

impl Pair {
    /// A client with `cfg`, not connected.
    pub fn new(cfg: ClientConfig) -> Self {
        let v = cfg.version;
        Pair {
            c: Client::new(cfg),
            now: 1_000,
            v,
        }
    }

    /// Connects and answers CONNACK with `ack`; returns the events.
    pub fn connect_with(&mut self, ack: ConnAck<'_>) -> Vec<ClientEvent> {
        self.c.connect(self.now);
        let sent = self.sent();
        assert!(
            matches!(sent[0].packet(), Packet::Connect(_)),
            "first packet: {sent:?}"
        );
        self.server(Packet::ConnAck(ack));
        self.events()
    }

    /// Connects; the server accepts with Session Present `present`.
    pub fn connect(&mut self, present: bool) {
        let ev = self.connect_with(ConnAck::new(present, ConnectReasonCode::Success));
        assert!(
            ev.contains(&ClientEvent::Connected {
                session_present: present
            }),
            "not connected: {ev:?}"
        );
    }

    /// Packets the client wrote since the last call; each must be a whole,
    /// valid client packet.
    pub fn sent(&mut self) -> Vec<OwnedPacket> {
        let mut out = Vec::new();
        while let Some(b) = self.c.poll_transmit() {
            let (_, n) = Decoder::new(self.v)
                .sent_by(Role::Client)
                .decode(&b)
                .unwrap_or_else(|e| panic!("client sent an invalid packet: {e}"));
            assert_eq!(n, b.len(), "one packet per write");
            out.push(OwnedPacket::from_bytes(b, self.v).expect("valid"));
        }
        out
    }

    /// Type names of what the client wrote since the last call.
    pub fn sent_types(&mut self) -> Vec<&'static str> {
        self.sent()
            .iter()
            .map(|p| p.packet().packet_type().name())
            .collect()
    }

    /// Events since the last call.
    pub fn events(&mut self) -> Vec<ClientEvent> {
        std::iter::from_fn(|| self.c.poll_event()).collect()
    }

    /// The server sends `p`.
    pub fn server(&mut self, p: Packet<'_>) {
        let bytes = p.to_vec(self.v).expect("valid server packet");
        self.c.bytes_received(&bytes, self.now);
    }

    /// Advances time by `ms` and runs the client's timers.
    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.c.handle_timeout(self.now);
    }
}

fn cfg(v: ProtocolVersion) -> ClientConfig {
    let mut c = ClientConfig::new(v, "model-client");
    c.keep_alive = 10;
    c
}

fn persistent(v: ProtocolVersion) -> ClientConfig {
    let mut c = cfg(v);
    c.clean_start = false;
    c.session_expiry = 3600;
    c
}

fn publish_ids(sent: &[OwnedPacket]) -> Vec<(u16, bool)> {
    sent.iter()
        .filter_map(|p| match p.packet() {
            Packet::Publish(p) => Some((p.packet_id.unwrap_or(0), p.dup)),
            _ => None,
        })
        .collect()
}

fn ack_ids(sent: &[OwnedPacket]) -> Vec<(&'static str, u16)> {
    sent.iter()
        .filter_map(|p| {
            let p = p.packet();
            let id = match p {
                Packet::PubAck(a) => a.packet_id,
                Packet::PubRec(a) => a.packet_id,
                Packet::PubRel(a) => a.packet_id,
                Packet::PubComp(a) => a.packet_id,
                _ => return None,
            };
            Some((p.packet_type().name(), id))
        })
        .collect()
}

/// MQTT-2.3.1-2 / MQTT-2.2.1-3: identifiers of SUBSCRIBE, UNSUBSCRIBE and
/// QoS 1/2 PUBLISH are non-zero and distinct while in use.
pub fn identifiers_unique(v: ProtocolVersion) {
    let mut p = Pair::new(cfg(v));
    p.connect(false);
    let mut ids = Vec::new();
    for i in 0..50u8 {
        let id = match i % 4 {
            0 => p.c.subscribe(&[("a/b", QoS::AtLeastOnce)], p.now).unwrap(),
            1 => p.c.unsubscribe(&["a/b"], p.now).unwrap(),
            2 => {
                p.c.publish("t", &[i], QoS::AtLeastOnce, false, p.now)
                    .unwrap()
                    .unwrap()
            }
            _ => {
                p.c.publish("t", &[i], QoS::ExactlyOnce, false, p.now)
                    .unwrap()
                    .unwrap()
            }
        };
        ids.push(id);
    }
    assert!(ids.iter().all(|&i| i != 0));
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    // The wire carries the same identifiers.
    let sent = p.sent();
    assert_eq!(sent.len(), 50);
    // Once a QoS 1 exchange ends its identifier may come back; while it is
    // in flight it may not, even across the whole identifier space.
    let first = ids[2];
    for _ in 0..70_000u32 {
        match p.c.subscribe(&[("x", QoS::AtMostOnce)], p.now) {
            Ok(id) => assert_ne!(id, first, "identifier reused while in flight"),
            Err(e) => {
                assert_eq!(e, ClientError::NoPacketIdentifier);
                break;
            }
        }
    }
}

/// MQTT-2.3.1-3: a retransmission keeps the identifier, which is free
/// only after the final acknowledgement.
pub fn retransmission_keeps_identifier(v: ProtocolVersion) {
    let mut p = Pair::new(persistent(v));
    p.connect(false);
    let id1 =
        p.c.publish("t", b"1", QoS::AtLeastOnce, false, p.now)
            .unwrap()
            .unwrap();
    let id2 =
        p.c.publish("t", b"2", QoS::ExactlyOnce, false, p.now)
            .unwrap()
            .unwrap();
    p.sent();
    p.c.connection_lost();
    p.connect(true);
    assert_eq!(publish_ids(&p.sent()), vec![(id1, true), (id2, true)]);
    // PUBREC for id2: PUBREL with the same id; id2 still in use.
    p.server(Packet::PubRec(PubRec::new(id2)));
    assert_eq!(ack_ids(&p.sent()), vec![("PUBREL", id2)]);
    assert_eq!(p.c.in_flight_ids(), vec![id1, id2]);
    p.server(Packet::PubAck(PubAck::new(id1)));
    p.server(Packet::PubComp(PubComp::new(id2)));
    assert!(p.c.in_flight_ids().is_empty());
    let ev = p.events();
    assert!(ev.contains(&ClientEvent::Published(id1)) && ev.contains(&ClientEvent::Published(id2)));
}

/// MQTT-3.1.0-1: the first packet on a connection is CONNECT; nothing
/// can be sent before.
pub fn connect_first(v: ProtocolVersion) {
    let mut p = Pair::new(cfg(v));
    assert_eq!(
        p.c.publish("t", b"x", QoS::AtMostOnce, false, p.now),
        Err(ClientError::NotConnected)
    );
    assert_eq!(
        p.c.subscribe(&[("t", QoS::AtMostOnce)], p.now),
        Err(ClientError::NotConnected)
    );
    assert!(p.sent().is_empty());
    p.c.connect(p.now);
    // Still nothing but CONNECT before the CONNACK.
    assert_eq!(
        p.c.publish("t", b"x", QoS::AtMostOnce, false, p.now),
        Err(ClientError::NotConnected)
    );
    assert_eq!(p.sent_types(), ["CONNECT"]);
    // A reconnection starts with CONNECT again.
    p.server(Packet::ConnAck(ConnAck::new(
        false,
        ConnectReasonCode::Success,
    )));
    p.c.connection_lost();
    p.c.connect(p.now);
    assert_eq!(p.sent_types(), ["CONNECT"]);
}

/// MQTT-3.1.2-23 / MQTT-3.1.2-20: PINGREQ when nothing else was sent
/// within Keep Alive; none while other packets keep the gap short.
pub fn keep_alive_ping(v: ProtocolVersion) {
    let mut p = Pair::new(cfg(v));
    p.connect(false);
    for _ in 0..5 {
        p.advance(4_000);
        p.c.publish("t", b"x", QoS::AtMostOnce, false, p.now)
            .unwrap();
    }
    assert!(!p.sent_types().contains(&"PINGREQ"));
    assert_eq!(p.c.next_deadline(), Some(p.now + 10_000));
    p.advance(9_999);
    assert!(p.sent().is_empty());
    p.advance(1);
    assert_eq!(p.sent_types(), ["PINGREQ"]);
    p.server(Packet::PingResp);
    p.advance(10_000);
    assert_eq!(p.sent_types(), ["PINGREQ"]);
    // No answer for another Keep Alive: the client gives up.
    p.advance(10_000);
    assert!(p
        .events()
        .contains(&ClientEvent::Close(CloseReason::KeepAliveTimeout)));
}

/// MQTT-3.1.2-21 / MQTT-3.2.2-21: the Server Keep Alive replaces the
/// client's own.
pub fn server_keep_alive(v: ProtocolVersion) {
    let mut p = Pair::new(cfg(v));
    let props = ConnAckProperties {
        server_keep_alive: Some(3),
        ..Default::default()
    };
    let mut ack = ConnAck::new(false, ConnectReasonCode::Success);
    ack.properties = Lazy::new(&props);
    p.connect_with(ack);
    assert_eq!(p.c.next_deadline(), Some(p.now + 3_000));
    p.advance(3_000);
    assert_eq!(p.sent_types(), ["PINGREQ"]);
}

/// MQTT-3.14.4-1 / MQTT-3.14.4-2: after DISCONNECT the client asks for the
/// close and sends nothing more.
pub fn nothing_after_disconnect(v: ProtocolVersion) {
    let mut p = Pair::new(cfg(v));
    p.connect(false);
    p.c.disconnect(p.now).unwrap();
    assert_eq!(p.sent_types(), ["DISCONNECT"]);
    assert!(p
        .events()
        .contains(&ClientEvent::Close(CloseReason::Disconnect)));
    assert_eq!(
        p.c.publish("t", b"x", QoS::AtMostOnce, false, p.now),
        Err(ClientError::Disconnected)
    );
    assert_eq!(p.c.disconnect(p.now), Err(ClientError::Disconnected));
    // Packets from the server get no answer, timers send nothing.
    let mut pb = Publish::new("t", b"x");
    pb.qos = QoS::AtLeastOnce;
    pb.packet_id = Some(9);
    p.server(Packet::Publish(pb));
    p.advance(60_000);
    assert!(p.sent().is_empty());
}

/// MQTT-4.5.0-2: every received PUBLISH is acknowledged per its QoS.
pub fn acknowledges_every_publish(v: ProtocolVersion) {
    let mut p = Pair::new(cfg(v));
    p.connect(false);
    for (qos, id) in [
        (QoS::AtLeastOnce, 1),
        (QoS::ExactlyOnce, 2),
        (QoS::AtLeastOnce, 3),
    ] {
        let mut pb = Publish::new("t", b"x");
        pb.qos = qos;
        pb.packet_id = Some(id);
        p.server(Packet::Publish(pb));
    }
    // A resent QoS 2 PUBLISH is acknowledged again but delivered once.
    let mut again = Publish::new("t", b"x");
    again.qos = QoS::ExactlyOnce;
    again.packet_id = Some(2);
    again.dup = true;
    p.server(Packet::Publish(again));
    assert_eq!(
        ack_ids(&p.sent()),
        vec![("PUBACK", 1), ("PUBREC", 2), ("PUBACK", 3), ("PUBREC", 2)]
    );
    p.server(Packet::PubRel(PubRel::new(2)));
    assert_eq!(ack_ids(&p.sent()), vec![("PUBCOMP", 2)]);
    let messages = p
        .events()
        .iter()
        .filter(|e| matches!(e, ClientEvent::Message { .. }))
        .count();
    assert_eq!(messages, 3);
}

/// MQTT-4.6.0-1: after reconnecting, unacknowledged PUBLISHes go again in
/// their original order.
pub fn resend_in_order(v: ProtocolVersion) {
    let mut p = Pair::new(persistent(v));
    p.connect(false);
    let ids: Vec<u16> = (0..6u8)
        .map(|i| {
            let q = if i % 2 == 0 {
                QoS::AtLeastOnce
            } else {
                QoS::ExactlyOnce
            };
            p.c.publish("t", &[i], q, false, p.now).unwrap().unwrap()
        })
        .collect();
    p.sent();
    // The server acknowledges the third one only.
    p.server(Packet::PubAck(PubAck::new(ids[2])));
    p.c.connection_lost();
    p.connect(true);
    let again: Vec<u16> = publish_ids(&p.sent()).into_iter().map(|(i, _)| i).collect();
    assert_eq!(again, vec![ids[0], ids[1], ids[3], ids[4], ids[5]]);
}

/// MQTT-4.6.0-2 / MQTT-4.6.0-3: PUBACKs and PUBRECs in arrival order.
pub fn acks_in_arrival_order(v: ProtocolVersion, qos: QoS) {
    let mut p = Pair::new(cfg(v));
    p.connect(false);
    let order = [7u16, 3, 9, 1, 5];
    for id in order {
        let mut pb = Publish::new("t", b"x");
        pb.qos = qos;
        pb.packet_id = Some(id);
        p.server(Packet::Publish(pb));
    }
    let got: Vec<u16> = ack_ids(&p.sent()).into_iter().map(|(_, i)| i).collect();
    assert_eq!(got, order);
}

/// MQTT-4.6.0-4: PUBRELs in the order the PUBRECs came.
pub fn pubrel_in_pubrec_order(v: ProtocolVersion) {
    let mut p = Pair::new(cfg(v));
    p.connect(false);
    let ids: Vec<u16> = (0..4u8)
        .map(|i| {
            p.c.publish("t", &[i], QoS::ExactlyOnce, false, p.now)
                .unwrap()
                .unwrap()
        })
        .collect();
    p.sent();
    for k in [2, 0, 3, 1] {
        p.server(Packet::PubRec(PubRec::new(ids[k])));
    }
    let got: Vec<u16> = ack_ids(&p.sent()).into_iter().map(|(_, i)| i).collect();
    assert_eq!(got, vec![ids[2], ids[0], ids[3], ids[1]]);
}

/// MQTT-3.2.2-4: Session Present 1 for a client with no session closes.
pub fn unexpected_session_present(v: ProtocolVersion) {
    let mut p = Pair::new(cfg(v));
    let ev = p.connect_with(ConnAck::new(true, ConnectReasonCode::Success));
    assert!(
        ev.contains(&ClientEvent::Close(CloseReason::UnexpectedSession)),
        "{ev:?}"
    );
    assert!(!p.c.is_connected());
}

/// MQTT-3.2.2-5: Session Present 0 for a client holding a session: the
/// client's state goes (nothing is redelivered).
pub fn discard_state_without_session(v: ProtocolVersion) {
    let mut p = Pair::new(persistent(v));
    p.connect(false);
    p.c.publish("t", b"x", QoS::AtLeastOnce, false, p.now)
        .unwrap();
    p.sent();
    p.c.connection_lost();
    p.connect(false);
    assert!(p.sent().is_empty());
    assert!(p.c.in_flight_ids().is_empty());
}

/// A 5.0 client connected to a server whose CONNACK carries `props`.
fn limited(set: impl FnOnce(&mut ConnAckProperties<'static>)) -> Pair {
    let mut p = Pair::new(cfg(ProtocolVersion::V5));
    let mut props = ConnAckProperties::default();
    set(&mut props);
    let mut ack = ConnAck::new(false, ConnectReasonCode::Success);
    ack.properties = Lazy::new(&props);
    p.connect_with(ack);
    assert!(p.c.is_connected());
    p
}

/// MQTT-3.2.2-11: never above the Server's Maximum QoS.
pub fn respects_maximum_qos() {
    let mut p = limited(|a| a.maximum_qos = Some(QoS::AtLeastOnce));
    assert_eq!(
        p.c.publish("t", b"x", QoS::ExactlyOnce, false, p.now),
        Err(ClientError::QoSNotSupported)
    );
    assert!(p
        .c
        .publish("t", b"x", QoS::AtLeastOnce, false, p.now)
        .is_ok());
    assert_eq!(p.sent_types(), ["PUBLISH"]);
}

/// MQTT-3.2.2-14: no RETAIN after Retain Available 0.
pub fn respects_retain_available() {
    let mut p = limited(|a| a.retain_available = Some(false));
    assert_eq!(
        p.c.publish("t", b"x", QoS::AtMostOnce, true, p.now),
        Err(ClientError::RetainNotSupported)
    );
    assert!(p.sent().is_empty());
}

/// MQTT-3.2.2-15: nothing larger than the Server's Maximum Packet Size.
pub fn respects_maximum_packet_size() {
    let mut p = limited(|a| a.maximum_packet_size = Some(100));
    assert_eq!(
        p.c.publish("t", &[0u8; 200], QoS::AtMostOnce, false, p.now),
        Err(ClientError::PacketTooLarge)
    );
    let long = "f".repeat(120);
    assert_eq!(
        p.c.subscribe(&[(&long, QoS::AtMostOnce)], p.now),
        Err(ClientError::PacketTooLarge)
    );
    p.c.publish("t", &[0u8; 50], QoS::AtMostOnce, false, p.now)
        .unwrap();
    let sent = p.sent();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].bytes().len() <= 100);
}

fn aliases_sent(p: &mut Pair) -> Vec<(String, Option<u16>)> {
    p.sent()
        .iter()
        .filter_map(|x| match x.packet() {
            Packet::Publish(pb) => Some((pb.topic.to_owned(), pb.properties.get().topic_alias)),
            _ => None,
        })
        .collect()
}

/// MQTT-3.2.2-17 / MQTT-3.3.2-9: aliases stay within the Server's maximum.
pub fn aliases_within_server_maximum() {
    let mut p = limited(|a| a.topic_alias_maximum = Some(2));
    for t in ["a", "b", "c", "a", "c", "b"] {
        p.c.publish(t, b"x", QoS::AtMostOnce, false, p.now).unwrap();
    }
    let got = aliases_sent(&mut p);
    assert!(
        got.iter()
            .all(|(_, a)| a.is_none_or(|a| (1..=2).contains(&a))),
        "{got:?}"
    );
    let expect = [
        ("a", Some(1)),
        ("b", Some(2)),
        ("c", None),
        ("", Some(1)),
        ("c", None),
        ("", Some(2)),
    ];
    let expect: Vec<(String, Option<u16>)> =
        expect.iter().map(|(t, a)| (t.to_string(), *a)).collect();
    assert_eq!(got, expect);
}

/// MQTT-3.2.2-18: no Topic Alias when the Server allows none.
pub fn no_aliases_without_server_maximum() {
    for max in [None, Some(0)] {
        let mut p = limited(|a| a.topic_alias_maximum = max);
        for t in ["a", "a", "b"] {
            p.c.publish(t, b"x", QoS::AtMostOnce, false, p.now).unwrap();
        }
        let got = aliases_sent(&mut p);
        assert_eq!(got.len(), 3);
        assert!(
            got.iter().all(|(t, a)| a.is_none() && !t.is_empty()),
            "{got:?}"
        );
    }
}

/// MQTT-3.3.2-10: aliases 1..=declared maximum from the Server are taken.
pub fn accepts_aliases_up_to_own_maximum() {
    let mut c = cfg(ProtocolVersion::V5);
    c.topic_alias_maximum = 3;
    let mut p = Pair::new(c);
    p.connect(false);
    for (topic, alias) in [("x/1", 1), ("x/3", 3), ("", 1), ("", 3)] {
        let props = PublishProperties {
            topic_alias: Some(alias),
            ..Default::default()
        };
        let mut pb = Publish::new(topic, b"m");
        pb.properties = Lazy::new(&props);
        p.server(Packet::Publish(pb));
    }
    let topics: Vec<String> = p
        .events()
        .into_iter()
        .filter_map(|e| match e {
            ClientEvent::Message { topic, .. } => Some(topic.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(topics, ["x/1", "x/3", "x/1", "x/3"]);
    // Above the declared maximum: the Server broke the rule.
    let props = PublishProperties {
        topic_alias: Some(4),
        ..Default::default()
    };
    let mut pb = Publish::new("x/4", b"m");
    pb.properties = Lazy::new(&props);
    p.server(Packet::Publish(pb));
    assert_eq!(p.sent_types(), ["DISCONNECT"]);
}

/// MQTT-3.3.4-7: in-flight QoS 1/2 PUBLISHes stay within the Server's
/// Receive Maximum; the rest wait for acknowledgements.
pub fn respects_receive_maximum() {
    let mut p = limited(|a| a.receive_maximum = Some(2));
    let ids: Vec<u16> = (0..5u8)
        .map(|i| {
            p.c.publish("t", &[i], QoS::AtLeastOnce, false, p.now)
                .unwrap()
                .unwrap()
        })
        .collect();
    assert_eq!(publish_ids(&p.sent()).len(), 2);
    assert_eq!(p.c.held_count(), 3);
    p.server(Packet::PubAck(PubAck::new(ids[0])));
    assert_eq!(publish_ids(&p.sent()), vec![(ids[2], false)]);
    p.server(Packet::PubAck(PubAck::new(ids[1])));
    p.server(Packet::PubAck(PubAck::new(ids[2])));
    assert_eq!(
        publish_ids(&p.sent()),
        vec![(ids[3], false), (ids[4], false)]
    );
    assert_eq!(p.c.held_count(), 0);
}

/// MQTT-3.3.4-8: a full Receive Maximum holds back no other packet.
pub fn receive_maximum_does_not_block_others() {
    let mut p = limited(|a| a.receive_maximum = Some(1));
    p.c.publish("t", b"1", QoS::AtLeastOnce, false, p.now)
        .unwrap();
    p.c.publish("t", b"2", QoS::AtLeastOnce, false, p.now)
        .unwrap();
    p.c.publish("t", b"0", QoS::AtMostOnce, false, p.now)
        .unwrap();
    p.c.subscribe(&[("s", QoS::AtLeastOnce)], p.now).unwrap();
    p.c.unsubscribe(&["s"], p.now).unwrap();
    let mut pb = Publish::new("in", b"x");
    pb.qos = QoS::ExactlyOnce;
    pb.packet_id = Some(40);
    p.server(Packet::Publish(pb));
    assert_eq!(
        p.sent_types(),
        ["PUBLISH", "PUBLISH", "SUBSCRIBE", "UNSUBSCRIBE", "PUBREC"]
    );
    assert_eq!(p.c.held_count(), 1);
}

/// A 5.0 client with enhanced authentication `method`.
fn auth_client(method: &str) -> Pair {
    let mut c = cfg(ProtocolVersion::V5);
    c.auth = Some((method.to_owned(), b"hello".to_vec()));
    Pair::new(c)
}

fn server_auth(p: &mut Pair, code: AuthReasonCode, method: &str, data: &[u8]) {
    let mut a = Auth::new(code);
    a.properties.authentication_method = Some(method);
    a.properties.authentication_data = Some(data);
    p.server(Packet::Auth(a));
}

fn auth_sent(p: &mut Pair) -> Vec<(AuthReasonCode, Option<String>)> {
    p.sent()
        .iter()
        .map(|x| match x.packet() {
            Packet::Auth(a) => (
                a.reason_code,
                a.properties.authentication_method.map(str::to_owned),
            ),
            other => panic!("expected AUTH, got {other:?}"),
        })
        .collect()
}

/// MQTT-3.1.2-30: with an Authentication Method only AUTH (or DISCONNECT)
/// goes out before CONNACK.
pub fn only_auth_before_connack() {
    let mut p = auth_client("m1");
    p.c.connect(p.now);
    p.sent();
    assert_eq!(
        p.c.subscribe(&[("t", QoS::AtMostOnce)], p.now),
        Err(ClientError::NotConnected)
    );
    server_auth(
        &mut p,
        AuthReasonCode::ContinueAuthentication,
        "m1",
        b"nonce",
    );
    assert_eq!(p.events(), [ClientEvent::AuthChallenge(b"nonce".to_vec())]);
    p.c.auth_continue(b"answer", p.now).unwrap();
    assert_eq!(p.sent_types(), ["AUTH"]);
}

/// MQTT-4.12.0-3: the answer to a Server AUTH carries 0x18 (and the
/// method, MQTT-4.12.0-5).
pub fn auth_reply_is_continue() {
    let mut p = auth_client("m1");
    p.c.connect(p.now);
    p.sent();
    server_auth(
        &mut p,
        AuthReasonCode::ContinueAuthentication,
        "m1",
        b"nonce",
    );
    p.c.auth_continue(b"answer", p.now).unwrap();
    assert_eq!(
        auth_sent(&mut p),
        [(AuthReasonCode::ContinueAuthentication, Some("m1".into()))]
    );
}

/// MQTT-4.12.0-7: without a method the client never sends AUTH.
pub fn no_auth_without_method() {
    let mut p = Pair::new(cfg(ProtocolVersion::V5));
    p.connect(false);
    assert_eq!(
        p.c.reauthenticate(b"x", p.now),
        Err(ClientError::NoAuthentication)
    );
    assert_eq!(
        p.c.auth_continue(b"x", p.now),
        Err(ClientError::NoAuthentication)
    );
    assert!(p.sent().is_empty());
}

/// MQTT-4.12.1-1: re-authentication (0x19) uses the CONNECT's method.
pub fn reauthentication_same_method() {
    let mut p = auth_client("m1");
    p.c.connect(p.now);
    p.sent();
    let props = ConnAckProperties {
        authentication_method: Some("m1"),
        ..Default::default()
    };
    let mut ack = ConnAck::new(false, ConnectReasonCode::Success);
    ack.properties = Lazy::new(&props);
    p.server(Packet::ConnAck(ack));
    assert!(p.c.is_connected());
    p.c.reauthenticate(b"again", p.now).unwrap();
    assert_eq!(
        auth_sent(&mut p),
        [(AuthReasonCode::ReAuthenticate, Some("m1".into()))]
    );
    server_auth(&mut p, AuthReasonCode::Success, "m1", b"");
    assert!(p.events().contains(&ClientEvent::Reauthenticated));
}
