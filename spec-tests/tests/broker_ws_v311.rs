// inventory: mqtt311
//! MQTT over WebSocket (§6) on the reference broker's WebSocket listener.

use mqttkit_codec::ProtocolVersion;
use mqttkit_spec_tests::ws::session;

const V: ProtocolVersion = ProtocolVersion::V3_1_1;

#[test]
fn mqtt_6_0_0_1_over_websocket_mqtt_uses_binary_frames_only() {
    let s = session(V);
    // Binary messages carried the session ...
    assert_eq!(s.received, ["CONNACK", "SUBACK", "PINGRESP"], "{s:?}");
    // ... and a text message ended it.
    assert!(s.closed_on_text, "{s:?}");
}

#[test]
fn mqtt_6_0_0_2_receivers_must_not_rely_on_mqtt_packets() {
    // The CONNECT came in two messages, SUBSCRIBE and PINGREQ in one.
    let s = session(V);
    assert_eq!(s.received, ["CONNACK", "SUBACK", "PINGRESP"], "{s:?}");
}

#[test]
fn mqtt_6_0_0_4_server_selects_and_returns_mqtt_as_the() {
    let s = session(V);
    assert_eq!(s.subprotocol.as_deref(), Some("mqtt"), "{s:?}");
}

#[test]
fn mqtt_7_1_1_1_a_conformant_server_supports_at_least_one() {
    // TCP: 200 QoS 0 messages to the publisher's own subscription arrive
    // complete and in order.
    let got = mqttkit_spec_tests::ws::tcp_round_trip(V, 200);
    let want: Vec<Vec<u8>> = (0..200u32).map(|i| i.to_be_bytes().to_vec()).collect();
    assert_eq!(got, want);
}
