//! The strict decoder's fast paths (common PUBLISH, bare acknowledgements)
//! against the general parser: the lenient decoder never takes them, and
//! `check_decode` asserts that strict and lenient agree (same packet, same
//! length, same first violation). Every first byte, every direction, both
//! versions, over short bodies shaped like the fast paths' packets.

use mqttkit_codec::fuzz_targets::check_decode;
use mqttkit_codec::{Decoder, ProtocolVersion, Role};

fn decoders() -> Vec<Decoder> {
    let mut out = Vec::new();
    for v in [
        ProtocolVersion::V3_1,
        ProtocolVersion::V3_1_1,
        ProtocolVersion::V5,
    ] {
        out.push(Decoder::new(v));
        out.push(Decoder::new(v).sent_by(Role::Client));
        out.push(Decoder::new(v).sent_by(Role::Server));
    }
    out
}

#[test]
fn acknowledgement_shapes() {
    for d in decoders() {
        for b0 in 0..=255u8 {
            for len in [0u8, 1, 2, 3, 4] {
                for id in [0u16, 1, 0x00ff, 0xff00, 0xffff] {
                    let mut buf = vec![b0, len];
                    buf.extend_from_slice(&id.to_be_bytes());
                    buf.extend_from_slice(&[0, 0]);
                    buf.truncate(2 + len as usize);
                    check_decode(&d, &buf);
                    // Non-minimal Remaining Length of the same value.
                    let mut long = vec![b0, 0x80 | len, 0x00];
                    long.extend_from_slice(&buf[2..]);
                    check_decode(&d, &long);
                }
            }
        }
    }
}

/// 5.0 property blocks (length prefix included) around the short-block
/// fast path: accepted ones, and each way to leave it.
const PROPS: &[&[u8]] = &[
    &[],
    &[0],
    &[3, 0x23, 0, 1],
    &[3, 0x23, 0, 0],
    &[2, 0x23, 0],
    &[2, 0x01, 0],
    &[2, 0x01, 1],
    &[2, 0x01, 2],
    &[5, 0x02, 0, 0, 0, 9],
    &[4, 0x02, 0, 0, 0],
    &[10, 0x01, 1, 0x02, 0, 0, 1, 0, 0x23, 0x12, 0x34],
    &[6, 0x23, 0, 1, 0x23, 0, 2],
    &[4, 0x01, 1, 0x01, 0],
    &[2, 0x0B, 1],
    &[2, 0x0B, 0],
    &[4, 0x03, 0, 1, b'x'],
    &[3, 0x26, 0, 0],
    &[2, 0x7F, 0],
    &[0x80, 0],
    &[0x80, 0x01, 0x01, 0x01],
];

#[test]
fn publish_shapes() {
    let topics: [&[u8]; 9] = [
        b"",
        b"a",
        b"a/b",
        b"sensors/000042/temp1",
        b"a/+",
        b"#",
        b"a\0b",
        "caf\u{e9}/x".as_bytes(),
        b"\xff\xfe",
    ];
    for d in decoders() {
        for flags in 0..16u8 {
            for topic in topics {
                for id in [None, Some(0u16), Some(7)] {
                    for props in PROPS {
                        let mut body = (topic.len() as u16).to_be_bytes().to_vec();
                        body.extend_from_slice(topic);
                        if let Some(id) = id {
                            body.extend_from_slice(&id.to_be_bytes());
                        }
                        body.extend_from_slice(props);
                        body.extend_from_slice(b"payload");
                        let mut buf = vec![0x30 | flags, body.len() as u8];
                        buf.extend_from_slice(&body);
                        check_decode(&d, &buf);
                        // Truncated bodies.
                        for cut in 0..body.len() {
                            let mut t = vec![0x30 | flags, cut as u8];
                            t.extend_from_slice(&body[..cut]);
                            check_decode(&d, &t);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn short_property_block_values() {
    use mqttkit_codec::Packet;
    let mut buf = vec![0x32, 0];
    buf.extend_from_slice(&[0, 3, b'a', b'/', b'b', 0, 9]);
    buf.extend_from_slice(&[10, 0x01, 1, 0x02, 0, 0, 1, 0, 0x23, 0x12, 0x34]);
    buf.extend_from_slice(b"hi");
    buf[1] = (buf.len() - 2) as u8;
    let (p, n) = Decoder::new(ProtocolVersion::V5).decode(&buf).unwrap();
    assert_eq!(n, buf.len());
    let Packet::Publish(p) = p else { panic!() };
    assert_eq!(
        (p.topic, p.packet_id, p.payload),
        ("a/b", Some(9), &b"hi"[..])
    );
    assert_eq!(p.properties.payload_format_indicator, Some(1));
    assert_eq!(p.properties.message_expiry_interval, Some(256));
    assert_eq!(p.properties.topic_alias, Some(0x1234));
    check_decode(&Decoder::new(ProtocolVersion::V5), &buf);
}
