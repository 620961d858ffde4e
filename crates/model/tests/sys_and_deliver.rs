//! `$SYS` statistics driven by explicit time, and the per-message read
//! check of the authorization hook.

use mqttkit_codec::{Packet, ProtocolVersion, QoS, SubscribeReasonCode};
use mqttkit_model::testkit::World;
use mqttkit_model::{Authorizer, Config, Credentials, Refusal};

const V4: ProtocolVersion = ProtocolVersion::V3_1_1;

/// (topic, payload, retain) of every PUBLISH in `conn`'s inbox.
fn publishes<A: Authorizer>(w: &mut World<A>, conn: u64) -> Vec<(String, String, bool)> {
    w.take(conn)
        .iter()
        .filter_map(|p| match p.packet() {
            Packet::Publish(p) => Some((
                p.topic.to_owned(),
                String::from_utf8_lossy(p.payload).into_owned(),
                p.retain,
            )),
            _ => None,
        })
        .collect()
}

fn value(got: &[(String, String, bool)], topic: &str) -> Option<String> {
    got.iter()
        .find(|(t, _, _)| t == topic)
        .map(|(_, v, _)| v.clone())
}

#[test]
fn sys_statistics_are_published_on_the_models_clock() {
    let config = Config {
        sys_interval_ms: 10_000,
        ..Config::default()
    };
    let mut w = World::new(config);
    // Nothing else is scheduled yet: the first $SYS slot is the deadline.
    assert_eq!(w.b.next_deadline(), Some(10_000));
    w.connect(1, V4, "watcher", true);
    w.connect(2, V4, "everything", true);
    assert_eq!(
        w.subscribe(1, "$SYS/broker/#", QoS::AtMostOnce),
        SubscribeReasonCode::GrantedQoS0
    );
    assert_eq!(
        w.subscribe(2, "#", QoS::AtMostOnce),
        SubscribeReasonCode::GrantedQoS0
    );
    // Before the slot: nothing.
    w.advance(8_999); // now = 9_999
    assert!(publishes(&mut w, 1).is_empty());
    w.advance(1); // now = 10_000
    let got = publishes(&mut w, 1);
    assert!(got.iter().all(|(t, _, _)| t.starts_with("$SYS/broker/")));
    assert_eq!(
        value(&got, "$SYS/broker/uptime").as_deref(),
        Some("10 seconds")
    );
    assert_eq!(
        value(&got, "$SYS/broker/clients/connected").as_deref(),
        Some("2")
    );
    assert_eq!(
        value(&got, "$SYS/broker/clients/total").as_deref(),
        Some("2")
    );
    assert_eq!(
        value(&got, "$SYS/broker/subscriptions/count").as_deref(),
        Some("2")
    );
    assert_eq!(
        value(&got, "$SYS/broker/version"),
        Some(format!("mqttkit {}", env!("CARGO_PKG_VERSION")))
    );
    for topic in [
        "$SYS/broker/messages/received",
        "$SYS/broker/messages/sent",
        "$SYS/broker/messages/dropped",
        "$SYS/broker/bytes/received",
        "$SYS/broker/bytes/sent",
    ] {
        let v = value(&got, topic).unwrap_or_else(|| panic!("{topic} missing: {got:?}"));
        assert!(v.parse::<u64>().is_ok(), "{topic} = {v}");
    }
    // `#` does not match `$` topics (MQTT-4.7.2-1).
    assert!(publishes(&mut w, 2).is_empty());

    // A client leaves; at the next slot only what changed is published.
    w.send(1, Packet::PingReq); // keeps the watcher alive (Keep Alive 10 s)
    w.send(2, Packet::Disconnect(Default::default()));
    w.advance(9_999); // now = 19_999
    let got = publishes(&mut w, 1);
    assert!(got.is_empty(), "before the second slot: {got:?}");
    w.advance(1); // now = 20_000
    let got = publishes(&mut w, 1);
    assert_eq!(
        value(&got, "$SYS/broker/uptime").as_deref(),
        Some("20 seconds")
    );
    assert_eq!(
        value(&got, "$SYS/broker/clients/connected").as_deref(),
        Some("1")
    );
    assert_eq!(
        value(&got, "$SYS/broker/version"),
        None,
        "unchanged: {got:?}"
    );

    // A late subscriber gets every value as a retained message.
    w.connect(3, V4, "late", true);
    w.subscribe(3, "$SYS/broker/#", QoS::AtMostOnce);
    w.pump();
    let late = w.inbox.remove(&3).unwrap_or_default();
    let retained: Vec<_> = late
        .iter()
        .filter_map(|p| match p.packet() {
            Packet::Publish(p) if p.retain => Some(p.topic.to_owned()),
            _ => None,
        })
        .collect();
    assert!(retained.len() >= 11, "{retained:?}");
    assert!(retained.iter().any(|t| t == "$SYS/broker/version"));
}

#[test]
fn sys_off_schedules_nothing() {
    let mut w = World::new(Config::default());
    assert_eq!(w.b.next_deadline(), None);
    w.connect(1, V4, "watcher", true);
    w.subscribe(1, "$SYS/#", QoS::AtMostOnce);
    w.advance(60_000);
    assert!(publishes(&mut w, 1).is_empty());
}

/// Lets `reader` subscribe to anything but not receive `a/secret`.
struct NoSecret;

impl Authorizer for NoSecret {
    fn connect(&mut self, _who: &Credentials<'_>) -> Result<(), Refusal> {
        Ok(())
    }
    fn publish(&mut self, _c: &str, _u: Option<&str>, _t: &str) -> bool {
        true
    }
    fn subscribe(&mut self, _c: &str, _u: Option<&str>, _f: &str) -> bool {
        true
    }
    fn deliver(&mut self, client_id: &str, _u: Option<&str>, topic: &str) -> bool {
        !(client_id == "reader" && topic == "a/secret")
    }
}

#[test]
fn denied_reads_are_filtered_per_message_at_every_qos() {
    for v in [V4, ProtocolVersion::V5] {
        let mut w = World::with_authorizer(Config::default(), NoSecret);
        w.connect(1, v, "reader", true);
        w.connect(2, v, "other", true);
        w.connect(3, v, "pub", true);
        w.subscribe(1, "a/#", QoS::ExactlyOnce);
        w.subscribe(2, "a/#", QoS::ExactlyOnce);
        for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
            .into_iter()
            .enumerate()
        {
            let id = 10 + i as u16;
            w.publish(3, "a/secret", b"s", qos, id);
            w.publish(3, "a/open", b"o", qos, id + 10);
        }
        let reader: Vec<_> = publishes(&mut w, 1).into_iter().map(|x| x.0).collect();
        let other: Vec<_> = publishes(&mut w, 2).into_iter().map(|x| x.0).collect();
        assert_eq!(reader, ["a/open"; 3], "{v:?}");
        assert_eq!(other, ["a/secret", "a/open"].repeat(3), "{v:?}");
        // Nothing of the denied messages waits for an acknowledgement.
        assert_eq!(w.b.session("reader").unwrap().in_flight.len(), 2, "{v:?}");
    }
}

#[test]
fn clients_cannot_publish_under_sys_while_it_is_on() {
    use mqttkit_codec::PubAckReasonCode;
    for (interval, expect_code, expect_kept) in [
        (10_000, PubAckReasonCode::NotAuthorized, false),
        (0, PubAckReasonCode::Success, true),
    ] {
        let mut w = World::new(Config {
            sys_interval_ms: interval,
            ..Config::default()
        });
        w.connect(1, ProtocolVersion::V5, "forger", true);
        let mut p = mqttkit_codec::Publish::new("$SYS/broker/version", b"evil 6.6.6");
        p.qos = QoS::AtLeastOnce;
        p.retain = true;
        p.packet_id = Some(1);
        w.send(1, Packet::Publish(p));
        let got = w.take(1);
        let code = match got[0].packet() {
            Packet::PubAck(a) => a.reason_code,
            other => panic!("expected PUBACK, got {other:?}"),
        };
        assert_eq!(code, expect_code, "interval {interval}");
        assert_eq!(
            w.b.retained_count() == 1,
            expect_kept,
            "interval {interval}"
        );
    }
}
