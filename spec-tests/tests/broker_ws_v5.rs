// inventory: mqtt5
//! MQTT over WebSocket (§6) on the reference broker's WebSocket listener;
//! the checks are shared by both versions (`mqttkit_spec_tests::ws`).

use mqttkit_codec::ProtocolVersion;
use mqttkit_spec_tests::ws;

const V: ProtocolVersion = ProtocolVersion::V5;

#[test]
fn mqtt_6_0_0_1_over_websocket_mqtt_uses_binary_frames_only() {
    ws::check_binary_frames_only(V);
}

#[test]
fn mqtt_6_0_0_2_receivers_must_not_rely_on_mqtt_packets() {
    ws::check_packets_across_messages(V);
}

#[test]
fn mqtt_6_0_0_4_server_selects_and_returns_mqtt_as_the() {
    ws::check_subprotocol_is_mqtt(V);
}
