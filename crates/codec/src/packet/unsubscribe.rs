//! UNSUBSCRIBE and UNSUBACK (3.1.1 §3.10-3.11, 5.0 §3.10-3.11).

use bytes::BufMut;

use super::{ensure, props_len, write_props};
use crate::error::{rules, EncodeError};
use crate::list::{Item, List};
use crate::parse::{self, Cx, PResult, Sink};
use crate::properties::{self, AckProperties, UnsubscribeProperties};
use crate::reason::UnsubscribeReasonCode;
use crate::topic;
use crate::types::ProtocolVersion;

/// A request to remove subscriptions.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Unsubscribe<'a> {
    /// Packet Identifier.
    pub packet_id: u16,
    /// 5.0 properties (empty in 3.x).
    #[cfg_attr(
        feature = "serde",
        serde(skip_serializing_if = "UnsubscribeProperties::is_empty")
    )]
    pub properties: UnsubscribeProperties<'a>,
    /// Topic Filters to remove (at least one).
    pub filters: List<'a, &'a str>,
}

impl<'a> Unsubscribe<'a> {
    /// An UNSUBSCRIBE without properties.
    pub fn new(packet_id: u16, filters: &'a [&'a str]) -> Self {
        Unsubscribe {
            packet_id,
            properties: UnsubscribeProperties::default(),
            filters: List::from_slice(filters),
        }
    }

    pub(crate) fn decode<S: Sink>(input: &'a [u8], cx: &mut Cx<S>) -> PResult<'a, Self> {
        let (i, packet_id) = parse::u16p(input)?;
        cx.check(packet_id == 0, input, &rules::PACKET_ID_ZERO)?;
        let (i, properties) = if cx.v5() {
            properties::parse_set(i, cx)?
        } else {
            (i, UnsubscribeProperties::default())
        };
        let payload = i;
        cx.check(payload.is_empty(), payload, &rules::UNSUBSCRIBE_EMPTY)?;
        let mut i = payload;
        while !i.is_empty() {
            let (r, _) = parse::topic_filter(i, cx)?;
            i = r;
        }
        Ok((
            i,
            Unsubscribe {
                packet_id,
                properties,
                filters: List::wire(payload),
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
        for f in self.filters.iter() {
            if let Some(r) = topic::check_filter(f, v).rule() {
                return Err(EncodeError::new(r, v));
            }
            n += f.encoded_len();
            count += 1;
        }
        ensure(count == 0, &rules::UNSUBSCRIBE_EMPTY, v)?;
        Ok(n)
    }

    pub(crate) fn write<B: BufMut>(&self, v: ProtocolVersion, buf: &mut B) {
        buf.put_u16(self.packet_id);
        write_props(&self.properties, v, buf);
        self.filters.write(buf);
    }
}

impl<'a> Item<'a> for UnsubscribeReasonCode {
    fn next_from_wire(wire: &mut &'a [u8]) -> Option<Self> {
        let (&b, rest) = wire.split_first()?;
        *wire = rest;
        Some(UnsubscribeReasonCode::from_u8(b).unwrap_or(UnsubscribeReasonCode::UnspecifiedError))
    }
    fn encoded_len(&self) -> usize {
        1
    }
    fn write<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(self.as_u8());
    }
}

/// The Server's answer to UNSUBSCRIBE (3.x: just the packet identifier).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct UnsubAck<'a> {
    /// Packet Identifier of the UNSUBSCRIBE.
    pub packet_id: u16,
    /// 5.0 properties (empty in 3.x).
    #[cfg_attr(
        feature = "serde",
        serde(skip_serializing_if = "AckProperties::is_empty")
    )]
    pub properties: AckProperties<'a>,
    /// 5.0: one code per filter (empty in 3.x).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "List::is_empty"))]
    pub reason_codes: List<'a, UnsubscribeReasonCode>,
}

impl<'a> UnsubAck<'a> {
    /// An UNSUBACK without properties.
    pub fn new(packet_id: u16, reason_codes: &'a [UnsubscribeReasonCode]) -> Self {
        UnsubAck {
            packet_id,
            properties: AckProperties::default(),
            reason_codes: List::from_slice(reason_codes),
        }
    }

    pub(crate) fn decode<S: Sink>(input: &'a [u8], cx: &mut Cx<S>) -> PResult<'a, Self> {
        let (i, packet_id) = parse::u16p(input)?;
        cx.check(packet_id == 0, input, &rules::PACKET_ID_ZERO)?;
        if !cx.v5() {
            return Ok((i, UnsubAck::new(packet_id, &[])));
        }
        let (i, properties) = properties::parse_set(i, cx)?;
        cx.check(i.is_empty(), i, &rules::UNSUBACK_REASON)?;
        for (k, &b) in i.iter().enumerate() {
            cx.check(
                UnsubscribeReasonCode::from_u8(b).is_none(),
                &i[k..],
                &rules::UNSUBACK_REASON,
            )?;
        }
        Ok((
            &i[i.len()..],
            UnsubAck {
                packet_id,
                properties,
                reason_codes: List::wire(i),
            },
        ))
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        ensure(self.packet_id == 0, &rules::PACKET_ID_ZERO, v)?;
        if !v.is_v5() {
            ensure(
                !self.properties.is_empty() || !self.reason_codes.is_empty(),
                &rules::VERSION_FEATURE,
                v,
            )?;
            return Ok(2);
        }
        let n = self.reason_codes.len();
        ensure(n == 0, &rules::UNSUBACK_REASON, v)?;
        Ok(2 + props_len(&self.properties, v)? + n)
    }

    pub(crate) fn write<B: BufMut>(&self, v: ProtocolVersion, buf: &mut B) {
        buf.put_u16(self.packet_id);
        if v.is_v5() {
            write_props(&self.properties, v, buf);
            self.reason_codes.write(buf);
        }
    }
}
