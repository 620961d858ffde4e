//! AUTH (5.0 §3.15): enhanced authentication exchange.

use bytes::BufMut;

use super::{ensure, props_len, write_props};
use crate::error::{rules, EncodeError};
use crate::parse::{self, Cx, PResult, Sink};
use crate::properties::{self, AuthProperties};
use crate::reason::AuthReasonCode;
use crate::types::ProtocolVersion;

/// One step of an enhanced authentication exchange (5.0 only).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Auth<'a> {
    /// Success, Continue Authentication or Re-authenticate.
    pub reason_code: AuthReasonCode,
    /// Properties: method, data, reason string, user properties.
    #[cfg_attr(
        feature = "serde",
        serde(skip_serializing_if = "AuthProperties::is_empty")
    )]
    pub properties: AuthProperties<'a>,
}

impl<'a> Auth<'a> {
    /// An AUTH with a reason and no properties.
    pub fn new(reason_code: AuthReasonCode) -> Self {
        Auth {
            reason_code,
            properties: AuthProperties::default(),
        }
    }

    pub(crate) fn decode<S: Sink>(input: &'a [u8], cx: &mut Cx<S>) -> PResult<'a, Self> {
        if input.is_empty() {
            return Ok((input, Auth::new(AuthReasonCode::Success)));
        }
        let (i, code) = parse::u8p(input)?;
        let reason_code = match AuthReasonCode::from_u8(code) {
            Some(c) => c,
            None => {
                cx.report(input, &rules::AUTH_REASON)?;
                AuthReasonCode::ContinueAuthentication
            }
        };
        // Only a Success without properties may leave out the Reason Code
        // and the Property Length (then Remaining Length is 0); a Reason
        // Code is always followed by a Property Length (5.0 §3.15.2).
        let (i, properties) = properties::parse_set(i, cx)?;
        Ok((
            i,
            Auth {
                reason_code,
                properties,
            },
        ))
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        ensure(!v.is_v5(), &rules::PACKET_TYPE_RESERVED, v)?;
        let props = props_len(&self.properties, v)?;
        Ok(
            if props == 1 && self.reason_code == AuthReasonCode::Success {
                0
            } else {
                1 + props
            },
        )
    }

    pub(crate) fn write<B: BufMut>(&self, v: ProtocolVersion, buf: &mut B) {
        if self.properties.is_empty() && self.reason_code == AuthReasonCode::Success {
            return;
        }
        buf.put_u8(self.reason_code.as_u8());
        write_props(&self.properties, v, buf);
    }
}
