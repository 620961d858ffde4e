//! What the specification allows a broker to do with a target, what the
//! broker did, and whether the two agree.

use std::fmt;

use mqttkit_codec::{DecodeError, Decoder, ErrorKind, ProtocolVersion, Role as Sender};

use crate::gen::{Class, ClassKind, Conversation};

/// What the broker must do with the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Close the connection without acting on the input. Before closing it
    /// may send, under 5.0, a DISCONNECT with a reason code of 0x80 or
    /// more (after a successful CONNACK only); and, for a bad CONNECT, a
    /// CONNACK refusing the connection.
    Close {
        /// The statement the input breaks.
        statement: String,
        /// The target is the connection's CONNECT.
        connect: bool,
        /// The target is the first packet of the connection, so no
        /// CONNACK has been sent yet.
        first: bool,
    },
    /// Handle the input as valid: stay connected and answer the runner's
    /// PINGREQ. `acks` packets of type `ack_type` must come back first.
    Open {
        /// Statements the case exercises.
        statement: String,
        /// Packet type (high nibble) of the answers to count.
        ack_type: u8,
        /// How many answers of that type (0: not counted).
        acks: usize,
        /// Packet identifier one answer must carry.
        ack_id: Option<u16>,
        /// 3.1.1 lets a server close instead of acknowledging a PUBLISH
        /// it does not authorize (MQTT-3.3.5-2).
        may_close: bool,
    },
    /// Anything but a crash or an invalid packet from the broker (an
    /// incomplete packet may be waited on forever; acknowledgements for
    /// unknown identifiers have no required reaction).
    Any {
        /// Why nothing in particular is required.
        reason: String,
    },
}

impl Expect {
    /// The statement ids the expectation rests on.
    pub fn statements(&self) -> Vec<String> {
        match self {
            Expect::Close { statement, .. } | Expect::Open { statement, .. } => statement
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            Expect::Any { .. } => Vec::new(),
        }
    }

    /// True when the runner should wait for the broker to close.
    pub fn waits_for_close(&self) -> bool {
        !matches!(self, Expect::Open { .. })
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Close {
                statement,
                connect,
                first,
            } => {
                write!(f, "close the connection ({statement})")?;
                if *connect && *first {
                    f.write_str("; a CONNACK refusing it may come first")?;
                } else if !*first {
                    f.write_str("; under 5.0 a DISCONNECT with reason >= 0x80 may come first")?;
                }
                Ok(())
            }
            Expect::Open {
                statement,
                ack_type,
                acks,
                ack_id,
                may_close,
            } => {
                f.write_str("process it and stay connected")?;
                if *may_close {
                    f.write_str(" (or refuse it by closing, MQTT-3.3.5-2)")?;
                }
                if *acks > 0 {
                    write!(f, ", answering with {acks} {}", type_name(*ack_type))?;
                }
                if let Some(id) = ack_id {
                    write!(f, " for packet identifier {id}")?;
                }
                if !statement.is_empty() {
                    write!(f, " ({statement})")?;
                }
                Ok(())
            }
            Expect::Any { reason } => write!(f, "any reaction but a crash ({reason})"),
        }
    }
}

/// The name of a packet type nibble.
pub fn type_name(t: u8) -> &'static str {
    match t {
        1 => "CONNECT",
        2 => "CONNACK",
        3 => "PUBLISH",
        4 => "PUBACK",
        5 => "PUBREC",
        6 => "PUBREL",
        7 => "PUBCOMP",
        8 => "SUBSCRIBE",
        9 => "SUBACK",
        10 => "UNSUBSCRIBE",
        11 => "UNSUBACK",
        12 => "PINGREQ",
        13 => "PINGRESP",
        14 => "DISCONNECT",
        15 => "AUTH",
        _ => "reserved type 0",
    }
}

/// Decodes every packet in `bytes`; the first failure, if any.
fn first_error(v: ProtocolVersion, mut bytes: &[u8]) -> (usize, Option<DecodeError>) {
    let d = Decoder::new(v).sent_by(Sender::Client);
    let mut n = 0;
    while !bytes.is_empty() {
        match d.decode(bytes) {
            Ok((_, used)) => {
                bytes = &bytes[used..];
                n += 1;
            }
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}

/// What the specification requires of the broker for `conv`'s target.
/// The strict decoder decides for every class: bytes it rejects must be
/// met with a close; the class matters only for valid bytes (order
/// violations and valid input).
pub fn expect(conv: &Conversation) -> Expect {
    let v = conv.version;
    let target = conv.target();
    let first = conv.target_is_first();
    let connect = target.first().is_some_and(|b| b >> 4 == 1);
    let (count, err) = first_error(v, target);
    match err {
        Some(DecodeError::Invalid(viol)) if viol.kind() != ErrorKind::Incomplete => {
            let mut statement = viol.statement().to_string();
            if first && !connect {
                statement.push_str(" MQTT-3.1.0-1");
            }
            return Expect::Close {
                statement,
                connect,
                first,
            };
        }
        Some(_) => {
            return Expect::Any {
                reason: format!(
                    "the target ends inside a packet after {count} whole packet(s); \
                     the broker may wait for the rest"
                ),
            }
        }
        None => {}
    }
    let close = |s: &str| Expect::Close {
        statement: s.to_string(),
        connect,
        first,
    };
    // Under 3.1.1 a PUBLISH may be refused by closing (MQTT-3.3.5-2).
    let may_close = !v.is_v5() && target.first().is_some_and(|b| b >> 4 == 3);
    let open = |s: &str| Expect::Open {
        statement: s.to_string(),
        ack_type: 0,
        acks: 0,
        ack_id: None,
        may_close,
    };
    if first && !connect {
        return close("MQTT-3.1.0-1");
    }
    match conv.class {
        Class::SecondConnect => close("MQTT-3.1.0-2"),
        Class::PubrelUnknown if target.len() >= 4 && target[0] >> 4 == 6 => {
            let id = u16::from_be_bytes([target[2], target[3]]);
            Expect::Open {
                statement: if v.is_v5() {
                    "MQTT-4.3.3-11".into()
                } else {
                    "MQTT-4.3.3-2".into()
                },
                ack_type: 7,
                acks: 1,
                ack_id: Some(id),
                may_close: false,
            }
        }
        Class::AckUnknown => Expect::Any {
            reason: "the specification does not say how an acknowledgement of an unknown \
                     identifier is handled"
                .into(),
        },
        Class::AuthWithoutMethod => close("§4.12/auth-without-method MQTT-4.13.1-1"),
        Class::TopicAliasUnknown => close("§3.3.2.3.4/topic-alias MQTT-4.13.1-1"),
        Class::Flood if !target.is_empty() => {
            let t = target[0] >> 4;
            let q1 = t == 3 && (target[0] >> 1) & 3 == 1;
            match (t, q1) {
                (12, _) => Expect::Open {
                    statement: "MQTT-3.12.4-1".into(),
                    ack_type: 13,
                    acks: count,
                    ack_id: None,
                    may_close: false,
                },
                (3, true) => Expect::Open {
                    statement: if v.is_v5() {
                        "MQTT-4.3.2-5".into()
                    } else {
                        "MQTT-4.3.2-2".into()
                    },
                    ack_type: 4,
                    acks: count,
                    ack_id: None,
                    may_close,
                },
                _ => open(""),
            }
        }
        class => {
            debug_assert!(matches!(class.kind(), ClassKind::Valid | ClassKind::Field));
            open("")
        }
    }
}

/// A packet the broker sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The whole packet.
    pub bytes: Vec<u8>,
    /// Why the strict decoder rejects it, if it does.
    pub invalid: Option<String>,
}

impl Received {
    /// Decodes `bytes` as sent by a server under `v`.
    pub fn new(v: ProtocolVersion, bytes: Vec<u8>) -> Self {
        let invalid = match Decoder::new(v).sent_by(Sender::Server).decode(&bytes) {
            Ok(_) => None,
            Err(e) => Some(e.to_string()),
        };
        Received { bytes, invalid }
    }

    /// Packet type nibble.
    pub fn ptype(&self) -> u8 {
        self.bytes.first().map(|b| b >> 4).unwrap_or(0)
    }

    /// The first body byte (CONNACK return code position aside), i.e. the
    /// reason code of a 5.0 DISCONNECT (0 when absent).
    fn body(&self) -> &[u8] {
        let mut i = 1;
        while i < self.bytes.len() && i < 5 && self.bytes[i] & 0x80 != 0 {
            i += 1;
        }
        self.bytes.get(i + 1..).unwrap_or(&[])
    }

    /// A DISCONNECT's reason code (0 when the body is empty).
    pub fn disconnect_reason(&self) -> u8 {
        self.body().first().copied().unwrap_or(0)
    }

    /// A CONNACK's return code / reason code.
    pub fn connack_code(&self) -> u8 {
        self.body().get(1).copied().unwrap_or(0)
    }

    /// The packet identifier of an acknowledgement.
    pub fn packet_id(&self) -> Option<u16> {
        let b = self.body();
        (b.len() >= 2).then(|| u16::from_be_bytes([b[0], b[1]]))
    }

    /// Reason codes of an acknowledgement: a 5.0 PUBACK/PUBREC/PUBREL/
    /// PUBCOMP's one code (0 when left out), the list of a SUBACK (and of a
    /// 5.0 UNSUBACK); empty otherwise.
    pub fn reason_codes(&self, v5: bool) -> Vec<u8> {
        let b = self.body();
        match self.ptype() {
            4..=7 if v5 => vec![b.get(2).copied().unwrap_or(0)],
            9 | 11 if v5 || self.ptype() == 9 => {
                let mut i = 2;
                if v5 {
                    // Property Length: skip it and the properties.
                    let mut len = 0usize;
                    let mut shift = 0;
                    while let Some(&x) = b.get(i) {
                        len |= usize::from(x & 0x7F) << shift;
                        i += 1;
                        shift += 7;
                        if x & 0x80 == 0 || shift > 21 {
                            break;
                        }
                    }
                    i = i.saturating_add(len);
                }
                b.get(i..).unwrap_or(&[]).to_vec()
            }
            _ => Vec::new(),
        }
    }

    /// True for an acknowledgement refusing everything it answers
    /// (every reason code 0x80 or more).
    pub fn is_refusal(&self, v5: bool) -> bool {
        let codes = self.reason_codes(v5);
        !codes.is_empty() && codes.iter().all(|&c| c >= 0x80)
    }

    /// A short description.
    pub fn describe(&self) -> String {
        let t = self.ptype();
        let mut s = type_name(t).to_string();
        match t {
            2 => s.push_str(&format!(" {:#04x}", self.connack_code())),
            14 => s.push_str(&format!(" {:#04x}", self.disconnect_reason())),
            4..=7 => {
                if let Some(id) = self.packet_id() {
                    s.push_str(&format!(" id {id}"));
                }
            }
            _ => {}
        }
        if matches!(t, 4..=7 | 9 | 11) {
            // Both readings are shown when the version is not known here.
            let v5 = self.reason_codes(true);
            if t == 9 || !v5.is_empty() && v5 != [0] {
                let codes: Vec<String> = v5.iter().map(|c| format!("{c:#04x}")).collect();
                if !codes.is_empty() {
                    s.push_str(&format!(" codes [{}]", codes.join(" ")));
                }
            }
        }
        if let Some(e) = &self.invalid {
            s.push_str(&format!(" [invalid: {e}]"));
        }
        s
    }
}

/// How the observation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The broker closed (or reset) the connection.
    Closed,
    /// The broker answered the runner's PINGREQ: it is still listening.
    Open,
    /// Neither within the deadline.
    Silent,
}

/// What the broker did after the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    /// Packets received after the target was sent (the runner's own
    /// PINGRESP excluded).
    pub packets: Vec<Received>,
    /// How it ended.
    pub end: End,
}

impl fmt::Display for Reaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self.packets.iter().map(Received::describe).collect();
        if parts.len() > 12 {
            let n = parts.len();
            parts.truncate(10);
            parts.push(format!("... ({n} packets)"));
        }
        parts.push(
            match self.end {
                End::Closed => "connection closed",
                End::Open => "connection open (PINGREQ answered)",
                End::Silent => "connection open, no answer to PINGREQ",
            }
            .to_string(),
        );
        f.write_str(&parts.join(", "))
    }
}

/// A disagreement between the broker and the specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Short kind (`not-closed`, `acted-on-invalid`, ...), stable across
    /// runs: a replay reproduces when it sees the same kind.
    pub kind: String,
    /// What exactly was wrong.
    pub detail: String,
}

/// DISCONNECT reasons a 5.0 broker may give for closing on valid input
/// (limits and policies it is free to have).
/// (0x90 Topic Name invalid: well formed but not accepted; 0x9A-0xA2: a
/// feature the broker may have declared unavailable in CONNACK.)
const POLICY_REASONS: &[u8] = &[
    0x80, 0x83, 0x87, 0x89, 0x8B, 0x90, 0x95, 0x96, 0x97, 0x99, 0x9A, 0x9B, 0x9E, 0x9F, 0xA1, 0xA2,
];

/// Judges `reaction` against `expect`; `None` when the broker did what the
/// specification allows.
pub fn judge(v: ProtocolVersion, expect: &Expect, reaction: &Reaction) -> Option<Verdict> {
    let verdict = |kind: &str, detail: String| {
        Some(Verdict {
            kind: kind.to_string(),
            detail,
        })
    };
    // A CONNECT whose protocol level is not the connection's may be
    // refused in either version's CONNACK form (the broker cannot know
    // which the client reads).
    let connect_first = matches!(
        expect,
        Expect::Close {
            connect: true,
            first: true,
            ..
        }
    );
    let either_form = |p: &Received| {
        connect_first
            && p.ptype() == 2
            && [ProtocolVersion::V3_1_1, ProtocolVersion::V5]
                .iter()
                .any(|&w| Received::new(w, p.bytes.clone()).invalid.is_none())
    };
    if let Some(bad) = reaction
        .packets
        .iter()
        .find(|p| p.invalid.is_some() && !either_form(p))
    {
        return verdict(
            "invalid-packet-from-broker",
            format!("the broker sent {}", bad.describe()),
        );
    }
    match expect {
        Expect::Close { connect, first, .. } => {
            for p in &reaction.packets {
                let allowed = match p.ptype() {
                    2 => *connect && *first && p.connack_code() != 0,
                    14 => v.is_v5() && !*first && p.disconnect_reason() >= 0x80,
                    _ => false,
                };
                if !allowed {
                    let kind = match p.ptype() {
                        2 | 14 => "wrong-close-reason",
                        _ if p.is_refusal(v.is_v5()) => "refused-not-closed",
                        _ => "acted-on-invalid",
                    };
                    return verdict(
                        kind,
                        format!("sent {} instead of only closing", p.describe()),
                    );
                }
            }
            match reaction.end {
                End::Closed => None,
                End::Open => verdict(
                    "not-closed",
                    "kept the connection open and answered PINGREQ".into(),
                ),
                End::Silent => verdict(
                    "not-closed",
                    "kept the connection open (no close within the deadline)".into(),
                ),
            }
        }
        Expect::Open {
            ack_type,
            acks,
            ack_id,
            may_close,
            ..
        } => {
            if reaction.end == End::Closed && *may_close {
                return None;
            }
            if reaction.end == End::Closed {
                let policy = reaction.packets.iter().any(|p| {
                    p.ptype() == 14 && v.is_v5() && POLICY_REASONS.contains(&p.disconnect_reason())
                });
                if policy {
                    return None;
                }
                return verdict(
                    "closed-on-valid",
                    format!("closed the connection on valid input ({reaction})"),
                );
            }
            if reaction.end == End::Silent {
                return verdict(
                    "stalled",
                    "stopped answering on an open connection (no PINGRESP)".into(),
                );
            }
            if *acks > 0 {
                let got: Vec<&Received> = reaction
                    .packets
                    .iter()
                    .filter(|p| p.ptype() == *ack_type)
                    .collect();
                if got.len() != *acks {
                    return verdict(
                        "missing-answer",
                        format!(
                            "expected {acks} {} and got {}",
                            type_name(*ack_type),
                            got.len()
                        ),
                    );
                }
                if let Some(id) = ack_id {
                    if !got.iter().any(|p| p.packet_id() == Some(*id)) {
                        return verdict(
                            "missing-answer",
                            format!("no {} for packet identifier {id}", type_name(*ack_type)),
                        );
                    }
                }
            }
            None
        }
        Expect::Any { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{generate, Ctx};
    use crate::rng::Rng;

    fn recv(v: ProtocolVersion, b: &[u8]) -> Received {
        Received::new(v, b.to_vec())
    }

    #[test]
    fn malformed_input_must_close() {
        let v = ProtocolVersion::V5;
        let ctx = Ctx {
            version: v,
            client_id: "c".into(),
            prefix: "p".into(),
        };
        let conv = generate(Class::PublishQos3, &ctx, &mut Rng::new(1));
        let e = expect(&conv);
        assert!(matches!(&e, Expect::Close { statement, .. } if statement == "MQTT-3.3.1-4"));
        let closed = Reaction {
            packets: vec![recv(v, &[0xE0, 0x02, 0x81, 0x00])],
            end: End::Closed,
        };
        assert_eq!(judge(v, &e, &closed), None);
        let ack = Reaction {
            packets: vec![recv(v, &[0x40, 0x02, 0x00, 0x01])],
            end: End::Closed,
        };
        assert_eq!(judge(v, &e, &ack).unwrap().kind, "acted-on-invalid");
        let normal = Reaction {
            packets: vec![recv(v, &[0xE0, 0x00])],
            end: End::Closed,
        };
        assert_eq!(judge(v, &e, &normal).unwrap().kind, "wrong-close-reason");
        let open = Reaction {
            packets: vec![],
            end: End::Open,
        };
        assert_eq!(judge(v, &e, &open).unwrap().kind, "not-closed");
        // 3.1.1 servers send no DISCONNECT at all.
        let v3 = ProtocolVersion::V3_1_1;
        let d = Reaction {
            packets: vec![recv(v3, &[0xE0, 0x00])],
            end: End::Closed,
        };
        assert!(judge(v3, &e, &d).is_some());
    }

    #[test]
    fn refusals_and_connack_forms() {
        let v = ProtocolVersion::V5;
        let e = Expect::Close {
            statement: "MQTT-3.8.3-4".into(),
            connect: false,
            first: false,
        };
        // SUBACK refusing the filter, connection kept: a refusal, not a close.
        let r = Reaction {
            packets: vec![recv(v, &[0x90, 0x04, 0x00, 0x01, 0x00, 0x8F])],
            end: End::Open,
        };
        assert_eq!(judge(v, &e, &r).unwrap().kind, "refused-not-closed");
        let granted = Reaction {
            packets: vec![recv(v, &[0x90, 0x04, 0x00, 0x01, 0x00, 0x01])],
            end: End::Open,
        };
        assert_eq!(judge(v, &e, &granted).unwrap().kind, "acted-on-invalid");
        // An unknown protocol level may be refused in the 3.1.1 form.
        let c = Expect::Close {
            statement: "MQTT-3.1.2-2".into(),
            connect: true,
            first: true,
        };
        let old_form = Reaction {
            packets: vec![recv(v, &[0x20, 0x02, 0x00, 0x01])],
            end: End::Closed,
        };
        assert_eq!(judge(v, &c, &old_form), None);
        let accepted = Reaction {
            packets: vec![recv(v, &[0x20, 0x03, 0x00, 0x00, 0x00])],
            end: End::Open,
        };
        assert_eq!(judge(v, &c, &accepted).unwrap().kind, "wrong-close-reason");
    }

    #[test]
    fn valid_input_must_not_close_and_acks_are_counted() {
        let v = ProtocolVersion::V3_1_1;
        let e = Expect::Open {
            statement: String::new(),
            ack_type: 7,
            acks: 1,
            ack_id: Some(9),
            may_close: false,
        };
        let good = Reaction {
            packets: vec![recv(v, &[0x70, 0x02, 0x00, 0x09])],
            end: End::Open,
        };
        assert_eq!(judge(v, &e, &good), None);
        let wrong_id = Reaction {
            packets: vec![recv(v, &[0x70, 0x02, 0x00, 0x08])],
            end: End::Open,
        };
        assert_eq!(judge(v, &e, &wrong_id).unwrap().kind, "missing-answer");
        let closed = Reaction {
            packets: vec![],
            end: End::Closed,
        };
        assert_eq!(judge(v, &e, &closed).unwrap().kind, "closed-on-valid");
        let silent = Reaction {
            packets: vec![],
            end: End::Silent,
        };
        assert_eq!(judge(v, &e, &silent).unwrap().kind, "stalled");
        let v5 = ProtocolVersion::V5;
        let busy = Reaction {
            packets: vec![recv(v5, &[0xE0, 0x02, 0x97, 0x00])],
            end: End::Closed,
        };
        let e0 = Expect::Open {
            statement: String::new(),
            ack_type: 0,
            acks: 0,
            ack_id: None,
            may_close: false,
        };
        assert_eq!(judge(v5, &e0, &busy), None, "quota exceeded is a policy");
        let protocol_error = Reaction {
            packets: vec![recv(v5, &[0xE0, 0x02, 0x82, 0x00])],
            end: End::Closed,
        };
        assert_eq!(
            judge(v5, &e0, &protocol_error).unwrap().kind,
            "closed-on-valid"
        );
        // 3.1.1: a PUBLISH may be refused by closing.
        let publish = Expect::Open {
            statement: String::new(),
            ack_type: 0,
            acks: 0,
            ack_id: None,
            may_close: true,
        };
        assert_eq!(judge(v, &publish, &closed), None);
    }

    #[test]
    fn packets_before_connect_and_second_connect_must_close() {
        for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            let ctx = Ctx {
                version: v,
                client_id: "c".into(),
                prefix: "p".into(),
            };
            for seed in 0..30 {
                let c = generate(Class::BeforeConnect, &ctx, &mut Rng::new(seed));
                let e = expect(&c);
                assert!(
                    matches!(&e, Expect::Close { first: true, statement, .. } if statement.contains("MQTT-3.1.0-1")),
                    "{e:?}"
                );
                // A DISCONNECT before any CONNACK is not allowed.
                let r = Reaction {
                    packets: vec![recv(v, &[0xE0, 0x02, 0x82, 0x00])],
                    end: End::Closed,
                };
                assert!(judge(v, &e, &r).is_some());
                let c = generate(Class::SecondConnect, &ctx, &mut Rng::new(seed));
                assert!(
                    matches!(expect(&c), Expect::Close { statement, .. } if statement == "MQTT-3.1.0-2")
                );
            }
        }
    }
}
