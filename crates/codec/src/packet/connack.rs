//! CONNACK (3.1.1 §3.2, 5.0 §3.2).

use bytes::BufMut;

use super::{ensure, props_len, write_props};
use crate::error::{rules, EncodeError};
use crate::lazy::Lazy;
use crate::parse::{self, Cx, PResult, Sink};
use crate::properties::{self, ConnAckProperties};
use crate::reason::ConnectReasonCode;
use crate::types::ProtocolVersion;

/// The Server's answer to CONNECT.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ConnAck<'a> {
    /// Session Present (always false in 3.1, which has no such flag).
    pub session_present: bool,
    /// The outcome; 3.x return codes are mapped onto the 5.0 codes of the
    /// same meaning ([`ConnectReasonCode::from_v3`]).
    pub reason_code: ConnectReasonCode,
    /// 5.0 properties (empty in 3.x).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Lazy::is_empty"))]
    pub properties: Lazy<'a, ConnAckProperties<'a>>,
}

impl<'a> ConnAck<'a> {
    /// A CONNACK with the given outcome and no properties.
    pub fn new(session_present: bool, reason_code: ConnectReasonCode) -> Self {
        ConnAck {
            session_present,
            reason_code,
            properties: Lazy::none(),
        }
    }

    pub(crate) fn decode<S: Sink>(input: &'a [u8], cx: &mut Cx<S>) -> PResult<'a, Self> {
        let (i, flags) = parse::u8p(input)?;
        // 3.1 has no Session Present flag: the whole byte is reserved.
        let reserved = if cx.version == ProtocolVersion::V3_1 {
            0xFF
        } else {
            0xFE
        };
        cx.check(flags & reserved != 0, input, &rules::CONNACK_RESERVED_FLAGS)?;
        let code_at = i;
        let (i, code) = parse::u8p(i)?;
        let decoded = if cx.v5() {
            ConnectReasonCode::from_u8(code)
        } else {
            ConnectReasonCode::from_v3(code)
        };
        cx.check(decoded.is_none(), code_at, &rules::CONNACK_CODE)?;
        let reason_code = decoded.unwrap_or(ConnectReasonCode::UnspecifiedError);
        let session_present = cx.version != ProtocolVersion::V3_1 && flags & 0x01 != 0;
        cx.check(
            session_present && code != 0,
            input,
            &rules::CONNACK_SESSION_PRESENT_ON_ERROR,
        )?;
        let (i, properties) = if cx.v5() {
            let (i, (_, block)): (_, (ConnAckProperties<'a>, _)) =
                properties::parse_set_block(i, cx)?;
            (i, Lazy::wire(block, ProtocolVersion::V5))
        } else {
            (i, Lazy::none())
        };
        Ok((
            i,
            ConnAck {
                session_present,
                reason_code,
                properties,
            },
        ))
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        if !v.is_v5() {
            ensure(self.reason_code.to_v3().is_none(), &rules::CONNACK_CODE, v)?;
            ensure(
                v == ProtocolVersion::V3_1 && self.session_present,
                &rules::CONNACK_RESERVED_FLAGS,
                v,
            )?;
            ensure(!self.properties.is_empty(), &rules::VERSION_FEATURE, v)?;
        }
        ensure(
            self.session_present && self.reason_code != ConnectReasonCode::Success,
            &rules::CONNACK_SESSION_PRESENT_ON_ERROR,
            v,
        )?;
        Ok(2 + props_len(&self.properties.get(), v)?)
    }

    pub(crate) fn write<B: BufMut>(&self, v: ProtocolVersion, buf: &mut B) {
        buf.put_u8(self.session_present as u8);
        let code = if v.is_v5() {
            self.reason_code.as_u8()
        } else {
            self.reason_code.to_v3().unwrap_or(0)
        };
        buf.put_u8(code);
        write_props(&self.properties.get(), v, buf);
    }
}
