//! Statement tests for mqttkit and the coverage matrix.
//!
//! Tests in `tests/v311.rs` and `tests/v5.rs` are named after the normative
//! statement they check (`mqtt_3_3_2_2_...` checks MQTT-3.3.2-2 of the
//! inventory the file belongs to). [`matrix`] turns the inventories and the
//! test names into `MATRIX.md`.

#[path = "../../crates/codec/tests/common/mod.rs"]
pub mod corpus;

pub mod client;
pub mod matrix;
pub mod model;
pub mod topic;
pub mod ws;

use mqttkit_codec::DecodeError;

/// Asserts that corpus case `name` is rejected by the strict decoder with
/// `statement`, that the file says so, and that the lenient decoder reports
/// the same statement first.
pub fn rejects(name: &str, statement: &str) {
    let c = corpus::load_one(name);
    assert_eq!(
        c.expect, statement,
        "{name}: the corpus file expects something else"
    );
    let d = c.decoder();
    match d.decode(&c.bytes) {
        Err(DecodeError::Invalid(v)) => {
            assert_eq!(v.statement(), statement, "{name}: {v}");
            // A missing field is reported at the end of the packet.
            assert!(
                v.offset <= c.bytes.len(),
                "{name}: offset {} outside the packet",
                v.offset
            );
        }
        other => panic!("{name}: expected a violation of {statement}, got {other:?}"),
    }
    match d.decode_lenient(&c.bytes) {
        Ok((_, _, vs)) => {
            let first = vs.first().map(|v| v.statement());
            assert_eq!(first, Some(statement), "{name}: lenient mode found {vs:?}");
        }
        Err(e) => assert_eq!(
            e.statement(),
            Some(statement),
            "{name}: lenient mode failed with {e}"
        ),
    }
}

/// Asserts that corpus case `name` is valid: it decodes strictly, whole,
/// with no violation, and re-encodes to the same bytes.
pub fn accepts(name: &str) {
    let c = corpus::load_one(name);
    assert_eq!(
        c.expect, "ok",
        "{name}: the corpus file does not call it valid"
    );
    let d = c.decoder();
    let (p, n) = d.decode(&c.bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        n,
        c.bytes.len(),
        "{name}: decoded {n} of {} bytes",
        c.bytes.len()
    );
    let (_, _, vs) = d
        .decode_lenient(&c.bytes)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(vs.is_empty(), "{name}: lenient mode found {vs:?}");
    let out = p
        .to_vec(c.version)
        .unwrap_or_else(|e| panic!("{name}: encode: {e}"));
    assert_eq!(out, c.bytes, "{name}: re-encoded bytes differ");
}

/// Parses hex with optional whitespace.
pub fn hex(text: &str) -> Vec<u8> {
    corpus::parse_hex(text).unwrap_or_else(|e| panic!("bad hex {text:?}: {e}"))
}

/// The BOM statements (MQTT-1.5.3-3, MQTT-1.5.4-3): corpus case `name`
/// is valid and its topic keeps U+FEFF.
pub fn bom_is_kept(name: &str) {
    use mqttkit_codec::Packet;
    accepts(name);
    let c = corpus::load_one(name);
    let (p, _) = c.decoder().decode(&c.bytes).unwrap();
    let Packet::Publish(p) = p else {
        panic!("{name}: {p:?}")
    };
    assert_eq!(p.topic, "a/\u{feff}b", "{name}");
}

/// MQTT-2.3.1-5 / MQTT-2.2.1-2: in corpus case `name` the two bytes after a
/// QoS 0 topic are payload, and the encoder refuses a QoS 0 PUBLISH with a
/// Packet Identifier, citing `statement`.
pub fn qos0_has_no_packet_identifier(name: &str, statement: &str) {
    use mqttkit_codec::{Packet, Publish, QoS};
    accepts(name);
    let c = corpus::load_one(name);
    let (p, _) = c.decoder().decode(&c.bytes).unwrap();
    let Packet::Publish(p) = p else {
        panic!("{name}: {p:?}")
    };
    assert_eq!(
        (p.packet_id, &p.payload[..2]),
        (None, &[0u8, 1][..]),
        "{name}"
    );
    let mut bad = Publish::new("t", b"x");
    bad.packet_id = Some(1);
    assert_eq!(
        Packet::Publish(bad)
            .to_vec(c.version)
            .unwrap_err()
            .statement(),
        statement
    );
    bad.qos = QoS::AtLeastOnce;
    assert!(Packet::Publish(bad).to_vec(c.version).is_ok());
}

/// MQTT-4.7.3-3: the encoder refuses a 65536-byte topic and the decoder
/// takes a 65535-byte one.
pub fn topic_length_limit(version: mqttkit_codec::ProtocolVersion) {
    use mqttkit_codec::{Decoder, Packet, Publish};
    let long = "a".repeat(65_536);
    let e = Packet::Publish(Publish::new(&long, b""))
        .to_vec(version)
        .unwrap_err();
    assert_eq!(e.statement(), "MQTT-4.7.3-3");
    let max = "a".repeat(65_535);
    let bytes = Packet::Publish(Publish::new(&max, b""))
        .to_vec(version)
        .unwrap();
    let (p, n) = Decoder::new(version).decode(&bytes).unwrap();
    assert_eq!(n, bytes.len());
    assert!(matches!(p, Packet::Publish(p) if p.topic.len() == 65_535));
}
