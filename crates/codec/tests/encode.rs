//! The encoder's PUBLISH fast path against its general path and the
//! decoder: every size around the one-byte Remaining Length limit, every
//! QoS, every version, and output buffers that are too small.

use mqttkit_codec::{rules, Decoder, Packet, ProtocolVersion, Publish, QoS};

const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V3_1,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V5,
];

fn publish<'a>(
    topic: &'a str,
    payload: &'a [u8],
    qos: QoS,
    dup: bool,
    retain: bool,
) -> Publish<'a> {
    let mut p = Publish::new(topic, payload);
    p.qos = qos;
    p.dup = dup;
    p.retain = retain;
    p.packet_id = (qos != QoS::AtMostOnce).then_some(0x1234);
    p
}

/// The bytes a PUBLISH must have, built by hand from the specification's
/// layout (fixed header, topic, packet id, 5.0 empty property block, payload).
fn expected(p: &Publish<'_>, v: ProtocolVersion) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(p.topic.len() as u16).to_be_bytes());
    body.extend_from_slice(p.topic.as_bytes());
    if let Some(id) = p.packet_id {
        body.extend_from_slice(&id.to_be_bytes());
    }
    if v.is_v5() {
        body.push(0);
    }
    body.extend_from_slice(p.payload);
    let mut out = vec![0x30 | (p.dup as u8) << 3 | (p.qos as u8) << 1 | p.retain as u8];
    let mut n = body.len();
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&body);
    out
}

#[test]
fn publish_bytes_match_the_layout_around_the_one_byte_length_limit() {
    let payload = vec![0xA5u8; 300];
    let mut checked = 0;
    for v in VERSIONS {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            for topic in [
                "t",
                "sensors/000042/temp1",
                "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p",
            ] {
                for len in (0..140).chain([200, 300]) {
                    let dup = qos != QoS::AtMostOnce && len % 2 == 0;
                    let p = publish(topic, &payload[..len], qos, dup, len % 3 == 0);
                    let want = expected(&p, v);
                    let packet = Packet::Publish(p);
                    assert_eq!(packet.encoded_len(v).unwrap(), want.len());
                    let mut vec = Vec::new();
                    assert_eq!(packet.encode(v, &mut vec).unwrap(), want.len());
                    assert_eq!(vec, want, "{v:?} {qos:?} {topic} payload {len}");
                    let mut bm = bytes::BytesMut::new();
                    packet.encode(v, &mut bm).unwrap();
                    assert_eq!(&bm[..], &want[..]);
                    let (back, used) = Decoder::new(v).decode(&vec).unwrap();
                    assert_eq!((back, used), (packet, want.len()));
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 3 * 3 * 3 * 142);
}

#[test]
fn a_buffer_one_byte_short_is_refused_and_left_untouched() {
    let payload = [1u8; 40];
    for v in VERSIONS {
        for qos in [QoS::AtMostOnce, QoS::ExactlyOnce] {
            let packet = Packet::Publish(publish("a/b", &payload, qos, false, false));
            let need = packet.encoded_len(v).unwrap();
            let mut small = vec![0xEEu8; need - 1];
            let err = packet.encode(v, &mut &mut small[..]).unwrap_err();
            assert!(std::ptr::eq(err.rule, &rules::OUTPUT_TOO_SMALL));
            assert!(small.iter().all(|&b| b == 0xEE), "nothing written");
            let mut exact = vec![0u8; need];
            assert_eq!(packet.encode(v, &mut &mut exact[..]).unwrap(), need);
            assert_eq!(
                exact,
                expected(&publish("a/b", &payload, qos, false, false), v)
            );
        }
    }
}

#[test]
fn invalid_publishes_are_refused_by_the_rule_they_break() {
    let v = ProtocolVersion::V3_1_1;
    let cases: [(Publish<'_>, &str); 5] = [
        (
            publish("a/+", b"x", QoS::AtMostOnce, false, false),
            "MQTT-3.3.2-2",
        ),
        (
            publish("a\0b", b"x", QoS::AtMostOnce, false, false),
            "MQTT-4.7.3-2",
        ),
        (
            publish("", b"x", QoS::AtMostOnce, false, false),
            "MQTT-4.7.3-1",
        ),
        (
            publish("a", b"x", QoS::AtMostOnce, true, false),
            "MQTT-3.3.1-2",
        ),
        (
            Publish {
                packet_id: Some(0),
                ..publish("a", b"x", QoS::AtLeastOnce, false, false)
            },
            "MQTT-2.3.1-1",
        ),
    ];
    for (p, id) in cases {
        let mut out = Vec::new();
        let err = Packet::Publish(p).encode(v, &mut out).unwrap_err();
        assert_eq!(err.rule.statement(v), id, "{p:?}");
        assert!(out.is_empty());
    }
}
