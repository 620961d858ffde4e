//! MQTT 5.0 properties (§2.2.2): every property with its data type, the
//! packets each may appear in, and one typed set per packet.

use bytes::BufMut;

use crate::error::{rules, Rule};
use crate::list::{put_bin, wire_str, Item, List};
use crate::parse::{self, fail, Cx, PResult, Sink};
use crate::topic;
use crate::types::{ProtocolVersion, QoS};
use crate::varint;

/// Property identifiers (5.0 §2.2.2.2).
#[allow(missing_docs)]
pub mod id {
    pub const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
    pub const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
    pub const CONTENT_TYPE: u8 = 0x03;
    pub const RESPONSE_TOPIC: u8 = 0x08;
    pub const CORRELATION_DATA: u8 = 0x09;
    pub const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
    pub const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
    pub const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    pub const AUTHENTICATION_METHOD: u8 = 0x15;
    pub const AUTHENTICATION_DATA: u8 = 0x16;
    pub const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
    pub const WILL_DELAY_INTERVAL: u8 = 0x18;
    pub const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
    pub const RESPONSE_INFORMATION: u8 = 0x1A;
    pub const SERVER_REFERENCE: u8 = 0x1C;
    pub const REASON_STRING: u8 = 0x1F;
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub const TOPIC_ALIAS: u8 = 0x23;
    pub const MAXIMUM_QOS: u8 = 0x24;
    pub const RETAIN_AVAILABLE: u8 = 0x25;
    pub const USER_PROPERTY: u8 = 0x26;
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    pub const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
    pub const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
    pub const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;
}

/// The data type of a property's value (5.0 §1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// One byte.
    Byte,
    /// Two Byte Integer.
    TwoByteInteger,
    /// Four Byte Integer.
    FourByteInteger,
    /// Variable Byte Integer.
    VariableByteInteger,
    /// UTF-8 Encoded String.
    Utf8String,
    /// Binary Data.
    BinaryData,
    /// UTF-8 String Pair.
    Utf8StringPair,
}

/// Bit per packet in [`PropertyInfo::allowed`].
#[allow(missing_docs)]
pub mod allow {
    pub const CONNECT: u16 = 1 << 0;
    pub const CONNACK: u16 = 1 << 1;
    pub const PUBLISH: u16 = 1 << 2;
    pub const WILL: u16 = 1 << 3;
    pub const PUBACK: u16 = 1 << 4;
    pub const PUBREC: u16 = 1 << 5;
    pub const PUBREL: u16 = 1 << 6;
    pub const PUBCOMP: u16 = 1 << 7;
    pub const SUBSCRIBE: u16 = 1 << 8;
    pub const SUBACK: u16 = 1 << 9;
    pub const UNSUBSCRIBE: u16 = 1 << 10;
    pub const UNSUBACK: u16 = 1 << 11;
    pub const DISCONNECT: u16 = 1 << 12;
    pub const AUTH: u16 = 1 << 13;
    pub const ALL: u16 = (1 << 14) - 1;
}

/// What the specification says about one property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PropertyInfo {
    /// Identifier byte.
    pub id: u8,
    /// Name as the specification writes it.
    pub name: &'static str,
    /// Value type.
    pub data_type: DataType,
    /// Packets (and the will) it may appear in: bits of [`allow`].
    pub allowed: u16,
}

/// Every property, in identifier order.
pub static PROPERTIES: &[PropertyInfo] = {
    use allow::*;
    use DataType::*;
    const fn p(id: u8, name: &'static str, data_type: DataType, allowed: u16) -> PropertyInfo {
        PropertyInfo {
            id,
            name,
            data_type,
            allowed,
        }
    }
    &[
        p(0x01, "Payload Format Indicator", Byte, PUBLISH | WILL),
        p(
            0x02,
            "Message Expiry Interval",
            FourByteInteger,
            PUBLISH | WILL,
        ),
        p(0x03, "Content Type", Utf8String, PUBLISH | WILL),
        p(0x08, "Response Topic", Utf8String, PUBLISH | WILL),
        p(0x09, "Correlation Data", BinaryData, PUBLISH | WILL),
        p(
            0x0B,
            "Subscription Identifier",
            VariableByteInteger,
            PUBLISH | SUBSCRIBE,
        ),
        p(
            0x11,
            "Session Expiry Interval",
            FourByteInteger,
            CONNECT | CONNACK | DISCONNECT,
        ),
        p(0x12, "Assigned Client Identifier", Utf8String, CONNACK),
        p(0x13, "Server Keep Alive", TwoByteInteger, CONNACK),
        p(
            0x15,
            "Authentication Method",
            Utf8String,
            CONNECT | CONNACK | AUTH,
        ),
        p(
            0x16,
            "Authentication Data",
            BinaryData,
            CONNECT | CONNACK | AUTH,
        ),
        p(0x17, "Request Problem Information", Byte, CONNECT),
        p(0x18, "Will Delay Interval", FourByteInteger, WILL),
        p(0x19, "Request Response Information", Byte, CONNECT),
        p(0x1A, "Response Information", Utf8String, CONNACK),
        p(0x1C, "Server Reference", Utf8String, CONNACK | DISCONNECT),
        p(
            0x1F,
            "Reason String",
            Utf8String,
            CONNACK | PUBACK | PUBREC | PUBREL | PUBCOMP | SUBACK | UNSUBACK | DISCONNECT | AUTH,
        ),
        p(0x21, "Receive Maximum", TwoByteInteger, CONNECT | CONNACK),
        p(
            0x22,
            "Topic Alias Maximum",
            TwoByteInteger,
            CONNECT | CONNACK,
        ),
        p(0x23, "Topic Alias", TwoByteInteger, PUBLISH),
        p(0x24, "Maximum QoS", Byte, CONNACK),
        p(0x25, "Retain Available", Byte, CONNACK),
        p(0x26, "User Property", Utf8StringPair, ALL),
        p(
            0x27,
            "Maximum Packet Size",
            FourByteInteger,
            CONNECT | CONNACK,
        ),
        p(0x28, "Wildcard Subscription Available", Byte, CONNACK),
        p(0x29, "Subscription Identifier Available", Byte, CONNACK),
        p(0x2A, "Shared Subscription Available", Byte, CONNACK),
    ]
};

/// What the specification says about property `id`, if it is defined.
pub fn info(id: u32) -> Option<&'static PropertyInfo> {
    const fn build() -> [u8; 64] {
        let mut t = [0xFFu8; 64];
        let mut i = 0;
        while i < PROPERTIES.len() {
            t[PROPERTIES[i].id as usize] = i as u8;
            i += 1;
        }
        t
    }
    static INDEX: [u8; 64] = build();
    let slot = *INDEX.get(id as usize)?;
    PROPERTIES.get(slot as usize)
}

/// One property with its value.
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(missing_docs)]
pub enum Property<'a> {
    PayloadFormatIndicator(u8),
    MessageExpiryInterval(u32),
    ContentType(&'a str),
    ResponseTopic(&'a str),
    CorrelationData(&'a [u8]),
    SubscriptionIdentifier(u32),
    SessionExpiryInterval(u32),
    AssignedClientIdentifier(&'a str),
    ServerKeepAlive(u16),
    AuthenticationMethod(&'a str),
    AuthenticationData(&'a [u8]),
    RequestProblemInformation(bool),
    WillDelayInterval(u32),
    RequestResponseInformation(bool),
    ResponseInformation(&'a str),
    ServerReference(&'a str),
    ReasonString(&'a str),
    ReceiveMaximum(u16),
    TopicAliasMaximum(u16),
    TopicAlias(u16),
    MaximumQoS(QoS),
    RetainAvailable(bool),
    UserProperty(&'a str, &'a str),
    MaximumPacketSize(u32),
    WildcardSubscriptionAvailable(bool),
    SubscriptionIdentifierAvailable(bool),
    SharedSubscriptionAvailable(bool),
}

impl<'a> Property<'a> {
    /// The identifier byte.
    pub fn id(&self) -> u8 {
        use Property::*;
        match self {
            PayloadFormatIndicator(_) => id::PAYLOAD_FORMAT_INDICATOR,
            MessageExpiryInterval(_) => id::MESSAGE_EXPIRY_INTERVAL,
            ContentType(_) => id::CONTENT_TYPE,
            ResponseTopic(_) => id::RESPONSE_TOPIC,
            CorrelationData(_) => id::CORRELATION_DATA,
            SubscriptionIdentifier(_) => id::SUBSCRIPTION_IDENTIFIER,
            SessionExpiryInterval(_) => id::SESSION_EXPIRY_INTERVAL,
            AssignedClientIdentifier(_) => id::ASSIGNED_CLIENT_IDENTIFIER,
            ServerKeepAlive(_) => id::SERVER_KEEP_ALIVE,
            AuthenticationMethod(_) => id::AUTHENTICATION_METHOD,
            AuthenticationData(_) => id::AUTHENTICATION_DATA,
            RequestProblemInformation(_) => id::REQUEST_PROBLEM_INFORMATION,
            WillDelayInterval(_) => id::WILL_DELAY_INTERVAL,
            RequestResponseInformation(_) => id::REQUEST_RESPONSE_INFORMATION,
            ResponseInformation(_) => id::RESPONSE_INFORMATION,
            ServerReference(_) => id::SERVER_REFERENCE,
            ReasonString(_) => id::REASON_STRING,
            ReceiveMaximum(_) => id::RECEIVE_MAXIMUM,
            TopicAliasMaximum(_) => id::TOPIC_ALIAS_MAXIMUM,
            TopicAlias(_) => id::TOPIC_ALIAS,
            MaximumQoS(_) => id::MAXIMUM_QOS,
            RetainAvailable(_) => id::RETAIN_AVAILABLE,
            UserProperty(..) => id::USER_PROPERTY,
            MaximumPacketSize(_) => id::MAXIMUM_PACKET_SIZE,
            WildcardSubscriptionAvailable(_) => id::WILDCARD_SUBSCRIPTION_AVAILABLE,
            SubscriptionIdentifierAvailable(_) => id::SUBSCRIPTION_IDENTIFIER_AVAILABLE,
            SharedSubscriptionAvailable(_) => id::SHARED_SUBSCRIPTION_AVAILABLE,
        }
    }

    /// Bytes on the wire, identifier included.
    pub fn encoded_len(&self) -> usize {
        use Property::*;
        1 + match self {
            PayloadFormatIndicator(_)
            | RequestProblemInformation(_)
            | RequestResponseInformation(_)
            | MaximumQoS(_)
            | RetainAvailable(_)
            | WildcardSubscriptionAvailable(_)
            | SubscriptionIdentifierAvailable(_)
            | SharedSubscriptionAvailable(_) => 1,
            ServerKeepAlive(_) | ReceiveMaximum(_) | TopicAliasMaximum(_) | TopicAlias(_) => 2,
            MessageExpiryInterval(_)
            | SessionExpiryInterval(_)
            | WillDelayInterval(_)
            | MaximumPacketSize(_) => 4,
            SubscriptionIdentifier(v) => varint::len(*v),
            ContentType(s)
            | ResponseTopic(s)
            | AssignedClientIdentifier(s)
            | AuthenticationMethod(s)
            | ResponseInformation(s)
            | ServerReference(s)
            | ReasonString(s) => 2 + s.len(),
            CorrelationData(b) | AuthenticationData(b) => 2 + b.len(),
            UserProperty(k, v) => 4 + k.len() + v.len(),
        }
    }

    /// Writes the property (identifier and value).
    pub fn write<B: BufMut>(&self, buf: &mut B) {
        use Property::*;
        buf.put_u8(self.id());
        match *self {
            PayloadFormatIndicator(v) => buf.put_u8(v),
            RequestProblemInformation(b)
            | RequestResponseInformation(b)
            | RetainAvailable(b)
            | WildcardSubscriptionAvailable(b)
            | SubscriptionIdentifierAvailable(b)
            | SharedSubscriptionAvailable(b) => buf.put_u8(b as u8),
            MaximumQoS(q) => buf.put_u8(q as u8),
            ServerKeepAlive(v) | ReceiveMaximum(v) | TopicAliasMaximum(v) | TopicAlias(v) => {
                buf.put_u16(v)
            }
            MessageExpiryInterval(v)
            | SessionExpiryInterval(v)
            | WillDelayInterval(v)
            | MaximumPacketSize(v) => buf.put_u32(v),
            SubscriptionIdentifier(v) => varint::write(buf, v),
            ContentType(s)
            | ResponseTopic(s)
            | AssignedClientIdentifier(s)
            | AuthenticationMethod(s)
            | ResponseInformation(s)
            | ServerReference(s)
            | ReasonString(s) => put_bin(buf, s.as_bytes()),
            CorrelationData(b) | AuthenticationData(b) => put_bin(buf, b),
            UserProperty(k, v) => {
                put_bin(buf, k.as_bytes());
                put_bin(buf, v.as_bytes());
            }
        }
    }

    /// The rule a value breaks whatever packet carries it (ranges, string
    /// rules), checked by the encoder; the decoder checks the same while
    /// parsing.
    pub(crate) fn value_rule(&self) -> Option<&'static Rule> {
        use Property::*;
        match *self {
            PayloadFormatIndicator(v) if v > 1 => Some(&rules::PAYLOAD_FORMAT_INDICATOR),
            SubscriptionIdentifier(0) => Some(&rules::SUBSCRIPTION_ID_ZERO),
            SubscriptionIdentifier(v) if v > varint::MAX => Some(&rules::VBI_TOO_LONG),
            ReceiveMaximum(0) => Some(&rules::RECEIVE_MAXIMUM_ZERO),
            TopicAlias(0) => Some(&rules::TOPIC_ALIAS_ZERO),
            MaximumPacketSize(0) => Some(&rules::MAXIMUM_PACKET_SIZE_ZERO),
            MaximumQoS(QoS::ExactlyOnce) => Some(&rules::MAXIMUM_QOS),
            ResponseTopic(s) => {
                if s.is_empty() {
                    Some(&rules::TOPIC_EMPTY)
                } else {
                    topic::check_name(s, &rules::RESPONSE_TOPIC_WILDCARD).rule()
                }
            }
            ContentType(s)
            | AssignedClientIdentifier(s)
            | AuthenticationMethod(s)
            | ResponseInformation(s)
            | ServerReference(s)
            | ReasonString(s) => str_rule(s),
            CorrelationData(b) | AuthenticationData(b) if b.len() > 0xFFFF => {
                Some(&rules::FIELD_TOO_LONG)
            }
            UserProperty(k, v) => str_rule(k).or(str_rule(v)),
            _ => None,
        }
    }
}

/// The rule a string field breaks when encoded (too long, U+0000).
pub(crate) fn str_rule(s: &str) -> Option<&'static Rule> {
    if s.len() > 0xFFFF {
        Some(&rules::FIELD_TOO_LONG)
    } else if s.as_bytes().contains(&0) {
        Some(&rules::UTF8_NUL)
    } else {
        None
    }
}

/// Parses one property at `input`.
fn parse_one<'a, S: Sink>(input: &'a [u8], cx: &mut Cx<S>) -> PResult<'a, Property<'a>> {
    use Property::*;
    let (i, pid) = parse::vbi(input, cx)?;
    let Some(info) = info(pid) else {
        return fail(input, &rules::UNKNOWN_PROPERTY);
    };
    macro_rules! boolean {
        ($ctor:ident, $rule:ident) => {{
            let (i, b) = parse::u8p(i)?;
            cx.check(b > 1, input, &rules::$rule)?;
            (i, $ctor(b != 0))
        }};
    }
    let (i, p) = match info.id {
        id::PAYLOAD_FORMAT_INDICATOR => {
            let (i, b) = parse::u8p(i)?;
            cx.check(b > 1, input, &rules::PAYLOAD_FORMAT_INDICATOR)?;
            (i, PayloadFormatIndicator(b))
        }
        id::MESSAGE_EXPIRY_INTERVAL => map(parse::u32p(i)?, MessageExpiryInterval),
        id::CONTENT_TYPE => map(parse::string(i, cx)?, ContentType),
        id::RESPONSE_TOPIC => {
            let (i, s) = parse::string(i, cx)?;
            // A Response Topic is a Topic Name: non-empty, no wildcards.
            cx.check(s.is_empty(), input, &rules::TOPIC_EMPTY)?;
            if let topic::TopicCheck::Bad(_, r) =
                topic::check_name(s, &rules::RESPONSE_TOPIC_WILDCARD)
            {
                cx.report(input, r)?;
            }
            (i, ResponseTopic(s))
        }
        id::CORRELATION_DATA => map(parse::binary(i)?, CorrelationData),
        id::SUBSCRIPTION_IDENTIFIER => {
            let (i, v) = parse::vbi(i, cx)?;
            cx.check(v == 0, input, &rules::SUBSCRIPTION_ID_ZERO)?;
            (i, SubscriptionIdentifier(v))
        }
        id::SESSION_EXPIRY_INTERVAL => map(parse::u32p(i)?, SessionExpiryInterval),
        id::ASSIGNED_CLIENT_IDENTIFIER => map(parse::string(i, cx)?, AssignedClientIdentifier),
        id::SERVER_KEEP_ALIVE => map(parse::u16p(i)?, ServerKeepAlive),
        id::AUTHENTICATION_METHOD => map(parse::string(i, cx)?, AuthenticationMethod),
        id::AUTHENTICATION_DATA => map(parse::binary(i)?, AuthenticationData),
        id::REQUEST_PROBLEM_INFORMATION => {
            boolean!(RequestProblemInformation, REQUEST_PROBLEM_INFORMATION)
        }
        id::WILL_DELAY_INTERVAL => map(parse::u32p(i)?, WillDelayInterval),
        id::REQUEST_RESPONSE_INFORMATION => {
            boolean!(RequestResponseInformation, REQUEST_RESPONSE_INFORMATION)
        }
        id::RESPONSE_INFORMATION => map(parse::string(i, cx)?, ResponseInformation),
        id::SERVER_REFERENCE => map(parse::string(i, cx)?, ServerReference),
        id::REASON_STRING => map(parse::string(i, cx)?, ReasonString),
        id::RECEIVE_MAXIMUM => {
            let (i, v) = parse::u16p(i)?;
            cx.check(v == 0, input, &rules::RECEIVE_MAXIMUM_ZERO)?;
            (i, ReceiveMaximum(v))
        }
        id::TOPIC_ALIAS_MAXIMUM => map(parse::u16p(i)?, TopicAliasMaximum),
        id::TOPIC_ALIAS => {
            let (i, v) = parse::u16p(i)?;
            cx.check(v == 0, input, &rules::TOPIC_ALIAS_ZERO)?;
            (i, TopicAlias(v))
        }
        id::MAXIMUM_QOS => {
            let (i, b) = parse::u8p(i)?;
            cx.check(b > 1, input, &rules::MAXIMUM_QOS)?;
            (
                i,
                MaximumQoS(if b == 0 {
                    QoS::AtMostOnce
                } else {
                    QoS::AtLeastOnce
                }),
            )
        }
        id::RETAIN_AVAILABLE => boolean!(RetainAvailable, RETAIN_AVAILABLE),
        id::USER_PROPERTY => {
            let (i, k) = parse::string_with(i, cx, &rules::USER_PROPERTY_UTF8)?;
            let (i, v) = parse::string_with(i, cx, &rules::USER_PROPERTY_UTF8)?;
            (i, UserProperty(k, v))
        }
        id::MAXIMUM_PACKET_SIZE => {
            let (i, v) = parse::u32p(i)?;
            cx.check(v == 0, input, &rules::MAXIMUM_PACKET_SIZE_ZERO)?;
            (i, MaximumPacketSize(v))
        }
        id::WILDCARD_SUBSCRIPTION_AVAILABLE => {
            boolean!(
                WildcardSubscriptionAvailable,
                WILDCARD_SUBSCRIPTION_AVAILABLE
            )
        }
        id::SUBSCRIPTION_IDENTIFIER_AVAILABLE => {
            boolean!(
                SubscriptionIdentifierAvailable,
                SUBSCRIPTION_IDENTIFIERS_AVAILABLE
            )
        }
        _ => boolean!(SharedSubscriptionAvailable, SHARED_SUBSCRIPTION_AVAILABLE),
    };
    Ok((i, p))
}

#[inline]
fn map<T, P>((i, v): (&[u8], T), f: impl FnOnce(T) -> P) -> (&[u8], P) {
    (i, f(v))
}

/// What a property set says to a property.
pub(crate) enum Accept {
    Ok,
    Duplicate,
    NotAllowed,
}

/// A packet's set of properties.
pub(crate) trait PropertySet<'a>: Default {
    /// Takes one parsed property; `block` is the whole property block (for
    /// the lists, which are read from it lazily).
    fn accept(&mut self, p: Property<'a>, block: &'a [u8]) -> Accept;
    /// Calls `f` with each property, fixed ones first, then the lists.
    fn for_each<F: FnMut(Property<'a>)>(&self, f: F);
    /// True when no property is set.
    fn is_empty(&self) -> bool;

    /// Bytes of the property block without its length prefix.
    fn block_len(&self) -> usize {
        let mut n = 0;
        self.for_each(|p| n += p.encoded_len());
        n
    }

    /// The first value rule broken by a property, for the encoder.
    fn first_value_rule(&self) -> Option<&'static Rule> {
        let mut r = None;
        self.for_each(|p| {
            if r.is_none() {
                r = p.value_rule();
            }
        });
        r
    }

    /// Writes the length prefix and the properties.
    fn write<B: BufMut>(&self, buf: &mut B, block_len: usize) {
        varint::write(buf, block_len as u32);
        self.for_each(|p| p.write(buf));
    }
}

/// Parses a property block (length + properties) into `P`.
#[inline]
pub(crate) fn parse_set<'a, S: Sink, P: PropertySet<'a>>(
    input: &'a [u8],
    cx: &mut Cx<S>,
) -> PResult<'a, P> {
    let (rest, (set, _)) = parse_set_block(input, cx)?;
    Ok((rest, set))
}

/// [`parse_set`], also giving the block's bytes (without the length
/// prefix) for a [`Lazy`](crate::Lazy) set.
pub(crate) fn parse_set_block<'a, S: Sink, P: PropertySet<'a>>(
    input: &'a [u8],
    cx: &mut Cx<S>,
) -> PResult<'a, (P, &'a [u8])> {
    let mut set = P::default();
    let (rest, len) = parse::vbi(input, cx)?;
    let len = len as usize;
    if len == 0 {
        return Ok((rest, (set, &rest[..0])));
    }
    let Some(block) = rest.get(..len) else {
        return fail(input, &rules::PROPERTY_LENGTH);
    };
    let after = &rest[len..];
    let mut i = block;
    while !i.is_empty() {
        let at = i;
        let (next, p) = match parse_one(i, cx) {
            Ok(v) => v,
            Err(nom::Err::Error(f)) if f.rule == &rules::TRUNCATED => {
                return fail(f.at, &rules::PROPERTY_LENGTH);
            }
            Err(nom::Err::Error(f)) if !S::STRICT && f.rule == &rules::UNKNOWN_PROPERTY => {
                // The value's length is unknown: record it and skip the
                // rest of the block, which the Property Length delimits.
                cx.report(f.at, f.rule)?;
                break;
            }
            Err(e) => return Err(e),
        };
        match set.accept(p, block) {
            Accept::Ok => {}
            Accept::Duplicate => cx.report(at, &rules::DUPLICATE_PROPERTY)?,
            Accept::NotAllowed => cx.report(at, &rules::PROPERTY_NOT_ALLOWED)?,
        }
        i = next;
    }
    Ok((after, (set, block)))
}

/// A set of 5.0 properties: what a [`Lazy`](crate::Lazy) property block
/// reads into. Implemented by every `…Properties` type of this module and
/// by nothing else.
pub trait PropertyBlock<'a>: crate::lazy::FromWire<'a> + Default + sealed::Sealed {
    /// True when no property is set.
    fn is_empty(&self) -> bool;
}

mod sealed {
    pub trait Sealed {}
}

/// Reads a property block (without its length prefix) that decoded into a
/// `P` before, giving the same `P` (see [`crate::lazy`]).
pub(crate) fn read_block<'a, P: PropertySet<'a>>(block: &'a [u8]) -> P {
    let mut cx = Cx::ignoring(ProtocolVersion::V5, block);
    let mut set = P::default();
    let mut i = block;
    while let Ok((next, p)) = parse_one(i, &mut cx) {
        // Later duplicates and properties the packet does not allow were
        // reported (or refused) when the block was first decoded; the
        // first copy is the one kept then and now.
        let _ = set.accept(p, block);
        i = next;
    }
    set
}

/// Walks a validated property block to the next property with identifier
/// `want`, returning the bytes right after its identifier.
fn seek<'a>(wire: &mut &'a [u8], want: u8) -> Option<&'a [u8]> {
    loop {
        let w: &'a [u8] = wire;
        let (&pid, rest) = w.split_first()?;
        let info = info(u32::from(pid))?;
        let skip = match info.data_type {
            DataType::Byte => 1,
            DataType::TwoByteInteger => 2,
            DataType::FourByteInteger => 4,
            DataType::VariableByteInteger => match parse::read_vbi(rest) {
                parse::Vbi::Value(_, n, _) => n,
                _ => return None,
            },
            DataType::Utf8String | DataType::BinaryData => {
                2 + u16::from_be_bytes([*rest.first()?, *rest.get(1)?]) as usize
            }
            DataType::Utf8StringPair => {
                let a = 2 + u16::from_be_bytes([*rest.first()?, *rest.get(1)?]) as usize;
                let b = u16::from_be_bytes([*rest.get(a)?, *rest.get(a + 1)?]) as usize;
                a + 2 + b
            }
        };
        if rest.len() < skip {
            *wire = &[];
            return None;
        }
        *wire = &rest[skip..];
        if pid == want {
            return Some(rest);
        }
    }
}

/// A User Property: name and value.
pub type UserProperty<'a> = (&'a str, &'a str);

/// The User Properties of a packet, in order.
pub type UserProperties<'a> = List<'a, UserProperty<'a>>;

impl<'a> Item<'a> for (&'a str, &'a str) {
    fn next_from_wire(wire: &mut &'a [u8]) -> Option<Self> {
        let mut at = seek(wire, id::USER_PROPERTY)?;
        let k = wire_str(&mut at)?;
        let v = wire_str(&mut at)?;
        Some((k, v))
    }
    fn encoded_len(&self) -> usize {
        Property::UserProperty(self.0, self.1).encoded_len()
    }
    fn write<B: BufMut>(&self, buf: &mut B) {
        Property::UserProperty(self.0, self.1).write(buf)
    }
}

/// The Subscription Identifiers of a PUBLISH sent by a Server, in order.
pub type SubscriptionIdentifiers<'a> = List<'a, u32>;

impl<'a> Item<'a> for u32 {
    fn next_from_wire(wire: &mut &'a [u8]) -> Option<Self> {
        let at = seek(wire, id::SUBSCRIPTION_IDENTIFIER)?;
        match parse::read_vbi(at) {
            parse::Vbi::Value(v, _, _) => Some(v),
            _ => None,
        }
    }
    fn encoded_len(&self) -> usize {
        Property::SubscriptionIdentifier(*self).encoded_len()
    }
    fn write<B: BufMut>(&self, buf: &mut B) {
        Property::SubscriptionIdentifier(*self).write(buf)
    }
}

macro_rules! property_set {
    ($(
        $(#[$m:meta])*
        pub struct $name:ident {
            $( $(#[$fm:meta])* $field:ident : $variant:ident ( $ty:ty ), )*
            @lists { $( $(#[$lm:meta])* $lfield:ident : $lvariant:ident => $lty:ty, )* }
        }
    )*) => {$(
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Default)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize))]
        pub struct $name<'a> {
            $(
                $(#[$fm])*
                #[doc = concat!("The ", stringify!($variant), " property.")]
                #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
                pub $field: Option<$ty>,
            )*
            $(
                $(#[$lm])*
                #[doc = concat!("Every ", stringify!($lvariant), " property, in order.")]
                #[cfg_attr(feature = "serde", serde(skip_serializing_if = "List::is_empty"))]
                pub $lfield: $lty,
            )*
        }

        impl<'a> $name<'a> {
            /// True when no property is set.
            #[inline]
            pub fn is_empty(&self) -> bool {
                true $( && self.$field.is_none() )* $( && self.$lfield.is_empty() )*
            }
        }

        impl<'a> PropertyBlock<'a> for $name<'a> {
            #[inline]
            fn is_empty(&self) -> bool {
                $name::is_empty(self)
            }
        }

        impl<'a> sealed::Sealed for $name<'a> {}

        impl<'a> crate::lazy::FromWire<'a> for $name<'a> {
            #[inline]
            fn from_wire(block: &'a [u8], _: ProtocolVersion) -> Self {
                read_block(block)
            }
        }

        impl<'a> PropertySet<'a> for $name<'a> {
            #[inline]
            fn is_empty(&self) -> bool {
                $name::is_empty(self)
            }

            #[inline]
            fn accept(&mut self, p: Property<'a>, block: &'a [u8]) -> Accept {
                match p {
                    $( Property::$variant(v) => {
                        if self.$field.is_some() {
                            Accept::Duplicate
                        } else {
                            self.$field = Some(v);
                            Accept::Ok
                        }
                    } )*
                    $( Property::$lvariant(..) => {
                        self.$lfield = List::wire(block);
                        Accept::Ok
                    } )*
                    #[allow(unreachable_patterns)]
                    _ => Accept::NotAllowed,
                }
            }

            #[inline]
            #[allow(unused_mut)]
            fn for_each<F: FnMut(Property<'a>)>(&self, mut f: F) {
                $( if let Some(v) = self.$field { f(Property::$variant(v)); } )*
                $( for item in self.$lfield.iter() { f(list_property!($lvariant, item)); } )*
            }
        }
    )*};
}

macro_rules! list_property {
    (UserProperty, $item:expr) => {
        Property::UserProperty($item.0, $item.1)
    };
    (SubscriptionIdentifier, $item:expr) => {
        Property::SubscriptionIdentifier($item)
    };
}

property_set! {
    /// CONNECT properties (5.0 §3.1.2.11).
    pub struct ConnectProperties {
        session_expiry_interval: SessionExpiryInterval(u32),
        receive_maximum: ReceiveMaximum(u16),
        maximum_packet_size: MaximumPacketSize(u32),
        topic_alias_maximum: TopicAliasMaximum(u16),
        request_response_information: RequestResponseInformation(bool),
        request_problem_information: RequestProblemInformation(bool),
        authentication_method: AuthenticationMethod(&'a str),
        #[cfg_attr(feature = "serde", serde(serialize_with = "crate::serde_bytes::opt"))]
        authentication_data: AuthenticationData(&'a [u8]),
        @lists { user_properties: UserProperty => UserProperties<'a>, }
    }

    /// Will properties in the CONNECT payload (5.0 §3.1.3.2).
    pub struct WillProperties {
        will_delay_interval: WillDelayInterval(u32),
        payload_format_indicator: PayloadFormatIndicator(u8),
        message_expiry_interval: MessageExpiryInterval(u32),
        content_type: ContentType(&'a str),
        response_topic: ResponseTopic(&'a str),
        #[cfg_attr(feature = "serde", serde(serialize_with = "crate::serde_bytes::opt"))]
        correlation_data: CorrelationData(&'a [u8]),
        @lists { user_properties: UserProperty => UserProperties<'a>, }
    }

    /// CONNACK properties (5.0 §3.2.2.3).
    pub struct ConnAckProperties {
        session_expiry_interval: SessionExpiryInterval(u32),
        receive_maximum: ReceiveMaximum(u16),
        maximum_qos: MaximumQoS(QoS),
        retain_available: RetainAvailable(bool),
        maximum_packet_size: MaximumPacketSize(u32),
        assigned_client_identifier: AssignedClientIdentifier(&'a str),
        topic_alias_maximum: TopicAliasMaximum(u16),
        reason_string: ReasonString(&'a str),
        wildcard_subscription_available: WildcardSubscriptionAvailable(bool),
        subscription_identifiers_available: SubscriptionIdentifierAvailable(bool),
        shared_subscription_available: SharedSubscriptionAvailable(bool),
        server_keep_alive: ServerKeepAlive(u16),
        response_information: ResponseInformation(&'a str),
        server_reference: ServerReference(&'a str),
        authentication_method: AuthenticationMethod(&'a str),
        #[cfg_attr(feature = "serde", serde(serialize_with = "crate::serde_bytes::opt"))]
        authentication_data: AuthenticationData(&'a [u8]),
        @lists { user_properties: UserProperty => UserProperties<'a>, }
    }

    /// PUBLISH properties (5.0 §3.3.2.3).
    pub struct PublishProperties {
        payload_format_indicator: PayloadFormatIndicator(u8),
        message_expiry_interval: MessageExpiryInterval(u32),
        topic_alias: TopicAlias(u16),
        response_topic: ResponseTopic(&'a str),
        #[cfg_attr(feature = "serde", serde(serialize_with = "crate::serde_bytes::opt"))]
        correlation_data: CorrelationData(&'a [u8]),
        content_type: ContentType(&'a str),
        @lists {
            user_properties: UserProperty => UserProperties<'a>,
            subscription_identifiers: SubscriptionIdentifier => SubscriptionIdentifiers<'a>,
        }
    }

    /// Properties of PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK.
    pub struct AckProperties {
        reason_string: ReasonString(&'a str),
        @lists { user_properties: UserProperty => UserProperties<'a>, }
    }

    /// SUBSCRIBE properties (5.0 §3.8.2.1).
    pub struct SubscribeProperties {
        subscription_identifier: SubscriptionIdentifier(u32),
        @lists { user_properties: UserProperty => UserProperties<'a>, }
    }

    /// UNSUBSCRIBE properties (5.0 §3.10.2.1).
    pub struct UnsubscribeProperties {
        @lists { user_properties: UserProperty => UserProperties<'a>, }
    }

    /// DISCONNECT properties (5.0 §3.14.2.2).
    pub struct DisconnectProperties {
        session_expiry_interval: SessionExpiryInterval(u32),
        reason_string: ReasonString(&'a str),
        server_reference: ServerReference(&'a str),
        @lists { user_properties: UserProperty => UserProperties<'a>, }
    }

    /// AUTH properties (5.0 §3.15.2.2).
    pub struct AuthProperties {
        authentication_method: AuthenticationMethod(&'a str),
        #[cfg_attr(feature = "serde", serde(serialize_with = "crate::serde_bytes::opt"))]
        authentication_data: AuthenticationData(&'a [u8]),
        reason_string: ReasonString(&'a str),
        @lists { user_properties: UserProperty => UserProperties<'a>, }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value of the right type for each property id.
    fn sample(id: u8) -> Property<'static> {
        use Property::*;
        match id {
            0x01 => PayloadFormatIndicator(1),
            0x02 => MessageExpiryInterval(1),
            0x03 => ContentType("t"),
            0x08 => ResponseTopic("r"),
            0x09 => CorrelationData(b"c"),
            0x0B => SubscriptionIdentifier(1),
            0x11 => SessionExpiryInterval(1),
            0x12 => AssignedClientIdentifier("a"),
            0x13 => ServerKeepAlive(1),
            0x15 => AuthenticationMethod("m"),
            0x16 => AuthenticationData(b"d"),
            0x17 => RequestProblemInformation(true),
            0x18 => WillDelayInterval(1),
            0x19 => RequestResponseInformation(true),
            0x1A => ResponseInformation("i"),
            0x1C => ServerReference("s"),
            0x1F => ReasonString("why"),
            0x21 => ReceiveMaximum(1),
            0x22 => TopicAliasMaximum(1),
            0x23 => TopicAlias(1),
            0x24 => MaximumQoS(QoS::AtLeastOnce),
            0x25 => RetainAvailable(true),
            0x26 => UserProperty("k", "v"),
            0x27 => MaximumPacketSize(1),
            0x28 => WildcardSubscriptionAvailable(true),
            0x29 => SubscriptionIdentifierAvailable(true),
            0x2A => SharedSubscriptionAvailable(true),
            _ => unreachable!("no property {id:#x}"),
        }
    }

    fn accepts<'a, P: PropertySet<'a>>(p: Property<'a>) -> bool {
        !matches!(P::default().accept(p, &[]), Accept::NotAllowed)
    }

    /// The per-packet sets accept exactly the properties the table allows.
    #[test]
    fn sets_match_the_table() {
        for info in PROPERTIES {
            let p = sample(info.id);
            assert_eq!(p.id(), info.id);
            let checks: [(u16, bool); 13] = [
                (allow::CONNECT, accepts::<ConnectProperties<'_>>(p)),
                (allow::CONNACK, accepts::<ConnAckProperties<'_>>(p)),
                (allow::PUBLISH, accepts::<PublishProperties<'_>>(p)),
                (allow::WILL, accepts::<WillProperties<'_>>(p)),
                (allow::PUBACK, accepts::<AckProperties<'_>>(p)),
                (allow::PUBREC, accepts::<AckProperties<'_>>(p)),
                (allow::PUBREL, accepts::<AckProperties<'_>>(p)),
                (allow::PUBCOMP, accepts::<AckProperties<'_>>(p)),
                (allow::SUBSCRIBE, accepts::<SubscribeProperties<'_>>(p)),
                (allow::SUBACK, accepts::<AckProperties<'_>>(p)),
                (allow::UNSUBSCRIBE, accepts::<UnsubscribeProperties<'_>>(p)),
                (allow::DISCONNECT, accepts::<DisconnectProperties<'_>>(p)),
                (allow::AUTH, accepts::<AuthProperties<'_>>(p)),
            ];
            for (bit, accepted) in checks {
                assert_eq!(
                    info.allowed & bit != 0,
                    accepted,
                    "{} in packet bit {bit:#x}",
                    info.name
                );
            }
            // Encoded length matches what is written.
            let mut out = Vec::new();
            p.write(&mut out);
            assert_eq!(out.len(), p.encoded_len(), "{}", info.name);
        }
    }

    #[test]
    fn table_is_consistent() {
        assert_eq!(PROPERTIES.len(), 27);
        for p in PROPERTIES {
            assert_eq!(info(u32::from(p.id)).map(|i| i.id), Some(p.id));
        }
        assert!(info(0x05).is_none());
        assert!(info(0x2B).is_none());
        assert!(info(1000).is_none());
    }
}
