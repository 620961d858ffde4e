//! Conversations and their mutations.
//!
//! A conversation is a list of steps on one connection: the setup (a valid
//! CONNECT, optionally a SUBSCRIBE to the case's own topics so that a
//! PUBLISH the broker should not have processed comes back as evidence),
//! then the target: the mutated input whose handling is judged. Packets are
//! built field by field here (not through the codec's encoder, which
//! refuses invalid packets), so each mutation class knows exactly which
//! field it breaks. The codec's strict decoder, not the class, decides what
//! the specification requires of the broker (see [`crate::judge`]); the
//! unit tests check that every class breaks the statement it is meant to.

use mqttkit_codec::ProtocolVersion;

use crate::rng::Rng;

/// What the runner waits for after sending a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Nothing.
    None,
    /// A CONNACK accepting the connection.
    Connack,
    /// A PINGRESP to a PINGREQ the runner sends after the step (every
    /// packet before it has then been processed).
    Ping,
}

impl Wait {
    /// `none`, `connack` or `ping`.
    pub fn as_str(self) -> &'static str {
        match self {
            Wait::None => "none",
            Wait::Connack => "connack",
            Wait::Ping => "ping",
        }
    }

    /// Parses [`Wait::as_str`].
    pub fn parse(s: &str) -> Option<Wait> {
        match s {
            "none" => Some(Wait::None),
            "connack" => Some(Wait::Connack),
            "ping" => Some(Wait::Ping),
            _ => None,
        }
    }
}

/// The part a step plays; shrinking may drop only optional steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Needed for the target to mean what it means.
    Setup,
    /// Context that may be dropped.
    Optional,
    /// The judged input (always the last step).
    Target,
}

impl Role {
    /// `setup`, `optional` or `target`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Setup => "setup",
            Role::Optional => "optional",
            Role::Target => "target",
        }
    }

    /// Parses [`Role::as_str`].
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "setup" => Some(Role::Setup),
            "optional" => Some(Role::Optional),
            "target" => Some(Role::Target),
            _ => None,
        }
    }
}

/// One write to the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Bytes sent (one or more packets, or part of one).
    pub send: Vec<u8>,
    /// What to wait for afterwards.
    pub wait: Wait,
    /// Setup, optional or target.
    pub role: Role,
    /// What the step is, for people.
    pub note: String,
}

/// A conversation on one connection; the last step is the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// The protocol version of the connection.
    pub version: ProtocolVersion,
    /// The mutation class that made it.
    pub class: Class,
    /// The steps in order.
    pub steps: Vec<Step>,
}

impl Conversation {
    /// The target step's bytes.
    pub fn target(&self) -> &[u8] {
        self.steps.last().map(|s| s.send.as_slice()).unwrap_or(&[])
    }

    /// True when the target is the connection's first packet.
    pub fn target_is_first(&self) -> bool {
        self.steps.len() == 1
    }
}

macro_rules! classes {
    ($( $(#[$m:meta])* $name:ident = $text:expr, $kind:ident; )*) => {
        /// A kind of mutation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Class { $( $(#[$m])* $name, )* }

        impl Class {
            /// Every class.
            pub const ALL: &'static [Class] = &[ $( Class::$name ),* ];

            /// The class's name (used in scripts and `--class`).
            pub fn name(self) -> &'static str {
                match self { $( Class::$name => $text, )* }
            }

            /// Whether the strict decoder or the class decides what is
            /// expected.
            pub fn kind(self) -> ClassKind {
                match self { $( Class::$name => ClassKind::$kind, )* }
            }
        }
    };
}

/// How a class's target relates to the specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassKind {
    /// The target bytes break a rule the strict decoder checks.
    Field,
    /// Valid bytes in an order or state the specification forbids.
    Order,
    /// Valid input (floods, long topics): must be handled normally.
    Valid,
    /// Part of a packet: the broker may wait for the rest.
    Truncated,
}

classes! {
    /// Reserved fixed-header flags with the wrong value.
    ReservedFlags = "reserved-flags", Field;
    /// A reserved packet type, or a server-only packet sent by the client.
    PacketType = "packet-type", Field;
    /// PUBLISH with both QoS bits set.
    PublishQos3 = "publish-qos3", Field;
    /// QoS 0 PUBLISH with DUP set.
    PublishDupQos0 = "publish-dup-qos0", Field;
    /// Packet identifier 0.
    PacketIdZero = "packet-id-zero", Field;
    /// `+` or `#` in a PUBLISH topic name.
    TopicWildcard = "topic-wildcard", Field;
    /// An empty topic name or filter.
    TopicEmpty = "topic-empty", Field;
    /// A topic filter with a misplaced wildcard.
    FilterWildcard = "filter-wildcard", Field;
    /// Ill-formed UTF-8 (0xFF, overlong forms, surrogates, cut sequences).
    InvalidUtf8 = "invalid-utf8", Field;
    /// U+0000 in a string.
    Utf8Nul = "utf8-nul", Field;
    /// A string whose length prefix runs past the packet's end.
    OverlongString = "overlong-string", Field;
    /// A bad Remaining Length: five bytes, non-minimal, too short, too long.
    RemainingLength = "remaining-length", Field;
    /// SUBSCRIBE options: reserved bits, QoS 3, Retain Handling 3, No Local
    /// on a shared subscription.
    SubscribeOptions = "subscribe-options", Field;
    /// SUBSCRIBE or UNSUBSCRIBE without a topic filter.
    EmptyFilterList = "empty-filter-list", Field;
    /// CONNECT fields: reserved flag, will flags, user name and password
    /// flags, protocol name and level, client id rules.
    ConnectFields = "connect-fields", Field;
    /// 5.0: unknown property identifier.
    PropertyUnknown = "property-unknown", Field;
    /// 5.0: a property the packet does not allow.
    PropertyNotAllowed = "property-not-allowed", Field;
    /// 5.0: a property given twice.
    PropertyDuplicate = "property-duplicate", Field;
    /// 5.0: a property value the specification forbids.
    PropertyValue = "property-value", Field;
    /// 5.0: Property Length running past the packet.
    PropertyLength = "property-length", Field;
    /// 5.0: a reason code undefined for the packet or the client.
    ReasonCode = "reason-code", Field;
    /// A packet other than CONNECT first.
    BeforeConnect = "before-connect", Order;
    /// A second CONNECT on the connection.
    SecondConnect = "second-connect", Order;
    /// PUBREL for a packet identifier the broker does not know.
    PubrelUnknown = "pubrel-unknown", Order;
    /// PUBACK, PUBREC or PUBCOMP for an identifier never used.
    AckUnknown = "ack-unknown", Order;
    /// 5.0: AUTH although CONNECT named no Authentication Method.
    AuthWithoutMethod = "auth-without-method", Order;
    /// 5.0: a Topic Alias never set up (or beyond the broker's maximum).
    TopicAliasUnknown = "topic-alias-unknown", Order;
    /// Many valid packets at once (rate-bounded).
    Flood = "flood", Valid;
    /// A valid PUBLISH with a very long topic.
    LongTopic = "long-topic", Valid;
    /// The first part of a valid packet only.
    Truncated = "truncated", Truncated;
}

impl Class {
    /// The class named `name`.
    pub fn from_name(name: &str) -> Option<Class> {
        Class::ALL.iter().copied().find(|c| c.name() == name)
    }

    /// Whether the class applies to `version` (property and reason-code
    /// classes exist only in 5.0).
    pub fn applies_to(self, version: ProtocolVersion) -> bool {
        !matches!(
            self,
            Class::PropertyUnknown
                | Class::PropertyNotAllowed
                | Class::PropertyDuplicate
                | Class::PropertyValue
                | Class::PropertyLength
                | Class::ReasonCode
                | Class::AuthWithoutMethod
                | Class::TopicAliasUnknown
        ) || version.is_v5()
    }
}

// ---------------------------------------------------------------- wire

/// Appends a Variable Byte Integer (values above the maximum are clamped).
pub fn put_vbi(out: &mut Vec<u8>, v: u32) {
    mqttkit_codec::varint::write(out, v.min(mqttkit_codec::varint::MAX));
}

/// Appends a two-byte length and the bytes (cut at 65535).
pub fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len().min(u16::MAX as usize);
    out.extend((n as u16).to_be_bytes());
    out.extend(&s[..n]);
}

/// A packet: first byte, Remaining Length of `body`, body.
pub fn frame(byte0: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(byte0);
    put_vbi(&mut out, body.len() as u32);
    out.extend(body);
    out
}

/// A property block (5.0 only; nothing under 3.x).
fn put_props(out: &mut Vec<u8>, v: ProtocolVersion, props: &[u8]) {
    if v.is_v5() {
        put_vbi(out, props.len() as u32);
        out.extend(props);
    }
}

/// CONNECT fields as raw values, so each can be broken on its own.
#[derive(Debug, Clone)]
pub struct ConnectFields {
    /// Protocol name.
    pub name: Vec<u8>,
    /// Protocol level.
    pub level: u8,
    /// Flags; `None` computes them from the fields present.
    pub flags: Option<u8>,
    /// Clean Session / Clean Start.
    pub clean: bool,
    /// Keep alive in seconds.
    pub keep_alive: u16,
    /// 5.0 properties (encoded).
    pub props: Vec<u8>,
    /// Client identifier.
    pub client_id: Vec<u8>,
    /// Will QoS, topic and payload.
    pub will: Option<(u8, Vec<u8>, Vec<u8>)>,
    /// User Name.
    pub username: Option<Vec<u8>>,
    /// Password.
    pub password: Option<Vec<u8>>,
}

impl ConnectFields {
    /// A valid clean CONNECT for `version`.
    pub fn new(version: ProtocolVersion, client_id: &str) -> Self {
        ConnectFields {
            name: if version == ProtocolVersion::V3_1 {
                b"MQIsdp".to_vec()
            } else {
                b"MQTT".to_vec()
            },
            level: version.level(),
            flags: None,
            clean: true,
            keep_alive: 60,
            props: Vec::new(),
            client_id: client_id.as_bytes().to_vec(),
            will: None,
            username: None,
            password: None,
        }
    }

    /// The packet.
    pub fn encode(&self, v: ProtocolVersion) -> Vec<u8> {
        let mut flags = 0u8;
        if self.clean {
            flags |= 0x02;
        }
        if let Some((q, _, _)) = &self.will {
            flags |= 0x04 | ((q & 3) << 3);
        }
        if self.password.is_some() {
            flags |= 0x40;
        }
        if self.username.is_some() {
            flags |= 0x80;
        }
        let flags = self.flags.unwrap_or(flags);
        let mut b = Vec::new();
        put_str(&mut b, &self.name);
        b.push(self.level);
        b.push(flags);
        b.extend(self.keep_alive.to_be_bytes());
        put_props(&mut b, v, &self.props);
        put_str(&mut b, &self.client_id);
        if let Some((_, topic, payload)) = &self.will {
            put_props(&mut b, v, &[]);
            put_str(&mut b, topic);
            put_str(&mut b, payload);
        }
        if let Some(u) = &self.username {
            put_str(&mut b, u);
        }
        if let Some(p) = &self.password {
            put_str(&mut b, p);
        }
        frame(0x10, &b)
    }
}

/// A PUBLISH with raw fields; `flags` are the low nibble.
pub fn publish(
    v: ProtocolVersion,
    flags: u8,
    topic: &[u8],
    packet_id: Option<u16>,
    props: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let mut b = Vec::new();
    put_str(&mut b, topic);
    if let Some(id) = packet_id {
        b.extend(id.to_be_bytes());
    }
    put_props(&mut b, v, props);
    b.extend(payload);
    frame(0x30 | (flags & 0x0F), &b)
}

/// A SUBSCRIBE with raw filters and option bytes.
pub fn subscribe(
    v: ProtocolVersion,
    byte0: u8,
    packet_id: u16,
    props: &[u8],
    subs: &[(&[u8], u8)],
) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(packet_id.to_be_bytes());
    put_props(&mut b, v, props);
    for (f, o) in subs {
        put_str(&mut b, f);
        b.push(*o);
    }
    frame(byte0, &b)
}

/// An UNSUBSCRIBE with raw filters.
pub fn unsubscribe(v: ProtocolVersion, packet_id: u16, filters: &[&[u8]]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(packet_id.to_be_bytes());
    put_props(&mut b, v, &[]);
    for f in filters {
        put_str(&mut b, f);
    }
    frame(0xA2, &b)
}

/// PUBACK / PUBREC / PUBREL / PUBCOMP (by first byte); under 5.0 with a
/// reason code when `reason` is given.
pub fn ack(byte0: u8, packet_id: u16, reason: Option<(u8, &[u8])>) -> Vec<u8> {
    let mut b = packet_id.to_be_bytes().to_vec();
    if let Some((rc, props)) = reason {
        b.push(rc);
        put_vbi(&mut b, props.len() as u32);
        b.extend(props);
    }
    frame(byte0, &b)
}

/// PINGREQ.
pub const PINGREQ: [u8; 2] = [0xC0, 0x00];

/// A 5.0 DISCONNECT with a reason code (and properties), or the 3.x one.
pub fn disconnect(v: ProtocolVersion, reason: u8, props: &[u8]) -> Vec<u8> {
    if v.is_v5() {
        let mut b = vec![reason];
        put_vbi(&mut b, props.len() as u32);
        b.extend(props);
        frame(0xE0, &b)
    } else {
        vec![0xE0, 0x00]
    }
}

/// A property: identifier and encoded value.
fn prop(id: u8, value: &[u8]) -> Vec<u8> {
    let mut p = vec![id];
    p.extend(value);
    p
}

fn prop_str(id: u8, s: &[u8]) -> Vec<u8> {
    let mut p = vec![id];
    put_str(&mut p, s);
    p
}

// ---------------------------------------------------------- generation

/// Names that make a case's traffic its own.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Version of the connection.
    pub version: ProtocolVersion,
    /// Client identifier of the fuzzing connection.
    pub client_id: String,
    /// Topic prefix (without a trailing `/`) the case subscribes to.
    pub prefix: String,
}

fn step(send: Vec<u8>, wait: Wait, role: Role, note: impl Into<String>) -> Step {
    Step {
        send,
        wait,
        role,
        note: note.into(),
    }
}

const BAD_UTF8: &[&[u8]] = &[
    b"\xff",
    b"\xc0\x80",
    b"\xed\xa0\x80",
    b"\xe2\x82",
    b"\xf8\x88\x80\x80\x80",
    b"\x80",
];

/// A few bytes of text.
fn word(rng: &mut Rng) -> Vec<u8> {
    let n = rng.range(1, 8) as usize;
    (0..n).map(|_| b'a' + rng.below(26) as u8).collect()
}

fn topic(ctx: &Ctx, rng: &mut Rng) -> Vec<u8> {
    let mut t = ctx.prefix.as_bytes().to_vec();
    t.push(b'/');
    t.extend(word(rng));
    t
}

/// `ctx.prefix/` + `middle` + `/word`.
fn topic_with(ctx: &Ctx, rng: &mut Rng, middle: &[u8]) -> Vec<u8> {
    let mut t = ctx.prefix.as_bytes().to_vec();
    t.push(b'/');
    t.extend(middle);
    if rng.chance(50) {
        t.push(b'/');
        t.extend(word(rng));
    }
    t
}

fn payload(rng: &mut Rng) -> Vec<u8> {
    let n = rng.below(24) as usize;
    (0..n).map(|_| rng.below(256) as u8).collect()
}

fn pid(rng: &mut Rng) -> u16 {
    rng.range(1, u16::MAX as u64) as u16
}

/// A valid packet a client may send inside a session (no CONNECT).
fn valid_packet(ctx: &Ctx, rng: &mut Rng) -> (Vec<u8>, &'static str) {
    let v = ctx.version;
    match rng.below(5) {
        0 => {
            let q = rng.below(3) as u8;
            let id = (q > 0).then(|| pid(rng));
            (
                publish(v, q << 1, &topic(ctx, rng), id, &[], &payload(rng)),
                "PUBLISH",
            )
        }
        1 => {
            let f = topic(ctx, rng);
            (
                subscribe(v, 0x82, pid(rng), &[], &[(&f, rng.below(3) as u8)]),
                "SUBSCRIBE",
            )
        }
        2 => {
            let f = topic(ctx, rng);
            (unsubscribe(v, pid(rng), &[&f]), "UNSUBSCRIBE")
        }
        3 => (ack(0x62, pid(rng), None), "PUBREL"),
        _ => (PINGREQ.to_vec(), "PINGREQ"),
    }
}

/// The setup of a session: CONNECT, then (optionally) a SUBSCRIBE to the
/// case's own topics.
fn session(ctx: &Ctx, rng: &mut Rng) -> Vec<Step> {
    let v = ctx.version;
    let mut steps = vec![step(
        ConnectFields::new(v, &ctx.client_id).encode(v),
        Wait::Connack,
        Role::Setup,
        format!("CONNECT client id {}", ctx.client_id),
    )];
    if rng.chance(60) {
        let f = format!("{}/#", ctx.prefix);
        steps.push(step(
            subscribe(v, 0x82, 1, &[], &[(f.as_bytes(), 1)]),
            Wait::Ping,
            Role::Optional,
            format!("SUBSCRIBE {f} QoS 1"),
        ));
    }
    steps
}

/// Generates one conversation of class `class`.
pub fn generate(class: Class, ctx: &Ctx, rng: &mut Rng) -> Conversation {
    let v = ctx.version;
    let v5 = v.is_v5();
    let mut steps = Vec::new();
    let (target, note): (Vec<u8>, String) = match class {
        Class::ReservedFlags => {
            steps = session(ctx, rng);
            let id = pid(rng);
            let bit = 1u8 << rng.below(4);
            let (p, n) = match rng.below(6) {
                0 => (ack(0x62 ^ bit, id, None), "PUBREL"),
                1 => {
                    let f = topic(ctx, rng);
                    (subscribe(v, 0x82 ^ bit, id, &[], &[(&f, 0)]), "SUBSCRIBE")
                }
                2 => {
                    let f = topic(ctx, rng);
                    let mut u = unsubscribe(v, id, &[&f]);
                    u[0] ^= bit;
                    (u, "UNSUBSCRIBE")
                }
                3 => (vec![0xC0 | bit, 0x00], "PINGREQ"),
                4 => {
                    let mut d = disconnect(v, 0, &[]);
                    d[0] |= bit;
                    (d, "DISCONNECT")
                }
                _ => (ack(0x40 | bit, id, None), "PUBACK"),
            };
            (p, format!("{n} with first byte flags changed"))
        }
        Class::PacketType => {
            steps = session(ctx, rng);
            let choices: &[(u8, &str)] = if v5 {
                &[
                    (0x00, "type 0"),
                    (0x20, "CONNACK"),
                    (0x90, "SUBACK"),
                    (0xB0, "UNSUBACK"),
                    (0xD0, "PINGRESP"),
                ]
            } else {
                &[
                    (0x00, "type 0"),
                    (0xF0, "type 15"),
                    (0x20, "CONNACK"),
                    (0x90, "SUBACK"),
                    (0xB0, "UNSUBACK"),
                    (0xD0, "PINGRESP"),
                ]
            };
            let (b0, n) = *rng.pick(choices);
            let body: Vec<u8> = match b0 {
                0x20 if v5 => vec![0, 0, 0],
                0x20 => vec![0, 0],
                0x90 if v5 => vec![0, 1, 0, 0],
                0x90 => vec![0, 1, 0],
                0xB0 if v5 => vec![0, 1, 0, 0],
                0xB0 => vec![0, 1],
                _ => vec![],
            };
            (frame(b0, &body), format!("{n} sent by the client"))
        }
        Class::PublishQos3 => {
            steps = session(ctx, rng);
            let flags = 0x06 | (rng.below(2) as u8) | ((rng.below(2) as u8) << 3);
            (
                publish(
                    v,
                    flags,
                    &topic(ctx, rng),
                    Some(pid(rng)),
                    &[],
                    &payload(rng),
                ),
                "PUBLISH with QoS bits 11".into(),
            )
        }
        Class::PublishDupQos0 => {
            steps = session(ctx, rng);
            (
                publish(
                    v,
                    0x08 | rng.below(2) as u8,
                    &topic(ctx, rng),
                    None,
                    &[],
                    &payload(rng),
                ),
                "PUBLISH QoS 0 with DUP 1".into(),
            )
        }
        Class::PacketIdZero => {
            steps = session(ctx, rng);
            let f = topic(ctx, rng);
            match rng.below(3) {
                0 => {
                    let q = rng.range(1, 2) as u8;
                    (
                        publish(v, q << 1, &f, Some(0), &[], &payload(rng)),
                        format!("PUBLISH QoS {q} with packet identifier 0"),
                    )
                }
                1 => (
                    subscribe(v, 0x82, 0, &[], &[(&f, 0)]),
                    "SUBSCRIBE with packet identifier 0".into(),
                ),
                _ => (
                    unsubscribe(v, 0, &[&f]),
                    "UNSUBSCRIBE with packet identifier 0".into(),
                ),
            }
        }
        Class::TopicWildcard => {
            steps = session(ctx, rng);
            let w = *rng.pick::<&[u8]>(&[&b"+"[..], b"#", b"a+", b"#/x", b"+/+"]);
            let t = topic_with(ctx, rng, w);
            let q = rng.below(3) as u8;
            let id = (q > 0).then(|| pid(rng));
            (
                publish(v, q << 1, &t, id, &[], &payload(rng)),
                format!("PUBLISH to {:?}", String::from_utf8_lossy(&t)),
            )
        }
        Class::TopicEmpty => {
            steps = session(ctx, rng);
            match rng.below(3) {
                0 => (
                    publish(v, 0, b"", None, &[], &payload(rng)),
                    "PUBLISH with an empty topic and no alias".into(),
                ),
                1 => (
                    subscribe(v, 0x82, pid(rng), &[], &[(b"", 0)]),
                    "SUBSCRIBE to an empty filter".into(),
                ),
                _ => (
                    unsubscribe(v, pid(rng), &[b""]),
                    "UNSUBSCRIBE from an empty filter".into(),
                ),
            }
        }
        Class::FilterWildcard => {
            steps = session(ctx, rng);
            let w = *rng.pick::<&[u8]>(&[&b"#/x"[..], b"a#", b"a+", b"+a", b"x/#/y", b"##"]);
            let f = topic_with(ctx, rng, w);
            if rng.chance(70) {
                (
                    subscribe(v, 0x82, pid(rng), &[], &[(&f, rng.below(3) as u8)]),
                    format!("SUBSCRIBE to {:?}", String::from_utf8_lossy(&f)),
                )
            } else {
                (
                    unsubscribe(v, pid(rng), &[&f]),
                    format!("UNSUBSCRIBE from {:?}", String::from_utf8_lossy(&f)),
                )
            }
        }
        Class::InvalidUtf8 | Class::Utf8Nul => {
            let bad = if class == Class::Utf8Nul {
                &b"\x00"[..]
            } else {
                *rng.pick::<&[u8]>(BAD_UTF8)
            };
            let mut s = word(rng);
            let at = rng.below(s.len() as u64 + 1) as usize;
            s.splice(at..at, bad.iter().copied());
            let what = if class == Class::Utf8Nul {
                "U+0000"
            } else {
                "ill-formed UTF-8"
            };
            match rng.below(4) {
                0 => {
                    let mut c = ConnectFields::new(v, &ctx.client_id);
                    c.client_id = s;
                    (c.encode(v), format!("CONNECT with {what} in the client id"))
                }
                1 => {
                    let mut c = ConnectFields::new(v, &ctx.client_id);
                    c.username = Some(s);
                    (c.encode(v), format!("CONNECT with {what} in the user name"))
                }
                2 => {
                    steps = session(ctx, rng);
                    let t = topic_with(ctx, rng, &s);
                    (
                        publish(v, 0, &t, None, &[], &payload(rng)),
                        format!("PUBLISH with {what} in the topic"),
                    )
                }
                _ => {
                    steps = session(ctx, rng);
                    let f = topic_with(ctx, rng, &s);
                    (
                        subscribe(v, 0x82, pid(rng), &[], &[(&f, 0)]),
                        format!("SUBSCRIBE with {what} in the filter"),
                    )
                }
            }
        }
        Class::OverlongString => {
            steps = session(ctx, rng);
            let t = topic(ctx, rng);
            let extra = rng.range(1, 40_000) as u16;
            let (mut p, at, n) = match rng.below(3) {
                0 => (publish(v, 0, &t, None, &[], &[]), 2, "topic"),
                1 => (
                    subscribe(v, 0x82, pid(rng), &[], &[(&t, 0)]),
                    4 + usize::from(v5),
                    "filter",
                ),
                _ => (
                    unsubscribe(v, pid(rng), &[&t]),
                    4 + usize::from(v5),
                    "filter",
                ),
            };
            // p[0] type, p[1] the one-byte Remaining Length (short packets).
            let len = u16::from_be_bytes([p[at], p[at + 1]]).saturating_add(extra);
            p[at..at + 2].copy_from_slice(&len.to_be_bytes());
            if n == "filter" {
                // Drop the options byte so only the string runs over.
                p.pop();
                p[1] -= 1;
            }
            (p, format!("{n} length prefix {len} runs past the packet"))
        }
        Class::RemainingLength => {
            steps = session(ctx, rng);
            match rng.below(4) {
                0 => (
                    vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
                    "PUBLISH whose Remaining Length has five bytes".into(),
                ),
                1 => {
                    let (p, n) = valid_packet(ctx, rng);
                    let mut out = vec![p[0], 0x80 | p[1], 0x00];
                    out.extend(&p[2..]);
                    (out, format!("{n} with a non-minimal Remaining Length"))
                }
                2 => {
                    // Too short: the last field is cut.
                    let f = topic(ctx, rng);
                    let mut p = subscribe(v, 0x82, pid(rng), &[], &[(&f, 0)]);
                    let cut = rng.range(1, 3) as u8;
                    p[1] -= cut;
                    p.truncate(p.len() - cut as usize);
                    (
                        p,
                        "SUBSCRIBE whose Remaining Length ends inside a field".into(),
                    )
                }
                _ => {
                    // Too long: bytes after the last field.
                    let extra = rng.range(1, 4) as usize;
                    let (mut p, n) = if rng.chance(50) || v5 {
                        (PINGREQ.to_vec(), "PINGREQ")
                    } else {
                        (ack(0x40, pid(rng), None), "PUBACK")
                    };
                    p[1] += extra as u8;
                    p.extend(std::iter::repeat_n(0u8, extra));
                    (p, format!("{n} with {extra} byte(s) after its last field"))
                }
            }
        }
        Class::SubscribeOptions => {
            steps = session(ctx, rng);
            let f = topic(ctx, rng);
            let choice = rng.below(if v5 { 4 } else { 2 });
            let (opts, filter, n): (u8, Vec<u8>, &str) = match choice {
                0 => (0x03, f, "QoS 3"),
                1 => (
                    if v5 { 0xC0 } else { 0x04 << rng.below(4) },
                    f,
                    "reserved bits set",
                ),
                2 => (0x30, f, "Retain Handling 3"),
                _ => {
                    let mut s = b"$share/g/".to_vec();
                    s.extend(&f);
                    (0x04, s, "No Local on a shared subscription")
                }
            };
            (
                subscribe(v, 0x82, pid(rng), &[], &[(&filter, opts)]),
                format!("SUBSCRIBE options {opts:#04x}: {n}"),
            )
        }
        Class::EmptyFilterList => {
            steps = session(ctx, rng);
            if rng.chance(50) {
                (
                    subscribe(v, 0x82, pid(rng), &[], &[]),
                    "SUBSCRIBE with no filter".into(),
                )
            } else {
                (
                    unsubscribe(v, pid(rng), &[]),
                    "UNSUBSCRIBE with no filter".into(),
                )
            }
        }
        Class::ConnectFields => {
            let mut c = ConnectFields::new(v, &ctx.client_id);
            let base = 0x02u8;
            let n = match rng.below(if v5 { 7 } else { 8 }) {
                0 => {
                    c.flags = Some(base | 0x01);
                    "reserved flag bit 0 set"
                }
                1 => {
                    c.flags = Some(base | 0x08 << rng.below(2));
                    "Will QoS without the Will Flag"
                }
                2 => {
                    c.will = Some((3, topic(ctx, rng), b"w".to_vec()));
                    "Will QoS 3"
                }
                3 => {
                    c.flags = Some(base | 0x20);
                    "Will Retain without the Will Flag"
                }
                4 => {
                    c.name = rng.pick(&[&b"MQTX"[..], b"mqtt", b"MQIsdp", b""]).to_vec();
                    "wrong protocol name"
                }
                5 => {
                    c.flags = Some(base | 0x80);
                    "User Name Flag set but no User Name"
                }
                6 => {
                    c.level = *rng.pick(&[0u8, 1, 2, 6, 7, 0x84, 0xFF]);
                    "unsupported protocol level"
                }
                _ => {
                    c.password = Some(b"pw".to_vec());
                    "Password without User Name"
                }
            };
            (c.encode(v), format!("CONNECT: {n}"))
        }
        Class::PropertyUnknown => {
            steps = session(ctx, rng);
            let id = *rng.pick(&[0x00u8, 0x04, 0x05, 0x07, 0x10, 0x2B, 0x7F]);
            let props = prop(id, &[0]);
            (
                publish(v, 0, &topic(ctx, rng), None, &props, &payload(rng)),
                format!("PUBLISH with unknown property {id:#04x}"),
            )
        }
        Class::PropertyNotAllowed => {
            steps = session(ctx, rng);
            match rng.below(3) {
                0 => (
                    publish(
                        v,
                        0,
                        &topic(ctx, rng),
                        None,
                        &prop(0x11, &[0, 0, 0, 5]),
                        &[],
                    ),
                    "PUBLISH with Session Expiry Interval".into(),
                ),
                1 => {
                    let f = topic(ctx, rng);
                    (
                        subscribe(v, 0x82, pid(rng), &prop(0x01, &[1]), &[(&f, 0)]),
                        "SUBSCRIBE with Payload Format Indicator".into(),
                    )
                }
                _ => (
                    disconnect(v, 0, &prop(0x21, &[0, 10])),
                    "DISCONNECT with Receive Maximum".into(),
                ),
            }
        }
        Class::PropertyDuplicate => {
            steps = session(ctx, rng);
            let (p, n) = match rng.below(3) {
                0 => (prop(0x01, &[0]), "Payload Format Indicator"),
                1 => (prop(0x02, &[0, 0, 0, 60]), "Message Expiry Interval"),
                _ => (prop_str(0x03, b"text/plain"), "Content Type"),
            };
            let mut props = p.clone();
            props.extend(&p);
            (
                publish(v, 0, &topic(ctx, rng), None, &props, b"x"),
                format!("PUBLISH with {n} twice"),
            )
        }
        Class::PropertyValue => {
            steps = session(ctx, rng);
            let t = topic(ctx, rng);
            match rng.below(5) {
                0 => (
                    publish(v, 0, &t, None, &prop(0x23, &[0, 0]), b"x"),
                    "PUBLISH with Topic Alias 0".into(),
                ),
                1 => (
                    publish(v, 0, &t, None, &prop(0x0B, &[1]), b"x"),
                    "PUBLISH from the client with a Subscription Identifier".into(),
                ),
                2 => (
                    publish(
                        v,
                        0,
                        &t,
                        None,
                        &prop(0x01, &[2 + rng.below(250) as u8]),
                        b"x",
                    ),
                    "PUBLISH with Payload Format Indicator above 1".into(),
                ),
                3 => {
                    let mut rt = t.clone();
                    rt.extend(b"/#");
                    (
                        publish(v, 0, &t, None, &prop_str(0x08, &rt), b"x"),
                        "PUBLISH with a wildcard in the Response Topic".into(),
                    )
                }
                _ => (
                    subscribe(v, 0x82, pid(rng), &prop(0x0B, &[0]), &[(&t, 0)]),
                    "SUBSCRIBE with Subscription Identifier 0".into(),
                ),
            }
        }
        Class::PropertyLength => {
            steps = session(ctx, rng);
            let t = topic(ctx, rng);
            let mut b = Vec::new();
            put_str(&mut b, &t);
            let over = rng.range(1, 1000) as u32;
            put_vbi(&mut b, 2 + over);
            b.extend(prop(0x01, &[0]));
            (
                frame(0x30, &b),
                "PUBLISH whose Property Length runs past the packet".into(),
            )
        }
        Class::ReasonCode => {
            steps = session(ctx, rng);
            match rng.below(3) {
                0 => {
                    let rc = *rng.pick(&[0x01u8, 0x03, 0x05, 0x7F, 0xFF, 0x84]);
                    (
                        disconnect(v, rc, &[]),
                        format!("DISCONNECT with undefined reason code {rc:#04x}"),
                    )
                }
                1 => {
                    let rc = *rng.pick(&[0x87u8, 0x89, 0x8B, 0x8E, 0x9C, 0x9D, 0xA1]);
                    (
                        disconnect(v, rc, &[]),
                        format!("DISCONNECT with server-only reason code {rc:#04x}"),
                    )
                }
                _ => {
                    let rc = *rng.pick(&[0x01u8, 0x02, 0x7F, 0x81, 0xFF]);
                    (
                        ack(0x40, pid(rng), Some((rc, &[]))),
                        format!("PUBACK with undefined reason code {rc:#04x}"),
                    )
                }
            }
        }
        Class::BeforeConnect => {
            let (p, n) = valid_packet(ctx, rng);
            (p, format!("{n} as the first packet"))
        }
        Class::SecondConnect => {
            steps = session(ctx, rng);
            let mut c = ConnectFields::new(v, &ctx.client_id);
            if rng.chance(50) {
                c.client_id = format!("{}-second", ctx.client_id).into_bytes();
            }
            (c.encode(v), "a second CONNECT".into())
        }
        Class::PubrelUnknown => {
            steps = session(ctx, rng);
            (
                ack(0x62, pid(rng), None),
                "PUBREL for an unknown packet identifier".into(),
            )
        }
        Class::AckUnknown => {
            steps = session(ctx, rng);
            let (b0, n) = *rng.pick(&[(0x40u8, "PUBACK"), (0x50, "PUBREC"), (0x70, "PUBCOMP")]);
            (
                ack(b0, pid(rng), None),
                format!("{n} for a packet identifier never used"),
            )
        }
        Class::AuthWithoutMethod => {
            steps = session(ctx, rng);
            let mut b = vec![*rng.pick(&[0x18u8, 0x19])];
            let props = prop_str(0x15, b"SCRAM-SHA-1");
            put_vbi(&mut b, props.len() as u32);
            b.extend(props);
            (
                frame(0xF0, &b),
                "AUTH although CONNECT had no Authentication Method".into(),
            )
        }
        Class::TopicAliasUnknown => {
            steps = session(ctx, rng);
            let alias = *rng.pick(&[1u16, 7, 0xFFFF]);
            (
                publish(v, 0, b"", None, &prop(0x23, &alias.to_be_bytes()), b"x"),
                format!("PUBLISH with an empty topic and Topic Alias {alias} never set"),
            )
        }
        Class::Flood => {
            steps = session(ctx, rng);
            let n = rng.range(10, 200) as usize;
            let mut bytes = Vec::new();
            let kind = rng.below(3);
            let qos1_cap = 10;
            let n = if kind == 1 { n.min(qos1_cap) } else { n };
            let t = topic(ctx, rng);
            for i in 0..n {
                match kind {
                    0 => bytes.extend(PINGREQ),
                    1 => bytes.extend(publish(v, 0x02, &t, Some(i as u16 + 1), &[], b"f")),
                    _ => bytes.extend(publish(v, 0, &t, None, &[], b"f")),
                }
            }
            let what = ["PINGREQ", "PUBLISH QoS 1", "PUBLISH QoS 0"][kind as usize];
            (bytes, format!("{n} x {what}"))
        }
        Class::LongTopic => {
            steps = session(ctx, rng);
            let mut t = ctx.prefix.as_bytes().to_vec();
            t.push(b'/');
            let n = rng.range(1000, 65_000) as usize;
            while t.len() < n {
                t.extend(if rng.chance(10) { &b"/"[..] } else { b"x" });
            }
            (
                publish(v, 0, &t, None, &[], b"long"),
                format!("PUBLISH QoS 0 with a {}-byte topic", t.len()),
            )
        }
        Class::Truncated => {
            let first = rng.chance(30);
            let p = if first {
                ConnectFields::new(v, &ctx.client_id).encode(v)
            } else {
                steps = session(ctx, rng);
                valid_packet(ctx, rng).0
            };
            let cut = rng.range(1, p.len() as u64 - 1) as usize;
            (
                p[..cut].to_vec(),
                format!("the first {cut} of {} bytes of a packet", p.len()),
            )
        }
    };
    steps.push(step(target, Wait::None, Role::Target, note));
    Conversation {
        version: v,
        class,
        steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqttkit_codec::{DecodeError, Decoder, Role as Sender};

    fn ctx(v: ProtocolVersion) -> Ctx {
        Ctx {
            version: v,
            client_id: "lf-test".into(),
            prefix: "lf/test".into(),
        }
    }

    /// The statements a class may break, by version.
    fn intended(class: Class, v5: bool) -> &'static [&'static str] {
        match (class, v5) {
            (Class::ReservedFlags, _) => &[
                "MQTT-2.2.2-1",
                "MQTT-2.1.3-1",
                "MQTT-3.6.1-1",
                "MQTT-3.8.1-1",
                "MQTT-3.10.1-1",
                "MQTT-3.14.1-1",
            ],
            (Class::PacketType, false) => &["§2.2.1/packet-type", "§2.2.1/direction"],
            (Class::PacketType, true) => &["§2.1.2/packet-type", "§2.1.2/direction"],
            (Class::PublishQos3, _) => &["MQTT-3.3.1-4"],
            (Class::PublishDupQos0, _) => &["MQTT-3.3.1-2"],
            (Class::PacketIdZero, false) => &["MQTT-2.3.1-1"],
            (Class::PacketIdZero, true) => &["§2.2.1/packet-identifier-zero"],
            (Class::TopicWildcard, _) => &["MQTT-3.3.2-2"],
            (Class::TopicEmpty, false) => &["MQTT-4.7.3-1"],
            (Class::TopicEmpty, true) => &["MQTT-4.7.3-1", "§3.3.2.3.4/empty-topic-without-alias"],
            (Class::FilterWildcard, false) => &["MQTT-4.7.1-2", "MQTT-4.7.1-3"],
            (Class::FilterWildcard, true) => &["MQTT-4.7.1-1", "MQTT-4.7.1-2"],
            (Class::InvalidUtf8, false) => &["MQTT-1.5.3-1"],
            (Class::InvalidUtf8, true) => &["MQTT-1.5.4-1"],
            (Class::Utf8Nul, false) => &["MQTT-1.5.3-2", "MQTT-4.7.3-2"],
            (Class::Utf8Nul, true) => &["MQTT-1.5.4-2", "MQTT-4.7.3-2"],
            (Class::OverlongString, false) => &["§2.2.3/truncated"],
            (Class::OverlongString, true) => &["§2.1.4/truncated"],
            (Class::RemainingLength, false) => &[
                "§2.2.3/remaining-length",
                "§2.2.3/non-minimal",
                "§2.2.3/truncated",
                "§2.2.3/trailing-bytes",
            ],
            (Class::RemainingLength, true) => &[
                "§2.1.4/remaining-length",
                "MQTT-1.5.5-1",
                "§2.1.4/truncated",
                "§2.1.4/trailing-bytes",
            ],
            (Class::SubscribeOptions, false) => &["MQTT-3.8.3-4"],
            (Class::SubscribeOptions, true) => &[
                "MQTT-3.8.3-5",
                "§3.8.3.1/qos",
                "§3.8.3.1/retain-handling",
                "MQTT-3.8.3-4",
            ],
            (Class::EmptyFilterList, false) => &["MQTT-3.8.3-3", "MQTT-3.10.3-2"],
            (Class::EmptyFilterList, true) => &["MQTT-3.8.3-2", "MQTT-3.10.3-2"],
            (Class::ConnectFields, false) => &[
                "MQTT-3.1.2-3",
                "MQTT-3.1.2-13",
                "MQTT-3.1.2-14",
                "MQTT-3.1.2-15",
                "MQTT-3.1.2-1",
                "MQTT-3.1.2-19",
                "MQTT-3.1.2-2",
                "MQTT-3.1.2-22",
            ],
            (Class::ConnectFields, true) => &[
                "MQTT-3.1.2-3",
                "MQTT-3.1.2-11",
                "MQTT-3.1.2-12",
                "MQTT-3.1.2-13",
                "MQTT-3.1.2-1",
                "MQTT-3.1.2-17",
                "MQTT-3.1.2-2",
            ],
            (Class::PropertyUnknown, _) => &["§2.2.2.2/unknown-property"],
            (Class::PropertyNotAllowed, _) => &["§2.2.2.2/property-not-allowed"],
            (Class::PropertyDuplicate, _) => &["§2.2.2.2/duplicate-property"],
            (Class::PropertyValue, _) => &[
                "MQTT-3.3.2-8",
                "MQTT-3.3.4-6",
                "§3.3.2.3.2/payload-format-indicator",
                "MQTT-3.3.2-14",
                "§3.8.2.1.2/subscription-identifier-zero",
            ],
            (Class::PropertyLength, _) => &["§2.2.2.1/property-length"],
            (Class::ReasonCode, _) => &[
                "MQTT-3.14.2-1",
                "§3.14.2.1/reason-direction",
                "MQTT-3.4.2-1",
            ],
            _ => &[],
        }
    }

    fn decode_all(v: ProtocolVersion, mut bytes: &[u8]) -> Result<usize, DecodeError> {
        let d = Decoder::new(v).sent_by(Sender::Client);
        let mut n = 0;
        while !bytes.is_empty() {
            let (_, used) = d.decode(bytes)?;
            bytes = &bytes[used..];
            n += 1;
        }
        Ok(n)
    }

    #[test]
    fn every_class_breaks_what_it_means_to() {
        for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            for &class in Class::ALL {
                if !class.applies_to(v) {
                    continue;
                }
                let mut seen = std::collections::BTreeSet::new();
                for seed in 0..200 {
                    let mut rng = Rng::for_case(seed, 1);
                    let conv = generate(class, &ctx(v), &mut rng);
                    assert_eq!(conv.steps.last().unwrap().role, Role::Target);
                    // The setup is valid.
                    for s in &conv.steps[..conv.steps.len() - 1] {
                        decode_all(v, &s.send).unwrap_or_else(|e| {
                            panic!("{v} {}: setup {} invalid: {e}", class.name(), s.note)
                        });
                    }
                    let r = decode_all(v, conv.target());
                    let note = &conv.steps.last().unwrap().note;
                    match class.kind() {
                        ClassKind::Field => {
                            let e = r.expect_err(&format!("{v} {}: {note} decodes", class.name()));
                            let st = e.statement().unwrap_or_else(|| {
                                panic!("{v} {}: {note}: incomplete", class.name())
                            });
                            assert!(
                                intended(class, v.is_v5()).contains(&st),
                                "{v} {}: {note}: broke {st} instead",
                                class.name()
                            );
                            seen.insert(st);
                        }
                        ClassKind::Order | ClassKind::Valid => {
                            let n =
                                r.unwrap_or_else(|e| panic!("{v} {}: {note}: {e}", class.name()));
                            assert!(n >= 1);
                            // The order classes carry their own statement.
                            let e = crate::judge::expect(&conv);
                            let want: &[&str] = match class {
                                Class::BeforeConnect => &["MQTT-3.1.0-1"],
                                Class::SecondConnect => &["MQTT-3.1.0-2"],
                                Class::PubrelUnknown if v.is_v5() => &["MQTT-4.3.3-11"],
                                Class::PubrelUnknown => &["MQTT-4.3.3-2"],
                                Class::AuthWithoutMethod | Class::TopicAliasUnknown => {
                                    &["MQTT-4.13.1-1"]
                                }
                                _ => &[],
                            };
                            let got = e.statements();
                            for w in want {
                                assert!(got.iter().any(|g| g == w), "{v} {}: {e:?}", class.name());
                            }
                            if class == Class::AckUnknown {
                                assert!(matches!(e, crate::judge::Expect::Any { .. }));
                            }
                            if class == Class::BeforeConnect {
                                assert!(conv.target_is_first());
                            } else {
                                assert!(!conv.target_is_first());
                                assert_eq!(conv.steps[0].wait, Wait::Connack);
                            }
                        }
                        ClassKind::Truncated => {
                            assert!(
                                matches!(r, Err(DecodeError::Incomplete { .. })),
                                "{v}: {note}: {r:?}"
                            );
                        }
                    }
                }
                if class.kind() == ClassKind::Field {
                    // Over 200 seeds a class reaches most of its statements.
                    let want = intended(class, v.is_v5());
                    assert!(
                        seen.len() * 2 >= want.len().min(4),
                        "{v} {}: only {seen:?} of {want:?}",
                        class.name()
                    );
                }
            }
        }
    }

    #[test]
    fn second_connect_and_floods_are_built_as_described() {
        let v = ProtocolVersion::V5;
        let mut rng = Rng::new(3);
        let c = generate(Class::SecondConnect, &ctx(v), &mut rng);
        assert_eq!(c.steps[0].send[0], 0x10);
        assert_eq!(c.target()[0], 0x10);
        for seed in 0..20 {
            let mut rng = Rng::new(seed);
            let f = generate(Class::Flood, &ctx(v), &mut rng);
            let n = decode_all(v, f.target()).unwrap();
            assert!((10..=200).contains(&n), "{n}");
        }
    }

    #[test]
    fn names_round_trip() {
        for &c in Class::ALL {
            assert_eq!(Class::from_name(c.name()), Some(c));
        }
        assert_eq!(Class::from_name("nope"), None);
        for w in [Wait::None, Wait::Connack, Wait::Ping] {
            assert_eq!(Wait::parse(w.as_str()), Some(w));
        }
        for r in [Role::Setup, Role::Optional, Role::Target] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
