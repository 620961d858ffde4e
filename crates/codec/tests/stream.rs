//! The stream decoder gives the same packets whatever the chunking.

mod common;

use mqttkit_codec::{rules, DecodeError, Decoder, ProtocolVersion, StreamDecoder};

/// All valid corpus cases of one version back to back.
fn stream_of(version: ProtocolVersion) -> Vec<u8> {
    let mut out = Vec::new();
    for c in common::load() {
        if c.expect == "ok"
            && c.version == version
            && c.from.is_none_or(|r| r == mqttkit_codec::Role::Client)
        {
            let is_connect = c.bytes.first().is_some_and(|b| b >> 4 == 1);
            if !is_connect {
                out.extend_from_slice(&c.bytes);
            }
        }
    }
    out
}

fn whole(version: ProtocolVersion, bytes: &[u8]) -> Vec<String> {
    let d = Decoder::new(version);
    let mut at = 0;
    let mut out = Vec::new();
    while at < bytes.len() {
        let (p, n) = d.decode(&bytes[at..]).unwrap();
        out.push(format!("{p:?}"));
        at += n;
    }
    out
}

fn chunked(
    version: ProtocolVersion,
    bytes: &[u8],
    sizes: &mut dyn FnMut() -> usize,
) -> Vec<String> {
    let mut s = StreamDecoder::with_version(version);
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let n = sizes().clamp(1, bytes.len() - at);
        s.feed(&bytes[at..at + n]);
        at += n;
        while let Some(p) = s.next_packet().unwrap() {
            out.push(format!("{p:?}"));
        }
    }
    assert_eq!(s.buffered(), 0);
    out
}

#[test]
fn any_chunking_gives_the_same_packets() {
    for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let bytes = stream_of(v);
        assert!(bytes.len() > 100, "{v}: stream too short");
        let expected = whole(v, &bytes);
        for fixed in [1usize, 2, 3, 7, 64, 1000, bytes.len()] {
            assert_eq!(
                chunked(v, &bytes, &mut || fixed),
                expected,
                "{v}: chunks of {fixed}"
            );
        }
        // Pseudo-random chunk sizes from a fixed seed.
        let mut x: u32 = 0x2545_f491;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x % 40) as usize + 1
        };
        assert_eq!(chunked(v, &bytes, &mut rnd), expected, "{v}: random chunks");
    }
}

#[test]
fn learns_the_version_from_connect() {
    // 5.0 CONNECT (client id "c"), then a 5.0 PUBACK with reason 0x10 that
    // only parses as 5.0.
    let connect = [
        0x10, 0x0e, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x3c, 0x00, 0x00, 0x01,
        b'c',
    ];
    let puback = [0x40, 0x03, 0x00, 0x01, 0x10];
    let mut s = StreamDecoder::new();
    assert_eq!(s.version(), None);
    s.feed(&connect);
    s.feed(&puback);
    assert!(s.next_packet().unwrap().is_some());
    assert_eq!(s.version(), Some(ProtocolVersion::V5));
    assert!(s.next_packet().unwrap().is_some());
    assert!(s.next_packet().unwrap().is_none());
}

#[test]
fn refuses_a_first_packet_other_than_connect_when_version_unknown() {
    let mut s = StreamDecoder::new();
    s.feed(&[0xc0, 0x00]);
    let e = s.next_packet().unwrap_err();
    assert_eq!(e.statement(), Some("MQTT-3.1.0-1"));
}

#[test]
fn enforces_the_size_limit_before_buffering_the_body() {
    let mut s = StreamDecoder::with_version(ProtocolVersion::V3_1_1).max_packet_size(100);
    // A PUBLISH announcing 2 MiB: refused from its 4 header bytes alone.
    s.feed(&[0x30, 0x80, 0x80, 0x80, 0x01]);
    match s.next_packet() {
        Err(DecodeError::Invalid(v)) => assert_eq!(v.rule, &rules::PACKET_TOO_LARGE),
        other => panic!("expected a size error, got {other:?}"),
    }
    // Up to the limit is fine.
    let mut s = StreamDecoder::with_version(ProtocolVersion::V3_1_1).max_packet_size(9);
    s.feed(&[0x30, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i']);
    assert!(s.next_packet().unwrap().is_some());
}

#[test]
fn a_huge_declared_length_is_only_incomplete() {
    // 11 bytes that declare a 268 MB packet: no allocation, just "need more".
    let bytes = [0x30, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x01, b'a', 1, 2, 3];
    match Decoder::new(ProtocolVersion::V3_1_1).decode(&bytes) {
        Err(DecodeError::Incomplete { needed }) => assert_eq!(needed, 268_435_455 + 5 - 11),
        other => panic!("{other:?}"),
    }
    let mut s = StreamDecoder::with_version(ProtocolVersion::V3_1_1);
    s.feed(&bytes);
    assert!(s.next_packet().unwrap().is_none());
    assert_eq!(s.buffered(), 11);
}

#[test]
fn next_owned_shares_the_stream_buffer() {
    let mut s = StreamDecoder::with_version(ProtocolVersion::V3_1_1);
    s.feed(&[
        0x30, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i', 0xc0, 0x00,
    ]);
    let first = s.next_owned().unwrap().unwrap();
    let second = s.next_owned().unwrap().unwrap();
    assert!(s.next_owned().unwrap().is_none());
    let mqttkit_codec::Packet::Publish(p) = first.packet() else {
        panic!("{first:?}")
    };
    assert_eq!(p.topic, "a/b");
    assert_eq!(second.packet(), mqttkit_codec::Packet::PingReq);
    assert_eq!(first.bytes().len(), 9);
}
