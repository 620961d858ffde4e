//! Owned descriptions of arbitrary packets, for fuzzing and property tests
//! (feature `arbitrary`).
//!
//! An [`ArbitraryPacket`] owns everything a [`Packet`] borrows (strings,
//! byte vectors, vectors for the lists) and builds the borrowed packet on
//! demand with [`ArbitraryPacket::with_packet`]. Generation aims at packets
//! that are valid for the chosen version: topics without wildcards or NUL,
//! well-placed wildcards in filters, non-zero packet identifiers,
//! properties only in 5.0, 3.x-compatible reason codes in 3.x. A small share
//! of the values is deliberately out of bounds (a zero identifier, a
//! property in 3.x, an arbitrary string, a field over 65,535 bytes, ...) so
//! that the encoder's refusals are exercised too.
//!
//! Generation never reads past the input: when the [`Unstructured`] runs
//! dry every choice falls back to its valid, smallest form.

use arbitrary::{Arbitrary, Result, Unstructured};

use crate::lazy::Lazy;
use crate::packet::{
    Auth, ConnAck, Connect, Disconnect, Packet, PubResponse, Publish, RetainHandling, SubAck,
    Subscribe, Subscription, SubscriptionOptions, UnsubAck, Unsubscribe, Will,
};
use crate::properties::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    PublishProperties, SubscribeProperties, UnsubscribeProperties, WillProperties,
};
use crate::reason::{
    AuthReasonCode, ConnectReasonCode, DisconnectReasonCode, PubAckReasonCode, PubRelReasonCode,
    SubscribeReasonCode, UnsubscribeReasonCode,
};
use crate::types::{PacketType, ProtocolVersion, QoS};
use crate::{topic, varint};

/// Owned User Properties.
pub type OwnedUserProperties = Vec<(String, String)>;

/// Any packet of any version, owning its data.
#[derive(Debug, Clone, PartialEq)]
pub struct ArbitraryPacket {
    /// The version the packet is meant for (a CONNECT announces it).
    pub version: ProtocolVersion,
    /// The packet.
    pub body: PacketBody,
}

/// The owned packet, one variant per packet type.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum PacketBody {
    Connect(ConnectDesc),
    ConnAck(ConnAckDesc),
    Publish(PublishDesc),
    PubAck(AckDesc<PubAckReasonCode>),
    PubRec(AckDesc<PubAckReasonCode>),
    PubRel(AckDesc<PubRelReasonCode>),
    PubComp(AckDesc<PubRelReasonCode>),
    Subscribe(SubscribeDesc),
    SubAck(SubAckDesc),
    Unsubscribe(UnsubscribeDesc),
    UnsubAck(UnsubAckDesc),
    PingReq,
    PingResp,
    Disconnect(DisconnectDesc),
    Auth(AuthDesc),
}

/// Owned CONNECT.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct ConnectDesc {
    pub clean_start: bool,
    pub keep_alive: u16,
    pub properties: ConnectProps,
    pub client_id: String,
    pub will: Option<WillDesc>,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
}

/// Owned will message.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct WillDesc {
    pub qos: QoS,
    pub retain: bool,
    pub properties: WillProps,
    pub topic: String,
    pub payload: Vec<u8>,
}

/// Owned CONNACK.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct ConnAckDesc {
    pub session_present: bool,
    pub reason_code: ConnectReasonCode,
    pub properties: ConnAckProps,
}

/// Owned PUBLISH.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct PublishDesc {
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    pub topic: String,
    pub packet_id: Option<u16>,
    pub properties: PublishProps,
    pub payload: Vec<u8>,
}

/// Owned PUBACK / PUBREC / PUBREL / PUBCOMP.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct AckDesc<R> {
    pub packet_id: u16,
    pub reason_code: R,
    pub properties: AckProps,
}

/// Owned SUBSCRIBE.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct SubscribeDesc {
    pub packet_id: u16,
    pub properties: SubscribeProps,
    pub subscriptions: Vec<(String, SubscriptionOptions)>,
}

/// Owned SUBACK.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct SubAckDesc {
    pub packet_id: u16,
    pub properties: AckProps,
    pub reason_codes: Vec<SubscribeReasonCode>,
}

/// Owned UNSUBSCRIBE.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct UnsubscribeDesc {
    pub packet_id: u16,
    pub user_properties: OwnedUserProperties,
    pub filters: Vec<String>,
}

/// Owned UNSUBACK.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct UnsubAckDesc {
    pub packet_id: u16,
    pub properties: AckProps,
    pub reason_codes: Vec<UnsubscribeReasonCode>,
}

/// Owned DISCONNECT.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct DisconnectDesc {
    pub reason_code: DisconnectReasonCode,
    pub properties: DisconnectProps,
}

/// Owned AUTH.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct AuthDesc {
    pub reason_code: AuthReasonCode,
    pub properties: AuthProps,
}

/// Owned [`ConnectProperties`].
#[derive(Debug, Clone, PartialEq, Default)]
#[allow(missing_docs)]
pub struct ConnectProps {
    pub session_expiry_interval: Option<u32>,
    pub receive_maximum: Option<u16>,
    pub maximum_packet_size: Option<u32>,
    pub topic_alias_maximum: Option<u16>,
    pub request_response_information: Option<bool>,
    pub request_problem_information: Option<bool>,
    pub authentication_method: Option<String>,
    pub authentication_data: Option<Vec<u8>>,
    pub user_properties: OwnedUserProperties,
}

/// Owned [`WillProperties`].
#[derive(Debug, Clone, PartialEq, Default)]
#[allow(missing_docs)]
pub struct WillProps {
    pub will_delay_interval: Option<u32>,
    pub payload_format_indicator: Option<u8>,
    pub message_expiry_interval: Option<u32>,
    pub content_type: Option<String>,
    pub response_topic: Option<String>,
    pub correlation_data: Option<Vec<u8>>,
    pub user_properties: OwnedUserProperties,
}

/// Owned [`ConnAckProperties`].
#[derive(Debug, Clone, PartialEq, Default)]
#[allow(missing_docs)]
pub struct ConnAckProps {
    pub session_expiry_interval: Option<u32>,
    pub receive_maximum: Option<u16>,
    pub maximum_qos: Option<QoS>,
    pub retain_available: Option<bool>,
    pub maximum_packet_size: Option<u32>,
    pub assigned_client_identifier: Option<String>,
    pub topic_alias_maximum: Option<u16>,
    pub reason_string: Option<String>,
    pub wildcard_subscription_available: Option<bool>,
    pub subscription_identifiers_available: Option<bool>,
    pub shared_subscription_available: Option<bool>,
    pub server_keep_alive: Option<u16>,
    pub response_information: Option<String>,
    pub server_reference: Option<String>,
    pub authentication_method: Option<String>,
    pub authentication_data: Option<Vec<u8>>,
    pub user_properties: OwnedUserProperties,
}

/// Owned [`PublishProperties`].
#[derive(Debug, Clone, PartialEq, Default)]
#[allow(missing_docs)]
pub struct PublishProps {
    pub payload_format_indicator: Option<u8>,
    pub message_expiry_interval: Option<u32>,
    pub topic_alias: Option<u16>,
    pub response_topic: Option<String>,
    pub correlation_data: Option<Vec<u8>>,
    pub content_type: Option<String>,
    pub user_properties: OwnedUserProperties,
    pub subscription_identifiers: Vec<u32>,
}

/// Owned [`AckProperties`].
#[derive(Debug, Clone, PartialEq, Default)]
#[allow(missing_docs)]
pub struct AckProps {
    pub reason_string: Option<String>,
    pub user_properties: OwnedUserProperties,
}

/// Owned [`SubscribeProperties`].
#[derive(Debug, Clone, PartialEq, Default)]
#[allow(missing_docs)]
pub struct SubscribeProps {
    pub subscription_identifier: Option<u32>,
    pub user_properties: OwnedUserProperties,
}

/// Owned [`DisconnectProperties`].
#[derive(Debug, Clone, PartialEq, Default)]
#[allow(missing_docs)]
pub struct DisconnectProps {
    pub session_expiry_interval: Option<u32>,
    pub reason_string: Option<String>,
    pub server_reference: Option<String>,
    pub user_properties: OwnedUserProperties,
}

/// Owned [`AuthProperties`].
#[derive(Debug, Clone, PartialEq, Default)]
#[allow(missing_docs)]
pub struct AuthProps {
    pub authentication_method: Option<String>,
    pub authentication_data: Option<Vec<u8>>,
    pub reason_string: Option<String>,
    pub user_properties: OwnedUserProperties,
}

// ---------------------------------------------------------------------------
// Owned -> borrowed
// ---------------------------------------------------------------------------

type Ups<'a> = Vec<(&'a str, &'a str)>;

fn ups(v: &[(String, String)]) -> Ups<'_> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn s(o: &Option<String>) -> Option<&str> {
    o.as_deref()
}

fn b(o: &Option<Vec<u8>>) -> Option<&[u8]> {
    o.as_deref()
}

impl ConnectProps {
    fn borrow<'a>(&'a self, u: &'a [(&'a str, &'a str)]) -> ConnectProperties<'a> {
        ConnectProperties {
            session_expiry_interval: self.session_expiry_interval,
            receive_maximum: self.receive_maximum,
            maximum_packet_size: self.maximum_packet_size,
            topic_alias_maximum: self.topic_alias_maximum,
            request_response_information: self.request_response_information,
            request_problem_information: self.request_problem_information,
            authentication_method: s(&self.authentication_method),
            authentication_data: b(&self.authentication_data),
            user_properties: u.into(),
        }
    }
}

impl WillProps {
    fn borrow<'a>(&'a self, u: &'a [(&'a str, &'a str)]) -> WillProperties<'a> {
        WillProperties {
            will_delay_interval: self.will_delay_interval,
            payload_format_indicator: self.payload_format_indicator,
            message_expiry_interval: self.message_expiry_interval,
            content_type: s(&self.content_type),
            response_topic: s(&self.response_topic),
            correlation_data: b(&self.correlation_data),
            user_properties: u.into(),
        }
    }
}

impl ConnAckProps {
    fn borrow<'a>(&'a self, u: &'a [(&'a str, &'a str)]) -> ConnAckProperties<'a> {
        ConnAckProperties {
            session_expiry_interval: self.session_expiry_interval,
            receive_maximum: self.receive_maximum,
            maximum_qos: self.maximum_qos,
            retain_available: self.retain_available,
            maximum_packet_size: self.maximum_packet_size,
            assigned_client_identifier: s(&self.assigned_client_identifier),
            topic_alias_maximum: self.topic_alias_maximum,
            reason_string: s(&self.reason_string),
            wildcard_subscription_available: self.wildcard_subscription_available,
            subscription_identifiers_available: self.subscription_identifiers_available,
            shared_subscription_available: self.shared_subscription_available,
            server_keep_alive: self.server_keep_alive,
            response_information: s(&self.response_information),
            server_reference: s(&self.server_reference),
            authentication_method: s(&self.authentication_method),
            authentication_data: b(&self.authentication_data),
            user_properties: u.into(),
        }
    }
}

impl PublishProps {
    fn borrow<'a>(&'a self, u: &'a [(&'a str, &'a str)]) -> PublishProperties<'a> {
        PublishProperties {
            payload_format_indicator: self.payload_format_indicator,
            message_expiry_interval: self.message_expiry_interval,
            topic_alias: self.topic_alias,
            response_topic: s(&self.response_topic),
            correlation_data: b(&self.correlation_data),
            content_type: s(&self.content_type),
            user_properties: u.into(),
            subscription_identifiers: self.subscription_identifiers.as_slice().into(),
        }
    }
}

impl AckProps {
    fn borrow<'a>(&'a self, u: &'a [(&'a str, &'a str)]) -> AckProperties<'a> {
        AckProperties {
            reason_string: s(&self.reason_string),
            user_properties: u.into(),
        }
    }
}

impl SubscribeProps {
    fn borrow<'a>(&'a self, u: &'a [(&'a str, &'a str)]) -> SubscribeProperties<'a> {
        SubscribeProperties {
            subscription_identifier: self.subscription_identifier,
            user_properties: u.into(),
        }
    }
}

impl DisconnectProps {
    fn borrow<'a>(&'a self, u: &'a [(&'a str, &'a str)]) -> DisconnectProperties<'a> {
        DisconnectProperties {
            session_expiry_interval: self.session_expiry_interval,
            reason_string: s(&self.reason_string),
            server_reference: s(&self.server_reference),
            user_properties: u.into(),
        }
    }
}

impl AuthProps {
    fn borrow<'a>(&'a self, u: &'a [(&'a str, &'a str)]) -> AuthProperties<'a> {
        AuthProperties {
            authentication_method: s(&self.authentication_method),
            authentication_data: b(&self.authentication_data),
            reason_string: s(&self.reason_string),
            user_properties: u.into(),
        }
    }
}

fn ack<'a, R: Copy>(a: &'a AckDesc<R>, u: &'a [(&'a str, &'a str)]) -> PubResponse<'a, R> {
    PubResponse {
        packet_id: a.packet_id,
        reason_code: a.reason_code,
        properties: a.properties.borrow(u),
    }
}

impl ArbitraryPacket {
    /// The version the packet is encoded and decoded under.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        use PacketBody as B;
        match &self.body {
            B::Connect(_) => PacketType::Connect,
            B::ConnAck(_) => PacketType::ConnAck,
            B::Publish(_) => PacketType::Publish,
            B::PubAck(_) => PacketType::PubAck,
            B::PubRec(_) => PacketType::PubRec,
            B::PubRel(_) => PacketType::PubRel,
            B::PubComp(_) => PacketType::PubComp,
            B::Subscribe(_) => PacketType::Subscribe,
            B::SubAck(_) => PacketType::SubAck,
            B::Unsubscribe(_) => PacketType::Unsubscribe,
            B::UnsubAck(_) => PacketType::UnsubAck,
            B::PingReq => PacketType::PingReq,
            B::PingResp => PacketType::PingResp,
            B::Disconnect(_) => PacketType::Disconnect,
            B::Auth(_) => PacketType::Auth,
        }
    }

    /// Builds the borrowed [`Packet`] and hands it to `f` (the lists borrow
    /// vectors of references made here, so the packet cannot be returned).
    pub fn with_packet<R>(&self, f: impl FnOnce(&Packet<'_>) -> R) -> R {
        use PacketBody as B;
        match &self.body {
            B::Connect(c) => {
                let cu = ups(&c.properties.user_properties);
                let wu = c
                    .will
                    .as_ref()
                    .map(|w| ups(&w.properties.user_properties))
                    .unwrap_or_default();
                f(&Packet::Connect(Lazy::new(&Connect {
                    protocol: self.version,
                    clean_start: c.clean_start,
                    keep_alive: c.keep_alive,
                    properties: c.properties.borrow(&cu),
                    client_id: &c.client_id,
                    will: c.will.as_ref().map(|w| Will {
                        qos: w.qos,
                        retain: w.retain,
                        properties: w.properties.borrow(&wu),
                        topic: &w.topic,
                        payload: &w.payload,
                    }),
                    username: s(&c.username),
                    password: b(&c.password),
                })))
            }
            B::ConnAck(c) => {
                let u = ups(&c.properties.user_properties);
                f(&Packet::ConnAck(ConnAck {
                    session_present: c.session_present,
                    reason_code: c.reason_code,
                    properties: Lazy::new(&c.properties.borrow(&u)),
                }))
            }
            B::Publish(p) => {
                let u = ups(&p.properties.user_properties);
                f(&Packet::Publish(Publish {
                    dup: p.dup,
                    qos: p.qos,
                    retain: p.retain,
                    topic: &p.topic,
                    packet_id: p.packet_id,
                    properties: Lazy::new(&p.properties.borrow(&u)),
                    payload: &p.payload,
                }))
            }
            B::PubAck(a) => {
                let u = ups(&a.properties.user_properties);
                f(&Packet::PubAck(ack(a, &u)))
            }
            B::PubRec(a) => {
                let u = ups(&a.properties.user_properties);
                f(&Packet::PubRec(ack(a, &u)))
            }
            B::PubRel(a) => {
                let u = ups(&a.properties.user_properties);
                f(&Packet::PubRel(ack(a, &u)))
            }
            B::PubComp(a) => {
                let u = ups(&a.properties.user_properties);
                f(&Packet::PubComp(ack(a, &u)))
            }
            B::Subscribe(sd) => {
                let u = ups(&sd.properties.user_properties);
                let subs: Vec<Subscription<'_>> = sd
                    .subscriptions
                    .iter()
                    .map(|(filter, options)| Subscription {
                        filter,
                        options: *options,
                    })
                    .collect();
                f(&Packet::Subscribe(Subscribe {
                    packet_id: sd.packet_id,
                    properties: sd.properties.borrow(&u),
                    subscriptions: subs.as_slice().into(),
                }))
            }
            B::SubAck(sa) => {
                let u = ups(&sa.properties.user_properties);
                f(&Packet::SubAck(SubAck {
                    packet_id: sa.packet_id,
                    properties: sa.properties.borrow(&u),
                    reason_codes: sa.reason_codes.as_slice().into(),
                }))
            }
            B::Unsubscribe(un) => {
                let u = ups(&un.user_properties);
                let filters: Vec<&str> = un.filters.iter().map(String::as_str).collect();
                f(&Packet::Unsubscribe(Unsubscribe {
                    packet_id: un.packet_id,
                    properties: UnsubscribeProperties {
                        user_properties: u.as_slice().into(),
                    },
                    filters: filters.as_slice().into(),
                }))
            }
            B::UnsubAck(ua) => {
                let u = ups(&ua.properties.user_properties);
                f(&Packet::UnsubAck(UnsubAck {
                    packet_id: ua.packet_id,
                    properties: ua.properties.borrow(&u),
                    reason_codes: ua.reason_codes.as_slice().into(),
                }))
            }
            B::PingReq => f(&Packet::PingReq),
            B::PingResp => f(&Packet::PingResp),
            B::Disconnect(d) => {
                let u = ups(&d.properties.user_properties);
                f(&Packet::Disconnect(Disconnect {
                    reason_code: d.reason_code,
                    properties: d.properties.borrow(&u),
                }))
            }
            B::Auth(a) => {
                let u = ups(&a.properties.user_properties);
                f(&Packet::Auth(Auth {
                    reason_code: a.reason_code,
                    properties: a.properties.borrow(&u),
                }))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------

/// Characters for plain strings: ASCII, multi-byte UTF-8, and the topic
/// separators and wildcards (which are fine outside topics).
const CHARS: &[char] = &[
    'a', 'b', 'c', 'x', 'y', 'z', 'A', 'Q', '0', '7', '-', '_', ' ', '.', '$', '/', '+', '#', 'é',
    'ß', '€', '中', '😀', '\u{7f}', '\u{ffff}',
];

/// Characters for topic levels: no separator, no wildcard, no NUL.
const LEVEL_CHARS: &[char] = &[
    'a', 'b', 'c', 'x', 'y', 'z', 'S', 'Y', '0', '9', '-', '_', ' ', '.', '$', 'é', '€', '😀',
];

/// Remaining-length boundaries of the variable byte integer.
const VBI_EDGES: &[usize] = &[127, 128, 16_383, 16_384];

struct Gen<'u, 'd> {
    u: &'u mut Unstructured<'d>,
    v: ProtocolVersion,
}

impl Gen<'_, '_> {
    fn byte(&mut self) -> Result<u8> {
        self.u.arbitrary()
    }

    /// True with probability 1/n; false once the input has run out.
    fn one_in(&mut self, n: u8) -> Result<bool> {
        Ok(self.byte()? % n == n - 1)
    }

    /// The occasional deliberately out-of-bounds choice (1/32).
    fn rare(&mut self) -> Result<bool> {
        self.one_in(32)
    }

    fn bool(&mut self) -> Result<bool> {
        self.u.arbitrary()
    }

    fn v5(&self) -> bool {
        self.v.is_v5()
    }

    /// `Some` with probability 1/4.
    fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<Option<T>> {
        if self.one_in(4)? {
            Ok(Some(f(self)?))
        } else {
            Ok(None)
        }
    }

    fn len(&mut self, max: usize) -> Result<usize> {
        self.u.int_in_range(0..=max)
    }

    fn chars(&mut self, set: &[char], max: usize) -> Result<String> {
        let n = self.len(max)?;
        let mut out = String::new();
        for _ in 0..n {
            out.push(*self.u.choose(set)?);
        }
        Ok(out)
    }

    /// A string at or just past the 65,535-byte limit.
    fn long_string(&mut self) -> Result<String> {
        let extra = self.len(2)?;
        let mut out = "é".repeat(32_766);
        out.push_str(&"a".repeat(1 + extra));
        Ok(out)
    }

    /// A UTF-8 string: short and valid mostly, sometimes anything.
    fn string(&mut self) -> Result<String> {
        if self.rare()? {
            if self.one_in(8)? {
                return self.long_string();
            }
            return self.u.arbitrary();
        }
        self.chars(CHARS, 8)
    }

    fn binary(&mut self) -> Result<Vec<u8>> {
        if self.rare()? && self.one_in(8)? {
            let n = 65_534 + self.len(2)?;
            return Ok(vec![0xA5; n]);
        }
        let n = self.len(16)?.min(self.u.len());
        Ok(self.u.bytes(n)?.to_vec())
    }

    fn payload(&mut self) -> Result<Vec<u8>> {
        if self.rare()? {
            // Sizes around the variable byte integer's boundaries, and
            // rarely past two mebibytes (a four-byte Remaining Length).
            let edge = if self.one_in(16)? {
                2_097_152
            } else {
                *self.u.choose(VBI_EDGES)?
            };
            let n = edge - self.len(24)?;
            let fill = self.byte()?;
            return Ok(vec![fill; n]);
        }
        let n = self.len(32)?.min(self.u.len());
        Ok(self.u.bytes(n)?.to_vec())
    }

    fn level(&mut self) -> Result<String> {
        self.chars(LEVEL_CHARS, 5)
    }

    /// A Topic Name: non-empty, no wildcard, no NUL.
    fn topic_name(&mut self) -> Result<String> {
        if self.rare()? {
            return self.string();
        }
        let levels = 1 + self.len(3)?;
        let mut out = String::new();
        for i in 0..levels {
            if i > 0 {
                out.push('/');
            }
            out.push_str(&self.level()?);
        }
        if out.is_empty() {
            out.push('t');
        }
        Ok(out)
    }

    /// A Topic Filter with wildcards in their places, and in 5.0 sometimes
    /// a shared subscription.
    fn topic_filter(&mut self) -> Result<String> {
        if self.rare()? {
            return self.string();
        }
        let mut out = String::new();
        if self.v5() && self.one_in(8)? {
            let name = self.chars(&LEVEL_CHARS[..10], 4)?;
            out.push_str("$share/");
            out.push_str(if name.is_empty() { "g" } else { &name });
            out.push('/');
        }
        let levels = 1 + self.len(3)?;
        for i in 0..levels {
            if i > 0 {
                out.push('/');
            }
            if self.one_in(6)? {
                out.push('+');
            } else {
                out.push_str(&self.level()?);
            }
        }
        if self.one_in(6)? {
            if !out.is_empty() && !out.ends_with('/') {
                out.push('/');
            }
            out.push('#');
        }
        if out.is_empty() || (out.ends_with('/') && out.starts_with("$share/")) {
            out.push('f');
        }
        Ok(out)
    }

    fn packet_id(&mut self) -> Result<u16> {
        if self.rare()? {
            return Ok(0);
        }
        let id: u16 = self.u.arbitrary()?;
        Ok(id.max(1))
    }

    fn nonzero_u16(&mut self) -> Result<u16> {
        let v: u16 = self.u.arbitrary()?;
        if v == 0 && !self.rare()? {
            return Ok(1);
        }
        Ok(v)
    }

    fn nonzero_u32(&mut self) -> Result<u32> {
        let v: u32 = self.u.arbitrary()?;
        if v == 0 && !self.rare()? {
            return Ok(1);
        }
        Ok(v)
    }

    fn subscription_id(&mut self) -> Result<u32> {
        if self.rare()? {
            return self.u.arbitrary();
        }
        self.u.int_in_range(1..=varint::MAX)
    }

    fn payload_format(&mut self) -> Result<u8> {
        if self.rare()? {
            return self.u.arbitrary();
        }
        Ok(self.byte()? & 1)
    }

    fn qos(&mut self) -> Result<QoS> {
        self.u.arbitrary()
    }

    fn user_properties(&mut self) -> Result<OwnedUserProperties> {
        let mut out = Vec::new();
        if self.one_in(3)? {
            for _ in 0..1 + self.len(3)? {
                out.push((self.string()?, self.string()?));
            }
        }
        Ok(out)
    }

    /// Whether to fill a property set: always in 5.0, rarely in 3.x (which
    /// the encoder must refuse).
    fn want_props(&mut self) -> Result<bool> {
        if self.v5() {
            Ok(true)
        } else {
            self.rare()
        }
    }

    fn connect_props(&mut self) -> Result<ConnectProps> {
        if !self.want_props()? {
            return Ok(ConnectProps::default());
        }
        let mut p = ConnectProps {
            session_expiry_interval: self.opt(|g| g.u.arbitrary())?,
            receive_maximum: self.opt(Self::nonzero_u16)?,
            maximum_packet_size: self.opt(Self::nonzero_u32)?,
            topic_alias_maximum: self.opt(|g| g.u.arbitrary())?,
            request_response_information: self.opt(Self::bool)?,
            request_problem_information: self.opt(Self::bool)?,
            authentication_method: self.opt(Self::string)?,
            authentication_data: self.opt(Self::binary)?,
            user_properties: self.user_properties()?,
        };
        if p.authentication_data.is_some() && p.authentication_method.is_none() && !self.rare()? {
            p.authentication_method = Some("SCRAM-SHA-1".into());
        }
        Ok(p)
    }

    fn will_props(&mut self) -> Result<WillProps> {
        if !self.want_props()? {
            return Ok(WillProps::default());
        }
        Ok(WillProps {
            will_delay_interval: self.opt(|g| g.u.arbitrary())?,
            payload_format_indicator: self.opt(Self::payload_format)?,
            message_expiry_interval: self.opt(|g| g.u.arbitrary())?,
            content_type: self.opt(Self::string)?,
            response_topic: self.opt(Self::topic_name)?,
            correlation_data: self.opt(Self::binary)?,
            user_properties: self.user_properties()?,
        })
    }

    fn connack_props(&mut self) -> Result<ConnAckProps> {
        if !self.want_props()? {
            return Ok(ConnAckProps::default());
        }
        Ok(ConnAckProps {
            session_expiry_interval: self.opt(|g| g.u.arbitrary())?,
            receive_maximum: self.opt(Self::nonzero_u16)?,
            maximum_qos: self.opt(|g| {
                if g.rare()? {
                    return Ok(QoS::ExactlyOnce);
                }
                Ok(if g.bool()? {
                    QoS::AtLeastOnce
                } else {
                    QoS::AtMostOnce
                })
            })?,
            retain_available: self.opt(Self::bool)?,
            maximum_packet_size: self.opt(Self::nonzero_u32)?,
            assigned_client_identifier: self.opt(Self::string)?,
            topic_alias_maximum: self.opt(|g| g.u.arbitrary())?,
            reason_string: self.opt(Self::string)?,
            wildcard_subscription_available: self.opt(Self::bool)?,
            subscription_identifiers_available: self.opt(Self::bool)?,
            shared_subscription_available: self.opt(Self::bool)?,
            server_keep_alive: self.opt(|g| g.u.arbitrary())?,
            response_information: self.opt(Self::string)?,
            server_reference: self.opt(Self::string)?,
            authentication_method: self.opt(Self::string)?,
            authentication_data: self.opt(Self::binary)?,
            user_properties: self.user_properties()?,
        })
    }

    fn publish_props(&mut self) -> Result<PublishProps> {
        if !self.want_props()? {
            return Ok(PublishProps::default());
        }
        let mut sub_ids = Vec::new();
        if self.one_in(4)? {
            for _ in 0..1 + self.len(2)? {
                sub_ids.push(self.subscription_id()?);
            }
        }
        Ok(PublishProps {
            payload_format_indicator: self.opt(Self::payload_format)?,
            message_expiry_interval: self.opt(|g| g.u.arbitrary())?,
            topic_alias: self.opt(Self::nonzero_u16)?,
            response_topic: self.opt(Self::topic_name)?,
            correlation_data: self.opt(Self::binary)?,
            content_type: self.opt(Self::string)?,
            user_properties: self.user_properties()?,
            subscription_identifiers: sub_ids,
        })
    }

    fn ack_props(&mut self) -> Result<AckProps> {
        if !self.want_props()? {
            return Ok(AckProps::default());
        }
        Ok(AckProps {
            reason_string: self.opt(Self::string)?,
            user_properties: self.user_properties()?,
        })
    }

    /// A reason code: any defined one in 5.0; in 3.x one of `v3` mostly.
    fn code<T: Copy>(&mut self, all: &[T], v3: &[T]) -> Result<T> {
        if self.v5() || self.rare()? {
            Ok(*self.u.choose(all)?)
        } else {
            Ok(*self.u.choose(v3)?)
        }
    }

    fn connect(&mut self) -> Result<ConnectDesc> {
        let v3 = !self.v5();
        let properties = self.connect_props()?;
        let client_id = if self.one_in(4)? {
            String::new()
        } else {
            self.string()?
        };
        let mut clean_start = self.bool()?;
        if v3 && client_id.is_empty() && !self.rare()? {
            clean_start = true;
        }
        let will = if self.one_in(3)? {
            Some(WillDesc {
                qos: self.qos()?,
                retain: self.bool()?,
                properties: self.will_props()?,
                topic: self.topic_name()?,
                payload: self.binary()?,
            })
        } else {
            None
        };
        let mut username = self.opt(Self::string)?;
        let password = if self.one_in(3)? {
            Some(self.binary()?)
        } else {
            None
        };
        if v3 && password.is_some() && username.is_none() && !self.rare()? {
            username = Some("user".into());
        }
        Ok(ConnectDesc {
            clean_start,
            keep_alive: self.u.arbitrary()?,
            properties,
            client_id,
            will,
            username,
            password,
        })
    }

    fn connack(&mut self) -> Result<ConnAckDesc> {
        let reason_code = self.code(ConnectReasonCode::ALL, &V3_CONNACK)?;
        let session_present =
            (reason_code == ConnectReasonCode::Success || self.rare()?) && self.bool()?;
        Ok(ConnAckDesc {
            session_present,
            reason_code,
            properties: self.connack_props()?,
        })
    }

    fn publish(&mut self) -> Result<PublishDesc> {
        let qos = self.qos()?;
        let dup = (qos != QoS::AtMostOnce || self.rare()?) && self.bool()?;
        let packet_id = match (qos, self.rare()?) {
            (QoS::AtMostOnce, false) => None,
            (QoS::AtMostOnce, true) => Some(self.u.arbitrary()?),
            (_, false) => Some(self.packet_id()?),
            (_, true) => None,
        };
        let mut properties = self.publish_props()?;
        // 5.0: an empty topic stands for the one a Topic Alias names.
        let topic = if self.v5() && self.one_in(8)? {
            if properties.topic_alias.is_none() && !self.rare()? {
                properties.topic_alias = Some(self.nonzero_u16()?.max(1));
            }
            String::new()
        } else {
            self.topic_name()?
        };
        Ok(PublishDesc {
            dup,
            qos,
            retain: self.bool()?,
            topic,
            packet_id,
            properties,
            payload: self.payload()?,
        })
    }

    fn ack<R: Copy>(&mut self, all: &[R], success: R) -> Result<AckDesc<R>> {
        Ok(AckDesc {
            packet_id: self.packet_id()?,
            reason_code: self.code(all, &[success])?,
            properties: self.ack_props()?,
        })
    }

    fn count(&mut self) -> Result<usize> {
        if self.rare()? {
            return Ok(0);
        }
        Ok(1 + self.len(4)?)
    }

    fn subscribe(&mut self) -> Result<SubscribeDesc> {
        let properties = if self.want_props()? {
            SubscribeProps {
                subscription_identifier: self.opt(Self::subscription_id)?,
                user_properties: self.user_properties()?,
            }
        } else {
            SubscribeProps::default()
        };
        let mut subscriptions = Vec::new();
        for _ in 0..self.count()? {
            let filter = self.topic_filter()?;
            let mut options = SubscriptionOptions::qos(self.qos()?);
            if self.v5() || self.rare()? {
                options.no_local =
                    self.bool()? && (!topic::is_shared(&filter) || self.rare()?) && self.v5();
                options.retain_as_published = self.bool()?;
                options.retain_handling = self.u.arbitrary::<RetainHandling>()?;
            }
            subscriptions.push((filter, options));
        }
        Ok(SubscribeDesc {
            packet_id: self.packet_id()?,
            properties,
            subscriptions,
        })
    }

    fn suback(&mut self) -> Result<SubAckDesc> {
        let mut reason_codes = Vec::new();
        for _ in 0..self.count()? {
            reason_codes.push(self.code(SubscribeReasonCode::ALL, &V3_SUBACK)?);
        }
        Ok(SubAckDesc {
            packet_id: self.packet_id()?,
            properties: self.ack_props()?,
            reason_codes,
        })
    }

    fn unsubscribe(&mut self) -> Result<UnsubscribeDesc> {
        let user_properties = if self.want_props()? {
            self.user_properties()?
        } else {
            Vec::new()
        };
        let mut filters = Vec::new();
        for _ in 0..self.count()? {
            filters.push(self.topic_filter()?);
        }
        Ok(UnsubscribeDesc {
            packet_id: self.packet_id()?,
            user_properties,
            filters,
        })
    }

    fn unsuback(&mut self) -> Result<UnsubAckDesc> {
        let mut reason_codes = Vec::new();
        // 3.x UNSUBACK carries no codes.
        let n = if self.v5() || self.rare()? {
            self.count()?
        } else {
            0
        };
        for _ in 0..n {
            reason_codes.push(*self.u.choose(UnsubscribeReasonCode::ALL)?);
        }
        Ok(UnsubAckDesc {
            packet_id: self.packet_id()?,
            properties: self.ack_props()?,
            reason_codes,
        })
    }

    fn disconnect(&mut self) -> Result<DisconnectDesc> {
        let reason_code = self.code(
            DisconnectReasonCode::ALL,
            &[DisconnectReasonCode::NormalDisconnection],
        )?;
        let properties = if self.want_props()? {
            DisconnectProps {
                session_expiry_interval: self.opt(|g| g.u.arbitrary())?,
                reason_string: self.opt(Self::string)?,
                server_reference: self.opt(Self::string)?,
                user_properties: self.user_properties()?,
            }
        } else {
            DisconnectProps::default()
        };
        Ok(DisconnectDesc {
            reason_code,
            properties,
        })
    }

    fn auth(&mut self) -> Result<AuthDesc> {
        let reason_code = *self.u.choose(AuthReasonCode::ALL)?;
        let properties = if self.want_props()? {
            AuthProps {
                authentication_method: self.opt(Self::string)?,
                authentication_data: self.opt(Self::binary)?,
                reason_string: self.opt(Self::string)?,
                user_properties: self.user_properties()?,
            }
        } else {
            AuthProps::default()
        };
        Ok(AuthDesc {
            reason_code,
            properties,
        })
    }

    fn body(&mut self, ty: PacketType) -> Result<PacketBody> {
        use PacketBody as B;
        Ok(match ty {
            PacketType::Connect => B::Connect(self.connect()?),
            PacketType::ConnAck => B::ConnAck(self.connack()?),
            PacketType::Publish => B::Publish(self.publish()?),
            PacketType::PubAck => {
                B::PubAck(self.ack(PubAckReasonCode::ALL, PubAckReasonCode::Success)?)
            }
            PacketType::PubRec => {
                B::PubRec(self.ack(PubAckReasonCode::ALL, PubAckReasonCode::Success)?)
            }
            PacketType::PubRel => {
                B::PubRel(self.ack(PubRelReasonCode::ALL, PubRelReasonCode::Success)?)
            }
            PacketType::PubComp => {
                B::PubComp(self.ack(PubRelReasonCode::ALL, PubRelReasonCode::Success)?)
            }
            PacketType::Subscribe => B::Subscribe(self.subscribe()?),
            PacketType::SubAck => B::SubAck(self.suback()?),
            PacketType::Unsubscribe => B::Unsubscribe(self.unsubscribe()?),
            PacketType::UnsubAck => B::UnsubAck(self.unsuback()?),
            PacketType::PingReq => B::PingReq,
            PacketType::PingResp => B::PingResp,
            PacketType::Disconnect => B::Disconnect(self.disconnect()?),
            PacketType::Auth => B::Auth(self.auth()?),
        })
    }
}

const V3_CONNACK: [ConnectReasonCode; 6] = [
    ConnectReasonCode::Success,
    ConnectReasonCode::UnsupportedProtocolVersion,
    ConnectReasonCode::ClientIdentifierNotValid,
    ConnectReasonCode::ServerUnavailable,
    ConnectReasonCode::BadUserNameOrPassword,
    ConnectReasonCode::NotAuthorized,
];

const V3_SUBACK: [SubscribeReasonCode; 4] = [
    SubscribeReasonCode::GrantedQoS0,
    SubscribeReasonCode::GrantedQoS1,
    SubscribeReasonCode::GrantedQoS2,
    SubscribeReasonCode::UnspecifiedError,
];

/// Every packet type, in type-number order.
pub const PACKET_TYPES: [PacketType; 15] = [
    PacketType::Connect,
    PacketType::ConnAck,
    PacketType::Publish,
    PacketType::PubAck,
    PacketType::PubRec,
    PacketType::PubRel,
    PacketType::PubComp,
    PacketType::Subscribe,
    PacketType::SubAck,
    PacketType::Unsubscribe,
    PacketType::UnsubAck,
    PacketType::PingReq,
    PacketType::PingResp,
    PacketType::Disconnect,
    PacketType::Auth,
];

impl ArbitraryPacket {
    /// A packet of type `ty` for `version`, from `u` (AUTH under 3.x is
    /// generated too: the encoder must refuse it).
    pub fn generate(
        u: &mut Unstructured<'_>,
        version: ProtocolVersion,
        ty: PacketType,
    ) -> Result<Self> {
        let body = Gen { u, v: version }.body(ty)?;
        Ok(ArbitraryPacket { version, body })
    }
}

impl<'a> Arbitrary<'a> for ArbitraryPacket {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let version: ProtocolVersion = u.arbitrary()?;
        // AUTH exists only in 5.0; under 3.x pick it rarely.
        let n = if version.is_v5() || u.arbitrary::<u8>()? % 32 == 31 {
            15
        } else {
            14
        };
        let ty = PACKET_TYPES[u.int_in_range(0..=n - 1)?];
        Self::generate(u, version, ty)
    }
}
