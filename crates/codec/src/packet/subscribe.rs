//! SUBSCRIBE and SUBACK (3.1.1 §3.8-3.9, 5.0 §3.8-3.9).

use bytes::BufMut;

use super::{ensure, props_len, write_props};
use crate::error::{rules, EncodeError, Rule};
use crate::list::{put_bin, wire_str, Item, List};
use crate::parse::{self, Cx, PResult, Sink};
use crate::properties::{self, AckProperties, SubscribeProperties};
use crate::reason::SubscribeReasonCode;
use crate::topic;
use crate::types::{ProtocolVersion, QoS};

/// When retained messages are sent for a new subscription (5.0 §3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[repr(u8)]
pub enum RetainHandling {
    /// 0: send retained messages when subscribing.
    #[default]
    SendOnSubscribe = 0,
    /// 1: send them only if the subscription did not exist.
    SendIfNew = 1,
    /// 2: do not send them.
    DoNotSend = 2,
}

#[cfg(feature = "serde")]
impl serde::Serialize for RetainHandling {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(*self as u8)
    }
}

/// The options byte of a subscription (3.x: only the QoS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SubscriptionOptions {
    /// Maximum QoS.
    pub qos: QoS,
    /// No Local (5.0).
    pub no_local: bool,
    /// Retain As Published (5.0).
    pub retain_as_published: bool,
    /// Retain Handling (5.0).
    pub retain_handling: RetainHandling,
}

impl SubscriptionOptions {
    /// Options with just a QoS.
    pub const fn qos(qos: QoS) -> Self {
        SubscriptionOptions {
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::SendOnSubscribe,
        }
    }

    /// The options byte.
    pub fn to_byte(self) -> u8 {
        self.qos as u8
            | (self.no_local as u8) << 2
            | (self.retain_as_published as u8) << 3
            | (self.retain_handling as u8) << 4
    }

    /// Options from a byte, ignoring reserved bits and clamping values a
    /// lenient decode let through.
    pub fn from_byte(b: u8) -> Self {
        SubscriptionOptions {
            qos: QoS::from_bits(b & 0x03).unwrap_or(QoS::ExactlyOnce),
            no_local: b & 0x04 != 0,
            retain_as_published: b & 0x08 != 0,
            retain_handling: match (b >> 4) & 0x03 {
                0 => RetainHandling::SendOnSubscribe,
                1 => RetainHandling::SendIfNew,
                _ => RetainHandling::DoNotSend,
            },
        }
    }
}

/// One topic filter with its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Subscription<'a> {
    /// Topic Filter.
    pub filter: &'a str,
    /// Subscription options.
    pub options: SubscriptionOptions,
}

impl<'a> Subscription<'a> {
    /// A subscription with only a QoS.
    pub const fn new(filter: &'a str, qos: QoS) -> Self {
        Subscription {
            filter,
            options: SubscriptionOptions::qos(qos),
        }
    }
}

impl<'a> Item<'a> for Subscription<'a> {
    fn next_from_wire(wire: &mut &'a [u8]) -> Option<Self> {
        let filter = wire_str(wire)?;
        let (&b, rest) = wire.split_first()?;
        *wire = rest;
        Some(Subscription {
            filter,
            options: SubscriptionOptions::from_byte(b),
        })
    }
    fn encoded_len(&self) -> usize {
        3 + self.filter.len()
    }
    fn write<B: BufMut>(&self, buf: &mut B) {
        put_bin(buf, self.filter.as_bytes());
        buf.put_u8(self.options.to_byte());
    }
}

/// A request to subscribe.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Subscribe<'a> {
    /// Packet Identifier.
    pub packet_id: u16,
    /// 5.0 properties (empty in 3.x).
    #[cfg_attr(
        feature = "serde",
        serde(skip_serializing_if = "SubscribeProperties::is_empty")
    )]
    pub properties: SubscribeProperties<'a>,
    /// The filters and their options (at least one).
    pub subscriptions: List<'a, Subscription<'a>>,
}

/// The rule broken by a subscription's options byte, if any.
fn options_rule(b: u8, filter: &str, v: ProtocolVersion) -> Option<&'static Rule> {
    if v.is_v5() {
        if b & 0xC0 != 0 {
            Some(&rules::SUBSCRIBE_OPTIONS_RESERVED)
        } else if b & 0x03 == 3 {
            Some(&rules::SUBSCRIBE_QOS_3)
        } else if (b >> 4) & 0x03 == 3 {
            Some(&rules::RETAIN_HANDLING_3)
        } else if b & 0x04 != 0 && topic::is_shared(filter) {
            Some(&rules::NO_LOCAL_SHARED)
        } else {
            None
        }
    } else if b & 0xFC != 0 {
        Some(&rules::SUBSCRIBE_OPTIONS_RESERVED)
    } else if b & 0x03 == 3 {
        Some(&rules::SUBSCRIBE_QOS_3)
    } else {
        None
    }
}

impl<'a> Subscribe<'a> {
    /// A SUBSCRIBE without properties.
    pub fn new(packet_id: u16, subscriptions: &'a [Subscription<'a>]) -> Self {
        Subscribe {
            packet_id,
            properties: SubscribeProperties::default(),
            subscriptions: List::from_slice(subscriptions),
        }
    }

    /// The common valid SUBSCRIBE, read without the general parser: a
    /// non-zero Packet Identifier, in 5.0 an empty property block, and one
    /// or more filters that are plain ASCII (no NUL), not empty, with any
    /// wildcard filling its level, not starting with "$share" in 5.0 (those
    /// need the shared-subscription checks), each followed by a valid
    /// options byte. `None` means "not this shape": the general parser then
    /// decides and names any broken rule. Strict decoding only; the caller
    /// has checked the fixed header (0x82, shortest Remaining Length) and
    /// that the sender may be a Client.
    #[inline]
    pub(crate) fn decode_plain(body: &'a [u8], v5: bool) -> Option<Self> {
        let packet_id = u16::from_be_bytes([*body.first()?, *body.get(1)?]);
        if packet_id == 0 {
            return None;
        }
        let payload = if v5 {
            // An empty property block.
            match body.get(2)? {
                0 => &body[3..],
                _ => return None,
            }
        } else {
            &body[2..]
        };
        // Options bits that must be clear: the reserved ones, and in 3.x
        // everything above the QoS.
        let reserved = if v5 { 0xC0 } else { 0xFC };
        let mut i = payload;
        loop {
            let len = u16::from_be_bytes([*i.first()?, *i.get(1)?]) as usize;
            let filter = i.get(2..2 + len)?;
            let &options = i.get(2 + len)?;
            if !topic::plain_filter(filter)
                || (v5 && filter.starts_with(b"$share"))
                || options & reserved != 0
                || options & 0x03 == 3
                || (options >> 4) & 0x03 == 3
            {
                return None;
            }
            i = &i[3 + len..];
            if i.is_empty() {
                break;
            }
        }
        Some(Subscribe {
            packet_id,
            properties: SubscribeProperties::default(),
            subscriptions: List::wire(payload),
        })
    }

    pub(crate) fn decode<S: Sink>(input: &'a [u8], cx: &mut Cx<S>) -> PResult<'a, Self> {
        let (i, packet_id) = parse::u16p(input)?;
        cx.check(packet_id == 0, input, &rules::PACKET_ID_ZERO)?;
        let (i, properties) = if cx.v5() {
            properties::parse_set(i, cx)?
        } else {
            (i, SubscribeProperties::default())
        };
        let payload = i;
        cx.check(payload.is_empty(), payload, &rules::SUBSCRIBE_EMPTY)?;
        let mut i = payload;
        while !i.is_empty() {
            let (r, filter) = parse::topic_filter(i, cx)?;
            let (r, b) = parse::u8p(r)?;
            if let Some(rule) = options_rule(b, filter, cx.version) {
                cx.report(&i[i.len() - r.len() - 1..], rule)?;
            }
            i = r;
        }
        Ok((
            i,
            Subscribe {
                packet_id,
                properties,
                subscriptions: List::wire(payload),
            },
        ))
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        ensure(self.packet_id == 0, &rules::PACKET_ID_ZERO, v)?;
        if !v.is_v5() {
            ensure(!self.properties.is_empty(), &rules::VERSION_FEATURE, v)?;
        }
        let mut n = 2 + props_len(&self.properties, v)?;
        let mut count = 0;
        for s in self.subscriptions.iter() {
            if let Some(r) = topic::check_filter(s.filter, v).rule().or(options_rule(
                s.options.to_byte(),
                s.filter,
                v,
            )) {
                return Err(EncodeError::new(r, v));
            }
            n += s.encoded_len();
            count += 1;
        }
        ensure(count == 0, &rules::SUBSCRIBE_EMPTY, v)?;
        Ok(n)
    }

    pub(crate) fn write<B: BufMut>(&self, v: ProtocolVersion, buf: &mut B) {
        buf.put_u16(self.packet_id);
        write_props(&self.properties, v, buf);
        self.subscriptions.write(buf);
    }
}

impl<'a> Item<'a> for SubscribeReasonCode {
    fn next_from_wire(wire: &mut &'a [u8]) -> Option<Self> {
        let (&b, rest) = wire.split_first()?;
        *wire = rest;
        Some(SubscribeReasonCode::from_u8(b).unwrap_or(SubscribeReasonCode::UnspecifiedError))
    }
    fn encoded_len(&self) -> usize {
        1
    }
    fn write<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(self.as_u8());
    }
}

/// The Server's answer to SUBSCRIBE: one code per filter, in order.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SubAck<'a> {
    /// Packet Identifier of the SUBSCRIBE.
    pub packet_id: u16,
    /// 5.0 properties (empty in 3.x).
    #[cfg_attr(
        feature = "serde",
        serde(skip_serializing_if = "AckProperties::is_empty")
    )]
    pub properties: AckProperties<'a>,
    /// Granted QoS or failure, per filter.
    pub reason_codes: List<'a, SubscribeReasonCode>,
}

impl<'a> SubAck<'a> {
    /// A SUBACK without properties.
    pub fn new(packet_id: u16, reason_codes: &'a [SubscribeReasonCode]) -> Self {
        SubAck {
            packet_id,
            properties: AckProperties::default(),
            reason_codes: List::from_slice(reason_codes),
        }
    }

    pub(crate) fn decode<S: Sink>(input: &'a [u8], cx: &mut Cx<S>) -> PResult<'a, Self> {
        let (i, packet_id) = parse::u16p(input)?;
        cx.check(packet_id == 0, input, &rules::PACKET_ID_ZERO)?;
        let (i, properties) = if cx.v5() {
            properties::parse_set(i, cx)?
        } else {
            (i, AckProperties::default())
        };
        cx.check(i.is_empty(), i, &rules::SUBACK_CODE)?;
        for (k, &b) in i.iter().enumerate() {
            let ok = match SubscribeReasonCode::from_u8(b) {
                Some(c) => cx.v5() || c.is_v3(),
                None => false,
            };
            cx.check(!ok, &i[k..], &rules::SUBACK_CODE)?;
        }
        Ok((
            &i[i.len()..],
            SubAck {
                packet_id,
                properties,
                reason_codes: List::wire(i),
            },
        ))
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        ensure(self.packet_id == 0, &rules::PACKET_ID_ZERO, v)?;
        if !v.is_v5() {
            ensure(!self.properties.is_empty(), &rules::VERSION_FEATURE, v)?;
            ensure(
                self.reason_codes.iter().any(|c| !c.is_v3()),
                &rules::SUBACK_CODE,
                v,
            )?;
        }
        let n = self.reason_codes.len();
        ensure(n == 0, &rules::SUBACK_CODE, v)?;
        Ok(2 + props_len(&self.properties, v)? + n)
    }

    pub(crate) fn write<B: BufMut>(&self, v: ProtocolVersion, buf: &mut B) {
        buf.put_u16(self.packet_id);
        write_props(&self.properties, v, buf);
        self.reason_codes.write(buf);
    }
}
