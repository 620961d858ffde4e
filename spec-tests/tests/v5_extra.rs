// inventory: mqtt5
//! Codec statements of 5.0 that no single malformed packet expresses.

use mqttkit_codec::{
    Decoder, Packet, ProtocolVersion, PubAck, Publish, QoS, Subscribe, Subscription,
};
use mqttkit_spec_tests::{bom_is_kept, hex, qos0_has_no_packet_identifier, topic_length_limit};

const V: ProtocolVersion = ProtocolVersion::V5;

/// MQTT-1.5.4-3: EF BB BF is U+FEFF and is kept, not stripped.
#[test]
fn mqtt_1_5_4_3_bom_is_kept_in_strings() {
    bom_is_kept("5-publish-bom-kept-mqtt-1-5-4-3");
}

/// MQTT-2.2.1-2: a QoS 0 PUBLISH has no Packet Identifier.
#[test]
fn mqtt_2_2_1_2_qos0_publish_has_no_packet_identifier() {
    qos0_has_no_packet_identifier("5-publish-qos0-payload-looks-like-id", "MQTT-2.2.1-2");
}

/// MQTT-2.2.2-1: a packet with no properties still carries Property Length 0.
#[test]
fn mqtt_2_2_2_1_empty_properties_encode_a_zero_length() {
    let subs = [Subscription::new("a", QoS::AtMostOnce)];
    let out = Packet::Subscribe(Subscribe::new(1, &subs))
        .to_vec(V)
        .unwrap();
    assert_eq!(out, hex("82 07 00 01 00 00 01 61 00"));
    let out = Packet::Publish(Publish::new("a", b"x")).to_vec(V).unwrap();
    assert_eq!(out, hex("30 05 00 01 61 00 78"));
    // Without the zero the same bytes mean something else: the decoder takes
    // the first payload byte as the Property Length.
    let missing = hex("30 04 00 01 61 78");
    let decoded = Decoder::new(V).decode(&missing);
    assert!(!matches!(decoded, Ok((Packet::Publish(q), _)) if q.payload == b"x"));
    // The short forms the specification allows stay short.
    assert_eq!(
        Packet::PubAck(PubAck::new(5)).to_vec(V).unwrap(),
        hex("40 02 00 05")
    );
}

/// MQTT-4.7.3-3: topics are at most 65535 bytes (encoder side).
#[test]
fn mqtt_4_7_3_3_topic_at_most_65535_bytes() {
    topic_length_limit(V);
}
