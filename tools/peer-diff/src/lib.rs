//! Differential check of mqttkit-codec against a peer codec, mqttbytes 0.6
//! (the codec under rumqttc's older releases; its v4 and v5 modules).
//!
//! Only packets that **both** accept are compared: mqttkit's strict
//! decoder goes first, the peer sees only the bytes of a packet mqttkit
//! accepted (a peer panic on garbage would otherwise stop the fuzzer, and
//! packets one side refuses say nothing about fields). Both then must
//! report the same packet length and the same fields, written out by
//! [`ours`] and [`peer_v4`] / [`peer_v5`] as `name=value` lines.
//!
//! What is compared:
//! - 3.1.1 (mqttbytes `v4`): every field of every packet type.
//! - 5.0 (mqttbytes `v5`): every field and property of PUBLISH; packet id
//!   and reason code of PUBACK, PUBREC, PUBREL, PUBCOMP; SUBSCRIBE with
//!   every subscription option, identifier and user properties;
//!   UNSUBSCRIBE; PINGREQ, PINGRESP. CONNECT, CONNACK, SUBACK, UNSUBACK
//!   and DISCONNECT are compared by type only (not yet field by field).
//!
//! Known differences, normalised rather than reported: mqttbytes has no
//! packet id for QoS 0 PUBLISH (reads 0: mqttkit's `None` is written 0),
//! keeps user name and password as a pair of strings (an absent one reads
//! as "", both empty as no login: written so), and 3.1.1 CONNACK return codes are compared as
//! the wire value (mqttkit keeps them as 5.0 reason codes: `to_v3`).
//! Packets it refuses (3.1, AUTH, properties it does not know) are simply
//! not compared.

use bytes::BytesMut;
use mqttkit_codec::{Decoder, Packet, ProtocolVersion, QoS};

/// Largest packet handed to the peer.
pub const MAX: usize = 1 << 20;

/// How a comparison came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// mqttkit refused the bytes (the peer was not asked).
    OursRefused,
    /// mqttkit accepted them, the peer refused.
    PeerRefused,
    /// Both accepted and agree.
    Agree,
    /// Both accepted and differ in a way [`known_peer_defect`] explains.
    PeerDefect(&'static str),
}

/// Defects of mqttbytes 0.6 found by the `peer` target, by the packet
/// mqttkit decoded; a difference on such a packet is not reported.
///
/// - 5.0 PUBLISH with Subscription Identifiers: mqttbytes counts each one
///   byte too long (the property id twice), so it may stop reading the
///   properties early and take the last ones as payload (three 1-byte
///   identifiers: two kept, two bytes of payload;
///   `corpus/fuzz/peer/regress-mqttbytes-subscription-id-overcount`).
pub fn known_peer_defect(p: &Packet<'_>, version: ProtocolVersion) -> Option<&'static str> {
    match p {
        // mqttkit decodes a CONNECT by the protocol level it carries;
        // mqttbytes v4 reads a level-5 CONNECT with the 3.1.1 layout
        // (no properties), so its fields shift
        // (`corpus/fuzz/peer/regress-mqttbytes-v4-reads-level-5-connect`).
        Packet::Connect(c) if c.get().protocol != version => {
            Some("mqttbytes v4 reads a level-5 CONNECT as 3.1.1")
        }
        Packet::Publish(x)
            if version.is_v5()
                && x.properties
                    .get()
                    .subscription_identifiers
                    .iter()
                    .next()
                    .is_some() =>
        {
            Some("mqttbytes 0.6 over-counts Subscription Identifier properties")
        }
        _ => None,
    }
}

fn q(x: QoS) -> u8 {
    x as u8
}

fn pq4(x: mqttbytes::QoS) -> u8 {
    x as u8
}

/// The fields of a PUBACK, PUBREC, PUBREL or PUBCOMP (the reason code only
/// under 5.0).
fn ack(f: &mut Vec<String>, name: &str, packet_id: u16, reason: u8, v5: bool) {
    f.push(format!("type={name} pkid={packet_id}"));
    if v5 {
        f.push(format!("reason={reason}"));
    }
}

fn lossy(b: &[u8]) -> String {
    format!("{b:02x?}")
}

/// mqttkit's fields of `p`, one `name=value` per line.
pub fn ours(p: &Packet<'_>, v: ProtocolVersion) -> Vec<String> {
    let v5 = v.is_v5();
    let mut f = Vec::new();
    match p {
        Packet::Connect(c) => {
            let c = c.get();
            f.push("type=CONNECT".into());
            f.push(format!("keep_alive={}", c.keep_alive));
            f.push(format!("client_id={}", c.client_id));
            f.push(format!("clean={}", c.clean_start));
            if let Some(w) = &c.will {
                f.push(format!("will.topic={}", w.topic));
                f.push(format!("will.payload={}", lossy(w.payload)));
                f.push(format!("will.qos={}", q(w.qos)));
                f.push(format!("will.retain={}", w.retain));
                if v5 {
                    let wp = &w.properties;
                    f.push(format!("will.delay={:?}", wp.will_delay_interval));
                    f.push(format!("will.format={:?}", wp.payload_format_indicator));
                    f.push(format!("will.expiry={:?}", wp.message_expiry_interval));
                    f.push(format!("will.content_type={:?}", wp.content_type));
                    f.push(format!("will.response_topic={:?}", wp.response_topic));
                    f.push(format!(
                        "will.correlation={:?}",
                        wp.correlation_data.map(lossy)
                    ));
                    for (k, val) in wp.user_properties.iter() {
                        f.push(format!("will.user={k}:{val}"));
                    }
                }
            }
            // mqttbytes keeps user name and password together, reads an
            // absent one as "", and drops the pair when both are empty.
            let u = c.username.unwrap_or("");
            let pw = c.password.unwrap_or(b"");
            if !(u.is_empty() && pw.is_empty()) {
                f.push(format!("username={u}"));
                match std::str::from_utf8(pw) {
                    Ok(pw) => f.push(format!("password={pw}")),
                    Err(_) => f.push(format!("password={pw:02x?}")),
                }
            }
            if v5 {
                let cp = &c.properties;
                f.push(format!("session_expiry={:?}", cp.session_expiry_interval));
                f.push(format!("receive_maximum={:?}", cp.receive_maximum));
                f.push(format!("maximum_packet_size={:?}", cp.maximum_packet_size));
                f.push(format!("topic_alias_maximum={:?}", cp.topic_alias_maximum));
                for (k, val) in cp.user_properties.iter() {
                    f.push(format!("user={k}:{val}"));
                }
            }
        }
        Packet::ConnAck(a) => {
            f.push("type=CONNACK".into());
            f.push(format!("session_present={}", a.session_present));
            // 3.x carries the return code (1 to 5), 5.0 the reason code.
            let code = if v5 {
                Some(a.reason_code as u8)
            } else {
                a.reason_code.to_v3()
            };
            f.push(format!("code={code:?}"));
        }
        Packet::Publish(x) => {
            f.push("type=PUBLISH".into());
            f.push(format!("dup={}", x.dup));
            f.push(format!("qos={}", q(x.qos)));
            f.push(format!("retain={}", x.retain));
            f.push(format!("topic={}", x.topic));
            f.push(format!("pkid={}", x.packet_id.unwrap_or(0)));
            f.push(format!("payload={}", lossy(x.payload)));
            if v5 {
                let pp = x.properties.get();
                f.push(format!("format={:?}", pp.payload_format_indicator));
                f.push(format!("expiry={:?}", pp.message_expiry_interval));
                f.push(format!("alias={:?}", pp.topic_alias));
                f.push(format!("response_topic={:?}", pp.response_topic));
                f.push(format!("correlation={:?}", pp.correlation_data.map(lossy)));
                for (k, val) in pp.user_properties.iter() {
                    f.push(format!("user={k}:{val}"));
                }
                for id in pp.subscription_identifiers.iter() {
                    f.push(format!("sub_id={id}"));
                }
                f.push(format!("content_type={:?}", pp.content_type));
            }
        }
        Packet::PubAck(a) => ack(&mut f, "PUBACK", a.packet_id, a.reason_code as u8, v5),
        Packet::PubRec(a) => ack(&mut f, "PUBREC", a.packet_id, a.reason_code as u8, v5),
        Packet::PubRel(a) => ack(&mut f, "PUBREL", a.packet_id, a.reason_code as u8, v5),
        Packet::PubComp(a) => ack(&mut f, "PUBCOMP", a.packet_id, a.reason_code as u8, v5),
        Packet::Subscribe(s) => {
            f.push(format!("type=SUBSCRIBE pkid={}", s.packet_id));
            for sub in s.subscriptions.iter() {
                f.push(format!("filter={} qos={}", sub.filter, q(sub.options.qos)));
                if v5 {
                    f.push(format!(
                        "no_local={} rap={} rh={}",
                        sub.options.no_local,
                        sub.options.retain_as_published,
                        sub.options.retain_handling as u8
                    ));
                }
            }
            if v5 {
                f.push(format!("sub_id={:?}", s.properties.subscription_identifier));
                for (k, val) in s.properties.user_properties.iter() {
                    f.push(format!("user={k}:{val}"));
                }
            }
        }
        Packet::SubAck(s) => {
            f.push(format!("type=SUBACK pkid={}", s.packet_id));
            for c in s.reason_codes.iter() {
                f.push(format!("code={}", c as u8));
            }
        }
        Packet::Unsubscribe(u) => {
            f.push(format!("type=UNSUBSCRIBE pkid={}", u.packet_id));
            for t in u.filters.iter() {
                f.push(format!("filter={t}"));
            }
        }
        Packet::UnsubAck(u) => {
            f.push(format!("type=UNSUBACK pkid={}", u.packet_id));
            if v5 {
                for c in u.reason_codes.iter() {
                    f.push(format!("code={}", c as u8));
                }
            }
        }
        Packet::PingReq => f.push("type=PINGREQ".into()),
        Packet::PingResp => f.push("type=PINGRESP".into()),
        Packet::Disconnect(d) => {
            f.push("type=DISCONNECT".into());
            if v5 {
                f.push(format!("reason={}", d.reason_code as u8));
            }
        }
        Packet::Auth(_) => f.push("type=AUTH".into()),
    }
    f
}

/// mqttbytes v4's fields, as [`ours`] writes them.
pub fn peer_v4(p: &mqttbytes::v4::Packet) -> Vec<String> {
    use mqttbytes::v4::{Packet as P, SubscribeReasonCode as S};
    let mut f = Vec::new();
    match p {
        P::Connect(c) => {
            f.push("type=CONNECT".into());
            f.push(format!("keep_alive={}", c.keep_alive));
            f.push(format!("client_id={}", c.client_id));
            f.push(format!("clean={}", c.clean_session));
            if let Some(w) = &c.last_will {
                f.push(format!("will.topic={}", w.topic));
                f.push(format!("will.payload={}", lossy(&w.message)));
                f.push(format!("will.qos={}", pq4(w.qos)));
                f.push(format!("will.retain={}", w.retain));
            }
            if let Some(l) = &c.login {
                f.push(format!("username={}", l.username));
                f.push(format!("password={}", l.password));
            }
        }
        P::ConnAck(a) => {
            f.push("type=CONNACK".into());
            f.push(format!("session_present={}", a.session_present));
            f.push(format!("code={:?}", Some(a.code as u8)));
        }
        P::Publish(x) => {
            f.push("type=PUBLISH".into());
            f.push(format!("dup={}", x.dup));
            f.push(format!("qos={}", pq4(x.qos)));
            f.push(format!("retain={}", x.retain));
            f.push(format!("topic={}", x.topic));
            f.push(format!("pkid={}", x.pkid));
            f.push(format!("payload={}", lossy(&x.payload)));
        }
        P::PubAck(a) => f.push(format!("type=PUBACK pkid={}", a.pkid)),
        P::PubRec(a) => f.push(format!("type=PUBREC pkid={}", a.pkid)),
        P::PubRel(a) => f.push(format!("type=PUBREL pkid={}", a.pkid)),
        P::PubComp(a) => f.push(format!("type=PUBCOMP pkid={}", a.pkid)),
        P::Subscribe(s) => {
            f.push(format!("type=SUBSCRIBE pkid={}", s.pkid));
            for x in &s.filters {
                f.push(format!("filter={} qos={}", x.path, pq4(x.qos)));
            }
        }
        P::SubAck(s) => {
            f.push(format!("type=SUBACK pkid={}", s.pkid));
            for c in &s.return_codes {
                f.push(format!(
                    "code={}",
                    match c {
                        S::Success(x) => pq4(*x),
                        S::Failure => 0x80,
                    }
                ));
            }
        }
        P::Unsubscribe(u) => {
            f.push(format!("type=UNSUBSCRIBE pkid={}", u.pkid));
            for t in &u.topics {
                f.push(format!("filter={t}"));
            }
        }
        P::UnsubAck(u) => f.push(format!("type=UNSUBACK pkid={}", u.pkid)),
        P::PingReq => f.push("type=PINGREQ".into()),
        P::PingResp => f.push("type=PINGRESP".into()),
        P::Disconnect => f.push("type=DISCONNECT".into()),
    }
    f
}

/// mqttbytes v5's fields, as [`ours`] writes them (the subset it keeps).
pub fn peer_v5(p: &mqttbytes::v5::Packet) -> Vec<String> {
    use mqttbytes::v5::Packet as P;
    let mut f = Vec::new();
    match p {
        P::Publish(x) => {
            f.push("type=PUBLISH".into());
            f.push(format!("dup={}", x.dup));
            f.push(format!("qos={}", pq4(x.qos)));
            f.push(format!("retain={}", x.retain));
            f.push(format!("topic={}", x.topic));
            f.push(format!("pkid={}", x.pkid));
            f.push(format!("payload={}", lossy(&x.payload)));
            let d = mqttbytes::v5::PublishProperties {
                payload_format_indicator: None,
                message_expiry_interval: None,
                topic_alias: None,
                response_topic: None,
                correlation_data: None,
                user_properties: Vec::new(),
                subscription_identifiers: Vec::new(),
                content_type: None,
            };
            let pp = x.properties.as_ref().unwrap_or(&d);
            f.push(format!("format={:?}", pp.payload_format_indicator));
            f.push(format!("expiry={:?}", pp.message_expiry_interval));
            f.push(format!("alias={:?}", pp.topic_alias));
            f.push(format!("response_topic={:?}", pp.response_topic));
            f.push(format!(
                "correlation={:?}",
                pp.correlation_data.as_deref().map(lossy)
            ));
            for (k, val) in &pp.user_properties {
                f.push(format!("user={k}:{val}"));
            }
            for id in &pp.subscription_identifiers {
                f.push(format!("sub_id={id}"));
            }
            f.push(format!("content_type={:?}", pp.content_type));
        }
        P::PubAck(a) => ack(&mut f, "PUBACK", a.pkid, a.reason as u8, true),
        P::PubRec(a) => ack(&mut f, "PUBREC", a.pkid, a.reason as u8, true),
        P::PubRel(a) => ack(&mut f, "PUBREL", a.pkid, a.reason as u8, true),
        P::PubComp(a) => ack(&mut f, "PUBCOMP", a.pkid, a.reason as u8, true),
        P::Subscribe(s) => {
            use mqttbytes::v5::RetainForwardRule as R;
            f.push(format!("type=SUBSCRIBE pkid={}", s.pkid));
            for x in &s.filters {
                f.push(format!("filter={} qos={}", x.path, pq4(x.qos)));
                let rh = match x.retain_forward_rule {
                    R::OnEverySubscribe => 0,
                    R::OnNewSubscribe => 1,
                    R::Never => 2,
                };
                f.push(format!(
                    "no_local={} rap={} rh={rh}",
                    x.nolocal, x.preserve_retain
                ));
            }
            let d = mqttbytes::v5::SubscribeProperties {
                id: None,
                user_properties: Vec::new(),
            };
            let sp = s.properties.as_ref().unwrap_or(&d);
            f.push(format!("sub_id={:?}", sp.id.map(|x| x as u32)));
            for (k, val) in &sp.user_properties {
                f.push(format!("user={k}:{val}"));
            }
        }
        P::Unsubscribe(u) => {
            f.push(format!("type=UNSUBSCRIBE pkid={}", u.pkid));
            for t in &u.filters {
                f.push(format!("filter={t}"));
            }
        }
        P::PingReq => f.push("type=PINGREQ".into()),
        P::PingResp => f.push("type=PINGRESP".into()),
        other => f.push(format!("type={}", peer_type_name(other))),
    }
    f
}

fn peer_type_name(p: &mqttbytes::v5::Packet) -> &'static str {
    use mqttbytes::v5::Packet as P;
    match p {
        P::Connect(_) => "CONNECT",
        P::ConnAck(_) => "CONNACK",
        P::Publish(_) => "PUBLISH",
        P::PubAck(_) => "PUBACK",
        P::PubRec(_) => "PUBREC",
        P::PubRel(_) => "PUBREL",
        P::PubComp(_) => "PUBCOMP",
        P::Subscribe(_) => "SUBSCRIBE",
        P::SubAck(_) => "SUBACK",
        P::Unsubscribe(_) => "UNSUBSCRIBE",
        P::UnsubAck(_) => "UNSUBACK",
        P::PingReq => "PINGREQ",
        P::PingResp => "PINGRESP",
        P::Disconnect(_) => "DISCONNECT",
    }
}

/// The subset of [`ours`] that [`peer_v5`] writes for the same packet
/// (5.0 packet types whose fields are not compared keep only `type=`).
fn ours_v5_subset(p: &Packet<'_>) -> Vec<String> {
    match p {
        Packet::Publish(_)
        | Packet::PubAck(_)
        | Packet::PubRec(_)
        | Packet::PubRel(_)
        | Packet::PubComp(_)
        | Packet::Subscribe(_)
        | Packet::Unsubscribe(_)
        | Packet::PingReq
        | Packet::PingResp => ours(p, ProtocolVersion::V5),
        other => {
            let first = ours(other, ProtocolVersion::V5).swap_remove(0);
            let name = first.split(' ').next().unwrap_or_default().to_string();
            vec![name]
        }
    }
}

/// Decodes `bytes` strictly with mqttkit under `version` (3.1.1 or 5.0,
/// direction unknown); when that succeeds, hands the packet's bytes to the
/// peer and, when it accepts too, asserts the same length and fields.
pub fn compare(version: ProtocolVersion, bytes: &[u8]) -> Outcome {
    let Ok((p, n)) = Decoder::new(version).decode(bytes) else {
        return Outcome::OursRefused;
    };
    if n > MAX {
        return Outcome::PeerRefused;
    }
    let mut buf = BytesMut::from(&bytes[..n]);
    let (want, got) = if version.is_v5() {
        match mqttbytes::v5::read(&mut buf, MAX) {
            Ok(x) => (ours_v5_subset(&p), peer_v5(&x)),
            Err(_) => return Outcome::PeerRefused,
        }
    } else {
        match mqttbytes::v4::read(&mut buf, MAX) {
            Ok(x) => (ours(&p, version), peer_v4(&x)),
            Err(_) => return Outcome::PeerRefused,
        }
    };
    if want != got {
        if let Some(why) = known_peer_defect(&p, version) {
            return Outcome::PeerDefect(why);
        }
    }
    assert!(
        buf.is_empty(),
        "{version}: the peer left {} of {n} bytes: {:02x?}",
        buf.len(),
        &bytes[..n]
    );
    assert_eq!(
        want,
        got,
        "{version}: fields differ for {:02x?}",
        &bytes[..n]
    );
    Outcome::Agree
}

/// Fuzz target `peer`. Byte 0: bit 0 picks 3.1.1 or 5.0; bit 1 picks the
/// mode: raw bytes (the rest, compared as they are) or structured (the
/// rest drives an arbitrary mqttkit packet of that version, encoded, then
/// compared: far more packets both sides accept).
pub fn peer_target(data: &[u8]) {
    use arbitrary::{Arbitrary, Unstructured};
    use mqttkit_codec::arbitrary_packet::ArbitraryPacket;

    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let version = if sel & 1 == 1 {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V3_1_1
    };
    if sel & 2 == 0 {
        compare(version, rest);
        return;
    }
    let Ok(ap) = ArbitraryPacket::arbitrary_take_rest(Unstructured::new(rest)) else {
        return;
    };
    if ap.version() != version {
        return;
    }
    if let Some(bytes) = ap.with_packet(|p| p.to_vec(version).ok()) {
        compare(version, &bytes);
    }
}
