//! DISCONNECT (3.1.1 §3.14, 5.0 §3.14).

use bytes::BufMut;

use super::{ensure, props_len, write_props};
use crate::error::{rules, EncodeError};
use crate::parse::{self, Cx, PResult, Sink};
use crate::properties::{self, DisconnectProperties};
use crate::reason::DisconnectReasonCode;
use crate::types::{ProtocolVersion, Role};

/// The last packet of a connection (3.x: Client only; 5.0: either side).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Disconnect<'a> {
    /// Why (always Normal Disconnection in 3.x).
    pub reason_code: DisconnectReasonCode,
    /// 5.0 properties (empty in 3.x).
    #[cfg_attr(
        feature = "serde",
        serde(skip_serializing_if = "DisconnectProperties::is_empty")
    )]
    pub properties: DisconnectProperties<'a>,
}

impl Default for Disconnect<'_> {
    fn default() -> Self {
        Disconnect::new(DisconnectReasonCode::NormalDisconnection)
    }
}

impl<'a> Disconnect<'a> {
    /// A DISCONNECT with a reason and no properties.
    pub fn new(reason_code: DisconnectReasonCode) -> Self {
        Disconnect {
            reason_code,
            properties: DisconnectProperties::default(),
        }
    }

    pub(crate) fn decode<S: Sink>(input: &'a [u8], cx: &mut Cx<S>) -> PResult<'a, Self> {
        if !cx.v5() || input.is_empty() {
            return Ok((input, Disconnect::default()));
        }
        let (i, code) = parse::u8p(input)?;
        let reason_code = match DisconnectReasonCode::from_u8(code) {
            Some(c) => c,
            None => {
                cx.report(input, &rules::DISCONNECT_REASON)?;
                DisconnectReasonCode::UnspecifiedError
            }
        };
        if let (Some(from), Some(sender)) = (cx.from, reason_code.sender()) {
            cx.check(from != sender, input, &rules::DISCONNECT_REASON_DIRECTION)?;
        }
        let (i, properties) = if i.is_empty() {
            (i, DisconnectProperties::default())
        } else {
            let (r, p): (_, DisconnectProperties<'a>) = properties::parse_set(i, cx)?;
            cx.check(
                cx.from == Some(Role::Server) && p.session_expiry_interval.is_some(),
                i,
                &rules::SERVER_DISCONNECT_SESSION_EXPIRY,
            )?;
            (r, p)
        };
        Ok((
            i,
            Disconnect {
                reason_code,
                properties,
            },
        ))
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        if !v.is_v5() {
            ensure(
                self.reason_code != DisconnectReasonCode::NormalDisconnection
                    || !self.properties.is_empty(),
                &rules::VERSION_FEATURE,
                v,
            )?;
            return Ok(0);
        }
        let props = props_len(&self.properties, v)?;
        Ok(if props == 1 {
            if self.reason_code == DisconnectReasonCode::NormalDisconnection {
                0
            } else {
                1
            }
        } else {
            1 + props
        })
    }

    pub(crate) fn write<B: BufMut>(&self, v: ProtocolVersion, buf: &mut B) {
        if !v.is_v5() {
            return;
        }
        let empty = self.properties.is_empty();
        if empty && self.reason_code == DisconnectReasonCode::NormalDisconnection {
            return;
        }
        buf.put_u8(self.reason_code.as_u8());
        if !empty {
            write_props(&self.properties, v, buf);
        }
    }
}
