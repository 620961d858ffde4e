// inventory: mqtt311
//! Statements the conformance cases cannot provoke over the wire on a
//! default broker (an authorization policy, a feature turned off, a
//! refusal with no return code), checked on the model directly.

use mqttkit_codec::{Packet, ProtocolVersion, QoS, SubscribeReasonCode};
use mqttkit_model::testkit::World;
use mqttkit_model::{Authorizer, Config, Credentials, Refusal};

const V: ProtocolVersion = ProtocolVersion::V3_1_1;

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

#[test]
fn mqtt_3_2_2_6_when_no_defined_return_code_fits_the() {
    // A CONNECT with the reserved flag set: malformed, and none of the
    // CONNACK return codes describes it.
    let mut w = World::new(Config::default());
    w.open(1, V);
    w.raw(
        1,
        &[
            0x10, 0x0c, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x03, 0x00, 0x3c, 0x00, 0x00,
        ],
    );
    assert!(w.take(1).is_empty(), "no CONNACK");
    assert_eq!(w.closed, vec![1]);
}

#[test]
fn mqtt_3_3_5_2_unauthorized_publish_server_either_acknowledges_it() {
    let mut w = World::with_authorizer(Config::default(), NoSecrets);
    w.connect(1, V, "sub", true);
    w.subscribe(1, "#", QoS::AtLeastOnce);
    w.connect(2, V, "pub", true);
    w.publish(2, "secret/x", b"no", QoS::AtLeastOnce, 5);
    // Acknowledged as usual, not delivered, connection kept.
    let acks = w.take(2);
    assert!(
        matches!(acks[0].packet(), Packet::PubAck(a) if a.packet_id == 5 && a.reason_code as u8 == 0)
    );
    assert!(w.take(1).is_empty());
    assert!(w.closed.is_empty());
    w.publish(2, "public/x", b"yes", QoS::AtLeastOnce, 6);
    assert_eq!(w.take(1).len(), 1);
}

#[test]
fn mqtt_3_8_3_2_a_server_not_supporting_wildcards_rejects_any() {
    let config = Config {
        wildcard_subscription_available: false,
        ..Config::default()
    };
    let mut w = World::new(config);
    w.connect(1, V, "s", true);
    assert_eq!(
        w.subscribe(1, "a/+", QoS::AtMostOnce),
        SubscribeReasonCode::UnspecifiedError
    );
    assert_eq!(
        w.subscribe(1, "a/#", QoS::AtMostOnce),
        SubscribeReasonCode::UnspecifiedError
    );
    assert_eq!(
        w.subscribe(1, "a/b", QoS::AtMostOnce),
        SubscribeReasonCode::GrantedQoS0
    );
}
