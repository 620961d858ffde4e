// inventory: mqtt311
//! MQTT over WebSocket (§6) on the reference broker's WebSocket listener;
//! the checks are shared by both versions (`mqttkit_spec_tests::ws`).

use mqttkit_codec::ProtocolVersion;
use mqttkit_spec_tests::ws;

const V: ProtocolVersion = ProtocolVersion::V3_1_1;

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

#[test]
fn mqtt_7_1_1_1_a_conformant_server_supports_at_least_one() {
    // TCP: 200 QoS 0 messages to the publisher's own subscription arrive
    // complete and in order.
    let got = ws::tcp_round_trip(V, 200);
    let want: Vec<Vec<u8>> = (0..200u32).map(|i| i.to_be_bytes().to_vec()).collect();
    assert_eq!(got, want);
}
