//! PUBLISH (3.1.1 §3.3, 5.0 §3.3).

use bytes::BufMut;

use super::put;
use super::{ensure, props_len, write_props};
use crate::error::{rules, EncodeError};
use crate::lazy::Lazy;
use crate::parse::{self, Cx, PResult, Sink};
use crate::properties::{self, PublishProperties};
use crate::topic;
use crate::types::{ProtocolVersion, QoS, Role};
use crate::varint;

/// An application message.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Publish<'a> {
    /// DUP: this may be a redelivery.
    pub dup: bool,
    /// QoS of this delivery.
    pub qos: QoS,
    /// RETAIN.
    pub retain: bool,
    /// Topic Name (may be empty in 5.0 when a Topic Alias stands for it).
    pub topic: &'a str,
    /// Packet Identifier: present exactly when QoS > 0.
    pub packet_id: Option<u16>,
    /// 5.0 properties (empty in 3.x).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Lazy::is_empty"))]
    pub properties: Lazy<'a, PublishProperties<'a>>,
    /// The application payload.
    #[cfg_attr(feature = "serde", serde(serialize_with = "crate::serde_bytes::bytes"))]
    pub payload: &'a [u8],
}

impl<'a> Publish<'a> {
    /// A QoS 0 message without properties.
    pub fn new(topic: &'a str, payload: &'a [u8]) -> Self {
        Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic,
            packet_id: None,
            properties: Lazy::none(),
            payload,
        }
    }

    pub(crate) fn flags(&self) -> u8 {
        ((self.dup as u8) << 3) | ((self.qos as u8) << 1) | self.retain as u8
    }

    /// The common valid PUBLISH, read without the general parser: QoS 0-2,
    /// no DUP on QoS 0, a non-empty plain ASCII topic (no NUL, no
    /// wildcard), a non-zero packet id, and in 5.0 an empty property block.
    /// `None` means "not this shape": the general parser then decides,
    /// and reports any violation exactly. Only used when decoding strictly
    /// (a packet this accepts has no violation to report).
    #[inline(always)]
    pub(crate) fn decode_common(body: &'a [u8], flags: u8, v5: bool) -> Option<Self> {
        let qos = QoS::from_bits((flags >> 1) & 0x03)?;
        let dup = flags & 0x08 != 0;
        let qos0 = qos == QoS::AtMostOnce;
        if dup & qos0 || body.len() < 2 {
            return None;
        }
        let tlen = u16::from_be_bytes([body[0], body[1]]) as usize;
        let id_len = if qos0 { 0 } else { 2 };
        let fixed = 2 + tlen + id_len;
        if tlen == 0 || body.len() < fixed + v5 as usize {
            return None;
        }
        let topic = topic::scan_ascii_name(&body[2..2 + tlen])?;
        let packet_id = if qos0 {
            None
        } else {
            let id = u16::from_be_bytes([body[2 + tlen], body[3 + tlen]]);
            if id == 0 {
                return None;
            }
            Some(id)
        };
        let payload_at = if v5 {
            if body[fixed] != 0 {
                return None;
            }
            fixed + 1
        } else {
            fixed
        };
        Some(Publish {
            dup,
            qos,
            retain: flags & 0x01 != 0,
            topic,
            packet_id,
            properties: Lazy::none(),
            payload: &body[payload_at..],
        })
    }

    /// [`decode_common`](Self::decode_common) for a 5.0 PUBLISH whose
    /// property block is short and simple (see [`short_properties`]).
    /// Kept apart (and out of line) so the hot empty-block path stays as
    /// it is; `None` again means "let the general parser decide".
    #[inline(never)]
    pub(crate) fn decode_short_props(body: &'a [u8], flags: u8) -> Option<Self> {
        let qos = QoS::from_bits((flags >> 1) & 0x03)?;
        let dup = flags & 0x08 != 0;
        let qos0 = qos == QoS::AtMostOnce;
        if dup & qos0 || body.len() < 2 {
            return None;
        }
        let tlen = u16::from_be_bytes([body[0], body[1]]) as usize;
        let fixed = 2 + tlen + if qos0 { 0 } else { 2 };
        if tlen == 0 || body.len() <= fixed {
            return None;
        }
        let topic = topic::scan_ascii_name(&body[2..2 + tlen])?;
        let packet_id = if qos0 {
            None
        } else {
            match u16::from_be_bytes([body[2 + tlen], body[3 + tlen]]) {
                0 => return None,
                id => Some(id),
            }
        };
        let len = body[fixed] as usize;
        let end = fixed + 1 + len;
        if len >= 0x80 || body.len() < end {
            return None;
        }
        Some(Publish {
            dup,
            qos,
            retain: flags & 0x01 != 0,
            topic,
            packet_id,
            properties: {
                let block = &body[fixed + 1..end];
                short_properties(block)?;
                Lazy::wire(block, ProtocolVersion::V5)
            },
            payload: &body[end..],
        })
    }

    #[inline(always)]
    pub(crate) fn decode<S: Sink>(
        input: &'a [u8],
        flags: u8,
        packet: &'a [u8],
        cx: &mut Cx<S>,
    ) -> PResult<'a, Self> {
        let dup = flags & 0x08 != 0;
        let retain = flags & 0x01 != 0;
        let qos = match QoS::from_bits((flags >> 1) & 0x03) {
            Some(q) => q,
            None => {
                cx.report(packet, &rules::PUBLISH_QOS_3)?;
                QoS::ExactlyOnce
            }
        };
        cx.check(
            dup && qos == QoS::AtMostOnce,
            packet,
            &rules::PUBLISH_DUP_QOS0,
        )?;
        let v5 = cx.v5();
        let topic_at = input;
        let (i, topic) = parse::topic_name(input, cx, v5, &rules::PUBLISH_TOPIC_WILDCARD)?;
        let (i, packet_id) = if qos != QoS::AtMostOnce {
            let (r, id) = parse::u16p(i)?;
            cx.check(id == 0, i, &rules::PACKET_ID_ZERO)?;
            (r, Some(id))
        } else {
            (i, None)
        };
        let (i, properties) = if v5 {
            let (r, (p, block)): (_, (PublishProperties<'a>, _)) =
                properties::parse_set_block(i, cx)?;
            cx.check(
                topic_at.starts_with(&[0, 0]) && p.topic_alias.is_none(),
                topic_at,
                &rules::EMPTY_TOPIC_WITHOUT_ALIAS,
            )?;
            if cx.from == Some(Role::Client) {
                cx.check(
                    !p.subscription_identifiers.is_empty(),
                    i,
                    &rules::CLIENT_PUBLISH_SUBSCRIPTION_ID,
                )?;
            }
            (r, Lazy::wire(block, ProtocolVersion::V5))
        } else {
            (i, Lazy::none())
        };
        let payload = i;
        Ok((
            &i[i.len()..],
            Publish {
                dup,
                qos,
                retain,
                topic,
                packet_id,
                properties,
                payload,
            },
        ))
    }

    #[inline]
    pub(crate) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        ensure(
            self.dup && self.qos == QoS::AtMostOnce,
            &rules::PUBLISH_DUP_QOS0,
            v,
        )?;
        match (self.qos, self.packet_id) {
            (QoS::AtMostOnce, Some(_)) => {
                return Err(EncodeError::new(&rules::PUBLISH_QOS0_PACKET_ID, v))
            }
            (QoS::AtMostOnce, None) => {}
            (_, None | Some(0)) => return Err(EncodeError::new(&rules::PACKET_ID_ZERO, v)),
            (_, Some(_)) => {}
        }
        if !topic::plain_ascii(self.topic.as_bytes()) || self.topic.len() > 0xFFFF {
            if let Some(r) = topic::check_name(self.topic, &rules::PUBLISH_TOPIC_WILDCARD).rule() {
                return Err(EncodeError::new(r, v));
            }
        }
        let props = self.properties.get();
        if self.topic.is_empty() {
            if v.is_v5() {
                ensure(
                    props.topic_alias.is_none(),
                    &rules::EMPTY_TOPIC_WITHOUT_ALIAS,
                    v,
                )?;
            } else {
                return Err(EncodeError::new(&rules::TOPIC_EMPTY, v));
            }
        }
        if !v.is_v5() {
            ensure(!props.is_empty(), &rules::VERSION_FEATURE, v)?;
        }
        let id = if self.qos == QoS::AtMostOnce { 0 } else { 2 };
        Ok(2 + self.topic.len() + id + props_len(&props, v)? + self.payload.len())
    }

    /// Checks and writes the whole packet (fixed header included); the
    /// PUBLISH arm of `Packet::encode`, kept apart so the most frequent
    /// packet skips the generic dispatch.
    ///
    /// Fast path: a packet of at most 129 bytes (one-byte Remaining
    /// Length) with a valid packet id, no DUP on QoS 0, no property and a
    /// plain ASCII topic (see [`put::plain_topic`]) is written in one go
    /// into the buffer's current chunk when that chunk has room for all of
    /// it. Everything else, every packet to refuse included, goes to
    /// [`encode_general`](Self::encode_general), which finds the exact rule.
    #[inline]
    #[allow(unsafe_code)]
    pub(crate) fn encode<B: BufMut>(
        &self,
        v: ProtocolVersion,
        buf: &mut B,
    ) -> Result<usize, EncodeError> {
        let topic = self.topic.as_bytes();
        let payload = self.payload;
        let (tlen, plen) = (topic.len(), payload.len());
        // The first byte, and the bytes between topic and payload: the
        // packet id (QoS 1 and 2) and, in 5.0, the empty property block's
        // length. `None` for a QoS / DUP / packet id combination the fast
        // path leaves alone (the general path then names the rule, if any
        // is broken).
        let v5 = v.is_v5() as usize;
        let shape = if self.qos == QoS::AtMostOnce {
            match (self.packet_id, self.dup) {
                (None, false) => Some((0x30 | self.retain as u32, v5)),
                _ => None,
            }
        } else {
            match self.packet_id {
                Some(id) if id != 0 => Some((0x30 | self.flags() as u32, 2 + v5)),
                _ => None,
            }
        };
        let Some((byte0, mid)) = shape else {
            return self.encode_general(v, buf);
        };
        // No overflow: a slice is at most `isize::MAX` bytes long.
        let tp = tlen + plen;
        let fast = (tp + mid <= 125) & no_properties(&self.properties);
        if !fast {
            return self.encode_general(v, buf);
        }
        // The packet fits a one-byte Remaining Length: at most 129 bytes.
        let at = 4 + tlen;
        let total = at + mid + plen;
        // Fixed header, then the topic length (high byte 0).
        let head = byte0 | ((total - 2) as u32) << 8 | (tlen as u32) << 24;
        let room = buf.chunk_mut();
        if room.len() < total {
            return self.encode_general(v, buf);
        }
        let out = room.as_mut_ptr();
        // SAFETY: `out` points at `room`, the current chunk of `buf`, valid
        // for writes of `room.len() >= total` bytes; `room` is borrowed
        // mutably (from `buf`) while `self`'s topic and payload are
        // borrowed shared, so it overlaps neither. Every write below stays
        // in `out[..total]` and together they cover all of it, which is
        // what `advance_mut(total)` requires (the next `total` bytes of
        // the chunk initialized): the header `out[..4]`, the topic
        // `out[4..at]` (`put_plain_topic` writes all of it when it returns
        // true, nothing when false), then `mid` bytes: the packet id
        // `out[at..at + 2]`, present exactly when QoS > 0 (the match above
        // lets nothing else through), which is when `mid` counts 2 for it,
        // and in 5.0 the property length byte `out[at + mid - 1]`, counted
        // as 1; last the payload `out[at + mid..total]`. Nothing touches
        // `buf` between `chunk_mut` and `advance_mut` but these writes.
        unsafe {
            // The topic first: it is the only thing left to check, and
            // nothing may be written before the packet is known valid.
            if !put::put_plain_topic(out.add(4), topic) {
                return self.encode_general(v, buf);
            }
            put::store(out, 0, head.to_le_bytes());
            if let Some(id) = self.packet_id {
                put::store(out, at, id.to_be_bytes());
            }
            if v.is_v5() {
                put::store(out, at + mid - 1, [0]);
            }
            put::bytes(out.add(at + mid), payload);
            buf.advance_mut(total);
        }
        Ok(total)
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn encode_general<B: BufMut>(
        &self,
        v: ProtocolVersion,
        buf: &mut B,
    ) -> Result<usize, EncodeError> {
        let body = self.body_len(v)?;
        if body > varint::MAX as usize {
            return Err(EncodeError::new(&rules::PACKET_TOO_LARGE, v));
        }
        let mut head = [0u8; 7];
        head[0] = 0x30 | self.flags();
        let mut len = [0u8; 4];
        let k = varint::write_into(&mut len, body as u32);
        head[1..1 + k].copy_from_slice(&len[..k]);
        let n = 1 + k;
        let total = n + body;
        if buf.remaining_mut() < total {
            return Err(EncodeError::new(&rules::OUTPUT_TOO_SMALL, v));
        }
        head[n..n + 2].copy_from_slice(&(self.topic.len() as u16).to_be_bytes());
        buf.put_slice(&head[..n + 2]);
        buf.put_slice(self.topic.as_bytes());
        if let Some(id) = self.packet_id {
            buf.put_u16(id);
        }
        write_props(&self.properties.get(), v, buf);
        buf.put_slice(self.payload);
        Ok(total)
    }
}

/// The short 5.0 property blocks the fast path reads itself: Payload Format
/// Indicator (0 or 1), Message Expiry Interval and a non-zero Topic Alias,
/// each at most once. Anything else (another property, a duplicate, a bad
/// value, a truncated one) is `None`: the general parser decides and names
/// the rule. The caller has checked that the topic is not empty, so no
/// alias rule depends on it, and no Subscription Identifier is accepted, so
/// the direction rule cannot apply.
#[inline]
fn short_properties<'a>(mut b: &[u8]) -> Option<PublishProperties<'a>> {
    let mut p = PublishProperties::default();
    while let Some((&pid, rest)) = b.split_first() {
        match pid {
            properties::id::PAYLOAD_FORMAT_INDICATOR if p.payload_format_indicator.is_none() => {
                let (&v, r) = rest.split_first()?;
                if v > 1 {
                    return None;
                }
                p.payload_format_indicator = Some(v);
                b = r;
            }
            properties::id::MESSAGE_EXPIRY_INTERVAL if p.message_expiry_interval.is_none() => {
                let v = rest.get(..4)?;
                p.message_expiry_interval = Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
                b = &rest[4..];
            }
            properties::id::TOPIC_ALIAS if p.topic_alias.is_none() => {
                let v = rest.get(..2)?;
                let alias = u16::from_be_bytes([v[0], v[1]]);
                if alias == 0 {
                    return None;
                }
                p.topic_alias = Some(alias);
                b = &rest[2..];
            }
            _ => return None,
        }
    }
    Some(p)
}

/// True only when `p` sets no property (false may still mean none: a
/// decoded list whose bytes hold other properties only, which the general
/// path then encodes exactly). A straight line of loads and ors, no branch
/// per field: an unset string or byte property is a null pointer, so the
/// three are or-ed as addresses, and a list is empty when it borrows
/// nothing (see `List::raw_len`).
#[inline(always)]
fn no_properties(p: &Lazy<'_, PublishProperties<'_>>) -> bool {
    match p.wire_bytes() {
        Some(block) => block.is_empty(),
        None => no_built_properties(&p.get()),
    }
}

/// [`no_properties`] for a set built by the caller.
#[inline(always)]
fn no_built_properties(p: &PublishProperties<'_>) -> bool {
    let addr = |s: Option<&[u8]>| s.map_or(0, |s| s.as_ptr() as usize);
    let strings = addr(p.response_topic.map(str::as_bytes))
        | addr(p.correlation_data)
        | addr(p.content_type.map(str::as_bytes));
    let scalars = p.payload_format_indicator.is_some() as usize
        | p.message_expiry_interval.is_some() as usize
        | p.topic_alias.is_some() as usize;
    let lists = p.user_properties.raw_len() | p.subscription_identifiers.raw_len();
    (strings | scalars | lists) == 0
}
