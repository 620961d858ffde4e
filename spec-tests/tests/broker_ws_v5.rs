// inventory: mqtt5
//! MQTT over WebSocket (§6) on the reference broker's WebSocket listener.

use mqttkit_codec::ProtocolVersion;
use mqttkit_spec_tests::ws::session;

const V: ProtocolVersion = ProtocolVersion::V5;

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
