// inventory: mqtt5
//! Statements the conformance cases cannot provoke over the wire on a
//! default broker (limits, refusals, expiry timing, authorization),
//! checked on the model directly, with time advanced by hand.

use mqttkit_codec::{
    Connect, ConnectReasonCode, Packet, ProtocolVersion, PubAckReasonCode, PubRec, PubRel, Publish,
    PublishProperties, QoS,
};
use mqttkit_model::testkit::World;
use mqttkit_model::{Authorizer, Config, Credentials, Refusal};

const V: ProtocolVersion = ProtocolVersion::V5;

/// Allows everything but publishing to `secret/...`.
struct NoSecrets;

impl Authorizer for NoSecrets {
    fn connect(&mut self, _who: &Credentials<'_>) -> Result<(), Refusal> {
        Ok(())
    }
    fn publish(&mut self, _c: &str, _u: Option<&str>, topic: &str) -> bool {
        !topic.starts_with("secret/")
    }
    fn subscribe(&mut self, _c: &str, _u: Option<&str>, _f: &str) -> bool {
        true
    }
}

fn publish_with_expiry<'a>(
    topic: &'a str,
    payload: &'a [u8],
    qos: QoS,
    id: u16,
    expiry: &'a PublishProperties<'a>,
) -> Publish<'a> {
    let mut p = Publish::new(topic, payload);
    p.qos = qos;
    p.packet_id = Some(id);
    p.properties = expiry.into();
    p
}

/// Properties with just a Message Expiry Interval of `secs`.
fn expiry(secs: u32) -> PublishProperties<'static> {
    PublishProperties {
        message_expiry_interval: Some(secs),
        ..Default::default()
    }
}

#[test]
fn mqtt_3_1_3_8_server_rejecting_a_clientid_may_answer_connack() {
    let config = Config {
        max_client_id_len: 8,
        ..Config::default()
    };
    let mut w = World::new(config);
    w.open(1, V);
    w.send(
        1,
        Packet::Connect((&Connect::new(V, "much-too-long-id")).into()),
    );
    let got = w.take(1);
    assert!(
        matches!(got[0].packet(), Packet::ConnAck(a) if a.reason_code == ConnectReasonCode::ClientIdentifierNotValid)
    );
    assert_eq!(w.closed, vec![1]);
}

#[test]
fn mqtt_3_2_2_9_a_server_lacking_qos_1_or_2() {
    for max in [QoS::AtMostOnce, QoS::AtLeastOnce] {
        let mut w = World::new(Config {
            maximum_qos: max,
            ..Config::default()
        });
        w.open(1, V);
        w.send(1, Packet::Connect((&Connect::new(V, "c")).into()));
        let got = w.take(1);
        let Packet::ConnAck(a) = got[0].packet() else {
            panic!("{got:?}")
        };
        assert_eq!(a.properties.get().maximum_qos, Some(max));
    }
    // A broker with QoS 2 leaves the property out (2 is the default).
    let mut w = World::new(Config::default());
    w.open(1, V);
    w.send(1, Packet::Connect((&Connect::new(V, "c")).into()));
    let got = w.take(1);
    let Packet::ConnAck(a) = got[0].packet() else {
        panic!("{got:?}")
    };
    assert_eq!(a.properties.get().maximum_qos, None);
}

#[test]
fn mqtt_3_3_2_5_an_expired_message_not_yet_being_delivered() {
    let mut w = World::new(Config::default());
    w.connect(1, V, "away", false);
    w.subscribe(1, "t", QoS::AtLeastOnce);
    w.b.connection_lost(1, w.now);
    w.connect(2, V, "pub", true);
    w.send(
        2,
        Packet::Publish(publish_with_expiry(
            "t",
            b"short",
            QoS::AtLeastOnce,
            1,
            &expiry(2),
        )),
    );
    w.send(
        2,
        Packet::Publish(publish_with_expiry(
            "t",
            b"long",
            QoS::AtLeastOnce,
            2,
            &expiry(60),
        )),
    );
    w.advance(3_000);
    w.connect(3, V, "away", false);
    let got: Vec<Vec<u8>> = w
        .take(3)
        .iter()
        .filter_map(|p| match p.packet() {
            Packet::Publish(p) => Some(p.payload.to_vec()),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        vec![b"long".to_vec()],
        "the expired message is not delivered"
    );
}

#[test]
fn mqtt_4_3_3_7_qos_2_sender_does_not_expire_a() {
    let mut w = World::new(Config::default());
    w.connect(1, V, "sub", false);
    w.subscribe(1, "t", QoS::ExactlyOnce);
    w.connect(2, V, "pub", true);
    w.send(
        2,
        Packet::Publish(publish_with_expiry(
            "t",
            b"m",
            QoS::ExactlyOnce,
            1,
            &expiry(1),
        )),
    );
    let first = w.take(1);
    let Packet::Publish(p) = first[0].packet() else {
        panic!("{first:?}")
    };
    let id = p.packet_id.unwrap();
    // The subscriber goes away before PUBREC; the expiry passes.
    w.b.connection_lost(1, w.now);
    w.advance(5_000);
    w.connect(3, V, "sub", false);
    let again = w.take(3);
    let resent = again.iter().find_map(|p| match p.packet() {
        Packet::Publish(p) => Some((p.packet_id, p.dup)),
        _ => None,
    });
    assert_eq!(
        resent,
        Some((Some(id), true)),
        "the started exchange goes on"
    );
    w.send(3, Packet::PubRec(PubRec::new(id)));
    assert!(matches!(w.take(3)[0].packet(), Packet::PubRel(r) if r.packet_id == id));
}

#[test]
fn mqtt_4_3_3_9_after_sending_pubrec_0x80_or_above() {
    let mut w = World::with_authorizer(Config::default(), NoSecrets);
    w.connect(1, V, "sub", true);
    w.subscribe(1, "#", QoS::ExactlyOnce);
    w.connect(2, V, "pub", true);
    let mut p = Publish::new("secret/x", b"1");
    p.qos = QoS::ExactlyOnce;
    p.packet_id = Some(9);
    w.send(2, Packet::Publish(p));
    assert!(
        matches!(w.take(2)[0].packet(), Packet::PubRec(r) if r.reason_code == PubAckReasonCode::NotAuthorized)
    );
    // The same id again is a new message: here an allowed one, delivered.
    let mut q = Publish::new("public/x", b"2");
    q.qos = QoS::ExactlyOnce;
    q.packet_id = Some(9);
    w.send(2, Packet::Publish(q));
    assert!(
        matches!(w.take(2)[0].packet(), Packet::PubRec(r) if r.reason_code == PubAckReasonCode::Success)
    );
    assert_eq!(w.take(1).len(), 1);
}

#[test]
fn mqtt_4_3_3_13_qos_2_receiver_completes_the_acknowledgement_exchange() {
    let mut w = World::new(Config::default());
    w.connect(2, V, "pub", true);
    w.send(
        2,
        Packet::Publish(publish_with_expiry(
            "t",
            b"m",
            QoS::ExactlyOnce,
            4,
            &expiry(1),
        )),
    );
    assert!(matches!(w.take(2)[0].packet(), Packet::PubRec(r) if r.packet_id == 4));
    w.advance(10_000);
    w.send(2, Packet::PubRel(PubRel::new(4)));
    let got = w.take(2);
    assert!(
        matches!(got[0].packet(), Packet::PubComp(c) if c.packet_id == 4 && c.reason_code as u8 == 0)
    );
}
