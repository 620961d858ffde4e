//! PUBACK, PUBREC, PUBREL and PUBCOMP (3.1.1 §3.4-3.7, 5.0 §3.4-3.7): a
//! packet identifier, and in 5.0 an optional reason code and properties.

use bytes::BufMut;

use super::{ensure, props_len, write_props};
use crate::error::{rules, EncodeError, Rule};
use crate::parse::{self, Cx, PResult, Sink};
use crate::properties::{self, AckProperties};
use crate::reason::{PubAckReasonCode, PubRelReasonCode};
use crate::types::ProtocolVersion;

/// A reason code type usable in a publish acknowledgement.
pub trait AckReason: Copy + PartialEq + core::fmt::Debug {
    /// The Success code (0x00).
    const SUCCESS: Self;
    /// What a lenient decode keeps for an undefined code.
    const FALLBACK: Self;
    /// Code for a byte, if defined.
    fn from_byte(b: u8) -> Option<Self>;
    /// The byte.
    fn byte(self) -> u8;
}

impl AckReason for PubAckReasonCode {
    const SUCCESS: Self = PubAckReasonCode::Success;
    const FALLBACK: Self = PubAckReasonCode::UnspecifiedError;
    fn from_byte(b: u8) -> Option<Self> {
        Self::from_u8(b)
    }
    fn byte(self) -> u8 {
        self.as_u8()
    }
}

impl AckReason for PubRelReasonCode {
    const SUCCESS: Self = PubRelReasonCode::Success;
    const FALLBACK: Self = PubRelReasonCode::PacketIdentifierNotFound;
    fn from_byte(b: u8) -> Option<Self> {
        Self::from_u8(b)
    }
    fn byte(self) -> u8 {
        self.as_u8()
    }
}

/// A response in the QoS 1/2 flows.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PubResponse<'a, R> {
    /// The Packet Identifier of the PUBLISH (or PUBREC/PUBREL) answered.
    pub packet_id: u16,
    /// The outcome (always Success in 3.x).
    pub reason_code: R,
    /// 5.0 properties (empty in 3.x).
    #[cfg_attr(
        feature = "serde",
        serde(skip_serializing_if = "AckProperties::is_empty")
    )]
    pub properties: AckProperties<'a>,
}

/// PUBACK: answer to a QoS 1 PUBLISH.
pub type PubAck<'a> = PubResponse<'a, PubAckReasonCode>;
/// PUBREC: first answer to a QoS 2 PUBLISH.
pub type PubRec<'a> = PubResponse<'a, PubAckReasonCode>;
/// PUBREL: answer to PUBREC.
pub type PubRel<'a> = PubResponse<'a, PubRelReasonCode>;
/// PUBCOMP: answer to PUBREL.
pub type PubComp<'a> = PubResponse<'a, PubRelReasonCode>;

impl<'a, R: AckReason> PubResponse<'a, R> {
    /// A successful response without properties.
    pub fn new(packet_id: u16) -> Self {
        PubResponse {
            packet_id,
            reason_code: R::SUCCESS,
            properties: AckProperties::default(),
        }
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        ensure(self.packet_id == 0, &rules::PACKET_ID_ZERO, v)?;
        if !v.is_v5() {
            ensure(
                self.reason_code != R::SUCCESS || !self.properties.is_empty(),
                &rules::VERSION_FEATURE,
                v,
            )?;
            return Ok(2);
        }
        let props = props_len(&self.properties, v)?;
        Ok(if props == 1 {
            // Empty properties: the short forms (2 bytes for Success).
            if self.reason_code == R::SUCCESS {
                2
            } else {
                3
            }
        } else {
            3 + props
        })
    }

    pub(crate) fn write<B: BufMut>(&self, v: ProtocolVersion, buf: &mut B) {
        buf.put_u16(self.packet_id);
        if v.is_v5() {
            let empty = self.properties.is_empty();
            if empty && self.reason_code == R::SUCCESS {
                return;
            }
            buf.put_u8(self.reason_code.byte());
            if !empty {
                write_props(&self.properties, v, buf);
            }
        }
    }
}

pub(crate) fn decode<'a, S: Sink, R: AckReason>(
    input: &'a [u8],
    cx: &mut Cx<S>,
    undefined: &'static Rule,
) -> PResult<'a, PubResponse<'a, R>> {
    let (i, packet_id) = parse::u16p(input)?;
    cx.check(packet_id == 0, input, &rules::PACKET_ID_ZERO)?;
    if !cx.v5() || i.is_empty() {
        return Ok((i, PubResponse::new(packet_id)));
    }
    let code_at = i;
    let (i, code) = parse::u8p(i)?;
    let reason_code = match R::from_byte(code) {
        Some(c) => c,
        None => {
            cx.report(code_at, undefined)?;
            R::FALLBACK
        }
    };
    let (i, properties) = if i.is_empty() {
        (i, AckProperties::default())
    } else {
        properties::parse_set(i, cx)?
    };
    Ok((
        i,
        PubResponse {
            packet_id,
            reason_code,
            properties,
        },
    ))
}
