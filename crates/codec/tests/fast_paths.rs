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
                    for props in [&[][..], &[0][..], &[2, 0x23, 0][..], &[3, 0x23, 0, 1][..]] {
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
