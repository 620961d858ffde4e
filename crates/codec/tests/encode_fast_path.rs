//! The PUBLISH encoder's fast path against its general path
//! (`fuzz_targets::check_publish_encode`): the same bytes, or the same
//! error with nothing written, into a `Vec`, a `BytesMut`, `&mut [u8]`
//! slices too short, exact and long, a `Limit` and a `Chain`. Packets are
//! generated around the fast path's borders (topic bytes it must refuse,
//! lengths either side of the one-byte Remaining Length, every QoS /
//! DUP / packet id combination, each property alone), and each test also
//! checks which packets took the fast path, against a plain restatement of
//! its conditions, so that the comparison is known to cover it.

use mqttkit_codec::fuzz_targets::check_publish_encode;
use mqttkit_codec::{
    Decoder, Packet, ProtocolVersion, Publish, PublishProperties, QoS, UserProperties,
};
use proptest::prelude::*;

const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V3_1,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V5,
];

const QOS: [QoS; 3] = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];

/// The fast path's conditions, restated bytewise: a valid QoS / DUP /
/// packet id combination, a topic of plain ASCII without NUL or wildcard,
/// no property, and at most 129 bytes in all (one-byte Remaining Length).
fn fast_expected(p: &Publish<'_>, v: ProtocolVersion) -> bool {
    let qos0 = p.qos == QoS::AtMostOnce;
    let id_ok = match p.packet_id {
        None => qos0 && !p.dup,
        Some(id) => !qos0 && id != 0,
    };
    let t = p.topic.as_bytes();
    let plain = !t.is_empty()
        && t.iter()
            .all(|&b| b != 0 && b < 0x80 && b != b'+' && b != b'#');
    let total = 4 + t.len() + if qos0 { 0 } else { 2 } + v.is_v5() as usize + p.payload.len();
    id_ok && plain && p.properties.is_empty() && total <= 129
}

/// Runs the comparison and checks the path taken; returns it.
fn check(p: &Publish<'_>, v: ProtocolVersion) -> Option<bool> {
    let fast = check_publish_encode(p, v);
    let expected = fast_expected(p, v);
    assert_eq!(
        fast == Some(true),
        expected,
        "fast path taken: {fast:?}, expected {expected}: {p:?} under {v}"
    );
    fast
}

fn publish<'a>(topic: &'a str, payload: &'a [u8], qos: QoS, id: Option<u16>) -> Publish<'a> {
    Publish {
        qos,
        packet_id: id,
        ..Publish::new(topic, payload)
    }
}

/// One packet per size class of the topic and of the payload (every
/// branch of the unsafe writes), QoS 0 and 1, 3.1.1 and 5.0, into every
/// kind of buffer: small enough to run under Miri
/// (`cargo +nightly miri test -p mqttkit-codec --test encode_fast_path size_classes`).
#[test]
fn size_classes() {
    let name = "abcdefghijklmnopqrstuvwxyz0123456789/abcdefghijklmnopqrstuvwxyz";
    let body = [0xC3u8; 70];
    let lengths = [1, 2, 3, 4, 7, 8, 15, 16, 17, 32, 33, 50];
    for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        for (qos, id) in [(QoS::AtMostOnce, None), (QoS::AtLeastOnce, Some(5))] {
            for n in lengths {
                let p = publish(&name[..n], &body[..9], qos, id);
                assert_eq!(check(&p, v), Some(true));
                let p = publish("t/u", &body[..n], qos, id);
                assert_eq!(check(&p, v), Some(true));
            }
            assert_eq!(check(&publish("t", &[], qos, id), v), Some(true));
            assert_eq!(check(&publish("a+", b"x", qos, id), v), None);
            assert_eq!(check(&publish("\u{e9}", b"x", qos, id), v), Some(false));
        }
    }
}

/// Every topic length from 0 to 130 (each size class of the check and
/// copy, and both sides of the length limit) against payload lengths
/// around the limit, in every version and QoS.
#[test]
fn lengths_around_the_limit() {
    let name: String = (0..130).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let body = [0x5Au8; 140];
    let mut fast = 0;
    for v in VERSIONS {
        for qos in QOS {
            let id = (qos != QoS::AtMostOnce).then_some(0x1234);
            for tlen in 0..=130 {
                for plen in [0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 64, 65, 100] {
                    let p = publish(&name[..tlen], &body[..plen], qos, id);
                    fast += check(&p, v).unwrap_or(false) as usize;
                }
                // The payload that makes the packet exactly 129 and 130
                // bytes long.
                let fixed = 4 + tlen + if id.is_some() { 2 } else { 0 } + v.is_v5() as usize;
                for total in [128usize, 129, 130] {
                    if let Some(plen) = total.checked_sub(fixed) {
                        let p = publish(&name[..tlen], &body[..plen.min(body.len())], qos, id);
                        fast += check(&p, v).unwrap_or(false) as usize;
                    }
                }
            }
        }
    }
    assert!(fast > 1000, "only {fast} packets took the fast path");
}

/// Each byte the fast path must refuse (and some it must accept), at
/// every position of topics 1 to 40 bytes long: every piece of every size
/// class of the check sees it.
#[test]
fn each_topic_byte_everywhere() {
    let bytes: [&str; 10] = [
        "+", "#", "\0", "\u{e9}", "\u{20ac}", "\u{7f}", "\u{1}", "/", " ", "*",
    ];
    for v in VERSIONS {
        for tlen in 1..=40 {
            for at in 0..tlen {
                for b in bytes {
                    let mut t = "x".repeat(tlen);
                    t.replace_range(at..at + 1, b);
                    for qos in QOS {
                        let id = (qos != QoS::AtMostOnce).then_some(7);
                        check(&publish(&t, b"payload", qos, id), v);
                    }
                }
            }
        }
    }
}

/// Every QoS / DUP / packet id / RETAIN combination, valid or not.
#[test]
fn flags_and_packet_ids() {
    for v in VERSIONS {
        for qos in QOS {
            for dup in [false, true] {
                for retain in [false, true] {
                    for id in [None, Some(0), Some(1), Some(0xFFFF)] {
                        for topic in ["t", "a/b/c", "sensors/000042/temp1", ""] {
                            let p = Publish {
                                dup,
                                retain,
                                ..publish(topic, b"x", qos, id)
                            };
                            check(&p, v);
                        }
                    }
                }
            }
        }
    }
}

/// Each property alone (refused in 3.x, encoded by the general path in
/// 5.0), an empty topic with and without an alias, lists from slices
/// (empty and not) and lists read back from the wire.
#[test]
fn properties() {
    let users = [("k", "v")];
    let ids = [7u32];
    let one = |f: &dyn Fn(&mut PublishProperties<'static>)| {
        let mut p = PublishProperties::default();
        f(&mut p);
        p
    };
    let sets: Vec<PublishProperties<'_>> = vec![
        PublishProperties::default(),
        one(&|p| p.payload_format_indicator = Some(1)),
        one(&|p| p.payload_format_indicator = Some(9)),
        one(&|p| p.message_expiry_interval = Some(0)),
        one(&|p| p.topic_alias = Some(3)),
        one(&|p| p.topic_alias = Some(0)),
        one(&|p| p.response_topic = Some("r")),
        one(&|p| p.response_topic = Some("r/#")),
        one(&|p| p.correlation_data = Some(b"")),
        one(&|p| p.content_type = Some("")),
        PublishProperties {
            user_properties: UserProperties::from_slice(&users),
            ..PublishProperties::default()
        },
        PublishProperties {
            user_properties: UserProperties::from_slice(&[]),
            subscription_identifiers: (&ids).into(),
            ..PublishProperties::default()
        },
    ];
    for v in VERSIONS {
        for props in &sets {
            for topic in ["", "t", "a/b"] {
                for qos in QOS {
                    let id = (qos != QoS::AtMostOnce).then_some(9);
                    let p = Publish {
                        properties: props.into(),
                        ..publish(topic, b"data", qos, id)
                    };
                    check(&p, v);
                    // The same packet read back from the wire, where its
                    // lists borrow the packet's bytes.
                    if let Ok(bytes) = Packet::Publish(p).to_vec(v) {
                        let (q, _) = Decoder::new(v).decode(&bytes).expect("decodes");
                        let Packet::Publish(q) = q else {
                            panic!("not a PUBLISH: {q:?}")
                        };
                        assert_eq!(check(&q, v), check(&p, v));
                    }
                }
            }
        }
    }
}

/// A topic over 65,535 bytes and a packet over the one-byte length (the
/// general path decides both).
#[test]
fn long_fields() {
    let long = "a".repeat(70_000);
    let payload = vec![1u8; 300];
    for v in VERSIONS {
        assert_eq!(check(&publish(&long, b"", QoS::AtMostOnce, None), v), None);
        assert_eq!(
            check(&publish("t", &payload, QoS::AtLeastOnce, Some(1)), v),
            Some(false)
        );
    }
}

/// A topic of `len` characters drawn mostly from plain ASCII, sometimes
/// from the bytes the fast path must refuse.
fn topic() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        20 => prop::char::range('0', 'z'),
        3 => Just('/'),
        1 => Just('+'),
        1 => Just('#'),
        1 => Just('\0'),
        1 => Just('\u{e9}'),
        1 => Just('\u{7f}'),
        1 => prop::char::any(),
    ];
    prop_oneof![
        8 => prop::collection::vec(ch.clone(), 1..40),
        2 => prop::collection::vec(ch, 0..140),
    ]
    .prop_map(|c| c.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn generated_packets(
        vi in 0usize..3,
        qi in 0usize..3,
        dup in any::<bool>(),
        retain in any::<bool>(),
        id in prop_oneof![3 => Just(None), 1 => Just(Some(0u16)), 6 => any::<u16>().prop_map(Some)],
        id_follows_qos in prop::bool::weighted(0.9),
        topic in topic(),
        payload in prop_oneof![
            8 => prop::collection::vec(any::<u8>(), 0..48),
            2 => prop::collection::vec(any::<u8>(), 0..300),
        ],
        prop in 0usize..12,
        alias in any::<u16>(),
    ) {
        let (v, qos) = (VERSIONS[vi], QOS[qi]);
        // Mostly the id QoS asks for (dup too), sometimes anything.
        let (packet_id, dup) = if id_follows_qos {
            match qos {
                QoS::AtMostOnce => (None, false),
                _ => (Some(id.unwrap_or(1)), dup),
            }
        } else {
            (id, dup)
        };
        let users = [("name", "value")];
        let mut properties = PublishProperties::default();
        match prop {
            0 => properties.topic_alias = Some(alias),
            1 => properties.message_expiry_interval = Some(u32::from(alias)),
            2 => properties.user_properties = UserProperties::from_slice(&users),
            3 => properties.content_type = Some("text/plain"),
            _ => {}
        }
        let p = Publish {
            dup,
            qos,
            retain,
            topic: &topic,
            packet_id,
            properties: (&properties).into(),
            payload: &payload,
        };
        check(&p, v);
    }
}
