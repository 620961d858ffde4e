//! The fifteen control packets: one file per family, each with its decoder
//! (nom parsers over the packet body) and its encoder.

mod ack;
mod auth;
mod connack;
mod connect;
mod disconnect;
mod publish;
mod put;
mod subscribe;
mod unsubscribe;

use bytes::BufMut;

pub use ack::{PubAck, PubComp, PubRec, PubRel, PubResponse};
pub use auth::Auth;
pub use connack::ConnAck;
pub use connect::{Connect, Will};
pub use disconnect::Disconnect;
pub use publish::Publish;
pub use subscribe::{RetainHandling, SubAck, Subscribe, Subscription, SubscriptionOptions};
pub use unsubscribe::{UnsubAck, Unsubscribe};

use crate::error::{rules, DecodeError, EncodeError, Rule, Violation};
use crate::lazy::Lazy;
use crate::parse::{read_vbi, Cx, Fail, PResult, Sink, Strict, Vbi};
use crate::types::{PacketType, ProtocolVersion, Role};
use crate::varint;

/// One MQTT control packet. Strings, payloads and lists borrow from the
/// buffer it was decoded from (or from the values it was built with).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "type", rename_all = "UPPERCASE"))]
#[allow(missing_docs)]
pub enum Packet<'a> {
    /// CONNECT, read on demand ([`Lazy::get`]): it is the largest packet
    /// and a connection sends it once.
    Connect(Lazy<'a, Connect<'a>>),
    #[cfg_attr(feature = "serde", serde(rename = "CONNACK"))]
    ConnAck(ConnAck<'a>),
    Publish(Publish<'a>),
    #[cfg_attr(feature = "serde", serde(rename = "PUBACK"))]
    PubAck(PubAck<'a>),
    #[cfg_attr(feature = "serde", serde(rename = "PUBREC"))]
    PubRec(PubRec<'a>),
    #[cfg_attr(feature = "serde", serde(rename = "PUBREL"))]
    PubRel(PubRel<'a>),
    #[cfg_attr(feature = "serde", serde(rename = "PUBCOMP"))]
    PubComp(PubComp<'a>),
    Subscribe(Subscribe<'a>),
    #[cfg_attr(feature = "serde", serde(rename = "SUBACK"))]
    SubAck(SubAck<'a>),
    Unsubscribe(Unsubscribe<'a>),
    #[cfg_attr(feature = "serde", serde(rename = "UNSUBACK"))]
    UnsubAck(UnsubAck<'a>),
    #[cfg_attr(feature = "serde", serde(rename = "PINGREQ"))]
    PingReq,
    #[cfg_attr(feature = "serde", serde(rename = "PINGRESP"))]
    PingResp,
    Disconnect(Disconnect<'a>),
    Auth(Auth<'a>),
}

impl<'a> Packet<'a> {
    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }

    /// The version a CONNECT announces; `None` for other packets.
    pub fn connect_version(&self) -> Option<ProtocolVersion> {
        match self {
            Packet::Connect(c) => Some(c.get().protocol),
            _ => None,
        }
    }

    fn flags(&self) -> u8 {
        match self {
            Packet::Publish(p) => p.flags(),
            _ => self.packet_type().required_flags(),
        }
    }

    /// Checks the packet and returns the exact number of bytes [`encode`]
    /// writes under `version` (a CONNECT always uses its own version).
    ///
    /// [`encode`]: Packet::encode
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        let (_, total) = self.lengths(version)?;
        Ok(total)
    }

    fn lengths(&self, version: ProtocolVersion) -> Result<(usize, usize), EncodeError> {
        let v = self.connect_version().unwrap_or(version);
        let body = match self {
            Packet::Connect(p) => p.get().body_len()?,
            Packet::ConnAck(p) => p.body_len(v)?,
            Packet::Publish(p) => p.body_len(v)?,
            Packet::PubAck(p) => p.body_len(v)?,
            Packet::PubRec(p) => p.body_len(v)?,
            Packet::PubRel(p) => p.body_len(v)?,
            Packet::PubComp(p) => p.body_len(v)?,
            Packet::Subscribe(p) => p.body_len(v)?,
            Packet::SubAck(p) => p.body_len(v)?,
            Packet::Unsubscribe(p) => p.body_len(v)?,
            Packet::UnsubAck(p) => p.body_len(v)?,
            Packet::PingReq | Packet::PingResp => 0,
            Packet::Disconnect(p) => p.body_len(v)?,
            Packet::Auth(p) => p.body_len(v)?,
        };
        if body > varint::MAX as usize {
            return Err(EncodeError::new(&rules::PACKET_TOO_LARGE, v));
        }
        Ok((body, 1 + varint::len(body as u32) + body))
    }

    /// Checks the packet and writes it to `buf`; returns the bytes written.
    /// Nothing is written when the packet is refused or `buf` lacks room.
    #[inline]
    pub fn encode<B: BufMut>(
        &self,
        version: ProtocolVersion,
        buf: &mut B,
    ) -> Result<usize, EncodeError> {
        match self {
            // The packet sent most often gets a path of its own.
            Packet::Publish(p) => p.encode(version, buf),
            _ => self.encode_other(version, buf),
        }
    }

    #[inline(never)]
    fn encode_other<B: BufMut>(
        &self,
        version: ProtocolVersion,
        buf: &mut B,
    ) -> Result<usize, EncodeError> {
        let v = self.connect_version().unwrap_or(version);
        let (body, total) = self.lengths(v)?;
        if buf.remaining_mut() < total {
            return Err(EncodeError::new(&rules::OUTPUT_TOO_SMALL, v));
        }
        // Fixed header (and, for PUBLISH, the topic length) in one write.
        let mut head = [0u8; 7];
        head[0] = ((self.packet_type() as u8) << 4) | self.flags();
        let mut len = [0u8; 4];
        let n = 1 + varint::write_into(&mut len, body as u32);
        head[1..n].copy_from_slice(&len[..n - 1]);
        buf.put_slice(&head[..n]);
        match self {
            Packet::Connect(p) => p.get().write(buf),
            Packet::ConnAck(p) => p.write(v, buf),
            Packet::Publish(_) => {}
            Packet::PubAck(p) => p.write(v, buf),
            Packet::PubRec(p) => p.write(v, buf),
            Packet::PubRel(p) => p.write(v, buf),
            Packet::PubComp(p) => p.write(v, buf),
            Packet::Subscribe(p) => p.write(v, buf),
            Packet::SubAck(p) => p.write(v, buf),
            Packet::Unsubscribe(p) => p.write(v, buf),
            Packet::UnsubAck(p) => p.write(v, buf),
            Packet::PingReq | Packet::PingResp => {}
            Packet::Disconnect(p) => p.write(v, buf),
            Packet::Auth(p) => p.write(v, buf),
        }
        Ok(total)
    }

    /// Encodes into a new vector.
    pub fn to_vec(&self, version: ProtocolVersion) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(self.encoded_len(version)?);
        self.encode(version, &mut out)?;
        Ok(out)
    }
}

/// `Err` with `rule` when `bad`: the encoder's counterpart of `Cx::check`.
#[inline]
pub(crate) fn ensure(
    bad: bool,
    rule: &'static Rule,
    v: ProtocolVersion,
) -> Result<(), EncodeError> {
    if bad {
        Err(EncodeError::new(rule, v))
    } else {
        Ok(())
    }
}

/// Length of a property block with its length prefix, after checking its
/// values (5.0 only; 3.x packets carry no properties).
pub(crate) fn props_len<'a, P: crate::properties::PropertySet<'a>>(
    p: &P,
    v: ProtocolVersion,
) -> Result<usize, EncodeError> {
    if !v.is_v5() {
        return Ok(0);
    }
    if p.is_empty() {
        return Ok(1);
    }
    if let Some(rule) = p.first_value_rule() {
        return Err(EncodeError::new(rule, v));
    }
    let n = p.block_len();
    Ok(varint::len(n as u32) + n)
}

/// Writes a property block (5.0 only).
#[inline]
pub(crate) fn write_props<'a, P: crate::properties::PropertySet<'a>, B: BufMut>(
    p: &P,
    v: ProtocolVersion,
    buf: &mut B,
) {
    if v.is_v5() {
        p.write(buf, p.block_len());
    }
}

/// The fixed header: first byte, header length, body length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    /// The first byte: type in the high nibble, flags in the low one.
    pub byte0: u8,
    /// Bytes of the fixed header (2 to 5).
    pub header_len: usize,
    /// The Remaining Length.
    pub remaining_len: usize,
}

impl FixedHeader {
    /// Header plus body.
    pub fn packet_len(&self) -> usize {
        self.header_len + self.remaining_len
    }

    /// The packet type, or `None` for the reserved type 0.
    pub fn packet_type(&self) -> Option<PacketType> {
        PacketType::from_nibble(self.byte0 >> 4)
    }

    /// Reads the fixed header at the start of `buf`. Reports only framing
    /// problems: an incomplete header and a Remaining Length over 4 bytes.
    #[inline(always)]
    pub fn parse(buf: &[u8], version: ProtocolVersion) -> Result<(FixedHeader, bool), DecodeError> {
        let Some(&byte0) = buf.first() else {
            return Err(DecodeError::Incomplete { needed: 1 });
        };
        match read_vbi(&buf[1..]) {
            Vbi::Value(len, n, minimal) => Ok((
                FixedHeader {
                    byte0,
                    header_len: 1 + n,
                    remaining_len: len as usize,
                },
                minimal,
            )),
            Vbi::Short => Err(DecodeError::Incomplete { needed: 1 }),
            Vbi::TooLong => Err(DecodeError::Invalid(Violation {
                rule: &rules::REMAINING_LENGTH_TOO_LONG,
                version,
                offset: 1,
            })),
        }
    }
}

pub(crate) fn to_error<S: Sink>(e: nom::Err<Fail<'_>>, cx: &Cx<S>, end: usize) -> DecodeError {
    let (rule, offset) = match e {
        nom::Err::Error(f) | nom::Err::Failure(f) => (f.rule, cx.offset_of(f.at)),
        nom::Err::Incomplete(_) => (&rules::TRUNCATED, end),
    };
    DecodeError::Invalid(Violation {
        rule,
        version: cx.version,
        offset,
    })
}

/// Decodes one packet at the start of `buf`; returns it and its length.
#[inline(always)]
pub(crate) fn decode_packet<'a, S: Sink>(
    buf: &'a [u8],
    cx: &mut Cx<S>,
    max_packet_size: usize,
) -> Result<(Packet<'a>, usize), DecodeError> {
    decode_packet_as(buf, cx, max_packet_size, |p, n| (p, n))
}

/// [`decode_packet`], handing the packet and its length to `wrap`, so a
/// caller that wants another shape (`StreamDecoder`: `Option<Packet>`)
/// gets it without moving the packet out of a tuple first.
#[inline(always)]
pub(crate) fn decode_packet_as<'a, S: Sink, R>(
    buf: &'a [u8],
    cx: &mut Cx<S>,
    max_packet_size: usize,
    wrap: impl FnOnce(Packet<'a>, usize) -> R,
) -> Result<R, DecodeError> {
    cx.base = buf.as_ptr() as usize;
    let (hdr, minimal) = FixedHeader::parse(buf, cx.version)?;
    let total = hdr.packet_len();
    if total > max_packet_size {
        return Err(DecodeError::Invalid(Violation {
            rule: &rules::PACKET_TOO_LARGE,
            version: cx.version,
            offset: 0,
        }));
    }
    if buf.len() < total {
        return Err(DecodeError::Incomplete {
            needed: total - buf.len(),
        });
    }
    // The common valid PUBLISH (strict decoding only: a packet it accepts
    // has no violation to report) is read right here; everything else goes
    // through `decode_strict` (or, lenient, `decode_general`). The two meet
    // in one value that the compiler keeps in registers and stores once
    // into the caller's packet. (Having the fast path store into a shared
    // return slot instead saves a few instructions but is ~40% slower: the
    // caller's 280-byte move then reloads, with wide loads, fields just
    // written with narrow stores, which the CPU cannot forward. Returning
    // early from the fast path, or making both paths out-of-line calls that
    // write one return slot, costs 20 to 60 more instructions per packet.)
    let fast = if S::STRICT && hdr.byte0 >> 4 == PacketType::Publish as u8 && minimal {
        let body = &buf[hdr.header_len..total];
        publish::Publish::decode_common(body, hdr.byte0 & 0x0f, cx.v5())
    } else {
        None
    };
    let p = match fast {
        Some(p) => Packet::Publish(p),
        None if S::STRICT => decode_strict(
            buf,
            Head {
                total: total as u32,
                header_len: hdr.header_len as u8,
                byte0: hdr.byte0,
                minimal,
                version: cx.version,
                from: cx.from,
            },
        )?,
        None => decode_general(buf, hdr, minimal, cx)?,
    };
    Ok(wrap(p, total))
}

/// What `decode_strict` needs of the fixed header and the decoder, small
/// enough to travel in two registers (a `FixedHeader` and a `Cx` would be
/// written to memory for every packet, fast path or not, to be passed by
/// reference).
#[derive(Clone, Copy)]
struct Head {
    total: u32,
    header_len: u8,
    byte0: u8,
    minimal: bool,
    version: ProtocolVersion,
    from: Option<Role>,
}

/// `decode_general` for strict decoding, with its context built here.
#[inline(never)]
fn decode_strict(buf: &[u8], h: Head) -> Result<Packet<'_>, DecodeError> {
    let mut cx = Cx {
        version: h.version,
        from: h.from,
        base: buf.as_ptr() as usize,
        sink: Strict,
    };
    let header_len = usize::from(h.header_len);
    let hdr = FixedHeader {
        byte0: h.byte0,
        header_len,
        remaining_len: h.total as usize - header_len,
    };
    general(buf, hdr, h.minimal, &mut cx)
}

/// Lenient decoding of every packet (`decode_strict` for strict decoding).
#[inline(never)]
fn decode_general<'a, S: Sink>(
    buf: &'a [u8],
    hdr: FixedHeader,
    minimal: bool,
    cx: &mut Cx<S>,
) -> Result<Packet<'a>, DecodeError> {
    general(buf, hdr, minimal, cx)
}

/// Every packet the fast path above did not take, with every check (and
/// the bare acknowledgements and the plain CONNECT and SUBSCRIBE, read
/// without the parser).
#[inline(always)]
fn general<'a, S: Sink>(
    buf: &'a [u8],
    hdr: FixedHeader,
    minimal: bool,
    cx: &mut Cx<S>,
) -> Result<Packet<'a>, DecodeError> {
    let total = hdr.packet_len();
    // The bare acknowledgements of the QoS 1/2 flows (fixed header with
    // the required flags, Remaining Length 2, a non-zero Packet
    // Identifier): either side may send them and nothing else is checked.
    // 5.0 reads a missing reason code as Success, as the general path does.
    if S::STRICT && total == 4 && hdr.header_len == 2 {
        let id = u16::from_be_bytes([buf[2], buf[3]]);
        if id != 0 {
            let p = match hdr.byte0 {
                0x40 => Some(Packet::PubAck(PubAck::new(id))),
                0x50 => Some(Packet::PubRec(PubRec::new(id))),
                0x62 => Some(Packet::PubRel(PubRel::new(id))),
                0x70 => Some(Packet::PubComp(PubComp::new(id))),
                _ => None,
            };
            if let Some(p) = p {
                return Ok(p);
            }
        }
    }
    let packet = &buf[..total];
    let body = &buf[hdr.header_len..total];
    // The plain CONNECT and SUBSCRIBE (see their `decode_plain`), sent by a
    // Client or by an unknown side, with the required flags and the
    // shortest Remaining Length: the checks of `decode_body` that come
    // before the packet's own parser, all passed.
    if S::STRICT && minimal && cx.from != Some(Role::Server) {
        match hdr.byte0 {
            // Only checked here: the CONNECT is read when asked for.
            0x10 if connect::Connect::decode_plain(body).is_some() => {
                return Ok(Packet::Connect(Lazy::wire(body, cx.version)));
            }
            0x82 => {
                if let Some(s) = subscribe::Subscribe::decode_plain(body, cx.v5()) {
                    return Ok(Packet::Subscribe(s));
                }
            }
            _ => {}
        }
    }
    let publish = hdr.byte0 >> 4 == PacketType::Publish as u8 && minimal;
    // A 5.0 PUBLISH with a short, simple property block (see
    // `short_properties`) still needs no parser.
    if S::STRICT && publish && cx.v5() {
        if let Some(p) = publish::Publish::decode_short_props(body, hdr.byte0 & 0x0f) {
            return Ok(Packet::Publish(p));
        }
    }
    // PUBLISH needs none of the per-type checks of `decode_body` (its flags
    // are variable, both sides may send it, no trailing bytes).
    let r = if publish {
        publish::Publish::decode(body, hdr.byte0 & 0x0f, packet, cx)
            .map(|(_, p)| Packet::Publish(p))
    } else {
        decode_body(packet, hdr, minimal, body, cx)
    };
    match r {
        Ok(p) => Ok(p),
        Err(e) => Err(to_error(e, cx, total)),
    }
}

#[inline(always)]
fn decode_body<'a, S: Sink>(
    packet: &'a [u8],
    hdr: FixedHeader,
    minimal: bool,
    body: &'a [u8],
    cx: &mut Cx<S>,
) -> Result<Packet<'a>, nom::Err<Fail<'a>>> {
    cx.check(!minimal, &packet[1..], &rules::NON_MINIMAL_VBI)?;
    let flags = hdr.byte0 & 0x0f;
    let Some(ty) = hdr.packet_type() else {
        return Err(nom::Err::Error(Fail {
            at: packet,
            rule: &rules::PACKET_TYPE_RESERVED,
        }));
    };
    // CONNECT carries its own version; decide everything else under ours.
    if ty == PacketType::Auth && !cx.v5() {
        return Err(nom::Err::Error(Fail {
            at: packet,
            rule: &rules::PACKET_TYPE_RESERVED,
        }));
    }
    if ty != PacketType::Publish && flags != ty.required_flags() {
        let rule = match ty {
            PacketType::PubRel => &rules::PUBREL_FLAGS,
            PacketType::Subscribe => &rules::SUBSCRIBE_FLAGS,
            PacketType::Unsubscribe => &rules::UNSUBSCRIBE_FLAGS,
            PacketType::Disconnect => &rules::DISCONNECT_FLAGS,
            PacketType::Auth => &rules::AUTH_FLAGS,
            _ => &rules::RESERVED_FLAGS,
        };
        cx.report(packet, rule)?;
    }
    if let (Some(from), Some(sender)) = (cx.from, ty.sender(cx.version)) {
        cx.check(from != sender, packet, &rules::WRONG_DIRECTION)?;
    }
    let (rest, p) = match ty {
        PacketType::Publish => wrap(
            publish::Publish::decode(body, flags, packet, cx),
            Packet::Publish,
        )?,
        PacketType::Connect => {
            let (rest, c) = connect::Connect::decode(body, cx)?;
            if !rest.is_empty() {
                cx.report(rest, trailing_rule(&c))?;
            }
            (
                &body[body.len()..],
                Packet::Connect(Lazy::wire(body, cx.version)),
            )
        }
        PacketType::ConnAck => wrap(connack::ConnAck::decode(body, cx), Packet::ConnAck)?,
        PacketType::PubAck => wrap(ack::decode(body, cx, &rules::PUBACK_REASON), Packet::PubAck)?,
        PacketType::PubRec => wrap(ack::decode(body, cx, &rules::PUBREC_REASON), Packet::PubRec)?,
        PacketType::PubRel => wrap(ack::decode(body, cx, &rules::PUBREL_REASON), Packet::PubRel)?,
        PacketType::PubComp => wrap(
            ack::decode(body, cx, &rules::PUBCOMP_REASON),
            Packet::PubComp,
        )?,
        PacketType::Subscribe => wrap(subscribe::Subscribe::decode(body, cx), Packet::Subscribe)?,
        PacketType::SubAck => wrap(subscribe::SubAck::decode(body, cx), Packet::SubAck)?,
        PacketType::Unsubscribe => wrap(
            unsubscribe::Unsubscribe::decode(body, cx),
            Packet::Unsubscribe,
        )?,
        PacketType::UnsubAck => wrap(unsubscribe::UnsubAck::decode(body, cx), Packet::UnsubAck)?,
        PacketType::PingReq => (body, Packet::PingReq),
        PacketType::PingResp => (body, Packet::PingResp),
        PacketType::Disconnect => {
            wrap(disconnect::Disconnect::decode(body, cx), Packet::Disconnect)?
        }
        PacketType::Auth => wrap(auth::Auth::decode(body, cx), Packet::Auth)?,
    };
    if !rest.is_empty() {
        cx.report(rest, &rules::TRAILING_BYTES)?;
    }
    Ok(p)
}

/// Bytes after CONNECT's last field break the rule of the flag that said
/// there was no further field.
fn trailing_rule(c: &Connect<'_>) -> &'static Rule {
    match (c.username, c.password) {
        (None, None) => &rules::USERNAME_ABSENT,
        (_, None) => &rules::PASSWORD_ABSENT,
        _ => &rules::TRAILING_BYTES,
    }
}

#[inline(always)]
fn wrap<'a, T>(r: PResult<'a, T>, f: impl FnOnce(T) -> Packet<'a>) -> PResult<'a, Packet<'a>> {
    r.map(|(i, t)| (i, f(t)))
}
