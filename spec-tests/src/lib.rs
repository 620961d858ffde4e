//! Statement tests for mqttkit and the coverage matrix.
//!
//! Tests in `tests/v311.rs` and `tests/v5.rs` are named after the normative
//! statement they check (`mqtt_3_3_2_2_...` checks MQTT-3.3.2-2 of the
//! inventory the file belongs to). [`matrix`] turns the inventories and the
//! test names into `MATRIX.md`.

#[path = "../../crates/codec/tests/common/mod.rs"]
pub mod corpus;

pub mod matrix;

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
