// inventory: mqtt311
//! Codec statements of 3.1.1 that no single malformed packet expresses:
//! what a receiver keeps, and limits only the encoder can break.

use mqttkit_codec::ProtocolVersion;
use mqttkit_spec_tests::{bom_is_kept, qos0_has_no_packet_identifier, topic_length_limit};

/// MQTT-1.5.3-3: EF BB BF is U+FEFF and is kept, not stripped.
#[test]
fn mqtt_1_5_3_3_bom_is_kept_in_strings() {
    bom_is_kept("311-publish-bom-kept-mqtt-1-5-3-3");
}

/// MQTT-2.3.1-5: a QoS 0 PUBLISH has no Packet Identifier.
#[test]
fn mqtt_2_3_1_5_qos0_publish_has_no_packet_identifier() {
    qos0_has_no_packet_identifier("311-publish-qos0-payload-looks-like-id", "MQTT-2.3.1-5");
}

/// MQTT-4.7.3-3: topics are at most 65535 bytes; the 16-bit length cannot
/// say more, so only the encoder can be asked to break it.
#[test]
fn mqtt_4_7_3_3_topic_at_most_65535_bytes() {
    topic_length_limit(ProtocolVersion::V3_1_1);
}
