//! The broker core driven by encoded packets, as a network peer would
//! drive it, with the outputs decoded back. Time is a number the test
//! advances.

use bytes::BytesMut;
use mqttkit_codec::{
    Connect, ConnectReasonCode, Disconnect, DisconnectReasonCode, OwnedPacket, Packet,
    ProtocolVersion, PubAck, PubComp, PubRec, PubRel, Publish, QoS, Unsubscribe, Will,
};
use mqttkit_model::testkit::World;
use mqttkit_model::Config;

use ProtocolVersion::{V3_1_1, V5};

/// A received PUBLISH: topic, payload, QoS, RETAIN, packet id, DUP.
type Got = (String, Vec<u8>, QoS, bool, Option<u16>, bool);

fn publishes(ps: &[OwnedPacket]) -> Vec<Got> {
    ps.iter()
        .filter_map(|p| match p.packet() {
            Packet::Publish(p) => Some((
                p.topic.to_string(),
                p.payload.to_vec(),
                p.qos,
                p.retain,
                p.packet_id,
                p.dup,
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn publish_subscribe_at_every_qos_and_version() {
    for v in [ProtocolVersion::V3_1, V3_1_1, V5] {
        for (sub_qos, pub_qos) in [
            (QoS::AtMostOnce, QoS::ExactlyOnce),
            (QoS::AtLeastOnce, QoS::AtLeastOnce),
            (QoS::ExactlyOnce, QoS::ExactlyOnce),
            (QoS::ExactlyOnce, QoS::AtMostOnce),
        ] {
            let mut w = World::new(Config::default());
            w.connect(1, v, "sub", true);
            w.connect(2, v, "pub", true);
            let granted = w.subscribe(1, "a/+", sub_qos);
            assert_eq!(granted as u8, sub_qos as u8);
            w.publish(2, "a/b", b"hello", pub_qos, 7);
            // The publisher's acknowledgement.
            let acks = w.take(2);
            match pub_qos {
                QoS::AtMostOnce => assert!(acks.is_empty()),
                QoS::AtLeastOnce => {
                    assert!(matches!(acks[0].packet(), Packet::PubAck(a) if a.packet_id == 7))
                }
                QoS::ExactlyOnce => {
                    assert!(matches!(acks[0].packet(), Packet::PubRec(a) if a.packet_id == 7));
                    w.send(2, Packet::PubRel(PubRel::new(7)));
                    assert!(
                        matches!(w.take(2)[0].packet(), Packet::PubComp(a) if a.packet_id == 7)
                    );
                }
            }
            let got = publishes(&w.take(1));
            assert_eq!(got.len(), 1, "{v:?} {sub_qos:?} {pub_qos:?}");
            let (topic, payload, qos, retain, id, dup) = &got[0];
            assert_eq!((topic.as_str(), payload.as_slice()), ("a/b", &b"hello"[..]));
            // The lower of the two QoS.
            assert_eq!(*qos, sub_qos.min(pub_qos));
            assert!(!retain && !dup);
            assert_eq!(id.is_some(), *qos != QoS::AtMostOnce);
        }
    }
}

#[test]
fn qos2_resent_publish_is_delivered_once() {
    let mut w = World::new(Config::default());
    w.connect(1, V3_1_1, "sub", true);
    w.connect(2, V3_1_1, "pub", true);
    w.subscribe(1, "t", QoS::ExactlyOnce);
    w.publish(2, "t", b"x", QoS::ExactlyOnce, 9);
    // The publisher did not see PUBREC and sends again with DUP.
    let mut p = Publish::new("t", b"x");
    p.qos = QoS::ExactlyOnce;
    p.packet_id = Some(9);
    p.dup = true;
    w.send(2, Packet::Publish(p));
    let acks = w.take(2);
    assert_eq!(acks.len(), 2);
    assert!(acks
        .iter()
        .all(|a| matches!(a.packet(), Packet::PubRec(r) if r.packet_id == 9)));
    assert_eq!(publishes(&w.take(1)).len(), 1);
}

#[test]
fn outgoing_qos1_and_qos2_flows_complete() {
    let mut w = World::new(Config::default());
    w.connect(1, V5, "sub", true);
    w.connect(2, V5, "pub", true);
    w.subscribe(1, "t", QoS::ExactlyOnce);
    w.publish(2, "t", b"q2", QoS::ExactlyOnce, 1);
    w.publish(2, "t", b"q1", QoS::AtLeastOnce, 2);
    let got = publishes(&w.take(1));
    assert_eq!(got.len(), 2);
    let id2 = got[0].4.unwrap();
    let id1 = got[1].4.unwrap();
    assert_ne!(id1, id2);
    w.send(1, Packet::PubAck(PubAck::new(id1)));
    w.send(1, Packet::PubRec(PubRec::new(id2)));
    assert!(matches!(w.take(1)[0].packet(), Packet::PubRel(r) if r.packet_id == id2));
    assert_eq!(w.b.session("sub").unwrap().in_flight.len(), 1);
    w.send(1, Packet::PubComp(PubComp::new(id2)));
    let s = w.b.session("sub").unwrap();
    assert!(s.in_flight.is_empty());
    // Idle again: the session keeps no memory for its window and queue.
    assert!(!s.in_flight.is_allocated() && !s.queue.is_allocated());
    assert!(w.b.session("pub").unwrap().incoming_qos2.contains(&1));
    w.send(2, Packet::PubRel(PubRel::new(1)));
    let p = w.b.session("pub").unwrap();
    assert!(p.incoming_qos2.is_empty() && !p.incoming_qos2.is_allocated());
}

#[test]
fn retained_messages_are_stored_replaced_cleared_and_sent_on_subscribe() {
    let mut w = World::new(Config::default());
    w.connect(1, V3_1_1, "pub", true);
    let mut p = Publish::new("r/1", b"first");
    p.retain = true;
    w.send(1, Packet::Publish(p));
    p.payload = b"second";
    w.send(1, Packet::Publish(p));
    let mut q = Publish::new("r/2", b"other");
    q.retain = true;
    w.send(1, Packet::Publish(q));
    assert_eq!(w.b.retained_count(), 2);
    w.connect(2, V3_1_1, "sub", true);
    w.subscribe(2, "r/#", QoS::AtLeastOnce);
    let mut got = publishes(&w.take(2));
    got.sort();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].1, b"second");
    assert!(
        got[0].3,
        "retained flag set on delivery because of the subscription"
    );
    // A zero-length retained PUBLISH clears the topic.
    q.payload = b"";
    w.send(1, Packet::Publish(q));
    assert_eq!(w.b.retained_count(), 1);
    // Normal forwarding clears RETAIN in 3.1.1 (MQTT-3.3.1-9).
    let got = publishes(&w.take(2));
    assert_eq!(got.len(), 1);
    assert!(!got[0].3);
}

#[test]
fn will_on_abnormal_close_not_on_disconnect() {
    for normal in [false, true] {
        let mut w = World::new(Config::default());
        w.connect(1, V3_1_1, "watcher", true);
        w.subscribe(1, "wills/#", QoS::AtLeastOnce);
        w.open(2, V3_1_1);
        let mut c = Connect::new(V3_1_1, "dying");
        c.will = Some(Will {
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: Default::default(),
            topic: "wills/dying",
            payload: b"gone",
        });
        w.send(2, Packet::Connect((&c).into()));
        w.take(2);
        if normal {
            w.send(2, Packet::Disconnect(Disconnect::default()));
        } else {
            w.b.connection_lost(2, w.now);
            w.pump();
        }
        let got = publishes(&w.take(1));
        assert_eq!(got.len(), usize::from(!normal), "normal={normal}");
    }
}

#[test]
fn keep_alive_closes_after_one_and_a_half_intervals() {
    let mut w = World::new(Config::default());
    w.connect(1, V5, "idle", true); // keep alive 10 s
    w.advance(14_000);
    assert!(w.closed.is_empty());
    w.send(1, Packet::PingReq);
    assert!(matches!(w.take(1)[0].packet(), Packet::PingResp));
    w.advance(14_900);
    assert!(w.closed.is_empty(), "the PINGREQ restarted the clock");
    w.advance(200);
    assert_eq!(w.closed, vec![1]);
    let got = w.take(1);
    assert!(
        matches!(got[0].packet(), Packet::Disconnect(d) if d.reason_code == DisconnectReasonCode::KeepAliveTimeout)
    );
}

#[test]
fn persistent_session_queues_and_redelivers_with_dup() {
    let mut w = World::new(Config::default());
    assert!(!w.connect(1, V3_1_1, "durable", false));
    w.subscribe(1, "q", QoS::AtLeastOnce);
    w.connect(2, V3_1_1, "pub", true);
    w.publish(2, "q", b"one", QoS::AtLeastOnce, 1);
    // Delivered but not acknowledged, then the connection drops.
    assert_eq!(publishes(&w.take(1)).len(), 1);
    w.b.connection_lost(1, w.now);
    w.publish(2, "q", b"two", QoS::AtLeastOnce, 2);
    w.publish(2, "q", b"zero", QoS::AtMostOnce, 0);
    assert!(w.connect(3, V3_1_1, "durable", false), "session present");
    let got = publishes(&w.take(3));
    let payloads: Vec<&[u8]> = got.iter().map(|g| g.1.as_slice()).collect();
    assert_eq!(
        payloads,
        vec![&b"one"[..], b"two"],
        "QoS 0 is not queued for an offline client"
    );
    assert!(got[0].5, "redelivery has DUP set");
    assert!(!got[1].5);
}

#[test]
fn clean_session_discards_the_old_one() {
    let mut w = World::new(Config::default());
    w.connect(1, V3_1_1, "c", false);
    w.subscribe(1, "x", QoS::AtLeastOnce);
    w.b.connection_lost(1, w.now);
    assert!(!w.connect(2, V3_1_1, "c", true));
    w.connect(3, V3_1_1, "p", true);
    w.publish(3, "x", b"m", QoS::AtLeastOnce, 1);
    assert!(publishes(&w.take(2)).is_empty());
}

#[test]
fn takeover_closes_the_old_connection() {
    let mut w = World::new(Config::default());
    w.connect(1, V5, "same", true);
    w.connect(2, V5, "same", true);
    assert_eq!(w.closed, vec![1]);
    let got = w.take(1);
    assert!(
        matches!(got[0].packet(), Packet::Disconnect(d) if d.reason_code == DisconnectReasonCode::SessionTakenOver)
    );
}

#[test]
fn unsupported_protocol_level_gets_return_code_1() {
    let mut w = World::new(Config::default());
    w.open(1, V3_1_1);
    // CONNECT with protocol level 9.
    w.raw(
        1,
        &[
            0x10, 0x0c, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x09, 0x02, 0x00, 0x3c, 0x00, 0x00,
        ],
    );
    let got = w.take(1);
    assert!(
        matches!(got[0].packet(), Packet::ConnAck(a) if a.reason_code == ConnectReasonCode::UnsupportedProtocolVersion)
    );
    assert_eq!(w.closed, vec![1]);
}

#[test]
fn malformed_packet_closes_with_reason_in_v5() {
    let mut w = World::new(Config::default());
    w.connect(1, V5, "m", true);
    // PUBLISH QoS 0 with a wildcard in the topic.
    w.raw(1, &[0x30, 0x06, 0x00, 0x03, b'a', b'/', b'#', 0x00]);
    let got = w.take(1);
    assert!(
        matches!(got[0].packet(), Packet::Disconnect(d) if d.reason_code == DisconnectReasonCode::ProtocolError || d.reason_code == DisconnectReasonCode::MalformedPacket)
    );
    assert_eq!(w.closed, vec![1]);
}

#[test]
fn empty_client_id_is_assigned_or_refused() {
    let mut w = World::new(Config::default());
    w.open(1, V5);
    w.send(1, Packet::Connect((&Connect::new(V5, "")).into()));
    let got = w.take(1);
    let Packet::ConnAck(a) = got[0].packet() else {
        panic!()
    };
    assert!(a
        .properties
        .get()
        .assigned_client_identifier
        .is_some_and(|s| !s.is_empty()));
    // 3.1.1 with clean session 0 and no id: identifier rejected.
    w.open(2, V3_1_1);
    let mut c = Connect::new(V3_1_1, "");
    c.clean_start = false;
    let mut buf = BytesMut::new();
    // Encoding refuses this (MQTT-3.1.3-7 binds the client); write it by hand.
    assert!(Packet::Connect((&c).into())
        .encode(V3_1_1, &mut buf)
        .is_err());
    w.raw(
        2,
        &[
            0x10, 0x0c, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x00, 0x00, 0x3c, 0x00, 0x00,
        ],
    );
    let got = w.take(2);
    assert!(
        matches!(got[0].packet(), Packet::ConnAck(a) if a.reason_code == ConnectReasonCode::ClientIdentifierNotValid)
    );
    assert_eq!(w.closed, vec![2]);
}

#[test]
fn unsubscribe_stops_delivery() {
    let mut w = World::new(Config::default());
    w.connect(1, V5, "s", true);
    w.connect(2, V5, "p", true);
    w.subscribe(1, "a/#", QoS::AtMostOnce);
    w.send(
        1,
        Packet::Unsubscribe(Unsubscribe::new(2, &["a/#", "nope"])),
    );
    let got = w.take(1);
    let Packet::UnsubAck(u) = got[0].packet() else {
        panic!()
    };
    let codes: Vec<u8> = u.reason_codes.iter().map(|c| c as u8).collect();
    assert_eq!(codes, vec![0x00, 0x11]);
    w.publish(2, "a/b", b"x", QoS::AtMostOnce, 0);
    assert!(publishes(&w.take(1)).is_empty());
}

#[test]
fn shared_subscription_round_robin() {
    let mut w = World::new(Config::default());
    w.connect(1, V5, "m1", true);
    w.connect(2, V5, "m2", true);
    w.connect(3, V5, "p", true);
    w.subscribe(1, "$share/g/jobs", QoS::AtMostOnce);
    w.subscribe(2, "$share/g/jobs", QoS::AtMostOnce);
    for i in 0..10u8 {
        w.publish(3, "jobs", &[i], QoS::AtMostOnce, 0);
    }
    let a = publishes(&w.take(1)).len();
    let b = publishes(&w.take(2)).len();
    assert_eq!((a, b), (5, 5));
}

#[test]
fn queue_limit_drops_and_reports() {
    let config = Config {
        max_queued_messages: 3,
        ..Config::default()
    };
    let mut w = World::new(config);
    w.connect(1, V3_1_1, "slow", false);
    w.subscribe(1, "t", QoS::AtLeastOnce);
    w.b.connection_lost(1, w.now);
    w.connect(2, V3_1_1, "p", true);
    for i in 1..=5 {
        w.publish(2, "t", b"m", QoS::AtLeastOnce, i);
    }
    assert_eq!(w.dropped, 2);
    assert_eq!(w.b.session("slow").unwrap().queue.len(), 3);
}

#[test]
fn receive_maximum_limits_in_flight_towards_the_client() {
    let mut w = World::new(Config::default());
    w.open(1, V5);
    let mut c = Connect::new(V5, "small");
    c.properties.receive_maximum = Some(2);
    w.send(1, Packet::Connect((&c).into()));
    w.take(1);
    w.subscribe(1, "t", QoS::AtLeastOnce);
    w.connect(2, V5, "p", true);
    for i in 1..=5 {
        w.publish(2, "t", &[i as u8], QoS::AtLeastOnce, i);
    }
    let got = publishes(&w.take(1));
    assert_eq!(got.len(), 2);
    w.send(1, Packet::PubAck(PubAck::new(got[0].4.unwrap())));
    let more = publishes(&w.take(1));
    assert_eq!(more.len(), 1);
    assert_eq!(more[0].1, vec![3u8], "in order");
}

#[test]
fn outputs_are_deterministic() {
    let run = || {
        let mut w = World::new(Config::default());
        w.connect(1, V5, "a", true);
        w.connect(2, V5, "b", true);
        w.subscribe(1, "#", QoS::ExactlyOnce);
        w.subscribe(2, "x/+", QoS::AtLeastOnce);
        for i in 0..20u16 {
            w.publish(1, "x/y", &i.to_be_bytes(), QoS::AtLeastOnce, i + 1);
        }
        let mut all: Vec<Vec<u8>> = Vec::new();
        for c in [1, 2] {
            for p in w.take(c) {
                all.push(p.bytes().to_vec());
            }
        }
        all
    };
    assert_eq!(run(), run());
}
