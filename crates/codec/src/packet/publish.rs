//! PUBLISH (3.1.1 §3.3, 5.0 §3.3).

use bytes::BufMut;

use super::{ensure, props_len, write_props};
use crate::error::{rules, EncodeError};
use crate::parse::{self, Cx, PResult, Sink};
use crate::properties::{self, PublishProperties};
use crate::topic;
use crate::types::{ProtocolVersion, QoS, Role};

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
    #[cfg_attr(
        feature = "serde",
        serde(skip_serializing_if = "PublishProperties::is_empty")
    )]
    pub properties: PublishProperties<'a>,
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
            properties: PublishProperties::default(),
            payload,
        }
    }

    pub(crate) fn flags(&self) -> u8 {
        ((self.dup as u8) << 3) | ((self.qos as u8) << 1) | self.retain as u8
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
            let (r, p): (_, PublishProperties<'a>) = properties::parse_set(i, cx)?;
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
            (r, p)
        } else {
            (i, PublishProperties::default())
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
        if self.topic.is_empty() {
            if v.is_v5() {
                ensure(
                    self.properties.topic_alias.is_none(),
                    &rules::EMPTY_TOPIC_WITHOUT_ALIAS,
                    v,
                )?;
            } else {
                return Err(EncodeError::new(&rules::TOPIC_EMPTY, v));
            }
        }
        if !v.is_v5() {
            ensure(!self.properties.is_empty(), &rules::VERSION_FEATURE, v)?;
        }
        let id = if self.qos == QoS::AtMostOnce { 0 } else { 2 };
        Ok(2 + self.topic.len() + id + props_len(&self.properties, v)? + self.payload.len())
    }

    /// Writes the body after the topic's length prefix (which the caller
    /// wrote together with the fixed header).
    #[inline]
    pub(crate) fn write_after_topic_length<B: BufMut>(&self, v: ProtocolVersion, buf: &mut B) {
        buf.put_slice(self.topic.as_bytes());
        if let Some(id) = self.packet_id {
            buf.put_u16(id);
        }
        write_props(&self.properties, v, buf);
        buf.put_slice(self.payload);
    }
}
