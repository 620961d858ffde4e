//! CONNECT (3.1.1 §3.1, 5.0 §3.1).

use bytes::BufMut;

use super::{ensure, props_len, write_props};
use crate::error::{rules, EncodeError};
use crate::lazy::FromWire;
use crate::list::put_bin;
use crate::parse::{self, fail, Cx, PResult, Sink};
use crate::properties::{self, str_rule, ConnectProperties, WillProperties};
use crate::topic;
use crate::types::{ProtocolVersion, QoS};

/// A Client's request to connect.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Connect<'a> {
    /// The version announced by protocol name and level.
    pub protocol: ProtocolVersion,
    /// Clean Session (3.x) / Clean Start (5.0).
    pub clean_start: bool,
    /// Keep Alive in seconds; 0 turns it off.
    pub keep_alive: u16,
    /// 5.0 properties (empty in 3.x).
    #[cfg_attr(
        feature = "serde",
        serde(skip_serializing_if = "ConnectProperties::is_empty")
    )]
    pub properties: ConnectProperties<'a>,
    /// Client Identifier (may be empty).
    pub client_id: &'a str,
    /// The will message, when the Will Flag is set.
    pub will: Option<Will<'a>>,
    /// User Name, when its flag is set.
    pub username: Option<&'a str>,
    /// Password, when its flag is set.
    #[cfg_attr(feature = "serde", serde(serialize_with = "crate::serde_bytes::opt"))]
    pub password: Option<&'a [u8]>,
}

/// The will message carried in CONNECT.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Will<'a> {
    /// Will QoS.
    pub qos: QoS,
    /// Will Retain.
    pub retain: bool,
    /// 5.0 will properties (empty in 3.x).
    #[cfg_attr(
        feature = "serde",
        serde(skip_serializing_if = "WillProperties::is_empty")
    )]
    pub properties: WillProperties<'a>,
    /// Will Topic.
    pub topic: &'a str,
    /// Will Message / Will Payload.
    #[cfg_attr(feature = "serde", serde(serialize_with = "crate::serde_bytes::bytes"))]
    pub payload: &'a [u8],
}

const RESERVED: u8 = 0x01;
const CLEAN: u8 = 0x02;
const WILL: u8 = 0x04;
const WILL_RETAIN: u8 = 0x20;
const PASSWORD: u8 = 0x40;
const USERNAME: u8 = 0x80;

impl<'a> FromWire<'a> for Connect<'a> {
    #[inline]
    fn from_wire(body: &'a [u8], version: ProtocolVersion) -> Self {
        Self::read_again(body, version)
    }
}

impl<'a> Connect<'a> {
    /// A CONNECT with the given version and client id, clean start, keep
    /// alive 60 s and nothing else.
    pub fn new(protocol: ProtocolVersion, client_id: &'a str) -> Self {
        Connect {
            protocol,
            clean_start: true,
            keep_alive: 60,
            properties: ConnectProperties::default(),
            client_id,
            will: None,
            username: None,
            password: None,
        }
    }

    /// The common valid CONNECT, read without the general parser: protocol
    /// name "MQTT" with level 4 or 5, no will, no reserved bit, in 5.0 an
    /// empty property block, and a Client Identifier, User Name and
    /// Password (when flagged) that are plain ASCII without NUL, with no
    /// byte left over. `None` means "not this shape": the general parser
    /// then decides and names any broken rule. Strict decoding only (a
    /// packet accepted here has no violation to report); the caller has
    /// checked the fixed header (0x10, shortest Remaining Length) and that
    /// the sender may be a Client.
    #[inline]
    pub(crate) fn decode_plain(body: &'a [u8]) -> Option<Self> {
        // Protocol name and level, Connect Flags, Keep Alive.
        let head: &[u8; 10] = body.get(..10)?.try_into().ok()?;
        let [0, 4, b'M', b'Q', b'T', b'T', level, flags, ka0, ka1] = *head else {
            return None;
        };
        let protocol = match level {
            4 => ProtocolVersion::V3_1_1,
            5 => ProtocolVersion::V5,
            _ => return None,
        };
        // No will (nor its QoS and Retain bits), reserved bit clear.
        if flags & (RESERVED | WILL | WILL_RETAIN | 0x18) != 0 {
            return None;
        }
        let v5 = protocol.is_v5();
        let clean_start = flags & CLEAN != 0;
        let has_user = flags & USERNAME != 0;
        let has_pass = flags & PASSWORD != 0;
        if !v5 && has_pass && !has_user {
            return None;
        }
        let mut i = &body[10..];
        if v5 {
            // An empty property block.
            let (&0, rest) = i.split_first()? else {
                return None;
            };
            i = rest;
        }
        let client_id = plain_str(&mut i)?;
        if !v5 && client_id.is_empty() && !clean_start {
            return None;
        }
        let username = if has_user {
            Some(plain_str(&mut i)?)
        } else {
            None
        };
        let password = if has_pass {
            Some(plain_bin(&mut i)?)
        } else {
            None
        };
        if !i.is_empty() {
            return None;
        }
        Some(Connect {
            protocol,
            clean_start,
            keep_alive: u16::from_be_bytes([ka0, ka1]),
            properties: ConnectProperties::default(),
            client_id,
            will: None,
            username,
            password,
        })
    }

    /// Reads a CONNECT body that decoded before (see [`crate::lazy`]).
    fn read_again(body: &'a [u8], version: ProtocolVersion) -> Self {
        match Self::decode(body, &mut Cx::ignoring(version, body)) {
            Ok((_, c)) => c,
            // Unreachable: the same bytes decoded before, and decoding is
            // deterministic. A harmless value rather than a panic.
            Err(_) => Connect::new(version, ""),
        }
    }

    pub(crate) fn decode<S: Sink>(input: &'a [u8], cx: &mut Cx<S>) -> PResult<'a, Self> {
        let (i, name) = parse::binary(input)?;
        let level_at = i;
        let (i, level) = parse::u8p(i)?;
        let Some(protocol) = ProtocolVersion::from_level(level) else {
            return fail(level_at, &rules::PROTOCOL_LEVEL);
        };
        cx.version = protocol;
        // Compared with constants (not `protocol_name()`), which the
        // compiler turns into one load and compare instead of a memcmp call.
        let name_ok = match protocol {
            ProtocolVersion::V3_1 => name == b"MQIsdp",
            _ => name == b"MQTT",
        };
        cx.check(!name_ok, input, &rules::PROTOCOL_NAME)?;
        let flags_at = i;
        let (i, flags) = parse::u8p(i)?;
        let will_flag = flags & WILL != 0;
        let will_qos_bits = (flags >> 3) & 0x03;
        cx.check(
            flags & RESERVED != 0,
            flags_at,
            &rules::CONNECT_RESERVED_FLAG,
        )?;
        if will_flag {
            cx.check(will_qos_bits == 3, flags_at, &rules::WILL_QOS_3)?;
        } else {
            cx.check(will_qos_bits != 0, flags_at, &rules::WILL_QOS_WITHOUT_WILL)?;
            cx.check(
                flags & WILL_RETAIN != 0,
                flags_at,
                &rules::WILL_RETAIN_WITHOUT_WILL,
            )?;
        }
        if !protocol.is_v5() {
            cx.check(
                flags & PASSWORD != 0 && flags & USERNAME == 0,
                flags_at,
                &rules::PASSWORD_WITHOUT_USERNAME,
            )?;
        }
        let clean_start = flags & CLEAN != 0;
        let (i, keep_alive) = parse::u16p(i)?;
        let (i, properties) = if protocol.is_v5() {
            let (r, p): (_, ConnectProperties<'a>) = properties::parse_set(i, cx)?;
            cx.check(
                p.authentication_data.is_some() && p.authentication_method.is_none(),
                i,
                &rules::AUTH_DATA_WITHOUT_METHOD,
            )?;
            (r, p)
        } else {
            (i, ConnectProperties::default())
        };

        // Payload: Client Identifier, will, User Name, Password, in order.
        if i.is_empty() {
            return fail(i, &rules::CLIENT_ID_MISSING);
        }
        let id_at = i;
        let (i, client_id) = parse::string(i, cx)?;
        if !protocol.is_v5() {
            cx.check(
                client_id.is_empty() && !clean_start,
                id_at,
                &rules::EMPTY_CLIENT_ID_PERSISTENT,
            )?;
        }
        let (i, will) = if will_flag {
            if i.is_empty() {
                return fail(i, &rules::WILL_FIELDS_MISSING);
            }
            let (i, wp) = if protocol.is_v5() {
                properties::parse_set(i, cx)?
            } else {
                (i, WillProperties::default())
            };
            if i.is_empty() {
                return fail(i, &rules::WILL_FIELDS_MISSING);
            }
            let (i, topic) = parse::topic_name(i, cx, false, &rules::TOPIC_NAME_WILDCARD)?;
            if i.is_empty() {
                return fail(i, &rules::WILL_FIELDS_MISSING);
            }
            let (i, payload) = parse::binary(i)?;
            let will = Will {
                qos: QoS::from_bits(will_qos_bits).unwrap_or(QoS::ExactlyOnce),
                retain: flags & WILL_RETAIN != 0,
                properties: wp,
                topic,
                payload,
            };
            (i, Some(will))
        } else {
            (i, None)
        };
        let (i, username) = if flags & USERNAME != 0 {
            if i.is_empty() {
                return fail(i, &rules::USERNAME_MISSING);
            }
            let (i, u) = parse::string(i, cx)?;
            (i, Some(u))
        } else {
            (i, None)
        };
        let (i, password) = if flags & PASSWORD != 0 {
            if i.is_empty() {
                return fail(i, &rules::PASSWORD_MISSING);
            }
            let (i, p) = parse::binary(i)?;
            (i, Some(p))
        } else {
            (i, None)
        };
        Ok((
            i,
            Connect {
                protocol,
                clean_start,
                keep_alive,
                properties,
                client_id,
                will,
                username,
                password,
            },
        ))
    }

    fn flags(&self) -> u8 {
        let mut f = 0;
        if self.clean_start {
            f |= CLEAN;
        }
        if let Some(w) = &self.will {
            f |= WILL | ((w.qos as u8) << 3);
            if w.retain {
                f |= WILL_RETAIN;
            }
        }
        if self.password.is_some() {
            f |= PASSWORD;
        }
        if self.username.is_some() {
            f |= USERNAME;
        }
        f
    }

    pub(crate) fn body_len(&self) -> Result<usize, EncodeError> {
        let v = self.protocol;
        let fail = |r| Err(EncodeError::new(r, v));
        let mut n = 2 + v.protocol_name().len() + 1 + 1 + 2;
        if !v.is_v5() {
            ensure(!self.properties.is_empty(), &rules::VERSION_FEATURE, v)?;
            ensure(
                self.password.is_some() && self.username.is_none(),
                &rules::PASSWORD_WITHOUT_USERNAME,
                v,
            )?;
            ensure(
                self.client_id.is_empty() && !self.clean_start,
                &rules::EMPTY_CLIENT_ID_PERSISTENT,
                v,
            )?;
        }
        ensure(
            self.properties.authentication_data.is_some()
                && self.properties.authentication_method.is_none(),
            &rules::AUTH_DATA_WITHOUT_METHOD,
            v,
        )?;
        n += props_len(&self.properties, v)?;
        if let Some(r) = str_rule(self.client_id) {
            return fail(r);
        }
        n += 2 + self.client_id.len();
        if let Some(w) = &self.will {
            if !v.is_v5() {
                ensure(!w.properties.is_empty(), &rules::VERSION_FEATURE, v)?;
            }
            n += props_len(&w.properties, v)?;
            if let Some(r) = topic::check_name(w.topic, &rules::TOPIC_NAME_WILDCARD).rule() {
                return fail(r);
            }
            ensure(w.topic.is_empty(), &rules::TOPIC_EMPTY, v)?;
            ensure(w.payload.len() > 0xFFFF, &rules::FIELD_TOO_LONG, v)?;
            n += 4 + w.topic.len() + w.payload.len();
        }
        if let Some(u) = self.username {
            if let Some(r) = str_rule(u) {
                return fail(r);
            }
            n += 2 + u.len();
        }
        if let Some(p) = self.password {
            ensure(p.len() > 0xFFFF, &rules::FIELD_TOO_LONG, v)?;
            n += 2 + p.len();
        }
        Ok(n)
    }

    pub(crate) fn write<B: BufMut>(&self, buf: &mut B) {
        let v = self.protocol;
        put_bin(buf, v.protocol_name().as_bytes());
        buf.put_u8(v.level());
        buf.put_u8(self.flags());
        buf.put_u16(self.keep_alive);
        write_props(&self.properties, v, buf);
        put_bin(buf, self.client_id.as_bytes());
        if let Some(w) = &self.will {
            write_props(&w.properties, v, buf);
            put_bin(buf, w.topic.as_bytes());
            put_bin(buf, w.payload);
        }
        if let Some(u) = self.username {
            put_bin(buf, u.as_bytes());
        }
        if let Some(p) = self.password {
            put_bin(buf, p);
        }
    }
}

/// A length-prefixed field at the start of `i`, advancing past it; `None`
/// when the length runs past the end.
#[inline(always)]
fn plain_bin<'a>(i: &mut &'a [u8]) -> Option<&'a [u8]> {
    let w: &'a [u8] = i;
    let len = u16::from_be_bytes([*w.first()?, *w.get(1)?]) as usize;
    let data = w.get(2..2 + len)?;
    *i = &w[2 + len..];
    Some(data)
}

/// [`plain_bin`] for a UTF-8 string field whose bytes are all ASCII and
/// none NUL (the shape that needs no further check); `None` otherwise.
#[inline(always)]
fn plain_str<'a>(i: &mut &'a [u8]) -> Option<&'a str> {
    let data = plain_bin(i)?;
    topic::ascii_nonul_str(data).map(|(s, _)| s)
}
