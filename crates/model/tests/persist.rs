//! Persistence in the model: the store operations it reports, and a model
//! restored from them that behaves as the original would have.

use mqttkit_codec::{Packet, ProtocolVersion, PubAck, PubComp, PubRec, PubRel, Publish, QoS};
use mqttkit_model::testkit::World;
use mqttkit_model::{AllowAll, Broker, Config, StoreOp, StoredState, Table};

use ProtocolVersion::{V3_1_1, V5};

/// Wall-clock time (ms since the Unix epoch) at model time 0 of the first
/// broker.
const BASE: u64 = 1_700_000_000_000;

fn config() -> Config {
    Config {
        // A small window so that a session has messages in flight and
        // queued at once.
        max_inflight: 2,
        ..Config::default()
    }
}

/// Applies what the broker reports to the store.
fn sync(w: &mut World, st: &mut StoredState) {
    st.apply(w.b.take_store_ops());
}

fn describe(w: &mut World, conn: u64) -> Vec<String> {
    w.take(conn)
        .iter()
        .map(|p| format!("{:?}", p.packet()))
        .collect()
}

/// Builds up durable state of every kind: a persistent subscriber with
/// two messages in flight (one QoS 1 awaiting PUBACK, one QoS 2 awaiting
/// PUBCOMP) and three queued, a persistent publisher with a QoS 2 id
/// received and not released, a retained message. Connections stay open.
fn build(v: ProtocolVersion, w: &mut World, st: &mut StoredState) {
    assert!(!w.connect(1, v, "sub", false));
    w.subscribe(1, "a/#", QoS::ExactlyOnce);
    sync(w, st);
    assert!(!w.connect(2, v, "pub", false));
    w.publish(2, "a/1", b"m1", QoS::ExactlyOnce, 1);
    w.send(2, Packet::PubRel(PubRel::new(1)));
    w.publish(2, "a/2", b"m2", QoS::AtLeastOnce, 2);
    sync(w, st);
    for i in 3..=5u16 {
        w.publish(
            2,
            &format!("a/{i}"),
            format!("m{i}").as_bytes(),
            QoS::AtLeastOnce,
            i,
        );
    }
    // Received, PUBREC sent, PUBREL not yet received.
    w.publish(2, "a/6", b"m6", QoS::ExactlyOnce, 6);
    let acks = describe(w, 2);
    assert_eq!(acks.len(), 7, "{acks:?}");
    let mut p = Publish::new("r/t", b"kept");
    p.retain = true;
    w.send(2, Packet::Publish(p));
    // The subscriber got m1 (QoS 2) and m2 (QoS 1); it answers PUBREC for m1.
    let got = w.take(1);
    assert_eq!(got.len(), 2, "{got:?}");
    let Packet::Publish(first) = got[0].packet() else {
        panic!("{got:?}")
    };
    assert_eq!(first.payload, b"m1");
    w.send(1, Packet::PubRec(PubRec::new(first.packet_id.unwrap())));
    assert!(matches!(w.take(1)[0].packet(), Packet::PubRel(_)));
    sync(w, st);
    let s = w.b.session("sub").unwrap();
    assert_eq!((s.in_flight.len(), s.queue.len()), (2, 4));
}

/// What the clients do after the broker comes back (or, for the
/// reference run, after their connections were lost): reconnect, finish
/// every exchange, subscribe to retained messages, publish again. Returns
/// every packet each client received, in order.
fn resume(v: ProtocolVersion, w: &mut World) -> Vec<String> {
    let mut seen = Vec::new();
    // What the subscriber's session sends first stays in its inbox.
    assert!(w.connect(11, v, "sub", false), "session present");
    assert!(w.connect(12, v, "pub", false), "session present");
    // The publisher did not see PUBREC for 6: it sends again with DUP.
    let mut p = Publish::new("a/6", b"m6");
    p.qos = QoS::ExactlyOnce;
    p.packet_id = Some(6);
    p.dup = true;
    w.send(12, Packet::Publish(p));
    w.send(12, Packet::PubRel(PubRel::new(6)));
    seen.extend(describe(w, 12).into_iter().map(|s| format!("pub: {s}")));
    // The subscriber completes everything, in as many rounds as needed.
    for _ in 0..20 {
        let got = w.take(11);
        if got.is_empty() {
            break;
        }
        for p in got {
            seen.push(format!("sub: {:?}", p.packet()));
            match p.packet() {
                Packet::Publish(p) if p.qos == QoS::AtLeastOnce => {
                    w.send(11, Packet::PubAck(PubAck::new(p.packet_id.unwrap())))
                }
                Packet::Publish(p) if p.qos == QoS::ExactlyOnce => {
                    w.send(11, Packet::PubRec(PubRec::new(p.packet_id.unwrap())))
                }
                Packet::PubRel(r) => w.send(11, Packet::PubComp(PubComp::new(r.packet_id))),
                _ => {}
            }
        }
    }
    assert!(w.b.session("sub").unwrap().in_flight.is_empty());
    assert!(w.b.session("sub").unwrap().queue.is_empty());
    w.connect(13, v, "late", true);
    w.subscribe(13, "r/#", QoS::AtLeastOnce);
    seen.extend(describe(w, 13).into_iter().map(|s| format!("late: {s}")));
    w.publish(12, "a/7", b"m7", QoS::AtMostOnce, 0);
    seen.extend(describe(w, 11).into_iter().map(|s| format!("sub: {s}")));
    seen
}

#[test]
fn restored_model_behaves_as_the_original() {
    for v in [V3_1_1, V5] {
        // The original, with persistence on.
        let mut a = World::new(config());
        a.b.enable_persistence(BASE);
        let mut st = StoredState::default();
        build(v, &mut a, &mut st);
        // One record per session, per message in flight or queued, per
        // retained message; a full snapshot holds the same records (its
        // queue sequence numbers start afresh).
        assert_eq!(st.sessions.len(), 2);
        assert_eq!(st.messages.len(), 6);
        assert_eq!(st.retained.len(), 1);
        let snap = a.b.stored_state(BASE);
        assert_eq!(
            (snap.sessions, snap.retained),
            (st.sessions.clone(), st.retained.clone())
        );
        let mut ours: Vec<&Vec<u8>> = st.messages.values().collect();
        let mut theirs: Vec<&Vec<u8>> = snap.messages.values().collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs);

        // Reference: the same broker keeps running; the clients' connections
        // are lost and they come back.
        let mut reference = a;
        reference.b.connection_lost(1, reference.now);
        reference.b.connection_lost(2, reference.now);
        reference.pump();
        let expected = resume(v, &mut reference);

        // Restored: a new broker from the store, started 5 s of wall time
        // after the original's last step.
        let mut b = World::new(config());
        let base2 = BASE + reference.now + 5_000 - b.now;
        let (broker, report) =
            Broker::restore(config(), AllowAll, &st, base2, b.now).expect("store is readable");
        b.b = broker;
        assert_eq!(report.sessions, 2);
        assert_eq!(report.in_flight, 2);
        assert_eq!(report.queued, 4);
        assert_eq!(report.incoming_qos2, 1);
        assert_eq!(report.retained, 1);
        assert_eq!(report.subscriptions, 1);
        let got = resume(v, &mut b);
        assert_eq!(got, expected, "{v:?}");

        // And the things the brief names, checked directly.
        let text = got.join("\n");
        for m in ["m2", "m3", "m4", "m5", "m6", "m7"] {
            assert!(
                text.contains(&format!("payload: {:?}", m.as_bytes())),
                "{m}: {text}"
            );
        }
        // m2 was in flight: sent again with DUP.
        assert!(
            got.iter()
                .any(|l| l.starts_with("sub: Publish") && l.contains("dup: true")),
            "{text}"
        );
        // m1 was at PUBCOMP stage: a PUBREL, no second PUBLISH.
        assert!(got.iter().any(|l| l.starts_with("sub: PubRel")), "{text}");
        assert!(!text.contains(&format!("payload: {:?}", b"m1")), "{text}");
        // The QoS 2 id 6 was remembered: m6 reached the subscriber once.
        let m6 = format!("payload: {:?}", b"m6");
        assert_eq!(got.iter().filter(|l| l.contains(&m6)).count(), 1, "{text}");
        // The retained message is there.
        assert!(got
            .iter()
            .any(|l| l.starts_with("late: Publish") && l.contains("r/t")));
    }
}

#[test]
fn store_ops_follow_sessions_and_retained_messages() {
    let mut w = World::new(Config::default());
    w.b.enable_persistence(BASE);
    // A clean session is never stored.
    w.connect(1, V3_1_1, "clean", true);
    w.subscribe(1, "x", QoS::AtLeastOnce);
    assert!(w.b.take_store_ops().is_empty());
    w.connect(2, V5, "keep", false);
    let ops = w.b.take_store_ops();
    assert!(
        matches!(&ops[..], [StoreOp::Put { table: Table::Sessions, key, .. }] if &**key == "keep")
    );
    // Nothing changed, nothing reported.
    assert!(w.b.take_store_ops().is_empty());
    let mut p = Publish::new("r", b"v");
    p.retain = true;
    w.send(1, Packet::Publish(p));
    let ops = w.b.take_store_ops();
    assert!(
        matches!(&ops[..], [StoreOp::Put { table: Table::Retained, key, .. }] if &**key == "r")
    );
    p.payload = b"";
    w.send(1, Packet::Publish(p));
    let ops = w.b.take_store_ops();
    assert!(matches!(&ops[..], [StoreOp::Delete { table: Table::Retained, key }] if &**key == "r"));
    // Reconnecting with Clean Start ends the stored session.
    w.connect(3, V5, "keep", true);
    let ops = w.b.take_store_ops();
    assert!(
        matches!(&ops[..], [StoreOp::Delete { table: Table::Sessions, key }] if &**key == "keep"),
        "{ops:?}"
    );
    // Without persistence enabled nothing is tracked.
    let mut off = World::new(Config::default());
    off.connect(1, V5, "keep", false);
    assert!(off.b.take_store_ops().is_empty());
}

#[test]
fn expiry_keeps_counting_while_the_broker_is_down() {
    let mut w = World::new(Config::default());
    w.b.enable_persistence(BASE);
    let mut st = StoredState::default();
    // Two 5.0 sessions with a 60 s expiry; "short" disconnects 50 s before
    // the store is taken, "long" just before.
    let mut c = mqttkit_codec::Connect::new(V5, "short");
    c.clean_start = false;
    c.properties.session_expiry_interval = Some(60);
    w.open(1, V5);
    w.send(1, Packet::Connect((&c).into()));
    w.take(1);
    w.subscribe(1, "q", QoS::AtLeastOnce);
    w.b.connection_lost(1, w.now);
    w.advance(50_000);
    c.client_id = "long";
    w.open(2, V5);
    w.send(2, Packet::Connect((&c).into()));
    w.b.connection_lost(2, w.now);
    // A retained message with a 15 s Message Expiry Interval.
    w.connect(3, V5, "pub", true);
    let mut p = Publish::new("r", b"v");
    p.retain = true;
    let props = mqttkit_codec::PublishProperties {
        message_expiry_interval: Some(15),
        ..Default::default()
    };
    p.properties = (&props).into();
    w.send(3, Packet::Publish(p));
    sync(&mut w, &mut st);
    assert_eq!(st.sessions.len(), 2);

    // Down for 20 s of wall time: "short" (10 s left) is gone, "long" has
    // 40 s left, the retained message (15 s) has expired.
    let now = 0;
    let base2 = BASE + w.now + 20_000;
    let (mut b, report) =
        Broker::restore(Config::default(), AllowAll, &st, base2, now).expect("readable");
    assert_eq!(report.expired_sessions, 1);
    assert_eq!(report.expired_retained, 1);
    assert_eq!(report.sessions, 1);
    assert!(b.session("short").is_none());
    assert!(b.session("long").is_some());
    assert_eq!(b.retained_count(), 0);
    // The expired records are deleted from the store.
    let mut ops = b.take_store_ops();
    ops.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(ops.len(), 2, "{ops:?}");
    assert!(ops.iter().all(|o| matches!(o, StoreOp::Delete { .. })));
    st.apply(ops);
    assert_eq!(st.sessions.keys().collect::<Vec<_>>(), ["long"]);
    // "long" ends 40 s after the restore, not before.
    b.handle_timeout(39_999);
    assert!(b.session("long").is_some());
    b.handle_timeout(40_000);
    assert!(b.session("long").is_none());
    st.apply(b.take_store_ops());
    assert!(st.sessions.is_empty());
}

#[test]
fn damaged_records_are_errors_never_panics() {
    let mut w = World::new(config());
    w.b.enable_persistence(BASE);
    let mut st = StoredState::default();
    build(V5, &mut w, &mut st);
    let (mkey, mgood) = st
        .messages
        .iter()
        .find(|(k, _)| k.starts_with("sub\0q"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .expect("a queued message record");
    for (table, key, good) in [
        (
            Table::Sessions,
            "sub".to_string(),
            st.sessions["sub"].clone(),
        ),
        (Table::Messages, mkey, mgood),
    ] {
        let with = |rec: Vec<u8>| {
            let mut bad = st.clone();
            match table {
                Table::Sessions => bad.sessions.insert(key.clone(), rec),
                _ => bad.messages.insert(key.clone(), rec),
            };
            bad
        };
        // Every truncation is refused with the record named.
        for cut in 0..good.len() {
            let bad = with(good[..cut].to_vec());
            let e = Broker::restore(config(), AllowAll, &bad, BASE, 0).expect_err("truncated");
            assert_eq!((e.table, &e.key), (table, &key));
            assert!(
                e.to_string().contains(&format!("{table} record {key:?}")),
                "{e}"
            );
        }
        // Every single-byte change either reads (a different but valid
        // value) or is refused; none panics.
        let mut refused = 0;
        for i in 0..good.len() {
            for x in [0x00u8, 0x01, 0x7f, 0xff] {
                let mut rec = good.clone();
                rec[i] = x;
                if Broker::restore(config(), AllowAll, &with(rec), BASE, 0).is_err() {
                    refused += 1;
                }
            }
        }
        assert!(refused > 0);
    }
    // A message key that is not one.
    let mut bad = st.clone();
    bad.messages.insert("sub".into(), vec![1]);
    let e = Broker::restore(config(), AllowAll, &bad, BASE, 0).expect_err("bad key");
    assert!(e.to_string().contains("key is not"), "{e}");
    // A record of another format version.
    let mut bad = st.clone();
    bad.retained.get_mut("r/t").unwrap()[0] = 99;
    let e = Broker::restore(config(), AllowAll, &bad, BASE, 0).expect_err("format");
    assert!(e.to_string().contains("format"), "{e}");
}

#[test]
fn assigned_client_ids_are_not_handed_out_again_after_a_restore() {
    let mut w = World::new(Config::default());
    w.b.enable_persistence(BASE);
    let mut st = StoredState::default();
    let mut c = mqttkit_codec::Connect::new(V5, "");
    c.clean_start = true;
    c.properties.session_expiry_interval = Some(3600);
    w.open(1, V5);
    w.send(1, Packet::Connect((&c).into()));
    sync(&mut w, &mut st);
    let first: Vec<String> = st.sessions.keys().cloned().collect();
    assert_eq!(first.len(), 1);
    let (b, _) = Broker::restore(Config::default(), AllowAll, &st, BASE, 0).unwrap();
    let mut w2 = World::new(Config::default());
    w2.b = b;
    w2.open(1, V5);
    w2.send(1, Packet::Connect((&c).into()));
    sync(&mut w2, &mut st);
    assert_eq!(st.sessions.len(), 2, "a new id, not the stored one");
}

/// What a session holds, in a comparable form.
fn contents(b: &Broker, client: &str) -> Option<String> {
    let s = b.session(client)?;
    let d = |d: &mqttkit_model::Delivery| {
        format!(
            "{}:{:?}:{:?}:{}:{:?}",
            d.message.topic, d.message.payload, d.qos, d.retain, d.subscription_ids
        )
    };
    let flight: Vec<String> = s
        .in_flight
        .iter()
        .map(|(id, f)| format!("{id}:{:?}:{}", f.state, d(&f.delivery)))
        .collect();
    let queue: Vec<String> = s.queue.iter().map(d).collect();
    Some(format!(
        "{:?} {:?} {:?} {flight:?} {queue:?}",
        s.subscriptions, s.incoming_qos2, s.expiry
    ))
}

#[test]
fn the_reported_changes_track_a_random_run() {
    let clients = ["s1", "s2", "s3"];
    let mut w = World::new(Config {
        max_inflight: 3,
        max_queued_messages: 50,
        ..Config::default()
    });
    w.b.enable_persistence(BASE);
    let mut st = StoredState::default();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut conn_of: [Option<u64>; 3] = [None; 3];
    let mut conn_id = 100;
    let mut pid = 0u16;
    w.connect(1, V5, "publisher", true);
    for step in 0..3000 {
        let i = next(3) as usize;
        match next(6) {
            0 => {
                // (Re)connect, persistent.
                if let Some(c) = conn_of[i].take() {
                    w.b.connection_lost(c, w.now);
                    w.pump();
                }
                conn_id += 1;
                let v = if i == 1 { V3_1_1 } else { V5 };
                if !w.connect(conn_id, v, clients[i], false) {
                    // New session: subscribe (a resumed one keeps its own).
                    w.subscribe(conn_id, "t/#", QoS::ExactlyOnce);
                }
                conn_of[i] = Some(conn_id);
            }
            1 => {
                if let Some(c) = conn_of[i].take() {
                    w.b.connection_lost(c, w.now);
                    w.pump();
                }
            }
            2 | 3 => {
                pid = pid % 1000 + 1;
                let qos = if next(2) == 0 {
                    QoS::AtLeastOnce
                } else {
                    QoS::ExactlyOnce
                };
                w.publish(1, "t/x", format!("p{step}").as_bytes(), qos, pid);
                for p in w.take(1) {
                    if let Packet::PubRec(r) = p.packet() {
                        w.send(1, Packet::PubRel(PubRel::new(r.packet_id)));
                    }
                }
                w.take(1);
            }
            _ => {
                // A connected subscriber answers some of what it got.
                let Some(c) = conn_of[i] else { continue };
                for p in w.take(c) {
                    if next(4) == 0 {
                        continue;
                    }
                    match p.packet() {
                        Packet::Publish(p) if p.qos == QoS::AtLeastOnce => {
                            w.send(c, Packet::PubAck(PubAck::new(p.packet_id.unwrap())))
                        }
                        Packet::Publish(p) if p.qos == QoS::ExactlyOnce => {
                            w.send(c, Packet::PubRec(PubRec::new(p.packet_id.unwrap())))
                        }
                        Packet::PubRel(r) => w.send(c, Packet::PubComp(PubComp::new(r.packet_id))),
                        _ => {}
                    }
                }
            }
        }
        sync(&mut w, &mut st);
        if step % 500 == 499 {
            let (b, _) = Broker::restore(config(), AllowAll, &st, BASE, w.now).unwrap();
            for c in clients {
                assert_eq!(contents(&b, c), contents(&w.b, c), "{c} at step {step}");
            }
        }
    }
    let total: usize = clients
        .iter()
        .filter_map(|c| w.b.session(c))
        .map(|s| s.queue.len() + s.in_flight.len())
        .sum();
    assert_eq!(st.messages.len(), total, "no record left behind");
}

mod arbitrary_records {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever bytes a store holds, a restore returns a broker or an
        /// error; it never panics.
        #[test]
        fn any_bytes_restore_or_fail_cleanly(
            session in proptest::collection::vec(any::<u8>(), 0..64),
            message in proptest::collection::vec(any::<u8>(), 0..96),
            retained in proptest::collection::vec(any::<u8>(), 0..96),
            seq in any::<u64>(),
        ) {
            let mut st = StoredState::default();
            let with_format = |mut v: Vec<u8>| {
                // Most arbitrary records start with the right format byte,
                // so that decoding goes past the first check.
                if let Some(b) = v.first_mut() {
                    *b = 1;
                }
                v
            };
            st.sessions.insert("c".into(), with_format(session));
            st.messages.insert(format!("c\0q{seq:016x}"), with_format(message.clone()));
            st.messages.insert("c\0f0001".into(), with_format(message));
            st.retained.insert("r".into(), with_format(retained));
            match Broker::restore(Config::default(), AllowAll, &st, BASE, 0) {
                Ok((b, report)) => {
                    prop_assert!(b.session_count() <= 1);
                    prop_assert!(report.queued + report.in_flight <= 2);
                }
                Err(e) => {
                    let text = e.to_string();
                    prop_assert!(text.contains("record") && text.contains("at byte"), "{}", text);
                }
            }
        }
    }
}
