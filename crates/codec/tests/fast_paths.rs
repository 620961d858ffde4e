//! The strict decoder's fast paths (common PUBLISH, bare acknowledgements,
//! plain CONNECT and SUBSCRIBE)
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
    let props = p.properties.get();
    assert_eq!(props.payload_format_indicator, Some(1));
    assert_eq!(props.message_expiry_interval, Some(256));
    assert_eq!(props.topic_alias, Some(0x1234));
    check_decode(&Decoder::new(ProtocolVersion::V5), &buf);
}

/// A packet with a (shortest) Remaining Length in front of `body`.
fn frame(byte0: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![byte0];
    let mut n = body.len();
    loop {
        let b = (n % 128) as u8;
        n /= 128;
        out.push(if n > 0 { b | 0x80 } else { b });
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

fn push_field(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
}

/// A CONNECT body with the fields the flags ask for (will fields, User
/// Name, Password), then `trailing`.
#[allow(clippy::too_many_arguments)]
fn connect_body(
    name: &[u8],
    level: u8,
    flags: u8,
    props: &[u8],
    id: &[u8],
    user: &[u8],
    pass: &[u8],
    trailing: &[u8],
) -> Vec<u8> {
    let mut b = Vec::new();
    push_field(&mut b, name);
    b.push(level);
    b.push(flags);
    b.extend_from_slice(&[0, 60]);
    b.extend_from_slice(props);
    push_field(&mut b, id);
    if flags & 0x04 != 0 {
        if level == 5 {
            b.push(0);
        }
        push_field(&mut b, b"w/t");
        push_field(&mut b, b"bye");
    }
    if flags & 0x80 != 0 {
        push_field(&mut b, user);
    }
    if flags & 0x40 != 0 {
        push_field(&mut b, pass);
    }
    b.extend_from_slice(trailing);
    b
}

const NAMES: [(&[u8], u8); 7] = [
    (b"MQTT", 4),
    (b"MQTT", 5),
    (b"MQTT", 3),
    (b"MQIsdp", 3),
    (b"MQTX", 4),
    (b"MQTT", 6),
    (b"MQT", 4),
];

fn connect_props(level: u8) -> &'static [&'static [u8]] {
    if level == 5 {
        &[&[0], &[3, 0x21, 0, 10], &[1], &[0x80, 0]]
    } else {
        &[&[], &[0]]
    }
}

/// Every Connect Flags value around the plain-CONNECT fast path, with and
/// without a trailing byte, and cut short at every length for a few.
#[test]
fn connect_flag_shapes() {
    for d in decoders() {
        for (name, level) in NAMES {
            for flags in 0..=255u8 {
                for props in connect_props(level) {
                    for trailing in [&b""[..], b"x"] {
                        let body =
                            connect_body(name, level, flags, props, b"c", b"u", b"p", trailing);
                        check_decode(&d, &frame(0x10, &body));
                        if trailing.is_empty()
                            && matches!(flags, 0x00 | 0x02 | 0x42 | 0x82 | 0xC2 | 0xC0)
                        {
                            for cut in 0..body.len() {
                                check_decode(&d, &frame(0x10, &body[..cut]));
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The string fields of the plain CONNECT: empty, plain, NUL, non-ASCII,
/// invalid UTF-8, long (two-byte Remaining Length); every first byte of
/// type CONNECT; a non-minimal Remaining Length.
#[test]
fn connect_field_shapes() {
    let long = vec![b'z'; 200];
    let ids: [&[u8]; 7] = [
        b"",
        b"c",
        b"bench-client-0001",
        b"a\0b",
        "caf\u{e9}".as_bytes(),
        b"\xff",
        &long,
    ];
    let users: [&[u8]; 4] = [b"user", b"", b"u\0", "\u{e9}".as_bytes()];
    let passes: [&[u8]; 2] = [b"pw", b""];
    for d in decoders() {
        for level in [4u8, 5] {
            for flags in [0x00u8, 0x02, 0x80, 0xC2, 0x42, 0xC0] {
                for id in ids {
                    for user in users {
                        for pass in passes {
                            let body = connect_body(
                                b"MQTT",
                                level,
                                flags,
                                connect_props(level)[0],
                                id,
                                user,
                                pass,
                                b"",
                            );
                            check_decode(&d, &frame(0x10, &body));
                        }
                    }
                }
            }
            let body = connect_body(
                b"MQTT",
                level,
                0xC2,
                connect_props(level)[0],
                b"c",
                b"u",
                b"p",
                b"",
            );
            for b0 in 0x10..=0x1Fu8 {
                check_decode(&d, &frame(b0, &body));
            }
            let mut long_len = vec![0x10, 0x80 | body.len() as u8, 0x00];
            long_len.extend_from_slice(&body);
            check_decode(&d, &long_len);
        }
    }
}

/// SUBSCRIBE filters and options bytes around the plain-SUBSCRIBE fast
/// path: well and badly placed wildcards, shared subscriptions, NUL,
/// non-ASCII, every reserved bit, and lists cut short.
#[test]
fn subscribe_shapes() {
    let long = format!("{}/+/{}/#", "a".repeat(90), "b".repeat(90));
    let filters: [&[u8]; 22] = [
        b"a",
        b"sensors/+/temp1",
        b"alerts/#",
        b"",
        b"+",
        b"#",
        b"/",
        b"a/#/b",
        b"a+",
        b"+a",
        b"a/b#",
        b"abcdefg/+",
        b"abcdefgh/+/ijklmnop/#",
        b"abcdefgh+",
        b"$share/g/a",
        b"$share",
        b"$shared/x",
        b"$SYS/#",
        b"a\0",
        "\u{e9}/+".as_bytes(),
        b"\xff",
        long.as_bytes(),
    ];
    let options = [0u8, 1, 2, 3, 4, 8, 0x10, 0x20, 0x30, 0x40, 0x80];
    for d in decoders() {
        let props: &[&[u8]] = if d.version == ProtocolVersion::V5 {
            &[&[0], &[2, 0x0B, 1], &[1]]
        } else {
            &[&[], &[0]]
        };
        for b0 in [0x82u8, 0x80, 0x83, 0x92] {
            for id in [0u16, 1, 0x1234] {
                for p in props {
                    let mut head = id.to_be_bytes().to_vec();
                    head.extend_from_slice(p);
                    check_decode(&d, &frame(b0, &head));
                    for f in filters {
                        for o in options {
                            let mut body = head.clone();
                            push_field(&mut body, f);
                            body.push(o);
                            check_decode(&d, &frame(b0, &body));
                            // A second filter, good or bad.
                            for (g, go) in [(&b"x/+"[..], 1u8), (b"x#", 0), (b"y", 3)] {
                                let mut two = body.clone();
                                push_field(&mut two, g);
                                two.push(go);
                                check_decode(&d, &frame(b0, &two));
                                if b0 == 0x82 && id == 1 && o == 1 {
                                    for cut in 0..two.len() {
                                        check_decode(&d, &frame(b0, &two[..cut]));
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn plain_connect_and_subscribe_values() {
    use mqttkit_codec::{Packet, QoS, Subscription};
    for (level, v) in [(4u8, ProtocolVersion::V3_1_1), (5, ProtocolVersion::V5)] {
        let props = connect_props(level)[0];
        let body = connect_body(b"MQTT", level, 0xC2, props, b"id-1", b"user", b"pw", b"");
        let buf = frame(0x10, &body);
        let (p, n) = Decoder::new(ProtocolVersion::V3_1).decode(&buf).unwrap();
        assert_eq!(n, buf.len());
        let Packet::Connect(c) = p else { panic!() };
        let c = c.get();
        assert_eq!(c.protocol, v);
        assert!(c.clean_start);
        assert_eq!(c.keep_alive, 60);
        assert_eq!(
            (c.client_id, c.username, c.password),
            ("id-1", Some("user"), Some(&b"pw"[..]))
        );
        assert!(c.will.is_none());

        let mut body = vec![0x12, 0x34];
        if level == 5 {
            body.push(0);
        }
        push_field(&mut body, b"a/+/b");
        body.push(1);
        push_field(&mut body, b"c/#");
        body.push(2);
        let buf = frame(0x82, &body);
        let (p, n) = Decoder::new(v).decode(&buf).unwrap();
        assert_eq!(n, buf.len());
        let Packet::Subscribe(s) = p else { panic!() };
        assert_eq!(s.packet_id, 0x1234);
        let subs: Vec<_> = s.subscriptions.iter().collect();
        assert_eq!(
            subs,
            [
                Subscription::new("a/+/b", QoS::AtLeastOnce),
                Subscription::new("c/#", QoS::ExactlyOnce)
            ]
        );
    }
}
