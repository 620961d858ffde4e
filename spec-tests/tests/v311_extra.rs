// inventory: mqtt311
//! Codec statements of 3.1.1 that no single malformed packet expresses:
//! what a receiver keeps, and limits only the encoder can break.

use mqttkit_codec::{Decoder, Packet, ProtocolVersion, Publish, QoS};
use mqttkit_spec_tests::{accepts, corpus};

const V: ProtocolVersion = ProtocolVersion::V3_1_1;

/// MQTT-1.5.3-3: EF BB BF is U+FEFF and is kept, not stripped.
#[test]
fn mqtt_1_5_3_3_bom_is_kept_in_strings() {
    accepts("311-publish-bom-kept-mqtt-1-5-3-3");
    let c = corpus::load_one("311-publish-bom-kept-mqtt-1-5-3-3");
    let (p, _) = Decoder::new(V).decode(&c.bytes).unwrap();
    let Packet::Publish(p) = p else {
        panic!("{p:?}")
    };
    assert_eq!(p.topic, "a/\u{feff}b");
}

/// MQTT-2.3.1-5: a QoS 0 PUBLISH has no Packet Identifier, so the two bytes
/// after the topic belong to the payload; the encoder refuses an identifier.
#[test]
fn mqtt_2_3_1_5_qos0_publish_has_no_packet_identifier() {
    accepts("311-publish-qos0-payload-looks-like-id");
    let c = corpus::load_one("311-publish-qos0-payload-looks-like-id");
    let (p, _) = Decoder::new(V).decode(&c.bytes).unwrap();
    let Packet::Publish(p) = p else {
        panic!("{p:?}")
    };
    assert_eq!((p.packet_id, &p.payload[..2]), (None, &[0u8, 1][..]));
    let mut bad = Publish::new("t", b"x");
    bad.packet_id = Some(1);
    let e = Packet::Publish(bad).to_vec(V).unwrap_err();
    assert_eq!(e.statement(), "MQTT-2.3.1-5");
    bad.qos = QoS::AtLeastOnce;
    assert!(Packet::Publish(bad).to_vec(V).is_ok());
}

/// MQTT-4.7.3-3: topics are at most 65535 bytes; the 16-bit length cannot
/// say more, so only the encoder can be asked to break it.
#[test]
fn mqtt_4_7_3_3_topic_at_most_65535_bytes() {
    let long = "a".repeat(65_536);
    let e = Packet::Publish(Publish::new(&long, b""))
        .to_vec(V)
        .unwrap_err();
    assert_eq!(e.statement(), "MQTT-4.7.3-3");
    let max = "a".repeat(65_535);
    let bytes = Packet::Publish(Publish::new(&max, b"")).to_vec(V).unwrap();
    let (p, n) = Decoder::new(V).decode(&bytes).unwrap();
    assert_eq!(n, bytes.len());
    assert!(matches!(p, Packet::Publish(p) if p.topic.len() == 65_535));
}
